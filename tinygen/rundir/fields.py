"""The record field table: the one description of an accepted record's fields.

engine/records.py builds records in this order, report/card.py writes the card's schema
table and the `dataset_info` column types from it, and a test holds README's table to it.
`dtype` is the Hugging Face feature type of a field whose type is fixed; structs get
theirs from the record (see report/card.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One field of an accepted record."""

    name: str
    kind: str  # as the card's schema table says it
    meaning: str
    dtype: str | None = None


RECORD_FIELDS = (
    Field("id", "string", "`<fingerprint[:12]>-<index:08d>`: stable across reruns", "string"),
    Field(
        "index", "int", "item number *i* in the run; the prompt depends only on (seed, i)", "int64"
    ),
    Field("messages", "list of {role, content}", "the chat messages sent (system and user)"),
    Field(
        "variables",
        "struct",
        "the sampled values: one entry per list, and `features` (feature names)",
    ),
    Field(
        "recipe",
        "struct",
        "`name`, `fingerprint` (hash of resolved recipe, lists, template, params, seed), "
        "`template_hash`",
    ),
    Field(
        "teacher",
        "struct",
        "`kind` (`openai-compatible`, `local` or `batch-file`), `host` or model file, `model`, "
        "`temperature`, `top_p`, `max_tokens` (and `seed`, `repeat_penalty`, "
        "`reasoning_effort` when set)",
    ),
    Field("text", "string", "the teacher's answer", "string"),
    Field("finish_reason", "string", "as reported (`stop`, ...)", "string"),
    Field(
        "usage",
        "struct",
        "`prompt_tokens`, `completion_tokens` as reported by the teacher (`null` if "
        "unknown; completion tokens include reasoning), `reasoning_tokens` when the "
        "teacher reports them, and a `note` when the endpoint's usage was malformed",
    ),
    Field("latency_s", "float", "seconds of the successful attempt (0 from a batch)", "float64"),
    Field("attempts", "int", "attempts it took (1 = no retry)", "int64"),
    Field(
        "batch", "string", "the id of the batch that answered it (`--batch`), else null", "string"
    ),
    Field(
        "endpoint",
        "string",
        "host:port of the endpoint that answered, when several share the run, else null",
        "string",
    ),
    Field("created_at", "string", "UTC time the record was written (ISO 8601)", "string"),
    Field("tinygen_version", "string", "tinygen version that wrote it", "string"),
    Field("schema_version", "int", "record schema version", "int64"),
    Field(
        "checks",
        "struct",
        "what the checks measured: `words`, `repetition`, `missing_words`, "
        "`outside_vocabulary`, `code` (exercise run result) or `code_errors`, and `judge` "
        "(`scores`, their `mean`, the judge's `model`, its `requests`) when judged",
    ),
)
FIXED_TYPES = {field.name: field.dtype for field in RECORD_FIELDS if field.dtype}

# Types of what the checks write into `checks` (checks/text.py, vocabulary.py, build.py).
CHECK_TYPES = {
    "words": "int64",
    "repetition": "float64",
    "missing_words": "sequence",
    "outside_vocabulary": "float64",
    "code_errors": "sequence",
}
TEACHER_TYPES = {
    "temperature": "float64",
    "top_p": "float64",
    "repeat_penalty": "float64",
    "max_tokens": "int64",
    "seed": "int64",
    "reasoning_effort": "string",
}
