"""Parts of a run: which items each takes, and where the rank and count come from."""

from __future__ import annotations

import pytest

from tinygen.engine.parts import Part, parse_part
from tinygen.errors import UsageError


def test_parts_split_items_and_target_without_overlap():
    parts = [Part(k, 3) for k in range(3)]
    taken = [list(part.indexes(4)) for part in parts]
    assert taken == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    assert [part.share(10) for part in parts] == [4, 3, 3]
    assert Part(2, 8).folder == "part-0002-of-0008"


SLURM_FROM_10 = {
    "SLURM_ARRAY_TASK_ID": "12",
    "SLURM_ARRAY_TASK_MIN": "10",
    "SLURM_ARRAY_TASK_COUNT": "4",
}


@pytest.mark.parametrize(
    ("text", "env", "part"),
    [
        ("2/8", {}, Part(2, 8)),
        ("auto", {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8"}, Part(5, 8)),
        (
            "auto",
            {
                "SLURM_ARRAY_TASK_ID": "12",
                "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_COUNT": "4",
            },
            Part(2, 4),
        ),
        ("auto/6", {"JOB_COMPLETION_INDEX": "3"}, Part(3, 6)),
        ("auto", {"RANK": "1", "WORLD_SIZE": "2"}, Part(1, 2)),
    ],
)
def test_parts_given_or_found(text, env, part):
    found, where = parse_part(text, env)
    assert found == part and where


@pytest.mark.parametrize(
    ("text", "env", "says"),
    [
        ("8/8", {}, "is not a part"),
        ("half", {}, "is not K/N or auto"),
        ("auto", {}, "found no SLURM_ARRAY_TASK_ID"),
        ("auto", {"JOB_COMPLETION_INDEX": "1"}, "--part auto/N"),
        ("auto", {"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a whole number"),
    ],
)
def test_bad_parts_name_the_fix(text, env, says):
    with pytest.raises(UsageError) as error:
        parse_part(text, env)
    assert says in error.value.message + (error.value.hint or "")
