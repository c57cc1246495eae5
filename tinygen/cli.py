"""The `tinygen` command: parse flags, build the config, call the library, map errors.

No `from __future__ import annotations` here: typer reads every command's parameters
at each start, and string annotations cost it an `eval` each (about 0.02 s a start).
"""

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from tinygen.errors import ExitCode, TinygenError, UsageError
from tinygen.loading import without_gc
from tinygen.recipe.choices import ReasoningEffort
from tinygen.teachers.factory import (
    AZURE_API_VERSION,
    DEFAULT_CONCURRENCY,
    DEFAULT_PATIENCE,
    TeacherChoice,
    TeacherOptions,
)
from tinygen.text.redact import redact

if TYPE_CHECKING:  # the library is imported by the command that uses it, not for --help
    from tinygen.engine.generation import RunConfig, RunResult
    from tinygen.recipe.model import ResolvedRecipe
    from tinygen.teachers.router import EndpointCounts


class _BoolHelpOption:
    """Give the built-in `--help` option a False default.

    typer 0.29 leaves that option's value None when it is not given, and coerces None
    through a pydantic TypeAdapter: every command paid pydantic's import (0.1-0.15 s) just
    to parse, `presets` included. A bool value is passed through uncoerced.
    """

    def get_help_option(self, ctx: typer.Context) -> typer.core.TyperOption | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and option.default is None:
            option.default = False
        return option


class _Group(_BoolHelpOption, TyperGroup):
    """The root command group, with a bool `--help`."""


class _Command(_BoolHelpOption, TyperCommand):
    """A subcommand, with a bool `--help`."""


