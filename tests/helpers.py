"""Helpers for tests that run the pipeline on the fake teacher (no HTTP, no waiting)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tests.conftest import TINY
from tinygen.engine.generation import RunConfig, RunResult, generate
from tinygen.recipe.load import load_recipe
from tinygen.recipe.model import ResolvedRecipe
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.fake import FakeTeacher
from tinygen.teachers.retry import RetryPolicy


@cache
def tiny() -> ResolvedRecipe:
    """tests/data/tiny.toml, loaded once (a ResolvedRecipe is never changed)."""
    return load_recipe(TINY)


class Waits:
    """A RetryPolicy `sleep` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def policy(self, max_attempts: int = 6) -> RetryPolicy:
        return RetryPolicy(max_attempts=max_attempts, sleep=self)


def run(out: Path, teacher: FakeTeacher, target: int, **options) -> RunResult:
    """`generate` tiny.toml into `out` on `teacher`, quietly, with retries that never
    wait; `options` are RunConfig fields."""
    options.setdefault("retry", Waits().policy())
    config = RunConfig(out_dir=out, target=target, progress=False, **options)
    return generate(tiny(), teacher, config)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def rate_limited(retry_after: float | None = None) -> TeacherCallError:
    return TeacherCallError(
        "rate_limit", "429 slow down", retryable=True, status=429, retry_after=retry_after
    )


def server_error() -> TeacherCallError:
    return TeacherCallError("server_error", "500 oops", retryable=True, status=500)


def bad_key() -> TeacherCallError:
    return TeacherCallError(
        "auth", "the endpoint rejected the API key (401)", retryable=False, fatal=True, status=401
    )


STORIES = [
    # text, noun, verb, features
    ("Once upon a time, Tom saw a cat. The cat ran.", "cat", "run", ["Dialogue"]),
    ("Once upon a time, Tom had a dog. They played with Tom.", "dog", "jump", []),
    ("One day Mia jumped over a big ball.", "ball", "jump", ["Dialogue", "Twist"]),
    ("Once upon a time there was a hat on a farm.", "tree", "sing", []),
]


LISTS = {
    "noun": {"file": None, "items": ["cat", "dog", "ball", "hat", "tree"], "draw": 1},
    "verb": {"file": None, "items": ["jump", "run", "sing"], "draw": 1},
    "place": {"file": None, "items": ["the big park", "a farm"], "draw": 1},
}


def make_run(
    path: Path,
    texts: list[str],
    variables: list[dict] | None = None,
    *,
    model: str = "gpt-4o-mini",
    name: str = "hand",
    lists: dict | None = None,
) -> Path:
    """Write a minimal run directory: manifest.json and one shard of records."""
    (path / "data").mkdir(parents=True)
    manifest = {
        "status": "done",
        "seed": 0,
        "recipe": {
            "name": name,
            "source": str(path.parent / "recipe.toml"),
            "fingerprint": "f" * 64,
            "resolved": {"name": name, "description": "hand-made", "lists": lists or {}},
        },
        "teacher": {"kind": "openai-compatible", "host": "example.org", "model": model},
        "counts": {"target": len(texts)},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    lines = []
    for index, text in enumerate(texts):
        record = {
            "id": f"ffffffffffff-{index:08d}",
            "index": index,
            "text": text,
            "variables": (variables or [{}] * len(texts))[index],
            "usage": {"prompt_tokens": 10, "completion_tokens": 100},
            "finish_reason": "stop",
        }
        lines.append(json.dumps(record) + "\n")
    (path / "data" / "part-00000.jsonl").write_text("".join(lines))
    return path


def story_run(path: Path) -> Path:
    variables = [{"noun": n, "verb": v, "features": f} for _, n, v, f in STORIES]
    return make_run(path, [s[0] for s in STORIES], variables, lists=LISTS)
