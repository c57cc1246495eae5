"""The LLM judge: strict score parsing, the sample, retries of unreadable answers, and
its traffic counted by the run's gate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.helpers import Waits
from tinygen.checks.judge import Judge, Unreadable, judge_schema, parse_scores
from tinygen.engine.generation import RunConfig, generate
from tinygen.errors import UsageError
from tinygen.recipe.items import build_item
from tinygen.recipe.load import load_recipe
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.fake import FakeTeacher, story_responder
from tinygen.teachers.limits import Budget, Gate

TINY_DIR = Path(TINY).parent
NAMES = ("grammar", "creativity", "consistency", "plot", "age_fit")


def judged(**fields: object):
    """tiny.toml with a tinystories judge (and `fields` of checks.judge)."""
    overrides = {"checks.judge.rubric": "tinystories"}
    overrides |= {f"checks.judge.{name}": value for name, value in fields.items()}
    return load_recipe(TINY, overrides)


def scoring(mean_of: dict[str, int]):
    """A responder: stories for the teacher, `mean_of` as every judge answer."""
    stories = story_responder()

    def respond(messages, params):
        if params.response_format is not None:
            return json.dumps(mean_of)
        return stories(messages, params)

    return respond


@pytest.mark.parametrize(
    "text",
    [
        '{"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10}',
        '```json\n{"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10}\n```',
        '{"grammar": 8.0, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10, "x": 1}',
    ],
)
def test_scores_are_read_from_one_object(text):
    assert parse_scores(text, NAMES) == {
        "grammar": 8,
        "creativity": 7,
        "consistency": 9,
        "plot": 6,
        "age_fit": 10,
    }


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Grammar: 8, creativity: 7", "not a JSON object"),
        ('Here you go: {"grammar": 8}', "not a JSON object"),
        ("[8, 7, 9, 6, 10]", "not a JSON object"),
        ('{"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6}', "age_fit is None"),
        ('{"grammar": 11, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 1}', "11"),
        ('{"grammar": "8", "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 1}', "'8'"),
        ('{"grammar": true, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 1}', "True"),
        ('{"grammar": 7.5, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 1}', "7.5"),
    ],
)
def test_anything_else_is_unreadable(text, said):
    with pytest.raises(Unreadable, match=said):
        parse_scores(text, NAMES)


def test_the_schema_asks_for_exactly_the_scores():
    schema = judge_schema(NAMES)["json_schema"]["schema"]
    assert schema["required"] == list(NAMES) and schema["additionalProperties"] is False
    assert schema["properties"]["plot"] == {"type": "integer", "minimum": 1, "maximum": 10}


def test_the_sample_is_fixed_by_the_item_and_near_its_share():
    resolved = judged(sample=0.3)
    judge = Judge(resolved, FakeTeacher(), Gate.unlimited(), Waits().policy())
    picked = [index for index in range(2000) if judge.wants(index)]
    assert 0.26 < len(picked) / 2000 < 0.34
    again = Judge(judged(sample=0.3), FakeTeacher(), Gate.unlimited(), Waits().policy())
    assert picked == [index for index in range(2000) if again.wants(index)]


def grade(resolved, teacher, gate=None):
    judge = Judge(resolved, teacher, gate or Gate.unlimited(), Waits().policy())
    return asyncio.run(judge.grade(build_item(resolved, 3), "Tom saw a cat. The cat ran."))


def test_an_unreadable_answer_is_asked_again_once():
    good = '{"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10}'
    teacher = FakeTeacher("I liked it a lot!", good)
    verdict = grade(judged(), teacher)
    assert verdict.rejection is None and verdict.requests == 2
    assert verdict.figures["scores"]["age_fit"] == 10 and verdict.figures["mean"] == 8.0
    retry = teacher.history[1].messages
    assert retry[-2] == {"role": "assistant", "content": "I liked it a lot!"}
    assert "cannot be read" in retry[-1]["content"] and '"age_fit"' in retry[-1]["content"]
    first = teacher.history[0]
    assert "Tom saw a cat. The cat ran." in first.messages[1]["content"]
    assert first.params.temperature == 0.0 and first.params.response_format is not None


def test_two_unreadable_answers_reject_the_record():
    verdict = grade(judged(), FakeTeacher("Nice story.", "Still nice."))
    assert verdict.rejection.reason == "judge_unreadable" and verdict.requests == 2
    assert "not a JSON object: 'Still nice.'" in verdict.rejection.detail


def test_a_mean_under_the_threshold_is_judge_low():
    low = '{"grammar": 5, "creativity": 4, "consistency": 6, "plot": 5, "age_fit": 6}'
    verdict = grade(judged(threshold=6), FakeTeacher(low))
    assert verdict.rejection.reason == "judge_low" and verdict.rejection.value == 5.2
    assert verdict.rejection.detail == "mean score 5.2 < threshold 6"


def test_a_judge_that_keeps_failing_rejects_as_judge_failed():
    errors = [TeacherCallError("server_error", "500 oops", retryable=True)] * 6
    verdict = grade(judged(), FakeTeacher(*errors))
    assert verdict.rejection.reason == "judge_failed" and verdict.requests == 6
    assert verdict.rejection.detail == "server_error: 500 oops"


def test_a_fatal_judge_error_is_raised():
    fatal = TeacherCallError("auth", "401", retryable=False, fatal=True, status=401)
    with pytest.raises(TeacherCallError):
        grade(judged(), FakeTeacher(fatal))


def test_a_spent_budget_leaves_the_item_unsent():
    gate = Gate(Budget(max_requests=0), None, None)
    verdict = grade(judged(), FakeTeacher(), gate)
    assert verdict.unsent and verdict.requests == 0 and verdict.rejection is None


def test_an_own_rubric_needs_its_score_names(tmp_path):
    recipe = tmp_path / "own.toml"
    (tmp_path / "tiny.j2").write_text((TINY_DIR / "tiny.j2").read_text(), encoding="utf-8")
    (tmp_path / "mine.j2").write_text("Grade {{ text }} for {{ noun }}.", encoding="utf-8")
    body = Path(TINY).read_text(encoding="utf-8") + '\n[checks.judge]\nrubric = "mine.j2"\n'
    recipe.write_text(body, encoding="utf-8")
    with pytest.raises(UsageError, match=r"checks\.judge\.scores is empty"):
        load_recipe(str(recipe))
    recipe.write_text(body + 'scores = ["clarity"]\n', encoding="utf-8")
    assert load_recipe(str(recipe)).rubric.variables == {"text", "noun"}


def test_a_rubric_that_names_an_unknown_variable_fails_at_load(tmp_path):
    recipe = tmp_path / "own.toml"
    (tmp_path / "tiny.j2").write_text((TINY_DIR / "tiny.j2").read_text(), encoding="utf-8")
    (tmp_path / "mine.j2").write_text("Grade {{ text }}\nfor {{ nope }}.", encoding="utf-8")
    body = Path(TINY).read_text(encoding="utf-8")
    recipe.write_text(body + '\n[checks.judge]\nrubric = "mine.j2"\nscores = ["a"]\n')
    with pytest.raises(UsageError, match=r"mine.j2 line 2 uses \{\{ nope \}\}"):
        load_recipe(str(recipe))


def run(out: Path, teacher: FakeTeacher, target: int, **options):
    config = RunConfig(out, target, progress=False, retry=Waits().policy(), **options)
    return generate(judged(threshold=6), teacher, config)


def test_a_run_records_scores_rejects_low_ones_and_counts_judge_traffic(tmp_path):
    good = {"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10}
    teacher = FakeTeacher(responder=scoring(good))
    result = run(tmp_path / "good", teacher, 5)
    assert result.stats.accepted == 5 and result.stats.requests == 10  # 5 stories, 5 grades
    record = json.loads(next((tmp_path / "good" / "data").iterdir()).read_text().splitlines()[0])
    assert record["checks"]["judge"] == {
        "scores": good,
        "mean": 8.0,
        "model": "fake-model",
        "requests": 1,
    }
    low = FakeTeacher(responder=scoring(dict.fromkeys(good, 3)))
    result = run(tmp_path / "low", low, 5, max_items=4)
    assert result.stats.accepted == 0 and result.stats.rejected["judge_low"] == 4
    assert result.stats.completion_tokens > 0
