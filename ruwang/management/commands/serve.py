from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ruwang.demo import read_logins
from ruwang.management.commands.demo import print_logins


class Command(BaseCommand):
    help = "Serve the application with gunicorn (production-grade; static files by WhiteNoise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("RUWANG_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("RUWANG_WEB_WORKERS", "2"))
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"]
        self.stdout.write(f"Ruwang is running at http://{bind}/  (Ctrl+C stops it)")
        if not settings.PRODUCTION:
            logins = read_logins()
            if logins:
                print_logins(self.stdout.write, logins)
        self.stdout.flush()
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        os.execv(  # noqa: S606 - replaces this process with gunicorn from the same venv
            gunicorn,
            [
                gunicorn,
                "ruwang.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(options["workers"]),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--timeout",
                "60",
            ],
        )
