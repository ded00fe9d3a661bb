"""Background work of the service desk (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from service import sla

logger = logging.getLogger(__name__)


@task()
def ticket_sla_tick() -> dict[str, int]:
    """Ticket warnings, breaches and escalations due now; enqueued every minute by the
    scheduler next to the process engine's sla_tick."""
    counts = sla.ticket_sla_tick()
    if any(counts.values()):
        logger.info("ticket sla tick: %s", counts)
    return counts


@task()
def revisit_tickets_tick() -> int:
    """A revisit ticket for each planned revisit due today or earlier that has none yet
    (service.automation.revisit_tickets_open). Meant to run daily; running it more often opens
    nothing twice."""
    from service.automation import revisit_tickets_open

    opened = revisit_tickets_open()
    if opened:
        logger.info("revisit tickets opened: %d", len(opened))
    return len(opened)
