"""The records a run writes: one dict per item outcome, with full provenance."""

from __future__ import annotations

from datetime import UTC, datetime

from tinygen import SCHEMA_VERSION, __version__
from tinygen.checks import Rejection
from tinygen.items import Item
from tinygen.recipe import ResolvedRecipe
from tinygen.retry import CallOutcome


def record_id(fingerprint: str, index: int) -> str:
    """Stable id of item `index` of the run with `fingerprint`."""
    return f"{fingerprint[:12]}-{index:08d}"


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


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


def accepted_record(prov: Provenance, item: Item, call: CallOutcome, latency: float) -> dict:
    """An accepted answer: the record that goes into a shard."""
    completion = call.completion
    assert completion is not None
    return {
        **prov.base(item),
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        },
        "latency_s": round(latency, 3),
        "attempts": call.attempts,
        "created_at": utc_now(),
        "tinygen_version": __version__,
        "schema_version": SCHEMA_VERSION,
    }


def rejected_record(record: dict, rejection: Rejection) -> dict:
    """An answer a check refused: the full record plus why."""
    out = {**record, "reason": rejection.reason, "detail": rejection.detail}
    if rejection.value is not None:
        out["value"] = rejection.value
    return out


def failed_record(prov: Provenance, item: Item, call: CallOutcome) -> dict:
    """An item whose calls failed for good."""
    error = call.error
    assert error is not None
    return {
        **prov.base(item),
        "error": {"kind": error.kind, "message": error.message, "status": error.status},
        "error_kinds": call.error_kinds,
        "attempts": call.attempts,
        "created_at": utc_now(),
        "tinygen_version": __version__,
        "schema_version": SCHEMA_VERSION,
    }
