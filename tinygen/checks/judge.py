"""The LLM judge (`[checks.judge]`): a teacher grades an answer against a rubric.

The judge is asked for one JSON object of integer scores (1 to 10), with structured
output where the endpoint takes it (`response_format` with a JSON schema; a host that
refuses it gets plain requests, see teachers/profiles.py). An answer that is not exactly
such an object is asked again once; a second miss rejects the record as
`judge_unreadable`. A mean under the threshold rejects it as `judge_low`. Every judge
request passes the run's gate, so budgets and rate limits count it, and is retried by
the run's policy. Which answers are judged depends on (recipe, index) alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tinygen.checks.base import Rejection
from tinygen.recipe.items import Item, prompt_estimate
from tinygen.recipe.model import JudgeConfig, ResolvedRecipe, TeacherParams
from tinygen.recipe.rubrics import SCALE, score_names
from tinygen.teachers.base import Completion, Teacher, TeacherCallError
from tinygen.teachers.limits import BudgetReached, Gate, gated_complete
from tinygen.teachers.retry import RetryPolicy, call_with_retries
from tinygen.text.canonical import sha256_hex

SYSTEM = "You are a careful, strict grader. You answer only with the JSON object asked for."
_FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)
MAX_SHOWN = 160  # characters of a malformed answer quoted in a detail


class Unreadable(ValueError):
    """The judge's answer is not the object of scores asked for."""


@dataclass
class Verdict:
    """What judging one answer found and cost."""

    figures: dict[str, object] = field(default_factory=dict)  # the record's checks.judge
    rejection: Rejection | None = None
    requests: int = 0
    unsent: str = ""  # a budget refused a judge request: the item stays pending
    prompt_tokens: int = 0
    completion_tokens: int = 0


def judge_schema(names: tuple[str, ...]) -> dict[str, object]:
    """The `response_format` asking for exactly the scores `names`."""
    low, high = SCALE
    score = {"type": "integer", "minimum": low, "maximum": high}
    schema = {
        "type": "object",
        "properties": dict.fromkeys(names, score),
        "required": list(names),
        "additionalProperties": False,
    }
    named = {"name": "scores", "strict": True, "schema": schema}
    return {"type": "json_schema", "json_schema": named}


def parse_scores(text: str, names: tuple[str, ...]) -> dict[str, int]:
    """The scores in a judge's answer: one JSON object (alone, or alone in a ```json
    fence) with an integer 1..10 for each name; other keys are ignored."""
    body = text.strip()
    if fenced := _FENCED.fullmatch(body):
        body = fenced[1]
    try:
        data = json.loads(body)
    except ValueError:
        raise Unreadable(f"not a JSON object: {_shown(text)}") from None
    if not isinstance(data, dict):
        raise Unreadable(f"not a JSON object: {_shown(text)}")
    low, high = SCALE
    scores = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Unreadable(f"{name} is {value!r}, not an integer from {low} to {high}")
        scores[name] = value
    return scores


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "...")


class Judge:
    """Grades answers for one run, under its gate and retry policy."""

    def __init__(
        self, resolved: ResolvedRecipe, teacher: Teacher, gate: Gate, policy: RetryPolicy
    ) -> None:
        config = resolved.recipe.checks.judge
        assert config is not None and resolved.rubric is not None
        self.config: JudgeConfig = config
        self.resolved = resolved
        self.teacher = teacher
        self.gate = gate
        self.policy = policy
        self.names = score_names(config)
        self.params = TeacherParams(
            model=config.model or resolved.recipe.teacher.model,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            response_format=judge_schema(self.names),
        )

    def wants(self, index: int) -> bool:
        """Whether item `index` is in the judged sample (a share `sample` of the items)."""
        if self.config.sample >= 1.0:
            return True
        digest = sha256_hex(f"{self.resolved.fingerprint}:judge:{index}")
        return int(digest[:16], 16) / 16**16 < self.config.sample

    async def grade(self, item: Item, text: str) -> Verdict:
        """Ask for the scores of `text` (asking again once if the answer is unreadable);
        fatal teacher errors are raised."""
        messages = self._messages(item, text)
        verdict = Verdict()
        for asking in range(2):
            completion = await self._ask(messages, verdict)
            if completion is None:  # failed for good, or a budget refused it
                return verdict
            try:
                scores = parse_scores(completion.text, self.names)
            except Unreadable as unreadable:
                if asking == 0:
                    messages = [*messages, *self._again(completion.text, unreadable)]
                    continue
                verdict.rejection = Rejection("judge_unreadable", str(unreadable))
                return verdict
            self._scored(verdict, scores, completion)
            return verdict
        raise AssertionError("unreachable: the second reading returns")

    def _messages(self, item: Item, text: str) -> list[dict[str, str]]:
        prompt = next((m["content"] for m in reversed(item.messages) if m["role"] == "user"), "")
        assert self.resolved.rubric is not None
        context = {**self.resolved.recipe.constants, **item.variables, "text": text}
        rubric = self.resolved.rubric.render({**context, "prompt": prompt})
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": rubric}]

    def _again(self, answer: str, unreadable: Unreadable) -> list[dict[str, str]]:
        keys = ", ".join(f'"{name}"' for name in self.names)
        return [
            {"role": "assistant", "content": answer},
            {
                "role": "user",
                "content": f"That answer cannot be read ({unreadable}). Answer with only one "
                f"JSON object whose keys are {keys}, each an integer from 1 to 10.",
            },
        ]

    async def _ask(self, messages: list[dict[str, str]], verdict: Verdict) -> Completion | None:
        estimate = prompt_estimate(messages)
        completions: list[Completion] = []

        async def one_call() -> Completion:
            verdict.requests += 1
            try:
                completion, _latency = await gated_complete(
                    self.gate, self.teacher, messages, self.params, estimate
                )
            except BudgetReached:
                verdict.requests -= 1  # refused before it was sent
                raise
            completions.append(completion)
            return completion

        try:
            outcome = await call_with_retries(one_call, self.policy)
        except BudgetReached as reached:
            verdict.unsent = str(reached)
            return None
        finally:
            for completion in completions:
                verdict.prompt_tokens += completion.prompt_tokens or 0
                verdict.completion_tokens += completion.completion_tokens or 0
        if outcome.completion is None:
            error = outcome.error or TeacherCallError("unknown", "no answer", retryable=False)
            verdict.rejection = Rejection("judge_failed", f"{error.kind}: {error.message}"[:300])
        return outcome.completion

    def _scored(self, verdict: Verdict, scores: dict[str, int], completion: Completion) -> None:
        mean = round(sum(scores.values()) / len(scores), 3)
        verdict.figures = {
            "scores": scores,
            "mean": mean,
            "model": completion.response_model or self.params.model,
            "requests": verdict.requests,
        }
        if mean < self.config.threshold:
            verdict.rejection = Rejection(
                "judge_low", f"mean score {mean:g} < threshold {self.config.threshold:g}", mean
            )
