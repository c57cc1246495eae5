"""Loopback emulator of OpenAI's Batch API (files + batches), as OpenAI documents it.

Run as a script: ``python tests/batch_server.py --port 0 --expire-share 0.2``. It prints
``READY http://127.0.0.1:PORT/v1`` once listening, serves until SIGTERM/SIGINT, then prints
``SUMMARY {...}`` (request counts per HTTP status). From tests: ``with run_batch_server(...)``.

Routes (Bearer auth on /v1/* with ``--require-key``): ``POST /v1/files`` (multipart, purpose
``batch``), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``, ``DELETE /v1/files/{id}``,
``POST /v1/batches``, ``GET /v1/batches`` (newest first, ``limit``/``after``),
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``, ``POST /v1/chat/completions``
(a story, online); ``POST /_flush`` (flush the log) and ``GET /_stats`` (counters), unlogged.

A batch's status is computed from its creation time on every read (no background task):
``validating`` for --validate-s, then ``failed`` (invalid input file) or ``in_progress`` for
--progress-s (lines finish in a seeded shuffled order at an even pace), then ``finalizing`` for
--finalize-s and ``completed`` -- or, with --expire-share, ``expired`` right after in_progress.
A cancel (allowed while validating, in_progress or finalizing) gives ``cancelling`` for
--cancel-s, then ``cancelled``; lines not done by the cancel go to the error file as
``batch_cancelled``. Result files are built once, when the batch first reads as terminal;
request_counts.failed counts every line of the error file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiohttp import BodyPartReader, web

if __package__ in (None, ""):  # run as a script: put the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.openai_server import (
    MIB,
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

CHAT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
CANCELLABLE = frozenset({"validating", "in_progress", "finalizing"})
UNDONE = {
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "cancelled": ("batch_cancelled", "The batch was cancelled before this request was executed."),
}
_BAD = object()  # a line that is not JSON
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class StoredFile:
    """An uploaded or result file: its file object and bytes."""

    meta: dict[str, Any]
    data: bytes


@dataclass
class Batch:
    """One batch: its fixed fields, its parsed lines and its seeded fate."""

    meta: dict[str, Any]
    created: float
    lines: list[dict[str, Any]]  # empty when the input file is invalid
    errors: list[dict[str, Any]]  # validation errors (non-empty: the batch fails)
    order: list[int]  # indexes of the lines executed, in execution order
    expired: list[int]  # indexes of the lines never executed (--expire-share)
    bad: set[int]  # indexes answered 400 (--line-error-share)
    expire: bool = False  # ends expired, not completed (--expire-share > 0)
    cancel_at: float | None = None
    files: dict[str, str | None] | None = None  # output/error file ids, once built
    counts: dict[str, int] | None = None  # final request_counts, once built


@dataclass
class State:
    """Per-process server state: options, stores, counters, buffered log."""

    opts: argparse.Namespace
    ids: random.Random
    n: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    buf: list[str] = field(default_factory=list)
    log: TextIO | None = None
    files: dict[str, StoredFile] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    answers: int = 0
    files_uploaded: int = 0
    batches_created: int = 0
    lines_submitted: int = 0
    chat_calls: int = 0
    batch_polls: int = 0
    custom_ids: Counter[str] = field(default_factory=Counter)

    def flush(self) -> None:
        if self.log is not None:
            self.log.write("".join(self.buf))
            self.buf.clear()
            self.log.flush()

    def new_id(self, prefix: str, digits: int = 24) -> str:
        return f"{prefix}{self.ids.getrandbits(digits * 4):0{digits}x}"

    def stats(self) -> dict[str, Any]:
        return {
            "files_uploaded": self.files_uploaded,
            "batches_created": self.batches_created,
            "lines_submitted": self.lines_submitted,
            "chat_calls": self.chat_calls,
            "batch_polls": self.batch_polls,
            "custom_ids_submitted": dict(self.custom_ids),
        }


STATE = web.AppKey("batch_state", State)


def reply(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_dumps(obj).encode(), content_type="application/json")


def fail(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> web.Response:
    """An OpenAI error answer."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return reply(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}, status
    )


