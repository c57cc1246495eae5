"""Loopback emulator of a hosted OpenAI-style provider, as OpenAI documents itself.

Run as a script: ``python tests/provider_server.py --port 0 --rpm 60``. It prints
``READY http://127.0.0.1:PORT/v1`` once listening, serves until SIGTERM/SIGINT, then prints
``SUMMARY {...}`` (request counts per fault). From tests: ``with run_provider("--tpm", "1000")``.

Routes: ``POST /v1/chat/completions`` and ``GET /v1/models`` (Bearer auth), Azure
``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (``api-key`` header)
and Azure v1 ``POST /openai/v1/chat/completions`` (``api-key`` or Bearer); ``POST /_flush``.

Every flag is off by default (a plain OpenAI), except the reasoning-model rules, which apply
only to model names matching ``--reasoning-models``. Per chat request the first refusal wins:
--require-header 403 > Azure api-version 404 > --require-key 401 > Azure deployment 404 >
bad body 400 > --quota 429 > --p429 429 > burst 503/529 > --fixed-400 > --unsupported-param 400
> reasoning rules 400 > --rpm/--tpm buckets 429 > the answer (queued by --capacity, then
--delay-ms; refusals are immediate). Logged faults: null (ok), header, api_version, auth,
deployment, bad_request, quota, 429, burst_STATUS, fixed_400, unsupported_param,
unsupported_parameter, unsupported_value, invalid_value, unrecognized_argument, rpm, tpm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

if __package__ in (None, ""):  # run as a script: put the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.openai_server import (
    QUOTA_MESSAGE,
    ServerHandle,
    _canon,
    _content_text,
    _dumps,
    _json_loads,
    error_body,
    run_server,
    serve_until_stopped,
    story,
)

_INVALID = "invalid_request_error"
EFFORTS = ("minimal", "low", "medium", "high")
LIMIT_NAMES = {"requests": "requests per min (RPM)", "tokens": "tokens per min (TPM)"}
RATE_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."
AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)
OVERLOADED = "The engine is currently overloaded, please try again later."
DEFAULT_BUDGET = 4096  # tokens a request without max_tokens/max_completion_tokens reserves


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration.String`` (``6m0s``, ``120ms``), rounded up to 1 ms."""
    ms = -(-max(0, round(seconds * 1e9)) // 1_000_000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, frac = divmod(rest, 1000)
    text = f"{secs}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def err(
    message: str, param: str | None = None, code: str | None = None, kind: str = _INVALID
) -> bytes:
    """An OpenAI error body."""
    return _dumps(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}
    ).encode()


def azure_err(code: str, message: str) -> bytes:
    """An Azure OpenAI error body (no type or param)."""
    return _dumps({"error": {"code": code, "message": message}}).encode()


@dataclass
class Bucket:
    """A token bucket of capacity ``limit`` refilling continuously at ``limit``/60 per second."""

    limit: int
    level: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = float(self.limit)

    def refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.limit, self.level + (now - self.stamp) * self.limit / 60)
        self.stamp = now

    def wait(self, cost: int) -> float:
        """Seconds until ``cost`` fits (0 if it fits now)."""
        return max(0.0, (cost - self.level) * 60 / self.limit)

    def headers(self, kind: str) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*-KIND`` headers (reset = time until the bucket is full)."""
        reset = (self.limit - self.level) * 60 / self.limit
        return {
            f"x-ratelimit-limit-{kind}": str(self.limit),
            f"x-ratelimit-remaining-{kind}": str(int(self.level)),
            f"x-ratelimit-reset-{kind}": go_duration(reset),
        }


@dataclass
class Refusal:
    """An error answer: log name, HTTP status, body and extra headers."""

    fault: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One chat request as the checks see it."""

    n: int
    t: float
    kind: str  # "openai", "azure" or "azure_v1"
    request: web.Request
    raw: bytes
    draw: float  # the seeded --p429 draw (one per request, so the pattern is fixed by n)
    body: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


