"""Background work of customer insights (run by `ruwang db_worker`)."""

from __future__ import annotations

import datetime as dt
import logging

from django_tasks import task

from accounts.models import User
from insights.association import association_precompute
from insights.value import value_recompute

logger = logging.getLogger(__name__)


@task()
def value_recompute_task(actor_id: int | None = None, only_if_due: bool = False) -> int | None:
    """Recompute the value classes. The scheduler enqueues it with `only_if_due=True` (it runs
    once a night, after 02:00); the "recompute now" button with the person who asked."""
    actor = User.objects.get(pk=actor_id) if actor_id is not None else None
    result = value_recompute(actor=actor, only_if_due=only_if_due)
    if result is None:
        return None
    logger.info(
        "value classes: %d customers, %d class changes, %.1f s",
        result.customers,
        result.changes,
        result.seconds,
    )
    return result.changes


@task()
def association_task(user_id: int, query: str, today: str, fresh: bool = False) -> int | None:
    """Compute the association analysis a page asked for (its filters as the page's query
    string) and cache it for the page to show; None when the user is gone or may no longer
    open the analysis."""
    from django.http import QueryDict

    from insights import association
    from insights.association_views import AssociationFilterForm

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_perm(association.PERM):
        return None
    data = QueryDict(query)
    # The page's day, so that "the last 90 days" are the page's even after midnight.
    form = AssociationFilterForm(data or None, user=user, today=dt.date.fromisoformat(today))
    result = association.association_compute(user, form.filters(), fresh=fresh)
    return result.baskets


@task()
def association_precompute_task(only_if_due: bool = False) -> int | None:
    """Precompute the association analysis's preset periods (the scheduler enqueues it with
    `only_if_due=True`: it runs once a night, after 03:00)."""
    result = association_precompute(only_if_due=only_if_due)
    if result is None:
        return None
    logger.info(
        "association windows: %d windows, %d rows, %.1f s",
        result.windows,
        result.rows,
        result.seconds,
    )
    return result.rows
