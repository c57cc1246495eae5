"""Choosing and building the teacher from the command's options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tinygen.errors import UsageError
from tinygen.teachers.endpoints import EndpointSpec, endpoint_host

if TYPE_CHECKING:  # this module stays light: the command line's help reads its defaults
    from tinygen.teachers.base import Teacher
    from tinygen.teachers.limits import RequestPacer

DEFAULT_CONCURRENCY = 64  # requests at once, unless --concurrency says otherwise
DEFAULT_PATIENCE = 60.0  # seconds every endpoint may be down before the run stops
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
    endpoints: tuple[EndpointSpec, ...] = ()  # when several: base_url is the first one's
    patience: float = DEFAULT_PATIENCE  # seconds every endpoint may be down before a stop
    judge: EndpointSpec | None = None  # where the judge asks, if not the teacher's endpoints

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


def make_teacher(options: TeacherOptions, *, asked_here: bool = True) -> Teacher:
    """Build the teacher the options describe; `asked_here=False` (worker processes ask
    it): a stand-in that describes it, checked as the teacher is but with no HTTP client."""
    if options.resolved_choice() == "local":
        from tinygen.teachers.local import LocalTeacher

        return LocalTeacher(options.model_path)
    key = options.key()
    if key is None and options.base_url is None:
        raise UsageError(
            "No API key for api.openai.com",
            "set OPENAI_API_KEY or pass --api-key, or pass --base-url for a local server",
        )
    if options.is_azure() and not options.base_url:
        raise UsageError(
            "--api-version is for an Azure OpenAI deployment, and no --base-url names one",
            "pass --base-url https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT",
        )
    if not asked_here:
        return _stand_in(options, key)
    if len(options.endpoints) > 1:
        return _routed_teacher(options, key)
    return _endpoint_teacher(options, options.base_url, key, options.concurrency)


def make_judge_teacher(options: TeacherOptions) -> Teacher | None:
    """The judge's own endpoint (`--judge-url`), or None: the judge asks the teacher. Its
    `model=` setting names the judge's model there."""
    spec = options.judge
    if spec is None:
        return None
    from tinygen.teachers.router import Endpoint, RoutedTeacher

    key = spec.key(options.key())
    teacher = _endpoint_teacher(options, spec.url, key, spec.concurrency or options.concurrency)
    endpoint = Endpoint(spec.label, teacher, model=spec.model, concurrency=spec.concurrency)
    return RoutedTeacher([endpoint], options.patience)


def _endpoint_teacher(
    options: TeacherOptions,
    url: str | None,
    key: str | None,
    concurrency: int,
    pacer: RequestPacer | None = None,
) -> Teacher:
    from tinygen.teachers.openai_compat import OpenAITeacher

    return OpenAITeacher(
        base_url=url,
        api_key=key or NO_KEY,
        concurrency=concurrency,
        timeout=options.timeout,
        rpm=None if pacer else options.rpm,
        pacer=pacer,
        headers=dict(options.headers),
        api_version=options.api_version,
        azure=options.is_azure() or AZURE_DEPLOYMENT in (url or ""),
        pace_share=options.pace_share,
    )


def _routed_teacher(options: TeacherOptions, key: str | None) -> Teacher:
    """One teacher over every endpoint: the rate (--rpm) is shared, each endpoint's
    connection pool is as large as its cap (or the run's concurrency)."""
    from tinygen.teachers.limits import RequestPacer
    from tinygen.teachers.router import Endpoint, RoutedTeacher

    pacer = RequestPacer(options.rpm) if options.rpm else None
    labels = _labels(options.endpoints)
    endpoints = [
        Endpoint(
            label,
            _endpoint_teacher(
                options, spec.url, spec.key(key), spec.concurrency or options.concurrency, pacer
            ),
            model=spec.model,
            share=spec.share,
            concurrency=spec.concurrency,
        )
        for spec, label in zip(options.endpoints, labels, strict=True)
    ]
    return RoutedTeacher(endpoints, options.patience)


def _stand_in(options: TeacherOptions, key: str | None) -> Teacher:
    """What `make_teacher` would describe, with the same secrets masked in this process."""
    from tinygen.teachers.offline import AskedElsewhere
    from tinygen.text.redact import register_secret

    keys = [spec.key(key) for spec in options.endpoints] or [key]
    for secret in [*keys, *(value for _, value in options.headers)]:
        register_secret(secret)
    several = len(options.endpoints) > 1
    hosts = _labels(options.endpoints) if several else [endpoint_host(options.base_url)]
    return AskedElsewhere({"kind": "openai-compatible", "host": ", ".join(hosts)})


def _labels(specs: tuple[EndpointSpec, ...]) -> list[str]:
    """host:port for each endpoint, or its whole URL where two share a host."""
    hosts = [spec.label for spec in specs]
    return [spec.label if hosts.count(spec.label) == 1 else spec.url for spec in specs]
