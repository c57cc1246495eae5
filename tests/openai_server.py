"""Fake OpenAI chat-completions server with scriptable faults, for tests and benches.

Run as a script: ``python tests/openai_server.py --port 0 --p429 0.1 --seed 1``.
It prints ``READY http://127.0.0.1:PORT/v1`` once listening, serves until
SIGTERM/SIGINT, then prints ``SUMMARY {...}`` (request counts per outcome).
From tests use ``with run_server("--pdrop", "1") as srv: ...``.

Fault precedence per request: bad ``--require-key`` (401) > ``--status-always`` >
``--fail-first`` > ``--schedule`` > one seeded random draw over the ``--p*`` flags.
Logged fault names: null (ok), 429/500/503/drop/slow/malformed/length/empty/filter,
auth, status_CODE, fail_CODE, bad_request; ``status`` is 0 for drop.
``POST /_flush`` flushes the request log (used by ``ServerHandle.requests``).

Hostile answer modes replace the ok answer (no fault drawn) of the requests picked by
``--hostile-first K`` (only requests 1..K; 0 = all) and ``--phostile P`` (a seeded share;
default 1): ``--content-surrogate`` (a lone ``\\ud83d`` escape in the content),
``--usage-mode strings|negative|missing|garbage``, ``--gzip-bomb MB``, ``--huge-answer MB``
(streamed, chunked) and ``--echo-key STATUS`` (an error that repeats the bearer token).
They are logged as faults: surrogate, usage_MODE (``surrogate+usage_MODE`` together),
gzip_bomb, huge_answer, echo_key. MB counts MiB (2**20 letters of content).

Judge requests (a ``response_format`` JSON schema, or a prompt with the shipped rubrics'
"Answer with one JSON object") get scores fixed by the graded text (``judge_scores``);
``--judge-malformed P`` answers a seeded share in prose, ``--judge-no-schema`` refuses
``response_format`` with OpenAI's 400 (logged as fault no_schema).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from aiohttp import web

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_canon = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
_json_loads = json.JSONDecoder().decode
FAULTS = ("429", "500", "503", "drop", "slow", "malformed", "length", "empty", "filter")
USAGE_MODES = ("strings", "negative", "missing", "garbage")
BIG = ("gzip_bomb", "huge_answer")  # hostile answers too big to build whole
MIB = 1 << 20
_FILL = b"a" * (64 << 10)
_FILL_MARK = "@@FILL@@"
_SURROGATE_MARK = "@@LONE_SURROGATE@@"
_INVALID = "invalid_request_error"
QUOTA_MESSAGE = (  # OpenAI's 429 for a key with no credit left (not a rate limit)
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", _INVALID, None),
    401: ("Incorrect API key provided", _INVALID, "invalid_api_key"),
    403: ("You are not allowed to access this resource.", _INVALID, "permission_denied"),
    402: ("Insufficient credits. Add more credits to keep using this key.", _INVALID, None),
    404: ("The model does not exist or you do not have access to it.", _INVALID, "model_not_found"),
    422: ("Unprocessable request.", _INVALID, None),
    429: ("Rate limit reached. Please try again later.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_QUOTED = re.compile(r'(?:\b(verb|noun|adjective)\s+)?"([^"\n]{1,40})"')
NAMES = _words("Lily Tom Mia Ben Sam Zoe Max Anna Leo Ruby Finn Ella Jack Rosa Noah Ivy")
PLACES = _words("park garden forest beach farm hill pond meadow village river")
THINGS = _words("kite ball box hat drum cake boat shell book lamp")
ANIMALS = _words("puppy kitten bunny duck bird frog lamb fox")
ROLE_LINES = {
    "verb": (
        "{name} wanted to {w} something special before the day was over.",
        "{friend} showed {name} how to {w} with great care.",
    ),
    "noun": (
        "Then {name} saw the {w} and pointed at it with a big grin.",
        "{friend} told a little tale about the {w}.",
    ),
    "adjective": (
        "Near the {place}, they found a {thing} that looked very {w}.",
        "The {animal} seemed {w} to them, and they did not know why.",
    ),
    None: (
        "{name} kept thinking about {w} and smiled a little.",
        "{friend} whispered the word {w} and laughed.",
        "They talked about {w} for a long time.",
    ),
}
OPENINGS = (
    "{name} was a little child who lived near a quiet {place}.",
    "One sunny morning, {name} ran outside to play by the {place}.",
    "There was a small {animal} who liked to follow {name} everywhere.",
    "{name} and {friend} loved to explore the big {place} together.",
)
MIDDLES = (
    "The sky was blue and the wind was soft and warm.",
    "{friend} came along with a red {thing} in one hand.",
    "They laughed and jumped over a tiny stream of water.",
    "A friendly {animal} watched them from behind a tree.",
    '"Look at this!" said {name}, holding up a shiny stone.',
    '"Can I help you?" asked {friend} with a kind voice.',
    "They shared some apples and sat down on the soft grass.",
    "The {animal} made a funny sound, and everyone giggled.",
    "{name} felt a little scared, but {friend} stayed close.",
    "They tried again and again until it worked at last.",
    "Mom called from the house, but they wanted to stay a bit longer.",
    "The clouds looked like animals, and they named every one.",
    "{friend} said it was the best day they ever had.",
    "They put the {thing} on a rock so it would not get lost.",
    "Birds sang in the trees while the friends walked home.",
    "{name} learned that sharing makes every game more fun.",
)
ENDINGS = (
    "That night, {name} went to sleep with a happy heart.",
    "From that day on, {name} and {friend} were the best of friends.",
    "{name} knew that being kind is the best thing of all.",
    "When the sun went down, they walked home hand in hand.",
)


EXERCISE_BODIES = {
    "ok": "return a + b + 0 * {n}",
    "wrong": "return a - b",
    "loop": "while True:\n        pass",
    "memory": "return len(bytearray(10**11))",
}


def exercise(n: int, kind: str) -> str:
    """A phi-1 style exercise; `kind` picks a correct or a broken solution."""
    body = EXERCISE_BODIES[kind].format(n=n)
    return (
        f"### Signature\n```python\ndef add_{n}(a: int, b: int) -> int:\n"
        f'    """Return the sum of a and b, e.g. add_{n}(2, 3) == 5."""\n```\n\n'
        f"### Solution\n```python\ndef add_{n}(a: int, b: int) -> int:\n    {body}\n```\n\n"
        f"### Tests\n```python\nassert add_{n}(2, 3) == 5\nassert add_{n}(0, 0) == 0\n"
        f"assert add_{n}(-1, 1) == 0\n```\n"
    )


_MAIN_CHARACTER = re.compile(r"main character is called ([^\W\d_][\w'-]*)")
COLLAPSED_OPENING = "Once upon a time, there was a little girl named Lily."


def story(prompt: str, seed_hex: str, n: int, collapse: float = 0.0) -> str:
    """Deterministic story (given seed and ``n``) using every quoted word in ``prompt``
    and the main character it names ("The main character is called X").

    ``n`` (the request counter) appears in the text, so answers never repeat. A seeded
    share ``collapse`` of the answers opens with COLLAPSED_OPENING, with Lily as the main
    character (the asked-for one only passes by), as a collapsing teacher does.
    """
    rng = random.Random(int(seed_hex[:16], 16) * 1_000_003 + n)
    name, friend = rng.sample(NAMES, 2)
    if asked := _MAIN_CHARACTER.search(prompt):
        name = asked[1]
    collapsed = random.Random(n * 7_919 + 17).random() < collapse
    if collapsed:
        name, friend = "Lily", name
    slots = {"name": name, "friend": friend, "place": rng.choice(PLACES)}
    slots |= {"thing": rng.choice(THINGS), "animal": rng.choice(ANIMALS)}
    words = dict.fromkeys((m[2], m[1]) for m in _QUOTED.finditer(prompt))
    used: Counter[str | None] = Counter()
    core = []
    for w, role in list(words)[:12]:
        lines = ROLE_LINES[role] if used[role] < len(ROLE_LINES[role]) else ROLE_LINES[None]
        core.append(lines[used[role] % len(lines)].format(w=w, **slots))
        used[role] += 1
    core.append("On the way, {name} counted {k} little pebbles.".format(k=n + 3, **slots))
    if collapsed:
        core.append(f"{friend} came to play with Lily that day.")
    head = [COLLAPSED_OPENING if collapsed else rng.choice(OPENINGS).format(**slots)]
    tail = [rng.choice(ENDINGS).format(**slots)]
    target, count = rng.randint(110, 165), sum(len(s.split()) for s in head + core + tail)
    middle = []
    for tmpl in rng.sample(MIDDLES, len(MIDDLES)):
        if count >= target:
            break
        middle.append(tmpl.format(**slots))
        count += len(middle[-1].split())
    body = middle + core
    rng.shuffle(body)
    return " ".join(head + body + tail)


def _content_text(content: Any) -> str:
    return content if isinstance(content, str) else _dumps(content)


def error_body(status: int, message: str = "") -> bytes:
    default = ("Error.", "server_error" if status >= 500 else "invalid_request_error", None)
    msg, kind, code = ERRORS.get(status, default)
    msg = message or msg
    return _dumps({"error": {"message": msg, "type": kind, "param": None, "code": code}}).encode()


@dataclass
class State:
    """Per-process server state: options, counters, buffered log."""

    opts: argparse.Namespace
    rng: random.Random
    n: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    buf: list[str] = field(default_factory=list)
    log: TextIO | None = None
    errors: dict[int, bytes] = field(default_factory=dict)
    schedule: list[str] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    hostile: str | None = None  # log name of the hostile answer, if a mode is set
    hostile_rng: random.Random = field(default_factory=random.Random)
    bomb: bytes = b""

    def flush(self) -> None:
        if self.log is not None and self.buf:
            self.log.write("".join(self.buf))
            self.buf.clear()
        if self.log is not None:
            self.log.flush()


STATE = web.AppKey("state", State)


def choose_fault(st: State, n: int) -> tuple[str | None, int]:
    """Return (fault name, forced HTTP status or 0) for request number ``n``."""
    o, u = st.opts, st.rng.random()
    if o.status_always:
        return f"status_{o.status_always}", o.status_always
    if o.quota:
        return "quota", 429
    if n <= o.fail_first:
        return f"fail_{o.fail_status}", o.fail_status
    if n <= len(st.schedule):
        name = st.schedule[n - 1]
        return (None, 0) if name in ("ok", "none", "") else (name, 0)
    for name in FAULTS:
        u -= getattr(o, "p" + name)
        if u < 0:
            return name, 0
    return None, 0


def hostile_name(o: argparse.Namespace) -> str | None:
    """The log name of the hostile answer the options ask for (None if no mode is set)."""
    names = [flag for flag in ("echo_key", *BIG) if getattr(o, flag)]
    names += ["surrogate"] * o.content_surrogate + [f"usage_{o.usage_mode}"] * bool(o.usage_mode)
    return "+".join(names) or None


def is_hostile(st: State, n: int) -> bool:
    """Whether request ``n`` is picked for the hostile answer (first K, then a seeded share)."""
    o, u = st.opts, st.hostile_rng.random()
    return (
        st.hostile is not None and (not o.hostile_first or n <= o.hostile_first) and u < o.phostile
    )


def error_response(st: State, status: int, body: bytes = b"") -> web.Response:
    headers = {}
    if status == 429:
        ra = st.opts.retry_after
        headers["Retry-After"] = str(int(ra)) if ra == int(ra) else str(ra)
        headers["retry-after-ms"] = str(round(ra * 1000))
    body = body or st.errors.get(status) or error_body(status)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


JUDGE_ASK = "Answer with one JSON object"  # the shipped rubrics end with it
NO_SCHEMA_MESSAGE = (  # OpenAI's 400 for a model without Structured Outputs
    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this "
    "model. Learn more about supported models at the Structured Outputs guide: "
    "https://platform.openai.com/docs/guides/structured-outputs"
)


def judge_names(req: dict[str, Any], last: str) -> list[str] | None:
    """The score names a judge request asks for: its JSON schema's properties, else the
    keys of the example object after JUDGE_ASK in the prompt; None if it is no judge's."""
    form = req.get("response_format")
    if isinstance(form, dict) and form.get("type") == "json_schema":
        return list(form["json_schema"]["schema"]["properties"])
    if JUDGE_ASK in last:
        return re.findall(r'"([a-z_]+)":', last.split(JUDGE_ASK, 1)[1])
    return None


