"""Estimates before spending: from stated assumptions, or from a run of the recipe."""

from __future__ import annotations

import json
import math

from tests.conftest import TINY, cli, gen_args
from tests.helpers import Waits
from tinygen.engine.generation import RunConfig, generate
from tinygen.recipe.items import build_item, prompt_estimate
from tinygen.recipe.load import load_recipe
from tinygen.report.estimate import ACCEPTANCE, COMPLETION_SHARE, PROMPT_SAMPLE, estimate
from tinygen.teachers.fake import FakeTeacher
from tinygen.teachers.limits import Budget, Gate
from tinygen.teachers.prices import prices_for


def test_without_a_run_the_assumptions_are_stated_and_multiplied_out():
    resolved = load_recipe(TINY, {"teacher.model": "gpt-4o-mini"})
    expected = estimate(resolved, 1000)
    items = math.ceil(1000 / ACCEPTANCE)
    prompts = [prompt_estimate(build_item(resolved, i).messages) for i in range(PROMPT_SAMPLE)]
    assert expected.items == expected.requests == items
    assert expected.prompt_tokens == round(items * sum(prompts) / len(prompts))
    assert expected.completion_tokens == round(items * COMPLETION_SHARE * 200)  # max_tokens
    online = prices_for("gpt-4o-mini", None, None)
    assert expected.usd_online == online.cost(expected.prompt_tokens, expected.completion_tokens)
    assert expected.usd_batch == expected.usd_online / 2
    assert "assumed: 80% of answers kept" in expected.text()


def test_a_judge_adds_its_requests():
    resolved = load_recipe(TINY, {"checks.judge.rubric": "tinystories"})
    assert estimate(resolved, 100).requests == 2 * math.ceil(100 / ACCEPTANCE)


def test_a_run_gives_its_measured_rates(tmp_path):
    resolved = load_recipe(TINY, {"teacher.model": "gpt-4o-mini"})
    teacher = FakeTeacher()
    teacher.enqueue(*["The cat sat."] * 5)  # the same answer: four are duplicates
    prices = prices_for("gpt-4o-mini", None, None)
    config = RunConfig(
        tmp_path, 10, progress=False, retry=Waits().policy(), gate=Gate(Budget(), prices, None)
    )
    generate(resolved, teacher, config)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    counts, totals = manifest["counts"], manifest["totals"]
    answered = counts["accepted"] + counts["rejected"] + counts["failed"]
    expected = estimate(resolved, 100, tmp_path)
    assert expected.items == math.ceil(100 * answered / counts["accepted"])
    per_request = totals["completion_tokens"] / totals["requests"]
    requests = math.ceil(expected.items * totals["requests"] / answered)
    assert expected.requests == requests
    assert expected.completion_tokens == round(requests * per_request)
    assert f"measured by the run in {tmp_path}" in expected.text()
    assert estimate(resolved, 100, tmp_path / "nothing").basis.startswith("assumed")


def test_preview_estimates_and_generate_says_it_in_its_header(server, tmp_path):
    code, stdout, err = cli("preview", TINY, "-n", "5000", "--estimate", "--json")
    assert code == 0, err
    figures = json.loads(stdout)
    assert figures["records"] == 5000 and figures["model"] == "test-model"
    assert figures["usd_online"] is None  # test-model has no price
    code, stdout, _ = cli("preview", TINY, "-n", "50", "--estimate", "--model", "gpt-4o")
    assert "estimate for 50 records of gpt-4o:" in stdout and "at batch prices" in stdout
    srv = server()
    args = [a for a in gen_args(srv.base_url, tmp_path / "run", 5) if a != "--quiet"]
    code, _, err = cli(*args)
    assert code == 0, err
    assert "estimate for 5 records of test-model: 7 items, 7 requests" in err
