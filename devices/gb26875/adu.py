"""Application data unit (ADU): type flag, object count, information objects (GB/T 26875.3-2011 §7,
§8).

Every information object is a frozen dataclass whose fields carry their wire format in the field
metadata, in wire order; one generic reader and writer walk them. Several downstream types share a
layout (e.g. 61, 65, 66 and 68 all name a system), so `OBJECT_TYPES` maps type flags to classes.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self

from devices.gb26875 import codes
from devices.gb26875.codes import (
    COLLECTOR_OPERATION_BITS,
    COLLECTOR_STATUS_BITS,
    COMPONENT_STATUS_BITS,
    OPERATION_BITS,
    SYSTEM_STATUS_BITS,
    BitFlag,
    InfoType,
    analog_type,
    bit_names,
    component_type_name,
    info_type_name,
    is_vendor_info_type,
    system_type_name,
)
from devices.gb26875.errors import FrameError

__all__ = [
    "DESCRIPTION_SIZE",
    "OBJECT_TYPES",
    "Adu",
    "AnalogValue",
    "CollectorConfig",
    "CollectorOperation",
    "CollectorOperationQuery",
    "CollectorStatus",
    "CollectorTime",
    "CollectorVersion",
    "ComponentConfig",
    "ComponentRef",
    "ComponentStatus",
    "InfoObject",
    "Inspection",
    "Operation",
    "OperationQuery",
    "ReservedByte",
    "SoftwareVersion",
    "SystemConfig",
    "SystemRef",
    "SystemStatus",
    "SystemTime",
    "VendorPayload",
    "decode_adu",
    "decode_time_label",
    "encode_time_label",
    "format_time",
]

TIME_LABEL_SIZE = 6
# GB/T 26875.3-2011 §8.2.1.2 and §8.2.1.7: a component description is 31 bytes of GB 18030.
DESCRIPTION_SIZE = 31
TEXT_ENCODING = "gb18030"


def decode_time_label(data: bytes) -> datetime:
    """GB/T 26875.3-2011 §8.2.2: six binary bytes second, minute, hour, day, month, year (0–99)."""
    second, minute, hour, day, month, year = data
    try:
        if year > 99:
            raise ValueError("year byte above 99")
        return datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise FrameError("adu", f"invalid time label {data.hex(' ')} ({exc})") from None


def encode_time_label(moment: datetime) -> bytes:
    """The standard's labels carry no time zone: devices send their local wall-clock time."""
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"a time label holds the years 2000–2099, not {moment.year}")
    return bytes(
        (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year - 2000)
    )


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None and moment.year >= 1000:
        return moment.isoformat(timespec="seconds")  # the same text, at a fraction of the cost
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _take(data: bytes, pos: int, size: int) -> bytes:
    end = pos + size
    if end > len(data):
        raise FrameError("length", "the information objects run past the end of the ADU")
    return data[pos:end]


_TEXTS: dict[bytes, str] = {}
_TEXTS_KEPT = 50_000  # descriptions remembered (a few MB), then forgotten all at once


def _decode_text(raw: bytes) -> str:
    # A device sends the same few descriptions (its points' labels) again and again, and the
    # GB 18030 decoder costs more than the rest of a frame: each is decoded once.
    text = _TEXTS.get(raw)
    if text is None:
        if len(_TEXTS) >= _TEXTS_KEPT:
            _TEXTS.clear()
        # Firmware written in C ends the text with NUL and may leave garbage after it; GB 18030
        # multi-byte sequences never contain 0x00, so cutting at the first NUL is safe.
        # Undecodable bytes are replaced rather than rejected: a fire alarm must not be lost
        # over its label.
        text = raw.split(b"\x00", 1)[0].decode(TEXT_ENCODING, errors="replace").strip()
        _TEXTS[bytes(raw)] = text
    return text


def _encode_text(text: str, limit: int) -> bytes:
    if "\x00" in text:
        raise ValueError("a description cannot contain NUL")
    encoded = text.encode(TEXT_ENCODING)
    if len(encoded) > limit:
        raise ValueError(f"description is {len(encoded)} bytes in GB 18030, at most {limit}")
    return encoded


class _Wire(Protocol):
    def read(self, data: bytes, pos: int) -> tuple[Any, int]: ...

    def write(self, value: Any) -> bytes: ...


