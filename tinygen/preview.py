"""Inspecting recipes without a teacher: rendered prompts and the preset list."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tinygen.items import build_item
from tinygen.recipe import ResolvedRecipe, load_recipe, preset_names


def preview_items(resolved: ResolvedRecipe, indices: Iterable[int], *, as_json: bool) -> None:
    """Print the items at `indices`: their variables and chat messages."""
    console = Console(highlight=False)
    for index in indices:
        item = build_item(resolved, index)
        if as_json:
            print(
                json.dumps(
                    {"index": index, "variables": item.variables, "messages": item.messages},
                    ensure_ascii=False,
                )
            )
            continue
        body = "\n\n".join(f"[bold]{m['role']}:[/] {m['content']}" for m in item.messages)
        title = f"item {index} · " + " · ".join(f"{k}={v}" for k, v in item.variables.items())
        console.print(Panel(body, title=title, title_align="left"), markup=True)


def preset_table() -> Table:
    """The shipped presets with their description and variables."""
    table = Table("preset", "description", "variables", title="tinygen presets")
    for name in preset_names():
        resolved = load_recipe(name)
        variables = ", ".join(sorted(resolved.recipe.declared_variables()))
        table.add_row(name, resolved.recipe.description, variables)
    return table
