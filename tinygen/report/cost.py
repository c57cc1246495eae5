"""The cost a report states: what the run recorded, else an estimate at list prices.

A run's manifest records what it spent (`totals.cost_usd`: every answered attempt of
every session, rejected answers and retries included) and the prices that was at
(`prices`: USD per million tokens, `from` the --price-in/--price-out flags or the table).
`run_cost` reports that. Only a run that recorded no cost (a model the table does not
know and no price flags, or a manifest without totals) is estimated from the table, over
the tokens of its accepted and rejected records. The arithmetic is `Prices.cost`.
"""

from __future__ import annotations

import math

from tinygen.teachers.prices import BATCH_TABLE, FLAGS, TABLE, table_prices

ESTIMATED = "list prices, no batch or cache discounts; includes rejected answers"
_EVERY_ATTEMPT = "every attempt, rejected answers included"
RECORDED = {
    FLAGS: f"recorded by the run at the --price-in/--price-out prices; {_EVERY_ATTEMPT}",
    TABLE: f"recorded by the run at list prices, no batch or cache discounts; {_EVERY_ATTEMPT}",
    BATCH_TABLE: f"recorded by the run at batch prices (half the list); {_EVERY_ATTEMPT}",
    "varied": "recorded by the run, whose sessions had different prices (or none)",
    None: "recorded by the run (its prices were not recorded)",
}


def run_cost(manifest: dict, prompt_tokens: int, completion_tokens: int) -> dict:
    """The run's cost as its manifest recorded it, else estimated from these tokens."""
    teacher = _dict(manifest.get("teacher"))
    recorded = recorded_cost(manifest, teacher.get("model"))
    return recorded or estimate_cost(teacher, prompt_tokens, completion_tokens)


def recorded_cost(manifest: dict, model: object = None) -> dict | None:
    """The cost the manifest records (`totals.cost_usd` at `prices`), or None if none."""
    usd = _dict(manifest.get("totals")).get("cost_usd")
    if type(usd) not in (int, float) or not math.isfinite(usd):
        return None
    prices = _dict(manifest.get("prices"))
    source = prices.get("from") if prices.get("from") in RECORDED else None
    keys = ("input", "output", "from", "as")
    per_1m = {k: prices.get(k) for k in keys} if source in (FLAGS, TABLE, BATCH_TABLE) else None
    note = RECORDED[source]
    return {
        "usd": round(usd, 6),
        "model": model,
        "price_per_1m": per_1m,
        "recorded": True,
        "note": note,
    }


def estimate_cost(teacher: dict, prompt_tokens: int, completion_tokens: int) -> dict:
    """Estimated USD of the tokens at the table's list prices, or None with a note why not."""
    model = teacher.get("model")
    local = teacher.get("kind") == "local"
    prices = None if local else table_prices(model)
    if prices is None:
        why = "local model: no API cost" if local else "unknown"
        return {"usd": None, "model": model, "price_per_1m": None, "recorded": False, "note": why}
    return {
        "usd": round(prices.cost(prompt_tokens, completion_tokens), 6),
        "model": model,
        "price_per_1m": prices.describe(),
        "recorded": False,
        "note": ESTIMATED,
    }


def cost_text(cost: dict) -> str:
    """A cost for people: dollars (to the cent from $1, else as recorded), or why none."""
    usd = cost["usd"]
    if usd is None:
        return cost["note"]
    if usd >= 1:
        return f"${usd:,.2f}"
    digits = f"{usd:.6f}".rstrip("0")
    return f"${digits}" + "0" * max(0, 2 - len(digits.split(".")[1]))


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}
