from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEntry


@dataclass(frozen=True)
class AuditFilters:
    username: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_entries(user: User, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The audit log for the audit administrator, newest first."""
    if not user.has_perm("audit.view_auditentry"):
        raise PermissionDenied("audit.view_auditentry")
    qs = AuditEntry.objects.all()
    if filters.username:
        qs = qs.filter(actor_username=filters.username)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.date_from:
        qs = qs.filter(occurred_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(occurred_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return qs.order_by("-id")


def audit_page(
    qs: QuerySet[AuditEntry], before_id: int | None, size: int = 50
) -> tuple[list[AuditEntry], int | None]:
    """Keyset pagination: no COUNT(*) over the whole log. Returns the page and the next cursor."""
    if before_id:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs[: size + 1])
    next_cursor = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], next_cursor


def object_history(obj_type: str, obj_id: str, limit: int = 200) -> list[AuditEntry]:
    """Every audited event on one record, newest first (shown on that record's page)."""
    return list(
        AuditEntry.objects.filter(object_type=obj_type, object_id=obj_id).order_by("-id")[:limit]
    )
