"""Deterministic word draws: balanced and uniform."""

from __future__ import annotations

from tinygen.recipe.model import FeatureSpec
from tinygen.recipe.sampling import draw_features, draw_words

WORDS = tuple(f"w{i}" for i in range(500))


def draws(mode: str, n: int, k: int = 1, seed: int = 0) -> list[list[str]]:
    return [draw_words(WORDS, k, seed=seed, list_name="noun", index=i, mode=mode) for i in range(n)]


def test_balanced_uses_every_word_once_per_pass():
    first_pass = [w for ws in draws("balanced", len(WORDS)) for w in ws]
    assert sorted(first_pass) == sorted(WORDS)
    two_per_item = [w for ws in draws("balanced", len(WORDS) // 2, k=2) for w in ws]
    assert sorted(two_per_item) == sorted(WORDS)


def test_balanced_second_pass_is_a_new_order():
    second = [w for ws in draws("balanced", 2 * len(WORDS))[len(WORDS) :] for w in ws]
    first = [w for ws in draws("balanced", len(WORDS)) for w in ws]
    assert sorted(second) == sorted(WORDS) and second != first


def test_uniform_covers_about_one_minus_one_over_e():
    covered = {w for ws in draws("uniform", len(WORDS)) for w in ws}
    assert abs(len(covered) / len(WORDS) - (1 - 1 / 2.718281828)) < 0.05


def test_draws_depend_on_seed_and_index_only():
    assert draws("uniform", 30, seed=1) == draws("uniform", 30, seed=1)
    assert draws("uniform", 30, seed=1) != draws("uniform", 30, seed=2)
    late = draw_words(WORDS, 1, seed=3, list_name="noun", index=777, mode="balanced")
    assert late == draws("balanced", 778, seed=3)[777]


def test_features_stay_within_bounds_and_declared_order():
    spec = FeatureSpec(items={"A": "a", "B": "b", "C": "c"}, min=1, max=2)
    seen = [draw_features(spec, seed=0, index=i) for i in range(200)]
    assert all(1 <= len(names) <= 2 for names in seen)
    assert all(names == sorted(names) for names in seen)
    assert {n for names in seen for n in names} == {"A", "B", "C"}
