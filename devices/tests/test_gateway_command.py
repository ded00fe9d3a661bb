"""`ruwang gateway` runs the gateway until stopped, and `ruwang serve` (make run) starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from devices.gateway import Gateway
from devices.management.commands import gateway as gateway_command
from devices.management.commands.gateway import serve_gateway
from devices.models import ReceivedFrame
from devices.simulator import FIRE, NORMAL, Simulator
from devices.tests.factories import make_building, make_collector, make_points, sim_collector
from ruwang.management.commands import serve as serve_command

# The gateway reads and writes through a database thread of its own: real transactions.
uses_database = pytest.mark.django_db(transaction=True)


def parse(command: Any, *args: str) -> dict[str, Any]:
    parser = command.Command().create_parser("ruwang", command.__name__.rsplit(".", 1)[-1])
    return vars(parser.parse_args(list(args)))


# --- ruwang gateway ---------------------------------------------------------------------------


def test_the_gateway_listens_where_the_settings_say_unless_told_otherwise() -> None:
    options = parse(gateway_command)
    assert (options["host"], options["port"], options["offline_check"]) == (
        "127.0.0.1",
        9026,
        10.0,
    )
    with override_settings(GATEWAY_HOST="0.0.0.0", GATEWAY_PORT=9100):  # noqa: S104
        assert (parse(gateway_command)["host"], parse(gateway_command)["port"]) == (
            "0.0.0.0",  # noqa: S104
            9100,
        )
    options = parse(gateway_command, "--host", "10.0.0.5", "--port", "9500", "--offline-check", "0")
    assert (options["host"], options["port"], options["offline_check"]) == ("10.0.0.5", 9500, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "0–65535"),
        (["--port", "nine"], "not a port"),
        (["--offline-check", "-1"], "negative"),
    ],
)
def test_bad_options_are_refused_naming_the_problem(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("gateway", *args)


@uses_database
def test_a_port_already_taken_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}"):
            call_command("gateway", "--port", str(port), "--offline-check", "0")


@uses_database
def test_the_gateway_confirms_frames_until_it_is_stopped() -> None:
    _customer, site, floors = make_building()
    collector = make_collector(site=site)
    make_points(collector, floors)
    sim_view = sim_collector(collector)

    async def scenario() -> tuple[Any, bool, bool]:
        stop = asyncio.Event()
        started: list[Gateway] = []
        running = asyncio.create_task(
            serve_gateway(
                host="127.0.0.1", port=0, offline_check=0, stop=stop, on_started=started.append
            )
        )
        while not started:
            await asyncio.sleep(0.01)
        sim = Simulator([sim_view], host="127.0.0.1", port=started[0].port, heartbeat_seconds=60)
        await sim.start()
        confirmed = await sim.trigger(collector.address, sim_view.points[0], FIRE | NORMAL)
        await sim.stop()
        stop.set()
        stats = await asyncio.wait_for(running, 10)
        refused = False
        try:
            await asyncio.open_connection("127.0.0.1", started[0].port)
        except OSError:
            refused = True
        return stats, confirmed, refused

    stats, confirmed, refused = asyncio.run(scenario())
    assert confirmed and stats.frames == 1
    assert ReceivedFrame.objects.filter(collector=collector).count() == 1
    assert refused, "the port is closed once the gateway has stopped"


@uses_database
@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)
def test_sigterm_stops_the_gateway_gracefully_and_puts_the_old_handler_back() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminate(_gateway: Gateway) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    stats = asyncio.run(
        asyncio.wait_for(
            serve_gateway(host="127.0.0.1", port=0, offline_check=0, on_started=terminate), 10
        )
    )
    assert stats.frames == 0
    assert signal.getsignal(signal.SIGTERM) == before


# --- ruwang serve (make run) -------------------------------------------------------------------


def test_serve_starts_web_worker_scheduler_and_the_gateway_on_its_port() -> None:
    children = serve_command.child_commands(parse(serve_command), "/venv/bin")
    assert [c.name for c in children] == ["web", "worker", "scheduler", "gateway"]
    gateway = children[-1].argv
    assert gateway == ["/venv/bin/ruwang", "gateway", "--host", "127.0.0.1", "--port", "9026"]


def test_serve_passes_the_gateway_address_and_can_leave_it_out() -> None:
    options = parse(serve_command, "--gateway-host", "0.0.0.0", "--gateway-port", "9500")  # noqa: S104
    gateway = serve_command.child_commands(options, "/venv/bin")[-1]
    assert gateway.argv[-4:] == ["--host", "0.0.0.0", "--port", "9500"]  # noqa: S104
    options = parse(serve_command, "--no-gateway", "--no-worker")
    assert [c.name for c in serve_command.child_commands(options, "/venv/bin")] == ["web"]


class FakeProcess:
    """A child that runs until signalled; the web server (first) exits at once."""

    started: list[FakeProcess] = []

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.returncode: int | None = 0 if "gunicorn" in argv[0] else None
        self.signals: list[int] = []
        FakeProcess.started.append(self)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.returncode = -sig

    def kill(self) -> None:
        self.returncode = -9


def test_serve_prints_the_gateway_address_and_stops_the_gateway_with_the_web_server() -> None:
    FakeProcess.started = []
    out, err = StringIO(), StringIO()
    with mock.patch.object(serve_command.subprocess, "Popen", FakeProcess):
        call_command("serve", stdout=out, stderr=err)
    assert "http://127.0.0.1:8000/" in out.getvalue()
    assert "127.0.0.1:9026" in out.getvalue()
    assert "the web process ended" in err.getvalue()
    gateway = next(p for p in FakeProcess.started if "gateway" in p.argv)
    assert gateway.signals == [signal.SIGTERM]


class TerminatedWhileRunning(FakeProcess):
    """Every child runs; serve itself receives SIGTERM while it waits for the web server."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.returncode = None

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None and not self.signals:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.returncode


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)
def test_sigterm_to_serve_stops_every_child_including_the_gateway() -> None:
    before = signal.getsignal(signal.SIGTERM)
    FakeProcess.started = []
    with mock.patch.object(serve_command.subprocess, "Popen", TerminatedWhileRunning):
        call_command("serve", stdout=StringIO(), stderr=StringIO())
    assert [p.signals for p in FakeProcess.started] == [[signal.SIGTERM]] * 4
    assert signal.getsignal(signal.SIGTERM) == before
