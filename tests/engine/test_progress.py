from tinygen.engine.progress import LIMIT_NOTE_EVERY, LimitNotes


def test_a_limit_is_noted_when_its_kind_of_reason_changes_and_once_a_minute() -> None:
    notes = LimitNotes()
    reasons = [
        (0.0, "", False),  # at the maximum from the start: nothing to say
        (0.1, "starting", True),
        (0.2, "latency x3.2", True),
        (0.3, "latency x3.6", False),  # the same kind, moving: not every move
        (0.4, "latency x3.6", False),
        (LIMIT_NOTE_EVERY + 0.3, "latency x3.1", True),  # a minute on: noted again
        (LIMIT_NOTE_EVERY + 0.4, "429s (16 of the last 100)", True),
        (LIMIT_NOTE_EVERY + 0.5, "", True),  # back at the maximum
        (LIMIT_NOTE_EVERY + 0.6, "latency x4.0", True),
    ]
    assert [notes.due(reason, at) for at, reason, _due in reasons] == [
        due for _at, _reason, due in reasons
    ]
