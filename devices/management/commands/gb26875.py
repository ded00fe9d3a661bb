"""`ruwang gb26875`: decode and build GB/T 26875.3-2011 frames by hand.

    ruwang gb26875 decode 40 40 01 00 ...             one JSON object on one line; exit 1 if invalid
    ruwang gb26875 encode ack --serial 1 --source 88888 --destination 889
    ruwang gb26875 encode query --type 81 --source 88888 --destination 889
    ruwang gb26875 encode status --status 0x0002 --source 889 --destination 88888

Each action is an argparse subparser, so another (e.g. `simulate`) is one more `add_parser` and one
more `_<action>` method.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from datetime import datetime
from typing import Any

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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "decode":
            self._decode(options)
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
