from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ruwang.demo import read_logins
from ruwang.management.commands.demo import print_logins


class Command(BaseCommand):
    help = (
        "Serve the whole application: gunicorn web processes (static files by WhiteNoise) and "
        "the background worker and its per-minute scheduler, until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("RUWANG_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("RUWANG_WEB_WORKERS", "2"))
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the background worker"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"]
        self.stdout.write(f"Ruwang is running at http://{bind}/  (Ctrl+C stops it)")
        if not settings.PRODUCTION:
            logins = read_logins()
            if logins:
                print_logins(self.stdout.write, logins)
        self.stdout.flush()
        bin_dir = os.path.dirname(sys.executable)
        commands = [
            [
                os.path.join(bin_dir, "gunicorn"),
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
            ]
        ]
        if not options["no_worker"]:
            commands.append([os.path.join(bin_dir, "ruwang"), "db_worker"])
            commands.append([os.path.join(bin_dir, "ruwang"), "scheduler"])
        # Our own executables from the same virtualenv, no shell involved.
        processes = [subprocess.Popen(command) for command in commands]  # noqa: S603
        try:
            while all(p.poll() is None for p in processes):
                try:
                    processes[0].wait(timeout=1)
                except subprocess.TimeoutExpired:
                    continue
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        failed = [
            name
            for name, p in zip(("web", "worker", "scheduler"), processes, strict=False)
            if p.returncode not in (0, -signal.SIGTERM, None)
        ]
        if failed:
            self.stderr.write(f"stopped: {', '.join(failed)} exited with an error")