app = typer.Typer(
    cls=_Group,
    help="Build synthetic training corpora for small language models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
stderr = Console(stderr=True, highlight=False)

RecipeArg = Annotated[
    str, typer.Argument(help="A preset name (see `tinygen presets`) or a recipe .toml file.")
]
SAMPLING = "Sampling"  # the help panel of what decides each item's prompt
SeedOpt = Annotated[
    int | None,
    typer.Option(help="Run seed (default: the recipe's).", metavar="N", rich_help_panel=SAMPLING),
]
SamplingOpt = Annotated[
    str | None,
    typer.Option(
        help="Word sampling: balanced or uniform (default: the recipe's).",
        metavar="MODE",
        rich_help_panel=SAMPLING,
    ),
]
AllowPathOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        help="Also allow the recipe to name files under DIR (repeatable; by default only "
        "files in the recipe's folder and tinygen's own data).",
        metavar="DIR",
        show_default=False,
        rich_help_panel=SAMPLING,
    ),
]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a TinygenError into `Error:` / `Hint:` lines on stderr and its exit code; any
    other exception is a bug in tinygen, reported the same way (no traceback, unless
    TINYGEN_DEBUG is set: then the traceback, with secrets masked)."""
    try:
        yield
    except TinygenError as exc:
        _debug_traceback()
        _print_error(exc.message, exc.hint)
        raise typer.Exit(int(exc.exit_code)) from None
    except Exception as exc:
        _debug_traceback()
        _print_error(
            f"unexpected {type(exc).__name__}: {redact(str(exc))[:500]}",
            "this is a bug in tinygen: rerun with TINYGEN_DEBUG=1 for the traceback and "
            "report it; rerunning the same command resumes the run",
        )
        raise typer.Exit(int(ExitCode.ERROR)) from None


def _debug_traceback() -> None:
    """Under TINYGEN_DEBUG, print the exception being handled, secrets masked."""
    if os.environ.get("TINYGEN_DEBUG"):
        sys.stderr.write(redact(traceback.format_exc()))


def _print_error(message: str, hint: str | None) -> None:
    stderr.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        stderr.print(f"[bold]Hint:[/] {escape(hint)}", soft_wrap=True)


@app.command("generate", cls=_Command)
def generate_command(
    recipe: RecipeArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output directory (resumed if it holds this run).",
            rich_help_panel="Output",
            metavar="DIR",
        ),
    ],
    n: Annotated[
        int,
        typer.Option(
            "-n",
            min=1,
            help="Accepted unique records wanted.",
            rich_help_panel="Output",
            metavar="N",
        ),
    ] = 100,
    seed: SeedOpt = None,
    base_url: Annotated[
        list[str] | None,
        typer.Option(
            help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1. Repeat it for "
            "several (each may add model=NAME key-env=VAR share=N concurrency=N after a space).",
            show_default=False,
            rich_help_panel="Teacher",
            metavar="URL",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model name at the endpoint.", rich_help_panel="Teacher", metavar="NAME"),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="API key (default: $OPENAI_API_KEY).",
            show_default=False,
            rich_help_panel="Teacher",
            metavar="KEY",
        ),
    ] = None,
    teacher: Annotated[
        TeacherChoice,
        typer.Option(
            help="auto: local model unless an endpoint or key is given.", rich_help_panel="Teacher"
        ),
    ] = "auto",
    model_path: Annotated[
        str | None,
        typer.Option(
            help="GGUF file for the local teacher (default: SmolLM2-135M-Instruct).",
            rich_help_panel="Teacher",
            metavar="FILE",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=4096,
            help="Requests at once.",
            rich_help_panel="Speed and rate limits",
            metavar="N",
        ),
    ] = DEFAULT_CONCURRENCY,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processes that ask the teacher (default: one per core for an endpoint "
            "at --concurrency 128 or more, else 1).",
            show_default=False,
            rich_help_panel="Speed and rate limits",
            metavar="N",
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            help="Header sent with every request, 'Name: value' (repeatable; for gateways). "
            "Values are kept out of every file and log.",
            metavar="'NAME: VALUE'",
            show_default=False,
            rich_help_panel="Teacher",
        ),
    ] = None,
    api_version: Annotated[
        str | None,
        typer.Option(
            help=f"Azure OpenAI api-version (default for a deployment URL: {AZURE_API_VERSION}).",
            show_default=False,
            rich_help_panel="Teacher",
            metavar="VERSION",
        ),
    ] = None,
    reasoning_effort: Annotated[
        ReasoningEffort | None,
        typer.Option(
            help="For reasoning models: minimal, low, medium or high.",
            rich_help_panel="Teacher",
            metavar="EFFORT",
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Sampling temperature (default: the recipe's).",
            rich_help_panel="Teacher",
            metavar="X",
        ),
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option(
            help="Nucleus sampling (default: the recipe's).", rich_help_panel="Teacher", metavar="X"
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            help="Longest answer in tokens (default: the recipe's).",
            rich_help_panel="Teacher",
            metavar="N",
        ),
    ] = None,
    sampling: SamplingOpt = None,
    shard_size: Annotated[
        int | None, typer.Option(help="Records per shard.", rich_help_panel="Output", metavar="N")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds per request.", rich_help_panel="Teacher", metavar="SECONDS"
        ),
    ] = 120.0,
    max_attempts: Annotated[
        int,
        typer.Option(
            min=1,
            max=100,
            help="Attempts per item, retries included.",
            rich_help_panel="Speed and rate limits",
            metavar="N",
        ),
    ] = 6,
    max_items: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Items to draw at most (default 3 x -n).",
            rich_help_panel="Budgets",
            metavar="N",
        ),
    ] = None,
    rpm: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Requests a minute at most.",
            rich_help_panel="Speed and rate limits",
            metavar="X",
        ),
    ] = None,
    tpm: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Tokens a minute at most.",
            rich_help_panel="Speed and rate limits",
            metavar="X",
        ),
    ] = None,
    max_requests: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Budget: requests in this invocation.",
            rich_help_panel="Budgets",
            metavar="N",
        ),
    ] = None,
    max_tokens_total: Annotated[
        int | None,
        typer.Option(
            min=1, help="Budget: tokens in this invocation.", rich_help_panel="Budgets", metavar="N"
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            min=0, help="Budget: USD in this invocation.", rich_help_panel="Budgets", metavar="USD"
        ),
    ] = None,
    price_in: Annotated[
        float | None,
        typer.Option(
            min=0, help="USD per million prompt tokens.", rich_help_panel="Budgets", metavar="USD"
        ),
    ] = None,
    price_out: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="USD per million completion tokens.",
            rich_help_panel="Budgets",
            metavar="USD",
        ),
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Ask through the endpoint's Batch API (half the price, within 24 h).",
            rich_help_panel="Batch API",
            metavar="",
        ),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=50_000,
            help="Request lines per batch.",
            rich_help_panel="Batch API",
            metavar="N",
        ),
    ] = 50_000,
    poll_interval: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds between batch status checks.",
            rich_help_panel="Batch API",
            metavar="SECONDS",
        ),
    ] = 30.0,
    part: Annotated[
        str | None,
        typer.Option(
            help="Take part K of N of the run's items (K/N), or read it from Slurm, an "
            "Indexed Job (auto/N) or RANK/WORLD_SIZE (auto); writes --out/part-K-of-N.",
            metavar="K/N|auto",
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = None,
    cancel_batches: Annotated[
        bool,
        typer.Option(
            "--cancel-batches",
            help="Cancel this run's batches that are still running, and stop.",
            rich_help_panel="Batch API",
            metavar="",
        ),
    ] = False,
    export_requests: Annotated[
        Path | None,
        typer.Option(
            help="Write the request lines the run still needs to FILE (OpenAI batch format, "
            "for vllm run_batch or another runner) and stop.",
            metavar="FILE",
            show_default=False,
            rich_help_panel="Batch API",
        ),
    ] = None,
    import_results: Annotated[
        Path | None,
        typer.Option(
            help="Take the answers of a batch runner's results FILE into the run.",
            metavar="FILE",
            show_default=False,
            rich_help_panel="Batch API",
        ),
    ] = None,
    endpoint_patience: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds every endpoint may be down before the run stops.",
            rich_help_panel="Teacher",
            metavar="SECONDS",
        ),
    ] = DEFAULT_PATIENCE,
    judge: Annotated[
        str | None,
        typer.Option(
            help="Grade answers with an LLM judge: a rubric (tinystories, textbook) or your "
            ".j2 file (recipe checks.judge.rubric).",
            show_default=False,
            rich_help_panel="Checks",
            metavar="RUBRIC",
        ),
    ] = None,
    judge_url: Annotated[
        str | None,
        typer.Option(
            help="Ask the judge at this endpoint instead of the teacher's (may add "
            "model=NAME key-env=VAR concurrency=N after a space).",
            show_default=False,
            rich_help_panel="Checks",
            metavar="URL",
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds in-flight requests get after Ctrl-C.",
            rich_help_panel="Output",
            metavar="SECONDS",
        ),
    ] = 30.0,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace another run in --out.",
            rich_help_panel="Output",
            metavar="",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress display.", rich_help_panel="Output", metavar=""
        ),
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON summary on stdout.", rich_help_panel="Output", metavar=""
        ),
    ] = False,
    allow_path: AllowPathOpt = None,
) -> None:
    """Generate a corpus.

    Example: tinygen generate tinystories -n 200 --out stories \\
    --base-url http://localhost:11434/v1 --model llama3.2
    """
    with user_errors():
        with without_gc():
            from tinygen.engine.generation import BatchSpec, RunConfig, generate, run_header
            from tinygen.engine.parts import parse_part
            from tinygen.engine.pool import PoolSpec, worker_count
            from tinygen.recipe.load import load_recipe
            from tinygen.teachers.endpoints import parse_endpoint, parse_endpoints
            from tinygen.teachers.factory import make_judge_teacher, make_teacher
            from tinygen.teachers.limits import Budget, make_gate
            from tinygen.teachers.offline import BatchFileTeacher
            from tinygen.teachers.prices import prices_for
            from tinygen.teachers.retry import RetryPolicy

        endpoints = parse_endpoints(base_url) if base_url else ()
        options = TeacherOptions(
            choice=teacher,
            base_url=endpoints[0].url if endpoints else None,
            endpoints=endpoints,
            patience=endpoint_patience,
            judge=parse_endpoint(judge_url) if judge_url else None,
            api_key=api_key,
            concurrency=concurrency,
            timeout=timeout,
            model_path=model_path,
            rpm=rpm,
            headers=parse_headers(header or ()),
            api_version=api_version,
        )
        flags = {
            "seed": seed,
            "sampling": sampling,
            "shard_size": shard_size,
            "teacher.model": model,
            "teacher.temperature": temperature,
            "teacher.top_p": top_p,
            "teacher.max_tokens": max_tokens,
            "teacher.reasoning_effort": reasoning_effort,
            "checks.judge.rubric": judge,
        }
        offline = export_requests is not None or import_results is not None
        teacher_defaults = {} if offline else options.param_overrides()  # not the local model's
        overrides = teacher_defaults | {k: v for k, v in flags.items() if v is not None}
        resolved = load_recipe(recipe, overrides, allow_path or ())
        chosen_part, found_in = parse_part(part, os.environ) if part else (None, "")
        if chosen_part is not None:
            out, n = out / chosen_part.folder, chosen_part.share(n)
            stderr.print(
                f"part {chosen_part.index}/{chosen_part.count} (from {found_in}): {n} records",
                highlight=False,
            )
        config = RunConfig(
            out_dir=out,
            target=n,
            max_items=max_items,
            concurrency=concurrency,
            overwrite=overwrite,
            retry=RetryPolicy(max_attempts=max_attempts),
            gate=make_gate(
                resolved.recipe.teacher.model,
                Budget(max_requests, max_tokens_total, max_cost),
                prices_for(resolved.recipe.teacher.model, price_in, price_out, batch),
                tpm,
            ),
            grace_s=grace,
            progress=not quiet and sys.stderr.isatty(),
            pool=PoolSpec(worker_count(workers, options, concurrency), options),
            batch=BatchSpec(options, batch_size, poll_interval) if batch else None,
            import_results=import_results,
            part=chosen_part,
        )
        if (
            batch
            and options.resolved_choice() == "local"
            and not (export_requests or import_results)
        ):
            raise UsageError(
                "--batch needs an endpoint with a Batch API",
                "pass --base-url (or set OPENAI_API_KEY for api.openai.com)",
            )
        if len(endpoints) > 1 and (batch or cancel_batches):
            raise UsageError(
                "--batch asks one endpoint's Batch API", "give one --base-url with --batch"
            )
        if cancel_batches:
            stderr.print(_cancelled(resolved, options, config), highlight=False)
            return
        if export_requests is not None:
            from tinygen.engine.batchfiles import export_requests as write_requests

            lines = write_requests(resolved, out, export_requests, n, config.item_cap)
            stderr.print(f"wrote {lines} request lines to {export_requests}", highlight=False)
            return
        if import_results and resolved.recipe.checks.judge and not judge_url:
            raise UsageError(
                "The judge (checks.judge) cannot ask a results file",
                "pass --judge-url with the endpoint that should grade the answers",
            )
        chosen = (
            BatchFileTeacher(import_results)
            if import_results
            else make_teacher(options, asked_here=not config.in_workers)
        )
        if not quiet:
            stderr.print(run_header(resolved, chosen, config), soft_wrap=True)
            if options.resolved_choice() != "local" and not import_results:
                from tinygen.report.estimate import estimate as estimate_run

                expected = estimate_run(
                    resolved, n, out if (out / "manifest.json").is_file() else None
                )
                stderr.print(expected.text(), soft_wrap=True, highlight=False)
        judging = resolved.recipe.checks.judge and not config.in_workers
        judge_teacher = make_judge_teacher(options) if judging else None
        result = generate(resolved, chosen, config, judge_teacher)
    if json_out:
        typer.echo(json.dumps(result.summary()))
    if not quiet:
        _print_summary(result)
    elif result.exit_code != 0:
        stderr.print(result.message, soft_wrap=True)
    raise typer.Exit(int(result.exit_code))


def _cancelled(resolved: "ResolvedRecipe", options: TeacherOptions, config: "RunConfig") -> str:
    """Cancel the run's running batches; say which."""
    import asyncio

    from tinygen.engine.batches import cancel_batches
    from tinygen.teachers.batch_api import BatchClient

    client = BatchClient(options, config.retry)
    ids = asyncio.run(cancel_batches(resolved.fingerprint, client, config.out_dir))
    if not ids:
        return "no batch of this run is running"
    return (
        f"cancelled {len(ids)} batches ({', '.join(ids)}); rerun without --cancel-batches to "
        "collect what they finished and ask the rest again"
    )


