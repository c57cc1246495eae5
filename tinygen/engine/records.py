"""The records a run writes: one dict per item outcome, with full provenance."""

from __future__ import annotations

from tinygen import SCHEMA_VERSION, __version__
from tinygen.checks.base import Rejection
from tinygen.recipe.items import Item, record_id
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.runlog import utc_now
from tinygen.teachers.base import Completion, Teacher
from tinygen.teachers.retry import CallOutcome
from tinygen.text.canonical import sha256_hex
from tinygen.text.encoding import make_encodable

REJECTED_TEXT_CHARS = 16_384  # rejected.jsonl is for diagnosis, not for megabytes


class Provenance:
    """Fields shared by every record of a run (built once, shared by every record)."""

    def __init__(self, resolved: ResolvedRecipe, teacher: dict[str, object]) -> None:
        self.resolved = resolved
        self.teacher = teacher
        self._record_teacher = {
            **teacher,
            **resolved.recipe.teacher.model_dump(exclude_none=True),
        }
        self.recipe = {
            "name": resolved.name,
            "fingerprint": resolved.fingerprint,
            "template_hash": resolved.template_hash,
        }

    @classmethod
    def of(cls, resolved: ResolvedRecipe, teacher: Teacher) -> Provenance:
        """The provenance of a run asking `teacher` (its description, the recipe's model)."""
        return cls(resolved, {**teacher.describe(), "model": resolved.recipe.teacher.model})

    def base(self, item: Item) -> dict[str, object]:
        """The fields every outcome of `item` carries."""
        return {
            "id": record_id(self.resolved.fingerprint, item.index),
            "index": item.index,
            "messages": item.messages,
            "variables": item.variables,
            "recipe": self.recipe,
            "teacher": self._record_teacher,
        }


def accepted_record(
    prov: Provenance,
    item: Item,
    completion: Completion,
    attempts: int,
    latency: float,
    batch: str | None = None,
) -> dict:
    """An accepted answer: the record that goes into a shard (`batch`: the batch that
    answered, if one did)."""
    return {
        **prov.base(item),
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "usage": usage_field(completion),
        "latency_s": round(latency, 3),
        "attempts": attempts,
        "batch": batch,
        "endpoint": completion.endpoint,
        "created_at": utc_now(),
        "tinygen_version": __version__,
        "schema_version": SCHEMA_VERSION,
    }


def usage_field(completion: Completion) -> dict[str, object]:
    """The record's `usage`: token counts as reported (None if unknown), and a `note`
    when the endpoint's usage was malformed."""
    usage: dict[str, object] = {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
    }
    if completion.reasoning_tokens is not None:
        usage["reasoning_tokens"] = completion.reasoning_tokens
    if completion.usage_note:
        usage["note"] = completion.usage_note
    return usage


def rejection_fields(rejection: Rejection) -> dict[str, object]:
    """What a rejected record adds to the record: `reason`, `detail`, and `value`."""
    fields: dict[str, object] = {"reason": rejection.reason, "detail": rejection.detail}
    if rejection.value is not None:
        fields["value"] = rejection.value
    return fields


def rejected_record(record: dict, rejection: Rejection) -> dict:
    """An answer a check refused: the full record plus why; a text past
    REJECTED_TEXT_CHARS keeps its start, with its length and sha256."""
    out = {**record, **rejection_fields(rejection)}
    text = out.get("text")
    if isinstance(text, str) and len(text) > REJECTED_TEXT_CHARS:
        out["text"] = text[:REJECTED_TEXT_CHARS]
        out["text_chars"] = len(text)
        out["text_sha256"] = sha256_hex(make_encodable(text))
    return out


def failed_record(
    prov: Provenance, item: Item, call: CallOutcome, error: dict | None = None
) -> dict:
    """An item whose calls failed for good (or whose checks raised: `error` says how)."""
    if error is None:
        assert call.error is not None
        failure = call.error
        error = {"kind": failure.kind, "message": failure.message, "status": failure.status}
    return {
        **prov.base(item),
        "error": error,
        "error_kinds": call.error_kinds,
        "attempts": call.attempts,
        "created_at": utc_now(),
        "tinygen_version": __version__,
        "schema_version": SCHEMA_VERSION,
    }
