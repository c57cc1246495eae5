"""Work items: the prompt and sampled variables of item i of a run."""

from __future__ import annotations

from dataclasses import dataclass

from tinygen.recipe.model import ResolvedRecipe
from tinygen.recipe.sampling import draw_features, draw_words


@dataclass(frozen=True)
class Item:
    """One request to make: its index, what was sampled, and the chat messages."""

    index: int
    variables: dict[str, object]
    messages: list[dict[str, str]]
    prefill: str = ""  # the answer's start, also the last (assistant) message when set


def prompt_estimate(messages: list[dict[str, str]]) -> int:
    """A rough prompt size in tokens (4 characters a token), for the limits and estimates."""
    return sum(len(message["content"]) for message in messages) // 4 + 8


def record_id(fingerprint: str, index: int) -> str:
    """Stable id of item `index` of the run with `fingerprint` (its records' `id`, its
    batch lines' `custom_id`)."""
    return f"{fingerprint[:12]}-{index:08d}"


def build_item(resolved: ResolvedRecipe, index: int) -> Item:
    """Build item `index`: depends only on the resolved recipe (and its seed) and index."""
    recipe = resolved.recipe
    variables: dict[str, object] = {}
    context: dict[str, object] = dict(recipe.constants)
    for name, spec in recipe.lists.items():
        words = draw_words(
            resolved.lists[name],
            spec.draw,
            seed=recipe.seed,
            list_name=name,
            index=index,
            mode=recipe.sampling,
        )
        variables[name] = words[0] if spec.draw == 1 else words
        context[name] = variables[name]
    if recipe.features is not None:
        names = draw_features(recipe.features, seed=recipe.seed, index=index)
        variables["features"] = names
        context["features"] = [recipe.features.items[name] for name in names]
    messages = []
    if resolved.system_template is not None:
        messages.append({"role": "system", "content": resolved.system_template.render(context)})
    messages.append({"role": "user", "content": resolved.user_template.render(context)})
    prefill = resolved.prefill_template.render(context) if resolved.prefill_template else ""
    if prefill:
        messages.append({"role": "assistant", "content": prefill})
    return Item(index, variables, messages, prefill)
