"""Inspecting recipes without a teacher: rendered prompts and list coverage."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tinygen.recipe.items import build_item
from tinygen.recipe.model import ResolvedRecipe
from tinygen.recipe.sampling import draw_words


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


def list_coverage(resolved: ResolvedRecipe, run_size: int) -> dict[str, float]:
    """Share of each list's entries that items 0..run_size-1 draw at least once."""
    recipe = resolved.recipe
    coverage = {}
    for name, spec in recipe.lists.items():
        entries = resolved.lists[name]
        seen: set[str] = set()
        for index in range(run_size):
            seen.update(
                draw_words(
                    entries,
                    spec.draw,
                    seed=recipe.seed,
                    list_name=name,
                    index=index,
                    mode=recipe.sampling,
                )
            )
        coverage[name] = len(seen) / len(entries)
    return coverage


def coverage_table(resolved: ResolvedRecipe, run_size: int) -> Table:
    """A table of list sizes and the share a run of `run_size` items covers."""
    table = Table(
        "list",
        "entries",
        "per item",
        "covered",
        title=f"coverage by a run of {run_size} items ({resolved.recipe.sampling})",
    )
    for name, share in list_coverage(resolved, run_size).items():
        spec = resolved.recipe.lists[name]
        table.add_row(name, str(len(resolved.lists[name])), str(spec.draw), f"{share:.1%}")
    return table
