"""SeenTexts: exact and near duplicates of accepted texts, online and after a resume."""

from __future__ import annotations

from tests.conftest import TINY, shard_records
from tests.helpers import run, tiny
from tinygen.dedup.seen import SeenTexts
from tinygen.recipe.load import load_recipe
from tinygen.rundir.outdir import prepare_out_dir
from tinygen.teachers.fake import FakeTeacher, story
from tinygen.text.canonical import text_key

TEXT = story(["cat", "jump"], 10**6 + 200)
NEAR = TEXT.replace("They counted 1000202 stars", "They counted 3 stars")
OTHER = story(["cat", "jump"], 10**6 + 201)


def check(seen: SeenTexts, index: int, text: str):
    return seen.check_and_add(index, text_key(text), text)


def fresh(out, resolved=None) -> SeenTexts:
    resolved = resolved or tiny()
    return SeenTexts.resume(out, resolved, prepare_out_dir(out, resolved, overwrite=False))


def test_exact_duplicates_name_the_first_item():
    seen = SeenTexts({})
    assert check(seen, 0, TEXT) is None
    rejection = check(seen, 1, "  " + TEXT.upper())
    assert (rejection.reason, rejection.detail) == ("duplicate", "same normalized text as item 0")
    assert check(seen, 0, TEXT) is None  # the same item again is not its own copy
    assert check(seen, 2, NEAR) is None  # no near-duplicate index: near copies pass
    seen.accepted()
    seen.close()


def test_near_copies_of_accepted_texts_are_refused(tmp_path):
    seen = fresh(tmp_path)
    assert check(seen, 0, TEXT) is None
    seen.accepted()
    rejection = check(seen, 1, NEAR)
    assert rejection.reason == "near_duplicate"
    assert rejection.detail.startswith("near copy of item 0 (Jaccard ~")
    assert 0.8 < rejection.value <= 1.0
    again = check(seen, 2, NEAR)  # the refused text's key was not kept
    assert again.reason == "near_duplicate"
    assert check(seen, 3, OTHER) is None
    seen.close()


def test_a_signature_counts_only_once_its_record_is_accepted(tmp_path):
    seen = fresh(tmp_path)
    assert check(seen, 0, TEXT) is None  # not reported accepted (yet)
    assert check(seen, 1, NEAR) is None
    seen.close()


def test_resume_refuses_copies_of_the_shards(tmp_path):
    run(tmp_path, FakeTeacher(), 3, concurrency=1)
    [first, *_] = sorted(shard_records(tmp_path), key=lambda r: r["index"])
    near = first["text"].replace(" went home.", " went home at last.")
    for rebuilt in (False, True):
        if rebuilt:  # a lost signature file is rebuilt from the shards
            (tmp_path / ".tinygen" / "neardup.sig").unlink()
        seen = fresh(tmp_path)
        item = first["index"]
        assert check(seen, 50, first["text"]).detail == f"same normalized text as item {item}"
        assert check(seen, 51, near).detail.startswith(f"near copy of item {item} ")
        seen.close()
        assert (tmp_path / ".tinygen" / "neardup.sig").is_file()


def test_signatures_of_records_not_in_the_shards_are_dropped(tmp_path):
    seen = fresh(tmp_path)
    assert check(seen, 7, TEXT) is None
    seen.accepted()  # its signature is on file, but no shard holds item 7 (a crash)
    seen.close()
    seen = fresh(tmp_path)
    assert check(seen, 8, NEAR) is None
    seen.close()


def test_near_duplicates_off_keeps_only_exact_keys(tmp_path):
    resolved = load_recipe(TINY, {"checks.near_duplicates": False})
    seen = fresh(tmp_path, resolved)
    assert check(seen, 0, TEXT) is None
    seen.accepted()
    assert check(seen, 1, NEAR) is None
    assert check(seen, 2, TEXT).reason == "duplicate"
    seen.close()
    assert not (tmp_path / ".tinygen").exists()
