"""`tinygen stats DIR [DIR_B] --html FILE`: one self-contained HTML report.

Everything is inline: the CSS, the charts (SVG drawn here: length histogram, top
openings, coverage curve, rejects by reason), a sample of records and one example of
each reject reason. Nothing loads from anywhere (no script, no font, no image URL), so
the file opens offline and can be mailed or attached to a pull request. With two run
directories, each section shows them side by side.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

from tinygen.report.view import figure_rows
from tinygen.rundir.jsonl import ANY_SHARD_LINE, REJECTED_LINE, read_records
from tinygen.rundir.layout import REJECTED, atomic_write, shard_paths

SAMPLE_RECORDS = 5  # records shown of each corpus
SHOWN_CHARS = 1_200  # of each shown text
COLORS = ("#3b6ea8", "#c2563a")  # corpus A, corpus B
CURVE_COLORS = ("#3b6ea8", "#c2563a", "#4d8f4a", "#8a5fb0", "#b08a2e", "#2e9aa0", "#777")
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.side { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: 24px; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
td.v { text-align: right; font-variant-numeric: tabular-nums; }
.record { border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px 10px; margin: 8px 0;
          white-space: pre-wrap; font-size: 13px; }
.meta { color: #777; font-size: 12px; }
.reason { font-weight: 600; color: #a33; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
"""


def write_html_report(stats: list[dict], out: Path) -> None:
    """Write the report of one corpus, or two side by side, to `out` (atomically)."""
    atomic_write(Path(out), render_html(stats))


def render_html(stats: list[dict]) -> str:
    """The report's HTML text."""
    names = [_name(s, i, len(stats)) for i, s in enumerate(stats)]
    dirs = [Path(s["run_dir"]) for s in stats]
    colored = list(zip(stats, COLORS, strict=False))
    body = [
        f"<h1>tinygen report: {_e(' vs '.join(names))}</h1>",
        _section("Figures", [_figures(s) for s in stats], names),
        _section("Length in words", [_histogram(s, c) for s, c in colored], names),
        _section("Top openings (first 3 words)", [_openings(s, c) for s, c in colored], names),
        _section("Coverage of each word list", [_coverage_curve(s) for s in stats], names),
        _section("Rejects by reason", [_rejects(s, c) for s, c in colored], names),
        _section("Sample records", [_sample(d) for d in dirs], names),
        _section("An example of each reject reason", [_reject_examples(d) for d in dirs], names),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tinygen report: {_e(' vs '.join(names))}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _name(stats: dict, position: int, count: int) -> str:
    name = stats["recipe"]["name"] or Path(stats["run_dir"]).name
    return f"{chr(ord('A') + position)}: {name}" if count > 1 else str(name)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _section(title: str, columns: list[str], names: list[str]) -> str:
    heads = len(columns) > 1
    cells = "".join(
        f"<div>{f'<h3>{_e(name)}</h3>' if heads else ''}{column}</div>"
        for name, column in zip(names, columns, strict=True)
    )
    return f'<h2>{_e(title)}</h2><div class="side" style="--n: {len(columns)}">{cells}</div>'


def _figures(stats: dict) -> str:
    rows = "".join(
        f'<tr><td>{_e(section)}</td><td>{_e(label)}</td><td class="v" data-figure="{_e(label)}">'
        f"{_e(value)}</td></tr>"
        for section, label, value in figure_rows(stats)
    )
    return f'<table class="figures">{rows}</table>'


def _histogram(stats: dict, color: str) -> str:
    bins = stats["length"]["histogram"]
    if not bins:
        return "<p>no records</p>"
    labels = [f"{b['lo']}–{b['hi'] - 1}" if b["hi"] is not None else f"{b['lo']}+" for b in bins]
    return _column_chart(labels, [b["count"] for b in bins], color)


def _openings(stats: dict, color: str) -> str:
    top = stats["diversity"]["opening_3"]["top"]
    rows = [
        (row["text"], row["records"], f"{row['records']:,} ({row['share']:.1%})") for row in top
    ]
    return _bar_chart(rows, color)


def _rejects(stats: dict, color: str) -> str:
    reasons = stats["records"]["rejected_by_reason"]
    if not reasons:
        return "<p>none rejected</p>"
    rows = [(reason, count, f"{count:,}") for reason, count in reasons.items()]
    return _bar_chart(sorted(rows, key=lambda row: -row[1]), color)


def _bar_chart(rows: list[tuple[str, int, str]], color: str) -> str:
    """Horizontal bars, one a row: (label, value, the note written after the bar)."""
    if not rows:
        return "<p>nothing to show</p>"
    peak = max(value for _, value, _ in rows) or 1
    width, label_w, row_h = 520, 190, 20
    parts = []
    for i, (label, value, note) in enumerate(rows):
        y, length = i * row_h, (width - label_w - 80) * value / peak
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(label[:32])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
            f'fill="{color}"/><text x="{label_w + length + 4:.1f}" y="{y + 14}">{_e(note)}</text>'
        )
    return _svg(width, len(rows) * row_h, "".join(parts))


