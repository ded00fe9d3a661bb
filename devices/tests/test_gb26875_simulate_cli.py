"""`ruwang gb26875 simulate`: collectors played against a running gateway, with a summary."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from devices import services
from devices.gateway import Gateway
from devices.management.commands.gb26875 import (
    LatencySample,
    choose_collectors,
    collectors_from_database,
    percentile,
    simulate,
)
from devices.models import DeviceEvent, EventKind, ReceivedFrame
from devices.simulator import SimStats, synthetic_collectors
from devices.tests.factories import make_building, make_collector, make_points

FIRST = 200_000_000


def register(addresses: list[int]) -> None:
    for address in addresses:
        services.collector_save(
            actor=None, data={"address": address, "serial_number": f"SIM{address}"}
        )


@pytest.fixture
def gateway_thread() -> Iterator[Gateway]:
    """A gateway on a free port, in a thread with its own event loop (as `ruwang gateway`)."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            gateway = Gateway(port=0, offline_check_seconds=0)
            await gateway.start()
            holder["gateway"], holder["stop"] = gateway, asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            try:
                await holder["stop"].wait()
            finally:
                await gateway.stop()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the gateway did not start"
    yield holder["gateway"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_three_synthetic_collectors_for_two_seconds_are_all_confirmed_none_lost() -> None:
    collectors = synthetic_collectors(3, first_address=FIRST, points=5)
    register([c.address for c in collectors])
    lines: list[str] = []

    async def main() -> SimStats:
        gateway = Gateway(port=0, offline_check_seconds=0)
        await gateway.start()
        try:
            return await simulate(
                collectors,
                host="127.0.0.1",
                port=gateway.port,
                heartbeat=0.5,
                alarms_per_minute=60,
                faults_per_minute=30,
                resets_per_minute=30,
                seconds=2,
                report_every=0.5,
                seed=7,
                write=lines.append,
            )
        finally:
            await gateway.stop()

    stats = asyncio.run(main())
    assert stats.sent > 3 and stats.confirmed == stats.sent
    assert (stats.lost, stats.denied) == (0, 0)
    assert ReceivedFrame.objects.count() > 0
    assert DeviceEvent.objects.filter(kind=EventKind.FIRE).exists()
    periodic = [line for line in lines if line.startswith("[")]
    assert len(periodic) >= 2
    final = lines[-1]
    assert final.startswith("done after")
    assert f"sent={stats.sent} confirmed={stats.confirmed}" in final
    assert "lost=0" in final and "retransmissions=0" in final and "reconnects=0" in final
    assert re.search(r"ack p50=\d+\.\dms p99=\d+\.\dms", final)


@pytest.mark.django_db(transaction=True)
def test_the_command_plays_against_a_gateway_running_elsewhere(gateway_thread: Gateway) -> None:
    register([FIRST, FIRST + 1])
    out = StringIO()
    call_command(
        "gb26875",
        "simulate",
        "--synthetic",
        "--collectors",
        "2",
        "--first-address",
        str(FIRST),
        "--port",
        str(gateway_thread.port),
        "--heartbeat",
        "0.3",
        "--seconds",
        "1",
        stdout=out,
    )
    text = out.getvalue()
    assert "playing 2 synthetic collectors" in text
    assert "2 collectors connected" in text
    final = text.strip().splitlines()[-1]
    assert final.startswith("done after") and "lost=0" in final
    confirmed = re.search(r"confirmed=(\d+)", final)
    assert confirmed is not None and int(confirmed[1]) >= 2


@pytest.mark.django_db(transaction=True)
def test_unregistered_addresses_are_denied_with_a_hint(gateway_thread: Gateway) -> None:
    out = StringIO()
    call_command(
        "gb26875",
        "simulate",
        "--synthetic",
        "--collectors",
        "1",
        "--first-address",
        str(FIRST + 50),
        "--port",
        str(gateway_thread.port),
        "--heartbeat",
        "0.2",
        "--seconds",
        "0.8",
        stdout=out,
    )
    text = out.getvalue()
    assert "confirmed=0" in text.splitlines()[-2]
    assert "registered collectors" in text.splitlines()[-1]


@pytest.mark.django_db(transaction=True)
def test_no_gateway_listening_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="is the gateway running"):
        call_command(
            "gb26875",
            "simulate",
            "--synthetic",
            "--collectors",
            "1",
            "--port",
            "1",
            "--connect-timeout",
            "0.5",
            stdout=StringIO(),
        )


@pytest.mark.django_db
def test_installed_collectors_are_played_with_their_point_tables() -> None:
    _customer, site, floors = make_building()
    first = make_collector(360_102_000_001, site=site)
    make_points(first, floors, per_floor=2)
    second = make_collector(360_102_000_002, site=site)
    make_collector(360_102_000_003)  # in stock: not played
    played = collectors_from_database(5)
    assert [c.address for c in played] == [first.address, second.address]
    assert len(played[0].points) == 6 and played[1].points == []
    point = played[0].points[0]
    assert (point.system_type, point.component_type) == (1, 40)
    assert point.description.endswith("号感烟")
    assert [c.address for c in collectors_from_database(1)] == [first.address]


def options(**given: Any) -> dict[str, Any]:
    return {
        "collectors": 2,
        "from_database": False,
        "synthetic": False,
        "first_address": FIRST,
        **given,
    }


@pytest.mark.django_db
def test_the_database_is_played_by_default_when_it_has_installed_points() -> None:
    lines: list[str] = []
    assert [c.address for c in choose_collectors(options(), lines.append)] == [FIRST, FIRST + 1]
    assert "synthetic" in lines[-1]
    _customer, site, floors = make_building()
    collector = make_collector(site=site)
    make_points(collector, floors)
    assert [c.address for c in choose_collectors(options(), lines.append)] == [collector.address]
    assert "only 1 installed collectors" in lines[-2]
    synthetic = choose_collectors(options(synthetic=True), lines.append)
    assert [c.address for c in synthetic] == [FIRST, FIRST + 1]


@pytest.mark.django_db
def test_from_database_with_nothing_installed_is_refused() -> None:
    with pytest.raises(CommandError, match="no installed collectors"):
        choose_collectors(options(from_database=True), print)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--collectors", "0"], "at least 1"),
        (["--heartbeat", "0"], "more than 0"),
        (["--alarms-per-minute", "-1"], "negative"),
        (["--port", "70000"], "1–65535"),
        (["--synthetic", "--from-database"], "not allowed with"),
    ],
)
def test_bad_options_are_refused_naming_the_problem(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("gb26875", "simulate", *args, stdout=StringIO())


def test_percentiles_are_nearest_rank_and_the_latency_sample_stays_bounded() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, None)
    sample = LatencySample(size=10, seed=1)
    stats = SimStats(ack_latencies=list(values))
    assert sample.take(stats) == values and stats.ack_latencies == []
    assert len(sample.kept) == 10 and sample.seen == 100
