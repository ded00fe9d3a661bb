"""Framing (GB/T 26875.3-2011 §6.6, 表 1): build and check frames, answer them, split a byte stream.

offset  size  field
0       2     start marker "@@" (0x40 0x40)
2       2     business serial number, little-endian
4       2     protocol version: major (fixed 1), user-defined minor
6       6     time label (§8.2.2)
12      6     source address, little-endian
18      6     destination address, little-endian
24      2     ADU length, little-endian, at most 1024
26      1     command byte (表 2)
27      L     application data unit
27+L    1     checksum: 8-bit sum of bytes 2 .. 26+L (control unit and ADU)
28+L    2     end marker "##" (0x23 0x23)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from devices.gb26875.adu import Adu, decode_adu, decode_time_label, encode_time_label
from devices.gb26875.codes import Command
from devices.gb26875.errors import FrameError, FrameErrorKind

__all__ = [
    "DEFAULT_VERSION",
    "HEADER_SIZE",
    "MAX_ADU_SIZE",
    "TRAILER_SIZE",
    "Frame",
    "FrameError",
    "FrameReader",
    "Header",
    "ack_for",
    "ack_for_raw",
    "checksum",
    "decode_frame",
    "encode_frame",
    "heartbeat",
    "nak_for",
]

START = b"@@"
END = b"##"
HEADER_SIZE = 27
TRAILER_SIZE = 3
MAX_ADU_SIZE = 1024  # GB/T 26875.3-2011 表 1: 应用数据单元长度不应大于 1024
MIN_FRAME_SIZE = HEADER_SIZE + TRAILER_SIZE
MAX_ADDRESS = 2**48 - 1
# GB/T 26875.3-2011 表 1: the major version is fixed at 1, the second byte is user-defined.
DEFAULT_VERSION = (1, 0)
_COMMANDS = frozenset(Command)


def checksum(data: bytes) -> int:
    """GB/T 26875.3-2011 表 1: the arithmetic sum of the control unit (bytes 3–27) and the ADU with
    the carries above 8 bits dropped."""
    return sum(data) & 0xFF


@dataclass(frozen=True)
class Header:
    """The control unit. `sent_at` is None when the sender's time label is not a calendar date
    (an unset clock): §6.5 does not count the label among the errors to deny a frame for."""

    serial: int
    version: tuple[int, int]
    sent_at: datetime | None
    source: int
    destination: int
    adu_length: int
    command: int


@dataclass(frozen=True)
class Frame(Header):
    adu_bytes: bytes
    adu: Adu
    # The bytes the frame was decoded from (empty for a frame built in code).
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def is_heartbeat(self) -> bool:
        # An empty "send data" frame is how a device keeps its link alive; the centre confirms it.
        return self.command == Command.SEND_DATA and not self.adu_bytes

    def to_bytes(self) -> bytes:
        return _build(
            serial=self.serial,
            version=self.version,
            label=_label(self.sent_at),
            source=self.source,
            destination=self.destination,
            command=self.command,
            adu_bytes=self.adu_bytes,
        )


def _label(sent_at: datetime | None) -> bytes:
    return bytes(6) if sent_at is None else encode_time_label(sent_at)


def _build(
    *,
    serial: int,
    version: tuple[int, int],
    label: bytes,
    source: int,
    destination: int,
    command: int,
    adu_bytes: bytes,
) -> bytes:
    if not 0 <= serial <= 0xFFFF:
        raise ValueError(f"serial {serial} does not fit in 2 bytes")
    for address in (source, destination):
        if not 0 <= address <= MAX_ADDRESS:
            raise ValueError(f"address {address} does not fit in 6 bytes")
    if command not in _COMMANDS:
        raise ValueError(f"command {command} is not one of {sorted(_COMMANDS)}")
    if len(adu_bytes) > MAX_ADU_SIZE:
        raise ValueError(f"ADU of {len(adu_bytes)} bytes exceeds {MAX_ADU_SIZE}")
    body = b"".join(
        (
            serial.to_bytes(2, "little"),
            bytes(version),
            label,
            source.to_bytes(6, "little"),
            destination.to_bytes(6, "little"),
            len(adu_bytes).to_bytes(2, "little"),
            bytes((command,)),
            adu_bytes,
        )
    )
    return START + body + bytes((checksum(body),)) + END


def encode_frame(
    *,
    command: int,
    adu: Adu | bytes = b"",
    serial: int = 0,
    source: int = 0,
    destination: int = 0,
    sent_at: datetime | None = None,
    version: tuple[int, int] = DEFAULT_VERSION,
) -> bytes:
    """A complete frame; `sent_at` defaults to the local wall-clock time now."""
    moment = sent_at or datetime.now().replace(microsecond=0)
    return _build(
        serial=serial,
        version=version,
        label=encode_time_label(moment),
        source=source,
        destination=destination,
        command=command,
        adu_bytes=adu.to_bytes() if isinstance(adu, Adu) else bytes(adu),
    )


def _read_header(data: bytes) -> Header:
    try:
        sent_at: datetime | None = decode_time_label(data[6:12])
    except FrameError:
        sent_at = None
    return Header(
        serial=int.from_bytes(data[2:4], "little"),
        version=(data[4], data[5]),
        sent_at=sent_at,
        source=int.from_bytes(data[12:18], "little"),
        destination=int.from_bytes(data[18:24], "little"),
        adu_length=int.from_bytes(data[24:26], "little"),
        command=data[26],
    )


# An empty ADU (heartbeat, confirm, deny) decodes to this one immutable value.
_EMPTY_ADU = Adu()


def decode_frame(data: bytes) -> Frame:
    """Decode exactly one frame; raise FrameError for anything else (never another exception)."""
    data = bytes(data)
    if data[:2] != START:
        raise FrameError("start", "a frame begins with @@ (0x40 0x40)", raw=data)
    size = len(data)
    if size < MIN_FRAME_SIZE:
        raise FrameError(
            "truncated", f"{size} bytes, a frame has at least {MIN_FRAME_SIZE}", raw=data
        )
    # The checks read the bytes; the Header is built once, for the frame or an error report.
    declared = data[24] | data[25] << 8
    if declared > MAX_ADU_SIZE:
        raise FrameError(
            "length",
            f"ADU length {declared} exceeds {MAX_ADU_SIZE}",
            header=_read_header(data),
            raw=data,
        )
    expected = MIN_FRAME_SIZE + declared
    if size > expected or (size < expected and data.endswith(END)):
        raise FrameError(
            "length",
            f"ADU length {declared} declared, {size - MIN_FRAME_SIZE} bytes present",
            header=_read_header(data),
            raw=data,
        )
    if size < expected:
        raise FrameError(
            "truncated", f"{size} of {expected} bytes", header=_read_header(data), raw=data
        )
    if data[-2:] != END:
        raise FrameError(
            "end", "a frame ends with ## (0x23 0x23)", header=_read_header(data), raw=data
        )
    computed = sum(data[2:-3]) & 0xFF
    if computed != data[-3]:
        raise FrameError(
            "checksum",
            f"checksum byte {data[-3]:#04x}, computed {computed:#04x}",
            header=_read_header(data),
            raw=data,
        )
    command = data[26]
    if command not in _COMMANDS:
        raise FrameError(
            "command",
            f"command byte {command} is not 1–6",
            header=_read_header(data),
            raw=data,
        )
    adu_bytes = data[HEADER_SIZE:-TRAILER_SIZE]
    try:
        adu = decode_adu(adu_bytes) if declared else _EMPTY_ADU
    except FrameError as exc:
        raise FrameError(exc.kind, exc.message, header=_read_header(data), raw=data) from None
    try:
        sent_at: datetime | None = decode_time_label(data[6:12])
    except FrameError:
        sent_at = None
    return Frame(
        serial=data[2] | data[3] << 8,
        version=(data[4], data[5]),
        sent_at=sent_at,
        source=int.from_bytes(data[12:18], "little"),
        destination=int.from_bytes(data[18:24], "little"),
        adu_length=declared,
        command=command,
        adu_bytes=adu_bytes,
        adu=adu,
        raw=data,
    )


def _answer(header: Header, command: Command, sent_at: datetime | None) -> bytes:
    # GB/T 26875.3-2011 表 1: the answer carries the serial of the frame it answers; it goes back
    # to where the frame came from, with an empty ADU.
    return encode_frame(
        command=command,
        serial=header.serial,
        source=header.destination,
        destination=header.source,
        sent_at=sent_at,
        version=header.version,
    )


def ack_for(header: Header, *, sent_at: datetime | None = None) -> bytes:
    """The confirm (确认, command 3) answering a frame or a header."""
    return _answer(header, Command.CONFIRM, sent_at)


def nak_for(header: Header, *, sent_at: datetime | None = None) -> bytes:
    """The deny (否认, command 6) answering a frame, or the header of a rejected one."""
    return _answer(header, Command.DENY, sent_at)


class _Clock:
    """The time label of the current second and its byte sum, worked out once a second: a
    gateway confirms thousands of frames a second, each stamped with the time it is sent."""

    second = -1
    label = b""
    label_sum = 0

    @classmethod
    def now(cls) -> tuple[bytes, int]:
        second = int(time.time())
        if second != cls.second:
            # The same wall-clock reading as encode_frame's default, datetime.now().
            cls.label = encode_time_label(datetime.fromtimestamp(second))
            cls.label_sum = sum(cls.label)
            cls.second = second
        return cls.label, cls.label_sum


_CONFIRM_TAIL = bytes((0, 0, Command.CONFIRM))  # ADU length 0, command 3


def ack_for_raw(raw: bytes) -> bytes:
    """`ack_for(decode_frame(raw))`, stamped now, built from the bytes of a frame that decoded:
    serial and version copied, the addresses swapped, an empty ADU (GB/T 26875.3-2011 表 1)."""
    label, label_sum = _Clock.now()
    check = (sum(raw[2:6]) + label_sum + sum(raw[12:24]) + Command.CONFIRM) & 0xFF
    return b"".join(
        (START, raw[2:6], label, raw[18:24], raw[12:18], _CONFIRM_TAIL, bytes((check,)), END)
    )


def heartbeat(
    *,
    source: int,
    destination: int,
    serial: int = 0,
    sent_at: datetime | None = None,
    version: tuple[int, int] = DEFAULT_VERSION,
) -> bytes:
    """A "send data" frame with an empty ADU, the device's keep-alive."""
    return encode_frame(
        command=Command.SEND_DATA,
        serial=serial,
        source=source,
        destination=destination,
        sent_at=sent_at,
        version=version,
    )


