"""Enqueue periodic background work every minute (started by `ruwang serve`): the SLA ticks of
tasks, tickets and inquiries, the revisit tickets that fall due (opened once, on their date), the
inquiry mailboxes to poll and the scheduled notices whose time has come."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Enqueue the SLA ticks of tasks, tickets and inquiries (reminders, breaches, "
        "escalations), the revisit tickets due, the mailbox poll and the scheduled notices "
        "every --interval seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=int, default=60)
        parser.add_argument("--once", action="store_true", help="enqueue one tick and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        from care.keyaccount_tasks import key_accounts_daily_task
        from care.tasks import care_rules_task
        from inquiries.mail import mailboxes_poll
        from inquiries.notices import notices_send_due
        from inquiries.tasks import inquiry_sla_tick
        from insights.churn_tasks import churn_recompute_task
        from insights.tasks import association_precompute_task, value_recompute_task
        from reports.process_tasks import process_reports_refresh
        from reports.tasks import reports_refresh_task
        from service.dashboard import dashboard_refresh
        from service.tasks import revisit_tickets_tick, ticket_sla_tick
        from workflow.tasks import sla_tick

        running = True

        def stop(*_args: Any) -> None:
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        ticks = 0
        while running:
            sla_tick.enqueue()
            ticket_sla_tick.enqueue()
            revisit_tickets_tick.enqueue()  # opens each due revisit's ticket once
            inquiry_sla_tick.enqueue()  # the 24-hour reply deadline of online inquiries
            mailboxes_poll.enqueue()  # customer e-mail into the inquiry desk
            notices_send_due.enqueue()  # notices scheduled for now or earlier
            if ticks % 10 == 0:  # the service dashboard's figures, every ten ticks
                dashboard_refresh.enqueue()
                value_recompute_task.enqueue(only_if_due=True)  # nightly RFM/ABC, after 02:00
                # the association analysis's preset periods, nightly after 03:00
                association_precompute_task.enqueue(only_if_due=True)
                key_accounts_daily_task.enqueue(only_if_due=True)  # key-account rules and reviews
                care_rules_task.enqueue(only_if_due=True)  # daily care rules, after 06:00
                churn_recompute_task.enqueue(only_if_due=True)  # nightly churn risk, after 03:00
                # funnel and workload figures; a full rebuild on the first run after midnight
                process_reports_refresh.enqueue()
                reports_refresh_task.enqueue()  # customer reports' figures; nightly full rebuild
            ticks += 1
            if options["once"]:
                return
            deadline = time.monotonic() + options["interval"]
            while running and time.monotonic() < deadline:
                time.sleep(0.5)