def _column_chart(labels: list[str], values: list[int], color: str) -> str:
    """Vertical bars over labelled bins."""
    width, height, base = 520, 200, 160
    peak, step = max(values) or 1, width / max(len(values), 1)
    parts = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = (base - 10) * value / peak
        x = i * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{base - bar:.1f}" width="{step - 4:.1f}" '
            f'height="{bar:.1f}" fill="{color}"><title>{_e(label)}: {value:,}</title></rect>'
        )
        if i % max(1, len(values) // 5) == 0:
            parts.append(f'<text x="{x + 2:.1f}" y="{base + 14}">{_e(label)}</text>')
    return _svg(width, height, "".join(parts))


def _coverage_curve(stats: dict) -> str:
    """Share of each list asked for, against records: one line a list (up to 7)."""
    curve = stats["coverage_curve"]
    lists = list(curve[-1]["required"])[:7] if curve else []
    if not lists:
        return "<p>no word lists</p>"
    width, height, left, base = 520, 220, 36, 180
    last = curve[-1]["records"] or 1
    parts = [
        f'<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="#999"/>',
        f'<text x="0" y="{base}">0%</text><text x="0" y="14">100%</text>',
        f'<text x="{width - 80}" y="{base + 16}">{last:,} records</text>',
    ]
    for i, name in enumerate(lists):
        points = " ".join(
            f"{left + (width - left) * p['records'] / last:.1f},"
            f"{base - (base - 10) * p['required'][name]:.1f}"
            for p in curve
        )
        color = CURVE_COLORS[i % len(CURVE_COLORS)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
    legend = " ".join(
        f'<span style="color:{CURVE_COLORS[i % len(CURVE_COLORS)]}">■ {_e(name)}</span>'
        for i, name in enumerate(lists)
    )
    return _svg(width, height, "".join(parts)) + f'<p class="meta">{legend}</p>'


def _svg(width: int, height: int, body: str) -> str:
    return f'<svg width="100%" viewBox="0 0 {width} {height}" role="img">{body}</svg>'


def _sample(run_dir: Path) -> str:
    with closing(_records(shard_paths(run_dir))) as all_records:
        records = _first(all_records, SAMPLE_RECORDS)
    if not records:
        return "<p>no records</p>"
    return "".join(_record_html(record) for record in records)


def _reject_examples(run_dir: Path) -> str:
    examples: dict[str, dict] = {}
    with closing(read_records(run_dir / REJECTED, REJECTED_LINE)) as rejected:
        for record in rejected:
            examples.setdefault(record["reason"], record)
    if not examples:
        return "<p>none rejected</p>"
    return "".join(
        f'<div class="reject" data-reason="{_e(reason)}"><span class="reason">{_e(reason)}</span>'
        f' <span class="meta">{_e(record.get("detail", ""))}</span>{_record_html(record)}</div>'
        for reason, record in sorted(examples.items())
    )


def _record_html(record: dict) -> str:
    text = str(record.get("text") or "")
    shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + " …"
    variables = ", ".join(f"{k}={v}" for k, v in (record.get("variables") or {}).items())
    return (
        f'<div class="record"><div class="meta">#{_e(record.get("index"))} · {_e(variables)}'
        f"</div>{_e(shown)}</div>"
    )


def _records(shards: list[Path]) -> Iterator[dict]:
    for shard in shards:
        with closing(read_records(shard, ANY_SHARD_LINE)) as records:
            yield from records


def _first(records: Iterable[dict], count: int) -> list[dict]:
    taken = []
    for record in records:
        taken.append(record)
        if len(taken) == count:
            break
    return taken
