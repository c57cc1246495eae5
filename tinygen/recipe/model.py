"""What a recipe is: the validated model of its TOML, and its resolved form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinygen.recipe.choices import ReasoningEffort, Sampling, template_variables
from tinygen.recipe.templates import PromptTemplate
from tinygen.text.canonical import hash_data, sha256_hex


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListSpec(_Strict):
    """A word or topic list and how many entries each item draws from it."""

    file: str | None = None
    items: list[str] | None = None
    draw: int = Field(1, ge=1, le=100)
    repeats: bool = False  # keep repeated entries: one listed k times is drawn k times as often

    @model_validator(mode="after")
    def _one_source(self) -> ListSpec:
        if (self.file is None) == (self.items is None):
            raise ValueError("give exactly one of `file` (a path) or `items` (a list)")
        return self


class FeatureSpec(_Strict):
    """Named features, each a phrase for the prompt; each item draws min..max of them."""

    items: dict[str, str] = Field(min_length=1)
    min: int = Field(0, ge=0)
    max: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> FeatureSpec:
        if self.min > self.max or self.max > len(self.items):
            raise ValueError(f"need 0 <= min <= max <= {len(self.items)} (the number of items)")
        return self


class TeacherParams(_Strict):
    """Generation parameters sent to the teacher with every request."""

    model: str = "gpt-4o-mini"
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(600, ge=1, le=65536)
    seed: int | None = None
    repeat_penalty: float | None = Field(None, ge=1.0, le=2.0)
    reasoning_effort: ReasoningEffort | None = None  # for reasoning models
    response_format: dict[str, object] | None = None  # structured output (the judge's)


class JudgeConfig(_Strict):
    """An LLM judge (`[checks.judge]`): a rubric, the scores it asks for, a threshold on
    their mean, and the share of answers judged."""

    rubric: str = "tinystories"  # a shipped rubric (tinystories, textbook) or a .j2 file
    scores: list[str] = Field(default_factory=list)  # with your own rubric: the names it asks
    threshold: float = Field(6.0, ge=1.0, le=10.0)  # mean score below it: `judge_low`
    sample: float = Field(1.0, gt=0.0, le=1.0)  # share of answers judged, picked by index
    model: str | None = None  # default: the teacher's model (or the judge endpoint's)
    max_tokens: int = Field(200, ge=16, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _scores_named(self) -> JudgeConfig:
        for name in self.scores:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(f"score name {name!r} must be lowercase letters, digits or _")
        return self


class ChecksConfig(_Strict):
    """Which answer checks run and their thresholds (empty answers are always refused)."""

    cut_off: bool = True
    meta_talk: bool = True
    encoding: bool = True
    max_repetition: float | None = Field(0.2, ge=0.0, le=1.0)
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=1)
    required_words: list[str] = Field(default_factory=list)
    vocabulary: list[str] = Field(default_factory=list)
    max_outside_vocabulary: float | None = Field(None, ge=0.0, le=1.0)
    code: Literal["exercise", "textbook"] | None = None
    max_opening_share: float | None = Field(None, gt=0.0, le=1.0)  # of the run's target
    opening_words: int = Field(3, ge=1, le=20)
    max_name_share: float | None = Field(None, gt=0.0, le=1.0)  # main characters, same way
    decontaminate: list[Literal["humaneval"]] = Field(default_factory=list)  # benchmarks
    near_duplicates: bool = True
    near_duplicate_threshold: float = Field(0.8, gt=0.0, le=1.0)
    judge: JudgeConfig | None = None  # last: it costs a request


class Recipe(_Strict):
    """The validated content of a recipe file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    template: str = Field(min_length=1)
    system: str = ""
    prefill: str = ""  # the start of the answer (a template), for teachers that continue one
    lists: dict[str, ListSpec] = Field(default_factory=dict)
    features: FeatureSpec | None = None
    constants: dict[str, str] = Field(default_factory=dict)
    teacher: TeacherParams = Field(default_factory=TeacherParams)
    seed: int = Field(0, ge=0)
    sampling: Sampling = "balanced"
    shard_size: int = Field(10_000, ge=1)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)

    @model_validator(mode="after")
    def _checks_name_lists(self) -> Recipe:
        unknown = [name for name in self.checks.required_words if name not in self.lists]
        if unknown:
            raise ValueError(
                f"checks.required_words names {unknown[0]!r}, which is not one "
                f"of the recipe's lists: {', '.join(self.lists) or 'none'}"
            )
        return self

    def declared_variables(self) -> set[str]:
        """Names the templates may use: one per list, `features`, and the constants."""
        return template_variables(self.lists, self.constants, self.features is not None)


@dataclass(frozen=True)
class ResolvedRecipe:
    """A recipe with its lists loaded and its templates compiled and checked."""

    recipe: Recipe
    source: str
    lists: dict[str, tuple[str, ...]]
    user_template: PromptTemplate
    system_template: PromptTemplate | None
    fingerprint: str
    prefill_template: PromptTemplate | None = None
    rubric: PromptTemplate | None = None  # the judge's, when the recipe has one

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def template_hash(self) -> str:
        system = self.system_template.text if self.system_template else ""
        return sha256_hex(system + "\x00" + self.user_template.text)[:16]

    def fingerprint_holds(self) -> bool:
        """Whether the fingerprint is still that of the recipe, lists and template held."""
        return (
            recipe_fingerprint(self.recipe, self.lists, self.user_template.text) == self.fingerprint
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle as parts (worker processes get the recipe this way): compiled jinja2
        templates do not pickle, so they travel as text and source and are compiled again
        on load. Nothing is read from disk on the other side."""
        templates = (self.user_template, self.system_template, self.prefill_template, self.rubric)
        parts = tuple(None if t is None else (t.text, t.source) for t in templates)
        return (_rebuilt, (self.recipe, self.source, self.lists, self.fingerprint, parts))


def _rebuilt(
    recipe: Recipe,
    source: str,
    lists: dict[str, tuple[str, ...]],
    fingerprint: str,
    parts: tuple[tuple[str, str] | None, ...],
) -> ResolvedRecipe:
    """A pickled ResolvedRecipe again, its templates compiled from their text."""
    user, system, prefill, rubric = (
        None if part is None else PromptTemplate.from_text(*part) for part in parts
    )
    assert user is not None
    return ResolvedRecipe(recipe, source, lists, user, system, fingerprint, prefill, rubric)


def recipe_fingerprint(
    recipe: Recipe, lists: Mapping[str, tuple[str, ...]], template_text: str
) -> str:
    """A run's identity: the recipe's fields that shape its prompts (not the template's
    name, the shard size or the checks), each list as loaded with its draw, and the
    template's text."""
    fields = recipe.model_dump(exclude={"template", "shard_size", "lists", "checks"})
    if not fields["prefill"]:  # runs from before it existed
        del fields["prefill"]
    for name in ("reasoning_effort", "response_format"):  # runs from before they existed
        if fields["teacher"][name] is None:
            del fields["teacher"][name]
    return hash_data(
        {
            "recipe": fields,
            "lists": {name: (spec.draw, list(lists[name])) for name, spec in recipe.lists.items()},
            "template": template_text,
        }
    )
