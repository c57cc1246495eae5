"""The messages between tinygen and its workers: each kind round-trips, nothing else passes."""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY
from tinygen.engine import children, messages
from tinygen.engine.asker import Finished, Kind
from tinygen.engine.messages import (
    KINDS,
    Ask,
    Cancel,
    Crash,
    Done,
    Drain,
    Fatal,
    Message,
    Ready,
    Refused,
    WorkerSetup,
)
from tinygen.engine.pool import worker_error
from tinygen.engine.worker import build_asker
from tinygen.errors import TinygenError
from tinygen.recipe.items import build_item
from tinygen.recipe.load import load_recipe
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.factory import TeacherOptions
from tinygen.teachers.limits import Budget
from tinygen.teachers.prices import Prices


def setup(recipe: str = TINY) -> WorkerSetup:
    options = TeacherOptions(base_url="http://127.0.0.1:9/v1", api_key="k", concurrency=4)
    return WorkerSetup(load_recipe(recipe), options, 6, Budget(7, 1001, 3.0), Prices(1, 2), 9e3)


def finished_items() -> tuple[Finished, ...]:
    signed = Finished(3, Kind.CANDIDATE, '{"id": 3}\n', attempts=2, retried=("rate_limit",))
    signed.key, signed.signature = b"k" * 16, np.arange(8, dtype=np.uint32)
    return (signed, Finished(4, Kind.UNSENT, reason="max_requests"))


SAMPLES: list[Message] = [
    setup(),
    Ask((5, 1, 9)),
    Drain(),
    Cancel(),
    Ready(),
    Refused("recipe x does not match", "rerun"),
    Refused("no hint", None),
    Done(finished_items(), 12),
    Fatal("auth", "401 bad key", 401),
    Crash("Traceback (most recent call last):\nValueError: boom\n"),
]


def same(a: object, b: object) -> bool:
    """Equality that looks into Finished items (their numpy signatures included)."""
    if isinstance(a, Finished) and isinstance(b, Finished):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(Finished))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, Done) and isinstance(b, Done):
        pairs = zip(a.batch, b.batch, strict=True)
        return a.concurrency == b.concurrency and all(same(x, y) for x, y in pairs)
    return type(a) is type(b) and a == b


