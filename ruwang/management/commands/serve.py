from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, NamedTuple

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ruwang.demo import read_logins
from ruwang.management.commands.demo import print_logins


class Child(NamedTuple):
    name: str
    argv: list[str]


def child_commands(options: dict[str, Any], bin_dir: str) -> list[Child]:
    """The processes `ruwang serve` runs: web first (it decides how long the others live), then
    the worker and its scheduler, then the device gateway."""
    children = [
        Child(
            "web",
            [
                os.path.join(bin_dir, "gunicorn"),
                "ruwang.wsgi:application",
                "--bind",
                options["bind"],
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
    ]
    ruwang = os.path.join(bin_dir, "ruwang")
    if not options["no_worker"]:
        children.append(Child("worker", [ruwang, "db_worker"]))
        children.append(Child("scheduler", [ruwang, "scheduler"]))
    if not options["no_gateway"]:
        children.append(
            Child(
                "gateway",
                [
                    ruwang,
                    "gateway",
                    "--host",
                    options["gateway_host"],
                    "--port",
                    str(options["gateway_port"]),
                ],
            )
        )
    return children


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Serve the whole application: gunicorn web processes (static files by WhiteNoise), "
        "the background worker and its per-minute scheduler, and the device gateway "
        "(GB/T 26875.3), until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("RUWANG_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("RUWANG_WEB_WORKERS", "2"))
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the background worker"
        )
        parser.add_argument(
            "--no-gateway", action="store_true", help="do not start the device gateway"
        )
        parser.add_argument(
            "--gateway-host",
            default=settings.GATEWAY_HOST,
            help="address the gateway listens on (default: RUWANG_GATEWAY_HOST)",
        )
        parser.add_argument(
            "--gateway-port",
            type=int,
            default=settings.GATEWAY_PORT,
            help="the gateway's TCP port (default: RUWANG_GATEWAY_PORT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"]
        self.stdout.write(f"Ruwang is running at http://{bind}/  (Ctrl+C stops it)")
        if not options["no_gateway"]:
            self.stdout.write(
                f"Device gateway (GB/T 26875.3-2011) listening on "
                f"{options['gateway_host']}:{options['gateway_port']}  (try: ruwang gb26875 "
                f"simulate --port {options['gateway_port']})"
            )
        if not settings.PRODUCTION:
            logins = read_logins()
            if logins:
                print_logins(self.stdout.write, logins)
        self.stdout.flush()
        children = child_commands(options, os.path.dirname(sys.executable))
        # SIGTERM (systemd, docker stop, kill) stops the children like Ctrl+C does, instead of
        # leaving them running without their parent.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        # Our own executables from the same virtualenv, no shell involved.
        processes = [subprocess.Popen(child.argv) for child in children]  # noqa: S603
        try:
            while all(p.poll() is None for p in processes):
                try:
                    processes[0].wait(timeout=1)
                except subprocess.TimeoutExpired:
                    continue
            ended = next(
                child.name
                for child, process in zip(children, processes, strict=True)
                if process.poll() is not None
            )
            self.stderr.write(f"the {ended} process ended: stopping the others")
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        failed = [
            child.name
            for child, p in zip(children, processes, strict=True)
            if p.returncode not in (0, -signal.SIGTERM, None)
        ]
        if failed:
            self.stderr.write(f"stopped: {', '.join(failed)} exited with an error")
