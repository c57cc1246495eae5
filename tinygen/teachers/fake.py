"""A teacher that answers from a script: for pipeline tests, with no HTTP and no model.

    teacher = FakeTeacher()
    teacher.enqueue(
        TeacherCallError("rate_limit", "429", retryable=True),  # the first call fails
        "Once upon a time there was a cat.",  # the second gets this text
    )
    result = generate(resolved, teacher, RunConfig(out_dir=out, target=5))
    assert teacher.calls == 6 and teacher.history[0].messages[-1]["role"] == "user"

Each call takes the next scripted outcome: a text (answered with finish_reason "stop"),
a `Completion` (returned as it is), or an exception (raised; a `TeacherCallError` is what
the retry policy understands). When the script is empty, `responder(messages, params)`
writes the text; the default, `story_responder()`, writes a new short story on every call
that uses each word quoted in the last user message, so answers pass the default checks
and are neither exact nor near duplicates of one another (nor of another fake's: stories
are numbered across the process; tests that call `story(words, n)` themselves should
pick n of a million or more). Every call is recorded in
`history` before it is answered, including calls that raise.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.base import Completion

Messages = list[dict[str, str]]
Responder = Callable[[Messages, TeacherParams], str]
Outcome = str | Completion | BaseException


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_QUOTED = re.compile(r'"([^"\n]{1,40})"')
_NAMES = _words("Lily Tom Mia Ben Sam Zoe Max Anna Leo Ruby Finn Ella Jack Rosa Noah Ivy")
_PLACES = _words("park garden forest beach farm hill pond meadow village river")
_THINGS = _words("kite ball box hat drum cake boat shell book lamp stone cup")
_DOINGS = _words("laughed waved sang hopped danced smiled clapped whistled ran rested")
_MOODS = _words("happy brave sleepy proud curious calm silly kind quiet glad")


_WORD_LINES = (
    "{who} said {w} by the {place}.",
    "{who} liked {w} and the {thing}.",
    "Then {w} made {who} {mood}.",
)
_LINES = (
    "{who} {doing} by the {place}.",
    "A {mood} {thing} sat near the {place}.",
    "{who} felt {mood} and held a {thing}.",
    "The {thing} looked {mood}, so {who} {doing}.",
    "Near the {place}, {who} {doing} again.",
)


def story(words: list[str], n: int) -> str:
    """Short story number `n` (a different one for every `n`) that uses each of `words`."""
    rng = random.Random(n)
    name, friend = rng.sample(_NAMES, 2)

    def line(template: str, word: str = "") -> str:
        who, doing, place = rng.choice((name, friend)), rng.choice(_DOINGS), rng.choice(_PLACES)
        thing, mood = rng.choice(_THINGS), rng.choice(_MOODS)
        return template.format(w=word, who=who, doing=doing, place=place, thing=thing, mood=mood)

    lines = [f"{name} lived near the {rng.choice(_PLACES)} with {friend}."]
    lines += [line(_WORD_LINES[i % len(_WORD_LINES)], word) for i, word in enumerate(words)]
    lines += [line(template) for template in rng.sample(_LINES, len(_LINES)) * 2]
    lines.append(f"They counted {n + 2} stars and went home.")
    return " ".join(lines)


def quoted_words(messages: Messages) -> list[str]:
    """The words quoted ("like this") in the last user message."""
    users = [m["content"] for m in messages if m.get("role") == "user"]
    return _QUOTED.findall(users[-1]) if users else []


_told = itertools.count()  # numbered across the process: two fakes never tell one story


def story_responder() -> Responder:
    """A responder that tells a new story on every call, using the prompt's quoted words."""
    return lambda messages, params: story(quoted_words(messages), next(_told))


@dataclass(frozen=True)
class Call:
    """One call the fake was asked to make."""

    messages: Messages
    params: TeacherParams


class FakeTeacher:
    """The teacher seam (`describe`, `complete`, `take_notices`, `aclose`) answered from a
    script."""

    def __init__(
        self,
        *outcomes: Outcome,
        responder: Responder | None = None,
        delay: float = 0.0,
        model: str = "fake-model",
    ) -> None:
        self.responder = responder or story_responder()
        self.delay = delay
        self.model = model
        self.history: list[Call] = []
        self.closed = False
        self.notices: list[str] = []  # handed to the run by take_notices, like a host's
        self._script: deque[Outcome] = deque(outcomes)

    @property
    def calls(self) -> int:
        """How many calls were made (answered or raised)."""
        return len(self.history)

    @property
    def pending(self) -> int:
        """Scripted outcomes not used yet."""
        return len(self._script)

    def enqueue(self, *outcomes: Outcome) -> FakeTeacher:
        """Script the next calls, in order: texts, Completions or exceptions to raise."""
        self._script.extend(outcomes)
        return self

    def describe(self) -> dict[str, object]:
        return {"kind": "fake", "host": "fake", "model": self.model}

    async def complete(self, messages: Messages, params: TeacherParams) -> Completion:
        """Record the call, wait `delay`, then answer with the next outcome."""
        self.history.append(Call(messages, params))
        if self.delay:
            await asyncio.sleep(self.delay)
        outcome = self._script.popleft() if self._script else self.responder(messages, params)
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, Completion):
            return outcome
        prompt = sum(len(m["content"].split()) for m in messages)
        return Completion(outcome, "stop", prompt, len(outcome.split()), self.model)

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        return notices

    async def aclose(self) -> None:
        self.closed = True
