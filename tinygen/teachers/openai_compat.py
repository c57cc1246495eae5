"""Any OpenAI-compatible chat endpoint, through the `openai` SDK with its retries off."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx2
import openai

from tinygen.limits import RequestPacer
from tinygen.recipe import TeacherParams
from tinygen.teachers.base import Completion, TeacherCallError

RETRYABLE_STATUS = frozenset({408, 409, 429})
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
    ) -> None:
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        hooks = {"request": [_pace_hook(RequestPacer(rpm))]} if rpm else {}
        self._base_url = base_url
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAioHttpClient(
                limits=limits, timeout=timeout, event_hooks=hooks
            ),
        )

    def describe(self) -> dict[str, object]:
        host = urlparse(self._base_url).netloc if self._base_url else "api.openai.com"
        return {"kind": "openai-compatible", "host": host}

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        """POST /chat/completions through the SDK's client and read the JSON as is.

        `client.post(..., cast_to=object)` keeps the SDK's HTTP stack, auth and typed
        errors but skips its per-call request transformation and pydantic parsing,
        which cost more CPU than the rest of tinygen's work per answer.
        """
        try:
            data = await self._client.post(
                "/chat/completions",
                body={"messages": messages, **request_body(params)},
                cast_to=object,
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from None
        except ValueError as exc:  # the SDK lets JSON errors through
            raise TeacherCallError(
                "bad_response", f"unreadable answer: {exc}", retryable=True
            ) from None
        return completion_from(data)

    async def aclose(self) -> None:
        await self._client.close()


def _pace_hook(pacer: RequestPacer):
    """An HTTP request hook that holds each request until the pacer releases it, so
    the pace is measured when requests really leave, after the SDK's own work."""

    async def hook(request: httpx2.Request) -> None:
        await pacer.wait()

    return hook


def request_body(params: TeacherParams) -> dict[str, object]:
    """The generation parameters of a chat-completions request body."""
    body: dict[str, object] = {
        "model": params.model,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.repeat_penalty is not None:
        body["repeat_penalty"] = params.repeat_penalty
    return body


def completion_from(data: object) -> Completion:
    """Read a chat-completions JSON answer; anything malformed is a retryable error."""
    try:
        choice = data["choices"][0]  # type: ignore[index]
        text = choice["message"].get("content") or ""
        usage = data.get("usage") or {}  # type: ignore[union-attr]
        return Completion(
            text=text if isinstance(text, str) else str(text),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            response_model=data.get("model"),  # type: ignore[union-attr]
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TeacherCallError(
            "bad_response", f"not a chat completion: {str(data)[:200]}", retryable=True
        ) from None


def classify(exc: openai.OpenAIError) -> TeacherCallError:
    """Map an SDK exception to a kind, and whether to retry or stop the run."""
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, openai.APITimeoutError) and isinstance(_root_cause(exc), TimeoutError):
        return TeacherCallError("timeout", "the request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return TeacherCallError("connection", f"connection error: {exc}", retryable=True)
    return TeacherCallError("bad_response", f"unreadable answer: {exc}", retryable=True)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception (the aiohttp transport reports a dropped connection as a
    timeout: only a TimeoutError at the root is one)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _classify_status(exc: openai.APIStatusError) -> TeacherCallError:
    status = exc.status_code
    message = _error_message(exc)
    if status in FATAL_STATUS:
        return TeacherCallError(
            "auth" if status in (401, 403) else "not_found",
            f"{FATAL_STATUS[status]}: {message}",
            retryable=False,
            fatal=True,
            status=status,
        )
    retry_after = retry_after_seconds(exc.response.headers)
    if status in RETRYABLE_STATUS or status >= 500:
        kind = "rate_limit" if status == 429 else "server_error" if status >= 500 else "conflict"
        return TeacherCallError(
            kind,
            f"HTTP {status}: {message}",
            retryable=True,
            status=status,
            retry_after=retry_after,
        )
    return TeacherCallError(
        "client_error", f"HTTP {status}: {message}", retryable=False, status=status
    )


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        return str(body.get("message") or body)[:300]
    return str(exc.message)[:300]


def retry_after_seconds(headers: httpx2.Headers | dict[str, str]) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms` first, then `retry-after`."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None
