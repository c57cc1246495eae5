"""The scheduler examples under examples/ run as written: the Slurm array script under a
shell that sets Slurm's variables, the Indexed Job's command with each completion index,
the GitHub Actions matrix's steps with each matrix value; then each one's merge step."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import TINY, shard_records

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RECORDS = 30


def run_shell(command: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    """Run as a scheduler would, with `tinygen` on PATH (this interpreter's)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        command,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr


def assert_parts_and_merge(corpus: Path, count: int, merged: Path) -> None:
    parts = sorted(corpus.glob("part-*"))
    assert [part.name for part in parts] == [f"part-{k:04d}-of-{count:04d}" for k in range(count)]
    for k, part in enumerate(parts):
        assert {record["index"] % count for record in shard_records(part)} == {k}
    records = shard_records(merged)
    assert len(records) == RECORDS and len({record["id"] for record in records}) == RECORDS
    manifest = json.loads((merged / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "merged"


def test_the_slurm_array_script_and_its_merge(server, tmp_path):
    srv = server()
    corpus = tmp_path / "corpus"
    env = {"RECIPE": TINY, "RECORDS": str(RECORDS), "OUT": str(corpus), "BASE_URL": srv.base_url}
    script = (EXAMPLES / "slurm" / "generate.sbatch").read_text(encoding="utf-8")
    assert "#SBATCH --array=" in script
    for task in (1, 2, 3):  # an array declared 1-3: Slurm counts from SLURM_ARRAY_TASK_MIN
        slurm = {
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_COUNT": "3",
            "SLURM_ARRAY_TASK_MIN": "1",
            "SLURM_ARRAY_TASK_MAX": "3",
        }
        run_shell(["bash", str(EXAMPLES / "slurm" / "generate.sbatch")], {**env, **slurm})
    run_shell(["bash", str(EXAMPLES / "slurm" / "merge.sbatch")], env)
    assert_parts_and_merge(corpus, 3, corpus / "merged")


def container_command(path: Path) -> tuple[dict, list[str], dict[str, str]]:
    job = yaml.safe_load(path.read_text(encoding="utf-8"))
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    return job, [*container["command"], *container["args"]], env


def test_the_indexed_job_and_its_merge_job(server, tmp_path):
    srv = server()
    corpus = tmp_path / "corpus"
    job, command, env = container_command(EXAMPLES / "kubernetes" / "indexed-job.yaml")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert f"--part auto/{spec['completions']}" in command[-1]  # the count is the Job's
    command[-1] = command[-1].replace(f"auto/{spec['completions']}", "auto/3")  # 3 pods here
    env |= {"RECIPE": TINY, "RECORDS": str(RECORDS), "OUT": str(corpus), "BASE_URL": srv.base_url}
    for index in range(3):
        run_shell(command, {**env, "JOB_COMPLETION_INDEX": str(index)})
    _, merge, merge_env = container_command(EXAMPLES / "kubernetes" / "merge-job.yaml")
    run_shell(merge, {**merge_env, "RECORDS": str(RECORDS), "OUT": str(corpus)})
    assert_parts_and_merge(corpus, 3, corpus / "merged")


def expand(step: str, values: dict[str, str]) -> str:
    """The step with GitHub's `${{ name }}` expressions replaced."""
    return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], step)


def test_the_github_actions_matrix_and_its_merge_job(server, tmp_path):
    srv = server()
    flow = yaml.safe_load((EXAMPLES / "github-actions" / "tinygen-matrix.yml").read_text())
    generate, merge = flow["jobs"]["generate"], flow["jobs"]["merge"]
    parts = generate["strategy"]["matrix"]["part"]
    assert parts == list(range(int(flow["env"]["PARTS"])))
    env = {**flow["env"], "RECIPE": TINY, "RECORDS": str(RECORDS), "OPENAI_BASE_URL": srv.base_url}
    step = next(s for s in generate["steps"] if "tinygen generate" in s.get("run", ""))
    for part in parts:  # each job's corpus/ lands in one corpus/, as the download puts it
        values = {"matrix.part": str(part), "secrets.OPENAI_API_KEY": "sk-test-matrix"}
        step_env = {name: expand(value, values) for name, value in step["env"].items()}
        run_shell(["bash", "-c", expand(step["run"], values)], {**env, **step_env}, tmp_path)
    merge_step = next(s for s in merge["steps"] if "tinygen merge" in s.get("run", ""))
    run_shell(["bash", "-c", merge_step["run"]], env, tmp_path)
    assert_parts_and_merge(tmp_path / "corpus", len(parts), tmp_path / "merged")