def parse_headers(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`--header 'Name: value'` flags as (name, value) pairs."""
    pairs = []
    for value in values:
        name, sep, text = value.partition(":")
        name, text = name.strip(), text.strip()
        if not sep or not name or any(c.isspace() for c in name) or not text:
            raise UsageError(
                f"--header {redact(value)!r} is not 'Name: value'",
                "give one header per flag, e.g. --header 'X-Gateway-Key: ...'",
            )
        pairs.append((name, text))
    return tuple(pairs)


def _print_summary(result: "RunResult") -> None:
    from tinygen.report.view import short_summary

    summary = result.summary()
    color = "green" if result.exit_code == 0 else "yellow"
    stderr.print(f"[{color}]{escape(result.message)}[/]", soft_wrap=True)
    stderr.print(
        f"this session: {summary['requests']} requests · {summary['elapsed_s']:.1f}s · "
        f"retries {sum(result.stats.retries.values())}",
        highlight=False,
    )
    if endpoints := result.stats.endpoints():
        stderr.print("endpoints: " + " · ".join(map(_endpoint_summary, endpoints)), highlight=False)
    if result.corpus is not None:
        stderr.print(short_summary(result.corpus), highlight=False, markup=False)


def _endpoint_summary(count: "EndpointCounts") -> str:
    """e.g. `gpu1:8000 212 answers, 31 ms, 3 errors, down`."""
    parts = [f"{count.label} {count.answered} answers"]
    if count.answered:
        parts.append(f"{count.latency_s / count.answered * 1000:.0f} ms")
    if count.errors:
        parts.append(f"{count.errors} errors")
    if count.down:
        parts.append("down")
    return ", ".join(parts)


@app.command("preview", cls=_Command)
def preview_command(
    recipe: RecipeArg,
    n: Annotated[int, typer.Option("-n", min=1, help="How many prompts to show.")] = 5,
    start: Annotated[int, typer.Option(min=0, help="Index of the first item.")] = 0,
    seed: SeedOpt = None,
    sampling: SamplingOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print items as JSON lines.")] = False,
    run_size: Annotated[
        int,
        typer.Option(
            min=0, help="Also show how much of each list a run of this many items covers (0: skip)."
        ),
    ] = 1000,
    allow_path: AllowPathOpt = None,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Instead, estimate requests, tokens and cost of a run of -n records.",
        ),
    ] = False,
    model: Annotated[str | None, typer.Option(help="Model to estimate for.")] = None,
    from_run: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="A run of this recipe whose reject rates and token counts to estimate from.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the prompts a run would send, without calling any teacher.

    Example: tinygen preview tinystories -n 3 --seed 7
    Example: tinygen preview stories -n 10000 --estimate --model gpt-4o-mini
    """
    with user_errors():
        from tinygen.recipe.load import load_recipe
        from tinygen.recipe.preview import coverage_table, preview_items

        overrides = {"seed": seed, "sampling": sampling, "teacher.model": model}
        resolved = load_recipe(recipe, overrides, allow_path or ())
        if estimate:
            from tinygen.report.estimate import estimate as estimate_run

            expected = estimate_run(resolved, n, from_run)
            typer.echo(json.dumps(expected.describe()) if json_out else expected.text())
            return
        preview_items(resolved, range(start, start + n), as_json=json_out)
        if run_size and resolved.recipe.lists:
            Console(stderr=json_out).print(coverage_table(resolved, run_size))


@app.command("presets", cls=_Command)
def presets_command() -> None:
    """List the built-in recipes.

    Example: tinygen presets
    """
    with user_errors():
        from tinygen.recipe.presets import preset_table

        Console().print(preset_table())


@app.command("stats", cls=_Command)
def stats_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="A run directory, or two to compare side by side.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    plots: Annotated[
        bool, typer.Option("--plots", help="Write PNG plots into each DIR/plots/.")
    ] = False,
    sample: Annotated[
        int | None, typer.Option(min=1, help="Read the text of only the first N records.")
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a self-contained HTML report (charts, sample records, an example "
            "of each reject reason) to FILE.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Corpus statistics: counts, cost, lengths, word coverage, diversity, openings, names.

    Example: tinygen stats runs/tinystories runs/stories
    Example: tinygen stats runs/stories --html report.html
    """
    with user_errors():
        from tinygen.report.corpus import corpus_stats
        from tinygen.report.view import render_stats

        if len(run_dirs) > 2:
            raise UsageError("tinygen stats takes one run directory, or two to compare")
        figures = [corpus_stats(run_dir, sample=sample) for run_dir in run_dirs]
        if plots:
            from tinygen.report.plots import write_plots

            for run_dir, stats in zip(run_dirs, figures, strict=True):
                for path in write_plots(run_dir, stats):
                    stderr.print(f"wrote {path}", highlight=False)
        if html_out is not None:
            from tinygen.report.html import write_html_report

            write_html_report(figures, html_out)
            stderr.print(f"wrote {html_out}", highlight=False)
        if json_out:
            typer.echo(json.dumps(figures[0] if len(figures) == 1 else figures))
        else:
            render_stats(figures)


@app.command("dedup", cls=_Command)
def dedup_command(
    inputs: Annotated[
        list[Path], typer.Argument(help="JSONL files, run directories, or folders of JSONL.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the clean corpus.")],
    against: Annotated[
        list[Path] | None,
        typer.Option(
            help="Also remove records that copy one of this JSONL file's (an eval set; "
            "repeatable). Its records are never written.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    against_field: Annotated[
        str | None,
        typer.Option(
            help="Field holding the text in --against files (default: --text-field).",
            show_default=False,
        ),
    ] = None,
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    threshold: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Near-duplicate Jaccard threshold.")
    ] = 0.8,
    near: Annotated[bool, typer.Option(help="Also remove near duplicates (MinHash).")] = True,
    shard_size: Annotated[int, typer.Option(min=1, help="Records per output shard.")] = 10_000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Helper processes that read and sign records (default: one per core for "
            "large inputs; 0: none). The output is the same.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Remove exact and near duplicates across existing corpora into one clean corpus.

    Example: tinygen dedup runs/a runs/b --out runs/clean
    """
    from tinygen.dedup.files import dedup_files
    from tinygen.dedup.minhash import NearDupConfig
    from tinygen.rundir.layout import DEDUP_REPORT

    with user_errors():
        report = dedup_files(
            inputs,
            out,
            against=against,
            against_field=against_field,
            text_field=text_field,
            near=NearDupConfig(threshold=threshold) if near else None,
            shard_size=shard_size,
            progress=not quiet and sys.stderr.isatty(),
            workers=workers,
        )
    if json_out:
        typer.echo(json.dumps(dataclasses.asdict(report)))
    elif not quiet:
        stderr.print(
            f"read {report.read:,} records from {report.files} files · kept {report.kept:,} · "
            f"removed {report.exact:,} exact and {report.near:,} near duplicates · "
            f"{report.encoding:,} not valid UTF-8 (kind encoding) · "
            + (f"{report.against:,} copied the --against files · " if against else "")
            + f"{report.seconds:.1f}s → {out / 'data'} (why: {out / DEDUP_REPORT})",
            highlight=False,
        )


@app.command("merge", cls=_Command)
def merge_command(
    parts: Annotated[list[Path], typer.Argument(help="The part folders of one run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the merged corpus.")],
    n: Annotated[
        int | None, typer.Option("-n", min=1, help="The run's target, to say what is missing.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Merge parts of different runs anyway.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Join the parts of a run (`--part K/N`) into one corpus, deduplicated across parts.

    Example: tinygen merge run/part-* --out merged -n 10000
    """
    from tinygen.engine.merge import merge_parts

    with user_errors():
        report = merge_parts(
            parts, out, target=n, force=force, progress=not quiet and sys.stderr.isatty()
        )
    dedup = report.dedup
    assert dedup is not None
    stderr.print(
        f"merged {len(report.parts)} parts: {dedup.kept:,} records kept, {dedup.exact:,} exact "
        f"and {dedup.near:,} near duplicates across parts removed → {out / 'data'}",
        highlight=False,
    )
    if report.missing or report.doubled:
        stderr.print(
            f"[yellow]missing parts {report.missing or 'none'}, parts given twice "
            f"{report.doubled or 'none'}[/]",
            highlight=False,
        )
    if report.short_by:
        stderr.print(
            f"[yellow]{report.short_by:,} short of -n {n}: rerun each part with -n "
            f"{report.suggested_n} (each resumes what it has), then merge again[/]",
            highlight=False,
        )


ExportFormat = Literal["parquet"]


@app.command("export", cls=_Command)
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or a merged corpus).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
    format: Annotated[ExportFormat, typer.Option(help="File format.")] = "parquet",
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Export the accepted records as one typed file (the record table's columns).

    Example: tinygen export runs/stories --out stories.parquet
    """
    from tinygen.report.export import export_parquet

    with user_errors():
        count = export_parquet(run_dir, out, overwrite=overwrite)
    stderr.print(f"wrote {count:,} records to {out}", highlight=False)


def _version(value: bool) -> None:
    if value:
        from tinygen import __version__

        typer.echo(f"tinygen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Build synthetic training corpora for small language models."""


def main() -> None:
    """Console-script entry point."""
    app()
