"""The cost a report states: what the run recorded (the manifest's totals at its prices),
the same in the manifest, `tinygen stats --json` and the card; else a table estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli, gen_args
from tests.helpers import make_run
from tinygen.report.corpus import corpus_stats
from tinygen.report.cost import cost_text, estimate_cost, run_cost


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _stats_cost(out: Path) -> dict:
    code, stdout, _ = cli("stats", str(out), "--json")
    assert code == 0
    return json.loads(stdout)["tokens"]["cost"]


def _card(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def test_estimate_for_local_and_unknown_models(tmp_path):
    local = estimate_cost({"kind": "local", "model": "gpt-4o"}, 10, 10)
    assert local["usd"] is None and "local" in local["note"]
    stats = corpus_stats(make_run(tmp_path, ["hello"], model="qwen2.5"))
    assert stats["tokens"]["cost"]["usd"] is None
    assert stats["tokens"]["cost"]["note"] == "unknown"


def test_estimate_is_at_the_table_prices():
    cost = estimate_cost({"kind": "openai-compatible", "model": "gpt-4o-mini"}, 1000, 2000)
    assert cost["usd"] == pytest.approx((1000 * 0.15 + 2000 * 0.60) / 1e6)
    assert cost["price_per_1m"] == {
        "input": 0.15,
        "output": 0.6,
        "from": "table",
        "as": "gpt-4o-mini",
    }
    assert cost["recorded"] is False


def test_a_recorded_cost_wins_over_the_estimate():
    teacher = {"kind": "openai-compatible", "model": "gpt-4o-mini"}
    prices = {"input": 1.0, "output": 2.0, "from": "flags", "as": None}
    manifest = {"teacher": teacher, "totals": {"cost_usd": 0.25}, "prices": prices}
    cost = run_cost(manifest, 10**6, 10**6)
    assert (cost["usd"], cost["recorded"], cost["price_per_1m"]) == (0.25, True, prices)
    assert "--price-in" in cost["note"]
    varied = run_cost(manifest | {"prices": {"from": "varied"}}, 1, 1)
    assert varied["price_per_1m"] is None and "different prices" in varied["note"]
    unrecorded = run_cost(manifest | {"prices": None}, 1, 1)
    assert unrecorded["usd"] == 0.25 and "not recorded" in unrecorded["note"]
    for damaged in ({"cost_usd": "0.25"}, {"cost_usd": None}, "totals", {"cost_usd": True}):
        assert run_cost(manifest | {"totals": damaged}, 10**6, 0)["recorded"] is False


def test_cost_text():
    assert [cost_text({"usd": usd}) for usd in (0.0, 0.5, 0.135282, 1234.567)] == [
        "$0.00",
        "$0.50",
        "$0.135282",
        "$1,234.57",
    ]
    assert cost_text({"usd": None, "note": "unknown"}) == "unknown"


@pytest.mark.parametrize(
    ("flags", "prices"),
    [
        (
            ("--price-in", "1", "--price-out", "2"),
            {"input": 1.0, "output": 2.0, "from": "flags", "as": None},
        ),
        (
            ("--model", "gpt-4o-mini"),
            {"input": 0.15, "output": 0.6, "from": "table", "as": "gpt-4o-mini"},
        ),
    ],
)
def test_manifest_stats_and_card_state_the_same_cost(server, tmp_path, flags, prices):
    srv = server()
    code, _, _ = cli(*gen_args(srv.base_url, tmp_path, 12, *flags))
    assert code == 0
    manifest = _manifest(tmp_path)
    usd = manifest["totals"]["cost_usd"]
    totals = manifest["totals"]
    expected = (totals["prompt_tokens"] * prices["input"]) + (
        totals["completion_tokens"] * prices["output"]
    )
    assert usd == pytest.approx(expected / 1e6, abs=1e-6) and usd > 0  # rounded to 6 places
    assert manifest["prices"] == prices
    cost = _stats_cost(tmp_path)
    assert (cost["usd"], cost["recorded"], cost["price_per_1m"]) == (usd, True, prices)
    assert f"| cost | {cost_text(cost)} (recorded by the run" in _card(tmp_path)


def test_an_unknown_model_has_an_unknown_cost_everywhere(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path, 5))[0] == 0  # tiny.toml's "test-model"
    manifest = _manifest(tmp_path)
    assert manifest["totals"]["cost_usd"] is None and manifest["prices"] is None
    cost = _stats_cost(tmp_path)
    assert (cost["usd"], cost["note"], cost["recorded"]) == (None, "unknown", False)
    assert "| estimated cost | unknown |" in _card(tmp_path)


def test_sessions_at_different_prices_are_said_to_differ(server, tmp_path):
    srv = server()
    prices = ("--price-in", "1", "--price-out", "2")
    assert cli(*gen_args(srv.base_url, tmp_path, 4, *prices))[0] == 0
    assert cli(*gen_args(srv.base_url, tmp_path, 8, *prices))[0] == 0  # resumed, same prices
    assert _manifest(tmp_path)["prices"]["from"] == "flags"
    assert cli(*gen_args(srv.base_url, tmp_path, 12))[0] == 0  # resumed with no prices
    manifest = _manifest(tmp_path)
    assert manifest["sessions"] == 3 and manifest["prices"]["from"] == "varied"
    cost = _stats_cost(tmp_path)
    assert cost["usd"] == manifest["totals"]["cost_usd"] > 0
    assert cost["price_per_1m"] is None and "different prices" in cost["note"]
