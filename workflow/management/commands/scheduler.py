"""Enqueue periodic background work: the SLA tick every minute (started by `ruwang serve`)."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Enqueue the SLA tick (reminders, breaches, escalations) every --interval seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=int, default=60)
        parser.add_argument("--once", action="store_true", help="enqueue one tick and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        from workflow.tasks import sla_tick

        running = True

        def stop(*_args: Any) -> None:
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while running:
            sla_tick.enqueue()
            if options["once"]:
                return
            deadline = time.monotonic() + options["interval"]
            while running and time.monotonic() < deadline:
                time.sleep(0.5)
