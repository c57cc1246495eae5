"""MinHash signatures: shingles, short texts, settings, determinism across processes."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys

import pytest

from tinygen.dedup.minhash import NearDupConfig, estimated_jaccard, shingle_sets, signatures


def test_punctuation_case_and_spacing_do_not_matter() -> None:
    config = NearDupConfig()
    a, b = "The dog, Max, ran home!  It was late.", "the DOG max ran home it was late"
    sa, sb = signatures([a, b], config)
    assert estimated_jaccard(sa, sb) == 1.0


def test_shingles_match_a_plain_python_reference() -> None:
    rng = random.Random(3)
    letters = "abcdefghij_0123"
    vocab = ["".join(rng.choices(letters, k=rng.randint(1, 20))) for _ in range(300)]
    docs = []
    for _ in range(200):
        words = [rng.choice(vocab) + rng.choice(["", ",", "."]) for _ in range(rng.randint(0, 40))]
        docs.append(" ".join(words))
    for k in (1, 3, 5):
        flat, offsets = shingle_sets(docs, k)
        seen: dict[tuple, int] = {}
        for d, doc in enumerate(docs):
            words = re.findall(r"\w+", doc)
            grams = [tuple(words[i : i + k]) for i in range(len(words) - k + 1)] or [tuple(words)]
            hashes = flat[int(offsets[d]) : int(offsets[d + 1])].tolist()
            assert len(hashes) == len(grams)
            for gram, value in zip(grams, hashes, strict=True):
                assert seen.setdefault(gram, value) == value
        assert len(set(seen.values())) == len(seen)


def test_short_and_empty_texts_get_signatures() -> None:
    sigs = signatures(["", "hi", "hi there", "hi there you"], NearDupConfig())
    assert sigs.shape == (4, NearDupConfig().num_perm)
    assert estimated_jaccard(sigs[1], sigs[2]) < 1.0


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="exceeds num_perm"):
        NearDupConfig(bands=64, rows=8)
    with pytest.raises(ValueError, match="threshold"):
        NearDupConfig(threshold=0)


def test_signatures_are_identical_across_processes() -> None:
    text = "Lily found a shiny red ball in the park, and she played with it all day long."
    code = (
        "from tinygen.dedup.minhash import NearDupConfig, signatures; import sys; "
        "print(signatures([sys.argv[1]], NearDupConfig())[0].tolist())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code, text], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert outputs == {str(signatures([text], NearDupConfig())[0].tolist()) + "\n"}
