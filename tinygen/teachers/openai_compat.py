"""Any OpenAI-compatible chat endpoint, on the openai SDK's transport, retries off.

teachers/connection.py supplies the URL, the headers and the transport (aiohttp under
httpx2, the pool sized to the concurrency) as the SDK's client would. tinygen sends the
chat-completions JSON itself, with the URL, headers and timeouts merged once, and reads
the answer's JSON: the SDK's per-call request building and response models cost about
1 ms of CPU a call, several times everything else tinygen does per answer
(bench/throughput.py); the client's own per-request merging another 0.08 ms.
Failures are classified here by status code, and tenacity owns every retry. What each
body holds comes from teachers/profiles.py (a model's profile, adapted to what the host
refused); every request waits for teachers/ratelimits.py's pacer, which reads the limits
every answer announces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import httpx2

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.bounded import BadEncoding, BodyTooLarge, read_bounded
from tinygen.teachers.connection import chat_url, http_client, request_headers
from tinygen.teachers.limits import RequestPacer
from tinygen.teachers.profiles import MAX_ADAPTATIONS, RequestShape, profile_for
from tinygen.teachers.ratelimits import HeaderPacer, retry_after
from tinygen.text.encoding import make_encodable
from tinygen.text.redact import register_secret

ANSWER_BYTES_FLOOR = 256 * 1024
ANSWER_BYTES_PER_TOKEN = 64  # a token is a few characters, even JSON-escaped
ERROR_BYTES = 64 * 1024
TOO_LARGE_KEPT = 2_000  # bytes of an oversized answer kept for rejected.jsonl
RETRYABLE_STATUS = frozenset({408, 409, 429})
_BILLING = re.compile(r"\b(billing|credits?|payment required)\b", re.IGNORECASE)
FATAL_STATUS = {
    401: "the endpoint rejected the API key (401)",
    403: "the endpoint refused access (403)",
    404: "the endpoint has no such route or model (404)",
}


class OpenAITeacher:
    """Chat completions from `base_url` (None means api.openai.com)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        concurrency: int,
        timeout: float,
        rpm: float | None = None,
        pacer: RequestPacer | None = None,  # shared by several endpoints (else from rpm)
        headers: Mapping[str, str] | None = None,
        api_version: str | None = None,
        azure: bool = False,
        pace_share: float = 1.0,
    ) -> None:
        register_secret(api_key)
        for value in (headers or {}).values():
            register_secret(value)
        pacer = pacer or (RequestPacer(rpm) if rpm else None)
        self._http = http_client(concurrency, timeout, _pace_hook(pacer) if pacer else None)
        self._url = chat_url(base_url, azure, api_version)
        # the request as the client would build it, once: its headers, ours, timeouts
        self._headers = httpx2.Headers(self._http.headers)
        self._headers.update(request_headers(api_key, azure, headers or {}))
        self._extensions = {"timeout": self._http.timeout.as_dict()}
        self._shapes: dict[str, RequestShape] = {}  # by model: each learns on its own
        self.pacer = HeaderPacer(share=pace_share)
        self._notices: list[str] = []

    def describe(self) -> dict[str, object]:
        return {"kind": "openai-compatible", "host": self._url.netloc.decode()}

    def take_notices(self) -> list[str]:
        """What changed in the requests since the last call (each said once)."""
        notices, self._notices = self._notices, []
        return notices

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        """POST one chat-completions request; raise TeacherCallError on any failure. A 400
        that refuses a parameter adapts the body and sends again (not a failure)."""
        for tries_left in range(MAX_ADAPTATIONS, -1, -1):
            completion = await self._post(messages, params, adapt=tries_left > 0)
            if completion is not None:
                return completion
        raise AssertionError("unreachable: the last try does not adapt")

    async def _post(
        self,
        messages: list[dict[str, str]],
        params: TeacherParams,
        adapt: bool,
    ) -> Completion | None:
        """One request; None if a 400 refused a parameter and the body was adapted."""
        shape = self._shape(params)
        fields = shape.body(params, continuing=messages[-1]["role"] == "assistant")
        body = json.dumps({"messages": messages, **fields}).encode()
        request = self._request(body)
        seq = await self.pacer.release(len(body) / 4 + params.max_tokens)
        try:
            response = await self._http.send(request, stream=True)
        except BaseException as exc:  # no answer (cancelled too): nothing to observe
            self.pacer.forget(seq)
            if isinstance(exc, httpx2.TransportError):
                raise transport_error(exc) from None
            raise
        try:
            self.pacer.observe(response.headers, seq)
            if response.status_code == 400 and adapt:
                text = await _error_text(response)
                notice = shape.adapt(_error_object(text), fields)
                if notice is not None:
                    self._notices.append(notice)
                    return None
                raise status_error(400, response.headers, text)
            return await _read_answer(response, params.max_tokens)
        except httpx2.TransportError as exc:
            raise transport_error(exc) from None
        finally:
            await response.aclose()

    def _request(self, body: bytes) -> httpx2.Request:
        """The chat-completions POST of `body`."""
        return httpx2.Request(
            "POST", self._url, headers=self._headers, content=body, extensions=self._extensions
        )

    def _shape(self, params: TeacherParams) -> RequestShape:
        """The request shape of `params.model`, made (and its profile said) on first use."""
        shape = self._shapes.get(params.model)
        if shape is None:
            shape = self._shapes[params.model] = RequestShape(profile_for(params.model))
            self._notices += shape.profile.notes(params)
        return shape

    async def aclose(self) -> None:
        await self._http.aclose()