@dataclass
class State:
    """Per-process server state: options, buckets, counters, buffered log."""

    opts: argparse.Namespace
    rng: random.Random
    buckets: dict[str, Bucket]
    headers: list[tuple[str, str]]
    reasoning_re: re.Pattern[str] | None
    reasoning_tokens: dict[str, int]
    capacity: asyncio.Semaphore | None
    n: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    buf: list[str] = field(default_factory=list)
    log: TextIO | None = None

    def flush(self) -> None:
        if self.log is not None:
            self.log.write("".join(self.buf))
            self.buf.clear()
            self.log.flush()

    def is_reasoning(self, model: str | None) -> bool:
        return self.reasoning_re is not None and bool(self.reasoning_re.search(model or ""))

    def rate_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for kind, bucket in self.buckets.items():
            bucket.refill()
            out |= bucket.headers(kind)
        return out


STATE = web.AppKey("provider_state", State)
Check = Callable[[State, Call], Refusal | None]


def retry_headers(style: str, seconds: float) -> dict[str, str]:
    """The Retry-After header(s) of ``--retry-after-style`` for a wait of ``seconds``."""
    secs = math.ceil(round(seconds, 6))
    if style == "seconds":
        return {"Retry-After": str(secs)}
    if style == "ms":
        return {"retry-after-ms": str(math.ceil(round(seconds * 1000, 3)))}
    if style == "date":
        return {"Retry-After": formatdate(math.ceil(time.time()) + secs, usegmt=True)}
    return {}


def check_header(st: State, call: Call) -> Refusal | None:
    for name, value in st.headers:
        if call.request.headers.get(name) != value:
            message = f"Missing or invalid gateway header {name}"
            return Refusal("header", 403, err(message, code="forbidden"))
    return None


def check_api_version(st: State, call: Call) -> Refusal | None:
    if call.kind == "azure" and "api-version" not in call.request.query:
        return Refusal("api_version", 404, azure_err("404", "Resource not found"))
    return None


def check_auth(st: State, call: Call) -> Refusal | None:
    key, headers = st.opts.require_key, call.request.headers
    if not key:
        return None
    bearer, api_key = headers.get("Authorization") == f"Bearer {key}", headers.get("api-key") == key
    ok = {"openai": bearer, "azure": api_key, "azure_v1": bearer or api_key}[call.kind]
    if ok:
        return None
    body = error_body(401) if call.kind == "openai" else azure_err("401", AZURE_401)
    return Refusal("auth", 401, body)


def parse_body(st: State, call: Call) -> Refusal | None:
    """Decode the JSON body into ``call.body`` and ``call.model`` (400 if unusable)."""
    try:
        body = _json_loads(call.raw.decode())
        msgs = body["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise TypeError("messages must be a list of objects")
    except (ValueError, KeyError, TypeError):
        return Refusal("bad_request", 400, err("We could not parse the JSON body of your request."))
    call.body = body
    call.model = call.request.match_info.get("deployment") or body.get("model")
    if call.kind == "openai" and not call.model:
        return Refusal("bad_request", 400, err("you must provide a model parameter"))
    return None


def check_deployment(st: State, call: Call) -> Refusal | None:
    if call.kind != "openai" and call.model not in st.opts.azure_deployments.split(","):
        return Refusal("deployment", 404, azure_err("DeploymentNotFound", AZURE_NO_DEPLOYMENT))
    return None


def check_quota(st: State, call: Call) -> Refusal | None:
    if st.opts.quota:
        body = err(QUOTA_MESSAGE, code="insufficient_quota", kind="insufficient_quota")
        return Refusal("quota", 429, body)
    return None


def check_p429(st: State, call: Call) -> Refusal | None:
    if call.draw < st.opts.p429:
        headers = retry_headers(st.opts.retry_after_style or "seconds", st.opts.retry_after)
        return Refusal("429", 429, error_body(429), headers)
    return None


def check_burst(st: State, call: Call) -> Refusal | None:
    o = st.opts
    if not o.burst_status or (call.n - 1) % o.burst_every >= o.burst_length:
        return None
    if o.burst_status == 529:  # Anthropic's overload answer
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return Refusal("burst_529", 529, _dumps(body).encode())
    return Refusal(f"burst_{o.burst_status}", o.burst_status, err(OVERLOADED, kind="server_error"))


def check_fixed(st: State, call: Call) -> Refusal | None:
    if st.opts.fixed_400:
        return Refusal("fixed_400", 400, err(st.opts.fixed_400))
    return None


def check_unsupported(st: State, call: Call) -> Refusal | None:
    for name in st.opts.unsupported_param:
        if name in call.body:
            return Refusal("unsupported_param", 400, err(f"property '{name}' is unsupported"))
    return None


def _repr_number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, int | float) else repr(value)


