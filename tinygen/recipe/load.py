"""Loading a recipe: a preset or a TOML file, validated, resolved, fingerprinted."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from tinygen.errors import UsageError
from tinygen.recipe.datafiles import (
    allowed_roots,
    confined,
    find_data_file,
    prompts_dir,
    wordlists_dir,
)
from tinygen.recipe.model import ListSpec, Recipe, ResolvedRecipe, recipe_fingerprint
from tinygen.recipe.presets import preset_names, preset_path
from tinygen.recipe.rubrics import RUBRIC_VARIABLES, SHIPPED_RUBRICS
from tinygen.recipe.templates import PromptTemplate
from tinygen.recipe.textfiles import read_text


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
    preset = preset_path(name_or_path)
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
    prefill = None
    if recipe.prefill:
        prefill = PromptTemplate.from_text(recipe.prefill, f"{path}: prefill")
    _check_variables(recipe, [t for t in (system, user, prefill) if t], path)
    rubric = _rubric(recipe, path, roots)
    for name in recipe.checks.vocabulary:  # read later, by the vocabulary check
        found = find_data_file(name, path, wordlists_dir(), "checks.vocabulary")
        confined(found, name, path, "checks.vocabulary", roots)
    fingerprint = recipe_fingerprint(recipe, lists, user.text)
    resolved = ResolvedRecipe(recipe, str(path), lists, user, system, fingerprint, prefill, rubric)
    from tinygen.recipe.items import build_item  # items builds on this module

    item = build_item(resolved, 0)
    if rubric is not None:  # a rubric failing at render time fails here too
        rubric.render({**recipe.constants, **item.variables, "text": "", "prompt": ""})
    return resolved


def _rubric(recipe: Recipe, path: Path, roots: tuple[Path, ...]) -> PromptTemplate | None:
    """The judge's rubric template, its variables checked (the answer's `text`, the
    `prompt` it answered, and the recipe's variables)."""
    judge = recipe.checks.judge
    if judge is None:
        return None
    shipped = SHIPPED_RUBRICS.get(judge.rubric)
    if shipped is None and not judge.scores:
        raise UsageError(
            f"{path}: checks.judge.rubric {judge.rubric!r} is your own, but checks.judge.scores "
            "is empty",
            'list the scores your rubric asks for, e.g. scores = ["clarity", "accuracy"], '
            f"or use a shipped rubric: {', '.join(SHIPPED_RUBRICS)}",
        )
    name = shipped.file if shipped else judge.rubric
    file = find_data_file(name, path, prompts_dir(), "checks.judge.rubric")
    rubric = PromptTemplate.from_file(confined(file, name, path, "checks.judge.rubric", roots))
    allowed = recipe.declared_variables() | RUBRIC_VARIABLES
    if undeclared := sorted(rubric.variables - allowed):
        raise UsageError(
            f"{rubric.source} line {rubric.line_of(undeclared[0])} uses {{{{ {undeclared[0]} }}}}"
            f" but a rubric is given: {', '.join(sorted(allowed))}",
            "use {{ text }} for the answer and {{ prompt }} for the request",
        )
    if "text" not in rubric.variables:
        raise UsageError(
            f"{rubric.source}: the rubric never shows the judge the answer",
            "put {{ text }} where the answer goes",
        )
    return rubric


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
    return tuple(entries) if spec.repeats else tuple(dict.fromkeys(entries))


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
