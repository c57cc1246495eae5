"""RunStats: the outcome counts and this session's traffic, as the manifest shows them."""

from __future__ import annotations

from collections import Counter

import pytest

from tinygen.engine.counters import RunStats
from tinygen.teachers.limits import Budget, Gate
from tinygen.teachers.prices import Prices


def stats(gate: Gate | None = None, **fields) -> RunStats:
    gate = gate or Gate.unlimited()
    gate.tally(12, 0, 0)  # the gate counts the requests
    return RunStats(
        target=10,
        accepted=4,
        rejected=Counter({"near_duplicate": 1, "empty": 2, "duplicate": 3}),
        failed=Counter({"timeout": 1}),
        retries=Counter({"server_error": 2, "rate_limit": 5}),
        prompt_tokens=100,
        completion_tokens=250,
        gate=gate,
        **fields,
    )


def test_outcomes_count_every_item_and_sort_the_kinds():
    outcomes = stats().outcomes()
    assert outcomes == {
        "target": 10,
        "accepted": 4,
        "rejected": 6,
        "duplicates": 4,
        "failed": 1,
        "rejected_by_reason": {"duplicate": 3, "empty": 2, "near_duplicate": 1},
        "failed_by_kind": {"timeout": 1},
        "retries_by_kind": {"rate_limit": 5, "server_error": 2},
    }
    assert list(outcomes["rejected_by_reason"]) == ["duplicate", "empty", "near_duplicate"]


def test_summary_adds_traffic_and_no_cost_without_prices():
    summary = stats().summary()
    assert summary.items() >= stats().outcomes().items()
    assert (summary["requests"], summary["prompt_tokens"], summary["completion_tokens"]) == (
        12,
        100,
        250,
    )
    assert summary["cost_usd"] is None
    assert stats(gate=Gate.unlimited()).summary()["cost_usd"] is None
    assert summary["elapsed_s"] >= 0


def test_cost_comes_from_a_priced_gate():
    gate = Gate(Budget(), Prices(per_m_in=1.0, per_m_out=2.0))
    gate.cost = 0.12345678
    assert stats(gate=gate).summary()["cost_usd"] == 0.123457


def test_eta_needs_records_from_this_session():
    assert stats(resumed_accepted=4).eta_seconds() is None
    timed = stats(resumed_accepted=2)
    timed.started -= 10.0  # two new records in about ten seconds, six to go
    assert timed.eta_seconds() == pytest.approx(30.0, rel=0.05)
