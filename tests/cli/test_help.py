"""Help that a newcomer reads at 80 columns: options in panels, an example per command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tinygen.cli import app

COMMANDS = ("generate", "preview", "presets", "stats", "dedup", "merge", "export")
PANELS = ("Output", "Teacher", "Speed and rate limits", "Budgets", "Batch API", "Checks")


def help_of(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example_and_fits_80_columns(command):
    text = help_of(command)
    assert "Example: tinygen " + command in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_generate_groups_its_options_in_panels():
    text = help_of("generate")
    for panel in (*PANELS, "Sampling"):
        assert f"─ {panel} ─" in text
    teacher = text.split("─ Teacher ─")[1].split("╰")[0]
    assert "--base-url" in teacher and "--max-cost" not in teacher
    assert "--no-overwrite" not in text and "<bool>" not in text.split("─ Output ─")[1]
