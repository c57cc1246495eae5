"""Recipes: what a run draws from, how it asks, and which teacher parameters it uses.

A recipe is a TOML file (or a shipped preset) validated into `Recipe`, then resolved into
`ResolvedRecipe`: lists read from disk, template compiled and checked against the
variables the recipe declares, and a fingerprint that identifies the run's content.
The files a recipe names must lie in its folder, in tinygen's shipped data, or under a
directory the user allowed (`--allow-path`): a recipe from elsewhere cannot read ~/.aws.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tinygen.canonical import hash_data, sha256_hex
from tinygen.errors import UsageError
from tinygen.resources import prompts_dir, wordlists_dir
from tinygen.templates import PromptTemplate
from tinygen.textfiles import read_text

Sampling = Literal["balanced", "uniform"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListSpec(_Strict):
    """A word or topic list and how many entries each item draws from it."""

    file: str | None = None
    items: list[str] | None = None
    draw: int = Field(1, ge=1, le=100)

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
    near_duplicates: bool = True
    near_duplicate_threshold: float = Field(0.8, gt=0.0, le=1.0)


class Recipe(_Strict):
    """The validated content of a recipe file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    template: str = Field(min_length=1)
    system: str = ""
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
        names = set(self.lists) | set(self.constants)
        if self.features is not None:
            names.add("features")
        return names


@dataclass(frozen=True)
class ResolvedRecipe:
    """A recipe with its lists loaded and its templates compiled and checked."""

    recipe: Recipe
    source: str
    lists: dict[str, tuple[str, ...]]
    user_template: PromptTemplate
    system_template: PromptTemplate | None
    fingerprint: str

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def template_hash(self) -> str:
        system = self.system_template.text if self.system_template else ""
        return sha256_hex(system + "\x00" + self.user_template.text)[:16]


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(path.stem for path in prompts_dir().glob("*.toml"))


def recipe_path(name_or_path: str) -> Path:
    """A preset name or a TOML path, as a path to an existing recipe file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(
                f"Recipe file not found: {path}",
                "check the path, or run `tinygen presets` to list the built-in recipes",
            )
        return path
    preset = prompts_dir() / f"{name_or_path}.toml"
    if not preset.is_file():
        names = ", ".join(preset_names())
        raise UsageError(
            f"Unknown preset {name_or_path!r}",
            f"use one of: {names}, or the path of a recipe .toml file",
        )
    return preset


def load_recipe(
    name_or_path: str, overrides: dict | None = None, allow_paths: Iterable[str | Path] = ()
) -> ResolvedRecipe:
    """Load, validate and resolve a recipe; `overrides` replace fields (dotted keys);
    files under `allow_paths` may be named besides those in the recipe's folder."""
    path = recipe_path(name_or_path)
    raw = _read_toml(path)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
    recipe = _validate(raw, path)
    return resolve(recipe, path, allow_paths)


def resolve(recipe: Recipe, path: Path, allow_paths: Iterable[str | Path] = ()) -> ResolvedRecipe:
    """Read the lists, compile the templates, check variables, compute the fingerprint;
    then render item 0, so that a template failing at render time fails here."""
    roots = allowed_roots(path, allow_paths)
    lists = {name: _load_list(name, spec, path, roots) for name, spec in recipe.lists.items()}
    template = find_data_file(recipe.template, path, prompts_dir(), "template")
    user = PromptTemplate.from_file(confined(template, recipe.template, path, "template", roots))
    system = PromptTemplate.from_text(recipe.system, f"{path}: system") if recipe.system else None
    _check_variables(recipe, [t for t in (system, user) if t], path)
    for name in recipe.checks.vocabulary:  # read later, by the vocabulary check
        found = find_data_file(name, path, wordlists_dir(), "checks.vocabulary")
        confined(found, name, path, "checks.vocabulary", roots)
    fingerprint = hash_data(
        {
            "recipe": recipe.model_dump(exclude={"template", "shard_size", "lists", "checks"}),
            "lists": {name: (spec.draw, list(lists[name])) for name, spec in recipe.lists.items()},
            "template": user.text,
        }
    )
    resolved = ResolvedRecipe(recipe, str(path), lists, user, system, fingerprint)
    from tinygen.items import build_item  # items builds on this module

    build_item(resolved, 0)
    return resolved


