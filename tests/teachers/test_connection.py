"""teachers/connection.py builds the URL and headers the openai SDK's client builds."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

from tinygen.errors import UsageError
from tinygen.teachers.bounded import ACCEPT_ENCODING
from tinygen.teachers.factory import AZURE_API_VERSION, TeacherOptions, make_teacher
from tinygen.teachers.openai_compat import OpenAITeacher

SDK_OWN = ("user-agent", "x-stainless-")  # the SDK's telemetry, not the endpoint's business
AZURE_URL = "https://res.openai.azure.com/openai/deployments/gpt4o"
ENVIRONMENTS = {
    "none": {},
    "base url": {"OPENAI_BASE_URL": "http://env-host:9000/v1/"},
    "org and project": {"OPENAI_ORG_ID": "org-7", "OPENAI_PROJECT_ID": "proj-7"},
    "custom headers": {"OPENAI_CUSTOM_HEADERS": "X-Team: data\nX-Run:  42 \nnot a header"},
}
SETTINGS = {
    "api.openai.com": (None, False, None, {}),
    "a local server": ("http://127.0.0.1:8000/v1", False, None, {}),
    "a trailing slash": ("http://127.0.0.1:8000/v1/", False, None, {}),
    "extra headers": ("https://openrouter.ai/api/v1", False, None, {"HTTP-Referer": "x"}),
    "a header over the environment's": ("http://h/v1", False, None, {"X-Team": "mine"}),
    "azure": (AZURE_URL, True, None, {}),
    "azure with a version": (AZURE_URL, True, "2025-01-01-preview", {"X-A": "1"}),
}


def sdk_request(base_url, azure, api_version, headers) -> tuple[str, dict[str, str]]:
    """The chat-completions URL and headers of the SDK's client for the same settings
    (the SDK's own User-Agent and telemetry headers aside)."""
    if azure:
        client = openai.AsyncAzureOpenAI(
            api_key="sk-test",
            api_version=api_version or AZURE_API_VERSION,
            base_url=base_url,
            max_retries=0,
            default_headers=headers,
        )
    else:
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=base_url, max_retries=0, default_headers=headers
        )
    request = client._build_request(
        openai._models.FinalRequestOptions(method="post", url="/chat/completions", json_data={})
    )
    return str(request.url), _endpoint_headers(request.headers)


def our_request(base_url, azure, api_version, headers) -> tuple[str, dict[str, str]]:
    """The URL and headers of the requests the teacher sends."""
    teacher = OpenAITeacher(
        base_url=base_url,
        api_key="sk-test",
        concurrency=4,
        timeout=5,
        headers=headers,
        api_version=api_version,
        azure=azure,
    )
    request = teacher._request(b"{}")
    assert request.headers["user-agent"].startswith("tinygen/")
    assert request.headers["accept-encoding"] == ACCEPT_ENCODING
    return str(request.url), _endpoint_headers(request.headers)


def _endpoint_headers(headers) -> dict[str, str]:
    skipped = ("content-length", "accept-encoding")  # the SDK's come with the body it sends
    return {
        name.lower(): value
        for name, value in headers.items()
        if not name.lower().startswith(SDK_OWN) and name.lower() not in skipped
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("setting", SETTINGS)
def test_url_and_headers_are_the_sdks(setting, environment, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENTS[environment].items():
        monkeypatch.setenv(name, value)
    assert our_request(*SETTINGS[setting]) == sdk_request(*SETTINGS[setting])


def test_azure_version_without_a_deployment_url_names_the_fix():
    with pytest.raises(UsageError) as refused:
        make_teacher(TeacherOptions(api_key="k", api_version="2024-10-21"))
    assert "--base-url https://RESOURCE.openai.azure.com" in refused.value.hint


def test_the_request_path_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from tinygen.teachers.factory import TeacherOptions, make_teacher\n"
        "teacher = make_teacher(TeacherOptions(base_url='http://127.0.0.1:9/v1'))\n"
        "assert type(teacher).__name__ == 'OpenAITeacher', teacher\n"
        "print('openai' in sys.modules)\n"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert imported.stdout.strip() == "False", imported.stderr
