"""Fixed cost of whole tinygen commands against a bare openai.AsyncOpenAI loop.

    python bench/startup.py [--repeat 5] [--importtime]

Each command runs as a fresh process, `--repeat` times, the commands alternating so a
change in the machine's load touches all of them alike: `python -c pass` (the
interpreter's own start), `tinygen --help`, `tinygen presets`, `tinygen preview`, a
`-n 10` generation against a loopback server (tests/openai_server.py, no delay) in one
process and with worker processes (`--workers 2`), and the bare SDK asking the same
server 10 times (bench/throughput.py's loop: aiohttp transport, retries off). It prints
the best and the median wall time of each, and the ratio of the `-n 10` runs to the bare
loop. `--importtime` adds which heavy packages (the SDK, numpy, rensa, lemminflect,
pydantic, Jinja2, aiohttp) each command imports and what each costs (`python -X
importtime`, cumulative).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import as_installed  # noqa: E402
from bench.throughput import BARE_SDK  # noqa: E402
from tests.openai_server import run_server  # noqa: E402

HEAVY = ("openai", "numpy", "rensa", "lemminflect", "pydantic", "jinja2", "aiohttp")


def commands(url: str, out: Path) -> dict[str, list[str]]:
    """The measured commands, by name."""
    tinygen = [sys.executable, "-m", "tinygen"]
    generate = [*tinygen, "generate", "tinystories", "-n", "10", "--out", str(out)]
    generate += ["--base-url", url, "--api-key", "k", "--model", "m", "--quiet", "--overwrite"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tinygen --help": [*tinygen, "--help"],
        "tinygen presets": [*tinygen, "presets"],
        "tinygen preview": [*tinygen, "preview", "tinystories", "-n", "3", "--run-size", "0"],
        "generate -n 10": generate,
        "generate -n 10 -w2": [*generate, "--workers", "2"],
        "bare SDK x10": [sys.executable, "-c", BARE_SDK, url, "10", "10"],
    }


def wall_time(command: list[str]) -> float:
    """Seconds the command takes, start to exit (its output is thrown away)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def heavy_imports(command: list[str]) -> dict[str, int]:
    """Which of the HEAVY packages the command imports, and their cumulative import time
    (microseconds, `python -X importtime`)."""
    run = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        check=True,
    )
    times: dict[str, int] = {}
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if name in HEAVY:
            times[name] = max(times.get(name, 0), int(cumulative))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    as_installed()
    with run_server("--port", "0") as server, tempfile.TemporaryDirectory() as tmp:
        runs = commands(server.base_url, Path(tmp) / "out")
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, command in runs.items():
                times[name].append(wall_time(command))
        imports = {name: heavy_imports(runs[name]) for name in runs} if args.importtime else {}
    print(f"{'command':<20} {'best s':>7} {'median s':>9}")
    for name, seconds in times.items():
        print(f"{name:<20} {min(seconds):>7.3f} {statistics.median(seconds):>9.3f}")
    bare = min(times["bare SDK x10"])
    for name in ("generate -n 10", "generate -n 10 -w2"):
        print(f"{name} / bare SDK x10 (best): {min(times[name]) / bare:.2f}")
    for name, heavy in imports.items():
        found = ", ".join(f"{module} {us / 1000:.0f} ms" for module, us in heavy.items())
        print(f"{name} imports: {found or 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
