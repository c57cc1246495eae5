"""Tests for the fake OpenAI server (tests/openai_server.py), driven by the real SDK."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.openai_server import MIB, ServerHandle, run_server

PROMPT = (
    "Write a short story (3-5 paragraphs) which only uses very simple words that a 3 year old "
    'child would likely understand. The story should use the verb "decorate", the noun '
    '"thunder" and the adjective "ancient". The story should have the following features: '
    "the story should contain at least one dialogue."
)
QUOTED = ("decorate", "thunder", "ancient")
MODEL = "test-model"
SECRET = "sk-proj-SECRET-0123456789abcdef"


def messages(content: str = PROMPT) -> list[dict[str, str]]:
    system = {"role": "system", "content": "You are a writer."}
    return [system, {"role": "user", "content": content}]


async def _create_many(url: str, prompts: list[str], timeout: float, key: str) -> list[Any]:
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=timeout)
    async with client:
        calls = [client.chat.completions.create(model=MODEL, messages=messages(p)) for p in prompts]
        return await asyncio.gather(*calls)


def chat(url: str, content: str = PROMPT, timeout: float = 10.0, key: str = "sk-test") -> Any:
    """One chat completion through a fresh AsyncOpenAI client (max_retries=0)."""
    return asyncio.run(_create_many(url, [content], timeout, key))[0]


def raw_post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> urllib.error.HTTPError | bytes:
    """POST without the SDK (no proxies) to look at status codes and headers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url + "/chat/completions", json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        return exc


def test_story_answer_parses_and_uses_quoted_words() -> None:
    with run_server() as srv:
        resp = chat(srv.base_url)
    assert isinstance(resp, ChatCompletion)
    choice = resp.choices[0]
    text = choice.message.content or ""
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert all(word in text for word in QUOTED)
    assert 100 <= len(text.split()) <= 180 and text.endswith(".")
    assert not text.startswith(("Once upon a time", "Sure")) and "\n" not in text
    assert resp.usage is not None and resp.usage.completion_tokens == len(text.split())
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_fifty_answers_are_unique() -> None:
    with run_server() as srv:
        resps = asyncio.run(_create_many(srv.base_url, [PROMPT] * 50, 10.0, "k"))
    texts = [r.choices[0].message.content for r in resps]
    assert len(set(texts)) == 50
    for text in texts:
        sentences = text.split(". ")
        assert len(sentences) == len(set(sentences))


def test_echo_and_fixed_responders() -> None:
    with run_server("--responder", "echo") as srv:
        assert chat(srv.base_url, "hello there").choices[0].message.content == "hello there"
    with run_server("--responder", "fixed", "--fixed-text", "Same text.") as srv:
        texts = {chat(srv.base_url, f"p{i}").choices[0].message.content for i in range(3)}
    assert texts == {"Same text."}


def test_429_has_retry_after_headers() -> None:
    with run_server("--p429", "1", "--retry-after", "2") as srv:
        err = raw_post(srv.base_url, {"model": MODEL, "messages": messages()})
        assert isinstance(err, urllib.error.HTTPError)
        with err:
            assert err.code == 429
            assert err.headers["Retry-After"] == "2" and err.headers["retry-after-ms"] == "2000"
            body = json.loads(err.read())
        assert body["error"]["type"] == "rate_limit_error"
        assert body["error"]["code"] == "rate_limit_exceeded"
        with pytest.raises(openai.RateLimitError):
            chat(srv.base_url)


@pytest.mark.parametrize(
    ("args", "exc_type"),
    [
        (["--status-always", "401"], openai.AuthenticationError),
        (["--status-always", "403"], openai.PermissionDeniedError),
        (["--status-always", "404"], openai.NotFoundError),
        (["--p500", "1"], openai.InternalServerError),
        (["--p503", "1"], openai.InternalServerError),
        (["--pdrop", "1"], openai.APIConnectionError),
        # The SDK does not wrap a bad 200 body: the raw json.JSONDecodeError escapes.
        (["--pmalformed", "1"], json.JSONDecodeError),
    ],
)
def test_fault_raises(args: list[str], exc_type: type[Exception]) -> None:
    with run_server(*args) as srv, pytest.raises(exc_type) as info:
        chat(srv.base_url)
    assert not isinstance(info.value, openai.APITimeoutError)


def test_401_body_and_require_key() -> None:
    with run_server("--status-always", "401") as srv:
        with pytest.raises(openai.AuthenticationError) as info:
            chat(srv.base_url)
        assert info.value.code == "invalid_api_key"
    with run_server("--require-key", "sk-good") as srv:
        with pytest.raises(openai.AuthenticationError):
            chat(srv.base_url, key="sk-bad")
        assert chat(srv.base_url, key="sk-good").choices[0].message.content
        assert [r["auth_ok"] for r in srv.requests()] == [False, True]


