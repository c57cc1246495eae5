"""Shared test helpers: the loopback OpenAI server, running the CLI, reading a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.openai_server import run_server
from tinygen.cli import app

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent  # the checkout
TINY = str(DATA / "tiny.toml")
KEY = "sk-test-SECRET-1234567890"


@pytest.fixture
def server():
    """Start a loopback chat-completions server with the given flags."""
    handles = []

    def start(*args: str):
        context = run_server("--port", "0", *args)
        handle = context.__enter__()
        handles.append(context)
        return handle

    yield start
    for context in handles:
        context.__exit__(None, None, None)


def cli(*args: str) -> tuple[int, str, str]:
    """Run the tinygen CLI in-process; return exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def gen_args(base_url: str, out: Path, n: int, *extra: str, recipe: str = TINY) -> list[str]:
    """Arguments of a quiet `tinygen generate` against `base_url`."""
    return [
        "generate",
        recipe,
        "-n",
        str(n),
        "--out",
        str(out),
        "--base-url",
        base_url,
        "--api-key",
        KEY,
        "--quiet",
        *extra,
    ]


def run_cli_subprocess(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m tinygen` in a subprocess (for signals and real exit codes)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tinygen", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file, parsed (fails on a torn or invalid line)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path} ends with a torn line"
    return [json.loads(line) for line in text.splitlines()]


def shard_records(out: Path) -> list[dict]:
    """All accepted records of a run directory, shard by shard."""
    records = []
    for shard in sorted((out / "data").glob("part-*.jsonl")):
        records += read_jsonl(shard)
    return records


def wait_for_requests(srv, count: int, timeout: float = 30.0) -> None:
    """Block until the server has seen `count` requests (the run is under way)."""
    deadline = time.monotonic() + timeout
    while len(srv.requests()) < count:
        assert time.monotonic() < deadline, "the run never reached the server"
        time.sleep(0.05)
