"""Deterministic draws: item i of a run takes its variables from (seed, i) alone."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from functools import lru_cache

from tinygen.recipe.model import FeatureSpec, Sampling


def rng_for(*parts: object) -> random.Random:
    """A random generator seeded from the parts' text, stable across Python versions."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@lru_cache(maxsize=64)
def _permutation(seed: int, list_name: str, size: int, epoch: int) -> tuple[int, ...]:
    order = list(range(size))
    rng_for(seed, "perm", list_name, epoch).shuffle(order)
    return tuple(order)


def draw_words(
    items: Sequence[str], k: int, *, seed: int, list_name: str, index: int, mode: Sampling
) -> list[str]:
    """Draw `k` entries of `items` for item `index`.

    `uniform` samples k distinct entries at random, as the TinyStories paper did.
    `balanced` walks a fresh random permutation of the list per pass, so every entry is
    used once before any is used twice; slot j of the walk belongs to item j // k.
    """
    if mode == "uniform":
        return rng_for(seed, "uniform", list_name, index).sample(items, k)
    size = len(items)
    words: list[str] = []
    for slot in range(index * k, index * k + k):
        epoch, position = divmod(slot, size)
        words.append(items[_permutation(seed, list_name, size, epoch)[position]])
    return words


def draw_features(spec: FeatureSpec, *, seed: int, index: int) -> list[str]:
    """Names of the features item `index` gets: min..max of them, in declared order."""
    rng = rng_for(seed, "features", index)
    count = rng.randint(spec.min, spec.max)
    chosen = set(rng.sample(sorted(spec.items), count))
    return [name for name in spec.items if name in chosen]
