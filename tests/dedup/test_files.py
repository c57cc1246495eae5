"""`dedup_files`: one clean corpus and a report from several runs' output directories."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tinygen.dedup.files
import tinygen.dedup.output
import tinygen.dedup.prepare
from tests.conftest import cli, gen_args, run_cli_subprocess
from tinygen.dedup.files import dedup_files
from tinygen.dedup.minhash import NearDupConfig
from tinygen.dedup.prepare import Preparer
from tinygen.errors import TinygenError, UsageError
from tinygen.rundir.jsonl import JsonlAppender
from tinygen.rundir.layout import DEDUP_REPORT as REPORT
from tinygen.rundir.layout import DEDUP_SUMMARY as SUMMARY

WORDS = [f"word{i}" for i in range(3000)]


def story(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(120)) + "."


def near_copy(rng: random.Random, text: str) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = "changed"
    return " ".join(words)


def write_run(run_dir: Path, records: list[dict], shard_size: int = 4) -> None:
    """A run directory: records in data/part-NNNNN.jsonl, plus a manifest."""
    (run_dir / "data").mkdir(parents=True)
    for n in range(0, len(records), shard_size):
        lines = [json.dumps(r) + "\n" for r in records[n : n + shard_size]]
        (run_dir / "data" / f"part-{n // shard_size:05d}.jsonl").write_text("".join(lines))
    (run_dir / "manifest.json").write_text("{}")


def record(run: str, index: int, text: str) -> dict:
    return {"id": f"{run}-{index:08d}", "index": index, "text": text, "extra": {"run": run}}


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Run a: 6 stories. Run b: an exact copy (other case), a near copy, 2 new stories."""
    rng = random.Random(0)
    texts = [story(rng) for _ in range(8)]
    a = [record("a", i, t) for i, t in enumerate(texts[:6])]
    b = [
        record("b", 0, texts[1].upper()),
        record("b", 1, near_copy(rng, texts[2])),
        record("b", 2, texts[6]),
        record("b", 3, texts[7]),
        record("b", 4, texts[7]),
    ]
    write_run(tmp_path / "run-a", a)
    write_run(tmp_path / "run-b", b)
    return tmp_path / "run-a", tmp_path / "run-b", texts


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_runs_give_one_clean_corpus_and_a_report(two_runs, tmp_path: Path) -> None:
    run_a, run_b, _texts = two_runs
    out = tmp_path / "clean"
    report = dedup_files([run_a, run_b], out, shard_size=3, progress=False)
    assert (report.read, report.kept, report.exact, report.near) == (11, 8, 2, 1)
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    kept = [r for s in shards for r in read_jsonl(out / "data" / s)]
    assert [r["id"] for r in kept] == [f"a-{i:08d}" for i in range(6)] + [
        "b-00000002",
        "b-00000003",
    ]
    assert kept[0] == read_jsonl(run_a / "data" / "part-00000.jsonl")[0]  # whole, untouched
    removed = {r["id"]: r for r in read_jsonl(out / REPORT)}
    assert removed["b-00000000"] == {
        "id": "b-00000000",
        "kind": "exact",
        "kept": "a-00000001",
        "jaccard": 1.0,
        "cluster": "a-00000001",
    }
    assert removed["b-00000001"]["kind"] == "near"
    assert removed["b-00000001"]["kept"] == removed["b-00000001"]["cluster"] == "a-00000002"
    assert 0.8 <= removed["b-00000001"]["jaccard"] < 1.0
    assert removed["b-00000004"]["kind"] == "exact"
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["read"] == 11 and summary["kept"] == 8 and summary["threshold"] == 0.8
    assert summary["near_params"] == NearDupConfig().params()


def test_near_dedup_can_be_switched_off(two_runs, tmp_path: Path) -> None:
    run_a, run_b, _texts = two_runs
    report = dedup_files([run_a, run_b], tmp_path / "out", near=None, progress=False)
    assert (report.kept, report.exact, report.near) == (9, 2, 0)


