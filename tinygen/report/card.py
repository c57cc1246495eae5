"""The dataset card: `DIR/README.md` in the Hugging Face dataset-card format.

A YAML header (license, language, size category, task category, tags, and a `configs`
entry that points the `datasets` library at `data/*.jsonl`, so `load_dataset(DIR)` reads
the accepted records only), then what the corpus is, how it was made, its counts and
statistics, and the record schema. Written at the end of every run, rewritten on resume.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import yaml

from tinygen.recipe.datafiles import prompts_dir
from tinygen.report.corpus import corpus_stats
from tinygen.report.cost import cost_text
from tinygen.rundir.fields import CHECK_TYPES, FIXED_TYPES, RECORD_FIELDS, TEACHER_TYPES
from tinygen.rundir.jsonl import ANY_SHARD_LINE, read_records
from tinygen.rundir.layout import (
    CARD,
    CARD_MARK,
    DATA_DIR,
    MANIFEST,
    atomic_write,
    is_own_card,
    shard_paths,
)
from tinygen.rundir.manifest import read_manifest

DEFAULT_LICENSE = "other"

SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)


def size_category(records: int) -> str:
    """The Hugging Face `size_categories` value for a number of rows."""
    for bound, label in SIZE_CATEGORIES:
        if records < bound:
            return label
    return "n>1T"


def write_card(
    run_dir: Path, stats: dict | None = None, *, license: str = DEFAULT_LICENSE
) -> Path | None:
    """Write `run_dir/README.md` atomically and return its path; None, writing nothing,
    when a README.md that tinygen did not write is there (it is never replaced).

    `stats` is `tinygen.report.corpus.corpus_stats(run_dir)`; computed here when not given.
    """
    run_dir = Path(run_dir)
    path = run_dir / CARD
    if path.exists() and not is_own_card(path):
        return None
    manifest = read_manifest(run_dir) or {}
    stats = stats if stats is not None else corpus_stats(run_dir)
    text = render_card(manifest, stats, license=license, record=first_record(run_dir))
    atomic_write(path, text)
    return path


def first_record(run_dir: Path) -> dict | None:
    """The first accepted record of the run (None if there is none yet), read as the scan
    reads shards (any JSON object will do for the card)."""
    for shard in shard_paths(run_dir):
        with closing(read_records(shard, ANY_SHARD_LINE)) as records:
            record = next(records, None)
        if record is not None:
            return record
    return None


def render_card(
    manifest: dict, stats: dict, *, license: str = DEFAULT_LICENSE, record: dict | None = None
) -> str:
    """The card's Markdown text (YAML front matter + body)."""
    parts = [
        front_matter(manifest, stats, license=license, record=record),
        _intro(manifest, stats),
        _loading(),
        _how_made(manifest, stats),
        _counts(stats),
        _statistics(stats),
        _schema(),
        _license_note(stats, license),
        CARD_MARK + "\n",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------- YAML header


def front_matter(
    manifest: dict, stats: dict, *, license: str = DEFAULT_LICENSE, record: dict | None = None
) -> str:
    """The YAML header, between `---` lines.

    With `record` (the first accepted record), the header also declares the columns'
    types (`dataset_info.features`), so `datasets` does not have to guess them from the
    first rows (an all-empty `features` list or a null `finish_reason` there would make
    it guess `null` and then fail on later rows).
    """
    name = stats["recipe"]["name"] or "tinygen"
    tags = list(
        dict.fromkeys(["synthetic", "tinygen", name, *(["code"] * name.startswith("code"))])
    )
    header: dict[str, object] = {
        "pretty_name": f"{name} (tinygen synthetic corpus)",
        "license": license,
        **({"license_name": "teacher-model-terms"} if license == "other" else {}),
        "language": ["en"],
        "size_categories": [size_category(stats["records"]["accepted"])],
        "task_categories": ["text-generation"],
        "tags": tags,
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{DATA_DIR}/*.jsonl"}],
            }
        ],
    }
    if record is not None:
        header["dataset_info"] = {
            "config_name": "default",
            "features": dataset_features(manifest, record),
        }
    text = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---\n"


def dataset_features(manifest: dict, record: dict) -> list[dict]:
    """The record schema in the card's `dataset_info.features` form."""
    features = []
    for key, value in record.items():
        if key == "messages":
            items = [{"name": "role", "dtype": "string"}, {"name": "content", "dtype": "string"}]
            features.append({"name": key, "list": items})
        elif key == "variables":
            features.append({"name": key, "struct": _variables(manifest, value)})
        elif key == "teacher":
            fields = [
                {"name": k, "dtype": TEACHER_TYPES.get(k) or _dtype(v)} for k, v in value.items()
            ]
            features.append({"name": key, "struct": fields})
        elif key in ("recipe", "usage") and isinstance(value, dict):
            features.append(
                {"name": key, "struct": _struct(value, "string" if key == "recipe" else "int64")}
            )
        elif key == "checks" and isinstance(value, dict):
            features.append({"name": key, "struct": _checks(value)})
        else:
            features.append({"name": key, "dtype": FIXED_TYPES.get(key) or _dtype(value)})
    return features


def _struct(value: dict, dtype: str) -> list[dict]:
    """Fields of a struct whose values share `dtype` (strings, like a usage note, excepted)."""
    return [
        {"name": k, "dtype": "string" if isinstance(v, str) else dtype} for k, v in value.items()
    ]


def _checks(figures: dict) -> list[dict]:
    """The `checks` struct: what this recipe's checks measure, typed."""
    fields = []
    for name, value in figures.items():
        dtype = CHECK_TYPES.get(name)
        if dtype == "sequence":
            fields.append({"name": name, "sequence": "string"})
        elif isinstance(value, dict):
            fields.append({"name": name, "struct": [_feature(k, v) for k, v in value.items()]})
        else:
            fields.append({"name": name, "dtype": dtype or _dtype(value)})
    return fields


def _feature(name: str, value: object) -> dict:
    if isinstance(value, list):
        return {"name": name, "sequence": "string"}
    if isinstance(value, dict):  # the judge's scores
        return {"name": name, "struct": [_feature(k, v) for k, v in value.items()]}
    return {"name": name, "dtype": _dtype(value)}


def _variables(manifest: dict, variables: dict) -> list[dict]:
    """One field per list (a string, or a list of strings when it draws several)."""
    lists = manifest.get("recipe", {}).get("resolved", {}).get("lists") or {}
    fields = []
    for name, value in variables.items():
        several = name == "features" or (lists.get(name, {}).get("draw") or 1) > 1
        if several or isinstance(value, list):
            fields.append({"name": name, "sequence": "string"})
        else:
            fields.append({"name": name, "dtype": "string"})
    return fields


def _dtype(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    return "float64" if isinstance(value, float) else "string"


# ---------------------------------------------------------------- body


def _cell(value: object) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    text = "—" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[object, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _intro(manifest: dict, stats: dict) -> str:
    recipe, teacher = stats["recipe"], stats["teacher"]
    return (
        f"# {recipe['name']}: a synthetic corpus made with tinygen\n\n"
        f"{recipe.get('description') or ''}\n\n"
        f"{stats['records']['accepted']:,} texts written by the teacher model "
        f"`{teacher.get('model')}` ({teacher.get('kind')}) from prompts that tinygen filled "
        f"from the recipe `{recipe['name']}`. Every record carries the prompt it was "
        "written from, the sampled words and features, and its generation metadata. "
        f"Run status: `{manifest.get('status', 'unknown')}`.\n"
    )


def _loading() -> str:
    return (
        "## Loading\n\n"
        "```python\n"
        "from datasets import load_dataset\n\n"
        'ds = load_dataset("path/to/this/directory", split="train")\n'
        "```\n\n"
        f"Only `{DATA_DIR}/*.jsonl` (the accepted records) is the dataset; `rejected.jsonl`, "
        f"`failed.jsonl` and `{MANIFEST}` document the run.\n"
    )


def _recipe_ref(manifest: dict) -> str:
    recipe = manifest.get("recipe", {})
    source = Path(recipe.get("source") or "")
    if source.parent == prompts_dir() or not recipe.get("source"):
        return str(recipe.get("name"))
    return source.name


def _how_made(manifest: dict, stats: dict) -> str:
    resolved = manifest.get("recipe", {}).get("resolved", {})
    teacher = {**resolved.get("teacher", {}), **(manifest.get("teacher") or {})}
    params = ", ".join(
        f"{k}={teacher[k]}"
        for k in ("temperature", "top_p", "max_tokens", "seed", "repeat_penalty")
        if teacher.get(k) is not None
    )
    rows = [
        ("recipe", f"`{_recipe_ref(manifest)}`"),
        ("fingerprint", f"`{stats['recipe'].get('fingerprint')}`"),
        ("seed / sampling", f"{manifest.get('seed')} / {resolved.get('sampling')}"),
        ("word lists", _lists_summary(resolved)),
        ("features", _features_summary(resolved)),
        ("teacher", f"`{teacher.get('model')}` ({teacher.get('kind')}, {teacher.get('host')})"),
        ("generation parameters", params),
        ("tinygen", f"{manifest.get('tinygen_version')} (schema {manifest.get('schema_version')})"),
        ("started / last updated", f"{manifest.get('started_at')} / {manifest.get('updated_at')}"),
    ]
    command = (
        f"tinygen generate {_recipe_ref(manifest)} -n {manifest.get('counts', {}).get('target')} "
        f"--seed {manifest.get('seed')} --model {teacher.get('model')} --out DIR"
    )
    return (
        "## How it was made\n\n"
        "For each item *i*, tinygen drew words from the recipe's lists (a function of the "
        "seed and *i* only), filled the prompt template, asked the teacher, checked the "
        "answer (finish reason, empty text, exact duplicates) and appended it to a shard.\n\n"
        + _table(rows, ("what", "value"))
        + f"\nTo extend or reproduce it (with the same endpoint): `{command}`.\n"
    )


def _lists_summary(resolved: dict) -> str:
    parts = []
    for name, spec in (resolved.get("lists") or {}).items():
        source = spec.get("file") or f"{len(spec.get('items') or [])} inline items"
        parts.append(f"`{name}` ({source}, draw {spec.get('draw', 1)})")
    return ", ".join(parts) or "none"


def _features_summary(resolved: dict) -> str:
    features = resolved.get("features")
    if not features:
        return "none"
    names = ", ".join(features.get("items", {}))
    return f"{features.get('min')} to {features.get('max')} of: {names}"


def _counts(stats: dict) -> str:
    r, t = stats["records"], stats["tokens"]
    cost = t["cost"]
    usd = f"{cost_text(cost)} ({cost['note']})" if cost["usd"] is not None else cost["note"]
    rows = [
        ("accepted records", f"{r['accepted']:,} in {r['shards']} shard(s)"),
        ("rejected answers", _by_kind(r["rejected"], r["rejected_by_reason"])),
        ("failed items", _by_kind(r["failed"], r["failed_by_kind"])),
        ("duplicate rate", _pct(r["duplicate_rate"])),
        ("tokens in / out", f"{t['prompt']:,} / {t['completion']:,}"),
        ("cost" if cost["recorded"] else "estimated cost", usd),
    ]
    return "## Counts\n\n" + _table(rows, ("what", "value"))


def _by_kind(total: int, kinds: dict[str, int]) -> str:
    if not kinds:
        return f"{total:,}"
    return f"{total:,} (" + ", ".join(f"{k}: {v:,}" for k, v in kinds.items()) + ")"


def _statistics(stats: dict) -> str:
    ln, d = stats["length"], stats["diversity"]
    rows = [
        ("length in words (mean / median / p5–p95)", _length(ln)),
        ("distinct-1 / 2 / 3", f"{d['distinct_1']} / {d['distinct_2']} / {d['distinct_3']}"),
        ("xz compression ratio (lower = more redundant)", d["compression"]["ratio"]),
        ("most common first 3 words", _share_of(d["opening_3"])),
        ("most common first 5 words", _share_of(d["opening_5"])),
        ("most common character name", _share_of(d["name"])),
    ]
    text = "## Statistics\n\nComputed by `tinygen stats` over the accepted records.\n\n"
    text += _table(rows, ("figure", "value"))
    coverage = [
        (name, c["entries"], _pct(c["required_share"]), _pct(c["in_text_share"]))
        for name, c in stats["coverage"].items()
        if "error" not in c
    ]
    if coverage:
        header = ("list", "entries", "required at least once", "appearing in the texts")
        text += "\nWord-list coverage:\n\n" + _table(coverage, header)
    features = stats["features"]["counts"]
    if features:
        rows = [(k, f"{v:,}") for k, v in features.items()]
        text += "\nFeatures asked for:\n\n" + _table(rows, ("feature", "records"))
    for note in stats.get("sampled") or []:
        text += f"\n*Sampled:* {note}.\n"
    return text


def _length(ln: dict) -> str:
    if not ln.get("records"):
        return "—"
    return f"{ln['mean']} / {ln['median']} / {ln['p5']}–{ln['p95']}"


def _share_of(top: dict) -> str:
    if top["most_common"] is None:
        return "—"
    return f"“{top['most_common']}” in {_pct(top['share'])} of records"


def _schema() -> str:
    return (
        "## Record schema\n\n"
        + _table([(f.name, f.kind, f.meaning) for f in RECORD_FIELDS], ("field", "type", "meaning"))
        + "\nThe dataset's `text` column is the training text; the other columns are "
        "provenance.\n"
    )


def _license_note(stats: dict, license: str) -> str:
    model = stats["teacher"].get("model")
    return (
        "## License and limitations\n\n"
        f"`license: {license}` in the header is a placeholder: the texts were written by "
        f"`{model}`, so their use is governed by that model's terms, and the prompts "
        "include tinygen's word lists. Set `license` (and `license_name`) to what applies "
        "before publishing.\n\n"
        "The texts are synthetic and were not reviewed by people: they can contain errors, "
        "repetition and the teacher's biases. Check the statistics above (opening and name "
        "concentration, coverage) before training on them.\n"
    )
