"""Where an OpenAI-compatible endpoint's chat completions are, and what every request
to it carries: the URL and headers as the openai SDK's client builds them from the same
settings and environment, and the SDK's transport (aiohttp under httpx2, from the
httpx-aiohttp package the SDK vendors), without importing the SDK.

Importing the SDK costs about 0.3 s a process (its response types), before the first
request of every run and of every worker process; only the Batch API client uses it
(teachers/batch_api.py). tests/teachers/test_connection.py holds this module to the
SDK's own client over the settings and variables tinygen passes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import httpx2
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

import tinygen
from tinygen.teachers.bounded import ACCEPT_ENCODING
from tinygen.teachers.endpoints import OPENAI_URL
from tinygen.teachers.factory import AZURE_API_VERSION

CUSTOM_HEADERS_ENV = "OPENAI_CUSTOM_HEADERS"  # the SDK's: "Name: value" lines
ENV_HEADERS = {"OpenAI-Organization": "OPENAI_ORG_ID", "OpenAI-Project": "OPENAI_PROJECT_ID"}
JSON_CONTENT = {"Content-Type": "application/json", "Accept-Encoding": ACCEPT_ENCODING}


def chat_url(base_url: str | None, azure: bool, api_version: str | None) -> httpx2.URL:
    """The chat-completions URL: under `base_url`, else $OPENAI_BASE_URL, else
    api.openai.com; an Azure deployment's carries its api-version."""
    base = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
    params = {"api-version": api_version or AZURE_API_VERSION} if azure else {}
    return httpx2.URL(f"{base.rstrip('/')}/chat/completions", params=params)


def request_headers(api_key: str, azure: bool, headers: Mapping[str, str]) -> dict[str, str]:
    """Every request's headers: the organization and project the SDK reads from the
    environment, $OPENAI_CUSTOM_HEADERS, the user's `headers` over those, then the key
    (`api-key` for Azure, else a bearer token) and the JSON content headers."""
    sent = {"Accept": "application/json", "User-Agent": f"tinygen/{tinygen.__version__}"}
    sent |= {name: os.environ[var] for name, var in ENV_HEADERS.items() if var in os.environ}
    sent |= _custom_headers(os.environ.get(CUSTOM_HEADERS_ENV, ""))
    sent |= headers
    sent |= {"api-key": api_key} if azure else {"Authorization": f"Bearer {api_key}"}
    return sent | JSON_CONTENT


def _custom_headers(text: str) -> dict[str, str]:
    """$OPENAI_CUSTOM_HEADERS as the SDK reads it: one "Name: value" a line."""
    parsed = {}
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            parsed[name.strip()] = value.strip()
    return parsed


def http_client(
    concurrency: int, timeout: float, on_request: Callable | None = None
) -> httpx2.AsyncClient:
    """The SDK's aiohttp client: a pool of `concurrency` connections, redirects
    followed, `on_request` awaited as each request leaves."""
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    hooks = {"request": [on_request]} if on_request else {}
    return Httpx2AiohttpClient(
        limits=limits, timeout=timeout, event_hooks=hooks, follow_redirects=True
    )
