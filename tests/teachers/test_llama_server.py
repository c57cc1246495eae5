"""`tinygen generate --base-url` against llama-cpp-python's own OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TINY, read_jsonl, run_cli_subprocess, shard_records

STARTUP_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"llama_cpp.server did not answer in {STARTUP_TIMEOUT_S}s")


@pytest.fixture
def llama_server(tmp_path) -> Iterator[str]:
    """Start `python -m llama_cpp.server` with the shipped GGUF; yield its /v1 URL."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("uvicorn", reason="needs llama-cpp-python[server]")
    pytest.importorskip("starlette_context", reason="needs llama-cpp-python[server]")
    from tinygen.teachers.local import default_model_path
    from tinygen.text.cores import available_cores

    port = _free_port()
    log = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(available_cores()),
        "--verbose",
        "False",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_generate_against_llama_cpp_server(llama_server, tmp_path):
    out = tmp_path / "run"
    result = run_cli_subprocess(
        [
            "generate",
            TINY,
            "-n",
            "2",
            "--out",
            str(out),
            "--base-url",
            llama_server,
            "--model",
            "smollm2",
            "--max-tokens",
            "120",
            "--max-items",
            "3",
            "--quiet",
            "--json",
            "--concurrency",
            "2",
            "--temperature",
            "0.7",
            "--top-p",
            "0.9",
        ],
        timeout=120,
    )
    assert result.returncode in (0, 3), result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0
    outcomes = shard_records(out) + read_jsonl(out / "rejected.jsonl")
    assert len(outcomes) >= 2
    for record in outcomes:
        assert record["teacher"]["kind"] == "openai-compatible"
        assert record["teacher"]["host"] == llama_server.split("/")[2]
        assert record["teacher"]["model"] == "smollm2"
        assert record["usage"]["completion_tokens"] > 0
    assert all(r["text"].strip() for r in shard_records(out))