def test_plain_jsonl_with_another_text_field(tmp_path: Path) -> None:
    rng = random.Random(1)
    text = story(rng)
    rows = [{"body": text}, {"body": near_copy(rng, text)}, {"body": story(rng)}]
    source = tmp_path / "in" / "x.jsonl"
    source.parent.mkdir()
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    report = dedup_files([tmp_path / "in"], tmp_path / "out", text_field="body", progress=False)
    assert (report.read, report.kept, report.near) == (3, 2, 1)
    (removed,) = read_jsonl(tmp_path / "out" / REPORT)
    assert removed["id"] == f"{source}:2" and removed["kept"] == f"{source}:1"


def test_kept_lines_are_written_as_they_were_read(tmp_path: Path) -> None:
    """A kept record's line is the input's, spacing and key order kept (less the line's
    ending); one that is not plain UTF-8 JSON (a byte order mark, an escaped surrogate
    pair) is re-encoded as compact UTF-8."""
    lines = [
        b'  {"text": "one two three four",   "id": "spaced", "n": 1.50}  \r\n',
        "\ufeff".encode() + b'{"id": "bom", "text": "five six seven eight"}\n',
        b'{"id": "pair", "text": "nine ten eleven \\ud83d\\ude00"}',
    ]
    sources = [tmp_path / f"in{n}.jsonl" for n in range(len(lines))]
    for source, line in zip(sources, lines, strict=True):
        source.write_bytes(line)
    report = dedup_files(sources, tmp_path / "out", progress=False)
    assert report.kept == 3
    written = (tmp_path / "out" / "data" / "part-00000.jsonl").read_bytes().split(b"\n")
    assert written == [
        b'{"text": "one two three four",   "id": "spaced", "n": 1.50}',
        b'{"id":"bom","text":"five six seven eight"}',
        '{"id":"pair","text":"nine ten eleven \U0001f600"}'.encode(),
        b"",
    ]


def test_output_directory_with_data_is_refused(two_runs) -> None:
    run_a, run_b, _texts = two_runs
    with pytest.raises(UsageError, match="already holds data"):
        dedup_files([run_b], run_a, progress=False)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"text": oops}\n')
    with pytest.raises(UsageError, match=r"bad.jsonl line 2 is not valid JSON"):
        dedup_files([source], tmp_path / "out", progress=False)
    assert not list((tmp_path / "out" / "data").glob("*.jsonl"))  # nothing half-written
    source.write_text('{"text": "fine"}\n')
    assert dedup_files([source], tmp_path / "out", progress=False).kept == 1  # retry works


def test_missing_text_field_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "nofield.jsonl"
    source.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(UsageError, match=r"nofield.jsonl line 2 has no string field 'text'"):
        dedup_files([source], tmp_path / "out", progress=False)


def test_missing_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        dedup_files([tmp_path / "nope"], tmp_path / "out", progress=False)


def test_duplicate_ids_across_inputs_stay_distinct(tmp_path: Path) -> None:
    rng = random.Random(2)
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    first.write_text(json.dumps({"id": "x", "text": story(rng)}) + "\n")
    second.write_text(json.dumps({"id": "x", "text": story(rng)}) + "\n")
    config = NearDupConfig(threshold=0.9)
    report = dedup_files([first, second], tmp_path / "out", near=config, progress=False)
    assert report.kept == 2


def test_a_folder_of_runs_gives_their_shards_only(two_runs, tmp_path: Path) -> None:
    run_a, _run_b, _texts = two_runs
    (run_a / "failed.jsonl").write_text('{"index": 9, "error": {"kind": "timeout"}}\n')
    report = dedup_files([tmp_path], tmp_path / "clean", progress=False)
    assert (report.read, report.kept, report.files) == (11, 8, 4)


def test_a_run_directory_as_output_is_refused(two_runs, tmp_path: Path) -> None:
    run_a, _run_b, _texts = two_runs
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "manifest.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds data"):
        dedup_files([run_a], tmp_path / "fresh", progress=False)


