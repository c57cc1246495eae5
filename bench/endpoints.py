"""tinygen over several endpoints, as a user runs it, against loopback servers.

    python bench/endpoints.py [--records 600] [--concurrency 16]

  balance   two servers, 10 ms and 40 ms a request; then three (10, 20, 40 ms): the share
            each served, against the share its server delay alone would give, and the
            share its mean latency as the client measured it would give (1/latency)
  failover  two servers at 20 ms; one is killed (SIGKILL) once a third of the records
            are served: exit code, failed items, re-sent calls, how long requests stopped
            arriving anywhere after the kill (the failover time), and the wall time
            against the same run with no kill

Each run is `python -m tinygen generate` in a subprocess against tests/openai_server.py
processes; figures are printed, nothing is asserted (the machine is shared: compare
figures of one run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.openai_server import ServerHandle, run_server  # noqa: E402

TINY = str(ROOT / "tests" / "data" / "tiny.toml")


def generate_args(servers: list[ServerHandle], out: Path, records: int, concurrency: int):
    args = [sys.executable, "-m", "tinygen", "generate", TINY, "-n", str(records)]
    args += ["--out", str(out), "--quiet", "--concurrency", str(concurrency), "--workers", "1"]
    for srv in servers:
        args += ["--base-url", srv.base_url]
    return args


def answered_times(srv: ServerHandle) -> list[float]:
    return [request["t"] for request in srv.requests() if request["status"] == 200]


def balance(delays: list[int], records: int, concurrency: int) -> None:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        servers = [stack.enter_context(run_server("--delay-ms", str(d))) for d in delays]
        started = time.monotonic()
        run = subprocess.run(
            generate_args(servers, Path(tmp) / "run", records, concurrency),
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        served = [len(answered_times(srv)) for srv in servers]
        manifest = json.loads((Path(tmp) / "run" / "manifest.json").read_text(encoding="utf-8"))
        endpoints = manifest["session"]["endpoints"]
        latency = [endpoints[f"127.0.0.1:{srv.port}"]["mean_latency_s"] for srv in servers]
    speed = [1 / d for d in delays]
    measured = [1 / seconds for seconds in latency]
    shares = ", ".join(
        f"{d} ms {n / sum(served):.0%} (server delay alone {s / sum(speed):.0%}; measured "
        f"{seconds * 1000:.0f} ms, {m / sum(measured):.0%})"
        for d, n, s, seconds, m in zip(delays, served, speed, latency, measured, strict=True)
    )
    print(f"balance {len(delays)} endpoints: exit {run.returncode}, {wall:.1f} s, {shares}")


def failover(records: int, concurrency: int, kill: bool) -> None:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        first = stack.enter_context(run_server("--delay-ms", "20"))
        second = stack.enter_context(run_server("--delay-ms", "20"))
        out = Path(tmp) / "run"
        started = time.monotonic()
        run = subprocess.Popen(
            generate_args([first, second], out, records, concurrency),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed_at = None
        while kill and killed_at is None and run.poll() is None:
            if len(answered_times(first)) + len(answered_times(second)) >= records // 3:
                killed_at = time.time()
                first.proc.kill()
            time.sleep(0.02)
        _, stderr = run.communicate()
        wall = time.monotonic() - started
        after = sorted(t for t in answered_times(second) if killed_at and t > killed_at)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        failed = manifest["counts"]["failed"]
        endpoints = manifest["session"]["endpoints"]
    if not kill:
        print(f"failover baseline (no kill): exit {run.returncode}, {wall:.2f} s")
        return
    gap = max(
        (b - a for a, b in zip([killed_at, *after], after, strict=False)), default=float("nan")
    )
    resent = sum(count["resent"] for count in endpoints.values())
    print(
        f"failover (one of two killed at {records // 3} served): exit {run.returncode}, "
        f"{wall:.2f} s, failed {failed}, re-sent {resent}, longest pause after the kill "
        f"{gap * 1000:.0f} ms" + ("" if run.returncode == 0 else f"\n{stderr[-500:]}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    balance([10, 40], opts.records, opts.concurrency)
    balance([10, 20, 40], opts.records, opts.concurrency)
    failover(opts.records, opts.concurrency, kill=False)
    failover(opts.records, opts.concurrency, kill=True)


if __name__ == "__main__":
    main()