def _pace_hook(pacer: RequestPacer):
    """An HTTP request hook that holds each request until the pacer releases it, so
    the pace is measured when requests really leave."""

    async def hook(request: httpx2.Request) -> None:
        await pacer.wait()

    return hook


def answer_bound(max_tokens: int) -> int:
    """Bytes a decoded answer may have: far more than `max_tokens` of any text can need."""
    return ANSWER_BYTES_FLOOR + ANSWER_BYTES_PER_TOKEN * max_tokens


async def _read_answer(response: httpx2.Response, max_tokens: int) -> Completion:
    """The completion in `response`, read up to `answer_bound(max_tokens)` bytes, or a
    TeacherCallError."""
    if response.status_code >= 300:
        text = await _error_text(response)
        raise status_error(response.status_code, response.headers, text)
    try:
        raw = await read_bounded(response, answer_bound(max_tokens))
    except BodyTooLarge as large:
        raise TeacherCallError(
            "too_large",
            f"the answer passed {large.bound:,} bytes (the bound for max_tokens {max_tokens}); "
            "reading stopped there",
            retryable=False,
            body_prefix=large.prefix[:TOO_LARGE_KEPT].decode("utf-8", "replace"),
        ) from None
    except BadEncoding as exc:
        raise TeacherCallError("bad_response", str(exc), retryable=True) from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise TeacherCallError(
            "bad_response", f"the answer is not JSON: {exc}", retryable=True
        ) from None
    return completion_from(data)


async def _error_text(response: httpx2.Response) -> str:
    """The start of an error body (enough for its message), decoded leniently."""
    try:
        raw = await read_bounded(response, ERROR_BYTES)
    except BodyTooLarge as large:
        raw = large.prefix
    except BadEncoding:
        return "(an error body in an encoding tinygen cannot read)"
    return raw.decode("utf-8", "replace")


