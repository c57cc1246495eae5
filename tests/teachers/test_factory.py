"""Building the teacher from the options: the real one, and the main process's stand-in
when worker processes ask."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from tinygen.errors import UsageError
from tinygen.teachers.endpoints import parse_endpoints
from tinygen.teachers.factory import TeacherOptions, make_teacher
from tinygen.text.redact import redact

KEY = "sk-factory-SECRET-0987654321"


def _options(*urls: str, **fields) -> TeacherOptions:
    endpoints = parse_endpoints(list(urls)) if urls else ()
    base = endpoints[0].url if endpoints else None
    return TeacherOptions(base_url=base, endpoints=endpoints, **fields)


@pytest.mark.parametrize(
    "urls",
    [
        ("http://127.0.0.1:8000/v1",),
        ("http://gpu1:8000/v1", "http://gpu2:8001/v1"),
        ("http://gpu1:8000/v1", "http://gpu1:8000/other/v1"),  # a shared host: whole URLs
        ("https://res.openai.azure.com/openai/deployments/d",),
        (),  # api.openai.com
    ],
)
def test_the_stand_in_describes_the_teacher_as_the_teacher_does(urls):
    options = _options(*urls, api_key=KEY)
    real = make_teacher(options)
    try:
        assert make_teacher(options, asked_here=False).describe() == real.describe()
    finally:
        asyncio.run(real.aclose())


def test_the_stand_in_masks_the_keys_and_headers_the_teacher_would(monkeypatch):
    monkeypatch.setenv("GPU2_KEY", "sk-gpu2-SECRET-1122334455")
    key, header = "sk-standin-SECRET-6677889900", "gateway-SECRET-5566778899"  # this test's own
    options = _options(
        "http://gpu1:8000/v1",
        "http://gpu2:8000/v1 key-env=GPU2_KEY",
        api_key=key,
        headers=(("X-Gateway-Key", header),),
    )
    make_teacher(options, asked_here=False)
    said = redact(f"{key} sk-gpu2-SECRET-1122334455 {header}")
    assert "SECRET" not in said


def test_the_stand_in_refuses_what_the_teacher_refuses(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="No API key"):
        make_teacher(TeacherOptions(choice="openai"), asked_here=False)
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    options = _options("http://a:1/v1", "http://b:1/v1 key-env=UNSET_KEY_VAR", api_key=KEY)
    with pytest.raises(UsageError, match="key-env=UNSET_KEY_VAR"):
        make_teacher(options, asked_here=False)


def test_the_stand_in_loads_no_http_client():
    code = (
        "import sys; from tinygen.teachers.factory import TeacherOptions, make_teacher; "
        "make_teacher(TeacherOptions(base_url='http://x:1/v1'), asked_here=False); "
        "print(sorted({'openai', 'httpx2', 'aiohttp'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
