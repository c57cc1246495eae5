"""The teacher of an imported results file: answers came from a batch runner offline."""

from __future__ import annotations

from pathlib import Path

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.base import Completion, TeacherCallError


class BatchFileTeacher:
    """Stands for the runner that wrote a results file (`vllm run_batch`, ...): it
    describes where the answers came from and is never asked."""

    def __init__(self, results: Path) -> None:
        self.results = results

    def describe(self) -> dict[str, object]:
        return {"kind": "batch-file", "host": self.results.name}

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        raise TeacherCallError(
            "not_found", "an imported results file answers nothing new", retryable=False, fatal=True
        )

    def take_notices(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None
