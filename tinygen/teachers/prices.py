"""What tokens cost: a table of common models' list prices (USD per million tokens; edit
as providers change them), the lookup that picks a run's prices, and the one formula.

Every cost tinygen states goes through `Prices.cost`: the budget gate's (`--max-cost`),
the run's counters (the manifest's `session.cost_usd` and `totals.cost_usd`, with the
prices in its `prices` entry) and, for a run that recorded none, the estimate that
`tinygen stats` and the dataset card make from the table.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    # reasoning models: their reasoning tokens are billed as completion tokens
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

FLAGS = "flags"  # --price-in / --price-out
TABLE = "table"  # PRICES_PER_MILLION
BATCH_TABLE = "table, batch"  # PRICES_PER_MILLION at BATCH_SHARE


@dataclass(frozen=True)
class Prices:
    """USD per million prompt and completion tokens, and where they came from: `FLAGS`,
    or `TABLE` with the table entry `table_key` that matched the model."""

    per_m_in: float
    per_m_out: float
    source: str = FLAGS
    table_key: str | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD of these tokens: the one cost formula."""
        return (prompt_tokens * self.per_m_in + completion_tokens * self.per_m_out) / 1e6

    def describe(self) -> dict[str, object]:
        """What the manifest and `tinygen stats` say of these prices."""
        return {
            "input": self.per_m_in,
            "output": self.per_m_out,
            "from": self.source,
            "as": self.table_key,
        }


def price_entry(model: str | None) -> tuple[str, tuple[float, float]] | None:
    """The table entry for `model` (longest matching prefix, provider prefix ignored)."""
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    matches = [key for key in PRICES_PER_MILLION if name.startswith(key)]
    if not matches:
        return None
    key = max(matches, key=len)
    return key, PRICES_PER_MILLION[key]


def table_prices(model: str | None) -> Prices | None:
    """The table's prices for `model`, or None if the table does not know it."""
    entry = price_entry(model)
    if entry is None:
        return None
    key, (per_m_in, per_m_out) = entry
    return Prices(per_m_in, per_m_out, TABLE, key)


BATCH_SHARE = 0.5  # what the Batch APIs charge of the online price


def prices_for(
    model: str, price_in: float | None, price_out: float | None, batch: bool = False
) -> Prices | None:
    """Prices from the flags if given (a missing one is 0: they are taken as they are,
    batch or not), else from the table (at half for a batch run)."""
    if price_in is not None or price_out is not None:
        return Prices(price_in or 0.0, price_out or 0.0, FLAGS)
    prices = table_prices(model)
    if prices is None or not batch:
        return prices
    return Prices(
        prices.per_m_in * BATCH_SHARE,
        prices.per_m_out * BATCH_SHARE,
        BATCH_TABLE,
        prices.table_key,
    )
