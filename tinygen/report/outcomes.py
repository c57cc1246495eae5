"""What the statistics count of every record (tokens, finish reasons, features, judge
scores, rejects and failures by kind), and a run's tally of it.

`corpus_stats` counts by reading a run's files; a run keeps the same counts as it reads
(on resume) and writes records (`RunTally`), so its end rereads nothing. During a run the
records are encoded lines, made in worker processes: each comes with `outcome_fields`,
the few fields these counts read.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Protocol

from tinygen.report.scores import JudgeScores
from tinygen.rundir.layout import ACCEPTED_KIND, REJECTED_KIND


def outcome_fields(record: dict) -> dict:
    """The fields of `record` that `Outcomes` reads, and only those."""
    fields = {key: record[key] for key in ("usage", "finish_reason", "reason") if key in record}
    if (judge := (record.get("checks") or {}).get("judge")) is not None:
        fields["checks"] = {"judge": judge}
    if (features := (record.get("variables") or {}).get("features")) is not None:
        fields["variables"] = {"features": features}
    if isinstance(error := record.get("error"), dict):
        fields["error"] = {"kind": error.get("kind")}
    return fields


class Outcomes:
    """Tokens and finish reasons of accepted records; rejects and failures by kind."""

    def __init__(self) -> None:
        self.tokens = Counter[str]()
        self.finish = Counter[str]()
        self.features = Counter[str]()
        self.features_per_record = Counter[int]()
        self.rejected = Counter[str]()
        self.failed = Counter[str]()
        self.no_usage = 0
        self.judge = JudgeScores()

    def add_usage(self, record: dict, prefix: str) -> None:
        usage = record.get("usage") or {}
        if usage.get("completion_tokens") is None:
            self.no_usage += prefix == "accepted"
        self.tokens[f"{prefix}_prompt"] += usage.get("prompt_tokens") or 0
        self.tokens[f"{prefix}_completion"] += usage.get("completion_tokens") or 0

    def add_accepted(self, record: dict) -> None:
        self.add_usage(record, "accepted")
        self.finish[str(record.get("finish_reason"))] += 1
        self.judge.add(record, accepted=True)
        features = (record.get("variables") or {}).get("features") or []
        self.features.update(features)
        self.features_per_record[len(features)] += 1

    def add_rejected(self, record: dict) -> None:
        self.rejected[str(record.get("reason"))] += 1
        self.add_usage(record, "rejected")
        self.judge.add(record, accepted=False)

    def add_failed(self, record: dict) -> None:
        self.failed[str((record.get("error") or {}).get("kind"))] += 1


class TextSample(Protocol):
    """Where a run's first `sample` accepted records go whole (the card's text figures:
    `corpus.SampleTexts`)."""

    sample: int

    def add(self, record: dict) -> None: ...


class RunTally:
    """A run's outcomes, counted as it reads and writes its records; its first accepted
    records go whole to `texts`, as they come, as many as it samples."""

    def __init__(self, texts: TextSample) -> None:
        self.texts = texts
        self.outcomes = Outcomes()
        self.accepted = 0
        self.gathered = 0

    def add(self, kind: str, fields: dict, line: str | None = None) -> None:
        """Count one record of `kind` (rundir/layout.py's kinds) from its outcome fields
        (or the whole record); an accepted record's `line` is read only for the sample."""
        if kind == ACCEPTED_KIND:
            self.accepted += 1
            self.outcomes.add_accepted(fields)
            if self.gathered < self.texts.sample:
                self.gathered += 1
                self.texts.add(fields if line is None else json.loads(line))
        elif kind == REJECTED_KIND:
            self.outcomes.add_rejected(fields)
        else:
            self.outcomes.add_failed(fields)
