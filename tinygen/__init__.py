"""tinygen: build synthetic training corpora for small language models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tinygen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+src"

SCHEMA_VERSION = 1
