"""`ruwang gb26875`: decode and build GB/T 26875.3-2011 frames by hand.

    ruwang gb26875 decode 40 40 01 00 ...             one JSON object on one line; exit 1 if invalid
    ruwang gb26875 encode ack --serial 1 --source 88888 --destination 889
    ruwang gb26875 encode query --type 81 --source 88888 --destination 889
    ruwang gb26875 encode status --status 0x0002 --source 889 --destination 88888
    ruwang gb26875 simulate --collectors 50 --port 9026 --alarms-per-minute 1 --seconds 60

Each action is an argparse subparser with its own `_<action>` method. `simulate` plays collectors
against a running gateway (devices.simulator): the installed collectors of the database with their
point tables, or synthetic ones (whose addresses must be registered: the gateway refuses unknown
addresses); it prints a summary line every 5 s and a final one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import random
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.gb26875 import (
    DEFAULT_VERSION,
    OBJECT_TYPES,
    Adu,
    CollectorStatus,
    FrameError,
    InfoType,
    SystemStatus,
    decode_frame,
    downstream_command,
    encode_frame,
    format_time,
    heartbeat,
)
from devices.gb26875 import (
    Command as FrameCommand,
)
from devices.gb26875.frame import MAX_ADDRESS
from devices.management.commands.gateway import StopSignals
from devices.models import IN_SERVICE, Collector, Point
from devices.simulator import SimCollector, SimPoint, SimStats, Simulator, synthetic_collectors

DOWNSTREAM_TYPES = sorted(int(t) for t in OBJECT_TYPES if t >= InfoType.READ_SYSTEM_STATUS)


def _integer(text: str) -> int:
    """Decimal or 0x-prefixed hexadecimal."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _address(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= MAX_ADDRESS:
        raise argparse.ArgumentTypeError(f"an address is 6 bytes (0–{MAX_ADDRESS})")
    return value


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from None


def _version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", text)
    if not match or max(int(match[1]), int(match[2])) > 255:
        raise argparse.ArgumentTypeError("a version is MAJOR.MINOR, each 0–255")
    return int(match[1]), int(match[2])


def _frame_options(parser: CommandParser, *, serial_required: bool = False) -> None:
    parser.add_argument(
        "--serial",
        type=_integer,
        required=serial_required,
        default=0,
        help="business serial number (an answer repeats the serial of the frame it answers)",
    )
    parser.add_argument("--source", type=_address, required=True, help="sender address")
    parser.add_argument("--destination", type=_address, required=True, help="receiver address")
    parser.add_argument(
        "--time",
        type=_moment,
        default=None,
        help="frame time label, ISO local time (default: now)",
    )
    parser.add_argument(
        "--version",
        type=_version,
        default=DEFAULT_VERSION,
        help="protocol version MAJOR.MINOR (default: {}.{})".format(*DEFAULT_VERSION),
    )


