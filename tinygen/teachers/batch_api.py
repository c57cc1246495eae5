"""OpenAI's Batch API: upload a file of request lines, create a batch, follow it, and
download its results; on the SDK's client (this is not the hot path), retries off.

Every call goes through `call`, which retries what may be retried (timeouts, 429, 5xx)
with the run's policy and turns what cannot (401, 403, 404, 400) into a TinygenError
that names the fix; a host without the Batch API (404 on /v1/batches or /v1/files) is
told to drop --batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import openai
from openai.types import Batch

from tinygen.errors import TinygenError
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.factory import AZURE_API_VERSION, TeacherOptions
from tinygen.teachers.openai_compat import status_error
from tinygen.teachers.retry import RetryPolicy, call_with_retries
from tinygen.text.redact import register_secret

T = TypeVar("T")
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
RUN_KEY = "tinygen_run"  # metadata: the run's fingerprint, to find its batches again
MAX_LISTED = 1_000  # the newest batches searched for this run's (a lost journal only)


class BatchClient:
    """Files and batches at one endpoint."""

    def __init__(self, options: TeacherOptions, policy: RetryPolicy) -> None:
        key = options.key() or "not-needed"
        register_secret(key)
        self._client = sdk_client(
            options.base_url,
            key,
            options.is_azure(),
            options.api_version,
            dict(options.headers),
        ).with_options(timeout=options.timeout)
        self._policy = policy

    async def call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """`make()` with retries; a TinygenError naming `what` if it fails for good."""
        result: list[T] = []

        async def attempt():
            try:
                result.append(await make())
            except openai.APIStatusError as exc:
                response = exc.response
                raise status_error(exc.status_code, response.headers, response.text) from None
            except openai.APIConnectionError as exc:
                raise TeacherCallError("connection", f"{exc!r}"[:300], retryable=True) from None
            return None

        try:
            outcome = await call_with_retries(attempt, self._policy)
        except TeacherCallError as fatal:
            raise batch_error(what, fatal) from None
        if outcome.error is not None:
            raise batch_error(what, outcome.error)
        return result[-1]

    async def upload(self, lines: list[str], name: str) -> str:
        """Upload request lines as a batch input file; its id."""
        content = ("\n".join(lines) + "\n").encode()
        made = await self.call(
            "uploading the batch file",
            lambda: self._client.files.create(file=(name, content), purpose="batch"),
        )
        return made.id

    async def create(self, file_id: str, metadata: Mapping[str, str]) -> Batch:
        return await self.call(
            "creating the batch",
            lambda: self._client.batches.create(
                input_file_id=file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=dict(metadata),
            ),
        )

    async def retrieve(self, batch_id: str) -> Batch:
        return await self.call(
            f"following batch {batch_id}", lambda: self._client.batches.retrieve(batch_id)
        )

    async def cancel(self, batch_id: str) -> Batch:
        return await self.call(
            f"cancelling batch {batch_id}", lambda: self._client.batches.cancel(batch_id)
        )

    async def content(self, file_id: str) -> str:
        """A file's content as text (an output, error or input file)."""
        response = await self.call(
            f"downloading file {file_id}", lambda: self._client.files.content(file_id)
        )
        return response.text

    async def find(self, fingerprint: str) -> list[Batch]:
        """This run's batches among the endpoint's newest MAX_LISTED (by metadata)."""

        async def listed() -> list[Batch]:
            batches = []
            async for batch in self._client.batches.list(limit=100):
                batches.append(batch)
                if len(batches) >= MAX_LISTED:
                    break
            return batches

        batches = await self.call("listing batches", listed)
        return [b for b in batches if (b.metadata or {}).get(RUN_KEY) == fingerprint]

    async def aclose(self) -> None:
        await self._client.close()


def batch_error(what: str, error: TeacherCallError) -> TinygenError:
    """What to tell the user when a Batch API call fails for good."""
    if error.status == 404:
        return TinygenError(
            f"{what} failed: the endpoint has no Batch API ({error.message})",
            "drop --batch to ask online",
        )
    if error.kind == "quota":
        return TinygenError(f"{what} failed: {error.message}", "add credit, then rerun")
    return TinygenError(
        f"{what} failed: {error.message}",
        "rerun the same command: it finds the batches it made and goes on",
    )


def sdk_client(
    base_url: str | None,
    api_key: str,
    azure: bool,
    api_version: str | None,
    headers: Mapping[str, str],
) -> openai.AsyncOpenAI:
    """The SDK client that holds the configuration: URL, key and its header, extra
    headers. Azure's client puts the key in `api-key` and the version in the query."""
    extra = dict(headers)
    if azure:
        return openai.AsyncAzureOpenAI(
            api_key=api_key,
            api_version=api_version or AZURE_API_VERSION,
            base_url=base_url,
            max_retries=0,
            default_headers=extra,
        )
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=base_url, max_retries=0, default_headers=extra
    )