@dataclass(frozen=True)
class _Int:
    size: int
    signed: bool = False

    def read(self, data: bytes, pos: int) -> tuple[Any, int]:
        raw = _take(data, pos, self.size)
        return int.from_bytes(raw, "little", signed=self.signed), pos + self.size

    def write(self, value: Any) -> bytes:
        if not isinstance(value, int):
            raise ValueError(f"{value!r} is not an integer")
        try:
            return value.to_bytes(self.size, "little", signed=self.signed)
        except OverflowError:
            raise ValueError(f"{value} does not fit in {self.size} byte(s)") from None


class _Time:
    def read(self, data: bytes, pos: int) -> tuple[Any, int]:
        return decode_time_label(_take(data, pos, TIME_LABEL_SIZE)), pos + TIME_LABEL_SIZE

    def write(self, value: Any) -> bytes:
        return encode_time_label(value)


class _FixedText:
    def read(self, data: bytes, pos: int) -> tuple[Any, int]:
        return _decode_text(_take(data, pos, DESCRIPTION_SIZE)), pos + DESCRIPTION_SIZE

    def write(self, value: Any) -> bytes:
        return _encode_text(value, DESCRIPTION_SIZE).ljust(DESCRIPTION_SIZE, b"\x00")


class _PrefixedText:
    """GB/T 26875.3-2011 §8.2.1.6 and §8.2.1.11: a length byte L (0–255), then L bytes."""

    def read(self, data: bytes, pos: int) -> tuple[Any, int]:
        size = _take(data, pos, 1)[0]
        return _decode_text(_take(data, pos + 1, size)), pos + 1 + size

    def write(self, value: Any) -> bytes:
        encoded = _encode_text(value, 255)
        return bytes((len(encoded),)) + encoded


def _wire(item: dataclasses.Field[Any]) -> _Wire:
    wire: _Wire = item.metadata["wire"]
    return wire


_LAYOUTS: dict[type, tuple[tuple[str, _Wire], ...]] = {}


def _layout(cls: type) -> tuple[tuple[str, _Wire], ...]:
    """(field name, wire format) in wire order, computed once per class: a gateway decodes
    thousands of objects a second and dataclasses.fields() is slow."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = tuple((f.name, _wire(f)) for f in dataclasses.fields(cls))
    return layout


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(name for name, _wire in _layout(cls))
    return names


_FixedReader = tuple[struct.Struct, tuple[Callable[[Any], Any] | None, ...]]
_FIXED_READERS: dict[type, _FixedReader | None] = {}


def _fixed_reader(cls: type) -> _FixedReader | None:
    """One struct for a class whose fields all have a fixed size (all but the length-prefixed
    texts), with the conversion of each unpacked value (None: kept as unpacked). The same values
    as the field-by-field read, in one call instead of one per field."""
    if cls in _FIXED_READERS:
        return _FIXED_READERS[cls]
    codes_: list[str] = []
    conversions: list[Callable[[Any], Any] | None] = []
    reader: _FixedReader | None = None
    for _name, wire in _layout(cls):
        if isinstance(wire, _Int) and wire.size in _INT_CODES:
            code = _INT_CODES[wire.size]
            codes_.append(code.lower() if wire.signed else code)
            conversions.append(None)
        elif isinstance(wire, _Time):
            codes_.append(f"{TIME_LABEL_SIZE}s")
            conversions.append(decode_time_label)
        elif isinstance(wire, _FixedText):
            codes_.append(f"{DESCRIPTION_SIZE}s")
            conversions.append(_decode_text)
        else:
            break
    else:
        reader = (struct.Struct("<" + "".join(codes_)), tuple(conversions))
    _FIXED_READERS[cls] = reader
    return reader


_INT_CODES = {1: "B", 2: "H", 4: "I"}

# Field metadata naming each field's wire format: `x: int = field(metadata=_U8)`.
_U8 = {"wire": _Int(1)}
_U16 = {"wire": _Int(2)}
_U32 = {"wire": _Int(4)}
_I16 = {"wire": _Int(2, signed=True)}
_TIME = {"wire": _Time()}
_DESCRIPTION = {"wire": _FixedText()}
_TEXT = {"wire": _PrefixedText()}


@dataclass(frozen=True)
class InfoObject:
    """Base of the information objects; subclasses list their fields in wire order."""

    STATUS_BITS: ClassVar[tuple[BitFlag, ...]] = ()
    OPERATION_BITS: ClassVar[tuple[BitFlag, ...]] = ()

    @classmethod
    def read(cls, data: bytes, pos: int) -> tuple[Self, int]:
        fixed = _fixed_reader(cls)
        # Only when the whole object is there: a short ADU goes field by field, for its error.
        if fixed is not None and pos + fixed[0].size <= len(data):
            layout, conversions = fixed
            unpacked = layout.unpack_from(data, pos)
            return cls(
                *[
                    value if convert is None else convert(value)
                    for value, convert in zip(unpacked, conversions, strict=True)
                ]
            ), pos + layout.size
        return cls.read_by_field(data, pos)

    @classmethod
    def read_by_field(cls, data: bytes, pos: int) -> tuple[Self, int]:
        """`read`, one field at a time: the reference the one-struct read must match."""
        values: dict[str, Any] = {}
        for name, wire in _layout(cls):
            values[name], pos = wire.read(data, pos)
        return cls(**values), pos

    def to_bytes(self) -> bytes:
        return b"".join(wire.write(getattr(self, name)) for name, wire in _layout(type(self)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as "YYYY-MM-DDTHH:MM:SS", codes with their Chinese names, status and
        operation flags also as lists of the English names of the bits set."""
        values = self.__dict__
        out: dict[str, Any] = {}
        for name in _names(type(self)):
            value = values[name]
            out[name] = format_time(value) if isinstance(value, datetime) else value
        if "system_type" in out:
            out["system_type_name"] = system_type_name(out["system_type"])
        if "component_type" in out:
            out["component_type_name"] = component_type_name(out["component_type"])
        if self.STATUS_BITS:
            out["status_bits"] = _bit_names(out["status"], self.STATUS_BITS)
        if self.OPERATION_BITS:
            out["operation_bits"] = _bit_names(out["operation"], self.OPERATION_BITS)
        return out


