"""Crash-safe files: torn-line repair, shard rotation, and the scan of a damaged run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import cli, gen_args, read_jsonl, run_cli_subprocess
from tests.openai_server import run_server
from tinygen.dedup.seen import _shard_texts
from tinygen.errors import TinygenError
from tinygen.report.card import first_record
from tinygen.rundir.jsonl import SHARD_LINE, read_records, repair_torn_tail
from tinygen.rundir.manifest import read_manifest
from tinygen.rundir.store import ShardWriter, scan

SHARD = "data/part-00000.jsonl"


def test_torn_tail_is_cut_to_the_last_whole_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    assert repair_torn_tail(path) is True
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert repair_torn_tail(path) is False


def test_torn_single_line_leaves_empty_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1')
    assert repair_torn_tail(path) is True
    assert path.read_bytes() == b""


def test_shard_writer_continues_a_partial_shard(tmp_path):
    writer = ShardWriter(tmp_path, shard_size=3, last_shard=0, last_count=0)
    for i in range(4):
        writer.write({"i": i})
    writer.close()
    resumed = ShardWriter(tmp_path, shard_size=3, last_shard=1, last_count=1)
    for i in range(4, 7):
        resumed.write({"i": i})
    resumed.close()
    lines = [
        len((tmp_path / "data" / f"part-0000{n}.jsonl").read_text().splitlines()) for n in range(3)
    ]
    assert lines == [3, 3, 1]


# ---------------------------------------------------------------- a damaged run directory


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A real run: 3 records in two shards, 3 rejected answers and 1 failed item."""
    out = tmp_path_factory.mktemp("pristine")
    faults = ("--schedule", "length,empty,filter,ok,500,500", "--fail-status", "500")
    with run_server("--port", "0", *faults) as srv:
        args = gen_args(srv.base_url, out, 3, "--concurrency", "1", "--max-attempts", "2")
        code, _, err = cli(*args, "--shard-size", "2")
    assert code == 0, err
    return out


@pytest.fixture
def run(pristine, tmp_path) -> Path:
    """A fresh copy of the pristine run, to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "run"))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, byte for byte."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def replace_line(path: Path, number: int, raw: bytes) -> None:
    """Replace line `number` (1-based) of `path` by `raw`."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[number - 1] = raw + b"\n"
    path.write_bytes(b"".join(lines))


def mutate_line(path: Path, number: int, change: Callable[[dict], object]) -> None:
    """Replace line `number` of `path` by `change` applied to its record."""
    record = read_jsonl(path)[number - 1]
    replace_line(path, number, json.dumps(change(record)).encode())


def scan_error(run: Path) -> TinygenError:
    """The error the scan of `run` raises; the scan must leave every file as it was."""
    before = snapshot(run)
    with pytest.raises(TinygenError) as caught:
        scan(run)
    assert snapshot(run) == before
    return caught.value


def assert_names_line(error: TinygenError, path: Path, number: int, what: str) -> None:
    assert error.message == f"{path} line {number} {what}"
    assert f"delete that line (its item is asked again): sed -i '{number}d' {path}" in error.hint
    assert error.hint.endswith("or start afresh with --overwrite")


def _without_fingerprint(record: dict) -> dict:
    del record["recipe"]["fingerprint"]
    return record


NOT_RECORDS = {
    "a list": (lambda r: [1, 2], "not a JSON object"),
    "empty object": (lambda r: {}, "no integer `index`"),
    "index as text": (lambda r: {"index": "7"}, "no integer `index`"),
    "index as bool": (lambda r: {**r, "index": True}, "no integer `index`"),
    "negative index": (lambda r: {**r, "index": -1}, "negative `index`"),
    "text not a string": (lambda r: {**r, "text": ["a"]}, "no string `text`"),
    "recipe not an object": (lambda r: {**r, "recipe": "tiny"}, "no string `recipe.fingerprint`"),
    "no fingerprint": (_without_fingerprint, "no string `recipe.fingerprint`"),
}


@pytest.mark.parametrize("case", NOT_RECORDS, ids=list(NOT_RECORDS))
def test_shard_line_that_is_not_a_record_is_named(run, case):
    change, problem = NOT_RECORDS[case]
    mutate_line(run / SHARD, 2, change)
    error = scan_error(run)
    assert_names_line(error, run / SHARD, 2, f"is not a tinygen record ({problem})")
    assert error.hint.startswith("restore the file, or delete that line")


