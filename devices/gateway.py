"""The TCP gateway collectors connect to (GB/T 26875.3-2011 over TCP).

Each connection is an asyncio protocol: the bytes it receives are split into frames (sticky and
split packets, garbage skipped), the collector is identified by the frame's source address and
the frame is queued. One writer task stores queued frames in batches through
`services.frames_ingest`, in a thread of its own (Django's ORM is synchronous; one thread, one
database connection). A frame is confirmed only after the transaction that stored it has
committed: a collector that gets no confirmation retransmits the same frame (same serial and time
label), which is then stored once.

Thousands of frames a second go through one event loop that shares the GIL with the database
thread, so the per-frame path avoids tasks, futures and timers: a frame is a tuple in a list, its
confirmation is written when its batch comes back from the database thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone

from devices import gb26875 as gb
from devices.gb26875.frame import ack_for_raw
from devices.models import Collector, CollectorStatus
from devices.network_services import online_sample_take
from devices.services import (
    Incoming,
    Outcome,
    TouchLedger,
    collectors_mark_offline,
    frames_ingest,
)

log = logging.getLogger("ruwang.gateway")

# A collector answers our commands with these; they carry nothing to store.
_ANSWERS = (gb.Command.CONFIRM, gb.Command.DENY)
_STORED = (gb.Command.SEND_DATA, gb.Command.REPLY)
_DENIED_KINDS = ("checksum", "command", "adu")
_UNKNOWN_RETRY_SECONDS = 30.0  # how long an unknown address is not looked up again
# Unconfirmed frames one connection may have queued before the gateway stops reading it: a
# device waits for each confirmation, so only a misbehaving one gets there; its frames then wait
# in its socket instead of the gateway's memory.
MAX_UNCONFIRMED = 64


@dataclass
class GatewayStats:
    frames: int = 0
    heartbeats: int = 0
    duplicates: int = 0
    denied: int = 0
    refused: int = 0
    batches: int = 0
    connections: int = 0
    storage_errors: int = 0
    ack_latencies: list[float] = field(default_factory=list)  # seconds, receive → confirm sent


# A queued frame: what to store, the connection to confirm it on, when it arrived (monotonic).
_Queued = tuple[Incoming, "_Connection", float]


class Gateway:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        batch_size: int = 500,
        batch_wait: float = 0.005,
        offline_check_seconds: float = 10.0,
        keep_latencies: bool = False,
        backlog: int = 1024,
        ingest: Callable[[list[Incoming]], list[Outcome]] = frames_ingest,
    ) -> None:
        self.host, self.port = host, port
        self.batch_size, self.batch_wait = batch_size, batch_wait
        self.offline_check_seconds = offline_check_seconds
        self.keep_latencies = keep_latencies
        self.backlog = backlog  # pending connections: thousands of collectors reconnect at once
        self.stats = GatewayStats()
        if ingest is frames_ingest:
            # The gateway's own ledger of last_seen_at writes (see TouchLedger).
            ledger = TouchLedger()
            self._ingest: Callable[[list[Incoming]], list[Outcome]] = partial(
                frames_ingest, ledger=ledger
            )
        else:
            self._ingest = ingest
        self._queue: list[_Queued] = []
        self._wakeup: asyncio.Future[None] | None = None  # the waiting writer waits on it
        self._wake_at = 1  # ... until this many frames are queued
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self._addresses: dict[int, int] = {}
        self._unknown: dict[int, float] = {}
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connections: set[_Connection] = set()
        self._lookups: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._in_db(self._load_addresses)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=self.backlog
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks = [asyncio.create_task(self._write_batches(), name="gateway-writer")]
        if self.offline_check_seconds > 0:
            self._tasks.append(asyncio.create_task(self._watch_offline(), name="gateway-offline"))
        log.info("gateway listening on %s:%s", self.host, self.port)

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, drop the connections, release the database. Queued frames are
        abandoned unconfirmed: their collectors send them again to the next gateway."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        tasks = [*self._tasks, *self._lookups]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # the aborted transports report connection_lost
        self._queue.clear()
        await self._in_db(_close_connection)
        self._executor.shutdown(wait=True)

    # --- database work, in the gateway's one database thread -------------------------------

    async def _in_db(self, func: Callable[..., Any], *args: Any) -> Any:
        def call() -> Any:
            # The thread keeps its connection: CONN_MAX_AGE (0, one connection per request, on
            # SQLite) is for requests, and a new connection per batch costs more than the batch
            # (SQLite opens its file and runs its PRAGMAs). A broken one is still replaced.
            if connection.connection is not None:
                connection.close_at = None
            close_old_connections()
            return func(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _load_addresses(self) -> None:
        self._addresses = dict(
            Collector.objects.exclude(status=CollectorStatus.RETIRED).values_list("address", "pk")
        )

    def _lookup(self, address: int) -> int | None:
        return (
            Collector.objects.exclude(status=CollectorStatus.RETIRED)
            .filter(address=address)
            .values_list("pk", flat=True)
            .first()
        )

    def _refused_recently(self, address: int) -> bool:
        refused_at = self._unknown.get(address)
        return refused_at is not None and time.monotonic() - refused_at < _UNKNOWN_RETRY_SECONDS

    async def _look_up(self, address: int) -> int | None:
        found: int | None = await self._in_db(self._lookup, address)
        if found is None:
            self._unknown[address] = time.monotonic()
        else:
            self._addresses[address] = found
        return found

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._lookups.add(task)  # a task nothing refers to may be collected mid-way
        task.add_done_callback(self._lookups.discard)

    def _enqueue(self, item: _Queued) -> None:
        queue = self._queue
        queue.append(item)
        if len(queue) >= self._wake_at and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _wait_for_frames(self, count: int, timeout: float | None) -> None:
        """Until `count` frames are queued, or `timeout` seconds have passed."""
        loop = asyncio.get_running_loop()
        self._wakeup = wakeup = loop.create_future()
        self._wake_at = count
        timer = None
        if timeout is not None:
            timer = loop.call_later(
                timeout, lambda: None if wakeup.done() else wakeup.set_result(None)
            )
        try:
            await wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()

    async def _write_batches(self) -> None:
        while True:
            if not self._queue:
                await self._wait_for_frames(1, None)
            # Every batch waits up to batch_wait to fill: a commit's cost grows with the pages
            # it touches more than with its rows, so under load fewer, larger batches cost the
            # database (and the GIL the event loop shares with it) less per frame.
            if len(self._queue) < self.batch_size and self.batch_wait > 0:
                await self._wait_for_frames(self.batch_size, self.batch_wait)
            batch = self._queue[: self.batch_size]
            del self._queue[: self.batch_size]
            await self._store(batch)

    async def _store(self, batch: list[_Queued]) -> None:
        try:
            outcomes: list[Outcome] = await self._in_db(
                self._ingest, [item for item, _conn, _at in batch]
            )
        except Exception:
            self.stats.storage_errors += 1
            log.exception("storing %d frames failed; they are not confirmed", len(batch))
            for _item, conn, _at in batch:  # the devices will send them again
                conn.settled(1)
            return
        self.stats.batches += 1
        stats = self.stats
        latencies = stats.ack_latencies if self.keep_latencies else None
        now = time.monotonic()
        for (item, conn, received), outcome in zip(batch, outcomes, strict=True):
            conn.confirm(item.raw)
            stats.frames += 1
            if outcome == Outcome.HEARTBEAT:
                stats.heartbeats += 1
            elif outcome == Outcome.DUPLICATE:
                stats.duplicates += 1
            if latencies is not None:
                latencies.append(now - received)

    async def _watch_offline(self) -> None:
        while True:
            await asyncio.sleep(self.offline_check_seconds)
            try:
                gone = await self._in_db(collectors_mark_offline)
            except Exception:
                log.exception("offline check failed")
                continue
            if gone:
                log.warning("%d collector(s) went offline: %s", len(gone), gone[:20])
            try:
                await self._in_db(online_sample_take)  # the online-rate chart, once a minute
            except Exception:
                log.exception("online-rate sample failed")


class _Connection(asyncio.Protocol):
    """One collector's TCP connection."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.splitter = gb.FrameReader()
        self.unconfirmed = 0  # frames queued for storage and not yet answered
        # Frames waiting behind an address look-up in the database, kept in order.
        self.backlog: deque[gb.Frame | gb.FrameError] | None = None
        self.closing = False  # an unknown collector: closed once its stored frames are answered
        self.write_paused = False
        self.read_paused = False

    # --- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.gateway._connections.add(self)
        self.gateway.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway._connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        items = self.splitter.feed(data)
        if self.backlog is not None:
            self.backlog.extend(items)
        else:
            self._handle(deque(items))

    def pause_writing(self) -> None:
        # The collector does not read its confirmations: read nothing more from it either.
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()

    # --- frames --------------------------------------------------------------------------------

    def _handle(self, items: deque[gb.Frame | gb.FrameError]) -> None:
        """Queue the frames in order; stops at an address to look up in the database and
        resumes when the answer comes (frames behind it wait in `backlog`)."""
        gateway = self.gateway
        received_at = None
        while items:
            if self.closing or self.transport is None:
                return
            item = items.popleft()
            if isinstance(item, gb.FrameError):
                gateway.stats.denied += 1
                log.info("bad frame from %s: %s", self.peer, item)
                # GB/T 26875.3-2011 §6.5: deny a frame that arrived whole but failed its
                # checks; a false start marker's "header" is noise, not a frame to answer.
                if item.header is not None and item.kind in _DENIED_KINDS:
                    self.transport.write(gb.nak_for(item.header))
                continue
            frame = item
            if frame.command in _ANSWERS:
                continue
            collector_id = gateway._addresses.get(frame.source)
            if collector_id is None:
                if not gateway._refused_recently(frame.source):
                    items.appendleft(frame)
                    self.backlog = items
                    gateway._background(self._resume_after_lookup(frame.source))
                    return
                self._refuse(frame)
                return
            if frame.command not in _STORED:
                self.transport.write(gb.nak_for(frame))  # a collector does not command the centre
                continue
            if received_at is None:
                received_at = timezone.now()
            # Stored as before: the bytes received, re-encoded only when the time label is no
            # date (the stored label is then zeros).
            raw = frame.raw if frame.sent_at is not None and frame.raw else frame.to_bytes()
            incoming = Incoming(collector_id, frame, raw, received_at)
            gateway._enqueue((incoming, self, time.monotonic()))
            self.unconfirmed += 1
        self._flow()

    async def _resume_after_lookup(self, address: int) -> None:
        try:
            await self.gateway._look_up(address)
        except Exception:
            log.exception("looking up address %s failed", address)
            self.abort()
            return
        items, self.backlog = self.backlog, None
        if items is not None:
            self._handle(items)

    def _refuse(self, frame: gb.Frame) -> None:
        assert self.transport is not None
        self.gateway.stats.refused += 1
        log.warning("frame from unknown address %s (%s): refused", frame.source, self.peer)
        self.transport.write(gb.nak_for(frame))
        self.closing = True
        self.backlog = None
        self.transport.pause_reading()
        if not self.unconfirmed:
            self.transport.close()  # after the deny has been sent

    def confirm(self, raw: bytes) -> None:
        if self.transport is not None:
            self.transport.write(ack_for_raw(raw))
        self.settled(1)

    def settled(self, count: int) -> None:
        """`count` queued frames were answered (or failed to store)."""
        self.unconfirmed -= count
        if self.closing:
            if not self.unconfirmed and self.transport is not None:
                self.transport.close()
            return
        if self.read_paused and self.unconfirmed < MAX_UNCONFIRMED:
            self._flow()

    def _flow(self) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        pause = self.write_paused or self.unconfirmed >= MAX_UNCONFIRMED
        if pause != self.read_paused:
            self.read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _close_connection() -> None:
    # Looked up in the database thread: `connection` is that thread's own.
    connection.close()


async def run_gateway(host: str, port: int, **options: Any) -> None:
    gateway = Gateway(host=host, port=port, **options)
    await gateway.start()
    try:
        await gateway.serve_forever()
    finally:
        await gateway.stop()