def test_dedup_command_on_two_run_directories(server, tmp_path: Path) -> None:
    srv = server("--responder", "echo")
    runs = []
    for seed in ("1", "2"):
        run = tmp_path / f"run{seed}"
        code, _, err = cli(*gen_args(srv.base_url, run, 30, "--seed", seed, "--max-items", "300"))
        assert code == 0, err
        runs.append(run)
    code, out, err = cli(
        "dedup", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "clean"), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["read"] == 60 and summary["kept"] + summary["exact"] + summary["near"] == 60
    assert summary["exact"] > 0  # echo answers repeat across seeds: same prompts
    clean = tmp_path / "clean"
    kept = [
        json.loads(line)
        for p in sorted((clean / "data").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert len(kept) == summary["kept"] and len({r["id"] for r in kept}) == len(kept)
    report = [json.loads(line) for line in (clean / REPORT).read_text().splitlines()]
    assert len(report) == summary["exact"] + summary["near"]
    assert {r["kind"] for r in report} <= {"exact", "near"}


# --- encoding: strings UTF-8 cannot encode (lone surrogates) are never written ---------------

BAD_LINES = [
    b'{"id": "t", "text": "half \\ud83d an emoji"}',  # the text: a lone escaped surrogate
    b'{"id": "x", "text": "same words", "extra": {"note": ["ok", "a\\udc00"]}}',  # another field
    b'{"text": "raw bytes \xed\xa0\xbd of a surrogate"}',  # no id: the file:line names it
    b'{"id": "i\\ud800", "text": "fine text"}',  # the id itself
    b'{"id": "k", "text": "other text", "\\udfff": 1}',  # a key
]
GOOD_LINES = [
    b'{"id": "pair", "text": "a whole emoji \\ud83d\\ude00 and \\\\ud83d spelled out"}',
    b'{"id": "y", "text": "same words"}',  # as "x", which was not kept: so this one is
]


def read_strict(path: Path) -> list[dict]:
    """Every line of a file read back as strict UTF-8 JSON."""
    with open(path, encoding="utf-8", errors="strict") as handle:
        return [json.loads(line) for line in handle]


def assert_strict_utf8(out: Path) -> None:
    """Every output file reads back as strict UTF-8: JSON lines, and the JSON summary."""
    for path in [out / REPORT, *sorted((out / "data").glob("*.jsonl"))]:
        read_strict(path)
    json.loads((out / SUMMARY).read_text(encoding="utf-8", errors="strict"))


def test_unencodable_records_are_removed_as_encoding(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(BAD_LINES + GOOD_LINES) + b"\n")
    out = tmp_path / "out"
    report = dedup_files([source], out, progress=False)
    assert (report.read, report.kept, report.encoding, report.exact) == (7, 2, 5, 0)
    assert report.removed == 5
    assert_strict_utf8(out)
    kept = read_strict(out / "data" / "part-00000.jsonl")
    assert [r["id"] for r in kept] == ["pair", "y"]
    assert kept[0]["text"].startswith("a whole emoji \U0001f600 and \\ud83d")
    removed = read_strict(out / REPORT)
    assert [r["id"] for r in removed] == ["t", "x", f"{source}:3", "i\\ud800", "k"]
    assert {r["kind"] for r in removed} == {"encoding"}
    details = [r["detail"] for r in removed]
    assert details[0] == "lone surrogate U+D83D at character 5 in field 'text'"
    assert details[1] == "lone surrogate U+DC00 at character 1 in field 'extra.note[1]'"
    assert details[2].startswith("lone surrogate U+D83D at character 10 in field 'text'")
    assert details[3] == "lone surrogate U+D800 at character 1 in field 'id'"
    assert details[4] == "lone surrogate U+DFFF at character 0 in field '\\udfff'"
    assert json.loads((out / SUMMARY).read_text(encoding="utf-8"))["encoding"] == 5


def test_unencodable_copy_of_a_kept_record_is_not_written(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"id": "a", "text": "same words"}\n' + BAD_LINES[1] + b"\n")
    report = dedup_files([source], tmp_path / "out", progress=False)
    assert (report.kept, report.exact + report.encoding) == (1, 1)
    kept = read_strict(tmp_path / "out" / "data" / "part-00000.jsonl")
    assert kept == [{"id": "a", "text": "same words"}]


def test_encoding_removals_via_the_cli(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(BAD_LINES + GOOD_LINES) + b"\n")
    out = tmp_path / "out"
    done = run_cli_subprocess(["dedup", str(source), "--out", str(out), "--json"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert (summary["kept"], summary["encoding"]) == (2, 5)
    assert_strict_utf8(out)


# --- --out: checked before any input is read; a refused run creates nothing ------------------


def user_folder(root: Path) -> Path:
    """A user's folder: a README, a data/ folder with notes, plots."""
    (root / "data").mkdir(parents=True)
    (root / "plots").mkdir()
    (root / "README.md").write_text("# my project\n")
    (root / "data" / "notes.txt").write_text("notes\n")
    (root / "plots" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00binary")
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (folders as None), with the bytes of each file."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def unread_input(tmp_path: Path) -> Path:
    """An input that fails if it is read at all: the --out checks must come first."""
    source = tmp_path / "input" / "x.jsonl"
    source.parent.mkdir()
    source.write_text("not json\n")
    return source


def refused_outs(tmp_path: Path) -> dict[str, tuple[Path, type, str]]:
    """Each refused --out, with the error and message expected."""
    (tmp_path / "somefile").write_text("a file\n")
    user_folder(tmp_path / "proj")
    return {
        "a file": (tmp_path / "somefile", UsageError, r"--out .*somefile is a file"),
        "under a file": (
            tmp_path / "somefile" / "sub",
            UsageError,
            r"--out .*somefile/sub is under .*somefile, which is a file",
        ),
        "under /proc": (
            Path("/proc/x/out"),
            TinygenError,
            r"cannot create /proc/x \(for --out /proc/x/out\): No such file or directory",
        ),
        "a user's folder": (
            tmp_path / "proj",
            UsageError,
            r"--out .*proj is not empty and holds no tinygen output \(README.md, data/, plots/\)",
        ),
    }


CASES = ["a file", "under a file", "under /proc", "a user's folder"]


@pytest.mark.parametrize("case", CASES)
def test_refused_out_creates_nothing(case: str, tmp_path: Path, unread_input: Path) -> None:
    out, error, message = refused_outs(tmp_path)[case]
    before = snapshot(tmp_path)
    with pytest.raises(error, match=message) as raised:
        dedup_files([unread_input], out, progress=False)
    assert raised.value.hint
    assert snapshot(tmp_path) == before
    assert not Path("/proc/x").exists()


@pytest.mark.parametrize("case", CASES)
def test_refused_out_via_the_cli(case: str, tmp_path: Path, unread_input: Path) -> None:
    out, error, message = refused_outs(tmp_path)[case]
    before = snapshot(tmp_path)
    done = run_cli_subprocess(["dedup", str(unread_input), "--out", str(out), "--quiet"])
    assert done.returncode == (2 if error is UsageError else 1), done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    assert re.search(message, errors[0]), errors[0]
    assert "Hint:" in done.stderr
    assert snapshot(tmp_path) == before  # the user's folder untouched, byte for byte


def test_more_foreign_entries_are_counted(tmp_path: Path) -> None:
    out = user_folder(tmp_path / "proj")
    for name in ("a.txt", "b.txt"):
        (out / name).write_text("x")
    with pytest.raises(UsageError, match=r"\(README.md, a.txt, b.txt and 2 more\)"):
        dedup_files([tmp_path / "nope.jsonl"], out, progress=False)


def test_an_out_holding_only_empty_folders_is_used(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n')
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "empty").mkdir()
    assert dedup_files([source], out, progress=False).kept == 1


def test_an_unwritable_place_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tinygen.dedup.output.os, "access", lambda *_args: False)  # as if not root
    with pytest.raises(UsageError, match=r"cannot be created: .* is not writable"):
        dedup_files([tmp_path / "nope.jsonl"], tmp_path / "new" / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"--out .*empty is not writable"):
        dedup_files([tmp_path / "nope.jsonl"], tmp_path / "empty", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_failed_mkdir_removes_the_folders_it_made(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n')
    out = tmp_path / "new" / ("x" * 300)  # the last name is too long for the file system
    with pytest.raises(TinygenError, match=r"cannot create --out .*: File name too long"):
        dedup_files([source], out, progress=False)
    assert not (tmp_path / "new").exists()


def no_space_after(writes: int):
    """A JsonlAppender.write_line that fails like a full disk after `writes` lines."""
    real, count = JsonlAppender.write_line, [0]

    def write_line(self: JsonlAppender, line: str) -> None:
        count[0] += 1
        if count[0] > writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self, line)

    return write_line


def failing_summary(out_dir: Path, *_args: object) -> None:
    """A summary write that fails like a bad disk, after its temporary file exists."""
    (out_dir / (SUMMARY + ".tmp")).write_text("{")
    raise OSError(errno.EIO, os.strerror(errno.EIO), str(out_dir / (SUMMARY + ".tmp")))


FAILURES = {  # where writing fails: (object, attribute, replacement) and the error it gives
    "full disk mid-shard": (
        lambda: (JsonlAppender, "write_line", no_space_after(5)),
        "No space left on device",
    ),
    "EIO on the summary": (
        lambda: (tinygen.dedup.files, "_write_summary", failing_summary),
        "Input/output error",
    ),
}


@pytest.mark.parametrize("existed", [False, True])
@pytest.mark.parametrize("failure", FAILURES)
def test_write_errors_remove_the_partial_output(
    two_runs, tmp_path: Path, monkeypatch, failure: str, existed: bool
) -> None:
    run_a, run_b, _texts = two_runs
    out = tmp_path / "clean"
    if existed:
        out.mkdir()
    patch, strerror = FAILURES[failure]
    monkeypatch.setattr(*patch())
    with pytest.raises(TinygenError, match=f"writing .*failed: {strerror}") as raised:
        dedup_files([run_a, run_b], out, shard_size=2, progress=False)
    assert "partial output" in raised.value.message and raised.value.hint
    assert type(raised.value) is TinygenError  # exit code 1
    if existed:
        assert snapshot(out) == {}  # as it was: empty
    else:
        assert not out.exists()


def test_a_read_error_names_the_input(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n')

    def unreadable(path: Path):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
        yield

    monkeypatch.setattr(tinygen.dedup.prepare, "_file_chunks", unreadable)
    with pytest.raises(TinygenError, match=r"cannot read .*in.jsonl: Input/output error"):
        dedup_files([source], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_records_that_copy_an_eval_set_are_removed(two_runs, tmp_path: Path) -> None:
    """`--against`: the eval set's records are never written; inputs that copy one,
    exactly (other case) or nearly, are removed and reported against it."""
    run_a, _, texts = two_runs
    rng = random.Random(5)
    evals = tmp_path / "evals.jsonl"
    prompts = [texts[0].upper(), near_copy(rng, texts[3]), story(rng)]
    rows = [{"task": f"t{n}", "prompt": prompt} for n, prompt in enumerate(prompts)]
    evals.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "clean"
    code, _, err = cli(
        "dedup",
        str(run_a),
        "--against",
        str(evals),
        "--out",
        str(out),
        "--against-field",
        "prompt",
        "--quiet",
        "--json",
    )
    assert code == 0, err
    kept = [r["text"] for p in sorted((out / "data").glob("*.jsonl")) for r in read_jsonl(p)]
    assert texts[0] not in kept and texts[3] not in kept and len(kept) == 4
    removed = read_jsonl(out / REPORT)
    assert {r["kept"] for r in removed} == {f"against:{evals}:1", f"against:{evals}:2"}
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["against"] == 2 and summary["reference_records"] == 3


def _mixed_inputs(tmp_path: Path) -> tuple[list[Path], Path]:
    """Three files, 2,700 records over several chunks: stories, exact copies (other
    case), near copies, a record UTF-8 cannot encode; and an eval set two of them copy."""
    rng = random.Random(3)
    texts = [story(rng) for _ in range(1500)]
    records = []
    for n in range(2700):
        if n % 10 == 7:
            text = texts[rng.randrange(len(texts))].upper()
        elif n % 10 == 8:
            text = near_copy(rng, texts[rng.randrange(len(texts))])
        else:
            text = texts[n % len(texts)]
        records.append(record("m", n, text))
    files = []
    for k in range(3):
        path = tmp_path / f"in-{k}.jsonl"
        lines = [json.dumps(r) + "\n" for r in records[k * 900 : (k + 1) * 900]]
        if k == 1:
            lines.insert(5, '{"id": "bad", "text": "lone \\ud800 surrogate"}\n')
        path.write_text("".join(lines))
        files.append(path)
    evals = tmp_path / "evals.jsonl"
    evals.write_text(json.dumps({"text": texts[4]}) + "\n" + json.dumps({"text": texts[9]}) + "\n")
    return files, evals


def _output(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


def test_helper_processes_give_the_same_output_as_one(tmp_path: Path, monkeypatch) -> None:
    """Helpers started fresh here (this process runs other threads: rensa's pool), and
    forked by the command (its process runs one thread)."""
    monkeypatch.setattr(tinygen.dedup.prepare, "fork_is_safe", lambda: False)
    files, evals = _mixed_inputs(tmp_path)
    outputs, counts = {}, {}
    for workers in (0, 2):
        out = tmp_path / f"out-{workers}"
        report = dedup_files(files, out, against=[evals], progress=False, workers=workers)
        outputs[workers] = _output(out)
        counts[workers] = (report.read, report.kept, report.exact, report.near, report.encoding)
        counts[workers] += (report.against, report.reference)
    assert outputs[0] == outputs[2]
    assert counts[0] == counts[2]
    read, _, exact, near, encoding, against, reference = counts[2]
    assert (read, encoding, reference) == (2701, 1, 2) and exact and near and against
    forked = tmp_path / "out-forked"
    args = ["dedup", *map(str, files), "--against", str(evals), "--out", str(forked)]
    done = run_cli_subprocess([*args, "--workers", "2", "--quiet"])
    assert done.returncode == 0, done.stderr
    assert _output(forked) == outputs[0]


def test_helper_processes_name_a_bad_line_and_leave_nothing(tmp_path: Path) -> None:
    files, _ = _mixed_inputs(tmp_path)
    lines = files[2].read_text().splitlines(keepends=True)
    lines[300] = "{not json\n"
    files[2].write_text("".join(lines))
    with pytest.raises(UsageError, match=r"in-2.jsonl line 301 is not valid JSON"):
        dedup_files(files, tmp_path / "out", progress=False, workers=2)
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_helpers_die_with_a_killed_dedup(tmp_path: Path) -> None:
    rng = random.Random(9)
    source = tmp_path / "big.jsonl"
    with source.open("w") as handle:
        for n in range(30_000):
            handle.write(json.dumps(record("k", n, story(rng))) + "\n")
    command = [sys.executable, "-m", "tinygen", "dedup", str(source), "--out", str(tmp_path / "o")]
    process = subprocess.Popen([*command, "--workers", "2", "--quiet"])
    try:
        deadline = time.monotonic() + 60
        while len(helpers := _children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(helpers) >= 2, "the helpers did not start"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in helpers):
            assert time.monotonic() < deadline, "a helper outlived the killed dedup"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()


def test_chunks_prepared_here_and_by_helpers_come_back_in_order(
    tmp_path: Path, monkeypatch
) -> None:
    files = []
    for n in range(40):
        path = tmp_path / f"part-{n:02}.jsonl"
        path.write_text(
            "".join(json.dumps(record("m", 10 * n + k, f"story {n} {k}")) + "\n" for k in range(3))
        )
        files.append(path)
    near = NearDupConfig()
    alone = [prepared.refs for prepared in Preparer(0).prepared(files, "text", near)]
    monkeypatch.setattr(tinygen.dedup.prepare, "fork_is_safe", lambda: False)
    with Preparer(1) as preparer:
        shared = [prepared.refs for prepared in preparer.prepared(files, "text", near)]
    assert shared == alone and len(alone) == 40
    assert 0 < preparer.prepared_here < 40  # the helper's start alone leaves it some
