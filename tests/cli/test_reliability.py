"""Reliability end to end: rate limits, budgets, signals, disk errors and a fault soak."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TINY, cli, gen_args, read_jsonl, shard_records, wait_for_requests


def start_generate(srv, out, n: int, *, concurrency: int, wait_for: int):
    """Start `tinygen generate` in a subprocess; return once `wait_for` requests arrived."""
    args = [
        sys.executable,
        "-m",
        "tinygen",
        *gen_args(srv.base_url, out, n, "--concurrency", str(concurrency)),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_requests(srv, wait_for)
    return args, process


def test_rpm_keeps_every_one_second_window_under_the_limit(server, tmp_path):
    srv = server()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 30, "--rpm", "600"))
    assert code == 0, err
    times = [entry["t"] for entry in srv.requests()]
    assert len(times) == 30
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 10
    assert times[-1] - times[0] >= 2.9


def test_max_cost_stops_then_rerun_resumes(server, tmp_path):
    srv = server()
    prices = ["--price-in", "1000", "--price-out", "1000", "--concurrency", "4"]
    # each request costs at most (~40 prompt + 200 max) tokens x $1000/M = ~$0.24
    code, out, _ = cli(*gen_args(srv.base_url, tmp_path, 40, "--max-cost", "2", "--json", *prices))
    assert code == 4
    summary = json.loads(out)
    assert summary["status"] == "budget_reached"
    assert summary["cost_usd"] <= 2.0
    first = len(shard_records(tmp_path))
    assert 0 < first < 40
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["totals"]["cost_usd"] == pytest.approx(summary["cost_usd"])
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 40, *prices))
    assert code == 0, err
    records = shard_records(tmp_path)
    assert len(records) == 40 and len({r["index"] for r in records}) == 40
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["sessions"] == 2 and manifest["totals"]["cost_usd"] > summary["cost_usd"]


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_signal_stops_cleanly_and_run_resumes(server, tmp_path, signum, exit_code):
    srv = server("--delay-ms", "100")
    args, process = start_generate(srv, tmp_path, 200, concurrency=16, wait_for=40)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == exit_code, err
    assert "rerun the same command" in err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == {130: "interrupted", 143: "terminated", 129: "hangup"}[exit_code]
    first = shard_records(tmp_path)  # every line whole and valid
    assert 0 < len(first) < 200
    assert sum(s["records"] for s in manifest["shards"]) == len(first)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len({r["id"] for r in shard_records(tmp_path)}) == 200


def test_second_interrupt_stops_at_once(server, tmp_path):
    srv = server("--delay-ms", "3000")
    # the first request goes alone (one answer before opening up), then 8 are in flight
    _, process = start_generate(srv, tmp_path, 50, concurrency=8, wait_for=9)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert time.monotonic() - started < 2.5  # did not wait for the 3 s answers
    assert [r["index"] for r in shard_records(tmp_path)] == [0]  # only the first, answered
    assert read_jsonl(tmp_path / "failed.jsonl") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_output_dir_is_a_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        code, _, err = cli(
            "generate",
            TINY,
            "--out",
            str(tmp_path / "out"),
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--quiet",
        )
    finally:
        tmp_path.chmod(0o700)
    assert code == 1 and "cannot create" in err


def test_corrupt_manifest_is_a_clear_error_and_records_stay(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path, 5))[0] == 0
    before = (tmp_path / "data" / "part-00000.jsonl").read_bytes()
    (tmp_path / "manifest.json").write_text("{not json")
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 10))
    assert code == 1 and "manifest.json is corrupt" in err and "delete manifest.json" in err
    assert (tmp_path / "data" / "part-00000.jsonl").read_bytes() == before
    (tmp_path / "manifest.json").unlink()
    assert cli(*gen_args(srv.base_url, tmp_path, 10))[0] == 0
    assert len(shard_records(tmp_path)) == 10


def test_fault_soak(server, tmp_path):
    srv = server(
        "--seed",
        "7",
        "--retry-after",
        "0.05",
        "--slow-seconds",
        "3",
        "--p429",
        "0.04",
        "--p500",
        "0.04",
        "--p503",
        "0.03",
        "--pdrop",
        "0.03",
        "--pslow",
        "0.01",
        "--pmalformed",
        "0.02",
        "--plength",
        "0.02",
        "--pempty",
        "0.01",
    )
    started = time.monotonic()
    code, out, err = cli(
        *gen_args(
            srv.base_url,
            tmp_path,
            5000,
            "--concurrency",
            "128",
            "--timeout",
            "1",
            "--shard-size",
            "1000",
            "--json",
        )
    )
    assert code == 0, err
    assert time.monotonic() - started < 120
    records = shard_records(tmp_path)
    assert len(records) == 5000 and len({r["id"] for r in records}) == 5000
    assert len({r["text"] for r in records}) == 5000
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    failed = read_jsonl(tmp_path / "failed.jsonl")
    summary = json.loads(out)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["rejected"] == len(rejected) == summary["rejected"]
    assert manifest["counts"]["failed"] == len(failed)
    outcomes = {r["index"] for r in records} | {r["index"] for r in rejected}
    outcomes |= {r["index"] for r in failed}
    assert len(outcomes) == 5000 + len(rejected) + len(failed)
    log = srv.requests()
    assert summary["requests"] == len(log)
    assert sum(manifest["counts"]["retries_by_kind"].values()) > 300


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (needs root, as CI has); skipped where mounting is not allowed."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_full_disk_is_a_clear_error_and_the_run_resumes_elsewhere(server, small_disk, tmp_path):
    srv = server()
    out = small_disk / "out"
    code, _, err = cli(*gen_args(srv.base_url, out, 2000, "--concurrency", "8"))
    assert code == 1
    assert "No space left on device" in err and "rerun the same command" in err
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    written = len(list((moved / "data").glob("*.jsonl")))
    assert written >= 1
    code, _, err = cli(*gen_args(srv.base_url, moved, 2000, "--concurrency", "8"))
    assert code == 0, err
    records = shard_records(moved)
    assert len(records) == 2000 and len({r["index"] for r in records}) == 2000


def test_a_second_run_on_the_same_directory_is_refused(server, tmp_path):
    srv = server("--delay-ms", "300")
    _, process = start_generate(srv, tmp_path, 60, concurrency=4, wait_for=4)
    try:
        code, _, err = cli(*gen_args(srv.base_url, tmp_path, 60))
        assert code == 1 and "another tinygen process is writing to" in err
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert len({r["index"] for r in shard_records(tmp_path)}) == len(shard_records(tmp_path))
