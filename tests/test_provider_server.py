"""Tests for the hosted-provider emulator (tests/provider_server.py), over plain HTTP."""

from __future__ import annotations

import json
import math
import random
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tests.openai_server import QUOTA_MESSAGE
from tests.provider_server import (
    AZURE_401,
    AZURE_NO_DEPLOYMENT,
    OVERLOADED,
    go_duration,
    run_provider,
)

PROMPT = 'Write a story with the verb "jump", the noun "cake" and the adjective "tiny".'
MESSAGES = [{"role": "system", "content": "You are a writer."}, {"role": "user", "content": PROMPT}]
RATE_HEADERS = ("limit", "remaining", "reset")
GO_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:(\d+)ms)?$")


def parse_go(text: str) -> float:
    """Seconds of a Go duration as OpenAI sends it (the inverse of ``go_duration``)."""
    match = GO_DURATION.match(text)
    assert match and text, f"not a Go duration: {text!r}"
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def post(
    url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    """POST ``body`` (without proxies); return status, response headers and decoded JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, json.loads(exc.read())


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def chat(base: str, model: str = "gpt-4o-mini", headers: dict[str, str] | None = None, **kw: Any):
    """POST one chat completion to ``base``/chat/completions."""
    return post(f"{base}/chat/completions", {"model": model, "messages": MESSAGES, **kw}, headers)


def openai_error(message: str, param: str | None = None, code: str | None = None) -> dict:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        *[(360, "6m0s"), (1, "1s"), (0.12, "120ms"), (90.5, "1m30.5s"), (0, "0s")],
        *[(3600, "1h0m0s"), (0.0004, "1ms"), (59.999, "59.999s"), (-3, "0s")],
        (7261.25, "2h1m1.25s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
    assert parse_go(text) == pytest.approx(max(0, math.ceil(seconds * 1000 - 1e-6) / 1000))


def test_plain_answer_shape_log_and_summary() -> None:
    with run_provider() as srv:
        status, headers, body = chat(srv.base_url, temperature=0.7, max_tokens=1000, seed=3)
        log = srv.requests()
        summary = srv.stop()
    assert status == 200 and not any(h.startswith("x-ratelimit") for h in headers)
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    assert body["id"].startswith("chatcmpl-") and body["system_fingerprint"] is None
    choice, usage = body["choices"][0], body["usage"]
    words = choice["message"]["content"].split()
    assert choice["finish_reason"] == "stop" and all(w in " ".join(words) for w in ("jump", "cake"))
    assert usage["completion_tokens"] == len(words) and 100 <= len(words) <= 200
    assert usage["prompt_tokens"] == len(MESSAGES[0]["content"].split() + PROMPT.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    details = {
        "reasoning_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    assert usage["completion_tokens_details"] == details
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    [entry] = log
    assert entry["n"] == 1 and abs(entry["t"] - time.time()) < 30
    assert entry["path"] == "/v1/chat/completions" and entry["status"] == 200
    assert entry["fault"] is None and entry["model"] == "gpt-4o-mini"
    assert entry["params"] == ["max_tokens", "model", "seed", "temperature"]
    assert summary == {"total": 1, "ok": 1}


def test_bad_body_and_models_route() -> None:
    with run_provider("--models", "a,b") as srv:
        status, _, body = post(f"{srv.base_url}/chat/completions", b"{not json")
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
        assert get(f"{srv.base_url}/models")[1]["data"][1]["id"] == "b"
        assert srv.requests()[0]["fault"] == "bad_request"


def test_reasoning_model_parameter_errors() -> None:
    max_tokens = openai_error(
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "max_tokens",
        "unsupported_parameter",
    )

    def unsupported(name: str, value: str) -> dict:
        message = (
            f"Unsupported value: '{name}' does not support {value} with this model. "
            "Only the default (1) value is supported."
        )
        return openai_error(message, name, "unsupported_value")

    with run_provider() as srv:
        url = srv.base_url
        assert chat(url, "o3-mini", max_tokens=50, temperature=0.7)[::2] == (400, max_tokens)
        assert chat(url, "gpt-5", temperature=0.7)[::2] == (400, unsupported("temperature", "0.7"))
        assert chat(url, "o1", temperature=0)[::2] == (400, unsupported("temperature", "0.0"))
        assert chat(url, "o4-mini", top_p=0.5)[::2] == (400, unsupported("top_p", "0.5"))
        status, _, body = chat(url, "o3", reasoning_effort="extreme")
        assert status == 400 and body["error"]["param"] == "reasoning_effort"
        assert body["error"]["code"] == "invalid_value" and "'extreme'" in body["error"]["message"]
        unknown = openai_error("Unrecognized request argument supplied: reasoning_effort")
        assert chat(url, "gpt-4o", reasoning_effort="low")[::2] == (400, unknown)
        assert chat(url, "o3", temperature=1, top_p=1.0, reasoning_effort="high")[0] == 200
        assert chat(url, "gpt-4o", max_tokens=50, temperature=0.7)[0] == 200
        faults = [r["fault"] for r in srv.requests()]
    codes = ["unsupported_parameter", *["unsupported_value"] * 3, "invalid_value"]
    assert faults[:6] == [*codes, "unrecognized_argument"]


def _answer(base: str, model: str, **kw: Any) -> tuple[str, str, dict]:
    status, _, body = chat(base, model, **kw)
    assert status == 200, body
    choice = body["choices"][0]
    return choice["message"]["content"], choice["finish_reason"], body["usage"]


def test_reasoning_tokens_and_budgets() -> None:
    with run_provider("--reasoning-tokens", "minimal=0,low=100,medium=300,high=800") as srv:
        url = srv.base_url
        text, finish, usage = _answer(url, "o3", max_completion_tokens=200)  # medium: 300
        assert (text, finish, usage["completion_tokens"]) == ("", "length", 200)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 200
        text, finish, usage = _answer(url, "o3", max_completion_tokens=150, reasoning_effort="low")
        assert (len(text.split()), finish, usage["completion_tokens"]) == (50, "length", 150)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 100
        text, finish, usage = _answer(url, "gpt-5-mini")
        assert finish == "stop" and usage["completion_tokens"] == len(text.split()) + 300
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        text, finish, usage = _answer(
            url, "o3", reasoning_effort="minimal", max_completion_tokens=9
        )
        assert (len(text.split()), finish, usage["completion_tokens"]) == (9, "length", 9)
        text, finish, usage = _answer(url, "gpt-4o", max_tokens=10)
        assert (len(text.split()), finish, usage["completion_tokens"]) == (10, "length", 10)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
        assert _answer(url, "gpt-4o", max_completion_tokens=7)[2]["completion_tokens"] == 7


def test_reasoning_models_regex_flag() -> None:
    with run_provider("--reasoning-models", "^thinker") as srv:
        assert chat(srv.base_url, "thinker-1", max_tokens=10)[0] == 400
        assert chat(srv.base_url, "o3", max_tokens=10)[0] == 200


def test_unsupported_param_and_fixed_400() -> None:
    with run_provider("--unsupported-param", "seed", "--unsupported-param", "logprobs") as srv:
        expected = openai_error("property 'logprobs' is unsupported")
        assert chat(srv.base_url, logprobs=True)[::2] == (400, expected)
        assert chat(srv.base_url, seed=1)[2]["error"]["message"] == "property 'seed' is unsupported"
        assert chat(srv.base_url, temperature=0.5)[0] == 200
    with run_provider("--fixed-400", "Model is busy doing x") as srv:
        assert chat(srv.base_url)[::2] == (400, openai_error("Model is busy doing x"))
        assert [r["fault"] for r in srv.requests()] == ["fixed_400"]


def _rate_headers(headers: Any, kind: str) -> tuple[int, int, float]:
    limit, remaining, reset = (headers[f"x-ratelimit-{h}-{kind}"] for h in RATE_HEADERS)
    return int(limit), int(remaining), parse_go(reset)


def test_rpm_bucket_headers_and_429() -> None:
    with run_provider("--rpm", "3") as srv:
        answers = [chat(srv.base_url) for _ in range(4)]
        log = srv.requests()
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    got = [_rate_headers(a[1], "requests") for a in answers]
    assert [g[:2] for g in got] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    assert 19 < got[0][2] <= 20 and 59 < got[2][2] <= 60 and got[3][2] <= got[2][2]
    assert all("x-ratelimit-limit-tokens" not in a[1] for a in answers)
    headers, error = answers[3][1], answers[3][2]["error"]
    assert "Retry-After" not in headers and "retry-after-ms" not in headers
    assert (error["type"], error["code"], error["param"]) == (
        "requests",
        "rate_limit_exceeded",
        None,
    )
    match = re.fullmatch(
        r"Rate limit reached for gpt-4o-mini in organization org-tinygen on requests per min "
        r"\(RPM\): Limit 3, Used 3, Requested 1\. Please try again in (\S+)\. "
        r"Visit https://platform\.openai\.com/account/rate-limits to learn more\.",
        error["message"],
    )
    assert match and 19 < parse_go(match[1]) <= 20
    assert [r.get("remaining_requests") for r in log] == [2, 1, 0, 0]
    assert [r["fault"] for r in log] == [None, None, None, "rpm"]


def test_tpm_bucket_costs_and_refusal() -> None:
    chars = sum(len(m["content"]) for m in MESSAGES)
    cost = math.ceil(chars / 4) + 400
    with run_provider("--tpm", "1000", "--rpm", "100") as srv:
        first = chat(srv.base_url, max_tokens=400)
        second = chat(srv.base_url, max_completion_tokens=400)
        third = chat(srv.base_url, max_tokens=400)
        fourth = chat(srv.base_url, max_tokens=1)
        huge = chat(srv.base_url)  # 4096 reserved: more than the whole bucket
    assert [a[0] for a in (first, second, third, fourth, huge)] == [200, 200, 429, 200, 429]
    remaining = [_rate_headers(a[1], "tokens")[1] for a in (first, second, third)]
    assert remaining[0] == 1000 - cost and 0 <= remaining[1] - (1000 - 2 * cost) <= 5
    assert remaining[2] >= remaining[1]  # the refused request took nothing
    assert _rate_headers(third[1], "requests")[1] == 98  # nor any request
    error = third[2]["error"]
    assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")
    pattern = rf"on tokens per min \(TPM\): Limit 1000, Used (\d+), Requested {cost}\. "
    match = re.search(pattern + r"Please try again in (\S+)\.", error["message"])
    assert match and 0 <= 1000 - remaining[2] - int(match[1]) <= 1
    assert 0 < parse_go(match[2]) <= (cost - remaining[2]) * 60 / 1000 + 0.01
    assert huge[2]["error"]["message"].startswith("Request too large for gpt-4o-mini")
    assert f"Requested {math.ceil(chars / 4) + 4096}." in huge[2]["error"]["message"]


@pytest.mark.parametrize("style", ["seconds", "ms", "date"])
def test_rate_limit_retry_after_styles(style: str) -> None:
    with run_provider("--rpm", "1", "--retry-after-style", style) as srv:
        assert chat(srv.base_url)[0] == 200
        status, headers, _ = chat(srv.base_url)
    assert status == 429
    if style == "seconds":
        assert headers["Retry-After"] == "60" and "retry-after-ms" not in headers
    elif style == "ms":
        assert 59_000 < int(headers["retry-after-ms"]) <= 60_000 and "Retry-After" not in headers
    else:
        delta = parsedate_to_datetime(headers["Retry-After"]).timestamp() - time.time()
        assert 58 < delta <= 62


def test_seeded_random_429s() -> None:
    rng = random.Random(5)
    expected = [429 if rng.random() < 0.4 else 200 for _ in range(20)]
    with run_provider("--p429", "0.4", "--seed", "5") as srv:
        answers = [chat(srv.base_url) for _ in range(20)]
    assert [a[0] for a in answers] == expected and 3 < expected.count(429) < 15
    refused = [a for a in answers if a[0] == 429]
    assert all(a[1]["Retry-After"] == "1" for a in refused)
    assert refused[0][2]["error"]["code"] == "rate_limit_exceeded"
    with run_provider("--p429", "1", "--retry-after", "2.5", "--retry-after-style", "ms") as srv:
        assert chat(srv.base_url)[1]["retry-after-ms"] == "2500"


def test_overload_bursts() -> None:
    args = ("--burst-status", "503", "--burst-every", "4", "--burst-length", "2")
    with run_provider(*args) as srv:
        answers = [chat(srv.base_url) for _ in range(9)]
        faults = [r["fault"] for r in srv.requests()]
    assert [a[0] for a in answers] == [503, 503, 200, 200, 503, 503, 200, 200, 503]
    body = {"error": {"message": OVERLOADED, "type": "server_error", "param": None, "code": None}}
    assert answers[0][2] == body and faults[:3] == ["burst_503", "burst_503", None]
    with run_provider("--burst-status", "529", "--burst-every", "3") as srv:
        answers = [chat(srv.base_url) for _ in range(4)]
    assert [a[0] for a in answers] == [529, 200, 200, 529]
    assert answers[0][2]["error"]["type"] == "overloaded_error"


def _timed_batch(base: str, k: int) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(k) as pool:
        statuses = list(pool.map(lambda _: chat(base)[0], range(k)))
    assert statuses == [200] * k
    return time.monotonic() - start


def test_capacity_queues_beyond_c() -> None:
    with run_provider("--delay-ms", "300", "--capacity", "2") as srv:
        two, six = _timed_batch(srv.base_url, 2), _timed_batch(srv.base_url, 6)
    assert 0.28 < two < 0.55 and 0.88 < six < 1.5
    with run_provider("--delay-ms", "300") as srv:
        assert _timed_batch(srv.base_url, 6) < 0.55


def test_quota() -> None:
    body = {"message": QUOTA_MESSAGE, "type": "insufficient_quota", "param": None}
    with run_provider("--quota") as srv:
        answers = [chat(srv.base_url) for _ in range(2)]
    assert all(
        a[0] == 429 and a[2] == {"error": {**body, "code": "insufficient_quota"}} for a in answers
    )
    assert "Retry-After" not in answers[0][1]


def test_openai_bearer_auth() -> None:
    with run_provider("--require-key", "sk-good") as srv:
        status, _, body = chat(srv.base_url, headers={"Authorization": "Bearer sk-bad"})
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert chat(srv.base_url, headers={"api-key": "sk-good"})[0] == 401
        assert chat(srv.base_url, headers={"Authorization": "Bearer sk-good"})[0] == 200
        assert get(f"{srv.base_url}/models")[0] == 401
        assert get(f"{srv.base_url}/models", {"Authorization": "Bearer sk-good"})[0] == 200


def test_azure_routes() -> None:
    args = ("--require-key", "az-key", "--azure-deployments", "gpt-4o-mini,o3-mini")
    with run_provider(*args) as srv:
        root = srv.base_url.removesuffix("/v1") + "/openai"
        dep, key = f"{root}/deployments/gpt-4o-mini/chat/completions", {"api-key": "az-key"}
        body = {"messages": MESSAGES}
        assert post(dep, body, key)[::2] == (
            404,
            {"error": {"code": "404", "message": "Resource not found"}},
        )
        url = dep + "?api-version=2024-10-21"
        denied = {"error": {"code": "401", "message": AZURE_401}}
        assert post(url, body, {"Authorization": "Bearer az-key"})[::2] == (401, denied)
        assert post(url, body, {"api-key": "wrong"})[::2] == (401, denied)
        assert post(url, body)[::2] == (401, denied)
        missing = {"error": {"code": "DeploymentNotFound", "message": AZURE_NO_DEPLOYMENT}}
        other = f"{root}/deployments/gpt-4/chat/completions?api-version=2024-10-21"
        assert post(other, body, key)[::2] == (404, missing)
        status, _, answer = post(url, body, key)
        assert status == 200 and answer["model"] == "gpt-4o-mini"
        reasoning = f"{root}/deployments/o3-mini/chat/completions?api-version=2024-10-21"
        assert post(reasoning, {**body, "max_tokens": 5}, key)[2]["error"]["param"] == "max_tokens"
        v1 = f"{root}/v1/chat/completions"
        assert post(v1, {**body, "model": "o3-mini"}, {"Authorization": "Bearer az-key"})[0] == 200
        assert post(v1, {**body, "model": "gpt-4o-mini"}, key)[2]["model"] == "gpt-4o-mini"
        assert post(v1, {**body, "model": "gpt-4"}, key)[::2] == (404, missing)
        assert post(v1, {**body, "model": "o3-mini"}, {"api-key": "no"})[0] == 401
        log = srv.requests()
    assert [r["fault"] for r in log][:6] == [
        "api_version",
        "auth",
        "auth",
        "auth",
        "deployment",
        None,
    ]
    assert log[5]["path"] == "/openai/deployments/gpt-4o-mini/chat/completions"


def test_required_gateway_header() -> None:
    args = ("--require-header", "X-Gateway: yes", "--require-header", "X-Team: tiny")
    with run_provider(*args) as srv:
        message = "Missing or invalid gateway header X-Team"
        expected = openai_error(message, code="forbidden")
        assert chat(srv.base_url, headers={"X-Gateway": "yes"})[::2] == (403, expected)
        assert chat(srv.base_url, headers={"X-Gateway": "no", "X-Team": "tiny"})[0] == 403
        good = {"X-Gateway": "yes", "X-Team": "tiny"}
        assert chat(srv.base_url, headers=good)[0] == 200
        assert get(f"{srv.base_url}/models")[0] == 403
        assert get(f"{srv.base_url}/models", good)[0] == 200
