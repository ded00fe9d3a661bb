from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Department, Region, Territory, User
from accounts.roles import role_label
from audit.models import AuditEntry


@dataclass(frozen=True)
class UserProfile:
    user: User
    department: Department | None
    supervisor: User | None
    roles: list[str]
    regions: list[Region]
    territories: list[Territory]
    password_expires_at: datetime | None


def user_profile(user: User) -> UserProfile:
    fresh = (
        User.objects.select_related("department", "supervisor")
        .prefetch_related("groups__role", "regions", "territories")
        .get(pk=user.pk)
    )
    roles = [
        role_label(g.role.code, g.name) if hasattr(g, "role") else g.name
        for g in fresh.groups.all()
    ]
    return UserProfile(
        user=fresh,
        department=fresh.department,
        supervisor=fresh.supervisor,
        roles=sorted(roles),
        regions=list(fresh.regions.all()),
        territories=list(fresh.territories.all()),
        password_expires_at=fresh.password_expires_at(),
    )


def recent_logins(user: User, limit: int = 5) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(actor=user, action="auth.login").order_by("-id")[:limit])


def locked_usernames() -> list[dict[str, Any]]:
    """User names currently locked by repeated failures (known and unknown names alike)."""
    from axes.models import AccessAttempt

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts: QuerySet[AccessAttempt] = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gte=since
    ).order_by("-attempt_time")
    return [
        {
            "username": a.username,
            "failures": a.failures_since_start,
            "last_attempt": a.attempt_time,
            "ip": a.ip_address,
            "unlocks_at": a.attempt_time + settings.AXES_COOLOFF_TIME,
        }
        for a in attempts
    ]


def organisation_summary() -> dict[str, int]:
    return {
        "users": User.objects.filter(is_active=True).count(),
        "departments": Department.objects.filter(is_active=True).count(),
        "territories": Territory.objects.filter(is_active=True).count(),
        "locked": len(locked_usernames()),
    }
