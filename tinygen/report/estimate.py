"""What a run will cost before it starts: requests, tokens in and out, USD online and at
batch prices.

From a run of the recipe (`tinygen preview --estimate --from DIR`, or `generate` resuming
its own directory) the figures are that run's: answered items per accepted record,
requests per item (retries and judge requests included), prompt and completion tokens per
request. Without one they rest on stated assumptions: ACCEPTANCE of the answers kept,
one request per item (plus the judge's), prompt tokens from the recipe's own prompts (4
characters a token), and COMPLETION_SHARE of max_tokens written.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from tinygen.recipe.items import build_item, prompt_estimate
from tinygen.recipe.model import ResolvedRecipe
from tinygen.report.cost import cost_text
from tinygen.rundir.manifest import read_manifest
from tinygen.teachers.prices import prices_for

ACCEPTANCE = 0.8  # assumed share of answered items kept, without a run to measure
COMPLETION_SHARE = 0.6  # assumed share of max_tokens an answer uses
PROMPT_SAMPLE = 200  # items whose prompts are measured


@dataclass(frozen=True)
class Estimate:
    """The expected traffic and cost of `records` accepted records."""

    records: int
    items: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    usd_online: float | None
    usd_batch: float | None
    model: str
    basis: str  # where the rates come from: a run directory, or the assumptions

    def describe(self) -> dict[str, object]:
        return asdict(self)

    def text(self) -> str:
        """Two lines for people."""
        online, batch = (_usd(self.usd_online), _usd(self.usd_batch))
        return (
            f"estimate for {self.records:,} records of {self.model}: {self.items:,} items, "
            f"{self.requests:,} requests, {self.prompt_tokens:,} tokens in, "
            f"{self.completion_tokens:,} out; {online} online, {batch} at batch prices\n"
            f"  ({self.basis})"
        )


@dataclass(frozen=True)
class Rates:
    """Per-item and per-request figures an estimate multiplies out."""

    acceptance: float
    requests_per_item: float
    prompt_per_request: float
    completion_per_request: float
    basis: str


def estimate(resolved: ResolvedRecipe, records: int, run_dir: Path | None = None) -> Estimate:
    """The estimate for `records` records of `resolved`, from `run_dir`'s figures if it
    holds a run that answered anything, else from the assumptions."""
    rates = (run_rates(run_dir) if run_dir else None) or assumed_rates(resolved)
    items = math.ceil(records / rates.acceptance)
    requests = math.ceil(items * rates.requests_per_item)
    prompt = round(requests * rates.prompt_per_request)
    completion = round(requests * rates.completion_per_request)
    model = resolved.recipe.teacher.model
    online, batch = (prices_for(model, None, None, batch=b) for b in (False, True))
    return Estimate(
        records,
        items,
        requests,
        prompt,
        completion,
        online.cost(prompt, completion) if online else None,
        batch.cost(prompt, completion) if batch else None,
        model,
        rates.basis,
    )


def assumed_rates(resolved: ResolvedRecipe) -> Rates:
    """The stated assumptions, with the prompt size measured on the recipe's own items."""
    sample = [build_item(resolved, index) for index in range(PROMPT_SAMPLE)]
    prompt = sum(prompt_estimate(item.messages) for item in sample) / len(sample)
    params, judge = resolved.recipe.teacher, resolved.recipe.checks.judge
    completion = COMPLETION_SHARE * params.max_tokens
    requests, basis = (
        1.0,
        (
            f"assumed: {ACCEPTANCE:.0%} of answers kept, one request per item, "
            f"{COMPLETION_SHARE:.0%} of max_tokens written; prompts measured on the recipe"
        ),
    )
    if judge is not None:  # the judge asks once per judged answer, its prompt holds it
        requests += judge.sample
        prompt += judge.sample * (prompt + completion)
        completion += judge.sample * judge.max_tokens * COMPLETION_SHARE
        basis += "; the judge asks once per judged answer"
    return Rates(ACCEPTANCE, requests, prompt / requests, completion / requests, basis)


def run_rates(run_dir: Path) -> Rates | None:
    """The rates a run measured (all its sessions), or None if it answered nothing."""
    manifest = read_manifest(run_dir) or {}
    counts, totals = manifest.get("counts") or {}, manifest.get("totals") or {}
    accepted = counts.get("accepted") or 0
    items = accepted + (counts.get("rejected") or 0) + (counts.get("failed") or 0)
    requests = totals.get("requests") or 0
    if not accepted or not requests:
        return None
    return Rates(
        accepted / items,
        requests / items,
        (totals.get("prompt_tokens") or 0) / requests,
        (totals.get("completion_tokens") or 0) / requests,
        f"measured by the run in {run_dir}: {accepted / items:.0%} of {items:,} items kept, "
        f"{requests / items:.2f} requests per item",
    )


def _usd(usd: float | None) -> str:
    if usd is None:
        return "price unknown"
    return cost_text({"usd": round(usd, 6)})
