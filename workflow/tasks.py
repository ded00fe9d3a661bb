"""Background work of the process engine (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from workflow import services
from workflow.business_calendar import unofficial_years_ahead

logger = logging.getLogger(__name__)


@task()
def sla_tick() -> dict[str, int]:
    """Reminders, breaches and escalations due now; enqueued every minute by the scheduler."""
    years = unofficial_years_ahead()
    if years:
        # Deadlines reaching these years are computed Monday–Friday plus the company's own
        # entries: wrong around holidays until an administrator enters the announcement.
        logger.warning(
            "business calendar: no official holiday data for %s — enter the State Council "
            "announcement under 工作日历 (calendar days) and mark the year announced",
            ", ".join(map(str, years)),
        )
    counts = services.sla_tick()
    if any(counts.values()):
        logger.info("sla tick: %s", counts)
    return counts
