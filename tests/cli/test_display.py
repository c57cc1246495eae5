"""The live display in a real terminal: tmux at 80 and 120 columns, the screen captured
while a run is under way."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import KEY, TINY

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=10)
    return done.stdout


def screen_during_run(command: list[str], width: int, wanted: re.Pattern) -> list[str]:
    """Run `command` in a detached tmux window `width` columns wide; return the screen's
    lines once a line matches `wanted` (or fail after 60 s)."""
    socket = f"tinygen-test-{uuid.uuid4().hex[:8]}"
    shell = " ".join(map(shlex.quote, command)) + "; sleep 30"
    tmux(socket, "new-session", "-d", "-x", str(width), "-y", "24", shell)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = tmux(socket, "capture-pane", "-p").splitlines()
            if any(wanted.search(line) for line in screen):
                return screen
            time.sleep(0.2)
        pytest.fail("the display never showed:\n" + "\n".join(screen))
    finally:
        tmux(socket, "kill-server")


@pytest.mark.parametrize("width", [80, 120])
def test_the_run_display_fits_the_terminal(server, tmp_path, width):
    srv = server("--delay-ms", "40")
    command = [sys.executable, "-m", "tinygen", "generate", TINY, "-n", "300"]
    command += ["--out", str(tmp_path / "run"), "--base-url", srv.base_url, "--api-key", KEY]
    command += ["--concurrency", "4", "--workers", "1"]
    wanted = re.compile(r"█+░+ *\d+/300 +\d+% +[\d.]+ req/s +ETA \d+")
    screen = screen_during_run(command, width, wanted)
    bar = next(i for i, line in enumerate(screen) if wanted.search(line))
    assert screen[bar].startswith("tiny █")
    assert re.match(r"rejected \d+ .*failed \d+", screen[bar + 1])
    assert all(len(line) <= width for line in screen)
    assert KEY not in "\n".join(screen)


def test_the_dedup_display_fits_80_columns(tmp_path):
    records = tmp_path / "in.jsonl"
    with records.open("w", encoding="utf-8") as out:
        for n in range(300_000):
            out.write(f'{{"text": "story {n} about a cat and a dog who play {n % 977}"}}\n')
    command = [sys.executable, "-m", "tinygen", "dedup", str(records), "--out", str(tmp_path / "d")]
    wanted = re.compile(r"^dedup █*░* *\d+/\d+ MiB +\d+% +[\d,]+ docs/s +ETA")
    screen = screen_during_run(command, 80, wanted)
    line = next(i for i, text in enumerate(screen) if wanted.search(text))
    assert screen[line + 1].startswith("kept ") and "removed " in screen[line + 1]
    assert all(len(text) <= 80 for text in screen)
