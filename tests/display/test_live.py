"""The live status: what stays visible as the terminal narrows."""

from __future__ import annotations

import pytest

from tinygen.display.live import Status, eta_text, lines_of

RUN = Status(
    "stories",
    212,
    300,
    "42.8 req/s",
    12.3,
    must=["rejected 31 (too_short 20, cut_off 11)", "failed 2"],
    more=["dups 4", "retries 2", "$0.0123", "5400 tok/s", "in flight 64", "limit 64/128 (429)"],
)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_the_important_fields_fit_every_width(width):
    first, second = lines_of(RUN, width)
    assert "212/300" in first and "42.8 req/s" in first and "ETA 12s" in first
    assert "rejected 31" in second and "failed 2" in second
    assert max(len(first), len(second)) <= width


def test_the_bar_and_title_take_the_room_that_is_left():
    first, _ = lines_of(RUN, 80)
    assert first.startswith("stories █") and "░" in first
    bar = first.count("█") + first.count("░")
    assert bar >= 30 and abs(first.count("█") / bar - 212 / 300) < 0.03
    narrow, _ = lines_of(RUN, 40)
    assert "█" not in narrow and not narrow.startswith("stories")


def test_less_important_fields_go_first():
    _, at_80 = lines_of(RUN, 80)
    _, at_200 = lines_of(RUN, 200)
    assert "dups 4" in at_80 and "limit 64/128" not in at_80
    assert "limit 64/128 (429)" in at_200 and "in flight 64" in at_200
    _, at_30 = lines_of(RUN, 30)
    assert at_30 == "rejected 31 · failed 2"  # details dropped before the fields


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "ETA ?"), (4.4, "ETA 4s"), (99, "ETA 99s"), (600, "ETA 10m"), (7500, "ETA 2h05m")],
)
def test_eta_is_short(seconds, text):
    assert eta_text(seconds) == text


def test_no_total_shows_the_count_alone():
    first, _ = lines_of(Status("dedup", 12, None, "900 docs/s", None, unit="MiB"), 80)
    assert first.startswith("12 MiB") and "ETA ?" in first
