"""Simulated collectors: play N 用户信息传输装置 against a gateway over TCP.

Each collector keeps one connection, sends a heartbeat every interval and, at the configured
rates, fire alarms, faults and resets of its points. A frame not confirmed within the timeout
is sent again, unchanged (same serial and time label), up to `tries` times; a dropped connection
is reopened and the unconfirmed frame resent. Used by `ruwang gb26875 simulate`, the gateway
and joint-test tests, and `bench/gateway.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from devices import gb26875 as gb
from devices.gb26875.adu import DESCRIPTION_SIZE

# Component status bits the simulator sets (GB/T 26875.3-2011 §8.2.1.2).
FIRE = 1 << 1
FAULT = 1 << 2
NORMAL = 1 << 0


@dataclass(frozen=True)
class SimPoint:
    system_type: int
    system_address: int
    component_type: int
    component_address: int
    description: str = ""


@dataclass
class SimCollector:
    address: int
    points: list[SimPoint]
    serial: int = 0

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) % 65536
        return self.serial


@dataclass
class SimStats:
    sent: int = 0  # distinct frames sent
    confirmed: int = 0
    denied: int = 0
    retransmissions: int = 0
    lost: int = 0  # frames given up after the last try
    reconnects: int = 0
    ack_latencies: list[float] = field(default_factory=list)
    # (frame sent at, monotonic) of each confirmed alarm, for end-to-end measurements
    alarms: list[tuple[int, int, float]] = field(default_factory=list)


def synthetic_collectors(
    count: int, *, first_address: int = 100_000_000, points: int = 20
) -> list[SimCollector]:
    """Collectors with a fire alarm system of `points` smoke detectors each."""
    return [
        SimCollector(
            address=first_address + n,
            points=[
                SimPoint(1, 1, 40, (1 << 16) | p, f"{n % 30 + 1}层 感烟探测器 {p:03d}")
                for p in range(1, points + 1)
            ],
        )
        for n in range(count)
    ]


class Simulator:
    def __init__(
        self,
        collectors: Iterable[SimCollector],
        *,
        host: str,
        port: int,
        centre_address: int = 0,
        heartbeat_seconds: float = 30.0,
        alarms_per_minute: float = 0.0,
        faults_per_minute: float = 0.0,
        resets_per_minute: float = 0.0,
        ack_timeout: float = 5.0,
        tries: int = 3,
        reconnect_delay: float = 1.0,
        time_zone: str = "Asia/Shanghai",
        seed: int | None = None,
        connect_concurrency: int = 200,
    ) -> None:
        self.collectors = {c.address: c for c in collectors}
        self.host, self.port = host, port
        self.centre_address = centre_address
        self.heartbeat_seconds = heartbeat_seconds
        self.rates = (alarms_per_minute, faults_per_minute, resets_per_minute)
        self.ack_timeout, self.tries = ack_timeout, tries
        self.reconnect_delay = reconnect_delay
        self.zone = ZoneInfo(time_zone)
        self.random = random.Random(seed)  # noqa: S311 - simulated traffic, not secrets
        self.stats = SimStats()
        self._links: dict[int, _Link] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.connect_concurrency = connect_concurrency
        self.stopping = False
        self.connect_slots: asyncio.Semaphore | None = None

    def now(self) -> datetime:
        # A device's time label is its local wall-clock time (GB/T 26875.3-2011 §8.2.2).
        return datetime.now(self.zone).replace(tzinfo=None, microsecond=0)

    async def start(self) -> None:
        # Thousands of devices dialling at once overflow a listen queue: a few hundred at a time.
        self.connect_slots = asyncio.Semaphore(self.connect_concurrency)
        for collector in self.collectors.values():
            link = _Link(self, collector)
            self._links[collector.address] = link
            self._tasks.append(asyncio.create_task(link.run()))
        await asyncio.gather(*(link.connected.wait() for link in self._links.values()))

    async def stop(self) -> None:
        """Start nothing new, let frames in flight get their confirmation (up to the timeout),
        then close: a stop never cuts a frame the counters say was sent."""
        self.stopping = True
        waiting = [link.lock.acquire() for link in self._links.values()]
        if waiting:
            await asyncio.wait(
                [asyncio.ensure_future(w) for w in waiting], timeout=self.ack_timeout * self.tries
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in self._links.values():
            link.close()

    async def run(self, seconds: float) -> SimStats:
        await self.start()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.stop()
        return self.stats

    # --- what a collector can be made to send ------------------------------------------------

    def component_frame(
        self, address: int, point: SimPoint, status: int, *, description: str | None = None
    ) -> bytes:
        collector = self.collectors[address]
        text = point.description if description is None else description
        adu = gb.Adu(
            gb.InfoType.COMPONENT_STATUS,
            (
                gb.ComponentStatus(
                    system_type=point.system_type,
                    system_address=point.system_address,
                    component_type=point.component_type,
                    component_address=point.component_address,
                    status=status,
                    description=_fit(text),
                    occurred_at=self.now(),
                ),
            ),
        )
        return gb.encode_frame(
            command=gb.Command.SEND_DATA,
            adu=adu,
            serial=collector.next_serial(),
            source=address,
            destination=self.centre_address,
            sent_at=self.now(),
        )

    async def send(self, address: int, frame: bytes) -> bool:
        """Send a frame from a collector and wait for its confirmation (with retries)."""
        return await self._links[address].send(frame)

    async def trigger(
        self, address: int, point: SimPoint, status: int = FIRE | NORMAL, **kwargs: str
    ) -> bool:
        sent = time.monotonic()
        ok = await self.send(address, self.component_frame(address, point, status, **kwargs))
        if ok and status & FIRE:
            self.stats.alarms.append((address, point.component_address, sent))
        return ok

    def heartbeat_frame(self, address: int) -> bytes:
        return gb.heartbeat(
            source=address,
            destination=self.centre_address,
            serial=self.collectors[address].next_serial(),
            sent_at=self.now(),
        )


def _fit(text: str) -> str:
    # A component description is 31 bytes of GB 18030 (GB/T 26875.3-2011 §8.2.1.2).
    while len(text.encode("gb18030")) > DESCRIPTION_SIZE:
        text = text[:-1]
    return text


class _Link:
    """One simulated collector's connection and its traffic."""

    def __init__(self, sim: Simulator, collector: SimCollector) -> None:
        self.sim, self.collector = sim, collector
        self.connected = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: dict[int, asyncio.Future[bool]] = {}
        self.lock = asyncio.Lock()  # one frame in flight, as the standard's devices do
        self.reader_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        assert self.sim.connect_slots is not None
        while True:
            try:
                async with self.sim.connect_slots:
                    reader, writer = await asyncio.open_connection(self.sim.host, self.sim.port)
            except OSError:
                await asyncio.sleep(self.sim.reconnect_delay)
                continue
            self.writer = writer
            self.reader_task = asyncio.create_task(self.read(reader))
            self.connected.set()
            return

    def close(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
        if self.writer is not None:
            self.writer.close()

    async def read(self, reader: asyncio.StreamReader) -> None:
        splitter = gb.FrameReader()
        try:
            while data := await reader.read(4096):
                for item in splitter.feed(data):
                    if isinstance(item, gb.Frame) and item.command in (
                        gb.Command.CONFIRM,
                        gb.Command.DENY,
                    ):
                        future = self.waiting.pop(item.serial, None)
                        if future is not None and not future.done():
                            future.set_result(item.command == gb.Command.CONFIRM)
        except (ConnectionError, OSError):
            pass
        self.connected.clear()

    async def run(self) -> None:
        sim = self.sim
        await self.connect()
        alarm_rate, fault_rate, reset_rate = (r / 60.0 for r in sim.rates)
        total = alarm_rate + fault_rate + reset_rate
        next_beat = time.monotonic() + sim.random.uniform(0, sim.heartbeat_seconds)
        while True:
            now = time.monotonic()
            wait = next_beat - now
            if total > 0:
                wait = min(wait, sim.random.expovariate(total))
            await asyncio.sleep(max(wait, 0))
            if sim.stopping:
                return
            if time.monotonic() >= next_beat:
                next_beat += sim.heartbeat_seconds
                await self.send(sim.heartbeat_frame(self.collector.address))
                continue
            if total <= 0 or not self.collector.points:
                continue
            point = sim.random.choice(self.collector.points)
            roll = sim.random.uniform(0, total)
            status = (
                FIRE | NORMAL
                if roll < alarm_rate
                else FAULT | NORMAL
                if roll < alarm_rate + fault_rate
                else NORMAL
            )
            await sim.trigger(self.collector.address, point, status)

    async def send(self, frame: bytes) -> bool:
        sim = self.sim
        serial = int.from_bytes(frame[2:4], "little")
        async with self.lock:
            sim.stats.sent += 1
            started = time.monotonic()
            for attempt in range(sim.tries):
                if attempt:
                    sim.stats.retransmissions += 1
                if not self.connected.is_set():
                    sim.stats.reconnects += 1
                    await self.connect()
                assert self.writer is not None
                future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self.waiting[serial] = future
                try:
                    self.writer.write(frame)
                    await self.writer.drain()
                    confirmed = await asyncio.wait_for(future, sim.ack_timeout)
                except (TimeoutError, ConnectionError, OSError):
                    self.waiting.pop(serial, None)
                    if self.writer is not None and self.writer.is_closing():
                        self.connected.clear()
                    continue
                if confirmed:
                    sim.stats.confirmed += 1
                    sim.stats.ack_latencies.append(time.monotonic() - started)
                    return True
                sim.stats.denied += 1
                return False
            sim.stats.lost += 1
            return False


async def drop_connection(sim: Simulator, address: int) -> None:
    """Close one collector's connection abruptly (tests of reconnecting)."""
    link = sim._links[address]
    if link.writer is not None:
        link.writer.transport.abort()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0)
