"""The HMAC-SHA256 hash chain that makes the audit log tamper-evident."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from audit.models import AuditEntry

GENESIS_HASH = "0" * 64


def normalise(value: Any) -> Any:
    """The JSON form a value takes once stored, so hashes match after a round trip."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def canonical_content(
    *,
    occurred_at: datetime,
    actor_id: int | None,
    actor_username: str,
    ip: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    changes: Any,
    outcome: str,
) -> bytes:
    content = {
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_username": actor_username,
        "ip": ip,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "changes": changes,
        "outcome": outcome,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(content: bytes, prev_hash: str, key: str | None = None) -> str:
    secret = (key or settings.AUDIT_HMAC_KEY).encode()
    return hmac.new(secret, prev_hash.encode() + b"\n" + content, hashlib.sha256).hexdigest()


def hash_of(entry: AuditEntry, key: str | None = None) -> str:
    content = canonical_content(
        occurred_at=entry.occurred_at,
        actor_id=entry.actor_id,
        actor_username=entry.actor_username,
        ip=entry.ip,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        object_repr=entry.object_repr,
        changes=entry.changes,
        outcome=entry.outcome,
    )
    return entry_hash(content, entry.prev_hash, key)


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    bad_entry_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_entry_id is None


def chain_verify(key: str | None = None) -> VerifyResult:
    """Walk the whole chain in order; stop at the first row whose link or content is wrong."""
    expected_prev = GENESIS_HASH
    checked = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != expected_prev:
            return VerifyResult(checked, entry.pk, "previous-hash link broken (a row was removed)")
        if not hmac.compare_digest(hash_of(entry, key), entry.hash):
            return VerifyResult(checked, entry.pk, "content does not match its hash (row altered)")
        expected_prev = entry.hash
        checked += 1
    return VerifyResult(checked)
