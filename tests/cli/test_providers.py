"""Hosted providers as they document themselves: quota and billing, reasoning models,
parameters a host refuses, the same 400 on every request, rate-limit headers, random
429s, saturation, 503 bursts, Azure deployments and gateway headers."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import KEY, cli, gen_args, read_jsonl, run_cli_subprocess, shard_records
from tests.provider_server import run_provider

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


@pytest.fixture
def provider():
    """Start the hosted-provider emulator (tests/provider_server.py) with the given flags."""
    contexts = []

    def start(*args: str):
        context = run_provider("--port", "0", *args)
        contexts.append(context)
        return context.__enter__()

    yield start
    for context in contexts:
        context.__exit__(None, None, None)


def statuses(srv) -> list[int]:
    return [entry["status"] for entry in srv.requests()]


def test_a_reasoning_model_needs_no_flag(provider, tmp_path):
    """gpt-5-mini takes max_completion_tokens and no temperature; it reasons, and the
    reasoning tokens are recorded and counted."""
    srv = provider()
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 12, "--model", "gpt-5-mini", recipe="tinystories")
    code, _, err = cli(*args, "--temperature", "0.7")
    assert code == 0, err
    assert statuses(srv).count(400) == 0
    assert {tuple(e["params"]) for e in srv.requests()} == {("max_completion_tokens", "model")}
    assert "gpt-5-mini is a reasoning model: sending max_completion_tokens 600" in err
    assert "not sending temperature 0.7" in err
    records = shard_records(out)
    assert len(records) == 12
    assert {r["usage"]["reasoning_tokens"] for r in records} == {300}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["session"]["reasoning_tokens"] == 300 * 12
    session = manifest["session"]
    assert session["completion_tokens"] >= 300 * 12  # reasoning is part of it
    priced = session["prompt_tokens"] * 0.25 + session["completion_tokens"] * 2.00
    assert session["cost_usd"] == pytest.approx(priced / 1e6, abs=1e-6)


def test_a_cost_cap_reserves_the_reasoning_too(provider, tmp_path):
    """Each request reserves max_completion_tokens at the output price: reasoning and
    answer together, so the cap holds however much the model thinks."""
    srv = provider("--reasoning-tokens", "minimal=0,low=100,medium=500,high=800")
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 50, "--model", "gpt-5-mini", recipe="tinystories")
    code, _, err = cli(*args, "--max-cost", "0.01")
    assert code == 4, err
    session = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["session"]
    assert 0.005 < session["cost_usd"] <= 0.01
    assert session["reasoning_tokens"] >= 500 * len(shard_records(out))
    assert "reasoning model" in (out / "run.log").read_text(encoding="utf-8")


def test_reasoning_effort_is_sent_and_recorded(provider, tmp_path):
    srv = provider()
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 3, "--model", "o4-mini", "--reasoning-effort", "low")
    code, _, err = cli(*args, "--max-tokens", "400")
    assert code == 0, err
    assert all("reasoning_effort" in e["params"] for e in srv.requests())
    records = shard_records(out)
    assert {r["usage"]["reasoning_tokens"] for r in records} == {100}
    assert {r["teacher"]["reasoning_effort"] for r in records} == {"low"}


def test_a_budget_spent_on_reasoning_stops_the_run_with_a_hint(provider, tmp_path):
    """max_tokens 200 and medium effort (300 reasoning tokens): nothing is ever answered."""
    srv = provider()
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 40, "--model", "gpt-5-mini"))
    assert code == 1
    assert "reasoning_exhausted" in err and "raise --max-tokens" in err
    assert "--reasoning-effort" in err
    assert len(srv.requests()) <= 20  # five in a row, and what was in flight then
    rejected = read_jsonl(out / "rejected.jsonl")
    assert rejected and {r["reason"] for r in rejected} == {"reasoning_exhausted"}
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["status"] == "error"


def test_an_unsupported_parameter_is_dropped_for_the_rest_of_the_run(provider, tmp_path):
    srv = provider("--unsupported-param", "top_p")
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 20, "--concurrency", "8"))
    assert code == 0, err
    assert statuses(srv).count(400) == 1  # the first request goes alone
    assert err.count("the endpoint refused top_p") == 1
    assert "property 'top_p' is unsupported" in err
    assert not read_jsonl(out / "failed.jsonl")
    assert "the endpoint refused top_p" in (out / "run.log").read_text(encoding="utf-8")
    notices = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["session"]
    assert notices["notices"] == [next(n for n in notices["notices"] if "top_p" in n)]


def test_a_parameter_is_renamed_when_the_host_says_what_to_use(provider, tmp_path):
    """A deployment named freely: the profile cannot know it reasons; the 400s tell."""
    srv = provider("--reasoning-models", "^thinker")
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 10, "--model", "thinker-1", "--max-tokens", "600")
    code, _, err = cli(*args, "--temperature", "0.5")
    assert code == 0, err
    assert statuses(srv).count(400) == 2  # max_tokens renamed, then temperature dropped
    assert "sending max_completion_tokens instead" in err
    assert "the endpoint refused temperature" in err
    assert len(shard_records(out)) == 10


def test_a_fixed_400_stops_the_run_with_the_endpoint_message(provider, tmp_path):
    message = "Invalid 'messages[1].content': this organization may not use this prompt."
    srv = provider("--fixed-400", message)
    done = run_cli_subprocess(gen_args(srv.base_url, tmp_path / "run", 200))
    assert done.returncode == 1
    assert message in done.stderr and "Hint:" in done.stderr
    assert len(srv.requests()) <= 100
    assert "Traceback" not in done.stderr


def test_a_fixed_400_stops_workers_too(provider, tmp_path):
    srv = provider("--fixed-400", "Bad prompt.")
    args = gen_args(srv.base_url, tmp_path / "run", 200, "--workers", "2", "--concurrency", "16")
    done = run_cli_subprocess(args)
    assert done.returncode == 1 and "Bad prompt." in done.stderr
    assert len(srv.requests()) <= 100


@pytest.mark.parametrize("workers", ["1", "2"])
def test_paces_to_the_rate_limit_headers(provider, tmp_path, workers):
    """1,200 requests a minute, announced only in x-ratelimit-* headers (no Retry-After):
    once the first minute's allowance is spent, the run goes at the announced pace; two
    worker processes share it."""
    srv = provider("--rpm", "1200")
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 1400, "--concurrency", "64", "--workers", workers)
    code, _, err = cli(*args)
    assert code == 0, err
    log = srv.requests()
    refused = sum(e["status"] == 429 for e in log)
    assert refused <= 0.1 * len(log)
    served = [e["t"] for e in log if e["status"] == 200]
    burst = served[1199] - served[0]  # the first minute's 1,200, as fast as they go
    paced = served[1200 + int(20 * burst) + 20 :]  # past what refilled during the burst
    assert len(paced) >= 50
    rate = (len(paced) - 1) / (paced[-1] - paced[0])
    assert 0.6 * 20 <= rate <= 1.1 * 20


def test_isolated_429s_do_not_cut_the_concurrency(provider, tmp_path):
    srv = provider("--p429", "0.05", "--retry-after", "0.2", "--delay-ms", "50", "--seed", "3")
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 300, "--concurrency", "16"))
    assert code == 0, err
    assert 5 < statuses(srv).count(429) < 40
    limit = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["session"]
    assert limit["concurrency"] == {"limit": 16, "maximum": 16, "reason": ""}


def test_a_saturated_server_gets_fewer_requests_at_once(provider, tmp_path):
    """Four answers at a time, 100 ms each, no 429s: latency grows with the queue."""
    srv = provider("--capacity", "4", "--delay-ms", "100")
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 150, "--concurrency", "64"))
    assert code == 0, err
    limit = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["session"]
    assert limit["concurrency"]["limit"] <= 32
    assert "latency" in (out / "run.log").read_text(encoding="utf-8")


def test_503_bursts_are_retried(provider, tmp_path):
    srv = provider("--burst-status", "503", "--burst-every", "20", "--burst-length", "4")
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 60, "--concurrency", "8"))
    assert code == 0, err
    assert statuses(srv).count(503) >= 8
    assert len(shard_records(out)) == 60


def test_azure_deployment_url_with_its_key_header(provider, tmp_path):
    srv = provider("--require-key", KEY, "--azure-deployments", "stories-4o")
    azure = srv.base_url.removesuffix("/v1") + "/openai/deployments/stories-4o"
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(azure, out, 5, "--model", "gpt-4o-mini"))
    assert code == 0, err
    paths = {e["path"] for e in srv.requests()}
    assert paths == {"/openai/deployments/stories-4o/chat/completions"}
    assert len(shard_records(out)) == 5
    assert_no_secret(out, KEY)
    wrong = srv.base_url.removesuffix("/v1") + "/openai/deployments/nope"
    code, _, err = cli(*gen_args(wrong, tmp_path / "wrong", 5))
    assert code == 1 and "DeploymentNotFound" not in err and "does not exist" in err


def test_a_gateway_header_is_sent_and_kept_secret(provider, tmp_path):
    secret = "gw-SECRET-abcdef123"
    srv = provider("--require-header", f"X-Gateway-Key: {secret}")
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 4, "--header", f"X-Gateway-Key: {secret}"))
    assert code == 0, err
    assert_no_secret(out, secret)
    code, _, err = cli(*gen_args(srv.base_url, tmp_path / "no", 4))
    assert code == 1 and "403" in err


def test_a_malformed_header_flag_is_a_usage_error(tmp_path):
    code, _, err = cli(*gen_args("http://127.0.0.1:9/v1", tmp_path / "run", 1, "--header", "oops"))
    assert code == 2 and "'Name: value'" in err and not (tmp_path / "run").exists()


def assert_no_secret(out, secret: str) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path
