"""The fake teacher itself: script order, history, faults, delay, default stories."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.helpers import tiny
from tinygen.checks.base import Answer, first_rejection
from tinygen.checks.build import build_checks
from tinygen.recipe.items import build_item
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.fake import FakeTeacher, quoted_words, story

PARAMS = tiny().recipe.teacher
ASK = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": 'Use "owl".'}]


def complete(teacher: FakeTeacher, messages=ASK) -> Completion:
    return asyncio.run(teacher.complete(messages, PARAMS))


def test_script_is_used_in_order_then_the_responder():
    done = Completion("Done.", "length", 1, 2, "m")
    error = TeacherCallError("rate_limit", "429", retryable=True)
    teacher = FakeTeacher("First.", responder=lambda messages, params: "Default.")
    teacher.enqueue(error, done)
    assert teacher.pending == 3
    first = complete(teacher)
    assert (first.text, first.finish_reason) == ("First.", "stop")
    assert (first.prompt_tokens, first.completion_tokens) == (4, 1)
    with pytest.raises(TeacherCallError) as raised:
        complete(teacher)
    assert raised.value is error
    assert complete(teacher) is done
    assert complete(teacher).text == "Default."
    assert teacher.calls == 4 and teacher.pending == 0
    assert [call.messages for call in teacher.history] == [ASK] * 4
    assert teacher.history[0].params is PARAMS


def test_describe_and_aclose():
    teacher = FakeTeacher()
    assert teacher.describe()["kind"] == "fake"
    assert not teacher.closed
    asyncio.run(teacher.aclose())
    assert teacher.closed


def test_delay_lets_calls_overlap():
    async def main() -> tuple[int, list[str]]:
        teacher = FakeTeacher("a.", "b.", "c.", delay=0.05)
        tasks = [asyncio.create_task(teacher.complete(ASK, PARAMS)) for _ in range(3)]
        await asyncio.sleep(0.01)
        recorded = teacher.calls  # all three were asked before any was answered
        return recorded, [(await task).text for task in tasks]

    assert asyncio.run(main()) == (3, ["a.", "b.", "c."])


def test_quoted_words_come_from_the_last_user_message():
    messages = [
        {"role": "system", "content": 'Never "this".'},
        {"role": "user", "content": 'Use "cat" and "jump".'},
    ]
    assert quoted_words(messages) == ["cat", "jump"]
    assert quoted_words([{"role": "system", "content": '"x"'}]) == []


def test_default_stories_pass_the_default_checks_and_use_the_words():
    resolved, checks = tiny(), build_checks(tiny())
    teacher = FakeTeacher()
    for index in range(30):
        item = build_item(resolved, index)
        text = complete(teacher, item.messages).text
        assert first_rejection(Answer(text, "stop", item.variables), checks) is None
        assert item.variables["noun"] in text and item.variables["verb"] in text


def shingles(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def test_stories_are_neither_exact_nor_near_copies_across_fakes():
    texts = []
    for teacher in (FakeTeacher(), FakeTeacher()):  # a resumed run gets a new fake
        texts += [complete(teacher).text for _ in range(100)]
    assert len(set(texts)) == 200
    sets = [shingles(text) for text in texts]
    jaccard = max(len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2))
    assert jaccard < 0.5  # near_duplicate_threshold is 0.8


def test_story_is_deterministic_in_n():
    assert story(["owl"], 10**6) == story(["owl"], 10**6)
    assert story(["owl"], 10**6) != story(["owl"], 10**6 + 1)
    for a, b in itertools.combinations([story([], n) for n in range(20)], 2):
        assert a != b
