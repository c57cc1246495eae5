"""run.log: one timestamped line per event, appended across sessions, secrets masked."""

from __future__ import annotations

import re

from tinygen.rundir.runlog import RunLog, utc_now
from tinygen.text.redact import MASK, register_secret

LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00) (.*)")


def lines(out) -> list[str]:
    return (out / "run.log").read_text(encoding="utf-8").splitlines()


def test_each_message_is_one_timestamped_line(tmp_path):
    log = RunLog(tmp_path)
    log.info("first")
    log.info("second")
    assert [LINE.fullmatch(line)[2] for line in lines(tmp_path)] == ["first", "second"]
    log.close()


def test_lines_are_flushed_at_once_and_sessions_append(tmp_path):
    first = RunLog(tmp_path)
    first.info("session one")
    assert len(lines(tmp_path)) == 1  # on disk before close
    first.close()
    second = RunLog(tmp_path)
    second.info("session two")
    second.close()
    assert [LINE.fullmatch(line)[2] for line in lines(tmp_path)] == ["session one", "session two"]


def test_registered_secrets_are_masked(tmp_path):
    secret = "sk-runlog-test-ABCDEFGH"
    register_secret(secret)
    log = RunLog(tmp_path)
    log.info(f"401: Incorrect API key provided: {secret}; again {secret}")
    log.close()
    assert LINE.fullmatch(lines(tmp_path)[0])[2] == (
        f"401: Incorrect API key provided: {MASK}; again {MASK}"
    )
    assert secret not in (tmp_path / "run.log").read_text(encoding="utf-8")


def test_a_log_without_a_dir_writes_nothing(tmp_path):
    log = RunLog(None)
    log.info("nowhere")
    log.close()
    assert list(tmp_path.iterdir()) == []


def test_utc_now_is_iso_seconds():
    assert LINE.fullmatch(utc_now() + " x")