_BIT_NAMES: dict[tuple[int, int], tuple[str, ...]] = {}


def _bit_names(value: int, table: tuple[BitFlag, ...]) -> list[str]:
    # bit_names(), remembered: a gateway sees the same few status words all day. Bounded by
    # the status word's 16 bits per table.
    key = (id(table), value)
    names = _BIT_NAMES.get(key)
    if names is None:
        names = _BIT_NAMES[key] = tuple(bit_names(value, table))
    return list(names)


# Upstream (用户信息传输装置 → 监控中心), GB/T 26875.3-2011 §8.2.1 and §8.3.1.


@dataclass(frozen=True)
class SystemStatus(InfoObject):
    """Type 1 (§8.2.1.1): 4 bytes plus the time the state occurred."""

    STATUS_BITS = SYSTEM_STATUS_BITS

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    status: int = field(metadata=_U16)
    occurred_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class ComponentStatus(InfoObject):
    """Type 2 (§8.2.1.2): 40 bytes plus the time the state occurred."""

    STATUS_BITS = COMPONENT_STATUS_BITS

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    component_type: int = field(metadata=_U8)
    component_address: int = field(metadata=_U32)
    status: int = field(metadata=_U16)
    description: str = field(metadata=_DESCRIPTION)
    occurred_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class AnalogValue(InfoObject):
    """Type 3 (§8.2.1.3): 10 bytes plus the sampling time. `raw_value` counts the analog type's
    smallest unit (表 6); `value` is the scaled reading in `unit`."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    component_type: int = field(metadata=_U8)
    component_address: int = field(metadata=_U32)
    analog_type: int = field(metadata=_U8)
    raw_value: int = field(metadata=_I16)
    occurred_at: datetime = field(metadata=_TIME)

    @property
    def value(self) -> float:
        decimals = analog_type(self.analog_type).decimals
        return round(self.raw_value / 10**decimals, decimals)

    @property
    def unit(self) -> str:
        return analog_type(self.analog_type).unit

    @classmethod
    def from_value(
        cls,
        *,
        system_type: int,
        system_address: int,
        component_type: int,
        component_address: int,
        analog_type: int,
        value: float,
        occurred_at: datetime,
    ) -> AnalogValue:
        """Build from a reading in the analog type's unit, rounded to its smallest unit."""
        raw = round(value * 10 ** codes.analog_type(analog_type).decimals)
        return cls(
            system_type=system_type,
            system_address=system_address,
            component_type=component_type,
            component_address=component_address,
            analog_type=analog_type,
            raw_value=raw,
            occurred_at=occurred_at,
        )

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["analog_type_name"] = analog_type(self.analog_type).zh
        out["value"] = float(self.value)
        out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class Operation(InfoObject):
    """Type 4 (§8.2.1.4): 4 bytes plus the time the operation was recorded."""

    OPERATION_BITS = OPERATION_BITS

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    operation: int = field(metadata=_U8)
    operator: int = field(metadata=_U8)
    occurred_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class SoftwareVersion(InfoObject):
    """Type 5 (§8.2.1.5): 4 bytes, no time label."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    major: int = field(metadata=_U8)
    minor: int = field(metadata=_U8)


@dataclass(frozen=True)
class SystemConfig(InfoObject):
    """Type 6 (§8.2.1.6): system type, address, then a length-prefixed description; no time."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    description: str = field(metadata=_TEXT)


