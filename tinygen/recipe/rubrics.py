"""The judge's rubrics: the shipped ones (prompts/rubrics/) and the scores each asks for."""

from __future__ import annotations

from dataclasses import dataclass

from tinygen.recipe.model import JudgeConfig

SCALE = (1, 10)  # every score is an integer on this scale
RUBRIC_VARIABLES = frozenset({"text", "prompt"})  # besides the recipe's own variables


@dataclass(frozen=True)
class Rubric:
    """A shipped rubric: its template file (under prompts/) and the scores it asks for."""

    file: str
    scores: tuple[str, ...]


SHIPPED_RUBRICS = {
    # TinyStories (Eldan & Li, 2023) had GPT-4 grade grammar, creativity and consistency,
    # and the age group a story suits; plot is SimpleStories' addition.
    "tinystories": Rubric(
        "rubrics/tinystories.j2", ("grammar", "creativity", "consistency", "plot", "age_fit")
    ),
    # phi-1 (Gunasekar et al., 2023) kept code of "educational value for a student whose
    # goal is to learn basic coding concepts".
    "textbook": Rubric("rubrics/textbook.j2", ("educational_value",)),
}


def score_names(config: JudgeConfig) -> tuple[str, ...]:
    """The scores the judge answers with: the recipe's, else its shipped rubric's."""
    if config.scores:
        return tuple(config.scores)
    return SHIPPED_RUBRICS[config.rubric].scores
