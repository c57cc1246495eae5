"""The judge's scores in a corpus (`checks.judge` of each judged record): how many were
judged, the mean of each score, and how the records' mean scores are distributed."""

from __future__ import annotations

import math
from collections import Counter

from tinygen.report.measures import ratio, share


class JudgeScores:
    """Collects the judge's figures of accepted and rejected records."""

    def __init__(self) -> None:
        self.judged = 0
        self.accepted = 0
        self.mean_sum = 0.0
        self.sums: Counter[str] = Counter()
        self.means: Counter[int] = Counter()  # records by their mean score, rounded down

    def add(self, record: dict, accepted: bool) -> None:
        judge = (record.get("checks") or {}).get("judge")
        if not isinstance(judge, dict) or not isinstance(judge.get("scores"), dict):
            return
        mean = judge.get("mean")
        if not isinstance(mean, int | float):
            return
        self.judged += 1
        self.accepted += accepted
        self.sums.update({k: v for k, v in judge["scores"].items() if isinstance(v, int | float)})
        self.mean_sum += mean
        self.means[math.floor(mean)] += 1

    def result(self) -> dict[str, object]:
        """The section `judge` of `tinygen stats` (empty when nothing was judged)."""
        if not self.judged:
            return {}
        return {
            "judged": self.judged,
            "judged_accepted": self.accepted,
            "mean": ratio(self.mean_sum, self.judged),
            "score_means": {k: ratio(v, self.judged) for k, v in self.sums.items()},
            "distribution": {
                str(bucket): {"records": count, "share": share(count, self.judged)}
                for bucket, count in sorted(self.means.items())
            },
        }
