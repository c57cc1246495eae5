"""The checks a recipe asks for, built once per run from its `[checks]` table."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from tinygen.checks.base import Answer, Check, Rejection
from tinygen.checks.code import check_exercise, python_block_errors, python_blocks
from tinygen.checks.contamination import available, contamination_check
from tinygen.checks.text import (
    broken_encoding,
    content_filter,
    cut_off,
    empty,
    length_bounds,
    meta_talk,
    reasoning_exhausted,
    repetition,
    required_words,
    unencodable,
)
from tinygen.checks.vocabulary import Vocabulary, vocabulary_check
from tinygen.recipe.datafiles import find_data_file, wordlists_dir
from tinygen.recipe.model import ResolvedRecipe
from tinygen.text.cores import available_cores


def build_checks(resolved: ResolvedRecipe) -> list[Check]:
    """The text checks of a recipe, in the order their reasons are most telling."""
    config = resolved.recipe.checks
    always = [unencodable, content_filter, reasoning_exhausted, empty]
    checks: list[Check] = list(always)
    if config.max_repetition is not None:  # before cut_off: a loop is why an answer runs on
        checks.append(repetition(config.max_repetition))
    if config.cut_off:
        checks.append(cut_off)
    if config.encoding:
        checks.append(broken_encoding)
    if config.meta_talk:
        checks.append(meta_talk)
    if config.min_words is not None or config.max_words is not None:
        checks.append(length_bounds(config.min_words, config.max_words))
    if config.required_words:
        checks.append(required_words(config.required_words))
    if config.max_outside_vocabulary is not None:
        checks.append(vocabulary_check(recipe_vocabulary(resolved), config.max_outside_vocabulary))
    if benchmarks := [name for name in config.decontaminate if available(name)]:
        checks.append(contamination_check(benchmarks))
    return checks


def missing_benchmarks(resolved: ResolvedRecipe) -> list[str]:
    """Benchmarks the recipe decontaminates against whose package is not installed."""
    return [name for name in resolved.recipe.checks.decontaminate if not available(name)]


def recipe_vocabulary(resolved: ResolvedRecipe) -> Vocabulary:
    """The recipe's `checks.vocabulary` files plus every entry of its lists."""
    source = Path(resolved.source)
    files = [
        find_data_file(name, source, wordlists_dir(), "checks.vocabulary")
        for name in resolved.recipe.checks.vocabulary
    ]
    entries = [entry for values in resolved.lists.values() for entry in values]
    return Vocabulary.from_files(files, extra=entries)


AsyncCheck = Callable[[Answer], Awaitable[Rejection | None]]


def build_code_check(resolved: ResolvedRecipe) -> AsyncCheck | None:
    """The code check a recipe asks for: run exercises' tests, or parse textbook code."""
    kind = resolved.recipe.checks.code
    if kind == "exercise":
        return exercise_check(asyncio.Semaphore(2 * available_cores()))
    if kind == "textbook":
        return textbook_check
    return None


def exercise_check(slots: asyncio.Semaphore) -> AsyncCheck:
    """Split the exercise and run its tests against its solution in a child process."""

    async def check(answer: Answer) -> Rejection | None:
        async with slots:
            result = await check_exercise(answer.text)
        answer.figures["code"] = asdict(result)
        if not result.passed:
            return Rejection(f"code_{result.kind}", result.error)
        return None

    return check


async def textbook_check(answer: Answer) -> Rejection | None:
    """At least one fenced Python block, and every one must parse."""
    errors = python_block_errors(answer.text)
    answer.figures["code_errors"] = errors
    if not python_blocks(answer.text):
        return Rejection("code_missing", "no fenced ```python block")
    if errors:
        return Rejection("code_syntax", "; ".join(errors[:3]), len(errors))
    return None
