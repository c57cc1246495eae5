"""Tests for the Batch API emulator (tests/batch_server.py), over plain HTTP (urllib)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import openai.types
import pytest

from tests.batch_server import UNDONE, run_batch_server
from tests.openai_server import ServerHandle

CHAT = "/v1/chat/completions"
FAST = ("--validate-s", "0.1", "--progress-s", "0.3", "--finalize-s", "0.1", "--seed", "7")
SLOWER = ("--validate-s", "0.3", "--progress-s", "0.3", "--finalize-s", "0.3")  # every state seen
FILE_KEYS = [
    "id",
    "object",
    "bytes",
    "created_at",
    "filename",
    "purpose",
    "status",
    "expires_at",
    "status_details",
]
BATCH_KEYS = [
    "id",
    "object",
    "endpoint",
    "errors",
    "input_file_id",
    "completion_window",
    "status",
    "output_file_id",
    "error_file_id",
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "request_counts",
    "metadata",
]
MOVING = [k for k in BATCH_KEYS if k.endswith("_at") and k not in ("created_at", "expires_at")]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Api:
    """A tiny HTTP client for one emulator (optionally with a Bearer key)."""

    def __init__(self, srv: ServerHandle, key: str | None = None) -> None:
        self.base, self.root = srv.base_url, srv.base_url.removesuffix("/v1")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def call(
        self, method: str, path: str, data: bytes | None = None, ctype: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = self.headers | ({"Content-Type": ctype} if data is not None else {})
        url = (self.root if path.startswith("/_") else self.base) + path
        req = urllib.request.Request(url, data, headers, method=method)
        try:
            with _OPENER.open(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.call(method, path, data)
        return status, json.loads(raw)

    def upload(
        self, data: bytes, purpose: str = "batch", name: str = "in.jsonl"
    ) -> tuple[int, Any]:
        fields = {"purpose": purpose} if purpose else {}
        body, ctype = multipart(fields, (name, data))
        status, raw = self.call("POST", "/files", body, ctype)
        return status, json.loads(raw)

    def create(self, file_id: str, **kw: Any) -> tuple[int, Any]:
        body = {"input_file_id": file_id, "endpoint": CHAT, "completion_window": "24h", **kw}
        return self.json("POST", "/batches", body)

    def submit(self, lines: list[Any], **kw: Any) -> dict[str, Any]:
        """Upload ``lines`` (dicts or raw strings) and create a batch; the batch object."""
        status, made = self.upload(jsonl(lines))
        assert status == 200, made
        status, batch = self.create(made["id"], **kw)
        assert status == 200, batch
        return batch

    def poll(self, batch_id: str, timeout: float = 10.0) -> tuple[list[str], dict[str, Any]]:
        """Poll until terminal; the distinct statuses seen in order, and the last object."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, batch = self.json("GET", f"/batches/{batch_id}")
            assert status == 200, batch
            if not seen or seen[-1] != batch["status"]:
                seen.append(batch["status"])
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                return seen, batch
            time.sleep(0.02)
        raise AssertionError(f"batch {batch_id} not done: {seen}")

    def lines(self, file_id: str | None) -> list[dict[str, Any]]:
        assert file_id is not None
        status, raw = self.call("GET", f"/files/{file_id}/content")
        assert status == 200
        return [json.loads(x) for x in raw.decode().splitlines()]

    def stats(self) -> dict[str, Any]:
        return self.json("GET", "/_stats")[1]


