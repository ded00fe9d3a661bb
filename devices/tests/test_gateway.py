"""The gateway end to end: simulated collectors → TCP → gateway → database → confirmations."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.utils import timezone

from devices import gb26875 as gb
from devices.gateway import Gateway
from devices.models import (
    Collector,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    ReceivedFrame,
)
from devices.services import collectors_mark_offline
from devices.simulator import FAULT, FIRE, NORMAL, SimPoint, Simulator
from devices.tests.factories import make_building, make_collector, make_points, sim_collector

pytestmark = pytest.mark.django_db(transaction=True)

CENTRE = 0


def run(scenario: Callable[[Gateway], Awaitable[Any]], **options: Any) -> Any:
    async def main() -> Any:
        gateway = Gateway(port=0, offline_check_seconds=0, **options)
        await gateway.start()
        try:
            return await scenario(gateway)
        finally:
            await gateway.stop()

    return asyncio.run(main())


def local_now() -> dt.datetime:
    return timezone.localtime().replace(tzinfo=None, microsecond=0)


def alarm(address: int, serial: int, component: int, status: int = FIRE | NORMAL) -> bytes:
    obj = gb.ComponentStatus(
        system_type=1,
        system_address=1,
        component_type=40,
        component_address=component,
        status=status,
        description="一层走廊",
        occurred_at=local_now(),
    )
    return gb.encode_frame(
        command=gb.Command.SEND_DATA,
        adu=gb.Adu(gb.InfoType.COMPONENT_STATUS, (obj,)),
        serial=serial,
        source=address,
        destination=CENTRE,
        sent_at=local_now(),
    )


async def answers(reader: asyncio.StreamReader, count: int) -> list[gb.Frame]:
    splitter = gb.FrameReader()
    frames: list[gb.Frame] = []
    while len(frames) < count:
        data = await asyncio.wait_for(reader.read(4096), 5)
        if not data:
            break
        frames += [f for f in splitter.feed(data) if isinstance(f, gb.Frame)]
    return frames


@pytest.fixture
def building() -> dict[str, Any]:
    _customer, site, floors = make_building()
    collector = make_collector(site=site)
    _system, points = make_points(collector, floors)
    return {"collector": collector, "points": points, "floors": floors}


def test_alarms_are_stored_resolved_to_points_and_confirmed(building):
    collector = building["collector"]
    known = building["points"][2]
    sim_view = sim_collector(collector)
    stranger = SimPoint(1, 1, 40, (9 << 16) | 999, "未登记")

    async def scenario(gateway: Gateway) -> list[bool]:
        sim = Simulator([sim_view], host="127.0.0.1", port=gateway.port, heartbeat_seconds=3600)
        await sim.start()
        try:
            point = next(
                p for p in sim_view.points if p.component_address == known.component_address
            )
            return [
                await sim.trigger(collector.address, point, FIRE | NORMAL),
                await sim.trigger(collector.address, stranger, FAULT | NORMAL),
            ]
        finally:
            await sim.stop()

    assert run(scenario) == [True, True]
    fire = DeviceEvent.objects.get(kind=EventKind.FIRE)
    assert fire.point == known and not fire.unknown_point
    assert fire.data["status_bits"] == ["normal", "fire"]
    fault = DeviceEvent.objects.get(kind=EventKind.FAULT)
    assert fault.point is None and fault.unknown_point
    assert fault.component_address == (9 << 16) | 999
    collector.refresh_from_db()
    assert collector.status == CollectorStatus.ONLINE and collector.last_seen_at is not None


def test_split_sticky_and_garbage_bytes_are_all_handled_on_one_connection(building):
    address = building["collector"].address
    first = [alarm(address, serial, 0x10065) for serial in (1, 2, 3)]

    async def scenario(gateway: Gateway) -> list[gb.Frame]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"".join(first))  # sticky: three frames in one packet
        got = await answers(reader, 3)
        for byte in alarm(address, 4, 0x10066):  # split: one byte at a time
            writer.write(bytes([byte]))
            await writer.drain()
        got += await answers(reader, 1)
        writer.write(b"\x00garbage@@\xff" + alarm(address, 5, 0x10067))  # noise before a frame
        got += await answers(reader, 1)
        bad = bytearray(alarm(address, 6, 0x10068))
        bad[-3] ^= 0xFF  # checksum broken
        writer.write(bytes(bad))
        got += await answers(reader, 1)
        writer.close()
        return got

    got = run(scenario)
    assert [(f.command, f.serial) for f in got] == [
        (gb.Command.CONFIRM, 1),
        (gb.Command.CONFIRM, 2),
        (gb.Command.CONFIRM, 3),
        (gb.Command.CONFIRM, 4),
        (gb.Command.CONFIRM, 5),
        (gb.Command.DENY, 6),
    ]
    assert sorted(ReceivedFrame.objects.values_list("serial", flat=True)) == [1, 2, 3, 4, 5]
    assert all(f.destination == address and f.source == CENTRE for f in got)


def test_a_retransmitted_frame_is_confirmed_again_and_stored_once(building):
    frame = alarm(building["collector"].address, 7, 0x10065)

    async def scenario(gateway: Gateway) -> list[gb.Frame]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(frame)
        got = await answers(reader, 1)
        writer.write(frame)
        got += await answers(reader, 1)
        writer.close()
        return got

    got = run(scenario)
    assert [f.command for f in got] == [gb.Command.CONFIRM, gb.Command.CONFIRM]
    assert ReceivedFrame.objects.count() == 1
    assert DeviceEvent.objects.filter(kind=EventKind.FIRE).count() == 1


def test_an_unknown_address_is_denied_and_disconnected(building, caplog):
    async def scenario(gateway: Gateway) -> tuple[list[gb.Frame], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(alarm(999_999, 1, 0x10065))
        got = await answers(reader, 1)
        rest = await asyncio.wait_for(reader.read(100), 5)
        return got, rest

    got, rest = run(scenario)
    assert [f.command for f in got] == [gb.Command.DENY]
    assert rest == b""  # the gateway closed the connection
    assert "unknown address 999999" in caplog.text
    assert not ReceivedFrame.objects.exists()


def test_a_storage_failure_confirms_nothing(building):
    def failing(batch: list[Any]) -> list[Any]:
        raise RuntimeError("database unavailable")

    async def scenario(gateway: Gateway) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(alarm(building["collector"].address, 1, 0x10065))
        try:
            return await asyncio.wait_for(reader.read(100), 0.5)
        except TimeoutError:
            return b""

    assert run(scenario, ingest=failing) == b""


def test_a_gateway_restart_mid_stream_loses_no_confirmed_frame(building):
    collector = building["collector"]
    view = sim_collector(collector)
    confirmed: list[int] = []

    async def main() -> None:
        first = Gateway(port=0, offline_check_seconds=0)
        await first.start()
        port = first.port
        sim = Simulator(
            [view],
            host="127.0.0.1",
            port=port,
            heartbeat_seconds=3600,
            ack_timeout=0.5,
            tries=10,
            reconnect_delay=0.05,
        )
        await sim.start()

        async def stream() -> None:
            for n in range(40):
                point = view.points[n % len(view.points)]
                frame = sim.component_frame(collector.address, point, FIRE | NORMAL)
                if await sim.send(collector.address, frame):
                    confirmed.append(int.from_bytes(frame[2:4], "little"))

        sending = asyncio.create_task(stream())
        while len(confirmed) < 10:
            await asyncio.sleep(0.01)
        await first.stop()  # mid-stream: connections dropped, queue abandoned
        stored = await asyncio.to_thread(
            lambda: set(ReceivedFrame.objects.values_list("serial", flat=True))
        )
        assert set(confirmed) <= stored
        second = Gateway(port=port, offline_check_seconds=0)
        await second.start()
        await sending
        await sim.stop()
        await second.stop()

    asyncio.run(main())
    stored = list(ReceivedFrame.objects.values_list("serial", flat=True))
    assert len(confirmed) == 40
    assert sorted(stored) == sorted(confirmed)  # every frame once, none lost, none twice


def test_a_collector_goes_offline_after_three_missed_heartbeats_and_comes_back(building):
    collector = building["collector"]
    view = sim_collector(collector)

    async def heartbeat(gateway: Gateway) -> bool:
        sim = Simulator([view], host="127.0.0.1", port=gateway.port, heartbeat_seconds=3600)
        await sim.start()
        try:
            return await sim.send(collector.address, sim.heartbeat_frame(collector.address))
        finally:
            await sim.stop()

    assert run(heartbeat)
    collector.refresh_from_db()
    assert collector.status == CollectorStatus.ONLINE
    assert not ReceivedFrame.objects.exists()  # heartbeats are not stored as frames
    later = timezone.now() + dt.timedelta(seconds=2 * collector.heartbeat_seconds)
    assert collectors_mark_offline(later) == []  # two intervals: still online
    later = timezone.now() + dt.timedelta(seconds=3 * collector.heartbeat_seconds + 1)
    assert collectors_mark_offline(later) == [collector.pk]
    collector.refresh_from_db()
    assert collector.status == CollectorStatus.OFFLINE
    offline = DeviceEvent.objects.get(kind=EventKind.OFFLINE)
    fault = Fault.objects.get(collector=collector)
    assert fault.event == offline and fault.recovered_at is None

    assert run(heartbeat)
    collector.refresh_from_db()
    assert collector.status == CollectorStatus.ONLINE
    assert DeviceEvent.objects.filter(kind=EventKind.ONLINE, collector=collector).exists()
    fault.refresh_from_db()
    assert fault.recovered_at is not None and fault.status == "open"  # staff still close it
    assert Collector.objects.get(pk=collector.pk).last_seen_at is not None


def test_each_silent_collector_goes_offline_once_among_many_on_one_interval(building):
    from django.utils import timezone as tz

    others = [make_collector(360_102_000_100 + n) for n in range(3)]
    Collector.objects.filter(pk__in=[building["collector"].pk, *[c.pk for c in others]]).update(
        status=CollectorStatus.ONLINE, last_seen_at=tz.now()
    )
    later = tz.now() + dt.timedelta(seconds=91)
    assert len(collectors_mark_offline(later)) == 4
    assert DeviceEvent.objects.filter(kind=EventKind.OFFLINE).count() == 4
    assert Fault.objects.count() == 4