@dataclass(frozen=True)
class ComponentConfig(InfoObject):
    """Type 7 (§8.2.1.7): 38 bytes, no time label."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    component_type: int = field(metadata=_U8)
    component_address: int = field(metadata=_U32)
    description: str = field(metadata=_DESCRIPTION)


@dataclass(frozen=True)
class SystemTime(InfoObject):
    """Type 8 (§8.3.1.8): the facility's clock."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    system_time: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class CollectorStatus(InfoObject):
    """Type 21 (§8.2.1.8): 1 byte plus the time the state occurred."""

    STATUS_BITS = COLLECTOR_STATUS_BITS

    status: int = field(metadata=_U8)
    occurred_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class CollectorOperation(InfoObject):
    """Type 24 (§8.2.1.9): 2 bytes plus the time the operation was recorded."""

    OPERATION_BITS = COLLECTOR_OPERATION_BITS

    operation: int = field(metadata=_U8)
    operator: int = field(metadata=_U8)
    occurred_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class CollectorVersion(InfoObject):
    """Type 25 (§8.2.1.10)."""

    major: int = field(metadata=_U8)
    minor: int = field(metadata=_U8)


@dataclass(frozen=True)
class CollectorConfig(InfoObject):
    """Type 26 (§8.2.1.11): a length-prefixed description."""

    description: str = field(metadata=_TEXT)


@dataclass(frozen=True)
class CollectorTime(InfoObject):
    """Type 28 (§8.3.1.13), the device's clock; also type 90 (§8.3.2.15), the time to set."""

    system_time: datetime = field(metadata=_TIME)


# Downstream (监控中心 → 用户信息传输装置), GB/T 26875.3-2011 §8.3.2.


@dataclass(frozen=True)
class SystemRef(InfoObject):
    """Types 61, 65, 66, 68: which facility system to read."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)


@dataclass(frozen=True)
class ComponentRef(InfoObject):
    """Types 62, 63, 67: which component to read (the standard sends no component type)."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    component_address: int = field(metadata=_U32)


@dataclass(frozen=True)
class OperationQuery(InfoObject):
    """Type 64 (§8.3.2.4): up to `count` operation records of a system from `start_at` on."""

    system_type: int = field(metadata=_U8)
    system_address: int = field(metadata=_U8)
    count: int = field(metadata=_U8)
    start_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class CollectorOperationQuery(InfoObject):
    """Type 84 (§8.3.2.10): up to `count` of the device's operation records from `start_at` on."""

    count: int = field(metadata=_U8)
    start_at: datetime = field(metadata=_TIME)


@dataclass(frozen=True)
class ReservedByte(InfoObject):
    """Types 81, 85, 86, 88, 89: the object is one reserved byte, 0."""

    reserved: int = field(metadata=_U8)


@dataclass(frozen=True)
class Inspection(InfoObject):
    """Type 91 (§8.3.2.16), 查岗: the duty officer must answer within `timeout_minutes`."""

    timeout_minutes: int = field(metadata=_U8)


@dataclass(frozen=True)
class VendorPayload(InfoObject):
    """Types 128–254 are manufacturer-defined: the object count and the bytes after it, as sent."""

    count: int = 0
    payload: bytes = b""

    def to_bytes(self) -> bytes:
        return self.payload

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "payload": self.payload.hex(" ").upper()}