def check_reasoning(st: State, call: Call) -> Refusal | None:
    """OpenAI's parameter rules for reasoning models (one error, max_tokens first)."""
    body = call.body
    if not st.is_reasoning(call.model):
        if body.get("reasoning_effort") is None:
            return None
        message = "Unrecognized request argument supplied: reasoning_effort"
        return Refusal("unrecognized_argument", 400, err(message))
    if body.get("max_tokens") is not None:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return Refusal(
            "unsupported_parameter", 400, err(message, "max_tokens", "unsupported_parameter")
        )
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and value != 1:
            message = (
                f"Unsupported value: '{name}' does not support {_repr_number(value)} with this "
                "model. Only the default (1) value is supported."
            )
            return Refusal("unsupported_value", 400, err(message, name, "unsupported_value"))
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        message = (
            f"Invalid value: {effort!r}. Supported values are: 'minimal', 'low', 'medium', and "
            "'high'."
        )
        return Refusal("invalid_value", 400, err(message, "reasoning_effort", "invalid_value"))
    return None


def _int_field(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def token_cost(body: dict[str, Any]) -> int:
    """Tokens a request reserves: message characters / 4 (rounded up) + its max output."""
    chars = sum(len(_content_text(m.get("content") or "")) for m in body["messages"])
    out = _int_field(body, "max_tokens")
    out = out if out is not None else _int_field(body, "max_completion_tokens")
    return math.ceil(chars / 4) + (DEFAULT_BUDGET if out is None else out)


def rate_refusal(st: State, call: Call, kind: str, bucket: Bucket, cost: int) -> Refusal:
    """OpenAI's 429 for a bucket without room for ``cost``."""
    where = f"for {call.model} in organization org-tinygen on {LIMIT_NAMES[kind]}"
    if cost > bucket.limit:  # never fits, however long the client waits
        message = (
            f"Request too large {where}: Limit {bucket.limit}, Requested {cost}. The input or "
            f"output tokens must be reduced in order to run successfully. {RATE_DOCS}"
        )
        headers = {}
    else:
        wait, used = bucket.wait(cost), bucket.limit - int(bucket.level)
        message = (
            f"Rate limit reached {where}: Limit {bucket.limit}, Used {used}, Requested {cost}. "
            f"Please try again in {go_duration(wait)}. {RATE_DOCS}"
        )
        headers = retry_headers(st.opts.retry_after_style or "none", wait)
    body = err(message, code="rate_limit_exceeded", kind=kind)
    return Refusal("rpm" if kind == "requests" else "tpm", 429, body, headers)


def check_rate(st: State, call: Call) -> Refusal | None:
    """Charge the buckets, or refuse (a refused request consumes nothing)."""
    costs = {"requests": 1, "tokens": token_cost(call.body) if "tokens" in st.buckets else 0}
    for kind, bucket in st.buckets.items():
        bucket.refill()
        if bucket.level < costs[kind]:
            return rate_refusal(st, call, kind, bucket, costs[kind])
    for kind, bucket in st.buckets.items():
        bucket.level -= costs[kind]
    return None


CHAT_CHECKS: tuple[Check, ...] = (
    check_header,
    check_api_version,
    check_auth,
    parse_body,
    check_deployment,
    check_quota,
    check_p429,
    check_burst,
    check_fixed,
    check_unsupported,
    check_reasoning,
    check_rate,
)


def fit(words: list[str], reasoning: int, budget: int | None) -> tuple[str, str, int, int]:
    """(content, finish_reason, visible tokens, reasoning tokens) within the output ``budget``."""
    if budget is not None and reasoning >= budget:
        return "", "length", 0, budget
    room = len(words) if budget is None else budget - reasoning
    finish = "length" if len(words) > room else "stop"
    return " ".join(words[:room]), finish, min(room, len(words)), reasoning


def completion(st: State, call: Call) -> tuple[bytes, str]:
    """The chat.completion body for an accepted request, and its finish_reason."""
    body, msgs = call.body, call.body["messages"]
    users = [m for m in msgs if m.get("role") == "user"]
    last = _content_text(users[-1].get("content") or "") if users else ""
    sha = hashlib.sha256(_canon(msgs).encode()).hexdigest()
    reasoning, budget = 0, _int_field(body, "max_completion_tokens")
    if st.is_reasoning(call.model):
        reasoning = st.reasoning_tokens.get(body.get("reasoning_effort") or "medium", 0)
    elif budget is None:
        budget = _int_field(body, "max_tokens")
    text, finish, visible, reasoning = fit(story(last, sha, call.n).split(), reasoning, budget)
    ptok = sum(len(_content_text(m.get("content") or "").split()) for m in msgs)
    usage = {"prompt_tokens": ptok, "completion_tokens": visible + reasoning}
    usage |= {"total_tokens": ptok + visible + reasoning}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": reasoning,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    usage["prompt_tokens_details"] = {"cached_tokens": 0}
    message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    head = {"id": f"chatcmpl-{os.getpid()}-{call.n}", "object": "chat.completion"}
    head |= {"created": int(time.time()), "model": call.model}
    tail = {"usage": usage, "service_tier": "default", "system_fingerprint": None}
    return _dumps(head | {"choices": [choice]} | tail).encode(), finish


def log_entry(st: State, call: Call, path: str, status: int, fault: str | None) -> dict[str, Any]:
    """The request-log line (remaining_* are the buckets' levels after this request)."""
    params = sorted(k for k in call.body if k != "messages")
    entry = {"n": call.n, "t": call.t, "path": path, "status": status, "fault": fault}
    entry |= {"model": call.model, "params": params}
    for kind, bucket in st.buckets.items():
        entry[f"remaining_{kind}"] = int(bucket.level)
    return entry


async def produce(st: State, body: bytes, headers: dict[str, str]) -> web.Response:
    """Wait for a free slot (``--capacity``), spend ``--delay-ms`` in it, then answer."""
    async with st.capacity or contextlib.nullcontext():
        if st.opts.delay_ms:
            await asyncio.sleep(st.opts.delay_ms / 1000)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def chat(request: web.Request, kind: str) -> web.Response:
    st = request.app[STATE]
    st.n += 1
    call = Call(st.n, time.time(), kind, request, await request.read(), st.rng.random())
    refusal = next((r for check in CHAT_CHECKS if (r := check(st, call))), None)
    headers = st.rate_headers()
    if refusal is None:
        body, finish = completion(st, call)
        entry = log_entry(st, call, request.path, 200, None) | {"finish_reason": finish}
    else:
        entry = log_entry(st, call, request.path, refusal.status, refusal.fault)
    st.buf.append(_dumps(entry) + "\n")
    st.counts[entry["fault"] or "ok"] += 1
    if refusal is not None:
        headers |= refusal.headers
        kw = {"status": refusal.status, "body": refusal.body, "headers": headers}
        return web.Response(content_type="application/json", **kw)
    return await produce(st, body, headers)


def chat_route(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await chat(request, kind)

    return handler


async def models(request: web.Request) -> web.Response:
    st = request.app[STATE]
    call = Call(0, time.time(), "openai", request, b"", 1.0)
    if refusal := check_header(st, call) or check_auth(st, call):
        kw = {"status": refusal.status, "body": refusal.body}
        return web.Response(content_type="application/json", **kw)
    names = st.opts.models.split(",")
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "tinygen-test"} for m in names]
    return web.Response(
        body=_dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def flush(request: web.Request) -> web.Response:
    request.app[STATE].flush()
    return web.Response(text="ok")


def make_state(o: argparse.Namespace) -> State:
    """The server state the options ask for (buckets, gateway headers, log file)."""
    buckets = {
        kind: Bucket(limit) for kind, limit in (("requests", o.rpm), ("tokens", o.tpm)) if limit
    }
    headers = [(n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in o.require_header)]
    efforts = dict(item.split("=") for item in o.reasoning_tokens.split(","))
    st = State(
        o,
        random.Random(o.seed),
        buckets,
        headers,
        re.compile(o.reasoning_models) if o.reasoning_models else None,
        {k.strip(): int(v) for k, v in efforts.items()},
        asyncio.Semaphore(o.capacity) if o.capacity else None,
    )
    st.log = open(o.log, "a", buffering=1 << 16, encoding="utf-8") if o.log else None  # noqa: SIM115
    return st


def make_app(st: State) -> web.Application:
    app = web.Application()
    app[STATE] = st
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat_route("openai")),
            web.get("/v1/models", models),
            web.post("/openai/deployments/{deployment}/chat/completions", chat_route("azure")),
            web.post("/openai/v1/chat/completions", chat_route("azure_v1")),
            web.post("/_flush", flush),
        ]
    )
    return app


