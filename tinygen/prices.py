"""Prices of common models, USD per million tokens (edit as providers change them)."""

from __future__ import annotations

from tinygen.limits import Prices

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def prices_for(model: str, price_in: float | None, price_out: float | None) -> Prices | None:
    """Prices from the flags if given, else from the table (longest matching prefix)."""
    if price_in is not None or price_out is not None:
        return Prices(price_in or 0.0, price_out or 0.0)
    matches = [name for name in PRICES_PER_MILLION if model.startswith(name)]
    if not matches:
        return None
    return Prices(*PRICES_PER_MILLION[max(matches, key=len)])
