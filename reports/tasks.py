"""Background work of the reports (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from reports.aggregates import reports_refresh

logger = logging.getLogger(__name__)


@task()
def reports_refresh_task(full: bool = False) -> float:
    """Refresh the customer reports' aggregates (the scheduler enqueues it every ten minutes;
    a full rebuild runs by itself once a night and after the value classes change)."""
    result = reports_refresh(full=full)
    logger.info(
        "report aggregates refreshed (%s) in %.1f s: %s",
        "full" if result.full else "recent months",
        result.seconds,
        result.rows,
    )
    return result.seconds
