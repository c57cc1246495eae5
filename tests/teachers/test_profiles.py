"""Model profiles and the request shape that learns from a host's 400s."""

from __future__ import annotations

import pytest

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.profiles import CHAT, REASONING, RequestShape, profile_for, unsupported_name


@pytest.mark.parametrize(
    "model", ["o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "GPT-5-nano"]
)
def test_reasoning_families(model):
    assert profile_for(model) is REASONING


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "gpt-4.1", "gpt-5-chat-latest", "o10x", "llama3.2", "openai/o3"]
)
def test_chat_models(model):
    assert profile_for(model) is CHAT


def params(**fields) -> TeacherParams:
    return TeacherParams(model="m", temperature=0.7, top_p=0.9, max_tokens=300, **fields)


def test_chat_body_sends_what_the_recipe_says():
    body = RequestShape(CHAT).body(params(seed=3))
    assert body == {"model": "m", "temperature": 0.7, "top_p": 0.9, "max_tokens": 300, "seed": 3}


def test_reasoning_body_has_max_completion_tokens_and_no_sampling():
    body = RequestShape(REASONING).body(params(reasoning_effort="low"))
    assert body == {"model": "m", "max_completion_tokens": 300, "reasoning_effort": "low"}
    assert REASONING.notes(params())[0].startswith("m is a reasoning model")
    assert "not sending temperature 0.7" in REASONING.notes(params())[0]
    assert CHAT.notes(params()) == []


OPENAI_MAX_TOKENS = {
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead.",
    "type": "invalid_request_error",
    "param": "max_tokens",
    "code": "unsupported_parameter",
}
OPENAI_TEMPERATURE = {
    "message": "Unsupported value: 'temperature' does not support 0.7 with this model. Only "
    "the default (1) value is supported.",
    "type": "invalid_request_error",
    "param": "temperature",
    "code": "unsupported_value",
}


def test_a_named_parameter_is_renamed_then_a_value_dropped():
    shape = RequestShape(CHAT)
    sent = shape.body(params())
    notice = shape.adapt(OPENAI_MAX_TOKENS, sent)
    assert notice == "the endpoint takes no max_tokens: sending max_completion_tokens instead"
    sent = shape.body(params())
    assert "max_tokens" not in sent and sent["max_completion_tokens"] == 300
    assert "refused temperature" in shape.adapt(OPENAI_TEMPERATURE, sent)
    assert shape.body(params()) == {"model": "m", "top_p": 0.9, "max_completion_tokens": 300}


@pytest.mark.parametrize(
    ("error", "name"),
    [
        ({"message": "property 'seed' is unsupported", "param": None}, "seed"),
        ({"message": "Unrecognized request argument supplied: seed"}, "seed"),
        ({"message": "Extra inputs are not permitted", "param": "seed"}, "seed"),
        ({"message": "top_p: unknown field"}, "top_p"),
    ],
)
def test_other_hosts_wordings(error, name):
    assert unsupported_name(error, {"model": "m", "seed": 1, "top_p": 1.0}) == name


@pytest.mark.parametrize(
    "error",
    [
        {"message": "max_tokens is too large: 99999", "param": "max_tokens"},  # not unsupported
        {"message": "Unsupported parameter: 'model'", "param": "model"},  # never dropped
        {"message": "Unknown model 'x'", "param": None},
        {"message": "property 'logit_bias' is unsupported"},  # not something tinygen sent
        {},
    ],
)
def test_400s_that_are_not_about_a_parameter_sent(error):
    sent = {"model": "m", "messages": [], "max_tokens": 5}
    assert unsupported_name(error, sent) is None
    assert RequestShape(CHAT).adapt(error, sent) is None


def test_a_started_answer_asks_to_continue_it():
    body = RequestShape(CHAT).body(params(), continuing=True)
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert "continue_final_message" not in RequestShape(CHAT).body(params())
