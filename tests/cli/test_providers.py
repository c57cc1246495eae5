"""What hosted providers do that retrying cannot fix: a key with no quota or credit stops
the run at once, with its own exit code and a message that says so."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import KEY, gen_args, run_cli_subprocess, shard_records

WORKERS = ("--workers", "2", "--concurrency", "8")


@pytest.mark.parametrize("extra", [("--concurrency", "8"), WORKERS], ids=["one-process", "workers"])
def test_insufficient_quota_stops_the_run_at_once(server, tmp_path, extra):
    srv = server("--quota")
    started = time.monotonic()
    done = run_cli_subprocess(gen_args(srv.base_url, tmp_path / "run", 50, *extra))
    assert time.monotonic() - started < 15
    assert done.returncode == 5, done.stderr
    assert "no quota or credit left (429): You exceeded your current quota" in done.stderr
    assert "billing" in done.stderr and "Traceback" not in done.stderr and KEY not in done.stderr
    assert len(srv.requests()) <= 40
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "quota"


def test_payment_required_stops_the_run_and_a_later_rerun_resumes(server, tmp_path):
    out = tmp_path / "run"
    srv = server("--status-always", "402")
    done = run_cli_subprocess(gen_args(srv.base_url, out, 5, "--concurrency", "4"))
    assert done.returncode == 5 and "Insufficient credits" in done.stderr
    assert len(srv.requests()) <= 4
    paid = server()  # credit added: the same command finishes the job
    again = run_cli_subprocess(gen_args(paid.base_url, out, 5))
    assert again.returncode == 0, again.stderr
    assert len(shard_records(out)) == 5


def test_a_rate_limit_429_is_still_retried(server, tmp_path):
    srv = server("--fail-first", "2", "--fail-status", "429", "--retry-after", "0")
    done = run_cli_subprocess(gen_args(srv.base_url, tmp_path / "run", 3, "--concurrency", "1"))
    assert done.returncode == 0, done.stderr
    assert len(shard_records(tmp_path / "run")) == 3
