"""The HTML report: self-contained, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import cli
from tests.helpers import make_run, story_run

CHROMIUM = shutil.which("chromium")
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"  # nothing may load from a network


def two_runs(tmp_path):
    a = story_run(tmp_path / "a")
    b = make_run(tmp_path / "b", ["Ana ran home.", "Then Ana sang."], name="other")
    (a / "rejected.jsonl").write_text(
        '{"index": 9, "reason": "too_short", "detail": "12 words < 50", "text": "Tiny <b>x</b>"}\n'
        '{"index": 10, "reason": "cut_off", "detail": "finish_reason length", "text": "And"}\n',
        encoding="utf-8",
    )
    return a, b


def test_the_report_holds_everything_inline(tmp_path):
    a, b = two_runs(tmp_path)
    out = tmp_path / "report.html"
    code, _, err = cli("stats", str(a), str(b), "--html", str(out))
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://|<script|<link|<img|@import|url\(", page)
    assert page.count("<svg") == 6  # A's four charts; B has no word lists and no rejects
    assert "<p>no word lists</p>" in page and "<p>none rejected</p>" in page
    assert "A: hand" in page and "B: other" in page
    assert "Tiny &lt;b&gt;x&lt;/b&gt;" in page  # texts are escaped, never markup
    assert 'data-reason="too_short"' in page and 'data-reason="cut_off"' in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_renders_the_report(tmp_path):
    a, b = two_runs(tmp_path)
    out = tmp_path / "report.html"
    assert cli("stats", str(a), str(b), "--html", str(out))[0] == 0
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", OFFLINE]
    dom = subprocess.run(
        [*browser, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    accepted = re.findall(r'data-figure="accepted">([\d,]+)<', dom)
    assert accepted == ["4", "2"]
    assert re.findall(r'data-reason="([a-z_]+)"', dom) == ["cut_off", "too_short"]
    assert dom.count("<polyline") >= 2 and "Sample records" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*browser, f"--screenshot={shot}", "--window-size=1280,1600", out.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 30_000  # a drawn page, not a blank one