def chat_completion(st: State, body: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object: a story for the last user message of ``body``."""
    msgs = body["messages"]
    users = [m for m in msgs if m.get("role") == "user"]
    last = _content_text(users[-1].get("content") or "") if users else ""
    st.answers += 1
    text = story(last, hashlib.sha256(_canon(msgs).encode()).hexdigest(), st.answers)
    ptok = sum(len(_content_text(m.get("content") or "").split()) for m in msgs)
    ctok = len(text.split())
    message = {"role": "assistant", "content": text, "refusal": None}
    return {
        "id": st.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "unknown",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": ptok, "completion_tokens": ctok, "total_tokens": ptok + ctok},
        "system_fingerprint": None,
    }


def store(st: State, data: bytes, filename: str, purpose: str) -> StoredFile:
    fid = st.new_id("file-")
    meta = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time())}
    meta |= {"filename": filename, "purpose": purpose, "status": "processed"}
    st.files[fid] = StoredFile(meta | {"expires_at": None, "status_details": None}, data)
    return st.files[fid]


# --- the input file ---------------------------------------------------------------------------


def decode(raw: bytes) -> Any:
    try:
        return _json_loads(raw.decode())
    except ValueError:
        return _BAD


def body_problem(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return "Missing required parameter: 'body'.", "body"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "Missing required parameter: 'body.model'.", "body.model"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
        return "Invalid 'body.messages': expected a non-empty array of objects.", "body.messages"
    return None


def line_problem(rec: Any, seen: set[str]) -> tuple[str, str | None] | None:
    """(message, param) of the first thing wrong with one input line, or None."""
    if rec is _BAD or not isinstance(rec, dict):
        return "This line is not a valid JSON object.", None
    cid = rec.get("custom_id")
    if not isinstance(cid, str) or not cid:
        return "Missing required parameter: 'custom_id'.", "custom_id"
    if cid in seen:
        return (
            f"Duplicate custom_id '{cid}': custom_id must be unique within the file.",
            "custom_id",
        )
    seen.add(cid)
    if rec.get("method") != "POST":
        return "Invalid value for 'method': only 'POST' is supported.", "method"
    if rec.get("url") != CHAT:
        return f"Invalid value for 'url': this batch's endpoint is '{CHAT}'.", "url"
    return body_problem(rec.get("body"))


def validation_errors(recs: list[tuple[int, Any]], forced: bool) -> list[dict[str, Any]]:
    """The batch's ``errors.data`` (one per bad line, 1-based line numbers)."""
    if forced:
        first = recs[0][1] if recs else None
        model = first.get("body", {}).get("model") if isinstance(first, dict) else None
        message = f"The model `{model or 'x'}` does not exist or you do not have access to it."
        return [{"code": "invalid_request", "message": message, "param": "body.model", "line": 1}]
    if not recs:
        msg = "The input file is empty."
        return [{"code": "invalid_request", "message": msg, "param": "input_file_id", "line": None}]
    seen: set[str] = set()
    errors = []
    for no, rec in recs:
        if problem := line_problem(rec, seen):
            errors.append({"code": "invalid_request", "message": problem[0], "param": problem[1]})
            errors[-1]["line"] = no
    return errors


def share(p: float, n: int) -> int:
    return min(n, int(p * n + 0.5))


def make_batch(st: State, meta: dict[str, Any], data: bytes) -> Batch:
    """Parse and validate the input file, count what was submitted, draw the batch's fate."""
    recs = [(no, decode(raw)) for no, raw in enumerate(data.split(b"\n"), 1) if raw.strip()]
    st.batches_created += 1
    st.lines_submitted += len(recs)
    for _, rec in recs:
        if isinstance(rec, dict) and isinstance(rec.get("custom_id"), str):
            st.custom_ids[rec["custom_id"]] += 1
    errors = validation_errors(recs, st.opts.fail_validation)
    lines = [] if errors else [rec for _, rec in recs]
    rng = random.Random(f"{st.opts.seed}-{st.batches_created}")
    expired = rng.sample(range(len(lines)), share(st.opts.expire_share, len(lines)))
    skipped = set(expired)
    order = [i for i in range(len(lines)) if i not in skipped]
    rng.shuffle(order)
    bad = set(rng.sample(order, share(st.opts.line_error_share, len(order))))
    expire = st.opts.expire_share > 0
    return Batch(meta, time.time(), lines, errors, order, expired, bad, expire)


# --- the state machine -----------------------------------------------------------------------


def events(o: argparse.Namespace, b: Batch) -> list[tuple[float, str]]:
    """The batch's (time, status) path, its first entry the creation."""
    t1 = b.created + o.validate_s
    t2 = t1 + o.progress_s
    path = [(b.created, "validating")]
    if b.errors:
        path.append((t1, "failed"))
    elif b.expire:
        path += [(t1, "in_progress"), (t2, "expired")]
    else:
        path += [(t1, "in_progress"), (t2, "finalizing"), (t2 + o.finalize_s, "completed")]
    if b.cancel_at is not None:
        path = [e for e in path if e[0] <= b.cancel_at]
        path += [(b.cancel_at, "cancelling"), (b.cancel_at + o.cancel_s, "cancelled")]
    return path


def done_count(o: argparse.Namespace, b: Batch, when: float) -> int:
    """How many of ``b.order`` are done at ``when`` (an even pace over in_progress)."""
    elapsed = when - b.created - o.validate_s
    frac = min(1.0, elapsed / o.progress_s) if o.progress_s > 0 else float(elapsed >= 0)
    return math.floor(max(0.0, frac) * len(b.order))


def result_line(st: State, b: Batch, i: int) -> dict[str, Any]:
    """An output or error file line for an executed line (200, or 400 if drawn bad)."""
    line = b.lines[i]
    if i in b.bad:
        code, body = 400, _json_loads(error_body(400).decode())
    else:
        code, body = 200, chat_completion(st, line["body"])
    response = {"status_code": code, "request_id": st.new_id("req_", 32), "body": body}
    return {"id": st.new_id("batch_req_"), "custom_id": line["custom_id"], "response": response}


def undone_line(st: State, line: dict[str, Any], status: str) -> dict[str, Any]:
    code, message = UNDONE[status]
    head = {"id": st.new_id("batch_req_"), "custom_id": line["custom_id"], "response": None}
    return head | {"error": {"code": code, "message": message}}


def jsonl_file(st: State, b: Batch, rows: list[dict[str, Any]], kind: str) -> str | None:
    if not rows:
        return None
    data = "".join(_dumps(r) + "\n" for r in rows).encode()
    return store(st, data, f"{b.meta['id']}_{kind}.jsonl", "batch_output").meta["id"]


def finish(st: State, b: Batch, status: str) -> None:
    """Build the result files of a batch that just turned ``status`` (terminal)."""
    k = len(b.order)
    if status == "cancelled" and b.cancel_at is not None:
        k = done_count(st.opts, b, b.cancel_at)
    done = [result_line(st, b, i) for i in b.order[:k]]
    undone = [] if status == "failed" else [*b.order[k:], *b.expired]
    ok = [r | {"error": None} for r in done if r["response"]["status_code"] == 200]
    errs = [r | {"error": None} for r in done if r["response"]["status_code"] != 200]
    errs += [undone_line(st, b.lines[i], status) for i in undone]
    b.files = {
        "output_file_id": jsonl_file(st, b, ok, "output"),
        "error_file_id": jsonl_file(st, b, errs, "error"),
    }
    b.counts = {"total": len(b.lines), "completed": len(ok), "failed": len(errs)}


def request_counts(o: argparse.Namespace, b: Batch, status: str, now: float) -> dict[str, int]:
    if b.counts is not None:
        return b.counts
    if status == "validating":
        return {"total": 0, "completed": 0, "failed": 0}
    k = done_count(o, b, min(now, b.cancel_at or now))
    failed = sum(i in b.bad for i in b.order[:k])
    return {"total": len(b.lines), "completed": k - failed, "failed": failed}


def view(st: State, b: Batch, now: float) -> dict[str, Any]:
    """The batch object as of ``now`` (builds the result files the first time it is terminal)."""
    passed = [e for e in events(st.opts, b) if e[0] <= now]
    status = passed[-1][1]
    if status in TERMINAL and b.files is None:
        finish(st, b, status)
    obj = dict(b.meta) | {"status": status}
    obj["errors"] = {"object": "list", "data": b.errors} if status == "failed" else None
    for t, name in passed[1:]:
        obj[f"{name}_at"] = int(t)
    obj |= b.files or {}
    obj["request_counts"] = request_counts(st.opts, b, status, now)
    return obj


def batch_meta(st: State, req: dict[str, Any]) -> dict[str, Any]:
    """A new batch object's fields in OpenAI's order (the moving ones null)."""
    created = int(time.time())
    meta = {"id": st.new_id("batch_", 32), "object": "batch", "endpoint": req["endpoint"]}
    meta |= {"errors": None, "input_file_id": req["input_file_id"]}
    meta |= {"completion_window": req["completion_window"], "status": "validating"}
    meta |= {"output_file_id": None, "error_file_id": None, "created_at": created}
    meta |= {"in_progress_at": None, "expires_at": created + 86400}
    for name in ("finalizing", "completed", "failed", "expired", "cancelling", "cancelled"):
        meta[f"{name}_at"] = None
    return meta | {"request_counts": None, "metadata": req.get("metadata")}


# --- handlers ---------------------------------------------------------------------------------


async def read_part(part: BodyPartReader, limit: int) -> tuple[bytes, int]:
    """A part's bytes (empty past ``limit``, but read to its end) and its size."""
    chunks, size = [], 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return (b"".join(chunks) if size <= limit else b""), size


async def upload(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if not request.content_type.startswith("multipart/"):
        return fail(400, "Expected a multipart/form-data body.")
    limit, reader = int(st.opts.max_file_mb * MIB), await request.multipart()
    fields: dict[str, str] = {}
    data, size, name = b"", -1, "upload.jsonl"
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            name = part.filename or name
            data, size = await read_part(part, limit)
        else:
            fields[part.name or ""] = await part.text()
    if size < 0 or "purpose" not in fields:
        missing = "file" if size < 0 else "purpose"
        return fail(400, f"Missing required parameter: '{missing}'.", missing)
    if fields["purpose"] != "batch":
        return fail(400, "Invalid value for 'purpose': only 'batch' is supported.", "purpose")
    if size > limit:
        return fail(400, f"File is too large: {size} bytes, the maximum is {limit}.", "file")
    st.files_uploaded += 1
    return reply(store(st, data, name, "batch").meta)


def find_file(request: web.Request) -> StoredFile | web.Response:
    fid = request.match_info["file_id"]
    found = request.app[STATE].files.get(fid)
    return found or fail(404, f"No such File object: {fid}", "id")


async def get_file(request: web.Request) -> web.Response:
    found = find_file(request)
    return found if isinstance(found, web.Response) else reply(found.meta)


async def file_content(request: web.Request) -> web.Response:
    found = find_file(request)
    if isinstance(found, web.Response):
        return found
    return web.Response(body=found.data, content_type="application/octet-stream")


async def delete_file(request: web.Request) -> web.Response:
    found = find_file(request)
    if isinstance(found, web.Response):
        return found
    del request.app[STATE].files[found.meta["id"]]
    return reply({"id": found.meta["id"], "object": "file", "deleted": True})


def metadata_problem(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > 16:
        return "Invalid 'metadata': expected an object with at most 16 keys."
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            return (
                f"Invalid 'metadata': key {key[:64]!r} (keys <= 64 chars, values strings <= 512)."
            )
    return None


def create_problem(st: State, req: Any) -> web.Response | None:
    """The 4xx answer a create request gets, or None if it is acceptable."""
    if not isinstance(req, dict):
        return fail(400, "We could not parse the JSON body of your request.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(req.get(name), str):
            return fail(400, f"Missing required parameter: '{name}'.", name)
    if req["endpoint"] != CHAT:
        return fail(400, f"Invalid value for 'endpoint': only '{CHAT}' is supported.", "endpoint")
    if req["completion_window"] != "24h":
        msg = "Invalid value for 'completion_window': only '24h' is supported."
        return fail(400, msg, "completion_window")
    if problem := metadata_problem(req.get("metadata")):
        return fail(400, problem, "metadata")
    found = st.files.get(req["input_file_id"])
    if found is None:
        return fail(404, f"No such File object: {req['input_file_id']}", "input_file_id")
    if found.meta["purpose"] != "batch":
        return fail(400, "Invalid 'input_file_id': the file's purpose must be 'batch'.")
    return None


async def create_batch(request: web.Request) -> web.Response:
    st = request.app[STATE]
    req = decode(await request.read())
    if problem := create_problem(st, req):
        return problem
    b = make_batch(st, batch_meta(st, req), st.files[req["input_file_id"]].data)
    st.batches[b.meta["id"]] = b
    return reply(view(st, b, b.created))


def find_batch(request: web.Request) -> Batch | web.Response:
    bid = request.match_info["batch_id"]
    found = request.app[STATE].batches.get(bid)
    return found or fail(404, f"No such Batch object: {bid}", "batch_id")


async def get_batch(request: web.Request) -> web.Response:
    st = request.app[STATE]
    st.batch_polls += 1
    every = st.opts.poll_500_every
    if every and st.batch_polls % every == 0:
        return web.Response(status=500, body=error_body(500), content_type="application/json")
    found = find_batch(request)
    return found if isinstance(found, web.Response) else reply(view(st, found, time.time()))


async def cancel_batch(request: web.Request) -> web.Response:
    st, found = request.app[STATE], find_batch(request)
    if isinstance(found, web.Response):
        return found
    now = time.time()
    status = view(st, found, now)["status"]
    if status in TERMINAL and status != "cancelled":
        return fail(409, f"Cannot cancel a batch with status '{status}'.")
    if status in CANCELLABLE:
        found.cancel_at = now
    return reply(view(st, found, now))


async def list_batches(request: web.Request) -> web.Response:
    st = request.app[STATE]
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return fail(400, "Invalid 'limit': expected an integer from 1 to 100.", "limit")
    ids = list(reversed(st.batches))
    after = request.query.get("after")
    start = (ids.index(after) + 1 if after in ids else len(ids)) if after else 0
    now, page = time.time(), ids[start : start + limit]
    data = [view(st, st.batches[i], now) for i in page]
    first, last = (page[0], page[-1]) if page else (None, None)
    more = start + limit < len(ids)
    return reply(
        {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more}
    )


async def chat(request: web.Request) -> web.Response:
    st = request.app[STATE]
    st.chat_calls += 1
    body = decode(await request.read())
    msgs = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        return fail(400, "We could not parse the JSON body of your request.")
    return reply(chat_completion(st, body))


async def flush(request: web.Request) -> web.Response:
    request.app[STATE].flush()
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    return reply(request.app[STATE].stats())


async def guarded(st: State, request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, then --no-batch, then the route (unknown routes: OpenAI's Invalid URL)."""
    key = st.opts.require_key
    if key and request.headers.get("Authorization") != f"Bearer {key}":
        return web.Response(status=401, body=error_body(401), content_type="application/json")
    if st.opts.no_batch and request.path.startswith(("/v1/files", "/v1/batches")):
        return reply({"detail": "Not Found"}, 404)  # what vLLM's FastAPI says
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return fail(exc.status, f"Invalid URL ({request.method} {request.path})")


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every /v1 request (n, t, method, path, status); /_* routes pass unlogged."""
    st = request.app[STATE]
    if request.path.startswith("/_"):
        return await handler(request)
    st.n += 1
    entry = {"n": st.n, "t": time.time(), "method": request.method, "path": request.path}
    resp = await guarded(st, request, handler)
    st.buf.append(_dumps(entry | {"status": resp.status}) + "\n")
    st.counts[str(resp.status)] += 1
    return resp


def make_app(st: State) -> web.Application:
    app = web.Application(middlewares=[gate])
    app[STATE] = st
    app.add_routes(
        [
            web.post("/v1/files", upload),
            web.get("/v1/files/{file_id}", get_file),
            web.get("/v1/files/{file_id}/content", file_content),
            web.delete("/v1/files/{file_id}", delete_file),
            web.post("/v1/batches", create_batch),
            web.get("/v1/batches", list_batches),
            web.get("/v1/batches/{batch_id}", get_batch),
            web.post("/v1/batches/{batch_id}/cancel", cancel_batch),
            web.post(CHAT, chat),
            web.post("/_flush", flush),
            web.get("/_stats", stats),
        ]
    )
    return app


async def serve(opts: argparse.Namespace) -> None:
    st = State(opts, random.Random(f"ids-{opts.seed}"))
    st.log = open(opts.log, "a", buffering=1 << 16, encoding="utf-8") if opts.log else None  # noqa: SIM115
    await serve_until_stopped(make_app(st), opts.port, st)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--port", type=int, default=0)
    add("--seed", type=int, default=0)
    add("--log", default="")
    add("--require-key", default="", help="Bearer key demanded on /v1/*")
    add("--no-batch", action="store_true", help="/v1/files and /v1/batches answer 404")
    add("--max-file-mb", type=float, default=200.0, help="upload limit in MiB (else 400)")
    add("--validate-s", type=float, default=0.2, help="seconds in validating")
    add("--progress-s", type=float, default=0.5, help="seconds in in_progress")
    add("--finalize-s", type=float, default=0.2, help="seconds in finalizing")
    add("--cancel-s", type=float, default=0.2, help="seconds in cancelling")
    add("--fail-validation", action="store_true", help="every batch fails, error on line 1")
    add("--expire-share", type=float, default=0.0, help="share of lines left undone: expired")
    add("--line-error-share", type=float, default=0.0, help="share of executed lines: 400")
    add("--poll-500-every", type=int, default=0, metavar="K", help="every K-th batch GET: 500")
    opts = p.parse_args(argv)
    times = (opts.validate_s, opts.progress_s, opts.finalize_s, opts.cancel_s)
    if min(times) < 0 or opts.max_file_mb < 0 or opts.poll_500_every < 0:
        p.error("durations, --max-file-mb and --poll-500-every must be >= 0")
    if not (0 <= opts.expire_share <= 1 and 0 <= opts.line_error_share <= 1):
        p.error("--expire-share and --line-error-share must be in [0, 1]")
    return opts


def run_batch_server(
    *args: str, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[ServerHandle]:
    """Start this emulator in a subprocess; yields a ``ServerHandle`` (see ``run_server``)."""
    return run_server(*args, env=env, script=Path(__file__))


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
