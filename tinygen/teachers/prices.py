"""Prices of common models, USD per million tokens (edit as providers change them)."""

from __future__ import annotations

from tinygen.teachers.limits import Prices

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
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


def prices_for(model: str, price_in: float | None, price_out: float | None) -> Prices | None:
    """Prices from the flags if given, else from the table."""
    if price_in is not None or price_out is not None:
        return Prices(price_in or 0.0, price_out or 0.0)
    entry = price_entry(model)
    return Prices(*entry[1]) if entry else None
