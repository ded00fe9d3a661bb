"""Appending to the audit log. Every service write calls `audit_record` inside its transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, canonical_content, entry_hash, normalise
from audit.models import AuditEntry, Outcome
from ruwang.lib.masking import mask_field
from ruwang.lib.request_context import current_ip

# Arbitrary constant naming the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_ID = 2_026_112_501


def _lock_chain() -> None:
    # SQLite transactions are already serialised (BEGIN IMMEDIATE); PostgreSQL needs a lock so
    # two appends never read the same previous hash. The lock is held until commit.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


def _last_hash() -> str | None:
    # Every service write runs this: a fixed statement, not an ORM query built each time.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT hash FROM {AuditEntry._meta.db_table} ORDER BY id DESC LIMIT 1"  # noqa: S608
        )
        row = cursor.fetchone()
    return row[0] if row else None


def object_label(obj: models.Model) -> tuple[str, str, str]:
    meta = obj._meta
    return f"{meta.app_label}.{meta.model_name}", str(obj.pk), str(obj)[:200]


def field_values(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """A snapshot of concrete field values (foreign keys as ids, many-to-many as sorted ids)."""
    values: dict[str, Any] = {}
    for field in obj._meta.get_fields():
        if fields is not None and field.name not in fields:
            continue
        if getattr(field, "many_to_many", False) and not getattr(field, "auto_created", False):
            if obj.pk is None:
                values[field.name] = []
            else:
                manager = getattr(obj, field.name)
                values[field.name] = sorted(manager.values_list("pk", flat=True))
        elif getattr(field, "concrete", False) and not getattr(field, "auto_created", False):
            values[field.name] = getattr(obj, field.attname)  # type: ignore[union-attr]
    return values


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Changed fields as {field: [before, after]}, sensitive values masked."""
    changed: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changed[name] = [mask_field(name, old), mask_field(name, new)]
    return normalise(changed)


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
    outcome: str = Outcome.SUCCESS,
    ip: str | None = None,
    username: str = "",
) -> AuditEntry:
    if obj is not None:
        # A caller may name the object itself (a pseudonym instead of a person's name).
        object_type, object_id, label = object_label(obj)
        object_repr = object_repr or label
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    actor_username = username or (getattr(actor, "username", "") if actor_id else "")
    stored_changes = normalise(dict(changes or {}))
    ip_address = current_ip() if ip is None else ip
    # No savepoint inside the caller's transaction: a failed audit row fails the whole write.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        prev_hash = _last_hash() or GENESIS_HASH
        occurred_at = timezone.now()
        content = canonical_content(
            occurred_at=occurred_at,
            actor_id=actor_id,
            actor_username=actor_username,
            ip=ip_address,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            changes=stored_changes,
            outcome=outcome,
        )
        entry = AuditEntry(
            occurred_at=occurred_at,
            actor_id=actor_id,
            actor_username=actor_username,
            ip=ip_address,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            changes=stored_changes,
            outcome=outcome,
            prev_hash=prev_hash,
            hash=entry_hash(content, prev_hash),
        )
        entry.save()
    return entry