def test_slow_answer_times_out() -> None:
    with run_server("--pslow", "1", "--slow-seconds", "5") as srv:
        with pytest.raises(openai.APITimeoutError):
            chat(srv.base_url, timeout=0.5)
        assert srv.requests()[0]["fault"] == "slow"


def test_length_empty_and_filter_finish_reasons() -> None:
    with run_server("--plength", "1") as srv:
        choice = chat(srv.base_url).choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content and not choice.message.content.endswith(".")
    with run_server("--pempty", "1") as srv:
        choice = chat(srv.base_url).choices[0]
    assert (choice.finish_reason, choice.message.content) == ("stop", "")
    with run_server("--pfilter", "1") as srv:
        choice = chat(srv.base_url).choices[0]
    assert (choice.finish_reason, choice.message.content) == ("content_filter", None)


def test_fail_first_and_schedule() -> None:
    with pytest.raises(RuntimeError, match="unknown fault"), run_server("--schedule", "x"):
        pass
    with run_server("--fail-first", "2", "--fail-status", "429", "--schedule", "ok,ok,500") as srv:
        for _ in range(2):
            with pytest.raises(openai.RateLimitError):
                chat(srv.base_url)
        with pytest.raises(openai.InternalServerError):
            chat(srv.base_url)
        assert chat(srv.base_url).choices[0].finish_reason == "stop"
    assert srv.summary == {"total": 4, "fail_429": 2, "500": 1, "ok": 1}


def test_seeded_faults_are_reproducible() -> None:
    outcomes = []
    for _ in range(2):
        with run_server("--seed", "7", "--p500", "0.3", "--p503", "0.3") as srv:
            for i in range(12):
                raw = raw_post(srv.base_url, {"model": MODEL, "messages": messages(str(i))})
                if isinstance(raw, urllib.error.HTTPError):
                    raw.close()
            outcomes.append([r["fault"] for r in srv.requests()])
    assert outcomes[0] == outcomes[1] and {"500", "503", None} <= set(outcomes[0])


def test_log_has_one_line_per_request() -> None:
    with run_server("--p500", "0.5", "--seed", "3") as srv:
        for i in range(10):
            with contextlib.suppress(openai.InternalServerError):
                chat(srv.base_url, f'Use the word "w{i}".')
        srv.stop()
        rows = srv.requests()
    assert [r["n"] for r in rows] == list(range(1, 11))
    times = [r["t"] for r in rows]
    assert times == sorted(times)
    assert all(r["model"] == MODEL and r["auth_ok"] for r in rows)
    assert {r["status"] for r in rows} == {200, 500}
    canon = json.dumps(messages('Use the word "w0".'), sort_keys=True, separators=(",", ":"))
    assert rows[0]["messages_sha"] == hashlib.sha256(canon.encode()).hexdigest()
    assert srv.summary is not None and srv.summary["total"] == 10


def test_models_endpoint() -> None:
    with run_server("--models", "a,b") as srv:

        async def list_models() -> list[str]:
            async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k") as client:
                return [m.id async for m in client.models.list()]

        assert asyncio.run(list_models()) == ["a", "b"]


