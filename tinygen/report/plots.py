"""PNG plots of a corpus's stats (`tinygen stats DIR --plots`), drawn with matplotlib.

matplotlib is an optional extra (`pip install 'tinygen[plots]'`); it is imported only
when plots are asked for, with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.rundir.layout import COVERAGE_PNG, LENGTH_PNG, OPENINGS_PNG, PLOTS_DIR


def write_plots(run_dir: Path, stats: dict) -> list[Path]:
    """Write the length histogram, coverage curve and openings chart; return their paths.

    Files go to `run_dir/plots/`. A plot with no data (no records, no word lists) is
    skipped.
    """
    plt = _pyplot()
    out = Path(run_dir) / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    title = stats["recipe"]["name"] or Path(stats["run_dir"]).name
    written = []
    for name, draw in ((LENGTH_PNG, _length), (COVERAGE_PNG, _coverage), (OPENINGS_PNG, _openings)):
        figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
        try:
            if draw(axes, stats, title):
                figure.tight_layout()
                figure.savefig(out / name)
                written.append(out / name)
        finally:
            plt.close(figure)
    return written


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise TinygenError(
            "plots need matplotlib, which is not installed",
            "pip install 'tinygen[plots]'",
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _length(axes: Any, stats: dict, title: str) -> bool:
    bins = stats["length"].get("histogram") or []
    if not bins:
        return False
    lefts = [b["lo"] for b in bins]
    widths = [(b["hi"] if b["hi"] is not None else b["lo"] + _width(bins)) - b["lo"] for b in bins]
    axes.bar(lefts, [b["count"] for b in bins], width=widths, align="edge", edgecolor="white")
    if bins[-1]["hi"] is None:
        axes.annotate("overflow", (lefts[-1] + widths[-1] / 2, bins[-1]["count"]), ha="center")
    axes.set(xlabel="length (words)", ylabel="records", title=f"Length distribution — {title}")
    return True


def _width(bins: list[dict]) -> int:
    return bins[0]["hi"] - bins[0]["lo"] if bins[0]["hi"] is not None else 1


def _coverage(axes: Any, stats: dict, title: str) -> bool:
    curve = stats.get("coverage_curve") or []
    if not curve or not curve[0]["required"]:
        return False
    from matplotlib import colormaps

    colors = colormaps["tab20"].colors
    origin = {"records": 0, "required": dict.fromkeys(curve[0]["required"], 0.0)}
    curve = [origin | {"in_text": origin["required"]}, *curve]
    records = [point["records"] for point in curve]
    for position, name in enumerate(curve[0]["required"]):
        color = colors[(2 * position) % 20 + position // 10 % 2]
        axes.plot(records, [100 * p["required"][name] for p in curve], label=name, color=color)
        axes.plot(records, [100 * p["in_text"][name] for p in curve], ":", color=color)
    axes.set(
        xlabel="records",
        ylabel="% of list entries",
        ylim=(0, 102),
        title=f"Word-list coverage — {title} (solid: required, dotted: in text)",
    )
    axes.legend(fontsize="small", ncol=2)
    return True


def _openings(axes: Any, stats: dict, title: str) -> bool:
    top = stats["diversity"]["opening_3"]["top"]
    if not top:
        return False
    labels = [row["text"] for row in reversed(top)]
    axes.barh(labels, [100 * row["share"] for row in reversed(top)])
    axes.set(
        xlabel="% of records",
        title=f"Top 10 openings (first 3 words) — {title}",
    )
    return True
