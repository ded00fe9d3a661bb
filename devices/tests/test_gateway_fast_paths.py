"""The gateway path's shortcuts give what the general code gives: the one-frame read of the
stream splitter, the one-struct read of information objects, the confirm built from a frame's
bytes, the description cache, the simulator's confirm check, and the gateway's flow control."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import gb26875 as gb
from devices.gateway import MAX_UNCONFIRMED, Gateway
from devices.gb26875.adu import OBJECT_TYPES, _decode_text
from devices.gb26875.frame import ack_for_raw
from devices.models import ReceivedFrame
from devices.simulator import SimCollector, Simulator
from devices.tests.factories import make_building, make_collector
from devices.tests.test_gb26875_frame import frames


def outcome(item: gb.Frame | gb.FrameError) -> Any:
    """What a reader item says, comparable (FrameErrors are exceptions: no equality)."""
    if isinstance(item, gb.FrameError):
        return ("error", item.kind, item.message, item.header, item.raw)
    return ("frame", item, item.raw)


def byte_by_byte(data: bytes) -> list[Any]:
    # Never one whole frame per feed: the general loop of the reader.
    reader = gb.FrameReader()
    items: list[Any] = []
    for byte in data:
        items += reader.feed(bytes([byte]))
    return [outcome(item) for item in items]


def damaged(data: bytes, index: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[index % len(changed)] = value
    return bytes(changed)


@settings(max_examples=300)
@given(frames, st.integers(0, 2000), st.integers(0, 255), st.booleans())
def test_a_chunk_holding_one_frame_reads_as_the_general_loop_reads_it(fields, index, value, damage):
    data = gb.encode_frame(**fields)
    if damage:  # checksum, command, length, markers: every kind of bad frame
        data = damaged(data, index, value)
    fast = [outcome(item) for item in gb.FrameReader().feed(data)]
    assert fast == byte_by_byte(data)


def test_the_one_frame_read_keeps_the_garbage_report_before_the_frame():
    reader = gb.FrameReader()
    assert reader.feed(b"\x00\x01") == []  # garbage waits for a start marker to be reported
    frame_bytes = gb.heartbeat(source=1, destination=0, serial=3)
    items = reader.feed(frame_bytes)
    assert [type(item) for item in items] == [gb.FrameError, gb.Frame]
    assert items[0].kind == "start" and items[1].serial == 3


def test_a_decoded_frame_keeps_the_bytes_it_came_from():
    data = gb.heartbeat(source=5, destination=0, serial=9)
    frame = gb.decode_frame(data)
    assert frame.raw == data
    assert frame == dataclasses.replace(frame, raw=b"")  # not part of a frame's identity


@settings(max_examples=400)
@given(st.sampled_from(sorted(OBJECT_TYPES)), st.binary(max_size=80), st.integers(0, 4))
def test_the_one_struct_read_of_an_object_matches_the_field_by_field_read(type_flag, data, pos):
    cls = OBJECT_TYPES[type_flag]
    try:
        expected: Any = cls.read_by_field(data, pos)
    except gb.FrameError as error:
        expected = (error.kind, error.message)
    try:
        got: Any = cls.read(data, pos)
    except gb.FrameError as error:
        got = (error.kind, error.message)
    assert got == expected


@settings(max_examples=200)
@given(
    frames,
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31)),
)
def test_the_confirm_built_from_the_bytes_equals_the_one_built_from_the_frame(fields, now):
    data = gb.encode_frame(**fields)
    frame = gb.decode_frame(data)
    with time_machine.travel(now, tick=False):  # naive: the process's local time
        assert ack_for_raw(data) == gb.ack_for(frame)


def test_the_description_cache_returns_what_the_decoder_returns():
    text = "3层 感烟探测器 007".encode("gb18030").ljust(31, b"\x00")
    garbled = b"\xff\xfe abc\x00junk"
    for raw in (text, text, garbled, garbled):
        expected = raw.split(b"\x00", 1)[0].decode("gb18030", errors="replace").strip()
        assert _decode_text(raw) == expected


# --- the simulator against a scripted centre --------------------------------------------------


async def scripted_centre(answer: Any) -> tuple[asyncio.Server, int]:
    """A TCP server that calls answer(frame bytes) -> bytes to write back for each frame."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = gb.FrameReader()
        while data := await reader.read(4096):
            for item in splitter.feed(data):
                if isinstance(item, gb.Frame):
                    writer.write(answer(item))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def run_simulated_send(answer: Any, **options: Any) -> tuple[bool, Any]:
    async def main() -> tuple[bool, Any]:
        server, port = await scripted_centre(answer)
        sim = Simulator(
            [SimCollector(address=42, points=[])],
            host="127.0.0.1",
            port=port,
            heartbeat_seconds=3600,
            **options,
        )
        await sim.start()
        try:
            ok = await sim.send(42, sim.heartbeat_frame(42))
        finally:
            await sim.stop()
            server.close()
        return ok, sim.stats

    return asyncio.run(main())


