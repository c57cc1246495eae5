"""Throughput of tinygen against a bare openai.AsyncOpenAI loop, on one loopback server.

    python bench/throughput.py [--requests 5000] [--concurrency 256] [--delays 0,200]
                               [--memory-records 100000]

For each server delay it starts tests/openai_server.py in its own process, then runs
(a) the bare SDK in its fastest configuration (aiohttp transport, pool sized to the
concurrency, retries off) and (b) `tinygen generate tinystories` with all checks on, each
in a fresh subprocess, and prints requests/s, their ratio, CPU seconds per 1,000 requests
and peak RSS. The memory run pushes --memory-records records through the pipeline and
reports peak RSS (it must not grow with the number of records).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.openai_server import run_server  # noqa: E402

BARE_SDK = r"""
import asyncio, sys, time, httpx2, openai
url, total, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0,
                                http_client=openai.DefaultAioHttpClient(limits=limits))
    slots = asyncio.Semaphore(concurrency)
    async def one(i):
        async with slots:
            r = await client.chat.completions.create(model="m", max_tokens=600, messages=[
                {"role": "user", "content": f'Write a story with the noun "cat{i}".'}])
            return r.choices[0].message.content
    texts = await asyncio.gather(*(one(i) for i in range(total)))
    assert len(set(texts)) == total
    await client.close()
asyncio.run(main())
"""


MEASURE = r"""
import json, os, resource, subprocess, sys, tempfile

def tree_rss(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total

with tempfile.TemporaryFile() as out:
    child = subprocess.Popen(sys.argv[2:], stdout=out)
    peak = 0
    while True:
        try:
            child.wait(0.25)
            break
        except subprocess.TimeoutExpired:
            peak = max(peak, tree_rss(child.pid))
    out.seek(0)
    stdout = out.read().decode()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as handle:
    json.dump({"cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
               "tree_rss": peak, "code": child.returncode, "stdout": stdout}, handle)
"""


def run_measured(command: list[str]) -> dict[str, float]:
    """Run a command in its own measuring parent: wall time, CPU time of all its
    processes, and peak RSS (MB): of its process tree (summed, sampled every 0.25 s)
    and of its largest single process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", MEASURE, report.name, *command], check=True)
        wall = time.perf_counter() - started
        usage = json.loads(Path(report.name).read_text())
    if usage["code"] != 0:
        raise SystemExit(f"{command[:4]} failed with exit code {usage['code']}")
    return {
        "wall": wall,
        "cpu": usage["cpu"],
        "rss_mb": max(usage["tree_rss"] / 2**20, usage["rss_kb"] / 1024),
        "stdout": usage["stdout"],
    }


def bare_sdk(url: str, total: int, concurrency: int) -> dict[str, float]:
    return run_measured([sys.executable, "-c", BARE_SDK, url, str(total), str(concurrency)])


def tinygen(url: str, total: int, concurrency: int, out: Path) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "tinygen",
        "generate",
        "tinystories",
        "-n",
        str(total),
        "--out",
        str(out),
        "--base-url",
        url,
        "--api-key",
        "k",
        "--model",
        "m",
        "--concurrency",
        str(concurrency),
        "--quiet",
        "--json",
        "--overwrite",
    ]
    result = run_measured(command)
    summary = json.loads(result["stdout"])
    result["requests"] = summary["requests"]
    result["accepted"] = summary["accepted"]
    return result


def served_rate(server, delay_ms: int) -> float:
    """Requests/s as the server saw them: from the first request's arrival to the last
    answer (last arrival + delay). Start-up and shutdown of the client do not count."""
    arrivals = [entry["t"] for entry in server.requests()]
    return len(arrivals) / (max(arrivals) - min(arrivals) + delay_ms / 1000)


def measure(client, delay_ms: int, *args) -> dict[str, float]:
    """Run `client` against a fresh server with `delay_ms` latency."""
    with run_server("--port", "0", "--delay-ms", str(delay_ms)) as server:
        result = client(server.base_url, *args)
        result["served_req_s"] = served_rate(server, delay_ms)
    return result


def compare(delay_ms: int, total: int, concurrency: int) -> dict[str, float]:
    """The bare SDK loop, then tinygen, each against its own server with `delay_ms`."""
    bare = measure(bare_sdk, delay_ms, total, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        ours = measure(tinygen, delay_ms, total, concurrency, Path(tmp) / "out")
    row = {
        "delay_ms": delay_ms,
        "bare_req_s": bare["served_req_s"],
        "tinygen_req_s": ours["served_req_s"],
        "bare_wall_req_s": total / bare["wall"],
        "tinygen_wall_req_s": ours["requests"] / ours["wall"],
        "bare_cpu_per_1k": bare["cpu"] / total * 1000,
        "tinygen_cpu_per_1k": ours["cpu"] / ours["requests"] * 1000,
        "bare_rss_mb": bare["rss_mb"],
        "tinygen_rss_mb": ours["rss_mb"],
        "accepted": ours["accepted"],
    }
    row["ratio"] = row["tinygen_req_s"] / row["bare_req_s"]
    if delay_ms:
        row["ideal_req_s"] = concurrency / (delay_ms / 1000)
        row["share_of_ideal"] = row["tinygen_req_s"] / row["ideal_req_s"]
    return row


def memory_run(records: int, concurrency: int) -> dict[str, float]:
    """Peak RSS of tinygen writing `records` records (fresh process)."""
    with run_server("--port", "0") as server, tempfile.TemporaryDirectory() as tmp:
        result = tinygen(server.base_url, records, concurrency, Path(tmp) / "out")
    return {
        "records": result["accepted"],
        "wall_s": result["wall"],
        "req_s": result["requests"] / result["wall"],
        "peak_rss_mb": result["rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--delays", default="0,200")
    parser.add_argument("--memory-records", type=int, default=100_000)
    args = parser.parse_args()
    print("req/s: as the server saw them (first request to last answer); in brackets, over")
    print("the whole command (start-up, imports and the end-of-run card included)")
    print(
        f"{'delay':>6} {'bare req/s':>16} {'tinygen req/s':>16} {'ratio':>6} "
        f"{'CPU s/1k bare':>14} {'CPU s/1k tg':>12} {'RSS MB bare':>12} {'RSS MB tg':>10}"
    )
    for delay in (int(d) for d in args.delays.split(",") if d):
        row = compare(delay, args.requests, args.concurrency)
        print(
            f"{delay:>4}ms {row['bare_req_s']:>7.0f} [{row['bare_wall_req_s']:>5.0f}] "
            f"{row['tinygen_req_s']:>8.0f} [{row['tinygen_wall_req_s']:>5.0f}] "
            f"{row['ratio']:>6.2f} {row['bare_cpu_per_1k']:>14.2f} "
            f"{row['tinygen_cpu_per_1k']:>12.2f} {row['bare_rss_mb']:>12.0f} "
            f"{row['tinygen_rss_mb']:>10.0f}"
        )
        if delay:
            print(
                f"{'':>6} ideal {row['ideal_req_s']:.0f} req/s: tinygen at "
                f"{row['share_of_ideal']:.2f} of ideal, the bare SDK at "
                f"{row['bare_req_s'] / row['ideal_req_s']:.2f}"
            )
    if args.memory_records:
        memory = memory_run(args.memory_records, args.concurrency)
        print(
            f"memory run: {memory['records']} records in {memory['wall_s']:.0f}s "
            f"({memory['req_s']:.0f} req/s), peak RSS {memory['peak_rss_mb']:.0f} MB "
            "(all processes)"
        )


if __name__ == "__main__":
    main()