def judge_scores(last: str, names: list[str]) -> dict[str, int]:
    """Scores 3..9 per name, fixed by the graded text (so tests can predict them)."""
    digest = hashlib.sha256(last.encode()).digest()
    return {name: 3 + digest[i] % 7 for i, name in enumerate(names)}


def judge_answer(o: argparse.Namespace, req: dict[str, Any], last: str, n: int) -> str:
    """The judge's answer: the JSON object, fenced when no schema was asked for; prose for
    a seeded share ``--judge-malformed`` (for each request, retries included)."""
    names = judge_names(req, last) or []
    if random.Random(n * 104_729 + 3).random() < o.judge_malformed:
        return "This story is lovely. I would give it high marks for grammar and plot!"
    scores = _dumps(judge_scores(last, names))
    return scores if req.get("response_format") else f"```json\n{scores}\n```"


def continued(req: dict[str, Any]) -> bool:
    """Whether the request asks to continue its last (assistant) message, as vLLM's
    ``continue_final_message`` does; the story then goes on without its first sentence."""
    msgs = req.get("messages") or [{}]
    return bool(req.get("continue_final_message")) and msgs[-1].get("role") == "assistant"


def answer_text(o: argparse.Namespace, last: str, sha: str, n: int) -> str:
    """The answer the ``--responder`` gives to the last user message."""
    if o.responder == "echo":
        return last
    if o.responder == "fixed":
        return o.fixed_text
    if o.responder == "exercise":
        kinds = o.exercise_kinds.split(",")
        return exercise(n, kinds[(n - 1) % len(kinds)])
    return story(last, sha, n, o.collapse)