@pytest.mark.parametrize(
    ("name", "number", "change", "problem"),
    [
        ("rejected.jsonl", 2, lambda r: {"index": r["index"]}, "no string `reason`"),
        ("rejected.jsonl", 3, lambda r: {**r, "index": 2.0}, "no integer `index`"),
        ("failed.jsonl", 1, lambda r: {**r, "error": "boom"}, "no string `error.kind`"),
        ("failed.jsonl", 1, lambda r: {**r, "error": {"kind": 5}}, "no string `error.kind`"),
    ],
)
def test_rejected_or_failed_line_that_is_not_a_record_is_named(run, name, number, change, problem):
    mutate_line(run / name, number, change)
    error = scan_error(run)
    assert_names_line(error, run / name, number, f"is not a tinygen record ({problem})")
    assert error.hint.startswith("delete that line")


@pytest.mark.parametrize(
    ("name", "number"), [(SHARD, 1), ("rejected.jsonl", 2), ("failed.jsonl", 1)]
)
def test_line_that_is_not_utf8_is_named_with_its_byte(run, name, number):
    path = run / name
    raw = path.read_bytes().splitlines()[number - 1]
    replace_line(path, number, raw[:12] + b"\xff" + raw[12:])
    error = scan_error(run)
    assert_names_line(error, path, number, "is not UTF-8 (byte 0xff at offset 12)")


def test_lone_surrogate_escape_is_named_and_a_whole_pair_is_read(run):
    mutate_line(run / SHARD, 1, lambda r: {**r, "text": r["text"] + " \U0001f600"})  # \ud83d\ude00
    mutate_line(run / "rejected.jsonl", 3, lambda r: {**r, "reason": "half \ud83d"})
    error = scan_error(run)
    path = run / "rejected.jsonl"
    assert_names_line(
        error, path, 3, "holds a lone surrogate U+D83D (half of a UTF-16 pair): not UTF-8 text"
    )


def test_torn_middle_line_keeps_its_message(run):
    path = run / "rejected.jsonl"
    replace_line(path, 2, path.read_bytes().splitlines()[1][:30])
    error = scan_error(run)
    assert_names_line(error, path, 2, "is not valid JSON: the file was edited or is corrupt")


def test_torn_last_lines_are_cut_after_the_whole_scan(run):
    whole = {name: (run / name).read_bytes() for name in (SHARD, "rejected.jsonl")}
    for name, data in whole.items():
        (run / name).write_bytes(data + b'{"index": 9, "te')
    result = scan(run)
    assert result.repaired == [str(run / SHARD), str(run / "rejected.jsonl")]
    assert {name: (run / name).read_bytes() for name in whole} == whole
    assert result.accepted == 3 and len(result.done) == 7


def test_a_damaged_file_stops_the_scan_before_any_torn_line_is_cut(run):
    (run / SHARD).write_bytes((run / SHARD).read_bytes() + b'{"index": 9, "te')
    replace_line(run / "failed.jsonl", 1, b"{}")
    error = scan_error(run)  # asserts that the torn shard line is still there
    assert error.message.startswith(f"{run / 'failed.jsonl'} line 1 ")


def test_reader_leaves_out_a_torn_last_line_and_writes_nothing(run):
    path = run / SHARD
    path.write_bytes(path.read_bytes() + b'{"index": 9')
    before = path.read_bytes()
    assert len(list(read_records(path, SHARD_LINE))) == 2
    assert path.read_bytes() == before


def test_shard_texts_and_first_record_raise_the_scans_error(run):
    replace_line(run / SHARD, 1, b'{"index": "7"}')
    with pytest.raises(TinygenError, match="line 1 is not a tinygen record"):
        list(_shard_texts(run, {0, 1, 2}))
    replace_line(run / SHARD, 1, b'{"index": 0, "\xff": 1}')
    with pytest.raises(TinygenError, match=r"line 1 is not UTF-8 \(byte 0xff at offset 14\)"):
        first_record(run)


def test_first_record_skips_a_shard_holding_only_a_torn_line(run):
    second = read_jsonl(run / "data/part-00001.jsonl")[0]
    (run / SHARD).write_bytes(b'{"index": 0, "te')
    assert first_record(run) == second


# ---------------------------------------------------------------- the manifest


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