def completion_from(data: object) -> Completion:
    """Read a chat-completions JSON answer; anything malformed is a retryable error, but
    malformed `usage` (strings, negatives, garbage) only makes the counts unknown."""
    try:
        choice = data["choices"][0]  # type: ignore[index]
        text = choice["message"].get("content") or ""
        usage = data.get("usage")  # type: ignore[union-attr]
        prompt, completion, note = usage_counts(usage)
        return Completion(
            reasoning_tokens=reasoning_count(usage),
            text=text if isinstance(text, str) else str(text),
            finish_reason=_optional_text(choice.get("finish_reason")),
            prompt_tokens=prompt,
            completion_tokens=completion,
            response_model=_optional_text(data.get("model")),  # type: ignore[union-attr]
            usage_note=note,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TeacherCallError(
            "bad_response", f"not a chat completion: {str(data)[:200]}", retryable=True
        ) from None


USAGE_FIELDS = ("prompt_tokens", "completion_tokens")


def usage_counts(usage: object) -> tuple[int | None, int | None, str | None]:
    """Prompt and completion tokens of a `usage` object (None where unknown), and a note
    saying what was wrong with it, if anything (a missing usage is no error)."""
    if usage is None:
        return None, None, None
    if not isinstance(usage, dict):
        return None, None, f"usage is not an object: {str(usage)[:60]!r}"
    counts, wrong = [], []
    for name in USAGE_FIELDS:
        value = usage.get(name)
        valid = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        counts.append(value if valid else None)
        if value is not None and not valid:
            wrong.append(f"{name} {str(value)[:30]!r}")
    note = f"not a token count: {', '.join(wrong)}" if wrong else None
    return counts[0], counts[1], note


def reasoning_count(usage: object) -> int | None:
    """Reasoning tokens in `usage.completion_tokens_details` (part of completion_tokens)."""
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    value = details.get("reasoning_tokens") if isinstance(details, dict) else None
    valid = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if valid else None


def _optional_text(value: object) -> str | None:
    """A short string field of the answer (finish_reason, model), made writable."""
    return None if value is None else make_encodable(str(value))[:200]


def transport_error(exc: httpx2.TransportError) -> TeacherCallError:
    """A timeout (only a TimeoutError at the root is one: the aiohttp transport reports a
    dropped connection as a connect timeout) or another connection failure."""
    root: BaseException = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if isinstance(exc, httpx2.TimeoutException) and isinstance(root, TimeoutError):
        return TeacherCallError("timeout", "the request timed out", retryable=True)
    return TeacherCallError("connection", f"connection error: {root!r}"[:300], retryable=True)


def status_error(status: int, headers: httpx2.Headers | dict, text: str) -> TeacherCallError:
    """What an HTTP error status means: stop the run, retry, or fail the item."""
    message = f"HTTP {status}: {error_message(text)}"
    if is_out_of_credit(status, text):
        return TeacherCallError(
            "quota",
            f"the key has no quota or credit left ({status}): {error_message(text)}",
            retryable=False,
            fatal=True,
            status=status,
        )
    if status in FATAL_STATUS:
        kind = "auth" if status in (401, 403) else "not_found"
        return TeacherCallError(
            kind,
            f"{FATAL_STATUS[status]}: {error_message(text)}",
            retryable=False,
            fatal=True,
            status=status,
        )
    if status in RETRYABLE_STATUS or status >= 500:
        kind = "rate_limit" if status == 429 else "server_error" if status >= 500 else "conflict"
        return TeacherCallError(
            kind,
            message,
            retryable=True,
            status=status,
            retry_after=retry_after(headers, error_message(text)),
        )
    return TeacherCallError("client_error", message, retryable=False, status=status)


def is_out_of_credit(status: int, text: str) -> bool:
    """A refusal no retry can fix: HTTP 402, OpenAI's `insufficient_quota` (sent as a 429,
    which is not a rate limit), or a 403/429 whose message speaks of billing or credit.
    ("quota" alone is not enough: some providers call their rate limits quotas.)"""
    if status == 402:
        return True
    error = _error_object(text)
    if "insufficient_quota" in (error.get("type"), error.get("code")):
        return True
    return status in (403, 429) and bool(_BILLING.search(error_message(text)))


def _error_object(text: str) -> dict:
    """The `error` object of an OpenAI-style error body ({} if there is none)."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def error_message(text: str) -> str:
    """The `error.message` of an OpenAI-style error body, else the body's start."""
    message = _error_object(text).get("message")
    if message:
        return str(message)[:300]
    return text.strip()[:300] or "(no body)"
