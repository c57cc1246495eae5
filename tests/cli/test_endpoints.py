"""Several endpoints behind one run, against real loopback servers: balancing, failover
when one is killed mid-run, every endpoint down (a clear stop, then a resume), and each
endpoint's own key, model name and cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import KEY, TINY, read_jsonl, run_cli_subprocess, shard_records
from tests.openai_server import ServerHandle

WORKERS = {"one-process": ("--workers", "1"), "workers": ("--workers", "2")}


def endpoint_args(urls: list[str], out: Path, n: int, *extra: str) -> list[str]:
    args = ["generate", TINY, "-n", str(n), "--out", str(out), "--api-key", KEY, "--quiet"]
    for url in urls:
        args += ["--base-url", url]
    return [*args, *extra]


def label(srv: ServerHandle) -> str:
    return f"127.0.0.1:{srv.port}"


def served(srv: ServerHandle) -> int:
    return sum(1 for request in srv.requests() if request["status"] == 200)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def start_generate(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tinygen", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_served(servers: list[ServerHandle], count: int, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while sum(served(srv) for srv in servers) < count:
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)


@pytest.mark.parametrize("delays", [(5, 60), (5, 20, 60)], ids=["two", "three"])
def test_requests_follow_each_endpoints_speed(server, tmp_path, delays):
    servers = [server("--delay-ms", str(delay)) for delay in delays]
    out = tmp_path / "run"
    args = endpoint_args([srv.base_url for srv in servers], out, 150, "--concurrency", "12")
    done = run_cli_subprocess(args)
    assert done.returncode == 0, done.stderr
    counts = [served(srv) for srv in servers]
    assert all(count > 0 for count in counts)
    assert counts == sorted(counts, reverse=True)  # the faster, the more
    records = shard_records(out)
    by_endpoint = Counter(record["endpoint"] for record in records)
    assert set(by_endpoint) <= {label(srv) for srv in servers}
    endpoints = manifest(out)["session"]["endpoints"]
    assert [endpoints[label(srv)]["answered"] for srv in servers] == counts
    assert (
        endpoints[label(servers[0])]["mean_latency_s"]
        < endpoints[label(servers[-1])]["mean_latency_s"]
    )


@pytest.mark.parametrize("workers", WORKERS.values(), ids=WORKERS.keys())
def test_an_endpoint_killed_mid_run_costs_nothing(server, tmp_path, workers):
    first, second = server("--delay-ms", "20"), server("--delay-ms", "20")
    out = tmp_path / "run"
    args = endpoint_args([first.base_url, second.base_url], out, 300, "--concurrency", "16")
    run = start_generate([*args, *workers])
    wait_for_served([first, second], 80, run)
    before = served(first), served(second)
    first.proc.kill()
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert min(before) >= 20
    records = shard_records(out)
    assert len(records) == 300 and len({record["id"] for record in records}) == 300
    assert read_jsonl(out / "failed.jsonl") == []
    endpoints = manifest(out)["session"]["endpoints"]
    assert endpoints[label(first)]["down"] and endpoints[label(first)]["ejected"] >= 1
    assert endpoints[label(second)]["answered"] >= 300 - before[0]
    assert "Traceback" not in stderr


def test_every_endpoint_down_stops_clearly_and_a_rerun_finishes(server, tmp_path):
    first, second = server("--delay-ms", "20"), server("--delay-ms", "20")
    out = tmp_path / "run"
    args = endpoint_args([first.base_url, second.base_url], out, 300, "--concurrency", "8")
    run = start_generate([*args, "--endpoint-patience", "1"])
    wait_for_served([first, second], 40, run)
    first.proc.kill()
    second.proc.kill()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 1
    assert "every endpoint has been down for 1 s" in stderr and "Traceback" not in stderr
    assert "rerun the same command: it resumes" in stderr
    assert manifest(out)["status"] == "error"
    kept = len(shard_records(out))
    assert 0 < kept < 300 and read_jsonl(out / "failed.jsonl") == []
    back = [server(), server()]  # the servers are back (on new ports)
    again = run_cli_subprocess(endpoint_args([srv.base_url for srv in back], out, 300))
    assert again.returncode == 0, again.stderr
    records = shard_records(out)
    assert len(records) == 300 and len({record["id"] for record in records}) == 300


@pytest.mark.parametrize("workers", WORKERS.values(), ids=WORKERS.keys())
def test_each_endpoint_has_its_own_key_model_name_and_cap(server, tmp_path, monkeypatch, workers):
    capped = server("--delay-ms", "100", "--require-key", "key-of-capped-AAAA")
    renamed = server("--delay-ms", "20", "--require-key", "key-of-renamed-BBBB")
    monkeypatch.setenv("CAPPED_KEY", "key-of-capped-AAAA")
    monkeypatch.setenv("RENAMED_KEY", "key-of-renamed-BBBB")
    out = tmp_path / "run"
    urls = [
        f"{capped.base_url} key-env=CAPPED_KEY concurrency=2",
        f"{renamed.base_url} key-env=RENAMED_KEY model=served-name",
    ]
    done = run_cli_subprocess(endpoint_args(urls, out, 60, "--concurrency", "8", *workers))
    assert done.returncode == 0, done.stderr
    starts = [request["t"] for request in capped.requests()]
    assert len(starts) >= 3 and all(request["auth_ok"] for request in capped.requests())
    assert max(sum(1 for t in starts if s <= t < s + 0.09) for s in starts) <= 2
    assert {request["model"] for request in renamed.requests()} == {"served-name"}
    assert {request["model"] for request in capped.requests()} == {"test-model"}
    written = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file())
    assert b"key-of-" not in written and KEY.encode() not in written


def test_batch_takes_one_endpoint(tmp_path):
    args = endpoint_args(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"], tmp_path / "r", 5)
    done = run_cli_subprocess([*args, "--batch"])
    assert done.returncode == 2 and "--batch asks one endpoint's Batch API" in done.stderr