async def through_a_pipe(frames: list[bytes]) -> list[Message | None]:
    """Write `frames` into an OS pipe and read messages back until the stream ends."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    read_transport, _ = await loop.connect_read_pipe(lambda: protocol, os.fdopen(read_fd, "rb"))
    transport, flow = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb")
    )
    writer = asyncio.StreamWriter(transport, flow, None, loop)
    for frame in frames:
        writer.write(frame)
    writer.close()
    received: list[Message | None] = []
    while (message := await messages.read(reader)) is not None:
        received.append(message)
    read_transport.close()
    return received


def read_fed(data: bytes, count: int = 1) -> list[Message | None]:
    """`count` messages read from a StreamReader fed `data` and its end."""

    async def read() -> list[Message | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [await messages.read(reader) for _ in range(count)]

    return asyncio.run(read())


def raw_frame(value: object) -> bytes:
    body = pickle.dumps(value)
    return struct.pack(">I", len(body)) + body


def test_every_message_round_trips_through_a_pipe():
    assert {type(message) for message in SAMPLES} == set(KINDS)
    received = asyncio.run(through_a_pipe([messages.encode(m) for m in SAMPLES]))
    assert len(received) == len(SAMPLES)
    for sent, got in zip(SAMPLES, received, strict=True):
        assert same(sent, got), type(sent).__name__


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_messages_are_small_and_frozen(message):
    assert not hasattr(message, "__dict__")  # slots
    for field in fields(message):
        with pytest.raises(AttributeError):
            setattr(message, field.name, None)


def test_the_resolved_recipe_travels_whole_and_no_file_is_read_again(tmp_path: Path):
    (tmp_path / "nouns.txt").write_text("cat\ndog\nfox\n")
    (tmp_path / "story.j2").write_text("Write a story about a {{ noun }}.\n{{ rule }}\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\ntemplate = "story.j2"\nsystem = "Be brief about {{ noun }}."\n'
        '[lists.noun]\nfile = "nouns.txt"\n[constants]\nrule = "Short words."\n'
    )
    sent = setup(str(recipe))
    frame = messages.encode(sent)
    for path in tmp_path.iterdir():
        path.unlink()  # the worker's side must not need them
    [got] = asyncio.run(through_a_pipe([frame]))
    assert isinstance(got, WorkerSetup) and got == sent
    resolved = got.recipe
    assert resolved.fingerprint_holds() and resolved.fingerprint == sent.recipe.fingerprint
    assert resolved.lists == {"noun": ("cat", "dog", "fox")}
    assert resolved.template_hash == sent.recipe.template_hash
    for index in range(5):
        assert build_item(resolved, index) == build_item(sent.recipe, index)
    build_asker(got)  # the worker's own rebuild accepts it


def test_a_worker_refuses_a_recipe_that_does_not_match_its_fingerprint():
    sent = setup()
    renamed = sent.recipe.recipe.model_copy(update={"name": "renamed"})
    tampered = replace(sent, recipe=replace(sent.recipe, recipe=renamed))
    [got] = asyncio.run(through_a_pipe([messages.encode(tampered)]))
    assert isinstance(got, WorkerSetup) and not got.recipe.fingerprint_holds()
    with pytest.raises(TinygenError, match="recipe renamed does not match its fingerprint"):
        build_asker(got)


@pytest.mark.parametrize(
    "value", [("ready",), ("ask", [1, 2]), {"kind": "done"}, None, "cancel"], ids=repr
)
def test_anything_but_a_message_is_refused_clearly(value):
    with pytest.raises(TinygenError) as refused:
        read_fed(raw_frame(value))
    assert "unexpected message" in refused.value.message
    assert type(value).__name__ in refused.value.message
    assert "--workers 1" in (refused.value.hint or "")


def test_a_frame_that_does_not_unpickle_is_refused_clearly():
    with pytest.raises(TinygenError, match="unreadable frame"):
        read_fed(struct.pack(">I", 5) + b"hello")


def test_a_torn_last_frame_ends_the_stream():
    whole, torn = messages.encode(Ready()), messages.encode(Ask((1, 2, 3)))
    assert read_fed(whole + torn[:-2], count=2) == [Ready(), None]


def test_what_a_worker_sends_becomes_the_error_it_means():
    fatal = worker_error(Fatal("auth", "401 bad key", 401))
    assert isinstance(fatal, TeacherCallError) and fatal.fatal and fatal.status == 401
    refused = worker_error(Refused("cannot start", "do this"))
    assert isinstance(refused, TinygenError) and (refused.message, refused.hint) == (
        "cannot start",
        "do this",
    )
    crash = worker_error(Crash("Traceback (most recent call last):\nValueError: boom\n"))
    assert isinstance(crash, TinygenError) and crash.message.endswith("ValueError: boom")
    assert "unexpected message: Ask" in str(worker_error(Ask((1,))))


@pytest.fixture(params=["forked", "started"])
def start(request, monkeypatch):
    """Worker processes forked from this one, or started as a fresh interpreter."""
    monkeypatch.setattr(children, "fork_is_safe", lambda: request.param == "forked")
    return children.start_worker


async def talk_to_a_worker(start, frames: list[bytes]) -> tuple[list[Message | None], int]:
    """Start a real worker process, send it `frames`, read what it answers until it exits."""
    process = await start()
    assert process.stdin is not None and process.stdout is not None
    for frame in frames:
        process.stdin.write(frame)
    answers: list[Message | None] = []
    while (message := await asyncio.wait_for(messages.read(process.stdout), 30)) is not None:
        answers.append(message)
        if not isinstance(message, Ready):
            break
    process.stdin.close()
    return answers, await asyncio.wait_for(process.wait(), 30)


@pytest.mark.parametrize(
    ("first", "named"),
    [(messages.encode(Ready()), "Ready"), (raw_frame(("ask", [1])), "tuple")],
    ids=["a message of the other way", "a bare tuple"],
)
def test_a_worker_process_refuses_what_is_not_a_setup(start, first, named):
    answers, code = asyncio.run(talk_to_a_worker(start, [first]))
    [refused] = answers
    assert isinstance(refused, Refused) and f"unexpected message: {named}" in refused.message
    assert code == 0


def test_a_ready_worker_refuses_a_message_it_cannot_take(start):
    answers, code = asyncio.run(
        talk_to_a_worker(start, [messages.encode(setup()), messages.encode(Ready())])
    )
    assert answers[0] == Ready()
    assert isinstance(answers[1], Refused) and "unexpected message: Ready" in answers[1].message
    assert code == 0
