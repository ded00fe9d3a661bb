"""Background work of customer care (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from care.rules import care_rules_run

logger = logging.getLogger(__name__)


@task()
def care_rules_task(only_if_due: bool = False) -> int | None:
    """Run the care rules. The scheduler enqueues it with `only_if_due=True` every few minutes:
    it runs once a day, on the first tick after 06:00."""
    result = care_rules_run(only_if_due=only_if_due)
    if result is None:
        return None
    logger.info("care rules: %s tasks created, %.1f s", result.created, result.seconds)
    return result.total
