"""GB/T 26875.3-2011 《城市消防远程监控系统 第3部分：报警传输网络通信协议》: the protocol between a
用户信息传输装置 (user information transmission device, "collector" in code) and the 监控中心
(monitoring centre). Pure Python, no Django.

Frame (§6.6, 表 1), multi-byte integers little-endian::

    "@@" | serial u16 | version major,minor | time label 6 | source u48 | destination u48
         | ADU length u16 (≤ 1024) | command u8 | ADU | checksum u8 | "##"

The 27-byte header plus 3-byte trailer frame an ADU of up to 1024 bytes. The checksum is the 8-bit
sum of every byte from the serial number through the end of the ADU. Commands (表 2): 1 control,
2 send data, 3 confirm, 4 request, 5 reply, 6 deny. A confirm or deny answers with the serial of the
frame it answers and an empty ADU; a "send data" frame with an empty ADU is a heartbeat.

Time labels (§8.2.2) are six binary bytes: second, minute, hour, day, month, year − 2000, in the
sender's local time.

ADU (§7, §8): type flag u8, object count u8, then the objects. Upstream objects (§8.2.1, §8.3.1):

    1  system status      system type, system address, status u16, time
    2  component status   system type, address, component type, component address u32,
                          status u16, description (31 bytes GB 18030), time
    3  analog value       system type, address, component type, component address u32,
                          analog type u8, value i16 (in the type's smallest unit, 表 6), time
    4  operation          system type, address, operation flags u8, operator u8, time
    5  software version   system type, address, major u8, minor u8
    6  system config      system type, address, length L u8, L bytes GB 18030
    7  component config   system type, address, component type, component address u32,
                          description (31 bytes)
    8  system time        system type, address, time
    21 device status u8, time       24 device operation flags u8, operator u8, time
    25 device major, minor          26 device length L, L bytes      28 device time

Downstream (§8.3.2): 61/65/66/68 system type, address; 62/63/67 system type, address, component
address u32; 64 system type, address, count u8, start time; 84 count u8, start time; 81/85/86/88/89
one reserved byte (0); 90 the time to set; 91 inspection timeout in minutes. 61–88 go out as
requests, 89–91 as control commands. Types 128–254 are manufacturer-defined and kept raw.

Public API: `decode_frame`, `encode_frame`, `ack_for`, `nak_for`, `heartbeat`, `FrameReader` (the
stream splitter), `Frame`/`Header`, `FrameError(kind, message)`, `Adu` and the information-object
dataclasses, `decode_adu`, and the code tables and name look-ups of `codes`.
"""

from devices.gb26875.adu import (
    OBJECT_TYPES,
    Adu,
    AnalogValue,
    CollectorConfig,
    CollectorOperation,
    CollectorOperationQuery,
    CollectorStatus,
    CollectorTime,
    CollectorVersion,
    ComponentConfig,
    ComponentRef,
    ComponentStatus,
    InfoObject,
    Inspection,
    Operation,
    OperationQuery,
    ReservedByte,
    SoftwareVersion,
    SystemConfig,
    SystemRef,
    SystemStatus,
    SystemTime,
    VendorPayload,
    decode_adu,
    decode_time_label,
    encode_time_label,
    format_time,
)
from devices.gb26875.codes import (
    AnalogType,
    BitFlag,
    CodeName,
    Command,
    InfoType,
    analog_type,
    bit_labels,
    bit_names,
    command_name,
    component_type_name,
    downstream_command,
    info_type_name,
    system_type_name,
)
from devices.gb26875.errors import FRAME_ERROR_KINDS, FrameError, FrameErrorKind
from devices.gb26875.frame import (
    DEFAULT_VERSION,
    MAX_ADU_SIZE,
    Frame,
    FrameReader,
    Header,
    ack_for,
    ack_for_raw,
    checksum,
    decode_frame,
    encode_frame,
    heartbeat,
    nak_for,
)

__all__ = [
    "DEFAULT_VERSION",
    "FRAME_ERROR_KINDS",
    "MAX_ADU_SIZE",
    "OBJECT_TYPES",
    "Adu",
    "AnalogType",
    "AnalogValue",
    "BitFlag",
    "CodeName",
    "CollectorConfig",
    "CollectorOperation",
    "CollectorOperationQuery",
    "CollectorStatus",
    "CollectorTime",
    "CollectorVersion",
    "Command",
    "ComponentConfig",
    "ComponentRef",
    "ComponentStatus",
    "Frame",
    "FrameError",
    "FrameErrorKind",
    "FrameReader",
    "Header",
    "InfoObject",
    "InfoType",
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
    "ack_for",
    "ack_for_raw",
    "analog_type",
    "bit_labels",
    "bit_names",
    "checksum",
    "command_name",
    "component_type_name",
    "decode_adu",
    "decode_frame",
    "decode_time_label",
    "downstream_command",
    "encode_frame",
    "encode_time_label",
    "format_time",
    "heartbeat",
    "info_type_name",
    "nak_for",
    "system_type_name",
]