class FrameReader:
    """Splits a TCP byte stream into frames. Feed it chunks as they arrive (a frame may be split
    over chunks, or several frames may share one); `feed` returns the complete frames and the
    errors in order, and never raises.

    A run of bytes before a start marker comes back as one FrameError("start") once the marker
    arrives (or on `flush`). A start marker whose frame has no end marker where its length says, or
    an over-long length, is reported and the search resumes one byte later, so a real frame behind
    a false "@@" is still found. Frames delimited correctly but failing the checksum, command or ADU
    checks are consumed whole and reported with their header, for a deny.
    """

    GARBAGE_SAMPLE = 64  # bytes of a garbage run kept for the log

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._garbage = bytearray()
        self._garbage_count = 0
        self._resyncing = False  # bytes after a reported false start are not reported again

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        buffer = self._buffer
        if not buffer and not self._garbage_count and _one_frame(data):
            # The usual TCP read: exactly one whole frame. Decoded in place, without copying it
            # through the buffer; the same result as the loop below.
            self._resyncing = False
            try:
                return [decode_frame(data)]
            except FrameError as exc:
                return [exc]
        buffer += data
        items: list[Frame | FrameError] = []
        while buffer:
            start = buffer.find(START)
            if start != 0:
                # A trailing "@" may be the first half of the next start marker.
                skip = start if start > 0 else len(buffer) - (1 if buffer.endswith(b"@") else 0)
                if skip == 0:
                    break
                if not self._resyncing:
                    self._garbage_count += skip
                    room = self.GARBAGE_SAMPLE - len(self._garbage)
                    self._garbage += buffer[: min(skip, max(room, 0))]
                del buffer[:skip]
                continue
            self._resyncing = False
            if self._garbage_count:
                items.append(self._garbage_error())
            if len(buffer) < HEADER_SIZE:
                break
            adu_length = buffer[24] | buffer[25] << 8
            if adu_length > MAX_ADU_SIZE:
                items.append(self._false_start("length", "ADU length over 1024"))
                continue
            size = MIN_FRAME_SIZE + adu_length
            if len(buffer) < size:
                break
            if buffer[size - 2 : size] != END:
                items.append(self._false_start("end", "no ## where the length ends"))
                continue
            raw = bytes(buffer[:size])
            del buffer[:size]
            try:
                items.append(decode_frame(raw))
            except FrameError as exc:
                items.append(exc)
        return items

    def flush(self) -> list[FrameError]:
        """At the end of the stream: report pending garbage and an unfinished frame."""
        items: list[FrameError] = []
        if self._garbage_count:
            items.append(self._garbage_error())
        if self._buffer:
            items.append(
                FrameError(
                    "truncated",
                    f"stream ended inside a frame ({len(self._buffer)} byte(s))",
                    raw=bytes(self._buffer),
                )
            )
            self._buffer.clear()
        self._resyncing = False
        return items

    def _garbage_error(self) -> FrameError:
        error = FrameError(
            "start", f"skipped {self._garbage_count} byte(s) before @@", raw=bytes(self._garbage)
        )
        self._garbage.clear()
        self._garbage_count = 0
        return error

    def _false_start(self, kind: FrameErrorKind, message: str) -> FrameError:
        raw = bytes(self._buffer[:HEADER_SIZE])
        del self._buffer[:1]
        self._resyncing = True
        return FrameError(kind, message, header=_read_header(raw), raw=raw)


def _one_frame(data: bytes) -> bool:
    """Whether `data` is delimited as exactly one frame: start marker, a length within bounds
    that accounts for every byte, end marker (the frame's own checks are decode_frame's)."""
    size = len(data)
    return (
        size >= MIN_FRAME_SIZE
        and data[:2] == START
        and (data[24] | data[25] << 8) <= MAX_ADU_SIZE
        and size == MIN_FRAME_SIZE + (data[24] | data[25] << 8)
        and data[-2:] == END
    )
