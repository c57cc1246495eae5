"""Several endpoints of one teacher: how each is given on the command line.

`--base-url` may be repeated. Each value is a URL, optionally followed (after a space)
by settings for that endpoint alone:

    --base-url 'http://gpu1:8000/v1 model=llama-3-8b key-env=GPU1_KEY share=2 concurrency=32'

`model` is the name that endpoint serves the recipe's model under (vLLM's
--served-model-name); `key-env` names the environment variable holding its key (a key
itself never goes on a command line); `share` weighs how many requests it gets against
the others (default 1); `concurrency` caps its requests at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from tinygen.errors import UsageError

SETTINGS = ("model", "key-env", "share", "concurrency")
OPENAI_URL = "https://api.openai.com/v1"  # the SDK's endpoint when none is given
_HINT = (
    "write --base-url 'URL model=NAME key-env=VAR share=N concurrency=N' (every setting optional)"
)


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint as the user gave it."""

    url: str
    model: str | None = None  # the recipe's model under another name here
    key_env: str | None = None  # the environment variable holding this endpoint's key
    share: float = 1.0
    concurrency: int | None = None  # requests at once here, at most

    @property
    def label(self) -> str:
        """host:port, the name records, the display and the manifest use."""
        return endpoint_host(self.url)

    def has_settings(self) -> bool:
        """Whether anything beyond the URL was given."""
        return self != EndpointSpec(self.url)

    def key(self, default: str | None) -> str | None:
        """This endpoint's key: from its `key-env` variable, else the run's key."""
        if self.key_env is None:
            return default
        key = os.environ.get(self.key_env)
        if not key:
            raise UsageError(
                f"--base-url {self.url}: key-env={self.key_env} names an unset variable",
                f"export {self.key_env}=... before the run, or drop key-env to use the run's key",
            )
        return key

    def split(self, k: int, count: int) -> EndpointSpec:
        """Worker k of `count`'s part of this endpoint's concurrency cap."""
        if self.concurrency is None:
            return self
        cap = self.concurrency // count + (1 if k < self.concurrency % count else 0)
        return replace(self, concurrency=max(cap, 1))


def endpoint_host(url: str | None) -> str:
    """host:port of an endpoint's URL, without any user:password@ (the SDK's default,
    api.openai.com or $OPENAI_BASE_URL, when there is none)."""
    url = url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
    return urlsplit(url).netloc.rpartition("@")[2] or url


def parse_endpoint(text: str) -> EndpointSpec:
    """An endpoint from one `--base-url` value (a URL and optional NAME=VALUE settings)."""
    url, *settings = text.split()
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url {url!r} is not an http(s) URL", _HINT)
    fields: dict[str, object] = {}
    for setting in settings:
        name, equals, value = setting.partition("=")
        if not equals or name not in SETTINGS or not value:
            raise UsageError(
                f"--base-url {url}: {setting!r} is not one of {', '.join(SETTINGS)}", _HINT
            )
        fields[name.replace("-", "_")] = _value(url, name, value)
    return EndpointSpec(url, **fields)  # type: ignore[arg-type]


def _value(url: str, name: str, value: str) -> object:
    if name not in ("share", "concurrency"):
        return value
    try:
        number = float(value) if name == "share" else int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise UsageError(f"--base-url {url}: {name}={value} is not a positive number", _HINT)
    return number


def parse_endpoints(values: list[str]) -> tuple[EndpointSpec, ...]:
    """Every `--base-url` value; several need distinct URLs, one takes no settings."""
    specs = tuple(parse_endpoint(value) for value in values)
    urls = [spec.url.rstrip("/") for spec in specs]
    if len(set(urls)) < len(urls):
        twice = next(url for url in urls if urls.count(url) > 1)
        raise UsageError(f"--base-url {twice} is given twice", "give each endpoint once")
    if len(specs) == 1 and specs[0].has_settings():
        raise UsageError(
            "endpoint settings are for several --base-url",
            "with one endpoint use --model, --api-key and --concurrency",
        )
    return specs
