"""The TCP gateway collectors connect to (GB/T 26875.3-2011 over TCP).

One asyncio task per connection splits the byte stream into frames (sticky and split packets,
garbage skipped), identifies the collector by the frame's source address and queues the frame.
One writer task stores queued frames in batches through `services.frames_ingest`, in a thread of
its own (Django's ORM is synchronous; one thread, one database connection). A frame is confirmed
only after the transaction that stored it has committed: a collector that gets no confirmation
retransmits the same frame (same serial and time label), which is then stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone

from devices import gb26875 as gb
from devices.models import Collector, CollectorStatus
from devices.network_services import online_sample_take
from devices.services import Incoming, Outcome, collectors_mark_offline, frames_ingest

log = logging.getLogger("ruwang.gateway")

# A collector answers our commands with these; they carry nothing to store.
_ANSWERS = (gb.Command.CONFIRM, gb.Command.DENY)
_STORED = (gb.Command.SEND_DATA, gb.Command.REPLY)
_DENIED_KINDS = ("checksum", "command", "adu")
_UNKNOWN_RETRY_SECONDS = 30.0  # how long an unknown address is not looked up again


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
        self._ingest = ingest
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future[Outcome]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self._addresses: dict[int, int] = {}
        self._unknown: dict[int, float] = {}
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._in_db(self._load_addresses)
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, backlog=self.backlog
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
        """Stop accepting, drop the connections, store what is queued, release the database."""
        if self._server is not None:
            self._server.close()
        # Aborting the transports ends each connection's read loop (cancelling the tasks
        # instead trips asyncio's stream callback into logging a spurious error).
        for writer in list(self._connections.values()):
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._in_db(_close_connection)
        self._executor.shutdown(wait=True)

    # --- database work, in the gateway's one database thread -------------------------------

    async def _in_db(self, func: Callable[..., Any], *args: Any) -> Any:
        def call() -> Any:
            close_old_connections()  # a broken connection is replaced, not reused
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

    async def _collector_id(self, address: int) -> int | None:
        known = self._addresses.get(address)
        if known is not None:
            return known
        refused_at = self._unknown.get(address)
        if refused_at is not None and time.monotonic() - refused_at < _UNKNOWN_RETRY_SECONDS:
            return None
        found: int | None = await self._in_db(self._lookup, address)
        if found is None:
            self._unknown[address] = time.monotonic()
        else:
            self._addresses[address] = found
        return found

    async def _write_batches(self) -> None:
        while True:
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._store(batch)

    async def _store(self, batch: list[tuple[Incoming, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes: list[Outcome] = await self._in_db(self._ingest, [item for item, _f in batch])
        except Exception as exc:
            self.stats.storage_errors += 1
            log.exception("storing %d frames failed; they are not confirmed", len(batch))
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.stats.batches += 1
        for (_item, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

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

    # --- connections -------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        splitter = gb.FrameReader()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if not await self._answer(splitter.feed(data), writer, peer):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(
        self,
        items: list[gb.Frame | gb.FrameError],
        writer: asyncio.StreamWriter,
        peer: Any,
    ) -> bool:
        """Queue the chunk's frames, then confirm each once stored (in order). False when the
        connection is to be closed (an unknown collector)."""
        pending: list[tuple[gb.Frame, asyncio.Future[Outcome], float]] = []
        loop = asyncio.get_running_loop()
        keep_open = True
        for item in items:
            if isinstance(item, gb.FrameError):
                self.stats.denied += 1
                log.info("bad frame from %s: %s", peer, item)
                # GB/T 26875.3-2011 §6.5: deny a frame that arrived whole but failed its checks;
                # a false start marker's "header" is noise, not a frame to answer.
                if item.header is not None and item.kind in _DENIED_KINDS:
                    writer.write(gb.nak_for(item.header))
                continue
            frame = item
            if frame.command in _ANSWERS:
                continue
            collector_id = await self._collector_id(frame.source)
            if collector_id is None:
                self.stats.refused += 1
                log.warning("frame from unknown address %s (%s): refused", frame.source, peer)
                writer.write(gb.nak_for(frame))
                keep_open = False
                break
            if frame.command not in _STORED:
                writer.write(gb.nak_for(frame))  # a collector does not command the centre
                continue
            future: asyncio.Future[Outcome] = loop.create_future()
            received = time.monotonic()
            incoming = Incoming(collector_id, frame, frame.to_bytes(), timezone.now())
            self._queue.put_nowait((incoming, future))
            pending.append((frame, future, received))
        for frame, future, received in pending:
            try:
                outcome = await future
            except Exception:  # not stored (logged by the writer): the device will retry
                log.debug("frame %s of %s not confirmed", frame.serial, peer)
                continue
            writer.write(gb.ack_for(frame))
            self.stats.frames += 1
            if outcome == Outcome.HEARTBEAT:
                self.stats.heartbeats += 1
            elif outcome == Outcome.DUPLICATE:
                self.stats.duplicates += 1
            if self.keep_latencies:
                self.stats.ack_latencies.append(time.monotonic() - received)
        return keep_open


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