def allowed_roots(recipe_file: Path, allow_paths: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    """Folders a recipe's files may lie in: its own, tinygen's shipped data, `allow_paths`."""
    folders = [recipe_file.parent, wordlists_dir(), prompts_dir(), *map(Path, allow_paths)]
    return tuple(folder.resolve() for folder in folders)


def confined(file: Path, name: str, recipe_file: Path, field: str, roots: tuple[Path, ...]) -> Path:
    """`file` (found for `field` = `name`), if it resolves inside one of `roots`."""
    if not any(file.resolve().is_relative_to(root) for root in roots):
        raise UsageError(
            f"{recipe_file}: {field} {name!r} is outside the recipe's folder",
            "move the file next to the recipe, or pass --allow-path DIR to allow files under DIR",
        )
    return file


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(read_text(path, "recipe"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}", "fix the syntax at that line") from None


def _set_dotted(raw: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        raw = raw.setdefault(key, {})
    raw[leaf] = value


def _validate(raw: dict, path: Path) -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = f"{path}: field `{field}`: {first['msg']}{more}"
        raise UsageError(message, "fix that field; README.md describes the recipe format") from None


def locate_data_file(name: str, recipe_file: Path, shipped: Path) -> Path | None:
    """`name` next to the recipe first, then in tinygen's shipped data; None if neither."""
    for base in (recipe_file.parent, shipped):
        if (base / name).is_file():
            return base / name
    return None


def find_data_file(name: str, recipe_file: Path, shipped: Path, what: str) -> Path:
    """Like `locate_data_file`, but a missing file is a usage error naming the field."""
    found = locate_data_file(name, recipe_file, shipped)
    if found is None:
        raise UsageError(
            f"{recipe_file}: {what} file {name!r} not found",
            f"put it next to the recipe, or name a file under {shipped}",
        )
    return found


def _load_list(
    name: str, spec: ListSpec, recipe_file: Path, roots: tuple[Path, ...]
) -> tuple[str, ...]:
    if spec.items is not None:
        entries = [item.strip() for item in spec.items if item.strip()]
    else:
        file = find_data_file(spec.file or "", recipe_file, wordlists_dir(), f"lists.{name}")
        confined(file, spec.file or "", recipe_file, f"lists.{name}.file", roots)
        lines = read_text(file, "list").splitlines()
        entries = [line.strip() for line in lines if line.strip()]
    if len(set(entries)) < spec.draw:
        raise UsageError(
            f"{recipe_file}: lists.{name} has {len(set(entries))} distinct "
            f"entries but draws {spec.draw} per item",
            f"add entries or lower lists.{name}.draw",
        )
    return tuple(dict.fromkeys(entries))


def _check_variables(recipe: Recipe, templates: list[PromptTemplate], path: Path) -> None:
    declared = recipe.declared_variables()
    used: set[str] = set()
    for template in templates:
        undeclared = template.variables - declared
        if undeclared:
            name = sorted(undeclared)[0]
            raise UsageError(
                f"{template.source} line {template.line_of(name)} uses {{{{ {name} }}}} but "
                f"the recipe {path} provides: {', '.join(sorted(declared)) or 'nothing'}",
                f"declare [lists.{name}] or constants.{name} in the recipe, "
                "or fix the name in the template",
            )
        used |= template.variables
    unused = declared - used
    if unused:
        name = sorted(unused)[0]
        raise UsageError(
            f"{path}: the recipe declares `{name}` but no template uses it",
            f"use {{{{ {name} }}}} in {recipe.template} or remove it from the recipe",
        )
