"""The child side of `tinygen.checks.code.run_exercise`: run one exercise under limits.

A script, never imported by tinygen: `python -I -S runner.py LIMITS_JSON`, with
cwd a fresh temporary directory holding solution.py and tests.py. It sets the limits,
silences fd 1 (the code's prints go to /dev/null), runs the solution, then the tests one
top-level statement at a time, and writes one JSON line to a copy of the old fd 1.
"""

import ast
import json
import os
import resource
import signal
import socket
import sys
import types

MAX_TEXT = 300


class Stop(BaseException):
    """Raised by the timer and CPU-limit signal handlers; not caught by `except Exception`."""


LIMITS = json.loads(sys.argv[1])


def on_signal(signum, frame):
    if signum == signal.SIGXCPU:
        raise Stop(f"CPU time limit of {LIMITS['cpu_s']} s exceeded")
    raise Stop(f"time limit of {LIMITS['timeout_s']:g} s exceeded")


def set_limit(which, value):
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def apply_limits(limits):
    memory = limits["memory_mb"] * 1024 * 1024
    set_limit(resource.RLIMIT_AS, memory)
    set_limit(resource.RLIMIT_FSIZE, 64 * 1024 * 1024)
    set_limit(resource.RLIMIT_CORE, 0)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu = int(limits["cpu_s"])
    if hard == resource.RLIM_INFINITY or cpu + 1 <= hard:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    signal.signal(signal.SIGXCPU, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, float(limits["timeout_s"]))


def block_network():
    def refuse(*args, **kwargs):
        raise PermissionError(13, "network access is disabled while checking exercises")

    real = socket.socket

    class GuardedSocket(real):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
                refuse()
            super().__init__(family, type, proto, fileno)

    socket.socket = GuardedSocket
    for name in (
        "create_connection",
        "create_server",
        "getaddrinfo",
        "gethostbyname",
        "gethostbyname_ex",
        "gethostbyaddr",
        "fromfd",
    ):
        setattr(socket, name, refuse)


def short(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def statement_at(tree, source, line):
    best = None
    for node in ast.walk(tree):
        covers = isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or line)
        if covers and (
            best is None or node.end_lineno - node.lineno <= best.end_lineno - best.lineno
        ):
            best = node
    segment = ast.get_source_segment(source, best) if best is not None else None
    return short(segment or source.splitlines()[line - 1])


def lines_of(error):
    where = {}
    tb = error.__traceback__
    while tb is not None:
        where[tb.tb_frame.f_code.co_filename] = tb.tb_lineno
        tb = tb.tb_next
    return where.get("<tests>"), where.get("<solution>")


def kind_of(error):
    if isinstance(error, Stop):
        return "timeout"
    if isinstance(error, MemoryError):
        return "memory"
    return "assertion" if isinstance(error, AssertionError) else "error"


def failure(error, tests, tree):
    kind = kind_of(error)
    test_line, solution_line = lines_of(error)
    error.__traceback__ = None
    message = str(error) if kind != "memory" else ""
    text = type(error).__name__ + (": " + message if message else "")
    if kind == "timeout":
        text = message
    if test_line is not None:
        text += f" at tests line {test_line}: {statement_at(tree, tests, test_line)}"
    if solution_line is not None:
        text += f" (raised at solution line {solution_line})"
    return {"kind": kind, "error": short(text)}


def guarded(thunk, tests, tree):
    try:
        thunk()
    except BaseException as error:  # everything the code raises is a result
        return failure(error, tests, tree)
    return None


def uncalled_tests(tree):
    called = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    for node in tree.body:
        args = node.args if isinstance(node, ast.FunctionDef) else None
        if (
            args
            and node.name.startswith("test")
            and node.name not in called
            and not (args.posonlyargs or args.args or args.kwonlyargs)
        ):
            yield node.name


def run(solution, tests):
    try:
        solution_code = compile(solution, "<solution>", "exec")
        tree = ast.parse(tests, "<tests>")
    except SyntaxError as error:
        where = error.filename.strip("<>")
        return {"kind": "format", "error": short(f"{where}: line {error.lineno}: {error.msg}")}
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    namespace = module.__dict__
    failed = guarded(lambda: exec(solution_code, namespace), tests, tree)
    if failed:
        return failed
    namespace["__name__"] = "__main__"
    for statement in tree.body:
        code = compile(ast.Module([statement], []), "<tests>", "exec")
        failed = guarded(lambda code=code: exec(code, namespace), tests, tree)
        if failed:
            return failed
    for name in uncalled_tests(tree):
        failed = guarded(namespace[name], tests, tree)
        if failed:
            return failed
    return {"kind": "passed", "error": ""}


def main():
    with open("solution.py", encoding="utf-8") as f:
        solution = f.read()
    with open("tests.py", encoding="utf-8") as f:
        tests = f.read()
    result_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    block_network()
    apply_limits(LIMITS)
    try:
        result = run(solution, tests)
    except Stop as error:  # the timer went off outside the code, in the runner itself
        result = {"kind": "timeout", "error": str(error)}
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    os.write(result_fd, (json.dumps(result) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
