"""Rendering corpus statistics (`tinygen.report.corpus.corpus_stats`): rich tables, side by side
when comparing corpora, and the short summary printed at the end of `generate`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from tinygen.report.cost import cost_text


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def _cost(stats: dict) -> str:
    """The run's cost, and whether it is what the run recorded or an estimate."""
    cost = stats["tokens"]["cost"]
    if cost["usd"] is None:
        return cost_text(cost)
    return f"{cost_text(cost)} ({'recorded' if cost['recorded'] else 'estimated'})"


def figure_rows(stats: dict) -> list[tuple[str, str, str]]:
    """(section, label, value) rows of one corpus, in display order."""
    r, t, ln, d = stats["records"], stats["tokens"], stats["length"], stats["diversity"]
    rows = [
        ("Corpus", "recipe", str(stats["recipe"]["name"])),
        ("Corpus", "teacher", str(stats["teacher"]["model"])),
        ("Corpus", "teacher kind", str(stats["teacher"]["kind"])),
        ("Records", "accepted", _num(r["accepted"])),
        ("Records", "rejected", _num(r["rejected"])),
        ("Records", "failed", _num(r["failed"])),
        ("Records", "duplicate rate", _pct(r["duplicate_rate"])),
        ("Records", "near-duplicate rate", _pct(r["near_duplicate_rate"])),
        ("Tokens", "prompt (in)", _num(t["prompt"])),
        ("Tokens", "completion (out)", _num(t["completion"])),
        ("Tokens", "cost", _cost(stats)),
        ("Length", "words mean / median", f"{_num(ln.get('mean'))} / {_num(ln.get('median'))}"),
        ("Length", "words p5 – p95", f"{_num(ln.get('p5'))} – {_num(ln.get('p95'))}"),
        ("Diversity", "distinct-1", _num(d["distinct_1"])),
        ("Diversity", "distinct-2", _num(d["distinct_2"])),
        ("Diversity", "distinct-3", _num(d["distinct_3"])),
        ("Diversity", "xz ratio (lower = more redundant)", _num(d["compression"]["ratio"])),
        ("Diversity", "top 3-word opening share", _pct(d["opening_3"]["share"])),
        ("Diversity", "top 5-word opening share", _pct(d["opening_5"]["share"])),
        ("Diversity", "top 3-word opening", str(d["opening_3"]["most_common"])),
        ("Diversity", "top name share", _pct(d["name"]["share"])),
        ("Diversity", "top name", str(d["name"]["most_common"])),
    ]
    for reason, count in r["rejected_by_reason"].items():
        rows.append(("Rejects", reason, _num(count)))
    for kind, count in r["failed_by_kind"].items():
        rows.append(("Failures", kind, _num(count)))
    return rows


def _feature_rows(stats: dict) -> dict[str, str]:
    f = stats["features"]
    return {k: f"{_num(v)} ({_pct(f['shares'][k])})" for k, v in f["counts"].items()}


def render_stats(stats: list[dict], console: Console | None = None) -> None:
    """Print one corpus's stats, or several side by side (one column each)."""
    console = console or Console()
    headers = [_header(s, i, len(stats)) for i, s in enumerate(stats)]
    console.print(_main_table(stats, headers))
    console.print(_coverage_table(stats, headers))
    console.print(_keyed_table("Features", [_feature_rows(s) for s in stats], headers))
    if any(s.get("judge") for s in stats):
        console.print(_keyed_table("Judge scores", [_judge_rows(s) for s in stats], headers))
    for header, s in zip(headers, stats, strict=True):
        console.print(_histogram_table(s, header))
        console.print(_openings_table(s, header))
    for header, s in zip(headers, stats, strict=True):
        for note in s["sampled"]:
            console.print(f"[yellow]{header}: sampled: {note}[/]")


def _header(stats: dict, position: int, count: int) -> str:
    name = stats["recipe"]["name"] or Path(stats["run_dir"]).name
    return f"{chr(ord('A') + position)}: {name}" if count > 1 else name


def _main_table(stats: list[dict], headers: list[str]) -> Table:
    table = Table(title="Corpus statistics")
    table.add_column("section", style="bold")
    table.add_column("figure")
    for header in headers:
        table.add_column(header, justify="right")
    columns = [figure_rows(s) for s in stats]
    labels = list(dict.fromkeys((sec, label) for rows in columns for sec, label, _ in rows))
    values = [{(sec, label): v for sec, label, v in rows} for rows in columns]
    for i, (sec, label) in enumerate(labels):
        first = i == 0 or labels[i - 1][0] != sec
        last = i == len(labels) - 1 or labels[i + 1][0] != sec
        cells = (v.get((sec, label), "—") for v in values)
        table.add_row(sec if first else "", label, *cells, end_section=last)
    return table