class Command(BaseCommand):
    help = "GB/T 26875.3-2011 frames: decode hex from a device, build answers and commands."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        decode = actions.add_parser(
            "decode", help="decode one frame and print it as one line of JSON"
        )
        decode.add_argument(
            "hex", nargs="+", help="the frame in hex; spaces allowed, all arguments are joined"
        )

        encode = actions.add_parser("encode", help="build a frame and print it as spaced hex")
        kinds = encode.add_subparsers(dest="kind", required=True)
        for kind, text in (("ack", "a confirm (command 3)"), ("nak", "a deny (command 6)")):
            answer = kinds.add_parser(kind, help=f"{text} answering the frame with --serial")
            # --source is the answering side, i.e. the destination of the frame being answered.
            _frame_options(answer, serial_required=True)

        _frame_options(kinds.add_parser("heartbeat", help="a send-data frame with an empty ADU"))

        query = kinds.add_parser("query", help="a downstream read or control command (types 61–91)")
        _frame_options(query)
        query.add_argument(
            "--type",
            type=int,
            required=True,
            choices=DOWNSTREAM_TYPES,
            metavar="TYPE",
            help=f"information type, one of {DOWNSTREAM_TYPES}",
        )
        query.add_argument("--system-type", type=_integer, default=0, help="(61–68)")
        query.add_argument("--system-address", type=_integer, default=0, help="(61–68)")
        query.add_argument("--component-address", type=_integer, default=0, help="(62, 63, 67)")
        query.add_argument("--count", type=_integer, default=1, help="records to read (64, 84)")
        query.add_argument("--start", type=_moment, help="first record time, ISO (64, 84)")
        query.add_argument(
            "--sync-time", type=_moment, help="time to set, ISO (90; default: the frame time)"
        )
        query.add_argument(
            "--timeout", type=_integer, default=10, help="minutes to answer an inspection (91)"
        )

        status = kinds.add_parser(
            "status", help="an upstream status report: system (type 1) or device (type 21)"
        )
        _frame_options(status)
        status.add_argument("--status", type=_integer, required=True, help="status bits")
        status.add_argument(
            "--collector", action="store_true", help="report the device's own status (type 21)"
        )
        status.add_argument("--system-type", type=_integer, default=1, help="(type 1)")
        status.add_argument("--system-address", type=_integer, default=0, help="(type 1)")
        status.add_argument(
            "--occurred", type=_moment, help="when the state occurred, ISO (default: frame time)"
        )

        _simulate_options(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "decode":
            self._decode(options)
        elif options["action"] == "simulate":
            self._simulate(options)
        else:
            self._encode(options)

    def _decode(self, options: dict[str, Any]) -> None:
        text = re.sub(r"\s+", "", "".join(options["hex"]))
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise CommandError(f"not hexadecimal: {text[:60]!r}") from None
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            self._print_json({"valid": False, "error": exc.kind})
            self.stderr.write(exc.message)
            raise SystemExit(1) from None
        self._print_json(
            {
                "valid": True,
                "serial": frame.serial,
                "version": list(frame.version),
                "sent_at": None if frame.sent_at is None else format_time(frame.sent_at),
                "source": frame.source,
                "destination": frame.destination,
                "command": frame.command,
                "adu_length": frame.adu_length,
                "type": frame.adu.type,
                "objects": frame.adu.as_dicts(),
            }
        )

    def _simulate(self, options: dict[str, Any]) -> None:
        collectors = choose_collectors(options, self.stdout.write)
        asyncio.run(
            simulate(
                collectors,
                host=options["host"],
                port=options["port"],
                heartbeat=options["heartbeat"],
                alarms_per_minute=options["alarms_per_minute"],
                faults_per_minute=options["faults_per_minute"],
                resets_per_minute=options["resets_per_minute"],
                ack_timeout=options["ack_timeout"],
                tries=options["tries"],
                seconds=options["seconds"],
                connect_timeout=options["connect_timeout"],
                seed=options["seed"],
                write=self.stdout.write,
            )
        )

    def _print_json(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, ensure_ascii=False))

    def _encode(self, options: dict[str, Any]) -> None:
        sent_at = options["time"] or datetime.now().replace(microsecond=0)
        frame = {
            "serial": options["serial"],
            "source": options["source"],
            "destination": options["destination"],
            "sent_at": sent_at,
            "version": options["version"],
        }
        try:
            kind = options["kind"]
            if kind in ("ack", "nak"):
                # GB/T 26875.3-2011 表 1: an answer repeats the serial and has an empty ADU.
                command = FrameCommand.CONFIRM if kind == "ack" else FrameCommand.DENY
                data = encode_frame(command=command, **frame)
            elif kind == "heartbeat":
                data = heartbeat(**frame)
            elif kind == "query":
                adu = _query_adu(options, sent_at)
                data = encode_frame(command=downstream_command(options["type"]), adu=adu, **frame)
            else:
                data = encode_frame(
                    command=FrameCommand.SEND_DATA, adu=_status_adu(options, sent_at), **frame
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(data.hex(" ").upper())


def _query_adu(options: dict[str, Any], sent_at: datetime) -> Adu:
    info_type = options["type"]
    cls = OBJECT_TYPES[info_type]
    values = {
        "system_type": options["system_type"],
        "system_address": options["system_address"],
        "component_address": options["component_address"],
        "count": options["count"],
        "start_at": options["start"],
        "reserved": 0,
        "system_time": options["sync_time"] or sent_at,
        "timeout_minutes": options["timeout"],
    }
    if values["start_at"] is None and info_type in (
        InfoType.READ_OPERATIONS,
        InfoType.READ_COLLECTOR_OPERATIONS,
    ):
        raise CommandError(f"type {info_type} needs --start")
    obj = cls(**{item.name: values[item.name] for item in dataclasses.fields(cls)})
    return Adu(info_type, (obj,))


def _status_adu(options: dict[str, Any], sent_at: datetime) -> Adu:
    occurred_at = options["occurred"] or sent_at
    if options["collector"]:
        return Adu(
            InfoType.COLLECTOR_STATUS,
            (CollectorStatus(status=options["status"], occurred_at=occurred_at),),
        )
    return Adu(
        InfoType.SYSTEM_STATUS,
        (
            SystemStatus(
                system_type=options["system_type"],
                system_address=options["system_address"],
                status=options["status"],
                occurred_at=occurred_at,
            ),
        ),
    )


# --- simulate -------------------------------------------------------------------------------

REPORT_SECONDS = 5.0
LATENCY_SAMPLE = 100_000  # latencies kept for the final percentiles (a uniform sample)


def _count(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a rate cannot be negative")
    return value


def _port(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 1–65535")
    return value


def _simulate_options(actions: Any) -> None:
    parser = actions.add_parser(
        "simulate", help="play collectors against a running gateway and report confirmations"
    )
    parser.add_argument(
        "--collectors", type=_count, default=10, metavar="N", help="how many (default 10)"
    )
    parser.add_argument(
        "--host", default=settings.GATEWAY_HOST, help="the gateway's address (RUWANG_GATEWAY_HOST)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=settings.GATEWAY_PORT,
        help=f"the gateway's port (RUWANG_GATEWAY_PORT, now {settings.GATEWAY_PORT})",
    )
    parser.add_argument(
        "--heartbeat", type=_positive, default=30.0, metavar="S", help="seconds (default 30)"
    )
    for name, default in (("alarms", 0.1), ("faults", 0.1), ("resets", 0.2)):
        parser.add_argument(
            f"--{name}-per-minute",
            type=_rate,
            default=default,
            metavar="R",
            help=f"{name} per minute per collector (default {default})",
        )
    parser.add_argument(
        "--ack-timeout",
        type=_positive,
        default=5.0,
        metavar="S",
        help="seconds to wait for a confirm before resending (default 5)",
    )
    parser.add_argument(
        "--tries", type=_count, default=3, help="sends of a frame before it is lost (default 3)"
    )
    parser.add_argument(
        "--seconds", type=_positive, default=None, metavar="T", help="run time (default: Ctrl+C)"
    )
    parser.add_argument(
        "--connect-timeout",
        type=_positive,
        default=10.0,
        metavar="S",
        help="seconds for every collector to connect before giving up (default 10)",
    )
    parser.add_argument(
        "--first-address",
        type=_address,
        default=100_000_000,
        help="address of the first synthetic collector (default 100000000)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-database",
        action="store_true",
        help="play the first N installed collectors with their point tables (the default when "
        "the database has installed collectors with points)",
    )
    source.add_argument(
        "--synthetic",
        action="store_true",
        help="play N made-up collectors with 20 smoke detectors each (register their addresses "
        "first: the gateway refuses unknown ones)",
    )


def collectors_from_database(limit: int) -> list[SimCollector]:
    """The first `limit` collectors in service (by id), each with its enabled points: what
    they would report. Two queries."""
    rows = list(
        Collector.objects.filter(status__in=IN_SERVICE)
        .order_by("pk")
        .values_list("pk", "address")[:limit]
    )
    points: dict[int, list[SimPoint]] = {pk: [] for pk, _address in rows}
    for collector_id, system_type, system_address, component_type, address, location, code in (
        Point.objects.filter(system__collector_id__in=list(points), enabled=True)
        .order_by("system__collector_id", "system_id", "component_address")
        .values_list(
            "system__collector_id",
            "system__system_type",
            "system__system_address",
            "component_type",
            "component_address",
            "location",
            "native_code",
        )
    ):
        points[collector_id].append(
            SimPoint(system_type, system_address, component_type, address, location or code)
        )
    return [SimCollector(address=address, points=points[pk]) for pk, address in rows]


def _database_has_points() -> bool:
    return Point.objects.filter(system__collector__status__in=IN_SERVICE).exists()


def choose_collectors(options: dict[str, Any], write: Callable[[str], Any]) -> list[SimCollector]:
    count = options["collectors"]
    use_database = options["from_database"] or (not options["synthetic"] and _database_has_points())
    if use_database:
        collectors = collectors_from_database(count)
        if not collectors:
            raise CommandError(
                "no installed collectors in the database: install some, or use --synthetic"
            )
        if len(collectors) < count:
            write(f"only {len(collectors)} installed collectors in the database: playing those")
        write(f"playing {len(collectors)} installed collectors from the database")
        return collectors
    first = options["first_address"]
    if first + count - 1 > MAX_ADDRESS:
        raise CommandError(f"--first-address: {count} addresses from {first} exceed 6 bytes")
    write(
        f"playing {count} synthetic collectors, addresses {first}–{first + count - 1} "
        "(the gateway refuses addresses that are not registered collectors)"
    )
    return synthetic_collectors(count, first_address=first)


class LatencySample:
    """Acknowledgement latencies: those of the current report interval, and a uniform sample
    of the whole run (memory stays bounded however long the run)."""

    def __init__(self, size: int = LATENCY_SAMPLE, seed: int | None = None) -> None:
        self.size = size
        self.kept: list[float] = []
        self.seen = 0
        self.random = random.Random(seed)  # noqa: S311 - sampling, not secrets

    def take(self, stats: SimStats) -> list[float]:
        """Move the latencies the simulator recorded since the last call into the sample."""
        fresh = stats.ack_latencies[:]
        del stats.ack_latencies[: len(fresh)]
        for value in fresh:
            self.seen += 1
            if len(self.kept) < self.size:
                self.kept.append(value)
            else:
                slot = self.random.randrange(self.seen)
                if slot < self.size:
                    self.kept[slot] = value
        return fresh


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0–100) of unsorted values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f}ms"


def summary_line(stats: SimStats, latencies: list[float]) -> str:
    return (
        f"sent={stats.sent} confirmed={stats.confirmed} retransmissions={stats.retransmissions} "
        f"lost={stats.lost} denied={stats.denied} reconnects={stats.reconnects} "
        f"ack p50={_ms(percentile(latencies, 50))} p99={_ms(percentile(latencies, 99))}"
    )


async def simulate(
    collectors: list[SimCollector],
    *,
    host: str,
    port: int,
    write: Callable[[str], Any],
    heartbeat: float = 30.0,
    alarms_per_minute: float = 0.0,
    faults_per_minute: float = 0.0,
    resets_per_minute: float = 0.0,
    ack_timeout: float = 5.0,
    tries: int = 3,
    seconds: float | None = None,
    connect_timeout: float = 10.0,
    report_every: float = REPORT_SECONDS,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
) -> SimStats:
    """Play `collectors` against the gateway at host:port until `seconds` have passed, `stop`
    is set or SIGINT/SIGTERM arrives; write a summary line every `report_every` seconds (the
    latency percentiles of that interval) and a final one (of the whole run)."""
    stop = stop or asyncio.Event()
    sim = Simulator(
        collectors,
        host=host,
        port=port,
        heartbeat_seconds=heartbeat,
        alarms_per_minute=alarms_per_minute,
        faults_per_minute=faults_per_minute,
        resets_per_minute=resets_per_minute,
        ack_timeout=ack_timeout,
        tries=tries,
        time_zone=settings.TIME_ZONE,
        seed=seed,
    )
    sample = LatencySample(seed=seed)
    with StopSignals(asyncio.get_running_loop(), stop, "the simulator"):
        try:
            await asyncio.wait_for(sim.start(), connect_timeout)
        except TimeoutError:
            await sim.stop()
            raise CommandError(
                f"the collectors could not all connect to {host}:{port} within "
                f"{connect_timeout:g} s: is the gateway running (ruwang gateway)?"
            ) from None
        write(f"{len(collectors)} collectors connected to {host}:{port}")
        started = time.monotonic()
        deadline = started + seconds if seconds is not None else float("inf")
        try:
            while True:
                wait = min(report_every, deadline - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wait, 0))
                if stop.is_set() or time.monotonic() >= deadline:
                    break
                elapsed = time.monotonic() - started
                write(f"[{elapsed:6.1f}s] {summary_line(sim.stats, sample.take(sim.stats))}")
        finally:
            await sim.stop()
    sample.take(sim.stats)
    elapsed = time.monotonic() - started
    stats = sim.stats
    in_flight = stats.sent - stats.confirmed - stats.lost - stats.denied
    write(
        f"done after {elapsed:.1f} s: {summary_line(stats, sample.kept)}"
        + (f" ({in_flight} in flight when stopped)" if in_flight > 0 else "")
    )
    if sim.stats.sent and not sim.stats.confirmed and sim.stats.denied:
        write("the gateway denied every frame: are these addresses registered collectors?")
    return sim.stats
