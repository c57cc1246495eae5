"""Throughput of tinygen against a bare openai.AsyncOpenAI loop, on one loopback server.

    python bench/throughput.py [--requests 5000] [--concurrency 256] [--delays 0,200]
                               [--memory-records 100000]

For each server delay, each client runs in a fresh subprocess against its own
tests/openai_server.py process (unique stories that pass tinystories' checks):
the bare SDK in its fastest configuration (aiohttp transport, pool sized to the
concurrency, retries off); a raw aiohttp loop with no SDK (the machine's bound for a
Python client); `tinygen generate tinystories` with every check on, with its default
workers and with --workers 1. The memory runs push --memory-records records through
tinygen, with default workers and with one process.

req/s is counted as the server saw it, from the first request's arrival to the last
answer (client start-up and shutdown excluded); [whole] is over the whole command, and
"whole command / served rate" is their ratio (1.0: no fixed cost at all).
CPU ms/req sums every process of the client; mem MB is the peak of the client's whole
process tree (PSS summed over its processes: shared pages count once).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import as_installed  # noqa: E402
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


RAW_AIOHTTP = r"""
import asyncio, sys, aiohttp
url, total, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        slots = asyncio.Semaphore(concurrency)
        async def one(i):
            async with slots:
                body = {"model": "m", "max_tokens": 600, "messages": [
                    {"role": "user", "content": f'Write a story with the noun "cat{i}".'}]}
                async with session.post(url + "/chat/completions", json=body) as response:
                    return (await response.json())["choices"][0]["message"]["content"]
        texts = await asyncio.gather(*(one(i) for i in range(total)))
        assert len(set(texts)) == total
asyncio.run(main())
"""


MEASURE = r"""
import json, os, resource, subprocess, sys, tempfile, threading, time

def tree_pss(root):
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
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += sum(int(line.split()[1]) * 1024 for line in rollup
                             if line.startswith("Pss:"))
        except OSError:
            pass
    return total

def wait(child, times):
    child.wait()  # a blocking waitpid: the exit is seen at once, not at the next poll
    times.append(time.perf_counter())

with tempfile.TemporaryFile() as out:
    times = [time.perf_counter()]
    child = subprocess.Popen(sys.argv[2:], stdout=out)
    waiter = threading.Thread(target=wait, args=(child, times))
    waiter.start()
    peak = 0
    while waiter.is_alive():
        peak = max(peak, tree_pss(child.pid))
        waiter.join(0.25)
    out.seek(0)
    stdout = out.read().decode()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as handle:
    json.dump({"cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
               "tree_pss": peak, "code": child.returncode, "stdout": stdout,
               "wall": times[1] - times[0]}, handle)
"""


def run_measured(command: list[str]) -> dict[str, float]:
    """Run a command in its own measuring parent: wall time (the command's own, from
    its start to the moment it exits, without the parent's start or a poll's delay),
    CPU time of all its processes, the peak RSS (MB) of its largest process, and the
    peak memory of its whole process tree (the sum of PSS, which counts pages the
    processes share, such as Python's own code, once; sampled every 0.25 s)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([sys.executable, "-c", MEASURE, report.name, *command], check=True)
        usage = json.loads(Path(report.name).read_text())
    if usage["code"] != 0:
        raise SystemExit(f"{command[:4]} failed with exit code {usage['code']}")
    return {
        "wall": usage["wall"],
        "cpu": usage["cpu"],
        "rss_mb": usage["rss_kb"] / 1024,
        "pss_mb": usage["tree_pss"] / 2**20,
        "stdout": usage["stdout"],
    }


def bare_sdk(url: str, total: int, concurrency: int) -> dict[str, float]:
    return run_measured([sys.executable, "-c", BARE_SDK, url, str(total), str(concurrency)])


def raw_aiohttp(url: str, total: int, concurrency: int) -> dict[str, float]:
    return run_measured([sys.executable, "-c", RAW_AIOHTTP, url, str(total), str(concurrency)])


def tinygen(url: str, total: int, concurrency: int, out: Path, *extra: str) -> dict[str, float]:
    command = [sys.executable, "-m", "tinygen", "generate", "tinystories", "-n", str(total)]
    command += ["--out", str(out), "--base-url", url, "--api-key", "k", "--model", "m"]
    command += ["--concurrency", str(concurrency), "--quiet", "--json", "--overwrite", *extra]
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


def compare(delay_ms: int, total: int, concurrency: int) -> dict[str, dict[str, float]]:
    """Each client against its own server with `delay_ms` latency."""
    rows = {
        "bare SDK": measure(bare_sdk, delay_ms, total, concurrency),
        "raw aiohttp": measure(raw_aiohttp, delay_ms, total, concurrency),
    }
    for name, extra in (("tinygen", ()), ("tinygen -w1", ("--workers", "1"))):
        with tempfile.TemporaryDirectory() as tmp:
            rows[name] = measure(tinygen, delay_ms, total, concurrency, Path(tmp) / "o", *extra)
    for row in rows.values():
        requests = row.get("requests", total)
        row["wall_req_s"] = requests / row["wall"]
        row["cpu_ms"] = row["cpu"] / requests * 1000
    return rows


def memory_run(records: int, concurrency: int, *extra: str) -> dict[str, float]:
    """Peak memory of tinygen writing `records` records (fresh processes)."""
    with run_server("--port", "0") as server, tempfile.TemporaryDirectory() as tmp:
        result = tinygen(server.base_url, records, concurrency, Path(tmp) / "out", *extra)
    result["req_s"] = result["requests"] / result["wall"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--delays", default="0,200")
    parser.add_argument("--memory-records", type=int, default=100_000)
    args = parser.parse_args()
    as_installed()
    print(__doc__.split("\n\n")[-1].strip())
    header = f"{'client':<12} {'req/s':>6} {'[whole]':>8} {'CPU ms/req':>11} {'mem MB':>7}"
    for delay in (int(d) for d in args.delays.split(",") if d):
        rows = compare(delay, args.requests, args.concurrency)
        print(f"\n{args.requests} requests, concurrency {args.concurrency}, delay {delay} ms")
        print(header)
        for name, row in rows.items():
            print(
                f"{name:<12} {row['served_req_s']:>6.0f} [{row['wall_req_s']:>6.0f}] "
                f"{row['cpu_ms']:>11.2f} {row['pss_mb']:>7.0f}"
            )
        ours, bare = rows["tinygen"]["served_req_s"], rows["bare SDK"]["served_req_s"]
        print(f"tinygen / bare SDK: {ours / bare:.2f}")
        whole = ", ".join(
            f"{name} {row['wall_req_s'] / row['served_req_s']:.2f}" for name, row in rows.items()
        )
        print(f"whole command / served rate: {whole}")
        if delay:
            ideal = args.concurrency / (delay / 1000)
            shares = ", ".join(f"{n} {r['served_req_s'] / ideal:.2f}" for n, r in rows.items())
            print(f"share of ideal ({ideal:.0f} req/s): {shares}")
    for extra in ((), ("--workers", "1")):
        if args.memory_records:
            memory = memory_run(args.memory_records, args.concurrency, *extra)
            print(
                f"\nmemory run {' '.join(extra) or '(default workers)'}: {memory['accepted']} "
                f"records in {memory['wall']:.0f} s ({memory['req_s']:.0f} req/s); peak "
                f"memory {memory['pss_mb']:.0f} MB (all processes, PSS), largest process "
                f"{memory['rss_mb']:.0f} MB RSS"
            )


if __name__ == "__main__":
    main()
