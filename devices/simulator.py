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
from collections import deque
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
        # Frames waiting for an answer, by deadline: every frame waits the same ack_timeout,
        # so they expire in the order they were sent and one timer serves them all (a timer
        # per frame costs the load generator more than the frame).
        self._deadlines: deque[tuple[float, asyncio.Future[bool | None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def expect_answer(self, future: asyncio.Future[bool | None]) -> None:
        """Settle `future` with None unless answered within ack_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout
        self._deadlines.append((deadline, future))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time() + _CLOCK_RESOLUTION
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, future = deadlines.popleft()
            if not future.done():
                future.set_result(None)
        self._timer = loop.call_at(deadlines[0][0], self._expire) if deadlines else None

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


class _Link(asyncio.Protocol):
    """One simulated collector's connection and its traffic.

    As the standard's devices do: one frame in flight, confirmed or denied by its serial, sent
    again unchanged when no answer comes within the timeout, after reconnecting when the
    connection dropped."""

    def __init__(self, sim: Simulator, collector: SimCollector) -> None:
        self.sim, self.collector = sim, collector
        self.connected = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.splitter = gb.FrameReader()
        # The frame in flight: its serial and the future its answer settles (True confirmed,
        # False denied, None no answer in time or the connection dropped).
        self.waiting: asyncio.Future[bool | None] | None = None
        self.waiting_serial = -1
        self.lock = asyncio.Lock()  # one frame in flight, as the standard's devices do

    async def connect(self) -> None:
        assert self.sim.connect_slots is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with self.sim.connect_slots:
                    await loop.create_connection(lambda: self, self.sim.host, self.sim.port)
            except OSError:
                await asyncio.sleep(self.sim.reconnect_delay)
                continue
            return

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # --- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.splitter = gb.FrameReader()
        self.connected.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.connected.clear()
        self._answer(self.waiting_serial, None)  # no answer will come on this connection

    def data_received(self, data: bytes) -> None:
        # The usual read is one confirm: 30 bytes, checked where it matters to a device (the
        # markers, the command, the checksum) without decoding a frame.
        if (
            len(data) == _ANSWER_SIZE
            and not self.splitter.buffered
            and data[:2] == b"@@"
            and data[-2:] == b"##"
            and data[24] == data[25] == 0
            and data[26] in _ANSWER_COMMANDS
            and sum(data[2:27]) & 0xFF == data[27]
        ):
            self._answer(data[2] | data[3] << 8, data[26] == gb.Command.CONFIRM)
            return
        for item in self.splitter.feed(data):
            if isinstance(item, gb.Frame) and item.command in _ANSWER_COMMANDS:
                self._answer(item.serial, item.command == gb.Command.CONFIRM)

    def _answer(self, serial: int, confirmed: bool | None) -> None:
        waiting = self.waiting
        if waiting is not None and serial == self.waiting_serial and not waiting.done():
            waiting.set_result(confirmed)

    # --- traffic -------------------------------------------------------------------------------

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
        stats = sim.stats
        serial = frame[2] | frame[3] << 8
        loop = asyncio.get_running_loop()
        async with self.lock:
            stats.sent += 1
            started = time.monotonic()
            for attempt in range(sim.tries):
                if attempt:
                    stats.retransmissions += 1
                if self.transport is None or self.transport.is_closing():
                    stats.reconnects += 1
                    await self.connect()
                assert self.transport is not None
                self.waiting = future = loop.create_future()
                self.waiting_serial = serial
                self.transport.write(frame)
                sim.expect_answer(future)
                try:
                    answer = await future
                finally:
                    self.waiting, self.waiting_serial = None, -1
                if answer is None:
                    continue
                if answer:
                    stats.confirmed += 1
                    stats.ack_latencies.append(time.monotonic() - started)
                    return True
                stats.denied += 1
                return False
            stats.lost += 1
            return False


# asyncio runs a timer up to the monotonic clock's resolution early.
_CLOCK_RESOLUTION = time.get_clock_info("monotonic").resolution
_ANSWER_SIZE = 30  # a confirm or deny: header, empty ADU, trailer
_ANSWER_COMMANDS = (gb.Command.CONFIRM, gb.Command.DENY)


async def drop_connection(sim: Simulator, address: int) -> None:
    """Close one collector's connection abruptly (tests of reconnecting)."""
    link = sim._links[address]
    if link.transport is not None:
        link.transport.abort()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0)
