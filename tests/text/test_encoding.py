"""Lone surrogates (tinygen/text/encoding.py), which the `encoding` check and every writer
rely on. (The module lives in text/; these tests sit here, by the check that uses it.)"""

from __future__ import annotations

import json

from tinygen.checks.base import Answer
from tinygen.checks.text import unencodable
from tinygen.text.encoding import (
    REPLACEMENT,
    describe_unencodable,
    make_encodable,
    unencodable_at,
)

HALF_EMOJI = json.loads('"ab\\ud83dcd"')  # legal JSON, not encodable as UTF-8


def test_a_lone_surrogate_is_found_where_it_is():
    assert unencodable_at(HALF_EMOJI) == 2
    assert unencodable_at("x\udc00") == 1
    assert describe_unencodable(HALF_EMOJI, 2) == "lone surrogate U+D83D at character 2"


def test_encodable_text_has_no_position():
    assert unencodable_at("") is None
    assert unencodable_at("plain ascii") is None
    assert unencodable_at("emoji 😀 and accents é") is None
    assert unencodable_at(json.loads('"\\ud83d\\ude00"')) is None  # a whole pair is one emoji


def test_make_encodable_replaces_only_lone_surrogates():
    fixed = make_encodable("😀 " + HALF_EMOJI + " \udfff")
    assert fixed == f"😀 ab{REPLACEMENT}cd {REPLACEMENT}"
    fixed.encode("utf-8")
    clean = "nothing to do 😀"
    assert make_encodable(clean) is clean


def test_the_encoding_check_names_the_character():
    rejection = unencodable(Answer(HALF_EMOJI, "stop"))
    assert rejection.reason == "encoding"
    assert rejection.detail == (
        "lone surrogate U+D83D at character 2; kept in rejected.jsonl as U+FFFD"
    )
    assert unencodable(Answer("fine.", "stop")) is None
