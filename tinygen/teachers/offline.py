"""Teachers that ask nothing in this process: the runner of an imported results file
(answers came from a batch runner offline), and the main process's stand-in for the
teacher its worker processes ask."""

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


class AskedElsewhere:
    """Stands for the teacher worker processes ask: it describes their endpoints (for the
    manifest and the header) and is never asked, so this process loads no HTTP client."""

    def __init__(self, description: dict[str, object]) -> None:
        self._description = description

    def describe(self) -> dict[str, object]:
        return dict(self._description)

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        raise AssertionError("the worker processes ask the teacher, not the main process")

    def take_notices(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None
