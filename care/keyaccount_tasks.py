"""Background work of key accounts (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging

from django_tasks import task

from care.keyaccounts import key_accounts_daily

logger = logging.getLogger(__name__)


@task()
def key_accounts_daily_task(only_if_due: bool = True) -> bool:
    """Flag the customers matching the key-account rules and open the satisfaction-review
    tasks that fall due. The scheduler enqueues it every few minutes; it runs once a day."""
    ran = key_accounts_daily(only_if_due=only_if_due)
    if ran:
        logger.info("key accounts: daily run done")
    return ran
