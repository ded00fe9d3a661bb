#!/usr/bin/env python
"""Benchmark of the GB/T 26875.3 gateway: N simulated collectors against one gateway process.

Seeds N collectors (default 10,000) with a fire alarm system and a few points each into a
database of its own, starts the gateway (devices.gateway, the code `ruwang gateway` runs) in a
process of its own, a poller process that runs the alarm board's query (open fire alarms,
newest first) every 50 ms, and the simulator (devices.simulator) in this process:

1. every collector connects and heartbeats every --heartbeat seconds (default 30) for
   --steady seconds: the steady load (N / 30 frames/s);
2. throughput: every collector sends --saturate-frames status frames back to back, each
   waiting for its confirmation as devices do (frames/s sustained, confirmation latency);
3. an alarm burst on top of the heartbeats: --burst-collectors collectors (default 1,000) send
   --burst fire alarms (default 3) at the same moment.

It prints frames/s (steady and sustained), confirmation latency p50/p99 (frame written →
confirm received, in the simulator), alarm end-to-end latency p50/p99 (frame written → row
visible to the board's query), frames lost (data frames sent but not stored, or given up
after the simulator's retries) — must be 0 — and the CPU per frame of the throughput phase:
the gateway's event loop, its database thread, the simulator and the PostgreSQL server.

    .venv/bin/python bench/gateway.py --collectors 1000 --steady 5     # quick check, SQLite
    .venv/bin/python bench/gateway.py                                  # 10,000, SQLite
    .venv/bin/python bench/gateway.py \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_gwbench  # PostgreSQL

Targets (issue): >= 5,000 frames/s, alarm p99 <= 1 s, 0 frames lost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

FIRST_ADDRESS = 500_000_000
POINTS = 5  # per collector


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collectors", type=int, default=10_000)
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds (30)")
    parser.add_argument("--steady", type=float, default=35.0, help="seconds of heartbeats (35)")
    parser.add_argument(
        "--saturate-frames",
        type=int,
        default=4,
        help="status frames each collector sends back to back in the throughput phase (4)",
    )
    parser.add_argument(
        "--burst-collectors",
        type=int,
        default=1000,
        help="collectors raising fire alarms at the same moment (1,000)",
    )
    parser.add_argument("--burst", type=int, default=3, help="fire alarms per collector (3)")
    parser.add_argument("--port", type=int, default=0, help="gateway port (a free one)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--batch-wait", type=float, default=0.005, help="seconds a batch waits to fill (0.005)"
    )
    parser.add_argument("--ack-timeout", type=float, default=10.0)
    common.add_database_options(parser)
    parser.add_argument(
        "--profile", action="store_true", help="print where the gateway and the simulator spend"
    )
    return parser.parse_args()


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def seed(count: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from devices.models import Collector, CollectorStatus, FireSystem, Point

    if Collector.objects.filter(address__gte=FIRST_ADDRESS).count() >= count:
        print(f"reusing {count:,} seeded collectors")
        return
    t = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        Collector.objects.filter(address__gte=FIRST_ADDRESS).delete()
        collectors = Collector.objects.bulk_create(
            (
                Collector(
                    address=FIRST_ADDRESS + n,
                    serial_number=f"BENCH{n:06d}",
                    heartbeat_seconds=30,
                    status=CollectorStatus.ONLINE,
                    last_seen_at=now,
                )
                for n in range(count)
            ),
            batch_size=2000,
        )
        systems = FireSystem.objects.bulk_create(
            (FireSystem(collector=c, system_type=1, system_address=1) for c in collectors),
            batch_size=2000,
        )
        Point.objects.bulk_create(
            (
                Point(
                    system=s,
                    component_address=(1 << 16) | p,
                    loop=1,
                    number=p,
                    component_type=40,
                    location=f"{p}层走廊",
                )
                for s in systems
                for p in range(1, POINTS + 1)
            ),
            batch_size=5000,
        )
    print(
        f"seeded {count:,} collectors, {count * POINTS:,} points in {time.perf_counter() - t:.1f} s"
    )


# --- the gateway and the poller, each in a process of its own ------------------------------------


def profiled(enabled: bool, label: str, func: Any, *args: Any) -> Any:
    if not enabled:
        return func(*args)
    import cProfile
    import pstats

    profile = cProfile.Profile(time.thread_time)  # CPU, not waits for the GIL or the network
    try:
        return profile.runcall(func, *args)
    finally:
        print(f"--- profile: {label} ---")
        pstats.Stats(profile).sort_stats("tottime").print_stats(18)


def gateway_process(
    port: int, batch_size: int, batch_wait: float, ready: Any, stats_out: Any, profile: bool
) -> None:
    from django.db import connections

    from devices.gateway import Gateway
    from devices.services import Incoming, Outcome, frames_ingest

    connections.close_all()  # never share the parent's connection
    import cProfile
    import pstats

    # The event loop is profiled below (the main thread); the database thread's work here.
    db_profile = cProfile.Profile(time.thread_time)

    def ingest(batch: list[Incoming]) -> list[Outcome]:
        if not profile:
            return frames_ingest(batch)
        outcomes: list[Outcome] = db_profile.runcall(frames_ingest, batch)
        return outcomes

    async def main() -> None:
        gateway = Gateway(
            host="127.0.0.1",
            port=port,
            batch_size=batch_size,
            batch_wait=batch_wait,
            offline_check_seconds=60,
            backlog=4096,
            ingest=ingest,
        )
        await gateway.start()
        ready.send(gateway.port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await gateway.stop()
        s = gateway.stats
        stats_out.send(
            {
                "frames": s.frames,
                "heartbeats": s.heartbeats,
                "duplicates": s.duplicates,
                "batches": s.batches,
                "denied": s.denied,
                "refused": s.refused,
                "storage_errors": s.storage_errors,
            }
        )

    profiled(profile, "gateway (event loop)", asyncio.run, main())
    if profile:
        print("--- profile: gateway (database thread, frames_ingest) ---")
        pstats.Stats(db_profile).sort_stats("tottime").print_stats(18)


def poller_process(stop: Any, out: Any) -> None:
    """Polls what the alarm board reads: open fire alarms, newest first; records when each
    alarm frame (collector address, serial) is first visible (wall clock)."""
    from django.db import connections

    from devices.models import BOARD_KINDS, DeviceEvent

    connections.close_all()
    seen: dict[tuple[int, int], float] = {}
    last_id = 0
    while not stop.is_set():
        rows = list(
            DeviceEvent.objects.filter(kind__in=BOARD_KINDS, handled_at=None, id__gt=last_id)
            .order_by("-id")
            .values_list("id", "collector__address", "frame__serial", "kind")[:5000]
        )
        now = time.time()
        for pk, address, serial, kind in rows:
            last_id = max(last_id, pk)
            if kind == "fire":
                seen.setdefault((address, serial), now)
        time.sleep(0.05)
    out.send(seen)


# --- the simulated collectors ----------------------------------------------------------------


def cpu_seconds(pid: int, tid: int | None = None, *, kernel_only: bool = False) -> float:
    """User + system (or only system) CPU time of a process, or one of its threads, so far
    (Linux /proc)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    ticks = int(fields[12]) if kernel_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def database_server_cpu() -> float:
    """CPU time of the PostgreSQL server processes so far (0 with SQLite, which runs inside
    the gateway's database thread)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("postgres"):
                total += cpu_seconds(int(entry.name))
    return total


def cpu_sample(gateway_pid: int) -> dict[str, float]:
    """CPU so far of the gateway's event loop (its main thread), its other threads (the
    database thread), this process (the simulator) and the database server."""
    loop = cpu_seconds(gateway_pid, gateway_pid)
    own = os.times()
    return {
        "gateway_loop": loop,
        "gateway_loop_kernel": cpu_seconds(gateway_pid, gateway_pid, kernel_only=True),
        "gateway_db": cpu_seconds(gateway_pid) - loop,
        "gateway_db_kernel": cpu_seconds(gateway_pid, kernel_only=True)
        - cpu_seconds(gateway_pid, gateway_pid, kernel_only=True),
        "simulator": own.user + own.system,
        "simulator_kernel": own.system,
        "database": database_server_cpu(),
    }


async def simulate(args: argparse.Namespace, port: int, gateway_pid: int) -> dict[str, Any]:
    from devices.simulator import FIRE, NORMAL, Simulator, synthetic_collectors

    collectors = synthetic_collectors(args.collectors, first_address=FIRST_ADDRESS, points=POINTS)
    sim = Simulator(
        collectors,
        host="127.0.0.1",
        port=port,
        heartbeat_seconds=args.heartbeat,
        ack_timeout=args.ack_timeout,
        tries=3,
        connect_concurrency=500,
    )
    t = time.perf_counter()
    await sim.start()
    print(f"{args.collectors:,} collectors connected in {time.perf_counter() - t:.1f} s")
    confirmed_before = sim.stats.confirmed
    t = time.perf_counter()
    await asyncio.sleep(args.steady)
    steady = (sim.stats.confirmed - confirmed_before) / (time.perf_counter() - t)
    print(f"steady (heartbeats only): {steady:,.0f} frames/s over {args.steady:.0f} s")

    # Saturation: every collector sends status frames back to back, each waiting for its
    # confirmation. Frames are encoded beforehand so the load generator spends its CPU on the
    # traffic, not on building it.
    frames = {
        c.address: [
            sim.component_frame(c.address, c.points[n % len(c.points)], NORMAL)
            for n in range(args.saturate_frames)
        ]
        for c in collectors
    }

    async def saturate(address: int) -> None:
        for frame in frames[address]:
            await sim.send(address, frame)

    latencies_before = len(sim.stats.ack_latencies)
    confirmed_before = sim.stats.confirmed
    cpu_before = cpu_sample(gateway_pid)
    t = time.perf_counter()
    await asyncio.gather(*(saturate(c.address) for c in collectors))
    saturation_seconds = time.perf_counter() - t
    cpu = {k: v - cpu_before[k] for k, v in cpu_sample(gateway_pid).items()}
    saturation_frames = sim.stats.confirmed - confirmed_before
    saturation_ack = sim.stats.ack_latencies[latencies_before:]
    print(
        f"saturation: {saturation_frames:,} frames in {saturation_seconds:.1f} s "
        f"= {saturation_frames / saturation_seconds:,.0f} frames/s"
    )
    await asyncio.sleep(2.0)  # back to the steady heartbeats

    # Alarm burst: a share of the buildings raise fire alarms at the same moment, on top of
    # the heartbeats.
    alarming = collectors[: args.burst_collectors]
    alarms = {
        c.address: [
            sim.component_frame(c.address, c.points[n % len(c.points)], FIRE | NORMAL)
            for n in range(args.burst)
        ]
        for c in alarming
    }
    sent_at: dict[tuple[int, int], float] = {}

    async def burst(address: int) -> int:
        ok = 0
        for frame in alarms[address]:
            sent_at[(address, int.from_bytes(frame[2:4], "little"))] = time.time()
            ok += await sim.send(address, frame)
        return ok

    latencies_before = len(sim.stats.ack_latencies)
    t = time.perf_counter()
    results = await asyncio.gather(*(burst(c.address) for c in alarming))
    burst_seconds = time.perf_counter() - t
    burst_ack = sim.stats.ack_latencies[latencies_before:]
    await asyncio.sleep(1.0)  # let the poller see the last alarms
    await sim.stop()
    return {
        "steady": steady,
        "saturation_frames": saturation_frames,
        "saturation_seconds": saturation_seconds,
        "saturation_ack": saturation_ack,
        "cpu": cpu,
        "burst_seconds": burst_seconds,
        "alarms_confirmed": sum(results),
        "sent_at": sent_at,
        "burst_ack": burst_ack,
        "lost": sim.stats.lost,
        "denied": sim.stats.denied,
        "retransmissions": sim.stats.retransmissions,
        "reconnects": sim.stats.reconnects,
    }


def main() -> None:
    args = parse_args()
    var_dir, created = common.start(args, "ruwang-gwbench-", urls=[], templates=[])
    from django.db import connections

    from devices.models import ReceivedFrame

    ctx = multiprocessing.get_context("fork")
    gateway = poller = None
    try:
        common.migrate()
        seed(args.collectors)
        ReceivedFrame.objects.filter(collector__address__gte=FIRST_ADDRESS).delete()
        connections.close_all()
        ready_recv, ready_send = ctx.Pipe(duplex=False)
        stats_recv, stats_send = ctx.Pipe(duplex=False)
        gateway = ctx.Process(
            target=gateway_process,
            args=(
                args.port,
                args.batch_size,
                args.batch_wait,
                ready_send,
                stats_send,
                args.profile,
            ),
        )
        gateway.start()
        assert gateway.pid is not None
        gateway_pid = gateway.pid
        port = ready_recv.recv()
        print(f"gateway pid {gateway.pid} on port {port}")
        stop = ctx.Event()
        seen_recv, seen_send = ctx.Pipe(duplex=False)
        poller = ctx.Process(target=poller_process, args=(stop, seen_send))
        poller.start()
        result = profiled(args.profile, "simulator", asyncio.run, simulate(args, port, gateway_pid))
        stop.set()
        seen: dict[tuple[int, int], float] = seen_recv.recv()
        poller.join()
        os.kill(gateway_pid, signal.SIGTERM)
        gateway_stats = stats_recv.recv()
        gateway.join()

        stored = set(
            ReceivedFrame.objects.filter(collector__address__gte=FIRST_ADDRESS).values_list(
                "collector__address", "serial"
            )
        )
        sent = result["sent_at"]
        missing = [key for key in sent if key not in stored]
        e2e = [(seen[key] - at) for key, at in sent.items() if key in seen]
        unseen = sum(1 for key in sent if key not in seen)
        rate = result["saturation_frames"] / result["saturation_seconds"]
        sat_ack, burst_ack = result["saturation_ack"], result["burst_ack"]
        data_frames = ReceivedFrame.objects.filter(collector__address__gte=FIRST_ADDRESS).count()
        expected = args.collectors * args.saturate_frames + len(sent)
        lost = len(missing) + result["lost"] + max(expected - data_frames, 0)
        print()
        print(f"collectors {args.collectors:,}; database {connections['default'].vendor}")
        print(
            f"steady load:      {result['steady']:,.0f} frames/s "
            f"(heartbeats every {args.heartbeat:.0f} s)"
        )
        print(
            f"sustained:        {rate:,.0f} frames/s ({result['saturation_frames']:,} frames "
            f"in {result['saturation_seconds']:.1f} s, every collector sending back to back); "
            f"confirmation p50 {percentile(sat_ack, 50) * 1000:.0f} ms, "
            f"p99 {percentile(sat_ack, 99) * 1000:.0f} ms"
        )
        print(
            f"alarm burst:      {len(sent):,} fire alarms from {args.burst_collectors:,} "
            f"collectors in {result['burst_seconds']:.2f} s; confirmation "
            f"p50 {percentile(burst_ack, 50) * 1000:.0f} ms, "
            f"p99 {percentile(burst_ack, 99) * 1000:.0f} ms"
        )
        print(
            f"alarm → board:    p50 {percentile(e2e, 50) * 1000:.0f} ms, "
            f"p99 {percentile(e2e, 99) * 1000:.0f} ms ({len(e2e):,} seen, {unseen:,} never seen)"
        )
        print(
            f"frames lost:      {lost:,} (data frames stored {data_frames:,} of {expected:,} "
            f"sent; alarms not stored {len(missing):,}; given up {result['lost']:,}); "
            f"retransmissions {result['retransmissions']:,}, reconnects "
            f"{result['reconnects']:,}, denied {result['denied']:,}"
        )
        per_frame = 1000 / max(result["saturation_frames"], 1)
        cpu = result["cpu"]
        gateway_cpu = cpu["gateway_loop"] + cpu["gateway_db"]
        print(
            f"CPU in the throughput phase: gateway {gateway_cpu:.1f} s "
            f"({gateway_cpu * per_frame:.2f} ms/frame, its database thread included), "
            f"simulator {cpu['simulator']:.1f} s ({cpu['simulator'] * per_frame:.2f} ms/frame), "
            f"on {os.cpu_count()} cores"
        )
        print(
            f"CPU per frame:    gateway event loop {cpu['gateway_loop'] * per_frame:.3f} ms "
            f"({cpu['gateway_loop_kernel'] * per_frame:.3f} in the kernel), "
            f"gateway database thread {cpu['gateway_db'] * per_frame:.3f} ms "
            f"({cpu['gateway_db_kernel'] * per_frame:.3f} in the kernel), "
            f"simulator {cpu['simulator'] * per_frame:.3f} ms "
            f"({cpu['simulator_kernel'] * per_frame:.3f} in the kernel), PostgreSQL server "
            + (
                f"{cpu['database'] * per_frame:.3f} ms"
                if connections["default"].vendor == "postgresql"
                else "– (SQLite runs in the database thread)"
            )
        )
        print(f"gateway:          {gateway_stats}")
    finally:
        for process in (poller, gateway):
            if process is not None and process.is_alive():
                process.terminate()
                process.join()
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