def with_surrogate_mark(text: str) -> str:
    """``text`` with the lone-surrogate mark after its first sentence (or at its end)."""
    first, sep, rest = text.partition(". ")
    return f"{first}. {_SURROGATE_MARK} {rest}" if sep else f"{text} {_SURROGATE_MARK}"


def usage_fields(mode: str, usage: dict[str, int], n: int) -> dict[str, Any]:
    """The answer's ``usage`` field, spoilt as ``--usage-mode`` says ('' keeps it honest)."""
    if mode == "missing":
        return {}
    if mode == "strings":
        return {"usage": {k: str(v) for k, v in usage.items()}}
    if mode == "negative":
        return {"usage": {k: -max(v, 1) for k, v in usage.items()}}
    if mode == "garbage":  # odd requests get a string, even ones an object of wrong types
        return {"usage": "lots" if n % 2 else {"prompt_tokens": [1], "completion_tokens": {"a": 1}}}
    return {"usage": usage}


def completion(st: State, req: dict[str, Any], sha: str, fault: str | None, n: int) -> bytes:
    msgs = req["messages"]
    users = [m for m in msgs if m.get("role") == "user"]
    last = _content_text(users[-1].get("content", "")) if users else ""
    o, finish, hostile = st.opts, "stop", fault is not None and fault == st.hostile
    judged = judge_names(req, last) is not None
    text: str | None = _FILL_MARK if fault in BIG else answer_text(o, last, sha, n)
    if continued(req) and text and o.responder == "story":  # as vLLM: only what follows
        text = " " + text.split(". ", 1)[-1]
    if judged and fault not in BIG:
        text = judge_answer(o, req, last, n)
    if hostile and o.content_surrogate:
        text = with_surrogate_mark(text or "")
    if fault == "length":
        words = (text or "").split()
        text, finish = " ".join(words[: max(1, len(words) // 2)]).rstrip(".!?,"), "length"
    elif fault in ("empty", "filter"):
        text, finish = ("", "stop") if fault == "empty" else (None, "content_filter")
    ptok = sum(len(_content_text(m.get("content") or "").split()) for m in msgs)
    ctok = len(text.split()) if text else 0
    message = {"role": "assistant", "content": text, "refusal": None}
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    usage = {"prompt_tokens": ptok, "completion_tokens": ctok, "total_tokens": ptok + ctok}
    head = {"id": f"chatcmpl-{os.getpid()}-{n}", "object": "chat.completion"}
    head |= {"created": int(time.time()), "model": req.get("model") or "unknown"}
    usage_mode = o.usage_mode if hostile else ""
    body = _dumps(head | {"choices": [choice]} | usage_fields(usage_mode, usage, n)).encode()
    if hostile and o.content_surrogate:  # json.dumps cannot write half a surrogate pair
        body = body.replace(_SURROGATE_MARK.encode(), rb"\ud83d")
    return body


def fill_parts(st: State, req: dict[str, Any], fault: str, n: int) -> tuple[bytes, bytes]:
    """An answer's JSON before and after its content, for content too big to build whole."""
    head, _, tail = completion(st, req, "0", fault, n).partition(_FILL_MARK.encode())
    return head, tail


def pieces(total: int) -> Iterator[bytes]:
    """``total`` letters of filler, in chunks of at most 64 KiB."""
    for start in range(0, total, len(_FILL)):
        yield _FILL[: min(len(_FILL), total - start)]


def gzip_bomb(st: State) -> bytes:
    """A small gzip member that decodes to an answer of ``--gzip-bomb`` MiB (built once)."""
    req = {"model": st.opts.models.split(",")[0], "messages": []}
    head, tail = fill_parts(st, req, "gzip_bomb", 0)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(head), *map(z.compress, pieces(int(st.opts.gzip_bomb * MIB)))]
    return b"".join([*parts, z.compress(tail), z.flush()])


async def huge_response(
    request: web.Request, st: State, req: dict[str, Any], n: int
) -> web.StreamResponse:
    """Stream an answer of ``--huge-answer`` MiB; stop quietly if the client goes away."""
    head, tail = fill_parts(st, req, "huge_answer", n)
    resp = web.StreamResponse()
    resp.content_type = "application/json"
    with contextlib.suppress(ConnectionError):
        await resp.prepare(request)
        await resp.write(head)
        for chunk in pieces(int(st.opts.huge_answer * MIB)):
            await resp.write(chunk)
        await resp.write(tail)
    return resp


def echo_key_message(status: int, auth: str) -> str:
    """An error message that repeats the bearer token of ``auth``, as OpenAI or a proxy would."""
    key = auth[7:] if auth[:7].lower() == "bearer " else auth
    if status == 401:
        return (
            f"Incorrect API key provided: {key}. "
            "You can find your API key at https://platform.openai.com/account/api-keys."
        )
    return f"upstream failed for Bearer {key}"


async def answer(
    request: web.Request,
    st: State,
    req: dict[str, Any],
    sha: str,
    n: int,
    fault: str | None,
    status: int,
) -> web.StreamResponse:
    """The HTTP answer to request ``n`` once its fault and status are decided (not a drop)."""
    if fault == "quota":
        body = {"message": QUOTA_MESSAGE, "type": "insufficient_quota", "param": None}
        return error_response(
            st, 429, _dumps({"error": {**body, "code": "insufficient_quota"}}).encode()
        )
    if fault == "echo_key":
        message = echo_key_message(status, request.headers.get("Authorization", ""))
        return error_response(st, status, error_body(status, message))
    if fault == "no_schema":
        body = {"message": NO_SCHEMA_MESSAGE, "type": _INVALID, "param": "response_format"}
        return error_response(st, 400, _dumps({"error": {**body, "code": None}}).encode())
    if status != 200:
        return error_response(st, status)
    if fault == "gzip_bomb":
        gz = {"Content-Encoding": "gzip"}
        return web.Response(body=st.bomb, content_type="application/json", headers=gz)
    if fault == "huge_answer":
        return await huge_response(request, st, req, n)
    body = completion(st, req, sha, fault, n)
    if fault == "malformed":
        body = body[: len(body) // 2]
    return web.Response(body=body, content_type="application/json")


async def chat(request: web.Request) -> web.StreamResponse:
    st: State = request.app[STATE]
    t, o = time.time(), st.opts
    st.n += 1
    n = st.n
    fault, status = choose_fault(st, n)
    auth_ok = not o.require_key or request.headers.get("Authorization") == f"Bearer {o.require_key}"
    if not auth_ok:
        fault, status = "auth", 401
    elif fault in ("429", "500", "503"):
        status = int(fault)
    try:
        req = _json_loads((await request.read()).decode())
        msgs = req["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise TypeError("messages must be a list of objects")
        sha = hashlib.sha256(_canon(msgs).encode()).hexdigest()
    except (ValueError, KeyError, TypeError):
        req, sha = {}, None
        if not status and fault != "drop":
            fault, status = "bad_request", 400
    if is_hostile(st, n) and fault is None:  # drawn for every request: a pattern fixed by n
        fault, status = st.hostile, o.echo_key
    if o.judge_no_schema and fault is None and "response_format" in req:
        fault, status = "no_schema", 400
    status = status or (0 if fault == "drop" else 200)
    entry = {"t": t, "n": n, "fault": fault, "status": status, "model": req.get("model")}
    if "continue_final_message" in req:  # vLLM's: continue the last (assistant) message
        entry["continue_final_message"] = req["continue_final_message"]
    st.buf.append(_dumps(entry | {"auth_ok": auth_ok, "messages_sha": sha}) + "\n")
    st.counts[fault or "ok"] += 1
    if o.delay_ms:
        await asyncio.sleep(o.delay_ms / 1000)
    if fault == "slow":  # interruptible, so shutdown does not wait for slow answers
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(st.closing.wait(), o.slow_seconds)
    if fault == "drop":
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
    return await answer(request, st, req, sha or "0", n, fault, status)


async def models(request: web.Request) -> web.Response:
    names = request.app[STATE].opts.models.split(",")
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "tinygen-test"} for m in names]
    body = _dumps({"object": "list", "data": data})
    return web.Response(body=body, content_type="application/json")


async def flush(request: web.Request) -> web.Response:
    request.app[STATE].flush()
    return web.Response(text="ok")


async def _flusher(st: Any) -> None:
    while True:
        await asyncio.sleep(0.2)
        st.flush()


async def serve(opts: argparse.Namespace) -> None:
    st = State(opts, random.Random(opts.seed))
    st.schedule = opts.schedule.split(",") if opts.schedule else []
    st.errors = {code: error_body(code) for code in ERRORS}
    st.hostile, st.hostile_rng = hostile_name(opts), random.Random(f"hostile-{opts.seed}")
    st.bomb = gzip_bomb(st) if opts.gzip_bomb else b""
    st.log = open(opts.log, "a", buffering=1 << 16, encoding="utf-8") if opts.log else None  # noqa: SIM115
    app = web.Application()
    app[STATE] = st
    app.add_routes([web.post("/v1/chat/completions", chat), web.get("/v1/models", models)])
    app.add_routes([web.post("/_flush", flush)])
    await serve_until_stopped(app, opts.port, st, st.closing.set)


async def serve_until_stopped(
    app: web.Application, port: int, st: Any, on_stop: Callable[[], None] = lambda: None
) -> None:
    """Listen on 127.0.0.1:`port`, print READY, serve until SIGTERM/SIGINT, then flush
    `st`'s log and print its SUMMARY (`st`: a server state with flush, log, n, counts)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    await web.SockSite(runner, sock, backlog=2048).start()
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    flusher = asyncio.create_task(_flusher(st))
    print(f"READY http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    await stop.wait()
    on_stop()
    flusher.cancel()
    await runner.cleanup()
    st.flush()
    if st.log is not None:
        st.log.close()
    print("SUMMARY " + _dumps({"total": st.n, **st.counts}), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--port", type=int, default=0)
    add("--seed", type=int, default=0)
    add("--responder", choices=("story", "echo", "fixed", "exercise"), default="story")
    add(
        "--exercise-kinds",
        default="ok",
        help="comma list cycled per request: ok, wrong, loop, memory",
    )
    add("--fixed-text", default="The cat sat on the mat.")
    add("--collapse", type=float, default=0.0, help="share of stories opening the same way")
    add("--judge-malformed", type=float, default=0.0, help="share of judge answers in prose")
    add("--judge-no-schema", action="store_true", help="400 on response_format, as OpenAI's")
    add("--models", default="test-model", help="comma list for GET /v1/models")
    for name in FAULTS:
        add(f"--p{name}", type=float, default=0.0, help=f"probability of fault {name}")
    add("--retry-after", type=float, default=1.0, help="seconds, for 429 answers")
    add("--slow-seconds", type=float, default=5.0)
    add("--status-always", type=int, default=0)
    add("--quota", action="store_true", help="every request: 429 insufficient_quota (no credit)")
    add("--fail-first", type=int, default=0)
    add("--fail-status", type=int, default=503)
    add("--schedule", default="", help="comma list of faults for requests 1..k ('ok' = none)")
    add("--delay-ms", type=float, default=0.0)
    add("--require-key", default="")
    add("--log", default="")
    add_hostile_args(p)
    opts = p.parse_args(argv)
    if sum(getattr(opts, "p" + f) for f in FAULTS) > 1.0:
        p.error("fault probabilities sum to more than 1")
    if bad := set(opts.schedule.split(",")) - set(FAULTS) - {"ok", "none", ""}:
        p.error(f"unknown fault(s) in --schedule: {sorted(bad)}")
    check_hostile_args(p, opts)
    return opts


def add_hostile_args(p: argparse.ArgumentParser) -> None:
    """The hostile answer modes and which requests get them (see the module docstring)."""
    add = p.add_argument
    add("--content-surrogate", action="store_true", help="a lone \\ud83d escape in the content")
    add("--usage-mode", choices=USAGE_MODES, default="", help="spoil the usage object")
    add("--gzip-bomb", type=float, default=0.0, metavar="MB", help="gzip body of MB MiB decoded")
    add("--huge-answer", type=float, default=0.0, metavar="MB", help="stream an MB MiB answer")
    add("--echo-key", type=int, default=0, metavar="STATUS", help="error repeating the key")
    add("--hostile-first", type=int, default=0, metavar="K", help="only requests 1..K (0 = all)")
    add("--phostile", type=float, default=1.0, help="probability an ok answer is hostile")


def check_hostile_args(p: argparse.ArgumentParser, o: argparse.Namespace) -> None:
    """Reject hostile modes that cannot be combined and out-of-range values."""
    whole = [f"--{f.replace('_', '-')}" for f in ("echo_key", *BIG) if getattr(o, f)]
    if len(whole) + bool(o.content_surrogate or o.usage_mode) > 1 and whole:
        p.error(f"{whole[0]} cannot be combined with another hostile mode")
    if o.echo_key and not 400 <= o.echo_key <= 599:
        p.error("--echo-key wants an HTTP error status (400-599)")
    if not 0.0 <= o.phostile <= 1.0 or o.hostile_first < 0:
        p.error("--phostile must be in [0, 1] and --hostile-first >= 0")
    if o.gzip_bomb < 0 or o.huge_answer < 0:
        p.error("--gzip-bomb and --huge-answer want a size in MiB >= 0")


@dataclass
class ServerHandle:
    """A running server subprocess (see ``run_server``)."""

    proc: subprocess.Popen[str]
    base_url: str
    port: int
    log_path: Path
    summary: dict[str, int] | None = None
    err: IO[str] | None = None

    def stderr(self) -> str:
        """What the server wrote on stderr so far ('' once ``run_server`` has exited)."""
        if self.err is None or self.err.closed:
            return ""
        fd = self.err.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def stop(self, timeout: float = 10.0) -> dict[str, int] | None:
        """SIGTERM the server, wait for it, and parse its SUMMARY line."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.summary is None and self.proc.stdout is not None:
            for line in self.proc.stdout.read().splitlines():
                if line.startswith("SUMMARY "):
                    self.summary = json.loads(line[8:])
            self.proc.stdout.close()
        return self.summary

    def requests(self) -> list[dict[str, Any]]:
        """Parsed request-log lines sorted by ``n`` (forces a flush if running)."""
        if self.proc.poll() is None:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            req = urllib.request.Request(self.base_url.removesuffix("/v1") + "/_flush", b"")
            with opener.open(req, timeout=10) as resp:
                resp.read()
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return sorted((json.loads(x) for x in lines if x.strip()), key=lambda r: r["n"])


def _wait_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                return line.split()[1]
            if not line and proc.poll() is not None:
                break
    raise RuntimeError(f"fake OpenAI server not ready (exit code {proc.poll()})")


@contextlib.contextmanager
def run_server(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    script: Path | None = None,
) -> Iterator[ServerHandle]:
    """Start the server ``script`` (default: this file) in a subprocess.

    ``env`` is merged into os.environ.

    Yields a ``ServerHandle``; the process is always terminated on exit.
    """
    argv, tmp = list(args), None
    if "--log" not in argv:
        fd, tmp = tempfile.mkstemp(prefix="openai_server_", suffix=".jsonl")
        os.close(fd)
        argv += ["--log", tmp]
    log_path = Path(argv[argv.index("--log") + 1])
    with tempfile.TemporaryFile("w+") as err:
        cmd = [sys.executable, "-u", str((script or Path(__file__)).resolve()), *argv]
        full_env = {**os.environ, **env} if env is not None else None
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=full_env)
        handle = ServerHandle(proc, "", 0, log_path, err=err)
        try:
            try:
                handle.base_url = _wait_ready(proc, timeout)
            except RuntimeError as exc:
                err.seek(0)
                raise RuntimeError(f"{exc}: {cmd}\n{err.read()[-2000:]}") from None
            handle.port = int(handle.base_url.rsplit(":", 1)[1].split("/")[0])
            yield handle
        finally:
            handle.stop()
            if tmp:
                Path(tmp).unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
