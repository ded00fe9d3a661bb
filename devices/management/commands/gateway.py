"""`ruwang gateway`: the GB/T 26875.3-2011 TCP gateway collectors connect to.

    ruwang gateway                                    settings.GATEWAY_HOST:GATEWAY_PORT (9026)
    ruwang gateway --host 0.0.0.0 --port 9026 --offline-check 10

Runs until Ctrl+C or SIGTERM, then stops gracefully: stops accepting, closes the connections,
stores (and confirms) what is already queued and releases its database connection. Logs to
stderr (the `ruwang.gateway` logger).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.gateway import Gateway, GatewayStats

log = logging.getLogger("ruwang.gateway")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0–65535 (0: any free port)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def stats_line(stats: GatewayStats) -> str:
    return (
        f"frames={stats.frames} heartbeats={stats.heartbeats} duplicates={stats.duplicates} "
        f"denied={stats.denied} refused={stats.refused} connections={stats.connections} "
        f"batches={stats.batches} storage_errors={stats.storage_errors}"
    )


class StopSignals:
    """SIGINT and SIGTERM set the stop event while the gateway runs; the previous handlers are
    put back afterwards. Signals can only be caught in the main thread: elsewhere (tests) the
    caller stops the gateway through the event."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event, what: str = "the gateway"
    ) -> None:
        self.loop, self.stop, self.what = loop, stop, what
        self.previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            try:
                self.loop.add_signal_handler(sig, self._received, sig)
            except (RuntimeError, ValueError, NotImplementedError):
                continue
            self.previous[sig] = previous
        return self

    def _received(self, sig: signal.Signals) -> None:
        log.info("%s received: stopping %s", sig.name, self.what)
        self.stop.set()

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self.previous.items():
            self.loop.remove_signal_handler(sig)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, previous)


async def _log_stats(gateway: Gateway, every: float) -> None:
    last = ""
    while True:
        await asyncio.sleep(every)
        line = stats_line(gateway.stats)
        if line != last:
            log.info("gateway: %s", line)
            last = line


async def serve_gateway(
    *,
    host: str,
    port: int,
    offline_check: float = 10.0,
    stats_every: float = 60.0,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Gateway], None] | None = None,
) -> GatewayStats:
    """Run a gateway until `stop` is set (or SIGINT/SIGTERM arrives), then stop it gracefully.
    A failure to listen (port taken) raises OSError once the gateway has released everything."""
    stop = stop or asyncio.Event()
    gateway = Gateway(host=host, port=port, offline_check_seconds=offline_check)
    with StopSignals(asyncio.get_running_loop(), stop):
        try:
            await gateway.start()
            if on_started is not None:
                on_started(gateway)
            tasks = [
                asyncio.create_task(gateway.serve_forever(), name="gateway-serve"),
                asyncio.create_task(stop.wait(), name="gateway-stop"),
            ]
            if stats_every > 0:
                tasks.append(asyncio.create_task(_log_stats(gateway, stats_every)))
            await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
            serving = tasks[0]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if serving.done() and not serving.cancelled():
                error = serving.exception()
                if error is not None:  # the server itself failed (not a stop)
                    raise error
        finally:
            await gateway.stop()
    log.info("gateway stopped: %s", stats_line(gateway.stats))
    return gateway.stats


class Command(BaseCommand):
    help = (
        "Run the GB/T 26875.3-2011 gateway: collectors connect over TCP, their frames are stored "
        "and confirmed. Runs until Ctrl+C or SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=settings.GATEWAY_HOST,
            help="address to listen on; 0.0.0.0 for every interface "
            f"(default: RUWANG_GATEWAY_HOST, now {settings.GATEWAY_HOST})",
        )
        parser.add_argument(
            "--port",
            type=_port,
            default=settings.GATEWAY_PORT,
            help=f"TCP port (default: RUWANG_GATEWAY_PORT, now {settings.GATEWAY_PORT})",
        )
        parser.add_argument(
            "--offline-check",
            type=_seconds,
            default=10.0,
            metavar="S",
            help="seconds between checks for collectors silent for three heartbeats "
            "(default 10; 0 turns the check off, e.g. on all but one of several gateways)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        try:
            asyncio.run(serve_gateway(host=host, port=port, offline_check=options["offline_check"]))
        except OSError as exc:
            raise CommandError(f"the gateway cannot listen on {host}:{port}: {exc}") from None
