"""`tinygen export`: a run's accepted records as one typed Parquet file (pyarrow).

The columns are the record field table's (rundir/fields.py), typed as the dataset card
types them (`report.card.dataset_features`), over the union of every record's fields:
a pass reads the shape of all records (a `checks.judge` that only some records carry
is a column all the same, null elsewhere), a second writes them in row groups. The file
is written beside its destination and renamed into place, so a crash leaves no part.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError, UsageError
from tinygen.report.card import dataset_features
from tinygen.rundir.jsonl import SHARD_LINE, read_records
from tinygen.rundir.layout import shard_paths, temporary
from tinygen.rundir.manifest import read_manifest

ROW_GROUP = 10_000  # records per Parquet row group
INSTALL_HINT = "pip install 'tinygen[parquet]'"


def export_parquet(run_dir: Path, out: Path, *, overwrite: bool = False) -> int:
    """Write the accepted records of `run_dir` to `out` (a .parquet file); their count."""
    pa, pq = _pyarrow()
    run_dir, out = Path(run_dir), Path(out)
    shards = _shards(run_dir)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists", "pass --overwrite to replace it, or another --out")
    shape = record_shape(_records(shards))
    schema = parquet_schema(pa, dataset_features(_manifest(run_dir), shape))
    staging = temporary(out)
    count = 0
    try:
        with pq.ParquetWriter(staging, schema, compression="zstd") as writer:
            for batch in _batches(_records(shards), ROW_GROUP):
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
        os.replace(staging, out)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return count


def record_shape(records: Iterator[dict]) -> dict:
    """One record holding every field any record has (the first non-null value of each,
    dicts merged key by key): what the schema is made from."""
    shape: dict = {}
    for record in records:
        _merge(shape, record)
    return shape


def _merge(shape: dict, record: dict) -> None:
    for key, value in record.items():
        known = shape.get(key)
        if isinstance(value, dict):
            if not isinstance(known, dict):
                known = shape[key] = {}
            _merge(known, value)
        elif known is None or (known == [] and value):
            shape[key] = value


def parquet_schema(pa: Any, features: list[dict]) -> Any:
    """The pyarrow schema of the card's `dataset_info.features`."""
    return pa.schema([pa.field(feature["name"], _type(pa, feature)) for feature in features])


def _type(pa: Any, feature: dict) -> Any:
    if "struct" in feature:
        return pa.struct([pa.field(f["name"], _type(pa, f)) for f in feature["struct"]])
    if "list" in feature:
        return pa.list_(pa.struct([pa.field(f["name"], _type(pa, f)) for f in feature["list"]]))
    if "sequence" in feature:
        return pa.list_(_SCALARS[feature["sequence"]](pa))
    return _SCALARS[feature["dtype"]](pa)


_SCALARS = {
    "string": lambda pa: pa.string(),
    "int64": lambda pa: pa.int64(),
    "float64": lambda pa: pa.float64(),
    "bool": lambda pa: pa.bool_(),
}


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TinygenError(
            "Exporting to Parquet needs pyarrow, which is not installed",
            f"install the parquet extra: {INSTALL_HINT}",
        ) from None
    return pa, pq


def _shards(run_dir: Path) -> list[Path]:
    shards = shard_paths(run_dir)
    if not shards:
        raise UsageError(
            f"{run_dir} holds no records (no data/part-*.jsonl)",
            "give the --out directory of a `tinygen generate` run",
        )
    return shards


def _manifest(run_dir: Path) -> dict:
    return read_manifest(run_dir) or {}


def _records(shards: list[Path]) -> Iterator[dict]:
    for shard in shards:
        with closing(read_records(shard, SHARD_LINE)) as records:
            yield from records


def _batches(records: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
