"""Worker processes (--workers): same records, shared limits, clean stops, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from tests.conftest import (
    KEY,
    TINY,
    cli,
    gen_args,
    read_jsonl,
    run_cli_subprocess,
    shard_records,
    wait_for_requests,
)
from tinygen.engine import children
from tinygen.engine.generation import CARD_SAMPLE, RunConfig, generate
from tinygen.engine.pool import PoolSpec, worker_count, worker_setups
from tinygen.errors import TinygenError
from tinygen.recipe.load import load_recipe
from tinygen.report.card import write_card
from tinygen.report.corpus import corpus_stats
from tinygen.teachers.factory import TeacherOptions, make_teacher
from tinygen.teachers.limits import Budget, Gate
from tinygen.teachers.prices import Prices
from tinygen.text.cores import available_cores


def test_limits_are_split_so_workers_together_stay_under_them():
    options = TeacherOptions(base_url="http://x/v1", concurrency=257, rpm=600)
    gate = Gate(Budget(max_requests=7, max_tokens=1001, max_cost=3.0), Prices(1, 2), tpm=9000)
    setups = worker_setups(PoolSpec(3, options), load_recipe(TINY), 6, gate)
    assert sum(s.teacher.concurrency for s in setups) == 257
    assert sum(s.budget.max_requests for s in setups) == 7
    assert sum(s.budget.max_tokens for s in setups) == 1001
    assert sum(s.budget.max_cost for s in setups) == pytest.approx(3.0)
    assert sum(s.teacher.rpm for s in setups) == pytest.approx(600)
    assert sum(s.tpm for s in setups) == pytest.approx(9000)


def test_default_is_one_process_unless_an_endpoint_at_high_concurrency():
    remote = TeacherOptions(base_url="http://x/v1")
    assert worker_count(None, remote, 64) == 1
    assert worker_count(None, TeacherOptions(choice="local"), 512) == 1
    assert worker_count(None, remote, 256) == min(available_cores(), 8)
    assert worker_count(3, remote, 64) == 3


def test_workers_write_the_same_items_as_one_process(server, tmp_path, monkeypatch):
    """Workers started fresh from this process (it runs other threads), and forked by
    the command (its process runs one thread)."""
    monkeypatch.setattr(children, "fork_is_safe", lambda: False)
    srv = server()
    runs, teachers = {}, {}
    for workers, how in (("1", ""), ("3", "started"), ("3", "forked")):
        out = tmp_path / (workers + how)
        args = gen_args(srv.base_url, out, 60, "--workers", workers, "--json")
        if how == "forked":
            done = run_cli_subprocess(args)
            code, err = done.returncode, done.stderr
        else:
            code, _, err = cli(*args)
        assert code == 0, err
        records = shard_records(out)
        assert len(records) == 60 and len({r["text"] for r in records}) == 60
        run = workers + how
        runs[run] = {r["index"]: (r["id"], r["messages"], r["variables"]) for r in records}
        in_workers = f"in 3 worker processes ({how})" in (out / "run.log").read_text()
        assert in_workers == (workers == "3")
        manifest = json.loads((out / "manifest.json").read_text())
        teachers[run] = (manifest["teacher"], records[0]["teacher"])
        card = (out / "README.md").read_text()  # from what the run counted as it went
        write_card(out, corpus_stats(out, sample=CARD_SAMPLE))
        assert (out / "README.md").read_text() == card  # = from its files read again
    assert runs["1"] == runs["3started"] == runs["3forked"]
    # the main process's stand-in says what workers ask
    assert teachers["1"] == teachers["3started"] == teachers["3forked"]


def test_a_bad_key_stops_every_worker_with_one_message(server, tmp_path):
    srv = server("--status-always", "401")
    started = time.monotonic()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 50, "--workers", "2"))
    assert code == 1 and "API key" in err.splitlines()[0]
    assert time.monotonic() - started < 15
    assert KEY not in err


def test_rpm_is_shared_between_workers(server, tmp_path):
    srv = server()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 30, "--rpm", "600", "--workers", "2"))
    assert code == 0, err
    times = [entry["t"] for entry in srv.requests()]
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 10


def test_request_budget_is_shared_and_the_rerun_continues(server, tmp_path):
    srv = server()
    args = gen_args(srv.base_url, tmp_path, 20, "--workers", "2", "--concurrency", "4")
    code, out, _ = cli(*args, "--max-requests", "7", "--json")
    assert code == 4 and json.loads(out)["status"] == "budget_reached"
    assert len(srv.requests()) <= 7
    assert 0 < len(shard_records(tmp_path)) <= 7
    code, _, err = cli(*args)
    assert code == 0, err
    assert len({r["index"] for r in shard_records(tmp_path)}) == 20


def test_tpm_paces_requests_by_the_tokens_they_use(server, tmp_path):
    srv = server()
    tpm = 12_000  # 200 tokens a second; the bucket starts with 10 s of them (2,000)
    code, _, err = cli(
        *gen_args(srv.base_url, tmp_path, 16, "--tpm", str(tpm), "--concurrency", "1")
    )
    assert code == 0, err
    records = shard_records(tmp_path) + read_jsonl(tmp_path / "rejected.jsonl")
    used = sum(r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in records)
    times = [entry["t"] for entry in srv.requests()]
    one_request = max(
        r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in records
    )
    assert used > 2_000 + one_request  # more than the first burst may take at once
    assert times[-1] - times[0] >= (used - 2_000 - one_request) / (tpm / 60)


def start_with_workers(srv, out, no_fork: str = "0") -> tuple[list[str], subprocess.Popen]:
    """Start a 300-record run with 2 workers (forked unless `no_fork` is "1"); return once
    40 requests arrived."""
    args = [sys.executable, "-m", "tinygen", *gen_args(srv.base_url, out, 300)]
    args += ["--workers", "2", "--concurrency", "16"]
    env = {**os.environ, "TINYGEN_NO_FORK": no_fork}
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    wait_for_requests(srv, 40)
    return args, process


def _children(pid: int) -> list[int]:
    """The child processes of `pid`, but multiprocessing's resource tracker (an earlier
    test's dedup helpers, started fresh in this process, leave it running)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                    tracker = b"resource_tracker" in cmdline.read()
            except OSError:
                continue
            if parent == pid and not tracker:
                found.append(int(name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("no_fork", ["0", "1"], ids=["forked", "started"])
def test_killed_main_process_leaves_no_workers_and_the_rerun_completes(server, tmp_path, no_fork):
    srv = server("--delay-ms", "100")
    args, process = start_with_workers(srv, tmp_path, no_fork)
    workers = _children(process.pid)
    assert len(workers) == 2
    process.send_signal(signal.SIGKILL)
    process.communicate()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived the killed main process"
        time.sleep(0.05)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = shard_records(tmp_path)
    assert len(records) == 300 and len({r["id"] for r in records}) == 300


def test_interrupt_with_workers_stops_sending_and_resumes(server, tmp_path):
    srv = server("--delay-ms", "300")
    args, process = start_with_workers(srv, tmp_path)
    process.send_signal(signal.SIGINT)
    time.sleep(0.15)  # requests already on their way may still arrive
    sent = len(srv.requests())
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert len(srv.requests()) == sent  # the workers' queues were not sent
    first = shard_records(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert 0 < len(first) < 300 and sum(s["records"] for s in manifest["shards"]) == len(first)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len({r["id"] for r in shard_records(tmp_path)}) == 300


def test_a_dead_worker_is_a_clear_error_and_the_rerun_completes(server, tmp_path):
    srv = server("--delay-ms", "100")
    args, process = start_with_workers(srv, tmp_path)
    os.kill(_children(process.pid)[0], signal.SIGKILL)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "a worker process exited" in err
    assert "Traceback" not in err
    shard_records(tmp_path)  # whole lines only
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len({r["id"] for r in shard_records(tmp_path)}) == 300


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--teacher", "local", "--workers", "2"], "--workers needs an endpoint"),
        (["--workers", "8", "--concurrency", "4"], "more than --concurrency"),
    ],
)
def test_impossible_worker_counts_are_refused(tmp_path, extra, message):
    code, _, err = cli(*gen_args("http://127.0.0.1:9/v1", tmp_path / "o", 5), *extra)
    assert code == 2 and message in err  # a usage error


def test_a_worker_that_cannot_start_stops_the_run_before_any_request(server, tmp_path):
    srv = server()
    options = TeacherOptions(base_url=srv.base_url, api_key=KEY, concurrency=8)
    config = RunConfig(out_dir=tmp_path, target=5, concurrency=8, progress=False)
    config = replace(config, pool=PoolSpec(2, options))
    resolved = load_recipe(TINY)  # renamed after its fingerprint was taken: workers refuse it
    resolved = replace(
        resolved, recipe=resolved.recipe.model_copy(update={"name": "no-such-recipe"})
    )
    with pytest.raises(TinygenError) as raised:
        generate(resolved, make_teacher(options), config)
    assert "no-such-recipe" in raised.value.message
    assert srv.requests() == []
    assert _children(os.getpid()) == [srv.proc.pid]  # no worker left behind


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_workers_started_early_are_stopped_when_the_output_is_refused(server, tmp_path):
    srv = server()
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("a user's file")
    code, _, err = cli(*gen_args(srv.base_url, out, 20, "--workers", "2"))
    assert code != 0 and "notes.txt" in err
    assert (out / "notes.txt").read_text() == "a user's file"
    assert _children(os.getpid()) == [srv.proc.pid]  # no worker left behind
    assert srv.requests() == []
