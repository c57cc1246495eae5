"""A hostile or broken endpoint, a user's own folder, signals at start-up: each ends with a
clear exit code and message, strict UTF-8 JSON on disk, no traceback, no key anywhere,
and a manifest that does not say "running"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import KEY, cli, gen_args, read_jsonl, run_cli_subprocess, shard_records

WORKERS = ("--workers", "2", "--concurrency", "4")
BOTH = pytest.mark.parametrize("extra", [(), WORKERS], ids=["one-process", "workers"])


def run_files(out: Path) -> list[Path]:
    return [path for path in out.rglob("*") if path.is_file() and path.name != ".lock"]


def assert_clean_run_dir(out: Path) -> None:
    """Strict UTF-8 JSON lines in every JSONL file, the key nowhere, a final status."""
    for path in run_files(out):
        data = path.read_bytes()
        assert KEY.encode() not in data, f"the key is in {path}"
        if path.suffix == ".jsonl":
            for line in data.decode("utf-8", errors="strict").splitlines():
                json.loads(line)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] != "running"


def assert_no_traceback(*outputs: str) -> None:
    for text in outputs:
        assert "Traceback" not in text
        assert KEY not in text


def every_index_once(out: Path) -> list[int]:
    indexes = [r["index"] for r in shard_records(out)]
    indexes += [
        r["index"] for name in ("rejected.jsonl", "failed.jsonl") for r in read_jsonl(out / name)
    ]
    assert len(indexes) == len(set(indexes))
    return indexes


# ------------------------------------------------------------------- the user's folder


def user_folder(root: Path) -> dict[str, bytes]:
    files = {"README.md": b"# My project\n", "data/notes.txt": b"mine\n", "plots/x.png": b"\x89P"}
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return files


def assert_untouched(root: Path, files: dict[str, bytes]) -> None:
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert found == set(files), "tinygen wrote into the user's folder"
    for name, content in files.items():
        assert (root / name).read_bytes() == content


@pytest.mark.parametrize("extra", [(), ("--overwrite",)], ids=["plain", "overwrite"])
def test_a_users_folder_is_refused_and_left_untouched(server, tmp_path, extra):
    srv = server()
    files = user_folder(tmp_path / "proj")
    done = run_cli_subprocess(gen_args(srv.base_url, tmp_path / "proj", 3, *extra))
    assert done.returncode == 2, done.stderr
    assert "Error: --out" in done.stderr and "README.md, data/, plots/" in done.stderr
    assert_no_traceback(done.stderr)
    assert_untouched(tmp_path / "proj", files)
    assert srv.requests() == []


def test_a_folder_with_a_foreign_manifest_is_refused_before_anything_is_written(server, tmp_path):
    srv = server()
    folder = tmp_path / "app"
    files = {"manifest.json": b'{"name": "my web app"}', "index.html": b"<p>hi</p>"}
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    for extra in ((), ("--overwrite",)):
        done = run_cli_subprocess(gen_args(srv.base_url, folder, 3, *extra))
        assert done.returncode in (1, 2) and "is not a tinygen manifest" in done.stderr
        assert_no_traceback(done.stderr)
        assert_untouched(folder, files)


def test_overwrite_removes_only_what_the_layout_names(server, tmp_path):
    srv = server()
    out = tmp_path / "run"
    assert cli(*gen_args(srv.base_url, out, 5))[0] == 0
    mine = {"notes.txt": b"n", "data/keep.txt": b"k", "plots/mine.png": b"p", ".tinygen/x": b"x"}
    for name, content in mine.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(content)
    code, _, err = cli(*gen_args(srv.base_url, out, 4, "--overwrite", "--seed", "9"))
    assert code == 0, err
    for name, content in mine.items():
        assert (out / name).read_bytes() == content
    records = shard_records(out)
    assert len(records) == 4 and {r["index"] for r in records} == {0, 1, 2, 3}
    assert len(read_jsonl(out / "rejected.jsonl")) + len(read_jsonl(out / "failed.jsonl")) == 0


def test_the_card_never_replaces_a_readme_tinygen_did_not_write(server, tmp_path):
    srv = server()
    out = tmp_path / "run"
    assert cli(*gen_args(srv.base_url, out, 3))[0] == 0
    assert "tinygen dataset card" in (out / "README.md").read_text(encoding="utf-8")
    (out / "README.md").write_text("# The user's own notes\n", encoding="utf-8")
    assert cli(*gen_args(srv.base_url, out, 5))[0] == 0
    assert (out / "README.md").read_text(encoding="utf-8") == "# The user's own notes\n"
    assert "left as it is" in (out / "run.log").read_text(encoding="utf-8")
    cli(*gen_args(srv.base_url, out, 5, "--overwrite", "--seed", "3"))
    assert (out / "README.md").read_text(encoding="utf-8") == "# The user's own notes\n"


# ------------------------------------------------------------------- hostile answers


@BOTH
@pytest.mark.parametrize("status", ["401", "500"])
def test_a_key_echoed_by_the_server_is_masked_everywhere(server, tmp_path, status, extra):
    srv = server("--echo-key", status)
    out = tmp_path / "run"
    done = run_cli_subprocess(gen_args(srv.base_url, out, 4, "--max-attempts", "2", *extra))
    assert done.returncode == (1 if status == "401" else 3), done.stderr
    assert srv.requests(), "the server was asked"
    assert_no_traceback(done.stdout, done.stderr)
    assert_clean_run_dir(out)
    if status == "401":
        assert "Incorrect API key provided: [redacted]" in done.stderr
    else:
        failed = read_jsonl(out / "failed.jsonl")
        assert failed and all("Bearer [redacted]" in r["error"]["message"] for r in failed)


def test_debug_tracebacks_mask_the_key(server, tmp_path):
    srv = server("--echo-key", "401")
    env = {**os.environ, "TINYGEN_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tinygen", *gen_args(srv.base_url, tmp_path / "r", 2)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "[redacted]" in done.stderr
    assert KEY not in done.stderr + done.stdout


@BOTH
def test_lone_surrogates_are_rejected_as_encoding(server, tmp_path, extra):
    srv = server("--content-surrogate", "--phostile", "0.5", "--seed", "3")
    out = tmp_path / "run"
    done = run_cli_subprocess(gen_args(srv.base_url, out, 12, *extra))
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done.stderr)
    assert_clean_run_dir(out)
    rejected = read_jsonl(out / "rejected.jsonl")
    assert rejected and {r["reason"] for r in rejected} == {"encoding"}
    assert all("lone surrogate U+D83D" in r["detail"] for r in rejected)
    assert all("\ufffd" in r["text"] for r in rejected)
    assert all("\ufffd" not in r["text"] for r in shard_records(out))
    assert len(every_index_once(out)) == 12 + len(rejected)


@pytest.mark.parametrize("mode", ["strings", "negative", "garbage", "missing"])
def test_malformed_usage_counts_as_unknown_with_a_note(server, tmp_path, mode):
    srv = server("--usage-mode", mode)
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 4, "--max-tokens-total", "100000"))
    assert code == 0, err
    assert_clean_run_dir(out)
    for record in shard_records(out):
        usage = record["usage"]
        assert usage["prompt_tokens"] is None and usage["completion_tokens"] is None
        assert ("note" in usage) == (mode != "missing")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["accepted"] == 4


def peak_rss_mb(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a child that reports its own peak RSS on its last stderr line."""
    code = (
        "import resource, sys\n"
        "from tinygen.__main__ import main\n"
        "try:\n    main()\n"
        "finally:\n"
        "    print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180
    )
    rss_kb = int(done.stderr.strip().splitlines()[-1].split()[1])
    return done, rss_kb / 1024


