"""Background work of the churn risk (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from accounts.models import User
from insights.churn import churn_recompute

logger = logging.getLogger(__name__)


@task()
def churn_recompute_task(actor_id: int | None = None, only_if_due: bool = False) -> int | None:
    """Train and score. The scheduler enqueues it with `only_if_due=True` (once a night, after
    03:00); the "recompute now" button with the person who asked. Returns the customers
    scored (None: not due)."""
    actor = User.objects.get(pk=actor_id) if actor_id is not None else None
    result = churn_recompute(actor=actor, only_if_due=only_if_due)
    if result is None:
        return None
    logger.info(
        "churn risk: %s model, %d customers scored, %.1f s",
        result.model.method,
        result.scored,
        result.seconds,
    )
    return result.scored
