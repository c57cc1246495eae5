"""Choosing and building the teacher from the command's options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from tinygen.errors import UsageError
from tinygen.teachers.base import Teacher
from tinygen.teachers.limits import DEFAULT_CONCURRENCY

TeacherChoice = Literal["auto", "openai", "local"]
NO_KEY = "not-needed"
AZURE_DEPLOYMENT = "/openai/deployments/"  # in an Azure OpenAI deployment's URL
AZURE_API_VERSION = "2024-10-21"  # Azure OpenAI's generally available data-plane version


@dataclass(frozen=True)
class TeacherOptions:
    """What the user said about the teacher."""

    choice: TeacherChoice = "auto"
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY  # also the HTTP connection pool's size
    timeout: float = 120.0
    model_path: str | None = None
    rpm: float | None = None
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (values are secret)
    api_version: str | None = None  # Azure OpenAI's api-version
    pace_share: float = 1.0  # of the allowance a host announces (workers split it)

    def key(self) -> str | None:
        """The API key from the flag, else from $OPENAI_API_KEY (or, for Azure,
        $AZURE_OPENAI_API_KEY)."""
        azure = os.environ.get("AZURE_OPENAI_API_KEY") if self.is_azure() else None
        return self.api_key or os.environ.get("OPENAI_API_KEY") or azure or None

    def is_azure(self) -> bool:
        """Whether the endpoint is an Azure OpenAI deployment (or an api-version is set)."""
        return bool(self.api_version) or AZURE_DEPLOYMENT in (self.base_url or "")

    def resolved_choice(self) -> Literal["openai", "local"]:
        """`auto` means local unless an endpoint or a key is given."""
        if self.choice != "auto":
            return self.choice
        if self.model_path:
            return "local"
        return "openai" if self.base_url or self.key() else "local"

    def param_overrides(self) -> dict[str, object]:
        """Recipe fields this teacher replaces unless a flag sets them (dotted keys).

        The local 135M model needs its own sampling settings (it loops without a
        repetition penalty), and its model name comes from the GGUF file.
        """
        if self.resolved_choice() != "local":
            return {}
        from tinygen.teachers.local import LOCAL_DEFAULTS, local_model_name

        return {**LOCAL_DEFAULTS, "teacher.model": local_model_name(self.model_path)}


def make_teacher(options: TeacherOptions) -> Teacher:
    """Build the teacher the options describe."""
    if options.resolved_choice() == "local":
        from tinygen.teachers.local import LocalTeacher

        return LocalTeacher(options.model_path)
    from tinygen.teachers.openai_compat import OpenAITeacher

    key = options.key()
    if key is None and options.base_url is None:
        raise UsageError(
            "No API key for api.openai.com",
            "set OPENAI_API_KEY or pass --api-key, or pass --base-url for a local server",
        )
    return OpenAITeacher(
        base_url=options.base_url,
        api_key=key or NO_KEY,
        concurrency=options.concurrency,
        timeout=options.timeout,
        rpm=options.rpm,
        headers=dict(options.headers),
        api_version=options.api_version,
        azure=options.is_azure(),
        pace_share=options.pace_share,
    )
