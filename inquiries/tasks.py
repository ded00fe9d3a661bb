"""Background work of the inquiry desk (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from inquiries import sla

logger = logging.getLogger(__name__)


@task()
def inquiry_sla_tick() -> dict[str, int]:
    """Reply-deadline warnings and escalations due now; enqueued every minute."""
    counts = sla.inquiry_sla_tick()
    if any(counts.values()):
        logger.info("inquiry sla tick: %s", counts)
    return counts
