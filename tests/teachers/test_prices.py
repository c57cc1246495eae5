"""Prices: the table lookup, the flags, and the one cost formula."""

from __future__ import annotations

import pytest

from tinygen.teachers.prices import Prices, price_entry, prices_for, table_prices


def test_prices_match_model_names():
    assert price_entry("gpt-4o-mini-2024-07-18")[0] == "gpt-4o-mini"
    assert price_entry("openai/gpt-4o")[0] == "gpt-4o"
    assert price_entry("llama3.2") is None


def test_flags_win_over_the_table_and_say_so():
    assert prices_for("gpt-4o", 1.0, None) == Prices(1.0, 0.0, "flags")
    assert prices_for("gpt-4o", None, None) == Prices(2.5, 10.0, "table", "gpt-4o")
    assert prices_for("llama3.2", None, None) is None
    assert table_prices("openai/gpt-4.1-mini").describe() == {
        "input": 0.4,
        "output": 1.6,
        "from": "table",
        "as": "gpt-4.1-mini",
    }


def test_cost_is_per_million_tokens():
    assert Prices(1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)
    assert Prices(0.15, 0.6).cost(80, 800) == pytest.approx((80 * 0.15 + 800 * 0.60) / 1e6)
