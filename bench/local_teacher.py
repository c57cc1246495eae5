"""Tokens/s of tinygen's LocalTeacher vs a plain llama-cpp-python loop, same prompts and seeds.

Run: python bench/local_teacher.py [--stories 20] [--rounds 2] [--concurrency 4]

Both sides load the same GGUF with the same context size and threads, get the same messages
and sampling parameters (tinygen's local defaults) and the same per-prompt seeds. Each side
is warmed up first; rounds alternate the order (plain first, then teacher first) so caches
and machine load do not favour one side. The ratio teacher/plain should be >= 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.local import (
    LOCAL_DEFAULTS,
    N_CTX,
    LocalTeacher,
    chat_kwargs,
    default_model_path,
    load_model,
    local_model_name,
)
from tinygen.text.cores import available_cores

NOUNS = ["ball", "cat", "tree", "boat", "kite", "cake", "hat", "dog", "fish", "car"]
VERBS = ["jump", "run", "sing", "swim", "hide", "draw", "play", "help", "share", "find"]
ADJECTIVES = ["happy", "big", "red", "soft", "kind", "little", "brave", "shiny", "sad", "funny"]
FEATURES = [
    "",
    "the story should contain at least one dialogue",
    "something unexpected happens / there is a plot twist",
    "the story has a moral value",
]


def prompts(count: int) -> list[list[dict[str, str]]]:
    """TinyStories-style chat messages, one per story."""
    result = []
    for i in range(count):
        noun, verb, adj = NOUNS[i % 10], VERBS[i * 3 % 10], ADJECTIVES[i * 7 % 10]
        feature = FEATURES[i % 4]
        text = (
            "Write a short story (3-5 paragraphs) which only uses very simple words that a "
            "3 year old child would likely understand. The story should use the verb "
            f'"{verb}", the noun "{noun}" and the adjective "{adj}".\n'
            + (f"The story should have the following features: {feature}.\n" if feature else "")
            + "Remember to only use simple words!"
        )
        result.append([{"role": "user", "content": text}])
    return result


def params() -> TeacherParams:
    """tinygen's local defaults as teacher parameters."""
    fields = {
        key.removeprefix("teacher."): value
        for key, value in LOCAL_DEFAULTS.items()
        if key.startswith("teacher.")
    }
    return TeacherParams(model=local_model_name(None), **fields)


def run_plain(
    llama, batch: list[list[dict[str, str]]], p: TeacherParams
) -> tuple[int, float, list]:
    """A plain sequential create_chat_completion loop: (tokens, seconds, texts)."""
    started, tokens, texts = time.perf_counter(), 0, []
    for messages in batch:
        response = llama.create_chat_completion(**chat_kwargs(messages, p))
        tokens += response["usage"]["completion_tokens"]
        texts.append(response["choices"][0]["message"]["content"])
    return tokens, time.perf_counter() - started, texts


async def run_teacher(
    teacher: LocalTeacher, batch: list, p: TeacherParams, concurrency: int
) -> tuple[int, float, list]:
    """The same prompts through LocalTeacher, `concurrency` calls in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(messages: list[dict[str, str]]):
        async with gate:
            return await teacher.complete(messages, p)

    started = time.perf_counter()
    completions = await asyncio.gather(*(one(m) for m in batch))
    tokens = sum(c.completion_tokens or 0 for c in completions)
    return tokens, time.perf_counter() - started, [c.text for c in completions]


async def main(args: argparse.Namespace) -> None:
    p, batch, threads = params(), prompts(args.stories), available_cores()
    path = default_model_path()
    print(
        f"model {path.name}, threads {threads}, n_ctx {N_CTX}, {args.stories} stories, "
        f"params {p.model_dump(exclude={'model'}, exclude_none=True)}"
    )
    llama, teacher = load_model(path, threads), LocalTeacher(str(path), threads)
    warm = [prompts(1)[0]]
    run_plain(llama, warm, p.model_copy(update={"max_tokens": 16}))
    await run_teacher(teacher, warm, p.model_copy(update={"max_tokens": 16}), 1)
    totals = {"plain": [0, 0.0], "teacher": [0, 0.0]}
    for round_ in range(args.rounds):
        order = ["plain", "teacher"] if round_ % 2 == 0 else ["teacher", "plain"]
        texts = {}
        for side in order:
            if side == "plain":
                tokens, seconds, texts[side] = run_plain(llama, batch, p)
            else:
                tokens, seconds, texts[side] = await run_teacher(
                    teacher, batch, p, args.concurrency
                )
            totals[side][0] += tokens
            totals[side][1] += seconds
            print(
                f"round {round_ + 1} {side:8s} {tokens:6d} tokens {seconds:7.1f}s "
                f"{tokens / seconds:6.1f} tok/s"
            )
        same = sum(a == b for a, b in zip(texts["plain"], texts["teacher"], strict=True))
        print(f"round {round_ + 1} identical stories: {same}/{len(batch)}")
    await teacher.aclose()
    llama.close()
    report(totals, args.rounds)


def report(totals: dict[str, list], rounds: int) -> None:
    """Print tokens/s per side, the ratio and the wall time per batch of stories."""
    rate = {side: tokens / seconds for side, (tokens, seconds) in totals.items()}
    print(f"plain llama-cpp-python: {rate['plain']:.1f} tok/s")
    print(f"tinygen LocalTeacher:   {rate['teacher']:.1f} tok/s")
    print(f"ratio teacher/plain:    {rate['teacher'] / rate['plain']:.3f} (target >= 0.9)")
    print(
        f"wall time per batch:    plain {totals['plain'][1] / rounds:.1f}s, "
        f"teacher {totals['teacher'][1] / rounds:.1f}s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
