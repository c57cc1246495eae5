"""Start-up: commands that ask no teacher import neither the SDK nor the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("openai", "httpx2", "aiohttp", "numpy", "rensa", "lemminflect")


def imported(*args: str) -> set[str]:
    """Top-level packages `tinygen ARGS` imports (from `python -X importtime`)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tinygen", *args],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    names = {line.rpartition("|")[2].strip() for line in run.stderr.splitlines()}
    return {name for name in names if name and "." not in name}


@pytest.mark.parametrize(
    "args",
    [("--help",), ("generate", "--help"), ("presets",), ("preview", "tinystories", "-n", "2")],
)
def test_commands_that_ask_no_teacher_import_nothing_heavy(args):
    assert imported(*args) & set(HEAVY) == set()


def test_help_does_not_load_the_recipe_model():
    assert {"pydantic", "jinja2"} & imported("--help") == set()


def test_presets_lists_without_compiling_templates():
    assert "jinja2" not in imported("presets")


@pytest.mark.parametrize("args", [("presets",), ("presets", "--help"), ("--version",)])
def test_commands_whose_flags_are_all_bools_do_not_load_pydantic(args):
    assert "pydantic" not in imported(*args)