async def serve(opts: argparse.Namespace) -> None:
    st = make_state(opts)
    await serve_until_stopped(make_app(st), opts.port, st)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--port", type=int, default=0)
    add("--seed", type=int, default=0)
    add("--log", default="")
    add("--models", default="test-model", help="comma list for GET /v1/models")
    add("--require-key", default="", help="Bearer (OpenAI) or api-key (Azure) key to demand")
    add("--require-header", action="append", default=[], metavar="'NAME: VALUE'")
    add("--azure-deployments", default="gpt-4o-mini", help="comma list of Azure deployments")
    add("--reasoning-models", default=r"^(o1|o3|o4|gpt-5)", help="regex ('' = none)")
    add("--reasoning-tokens", default="minimal=0,low=100,medium=300,high=800")
    add("--unsupported-param", action="append", default=[], metavar="NAME")
    add("--fixed-400", default="", metavar="MESSAGE")
    add("--rpm", type=int, default=0, help="requests per minute (token bucket)")
    add("--tpm", type=int, default=0, help="tokens per minute (token bucket)")
    add("--retry-after-style", choices=("none", "seconds", "ms", "date"), default=None)
    add("--p429", type=float, default=0.0, help="seeded share of gateway 429s")
    add("--retry-after", type=float, default=1.0, help="seconds, for --p429 answers")
    add("--burst-status", type=int, choices=(0, 503, 529), default=0)
    add("--burst-every", type=int, default=10, metavar="K")
    add("--burst-length", type=int, default=1, metavar="L")
    add("--delay-ms", type=float, default=0.0)
    add("--capacity", type=int, default=0, help="answers produced at once (0 = unlimited)")
    add("--quota", action="store_true", help="every request: 429 insufficient_quota")
    opts = p.parse_args(argv)
    check_args(p, opts)
    return opts


def check_args(p: argparse.ArgumentParser, o: argparse.Namespace) -> None:
    """Reject malformed flag values."""
    if o.burst_every < 1 or not 0 <= o.burst_length <= o.burst_every:
        p.error("--burst-every must be >= 1 and 0 <= --burst-length <= --burst-every")
    if any(":" not in h for h in o.require_header):
        p.error("--require-header wants 'Name: value'")
    if not re.fullmatch(r"(\w+=\d+)(,\w+=\d+)*", o.reasoning_tokens.replace(" ", "")):
        p.error("--reasoning-tokens wants effort=N,...")
    if o.rpm < 0 or o.tpm < 0 or o.capacity < 0 or not 0.0 <= o.p429 <= 1.0:
        p.error("--rpm, --tpm and --capacity must be >= 0 and --p429 in [0, 1]")


def run_provider(
    *args: str, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[ServerHandle]:
    """Start this emulator in a subprocess; yields a ``ServerHandle`` (see ``run_server``)."""
    return run_server(*args, env=env, script=Path(__file__))


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
