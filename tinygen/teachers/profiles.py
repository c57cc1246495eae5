"""What a chat-completions request body holds for a model, and how it adapts to a host.

A model profile says which parameters a model family takes: OpenAI's reasoning models
(o1, o3, o4-mini, gpt-5) take `max_completion_tokens` (reasoning and answer share it)
and no temperature or top_p but the default 1. `RequestShape` builds the body from the
recipe's parameters and the profile, and learns from the host: a 400 that names a
parameter it sent as unsupported (in `error.param`, or quoted in the message) makes it
drop that parameter, or rename it where the message says what to use instead, for the
rest of the run. Each change is said once, as a notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tinygen.recipe.model import TeacherParams

# the bare names of OpenAI's reasoning families (a router's "openai/o3" speaks for itself)
_REASONING_MODEL = re.compile(r"^(o1|o3|o4|gpt-5)(?![-.]chat)(?:[-.:_]|$)", re.IGNORECASE)
_UNSUPPORTED = re.compile(
    r"unsupported|not supported|unrecognized|unknown|not allowed|not permitted|"
    r"extra (?:inputs|fields)|invalid (?:field|argument|parameter)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"""['"`]([A-Za-z_][A-Za-z0-9_.]*)['"`]""")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value"})
_INSTEAD = re.compile(r"""use ['"`]?([A-Za-z_][A-Za-z0-9_]*)['"`]? instead""", re.IGNORECASE)
MAX_ADAPTATIONS = 6  # changes to the body one request may cause, at most
CONTINUE_FINAL_MESSAGE = {"continue_final_message": True, "add_generation_prompt": False}
KEPT = frozenset({"model", "messages"})  # never dropped: without them nothing is asked


@dataclass(frozen=True)
class ModelProfile:
    """The parameters a model family takes."""

    name: str
    token_field: str = "max_tokens"
    sampling: bool = True  # takes temperature and top_p

    def notes(self, params: TeacherParams) -> list[str]:
        """What tinygen sends differently for this profile, said once at the start."""
        if self.name != "reasoning":
            return []
        note = (
            f"{params.model} is a reasoning model: sending max_completion_tokens "
            f"{params.max_tokens} (reasoning and answer share it)"
        )
        if params.temperature != 1 or params.top_p != 1:
            note += (
                f"; not sending temperature {params.temperature} and top_p {params.top_p} "
                "(it takes only the default 1)"
            )
        return [note]


CHAT = ModelProfile("chat")
REASONING = ModelProfile("reasoning", token_field="max_completion_tokens", sampling=False)


def profile_for(model: str) -> ModelProfile:
    """The profile of `model` (chat unless it names one of OpenAI's reasoning families)."""
    return REASONING if _REASONING_MODEL.match(model) else CHAT


@dataclass
class RequestShape:
    """The body parameters to send, adapted to what the host refused so far."""

    profile: ModelProfile
    dropped: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)

    def body(self, params: TeacherParams, continuing: bool = False) -> dict[str, object]:
        """The generation parameters of a request body (all but `messages`); `continuing`
        (the last message is the answer's start) asks vLLM to continue that message
        (llama.cpp's server does so by itself)."""
        body: dict[str, object] = {"model": params.model}
        if continuing:
            body |= CONTINUE_FINAL_MESSAGE
        if self.profile.sampling:
            body["temperature"] = params.temperature
            body["top_p"] = params.top_p
        body[self.profile.token_field] = params.max_tokens
        optional = {
            "seed": params.seed,
            "repeat_penalty": params.repeat_penalty,
            "reasoning_effort": params.reasoning_effort,
            "response_format": params.response_format,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        for old, new in self.renamed.items():
            if old in body:
                body[new] = body.pop(old)
        return {name: value for name, value in body.items() if name not in self.dropped}

    def adapt(self, error: dict, sent: dict[str, object]) -> str | None:
        """Learn from the `error` object of a 400: if it names a parameter of `sent` as
        unsupported, drop or rename it for good and return the notice; else None (the
        400 is the item's own failure)."""
        name = unsupported_name(error, sent)
        if name is None:
            return None
        message = str(error.get("message") or "")
        original = next((old for old, new in self.renamed.items() if new == name), name)
        instead = _INSTEAD.search(message)
        if instead and instead.group(1) not in sent and instead.group(1) not in KEPT:
            self.renamed[original] = instead.group(1)
            return f"the endpoint takes no {name}: sending {instead.group(1)} instead"
        self.dropped.update({name, original})
        return f"the endpoint refused {name} ({message[:160]}): sending requests without it"


def unsupported_name(error: dict, sent: dict[str, object]) -> str | None:
    """The parameter of `sent` that an error object says is unsupported: its `param`, or
    the first name of `sent` its message quotes or mentions (never model or messages)."""
    message, param = str(error.get("message") or ""), error.get("param")
    if error.get("code") not in UNSUPPORTED_CODES and not _UNSUPPORTED.search(message):
        return None
    candidates = [param] if isinstance(param, str) else []
    candidates += _QUOTED.findall(message) + _WORD.findall(message)
    for name in candidates:
        if name in sent and name not in KEPT:
            return name
    return None