OBJECT_TYPES: dict[int, type[InfoObject]] = {
    InfoType.SYSTEM_STATUS: SystemStatus,
    InfoType.COMPONENT_STATUS: ComponentStatus,
    InfoType.COMPONENT_ANALOG: AnalogValue,
    InfoType.OPERATION: Operation,
    InfoType.SOFTWARE_VERSION: SoftwareVersion,
    InfoType.SYSTEM_CONFIG: SystemConfig,
    InfoType.COMPONENT_CONFIG: ComponentConfig,
    InfoType.SYSTEM_TIME: SystemTime,
    InfoType.COLLECTOR_STATUS: CollectorStatus,
    InfoType.COLLECTOR_OPERATION: CollectorOperation,
    InfoType.COLLECTOR_VERSION: CollectorVersion,
    InfoType.COLLECTOR_CONFIG: CollectorConfig,
    InfoType.COLLECTOR_TIME: CollectorTime,
    InfoType.READ_SYSTEM_STATUS: SystemRef,
    InfoType.READ_COMPONENT_STATUS: ComponentRef,
    InfoType.READ_COMPONENT_ANALOG: ComponentRef,
    InfoType.READ_OPERATIONS: OperationQuery,
    InfoType.READ_SOFTWARE_VERSION: SystemRef,
    InfoType.READ_SYSTEM_CONFIG: SystemRef,
    InfoType.READ_COMPONENT_CONFIG: ComponentRef,
    InfoType.READ_SYSTEM_TIME: SystemRef,
    InfoType.READ_COLLECTOR_STATUS: ReservedByte,
    InfoType.READ_COLLECTOR_OPERATIONS: CollectorOperationQuery,
    InfoType.READ_COLLECTOR_VERSION: ReservedByte,
    InfoType.READ_COLLECTOR_CONFIG: ReservedByte,
    InfoType.READ_COLLECTOR_TIME: ReservedByte,
    InfoType.INIT_COLLECTOR: ReservedByte,
    InfoType.SYNC_COLLECTOR_TIME: CollectorTime,
    InfoType.INSPECTION: Inspection,
}


@dataclass(frozen=True)
class Adu:
    """An application data unit. `type` is None for the empty ADU of a heartbeat, confirm or deny
    (GB/T 26875.3-2011 表 1: 对于确认/否认等命令包，此单元可为空)."""

    type: int | None = None
    objects: tuple[InfoObject, ...] = ()

    def to_bytes(self) -> bytes:
        if self.type is None:
            if self.objects:
                raise ValueError("an empty ADU (type None) has no objects")
            return b""
        if is_vendor_info_type(self.type):
            if len(self.objects) != 1 or not isinstance(self.objects[0], VendorPayload):
                raise ValueError("a vendor-defined ADU holds exactly one VendorPayload")
            vendor = self.objects[0]
            return bytes((self.type, vendor.count)) + vendor.payload
        expected = OBJECT_TYPES.get(self.type)
        if expected is None:
            raise ValueError(f"information type {self.type} is reserved by the standard")
        if len(self.objects) > 255:
            raise ValueError("the object count is one byte: at most 255 objects")
        for obj in self.objects:
            if type(obj) is not expected:
                raise ValueError(f"type {self.type} carries {expected.__name__} objects")
        return bytes((self.type, len(self.objects))) + b"".join(
            obj.to_bytes() for obj in self.objects
        )

    def as_dicts(self) -> list[dict[str, Any]]:
        return [obj.as_dict() for obj in self.objects]

    @property
    def type_name(self) -> str | None:
        return None if self.type is None else info_type_name(self.type)


def decode_adu(data: bytes) -> Adu:
    """Decode an ADU. Raises FrameError "length" when the objects do not fill the ADU exactly and
    "adu" for a reserved type flag or an impossible time label."""
    if not data:
        return Adu()
    if len(data) == 1:
        raise FrameError("length", "the ADU has a type flag but no object count")
    type_flag, count = data[0], data[1]
    if is_vendor_info_type(type_flag):
        return Adu(type_flag, (VendorPayload(count=count, payload=bytes(data[2:])),))
    cls = OBJECT_TYPES.get(type_flag)
    if cls is None:
        raise FrameError("adu", f"information type {type_flag} is reserved by the standard")
    objects: list[InfoObject] = []
    pos = 2
    for _ in range(count):
        obj, pos = cls.read(data, pos)
        objects.append(obj)
    if pos != len(data):
        raise FrameError(
            "length", f"{len(data) - pos} byte(s) left over after {count} information object(s)"
        )
    return Adu(type_flag, tuple(objects))