def multipart(fields: dict[str, str], file: tuple[str, bytes] | None) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    sep = uuid.uuid4().hex
    parts = [
        f'--{sep}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    if file is not None:
        head = f'--{sep}\r\nContent-Disposition: form-data; name="file"; filename="{file[0]}"\r\n'
        parts.append(f"{head}Content-Type: application/jsonl\r\n\r\n".encode() + file[1] + b"\r\n")
    return b"".join([*parts, f"--{sep}--\r\n".encode()]), f"multipart/form-data; boundary={sep}"


def line(cid: str, model: str = "gpt-4o-mini", **over: Any) -> dict[str, Any]:
    """One request line of a batch input file."""
    msgs = [{"role": "user", "content": f'Write a story with the noun "{cid}".'}]
    return (
        {"custom_id": cid, "method": "POST", "url": CHAT}
        | {"body": {"model": model, "messages": msgs}}
        | over
    )


def jsonl(lines: list[Any]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def ids(n: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def openai_error(body: dict[str, Any], kind: str = "invalid_request_error") -> dict[str, Any]:
    assert list(body) == ["error"], body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == kind and body["error"]["message"], body
    return body["error"]


def test_lifecycle_shapes_and_state_order() -> None:
    with run_batch_server(*SLOWER) as srv:
        api = Api(srv)
        data = jsonl([line(c) for c in ids(4)])
        status, made = api.upload(data, name="requests.jsonl")
        assert status == 200 and list(made) == FILE_KEYS
        assert made["id"].startswith("file-") and made["bytes"] == len(data)
        assert (made["object"], made["purpose"], made["status"]) == ("file", "batch", "processed")
        assert made["filename"] == "requests.jsonl" and made["expires_at"] is None
        assert api.json("GET", f"/files/{made['id']}") == (200, made)
        status, batch = api.create(made["id"], metadata={"run": "abc"})
        assert status == 200 and list(batch) == BATCH_KEYS
        assert batch["id"].startswith("batch_") and batch["object"] == "batch"
        assert (batch["status"], batch["endpoint"], batch["input_file_id"]) == (
            "validating",
            CHAT,
            made["id"],
        )
        assert all(batch[k] is None for k in [*MOVING, "errors", "output_file_id"])
        assert batch["expires_at"] == batch["created_at"] + 86400
        assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
        assert batch["metadata"] == {"run": "abc"} and batch["completion_window"] == "24h"
        seen, done = api.poll(batch["id"])
        assert seen == ["validating", "in_progress", "finalizing", "completed"]
        assert list(done) == BATCH_KEYS and done["error_file_id"] is None
        assert done["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
        stamps = [done[k] for k in ("created_at", "in_progress_at", "finalizing_at")]
        assert stamps == sorted(stamps) and stamps[-1] <= done["completed_at"]
        assert all(done[k] is None for k in ("failed_at", "expired_at", "cancelled_at"))
        openai.types.Batch.model_validate(done)
        status, out = api.json("GET", f"/files/{done['output_file_id']}")
        assert status == 200 and out["purpose"] == "batch_output" and list(out) == FILE_KEYS


def test_content_download_and_shuffled_output() -> None:
    with run_batch_server(*FAST) as srv:
        api = Api(srv)
        cids = ids(20)
        batch = api.submit([line(c) for c in cids])
        _, done = api.poll(batch["id"])
        rows = api.lines(done["output_file_id"])
        assert sorted(r["custom_id"] for r in rows) == sorted(cids)
        assert [r["custom_id"] for r in rows] != cids  # OpenAI does not keep the order
        for row in rows:
            assert list(row) == ["id", "custom_id", "response", "error"] and row["error"] is None
            assert row["id"].startswith("batch_req_")
            resp = row["response"]
            assert resp["status_code"] == 200 and resp["request_id"].startswith("req_")
            body = resp["body"]
            openai.types.chat.ChatCompletion.model_validate(body)
            assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
            assert row["custom_id"] in body["choices"][0]["message"]["content"]
            usage = body["usage"]
            assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 50
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        status, raw = api.call("GET", f"/files/{batch['input_file_id']}/content")
        assert status == 200 and raw == jsonl([line(c) for c in cids])


def test_validation_failure_reports_lines() -> None:
    with run_batch_server(*FAST) as srv:
        api = Api(srv)
        bad = [
            line("a"),
            "{not json",
            line("a"),
            "",
            line("c", url="/v1/embeddings"),
            line("d", method="GET"),
            line("e", model=""),
            {"method": "POST", "url": CHAT, "body": line("x")["body"]},
            line("g") | {"body": {"model": "m", "messages": []}},
        ]
        batch = api.submit(bad)
        seen, done = api.poll(batch["id"])
        assert seen == ["validating", "failed"]
        assert done["failed_at"] is not None and done["in_progress_at"] is None
        assert done["output_file_id"] is None and done["error_file_id"] is None
        assert done["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
        errors = done["errors"]
        assert errors["object"] == "list"
        got = [(e["line"], e["param"]) for e in errors["data"]]
        assert got == [
            (2, None),
            (3, "custom_id"),
            (5, "url"),
            (6, "method"),
            (7, "body.model"),
            (8, "custom_id"),
            (9, "body.messages"),
        ]
        assert all(e["code"] == "invalid_request" and e["message"] for e in errors["data"])
        assert "Duplicate" in errors["data"][1]["message"]


def test_fail_validation_flag() -> None:
    with run_batch_server(*FAST, "--fail-validation") as srv:
        api = Api(srv)
        batch = api.submit([line(c, model="gpt-x") for c in ids(3)])
        seen, done = api.poll(batch["id"])
        assert seen == ["validating", "failed"]
        assert done["errors"]["data"] == [
            {
                "code": "invalid_request",
                "message": "The model `gpt-x` does not exist or you do not have access to it.",
                "param": "body.model",
                "line": 1,
            }
        ]


def test_expire_share() -> None:
    with run_batch_server(*FAST, "--expire-share", "0.3") as srv:
        api = Api(srv)
        cids = ids(10)
        batch = api.submit([line(c) for c in cids])
        seen, done = api.poll(batch["id"])
        assert seen == ["validating", "in_progress", "expired"]
        assert done["expired_at"] is not None and done["completed_at"] is None
        assert done["request_counts"] == {"total": 10, "completed": 7, "failed": 3}
        out, errs = api.lines(done["output_file_id"]), api.lines(done["error_file_id"])
        assert len(out) == 7 and all(r["response"]["status_code"] == 200 for r in out)
        code, message = UNDONE["expired"]
        assert code == "batch_expired"
        assert message == "This request could not be executed before the completion window expired."
        for row in errs:
            assert row["response"] is None and row["error"] == {"code": code, "message": message}
        assert sorted(r["custom_id"] for r in out + errs) == sorted(cids)


def test_line_error_share() -> None:
    with run_batch_server(*FAST, "--line-error-share", "0.25") as srv:
        api = Api(srv)
        batch = api.submit([line(c) for c in ids(8)])
        seen, done = api.poll(batch["id"])
        assert seen[-1] == "completed"
        assert done["request_counts"] == {"total": 8, "completed": 6, "failed": 2}
        out, errs = api.lines(done["output_file_id"]), api.lines(done["error_file_id"])
        assert len(out) == 6 and len(errs) == 2
        for row in errs:
            assert row["error"] is None and row["response"]["status_code"] == 400
            openai_error(row["response"]["body"])
        assert {r["custom_id"] for r in out}.isdisjoint(r["custom_id"] for r in errs)


def test_cancel_mid_progress() -> None:
    args = ("--validate-s", "0.05", "--progress-s", "1.0", "--cancel-s", "0.1")
    with run_batch_server(*args) as srv:
        api = Api(srv)
        cids = ids(10)
        batch = api.submit([line(c) for c in cids])
        time.sleep(0.55)
        status, cancelling = api.json("POST", f"/batches/{batch['id']}/cancel")
        assert status == 200 and cancelling["status"] == "cancelling"
        assert cancelling["cancelling_at"] is not None and cancelling["cancelled_at"] is None
        seen, done = api.poll(batch["id"])
        assert seen == ["cancelling", "cancelled"] and done["cancelled_at"] is not None
        assert done["completed_at"] is None and done["finalizing_at"] is None
        counts = done["request_counts"]
        assert 0 < counts["completed"] < 10 and counts["completed"] + counts["failed"] == 10
        out, errs = api.lines(done["output_file_id"]), api.lines(done["error_file_id"])
        assert len(out) == counts["completed"] and len(errs) == counts["failed"]
        code, message = UNDONE["cancelled"]
        assert message == "The batch was cancelled before this request was executed."
        assert all(r["error"] == {"code": code, "message": message} for r in errs)
        assert sorted(r["custom_id"] for r in out + errs) == sorted(cids)
        again = api.json("POST", f"/batches/{batch['id']}/cancel")
        assert again[0] == 200 and again[1]["status"] == "cancelled"


def test_cancel_finished_batch_conflicts() -> None:
    with run_batch_server(*FAST) as srv:
        api = Api(srv)
        batch = api.submit([line("a")])
        api.poll(batch["id"])
        status, body = api.json("POST", f"/batches/{batch['id']}/cancel")
        assert status == 409 and "completed" in openai_error(body)["message"]


def test_list_pagination_and_metadata() -> None:
    with run_batch_server(*FAST) as srv:
        api = Api(srv)
        status, made = api.upload(jsonl([line("a")]))
        made_ids = [api.create(made["id"], metadata={"i": str(i)})[1]["id"] for i in range(5)]
        newest = made_ids[::-1]
        status, page = api.json("GET", "/batches?limit=2")
        assert status == 200 and list(page) == ["object", "data", "first_id", "last_id", "has_more"]
        assert [b["id"] for b in page["data"]] == newest[:2] and page["has_more"] is True
        assert (page["first_id"], page["last_id"]) == (newest[0], newest[1])
        assert page["data"][0]["metadata"] == {"i": "4"}
        _, page = api.json("GET", f"/batches?limit=2&after={newest[1]}")
        assert [b["id"] for b in page["data"]] == newest[2:4] and page["has_more"] is True
        _, page = api.json("GET", f"/batches?limit=2&after={newest[3]}")
        assert [b["id"] for b in page["data"]] == newest[4:] and page["has_more"] is False
        _, whole = api.json("GET", "/batches")
        assert [b["id"] for b in whole["data"]] == newest and whole["has_more"] is False
        for limit in ("0", "101", "x"):
            assert api.json("GET", f"/batches?limit={limit}")[0] == 400
        bad_metadata = [
            {f"k{i}": "v" for i in range(17)},
            {"k" * 65: "v"},
            {"k": "v" * 513},
            {"k": 1},
            ["k"],
        ]
        for metadata in bad_metadata:
            status, body = api.create(made["id"], metadata=metadata)
            assert status == 400 and openai_error(body)["param"] == "metadata", metadata
        ok = {f"k{i}": "v" * 512 for i in range(15)} | {"k" * 64: ""}
        assert api.create(made["id"], metadata=ok)[0] == 200
        assert srv.requests()[-1]["path"] == "/v1/batches"


def test_create_and_upload_refusals() -> None:
    with run_batch_server(*FAST, "--max-file-mb", "0.001") as srv:
        api = Api(srv)
        status, made = api.upload(jsonl([line("a")]))
        assert status == 200
        refusals = [
            ({"endpoint": "/v1/embeddings"}, 400, "endpoint"),
            ({"completion_window": "1h"}, 400, "completion_window"),
            ({"input_file_id": "file-nope"}, 404, "input_file_id"),
        ]
        for over, code, param in refusals:
            body = {"input_file_id": made["id"], "endpoint": CHAT, "completion_window": "24h"}
            status, answer = api.json("POST", "/batches", body | over)
            assert status == code and openai_error(answer)["param"] == param
        status, answer = api.json("POST", "/batches", {"endpoint": CHAT})
        assert status == 400 and openai_error(answer)["param"] == "input_file_id"
        assert api.upload(b"x" * 1100)[0] == 400  # over 0.001 MiB
        assert api.upload(b"{}", purpose="fine-tune")[0] == 400
        assert api.upload(b"{}", purpose="")[0] == 400
        for method, path in [
            ("GET", "/files/file-nope"),
            ("GET", "/files/file-nope/content"),
            ("DELETE", "/files/file-nope"),
            ("GET", "/batches/batch_nope"),
            ("POST", "/batches/batch_nope/cancel"),
        ]:
            status, answer = api.json(method, path)
            assert status == 404 and "No such" in openai_error(answer)["message"], path
        deleted = api.json("DELETE", f"/files/{made['id']}")
        assert deleted == (200, {"id": made["id"], "object": "file", "deleted": True})
        assert api.json("GET", f"/files/{made['id']}")[0] == 404


def test_poll_500_every() -> None:
    with run_batch_server(*FAST, "--poll-500-every", "3") as srv:
        api = Api(srv)
        batch = api.submit([line("a")])
        got = [api.json("GET", f"/batches/{batch['id']}") for _ in range(6)]
        assert [s for s, _ in got] == [200, 200, 500, 200, 200, 500]
        openai_error(got[2][1], "server_error")
        assert [r["status"] for r in srv.requests()][-6:] == [200, 200, 500, 200, 200, 500]
        assert api.stats()["batch_polls"] == 6


def test_no_batch_routes_404() -> None:
    with run_batch_server("--no-batch") as srv:
        api = Api(srv)
        assert api.upload(jsonl([line("a")])) == (404, {"detail": "Not Found"})
        assert api.create("file-x") == (404, {"detail": "Not Found"})
        assert api.json("GET", "/batches") == (404, {"detail": "Not Found"})
        status, answer = api.json("POST", "/chat/completions", line("a")["body"])
        assert status == 200 and answer["object"] == "chat.completion"
        assert api.stats()["chat_calls"] == 1


def test_stats_counters() -> None:
    with run_batch_server(*FAST) as srv:
        api = Api(srv)
        assert api.stats() == {
            "files_uploaded": 0,
            "batches_created": 0,
            "lines_submitted": 0,
            "chat_calls": 0,
            "batch_polls": 0,
            "custom_ids_submitted": {},
        }
        first = api.submit([line(c) for c in ids(3)])
        api.submit([line(c) for c in ids(2, "s")])
        api.create(first["input_file_id"])  # the same lines again
        for _ in range(2):
            assert api.json("POST", "/chat/completions", line("z")["body"])[0] == 200
        got = api.stats()
        assert (got["files_uploaded"], got["batches_created"], got["lines_submitted"]) == (2, 3, 8)
        assert got["chat_calls"] == 2
        assert got["custom_ids_submitted"] == {"r0": 2, "r1": 2, "r2": 2, "s0": 1, "s1": 1}
        assert [k for k, v in got["custom_ids_submitted"].items() if v > 1] == ["r0", "r1", "r2"]
    assert srv.summary is not None and srv.summary["total"] == 7 and srv.summary["200"] == 7


def test_auth() -> None:
    with run_batch_server(*FAST, "--require-key", "sk-good") as srv:
        for api in (Api(srv), Api(srv, "sk-bad")):
            for status, body in [
                api.upload(jsonl([line("a")])),
                api.create("file-x"),
                api.json("GET", "/batches"),
                api.json("POST", "/chat/completions", line("a")["body"]),
            ]:
                assert status == 401 and openai_error(body)["code"] == "invalid_api_key"
        assert Api(srv).stats()["files_uploaded"] == 0  # /_stats needs no key
        good = Api(srv, "sk-good")
        _, done = good.poll(good.submit([line("a")])["id"])
        assert done["status"] == "completed"
        assert {r["status"] for r in srv.requests()} == {200, 401}


@pytest.mark.parametrize("flag", ["--expire-share", "--line-error-share"])
def test_bad_share_is_refused(flag: str) -> None:
    with pytest.raises(RuntimeError, match="not ready"), run_batch_server(flag, "1.5"):
        pass