@pytest.mark.parametrize("mode", [("--gzip-bomb", "100"), ("--huge-answer", "50")])
def test_oversized_answers_are_cut_off_and_rejected_as_too_large(server, tmp_path, mode):
    srv = server(*mode)
    out = tmp_path / "run"
    done, rss_mb = peak_rss_mb(gen_args(srv.base_url, out, 2, "--max-items", "4"))
    assert done.returncode == 3, done.stderr
    assert "Error" not in done.stderr and "Traceback" not in done.stderr
    assert rss_mb < 400, f"peak RSS {rss_mb:.0f} MB: the answer was held whole"
    assert_clean_run_dir(out)
    rejected = read_jsonl(out / "rejected.jsonl")
    assert [r["reason"] for r in rejected] == ["too_large"] * 4
    assert "(the bound for max_tokens 200)" in rejected[0]["detail"]
    assert (out / "rejected.jsonl").stat().st_size < 4 * 20_000


def test_a_check_that_raises_fails_its_item_not_the_run(server, tmp_path, monkeypatch):
    def broken(answer):
        raise ValueError("the check broke")

    monkeypatch.setattr("tinygen.checks.build.meta_talk", broken)
    srv = server()
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 3, "--max-items", "5"))
    assert code == 3, err
    failed = read_jsonl(out / "failed.jsonl")
    assert [r["error"]["kind"] for r in failed] == ["check_error"] * 5
    assert "the check broke" in failed[0]["error"]["message"]
    assert_clean_run_dir(out)


def test_an_unexpected_error_is_one_line_and_the_manifest_says_error(server, tmp_path, monkeypatch):
    def broken(self, finished):
        raise RuntimeError("a bug")

    monkeypatch.setattr("tinygen.engine.generation.Generation._handle", broken)
    srv = server()
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 3))
    assert code == 1
    assert "Error: unexpected RuntimeError: a bug" in err and "Traceback" not in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "error"


# ------------------------------------------------------------------- signals at start-up


@pytest.mark.parametrize(
    ("signum", "code", "status"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_while_workers_start_leaves_a_true_manifest(
    server, tmp_path, signum, code, status
):
    srv = server()
    out = tmp_path / "run"
    args = [sys.executable, "-m", "tinygen", *gen_args(srv.base_url, out, 20, *WORKERS)]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "run.log").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # the run log opens just before the workers start
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert_no_traceback(err)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == status
    assert srv.requests() == [], "the signal came before any request: during start-up"
    assert cli(*gen_args(srv.base_url, out, 20))[0] == 0
    assert len(shard_records(out)) == 20


def test_ctrl_c_while_loading_is_quiet(tmp_path):
    # -X importtime reports each import on stderr as it completes: the signal is sent once
    # rich (imported by tinygen.cli, inside the command's own start) has been imported
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "tinygen", "presets"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.rstrip().endswith("| rich"):
            process.send_signal(signal.SIGINT)
            break
    err = "".join(seen) + process.stderr.read()
    process.stderr.close()
    process.wait(timeout=60)
    assert process.returncode in (0, 130), err  # 0 only if it finished before the signal
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
