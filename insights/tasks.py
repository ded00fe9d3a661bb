"""Background work of customer insights (run by `ruwang db_worker`)."""

from __future__ import annotations

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