BAD_MANIFESTS = {
    "empty object": (lambda m: {}, "field recipe: Field required"),
    "a list": (lambda m: [], "not a JSON object"),
    "a string": (lambda m: "x", "not a JSON object"),
    "no fingerprint": (
        lambda m: {**m, "recipe": {"name": "tiny"}},
        "field recipe.fingerprint: Field required",
    ),
    "totals as text": (
        lambda m: {**m, "totals": {"requests": "7"}},
        "field totals.requests: Input should be a valid number",
    ),
    "totals a list": (lambda m: {**m, "totals": [1]}, "field totals: Input should be a valid"),
    "sessions as text": (
        lambda m: {**m, "sessions": "2"},
        "field sessions: Input should be a valid integer",
    ),
    "negative sessions": (lambda m: {**m, "sessions": -1}, "field sessions: Input should be"),
}


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=list(BAD_MANIFESTS))
def test_manifest_that_is_not_a_tinygen_manifest_is_refused(run, case):
    change, problem = BAD_MANIFESTS[case]
    path = run / "manifest.json"
    path.write_text(json.dumps(change(_manifest(run))))
    with pytest.raises(TinygenError) as caught:
        read_manifest(run)
    assert caught.value.message.startswith(f"{path} is not a tinygen manifest ({problem}")
    assert caught.value.hint == (
        f"if {run} holds a tinygen run, delete manifest.json: the next run rebuilds it "
        "from the records"
    )


def test_manifest_not_utf8_keeps_its_message(run):
    path = run / "manifest.json"
    path.write_bytes(b'{"recipe": "\xff"}')
    with pytest.raises(TinygenError, match=r"manifest.json is corrupt \(not valid JSON\)"):
        read_manifest(run)


def test_manifest_is_a_plain_dict_with_the_fields_tinygen_reads(run):
    manifest = read_manifest(run)
    assert manifest == _manifest(run)  # a real manifest comes back as it is
    (run / "manifest.json").write_text(json.dumps({"recipe": {"fingerprint": "f", "name": "n"}}))
    assert read_manifest(run) == {
        "tinygen_version": None,
        "recipe": {"fingerprint": "f", "name": "n"},
        "totals": {},
        "sessions": 0,
        "started_at": None,
    }


# ---------------------------------------------------------------- resuming a damaged run


def _damage_rejected(run: Path) -> tuple[Path, str]:
    path = run / "rejected.jsonl"
    raw = path.read_bytes().splitlines()[1]
    replace_line(path, 2, raw[:12] + b"\xff" + raw[12:])
    (run / "failed.jsonl").write_bytes((run / "failed.jsonl").read_bytes() + b'{"ind')
    return path, "line 2 is not UTF-8 (byte 0xff at offset 12)"


def _damage_shard(run: Path) -> tuple[Path, str]:
    mutate_line(run / SHARD, 2, lambda r: {**r, "index": "1"})
    return run / SHARD, "line 2 is not a tinygen record (no integer `index`)"


def _damage_manifest(run: Path) -> tuple[Path, str]:
    (run / "manifest.json").write_text("[]")
    return run / "manifest.json", "is not a tinygen manifest (not a JSON object)"


@pytest.mark.parametrize("damage", [_damage_rejected, _damage_shard, _damage_manifest])
def test_resuming_a_damaged_run_fails_cleanly_and_writes_nothing(run, server, damage):
    path, what = damage(run)
    before = snapshot(run)
    srv = server()
    done = run_cli_subprocess(gen_args(srv.base_url, run, 6))
    assert done.returncode == 1, done.stderr
    assert f"Error: {path} {what}" in done.stderr
    assert "Hint: " in done.stderr and "Traceback" not in done.stderr
    assert snapshot(run) == before
    assert srv.requests() == []


def test_resume_carries_over_a_manifest_without_totals(run, server):
    minimal = {"recipe": {key: _manifest(run)["recipe"][key] for key in ("name", "fingerprint")}}
    (run / "manifest.json").write_text(json.dumps(minimal))
    code, _, err = cli(*gen_args(server().base_url, run, 4))
    assert code == 0, err
    manifest = _manifest(run)
    assert manifest["sessions"] == 1 and manifest["started_at"]


def test_a_stray_file_among_the_shards_is_named(run):
    path = run / "data" / "part-old.jsonl"
    path.write_bytes((run / SHARD).read_bytes())
    error = scan_error(run)
    assert error.message == f"{path} is not a tinygen shard (its name is not part-NNNNN.jsonl)"
