"""`generate --batch` against a loopback Batch API (tests/batch_server.py): results
through the same checks and writers, expired lines topped up, reattaching after SIGKILL
at any moment with nothing submitted twice."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.batch_server import run_batch_server
from tests.conftest import KEY, TINY, cli, gen_args, run_cli_subprocess, shard_records
from tests.openai_server import story

TOLD = itertools.count(10_000)
FAST = ("--validate-s", "0.1", "--progress-s", "0.3", "--finalize-s", "0.1")


@pytest.fixture
def batches():
    contexts = []

    def start(*args: str):
        context = run_batch_server("--port", "0", "--require-key", KEY, *FAST, *args)
        contexts.append(context)
        return context.__enter__()

    yield start
    for context in contexts:
        context.__exit__(None, None, None)


def stats(srv) -> dict:
    with urllib.request.urlopen(srv.base_url.removesuffix("/v1") + "/_stats", timeout=10) as r:
        return json.loads(r.read())


def batch_args(srv, out: Path, n: int, *extra: str, recipe: str = TINY) -> list[str]:
    args = gen_args(srv.base_url, out, n, "--batch", "--poll-interval", "0.1", *extra)
    return (
        args
        if recipe == TINY
        else gen_args(
            srv.base_url, out, n, "--batch", "--poll-interval", "0.1", *extra, recipe=recipe
        )
    )


def test_a_batch_run_with_expired_lines(batches, tmp_path):
    srv = batches("--expire-share", "0.1")
    out = tmp_path / "run"
    code, _, err = cli(*batch_args(srv, out, 200, recipe="tinystories"))
    assert code == 0, err
    records = shard_records(out)
    assert len(records) == 200 and len({r["id"] for r in records}) == 200
    assert all(r["batch"].startswith("batch_") for r in records)
    counts = stats(srv)
    assert counts["chat_calls"] == 0 and counts["batches_created"] >= 2
    submitted = counts["custom_ids_submitted"]
    assert max(submitted.values()) <= 3  # an expired line is asked again, in a later batch
    assert counts["lines_submitted"] < 2 * 200 + 40


def test_batch_size_splits_the_files_and_prices_are_halved(batches, tmp_path):
    srv = batches()
    out = tmp_path / "run"
    code, _, err = cli(*batch_args(srv, out, 30, "--batch-size", "10", "--model", "gpt-4o-mini"))
    assert code == 0, err
    assert stats(srv)["batches_created"] == 3
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prices"] == {
        "input": 0.075,
        "output": 0.30,
        "from": "table, batch",
        "as": "gpt-4o-mini",
    }
    session = manifest["session"]
    online = (session["prompt_tokens"] * 0.15 + session["completion_tokens"] * 0.60) / 1e6
    assert session["cost_usd"] == pytest.approx(online / 2, abs=1e-6)


def test_a_failed_validation_shows_the_provider_errors(batches, tmp_path):
    srv = batches("--fail-validation")
    code, _, err = cli(*batch_args(srv, tmp_path / "run", 5))
    assert code == 1
    assert "line 1: The model `test-model` does not exist" in err


def test_an_endpoint_without_a_batch_api_names_the_flag(batches, tmp_path):
    srv = batches("--no-batch")
    code, _, err = cli(*batch_args(srv, tmp_path / "run", 5))
    assert code == 1 and "no Batch API" in err and "drop --batch" in err
    assert stats(srv)["chat_calls"] == 0


def start_run(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tinygen", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_until_created(args: list[str], out: Path) -> subprocess.Popen:
    """Start a batch run; return once it has created its first batch."""
    run = start_run(args)
    wait_for(out / ".tinygen" / "batches.jsonl", '"event":"created"')
    return run


def wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.mark.parametrize(
    ("moment", "lose_journal"),
    [("submitting", False), ("created", False), ("created", True)],
    ids=["during-upload", "after-create", "after-create-journal-lost"],
)
def test_sigkill_then_rerun_submits_nothing_twice(batches, tmp_path, moment, lose_journal):
    srv = batches("--progress-s", "1.5")
    out = tmp_path / "run"
    args = batch_args(srv, out, 100, "--batch-size", "50")
    run = start_run(args)
    wait_for(out / ".tinygen" / "batches.jsonl", f'"event":"{moment}"')
    run.send_signal(signal.SIGKILL)
    run.communicate()
    if lose_journal:
        (out / ".tinygen" / "batches.jsonl").unlink()
    again = run_cli_subprocess(args)
    assert again.returncode == 0, again.stderr
    records = shard_records(out)
    assert len(records) == 100 and len({r["id"] for r in records}) == 100
    submitted = stats(srv)["custom_ids_submitted"]
    assert max(submitted.values()) == 1  # no line went twice
    assert stats(srv)["chat_calls"] == 0


def test_sigkill_while_results_are_written_resumes_from_disk(batches, tmp_path):
    srv = batches()
    out = tmp_path / "run"
    args = batch_args(srv, out, 300, "--batch-size", "300")
    run = start_run(args)
    wait_for(out / "data" / "part-00000.jsonl", "tinygen_version")
    run.send_signal(signal.SIGKILL)
    run.communicate()
    again = run_cli_subprocess(args)
    assert again.returncode == 0, again.stderr
    records = shard_records(out)
    assert len(records) == 300 and len({r["id"] for r in records}) == 300
    assert max(stats(srv)["custom_ids_submitted"].values()) == 1


def test_ctrl_c_stops_waiting_and_the_batches_keep_running(batches, tmp_path):
    srv = batches("--progress-s", "3")
    out = tmp_path / "run"
    args = batch_args(srv, out, 20)
    run = run_until_created(args, out)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert "batches keep running at the provider" in err
    again = run_cli_subprocess(args)
    assert again.returncode == 0, again.stderr
    assert len(shard_records(out)) == 20
    assert stats(srv)["batches_created"] == 1


def test_poll_500s_are_retried_and_failed_lines_are_failures(batches, tmp_path):
    srv = batches("--poll-500-every", "3", "--line-error-share", "0.2")
    out = tmp_path / "run"
    code, _, err = cli(*batch_args(srv, out, 20, "--max-items", "40"))
    assert code == 0, err
    failed = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert failed and {f["error"]["status"] for f in failed} == {400}
    assert len(shard_records(out)) == 20


def test_a_cost_cap_reserves_each_batch_before_it_is_made(batches, tmp_path):
    srv = batches()
    out = tmp_path / "run"
    args = batch_args(srv, out, 200, "--model", "gpt-4o-mini", "--max-cost", "0.001")
    code, _, err = cli(*args)
    assert code == 4, err
    session = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["session"]
    assert 0 < session["cost_usd"] <= 0.001
    assert stats(srv)["lines_submitted"] < 200


def run_offline(requests: Path, results: Path, skip_every: int = 0) -> None:
    """A batch runner like `vllm run_batch`: a result line for each request line (every
    `skip_every`-th left unanswered, as a runner that stopped early would)."""
    lines = []
    for n, line in enumerate(requests.read_text(encoding="utf-8").splitlines(), 1):
        request = json.loads(line)
        if skip_every and n % skip_every == 0:
            continue
        prompt = request["body"]["messages"][-1]["content"]
        text = story(prompt, "ab" * 8, next(TOLD))  # a new story every time
        body = {
            "id": f"cmpl-{n}",
            "object": "chat.completion",
            "model": request["body"]["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": len(text.split())},
        }
        response = {"status_code": 200, "request_id": f"r{n}", "body": body}
        lines.append(
            json.dumps(
                {
                    "id": f"b{n}",
                    "custom_id": request["custom_id"],
                    "response": response,
                    "error": None,
                }
            )
        )
    results.write_text("\n".join(lines) + "\n", encoding="utf-8")


def offline_args(out: Path, n: int, *extra: str) -> list[str]:
    return [
        "generate",
        TINY,
        "-n",
        str(n),
        "--out",
        str(out),
        "--model",
        "my-vllm-model",
        "--quiet",
        *extra,
    ]


def test_export_and_import_round_trip(tmp_path):
    out, requests, results = tmp_path / "run", tmp_path / "requests.jsonl", tmp_path / "out.jsonl"
    code, _, err = cli(*offline_args(out, 20, "--export-requests", str(requests)))
    assert code == 0 and "wrote 20 request lines" in err
    assert not out.exists()  # exporting writes only the file
    first = [json.loads(line) for line in requests.read_text().splitlines()]
    assert (
        first[0]["body"]["model"] == "my-vllm-model" and first[0]["url"] == "/v1/chat/completions"
    )
    run_offline(requests, results, skip_every=4)  # 15 of 20 answered
    code, _, err = cli(*offline_args(out, 20, "--import-results", str(results)))
    assert code == 3  # 15 records: the run wants more
    assert len(shard_records(out)) == 15
    code, _, _ = cli(*offline_args(out, 20, "--import-results", str(results)))
    assert len(shard_records(out)) == 15  # imported twice, nothing doubled
    code, _, err = cli(*offline_args(out, 20, "--export-requests", str(requests)))
    assert "wrote 5 request lines" in err
    again = {json.loads(line)["custom_id"] for line in requests.read_text().splitlines()}
    assert again == {r["custom_id"] for n, r in enumerate(first, 1) if n % 4 == 0}
    run_offline(requests, results)
    code, _, err = cli(*offline_args(out, 20, "--import-results", str(results)))
    assert code == 0, err
    records = shard_records(out)
    assert len(records) == 20 and len({r["id"] for r in records}) == 20
    assert {r["teacher"]["kind"] for r in records} == {"batch-file"}


def test_cancel_batches_then_rerun_collects_and_asks_the_rest(batches, tmp_path):
    srv = batches("--progress-s", "5")
    out = tmp_path / "run"
    args = batch_args(srv, out, 20)
    run = run_until_created(args, out)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    code, _, err = cli(*args, "--cancel-batches")
    assert code == 0 and "cancelled 1 batches" in err
    code, _, err = cli(*args, "--cancel-batches")
    assert "no batch of this run is running" in err
    again = run_cli_subprocess(args)
    assert again.returncode == 0, again.stderr
    assert len(shard_records(out)) == 20
    assert stats(srv)["batches_created"] >= 2  # the cancelled lines went in a new batch


def test_a_file_past_the_size_limit_is_split_into_batches(batches, tmp_path, monkeypatch):
    monkeypatch.setattr("tinygen.engine.batches.MAX_FILE_BYTES", 6_000)
    srv = batches("--max-file-mb", "0.01")
    out = tmp_path / "run"
    code, _, err = cli(*batch_args(srv, out, 40))
    assert code == 0, err
    assert stats(srv)["batches_created"] >= 2
    assert max(stats(srv)["custom_ids_submitted"].values()) == 1
    assert len(shard_records(out)) == 40