def _coverage_table(stats: list[dict], headers: list[str]) -> Table:
    table = Table(title="Word-list coverage (required · in text · used when asked)")
    table.add_column("list")
    for header in headers:
        table.add_column(f"{header}", justify="right")
    names = dict.fromkeys(name for s in stats for name in s["coverage"])
    for name in names:
        table.add_row(name, *(_coverage_cell(s["coverage"].get(name)) for s in stats))
    return table


def _coverage_cell(c: dict | None) -> str:
    if c is None:
        return "—"
    if "error" in c:
        return c["error"]
    shares = (c["required_share"], c["in_text_share"], c["followed_share"])
    return " · ".join(_pct(x) for x in shares) + f" of {c['entries']:,}"


def _keyed_table(title: str, columns: list[dict[str, str]], headers: list[str]) -> Table:
    table = Table(title=title)
    table.add_column("name")
    for header in headers:
        table.add_column(header, justify="right")
    for key in dict.fromkeys(k for column in columns for k in column):
        table.add_row(key, *(column.get(key, "—") for column in columns))
    return table


def _judge_rows(stats: dict) -> dict[str, str]:
    """judged records, the mean of each score, and how many records' mean is k..k+1."""
    judge = stats.get("judge") or {}
    if not judge:
        return {}
    rows = {
        "judged": f"{judge['judged']:,} ({judge['judged_accepted']:,} accepted)",
        "mean score": _num(judge["mean"]),
    }
    rows |= {f"mean {name}": _num(value) for name, value in judge["score_means"].items()}
    for bucket, count in judge["distribution"].items():
        rows[f"records scoring {bucket}–{int(bucket) + 1}"] = (
            f"{count['records']:,} ({_pct(count['share'])})"
        )
    return rows


def _histogram_table(stats: dict, header: str, width: int = 40) -> Table:
    table = Table(title=f"Length in words — {header}", show_header=False, box=None)
    table.add_column(justify="right", style="dim")
    table.add_column()
    table.add_column(justify="right")
    bins = stats["length"]["histogram"]
    peak = max((b["count"] for b in bins), default=0) or 1
    for b in bins:
        label = f"{b['lo']}–{b['hi'] - 1}" if b["hi"] is not None else f"{b['lo']}+"
        table.add_row(label, _bar(b["count"] / peak, width), f"{b['count']:,}")
    return table


def _bar(fraction: float, width: int) -> str:
    """A unicode bar of `fraction` x `width` cells, with eighth-cell resolution."""
    eighths = round(fraction * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _openings_table(stats: dict, header: str) -> Table:
    table = Table(title=f"Top openings (first 3 words) — {header}")
    table.add_column("opening")
    table.add_column("records", justify="right")
    table.add_column("share", justify="right")
    for row in stats["diversity"]["opening_3"]["top"]:
        table.add_row(row["text"], f"{row['records']:,}", _pct(row["share"]))
    return table


def short_summary(stats: dict) -> str:
    """A few lines for the end of `generate`."""
    r, t, ln, d = stats["records"], stats["tokens"], stats["length"], stats["diversity"]
    lines = [
        f"{r['accepted']:,} records · {r['rejected']:,} rejected "
        f"(dup {_pct(r['duplicate_rate'])}) · {r['failed']:,} failed · "
        f"tokens {t['prompt']:,} in, {t['completion']:,} out · cost {_cost(stats)}",
        f"length {_num(ln.get('median'))} words median ({_num(ln.get('p5'))}–"
        f"{_num(ln.get('p95'))}) · distinct-1/2/3 {_num(d['distinct_1'])}/"
        f"{_num(d['distinct_2'])}/{_num(d['distinct_3'])} · xz {_num(d['compression']['ratio'])}",
        f"top opening {d['opening_3']['most_common']!r} {_pct(d['opening_3']['share'])} · "
        f"top name {d['name']['most_common']!r} {_pct(d['name']['share'])}",
    ]
    lines += _coverage_words(stats["coverage"])
    return "\n".join(lines)


def _coverage_words(coverage: dict) -> list[str]:
    """e.g. `prompts asked for 0.6% of the noun list (17 of 2,841), 1.7% of the verb list
    (10 of 600)` and `answers used the word they were asked for: noun 80%, verb 62%`."""
    lists = {name: c for name, c in coverage.items() if "error" not in c}
    lowest = sorted(lists, key=lambda name: lists[name]["required_share"])[:3]
    if not lowest:
        return []
    asked = ", ".join(
        f"{_pct(lists[n]['required_share'])} of the {n} list ({lists[n]['required']:,} of "
        f"{lists[n]['entries']:,})"
        for n in lowest
    )
    lines = [f"prompts asked for {asked}"]
    used = [n for n in lowest if lists[n]["followed_share"] is not None]
    if used:
        shares = ", ".join(f"{n} {_pct(lists[n]['followed_share'])}" for n in used)
        lines.append(f"answers used the word they were asked for: {shares}")
    return lines