def test_a_confirm_with_a_broken_checksum_is_no_confirmation():
    def broken_confirm(frame: gb.Frame) -> bytes:
        confirm = bytearray(gb.ack_for(frame))
        confirm[27] ^= 0xFF
        return bytes(confirm)

    ok, stats = run_simulated_send(broken_confirm, ack_timeout=0.2, tries=2)
    assert not ok
    assert (stats.confirmed, stats.retransmissions, stats.lost) == (0, 1, 1)


def test_a_confirm_of_another_serial_stuck_to_the_right_one_confirms_the_frame():
    def stale_then_right(frame: gb.Frame) -> bytes:
        stale = dataclasses.replace(frame, serial=(frame.serial + 100) % 65536)
        return gb.ack_for(stale) + gb.ack_for(frame)

    ok, stats = run_simulated_send(stale_then_right, ack_timeout=2)
    assert ok and stats.confirmed == 1 and stats.retransmissions == 0


def test_a_deny_is_reported_as_a_denied_frame_without_retrying():
    ok, stats = run_simulated_send(lambda frame: gb.nak_for(frame), ack_timeout=2)
    assert not ok and stats.denied == 1 and stats.retransmissions == 0


# --- the gateway's flow control ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_device_sending_without_waiting_gets_every_frame_stored_and_confirmed():
    _customer, site, _floors = make_building()
    collector = make_collector(site=site)
    count = MAX_UNCONFIRMED * 3  # past the point where the gateway stops reading it
    sent = [
        gb.heartbeat(source=collector.address, destination=0, serial=n)
        if n % 2
        else gb.encode_frame(
            command=gb.Command.SEND_DATA,
            adu=gb.Adu(
                gb.InfoType.COLLECTOR_STATUS,
                (gb.CollectorStatus(status=1, occurred_at=datetime(2026, 11, 26, 8, 0, 0)),),
            ),
            serial=n,
            source=collector.address,
            destination=0,
            sent_at=datetime(2026, 11, 26, 8, 0, n % 60),
        )
        for n in range(1, count + 1)
    ]

    async def main() -> list[int]:
        gateway = Gateway(port=0, offline_check_seconds=0, batch_size=50)
        await gateway.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            writer.write(b"".join(sent))  # one burst, no waiting for confirmations
            splitter = gb.FrameReader()
            confirmed: list[int] = []
            while len(confirmed) < count:
                data = await asyncio.wait_for(reader.read(4096), 10)
                assert data, "the gateway closed the connection"
                confirmed += [f.serial for f in splitter.feed(data) if isinstance(f, gb.Frame)]
            writer.close()
            return confirmed
        finally:
            await gateway.stop()

    confirmed = asyncio.run(main())
    assert confirmed == list(range(1, count + 1))  # every frame, in the order sent
    stored = ReceivedFrame.objects.order_by("serial")
    assert [f.serial for f in stored] == list(range(2, count + 1, 2))  # heartbeats not stored
    assert [bytes(f.raw) for f in stored] == sent[1::2]  # as received
