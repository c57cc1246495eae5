"""tinygen against hosted-provider behaviour, as a user runs it, on a loopback emulator.

    python bench/providers.py [--quick] [--only NAME] [--repeats 1]

Each scenario runs `python -m tinygen generate ...` in a subprocess, into a fresh temporary
directory, against its own tests/provider_server.py process, and prints one line of figures;
a final table lists every figure with its target. It is a measurement: it always exits 0,
and "FAIL" marks a figure that misses its target.

  reasoning  tinystories -n 40 --model gpt-5-mini, no other teacher flag
  quota      every request 429 insufficient_quota, -n 50 --concurrency 64
  fixed400   the same 400 on every request, -n 500
  headers    --rpm announced only in x-ratelimit-* headers, --concurrency 64, no --rpm flag
  random429  5% seeded 429s (Retry-After 1 s) vs none, 300 ms answers, concurrency 32
  sighup     SIGHUP (to the run's process group) after ~2 s, then the same command again

--quick shrinks the sizes for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.provider_server import run_provider  # noqa: E402

TINY = str(ROOT / "tests" / "data" / "tiny.toml")
KEY = "sk-bench-1234567890"
FIXED_400 = "Invalid 'messages[1].content': this organization may not use this prompt."
TIMEOUT = 600.0


@dataclass
class Run:
    """One finished (or timed-out) `tinygen generate`."""

    code: int | None  # None: timed out
    stderr: str
    wall: float
    out: Path


@dataclass
class Figure:
    label: str
    text: str
    ok: bool | None = None  # None: no target
    target: str = ""


@dataclass
class Result:
    name: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, label: str, text: str, ok: bool | None = None, target: str = "") -> None:
        self.figures.append(Figure(label, text, ok, target))

    def line(self) -> str:
        parts = [f"{f.label} {f.text}" + (" FAIL" if f.ok is False else "") for f in self.figures]
        return f"{self.name}: " + ", ".join(parts)


def command(url: str, out: Path, n: int, *extra: str, recipe: str = TINY) -> list[str]:
    """A quiet `tinygen generate` as a user types it."""
    args = [sys.executable, "-m", "tinygen", "generate", recipe, "-n", str(n)]
    return [*args, "--out", str(out), "--base-url", url, "--api-key", KEY, "--quiet", *extra]


def generate(argv: list[str], out: Path) -> Run:
    """Run `argv` to the end (or TIMEOUT) and time it."""
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = None, str(exc.stderr or "")
    return Run(code, stderr, time.monotonic() - started, out)


@contextmanager
def provider(*flags: str) -> Iterator[tuple[Any, Path]]:
    """An emulator with `flags` and a fresh output directory (not yet created)."""
    with run_provider("--port", "0", *flags) as srv, tempfile.TemporaryDirectory() as tmp:
        yield srv, Path(tmp) / "out"


def record_ids(out: Path) -> list[str]:
    """The id of every line of OUT/data/*.jsonl."""
    ids = []
    for shard in sorted((out / "data").glob("*.jsonl")):
        ids += [json.loads(line)["id"] for line in shard.read_text().splitlines() if line]
    return ids


def manifest(out: Path) -> dict[str, Any]:
    path = out / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def times_of_200s(srv: Any) -> list[float]:
    return sorted(e["t"] for e in srv.requests() if e["status"] == 200)


def rate(times: list[float]) -> float:
    """Answers per second between the first and the last of `times`."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def mentions(text: str, *words: str) -> bool:
    return any(word in text.lower() for word in words)


def reasoning(quick: bool, repeats: int) -> Result:
    n, result = 40, Result("reasoning")
    with provider() as (srv, out):
        argv = command(srv.base_url, out, n, "--model", "gpt-5-mini", recipe="tinystories")
        run = generate(argv, out)
        bad = sum(e["status"] == 400 for e in srv.requests())
        written = len(record_ids(out)) if out.exists() else 0
    result.add("exit", str(run.code), run.code == 0, "0")
    result.add("records", f"{written}/{n}", written == n, f"{n}")
    result.add("400s", str(bad), bad <= 8, "<= 8")
    return result


def quota(quick: bool, repeats: int) -> Result:
    result = Result("quota")
    with provider("--quota") as (srv, out):
        run = generate(command(srv.base_url, out, 50, "--concurrency", "64"), out)
        requests = len(srv.requests())
    result.add("exit", str(run.code), run.code not in (0, None), "non-zero")
    result.add("wall", f"{run.wall:.1f} s", run.wall < 15, "< 15 s")
    result.add("requests", str(requests), requests <= 40, "<= 40")
    said = mentions(run.stderr, "quota", "billing")
    result.add("mentions quota/billing", "yes" if said else "no", said, "yes")
    return result


def fixed400(quick: bool, repeats: int) -> Result:
    result = Result("fixed400")
    with provider("--fixed-400", FIXED_400) as (srv, out):
        run = generate(command(srv.base_url, out, 500), out)
        requests = len(srv.requests())
    result.add("exit", str(run.code), run.code not in (0, None), "non-zero")
    result.add("requests", str(requests), requests <= 100, "<= 100")
    said = FIXED_400 in run.stderr
    result.add("message on stderr", "yes" if said else "no", said, "yes")
    return result


def headers(quick: bool, repeats: int) -> Result:
    rpm, n = (1200, 1500) if quick else (600, 1800)
    result = Result(f"headers (rpm {rpm}, n {n})")
    with provider("--rpm", str(rpm)) as (srv, out):
        run = generate(command(srv.base_url, out, n, "--concurrency", "64"), out)
        log = srv.requests()
    oks = sorted(e["t"] for e in log if e["status"] == 200)
    share = sum(e["status"] == 429 for e in log) / max(1, len(log))
    limit = rpm / 60
    paced = rate(oks[rpm:]) / limit
    whole = len(oks) / (oks[-1] - log[0]["t"]) / limit if len(oks) > 1 else 0.0
    result.add("exit", str(run.code), run.code == 0, "0")
    result.add("429 share", f"{share:.1%}", share <= 0.10, "<= 10%")
    result.add("paced rate / limit", f"{paced:.2f}", paced >= 0.6, ">= 0.6")
    result.add("whole-run rate / limit", f"{whole:.2f}")
    return result


def served(n: int, *flags: str) -> tuple[float, dict[str, Any]]:
    """Served rate of one run at concurrency 32 against 300 ms answers; its manifest."""
    with provider("--delay-ms", "300", *flags) as (srv, out):
        generate(command(srv.base_url, out, n, "--concurrency", "32"), out)
        return rate(times_of_200s(srv)), manifest(out)


def random429(quick: bool, repeats: int) -> Result:
    n, result = 300 if quick else 2000, Result("random429")
    clean: list[float] = []
    faulty: list[float] = []
    faulty_manifest: dict[str, Any] = {}
    for i in range(repeats):
        for with_faults in (False, True) if i % 2 == 0 else (True, False):
            if with_faults:
                served_rate, faulty_manifest = served(n, "--p429", "0.05", "--seed", "1")
                faulty.append(served_rate)
            else:
                clean.append(served(n)[0])
    ratio = statistics.median(faulty) / statistics.median(clean)
    result.add("fault-free", " ".join(f"{r:.1f}" for r in clean) + " /s")
    result.add("5% 429", " ".join(f"{r:.1f}" for r in faulty) + " /s")
    result.add("ratio", f"{ratio:.2f}", ratio >= 0.8, ">= 0.8")
    concurrency = faulty_manifest.get("session", {}).get("concurrency")
    result.add("faulty session.concurrency", json.dumps(concurrency))
    return result


def hang_up(argv: list[str], after: float) -> int | None:
    """Start `argv` in its own session, SIGHUP its process group after `after` s, wait."""
    child = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    time.sleep(after)
    os.killpg(child.pid, signal.SIGHUP)
    try:
        child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None
    return child.returncode


def sighup(quick: bool, repeats: int) -> Result:
    n, result = 400, Result("sighup")
    with provider("--delay-ms", "200") as (srv, out):
        argv = command(srv.base_url, out, n, "--concurrency", "8")
        code = hang_up(argv, 2.0)
        status = manifest(out).get("status")
        kept = len(record_ids(out)) if out.exists() else 0
        rerun = generate(argv, out)
        ids = record_ids(out) if out.exists() else []
    result.add("exit", str(code))
    result.add("manifest", str(status), status not in ("running", None), "not running")
    result.add("records kept", str(kept))
    result.add("rerun exit", str(rerun.code), rerun.code == 0, "0")
    result.add("rerun records", str(len(ids)), len(ids) == n, f"{n}")
    dupes = len(ids) - len(set(ids))
    result.add("duplicate ids", str(dupes), dupes == 0, "0")
    return result


SCENARIOS: dict[str, Callable[[bool, int], Result]] = {
    "reasoning": reasoning,
    "quota": quota,
    "fixed400": fixed400,
    "headers": headers,
    "random429": random429,
    "sighup": sighup,
}


def table(results: list[Result]) -> None:
    print("\n| scenario | figure | value | target | met |")
    print("|---|---|---|---|---|")
    for result in results:
        for f in result.figures:
            met = {True: "ok", False: "FAIL", None: ""}[f.ok]
            print(f"| {result.name} | {f.label} | {f.text} | {f.target} | {met} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--repeats", type=int, default=1, help="random429 pairs")
    args = parser.parse_args()
    results = []
    for name, scenario in SCENARIOS.items():
        if args.only in (None, name):
            started = time.monotonic()
            results.append(scenario(args.quick, max(1, args.repeats)))
            print(f"{results[-1].line()} [{time.monotonic() - started:.0f} s]", flush=True)
    table(results)


if __name__ == "__main__":
    main()