@contextlib.contextmanager
def raw_answer(srv: ServerHandle) -> Iterator[http.client.HTTPResponse]:
    """One chat request over http.client: the answer unread and undecoded; closed on exit."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    body = json.dumps({"model": MODEL, "messages": messages()})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    try:
        yield conn.getresponse()
    finally:
        conn.close()


def ok_post(srv: ServerHandle, content: str = PROMPT) -> dict[str, Any]:
    """One raw request that must succeed; its answer parsed."""
    raw = raw_post(srv.base_url, {"model": MODEL, "messages": messages(content)})
    assert isinstance(raw, bytes), raw
    return json.loads(raw)


def test_content_surrogate_is_a_lone_escape() -> None:
    with run_server("--content-surrogate") as srv:
        raw = raw_post(srv.base_url, {"model": MODEL, "messages": messages()})
        sdk_text = chat(srv.base_url).choices[0].message.content or ""
        assert [r["fault"] for r in srv.requests()] == ["surrogate"] * 2
    assert isinstance(raw, bytes) and raw.count(rb"\u") == 1
    assert re.search(rb"\\ud83d(?!\\ud[c-f])", raw)
    text = json.loads(raw)["choices"][0]["message"]["content"]
    assert "\ud83d" in text and all(word in text for word in QUOTED)
    with pytest.raises(UnicodeEncodeError):
        text.encode()
    assert "\ud83d" in sdk_text  # the SDK hands the half emoji on as it is


@pytest.mark.parametrize(
    ("mode", "usages"),
    [
        ("strings", [{"prompt_tokens": "7", "completion_tokens": "6", "total_tokens": "13"}] * 2),
        ("negative", [{"prompt_tokens": -7, "completion_tokens": -6, "total_tokens": -13}] * 2),
        ("missing", ["absent"] * 2),
        ("garbage", ["lots", {"prompt_tokens": [1], "completion_tokens": {"a": 1}}]),
    ],
)
def test_usage_modes(mode: str, usages: list[Any]) -> None:
    with run_server("--usage-mode", mode, "--responder", "fixed") as srv:
        answers = [ok_post(srv, "one two three") for _ in range(2)]
        assert [r["fault"] for r in srv.requests()] == [f"usage_{mode}"] * 2
    assert [a.get("usage", "absent") for a in answers] == usages
    assert {a["choices"][0]["message"]["content"] for a in answers} == {"The cat sat on the mat."}


def test_hostile_first_k_and_share() -> None:
    args = ("--usage-mode", "missing", "--hostile-first", "3", "--fail-first", "1")
    with run_server(*args) as srv:
        err = raw_post(srv.base_url, {"model": MODEL, "messages": messages()})
        assert isinstance(err, urllib.error.HTTPError) and err.code == 503
        err.close()
        assert ["usage" in ok_post(srv) for _ in range(3)] == [False, False, True]
        assert [r["fault"] for r in srv.requests()] == ["fail_503", *["usage_missing"] * 2, None]
    patterns = []
    for _ in range(2):
        with run_server("--usage-mode", "missing", "--phostile", "0.5", "--seed", "4") as srv:
            patterns.append(["usage" in ok_post(srv, str(i)) for i in range(12)])
    assert patterns[0] == patterns[1] and set(patterns[0]) == {True, False}


def test_gzip_bomb_is_small_on_the_wire() -> None:
    with run_server("--gzip-bomb", "100") as srv, raw_answer(srv) as resp:
        wire = resp.read()
        assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
        assert int(resp.getheader("Content-Length", "0")) == len(wire) < 1_000_000
        assert srv.requests()[0]["fault"] == "gzip_bomb"
    text = gzip.decompress(wire)
    assert len(text) >= 100_000_000
    answer = json.loads(text)
    content = answer["choices"][0]["message"]["content"]
    assert len(content) == 100 * MIB == content.count("a")
    assert answer["object"] == "chat.completion" and answer["choices"][0]["finish_reason"] == "stop"


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_huge_answer_is_streamed() -> None:
    with run_server("--huge-answer", "32") as srv, raw_answer(srv) as resp:
        data = resp.read()
        assert resp.getheader("Content-Length") is None  # chunked: no size announced
        assert srv.requests()[0]["fault"] == "huge_answer"
        if Path("/proc/self/status").exists():
            assert _peak_rss_kb(srv.proc.pid) < 150_000  # it never holds the 32 MiB answer
    content = json.loads(data)["choices"][0]["message"]["content"]
    assert len(data) > 32 * MIB and len(content) == 32 * MIB


def test_huge_answer_survives_a_client_that_hangs_up() -> None:
    with run_server("--huge-answer", "64", "--hostile-first", "2") as srv:
        for _ in range(2):
            with raw_answer(srv) as resp:
                assert len(resp.read(100_000)) == 100_000
        text = ok_post(srv)["choices"][0]["message"]["content"]
        assert all(word in text for word in QUOTED)
        assert [r["fault"] for r in srv.requests()] == ["huge_answer", "huge_answer", None]
        srv.stop()
        assert srv.stderr() == ""
    assert srv.summary == {"total": 3, "huge_answer": 2, "ok": 1}


@pytest.mark.parametrize(
    ("status", "message", "kind", "code"),
    [
        (
            401,
            f"Incorrect API key provided: {SECRET}. "
            "You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        (500, f"upstream failed for Bearer {SECRET}", "server_error", None),
    ],
)
def test_echo_key_repeats_the_bearer_token(
    status: int, message: str, kind: str, code: str | None
) -> None:
    with run_server("--echo-key", str(status)) as srv:
        auth = {"Authorization": f"Bearer {SECRET}"}
        err = raw_post(srv.base_url, {"model": MODEL, "messages": messages()}, auth)
        assert isinstance(err, urllib.error.HTTPError)
        with err:
            assert err.code == status
            body = json.loads(err.read())
        assert body == {"error": {"message": message, "type": kind, "param": None, "code": code}}
        with pytest.raises(openai.APIStatusError) as info:
            chat(srv.base_url, key=SECRET)
        assert info.value.status_code == status and SECRET in str(info.value)
        assert [(r["fault"], r["status"]) for r in srv.requests()] == [("echo_key", status)] * 2


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--gzip-bomb", "1", "--huge-answer", "1"], "cannot be combined"),
        (["--echo-key", "401", "--content-surrogate"], "cannot be combined"),
        (["--echo-key", "200"], "400-599"),
        (["--phostile", "1.5"], "phostile"),
        (["--usage-mode", "zero"], "invalid choice"),
    ],
)
def test_bad_hostile_options(args: list[str], error: str) -> None:
    with pytest.raises(RuntimeError, match=error), run_server(*args):
        pass
