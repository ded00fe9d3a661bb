"""Code tables of GB/T 26875.3-2011 with Chinese (the standard's wording) and English names.

Each table is defined once here; the codec and the CLI look names up through the helpers at the
end, which never raise: a code the standard reserves is named 预留 ("reserved"), a code in the
range the standard leaves to manufacturers is named 厂商自定义 ("vendor_defined") and kept raw.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "ANALOG_TYPES",
    "COLLECTOR_OPERATION_BITS",
    "COLLECTOR_STATUS_BITS",
    "COMMAND_NAMES",
    "COMPONENT_STATUS_BITS",
    "COMPONENT_TYPES",
    "INFO_TYPE_NAMES",
    "OPERATION_BITS",
    "SYSTEM_STATUS_BITS",
    "SYSTEM_TYPES",
    "AnalogType",
    "BitFlag",
    "CodeName",
    "Command",
    "InfoType",
    "analog_type",
    "bit_labels",
    "bit_names",
    "command_name",
    "component_type_name",
    "downstream_command",
    "info_type_name",
    "is_vendor_info_type",
    "system_type_name",
]


class CodeName(NamedTuple):
    zh: str
    en: str


RESERVED = CodeName("预留", "reserved")
VENDOR_DEFINED = CodeName("厂商自定义", "vendor_defined")


class Command(IntEnum):
    """Command byte of the control unit (GB/T 26875.3-2011 §6.6, 表 2)."""

    CONTROL = 1
    SEND_DATA = 2
    CONFIRM = 3
    REQUEST = 4
    REPLY = 5
    DENY = 6


COMMAND_NAMES: dict[int, CodeName] = {
    Command.CONTROL: CodeName("控制命令", "control"),
    Command.SEND_DATA: CodeName("发送数据", "send_data"),
    Command.CONFIRM: CodeName("确认", "confirm"),
    Command.REQUEST: CodeName("请求", "request"),
    Command.REPLY: CodeName("应答", "reply"),
    Command.DENY: CodeName("否认", "deny"),
}


class InfoType(IntEnum):
    """Type flag of the application data unit (GB/T 26875.3-2011 §8.1.1, 表 3)."""

    SYSTEM_STATUS = 1
    COMPONENT_STATUS = 2
    COMPONENT_ANALOG = 3
    OPERATION = 4
    SOFTWARE_VERSION = 5
    SYSTEM_CONFIG = 6
    COMPONENT_CONFIG = 7
    SYSTEM_TIME = 8
    COLLECTOR_STATUS = 21
    COLLECTOR_OPERATION = 24
    COLLECTOR_VERSION = 25
    COLLECTOR_CONFIG = 26
    COLLECTOR_TIME = 28
    READ_SYSTEM_STATUS = 61
    READ_COMPONENT_STATUS = 62
    READ_COMPONENT_ANALOG = 63
    READ_OPERATIONS = 64
    READ_SOFTWARE_VERSION = 65
    READ_SYSTEM_CONFIG = 66
    READ_COMPONENT_CONFIG = 67
    READ_SYSTEM_TIME = 68
    READ_COLLECTOR_STATUS = 81
    READ_COLLECTOR_OPERATIONS = 84
    READ_COLLECTOR_VERSION = 85
    READ_COLLECTOR_CONFIG = 86
    READ_COLLECTOR_TIME = 88
    INIT_COLLECTOR = 89
    SYNC_COLLECTOR_TIME = 90
    INSPECTION = 91


# "Collector" is the 用户信息传输装置 (user information transmission device); the standard calls
# the building's fire installations 建筑消防设施.
INFO_TYPE_NAMES: dict[int, CodeName] = {
    InfoType.SYSTEM_STATUS: CodeName("上传建筑消防设施系统状态", "system_status"),
    InfoType.COMPONENT_STATUS: CodeName("上传建筑消防设施部件运行状态", "component_status"),
    InfoType.COMPONENT_ANALOG: CodeName("上传建筑消防设施部件模拟量值", "component_analog"),
    InfoType.OPERATION: CodeName("上传建筑消防设施操作信息", "operation"),
    InfoType.SOFTWARE_VERSION: CodeName("上传建筑消防设施软件版本", "software_version"),
    InfoType.SYSTEM_CONFIG: CodeName("上传建筑消防设施系统配置情况", "system_config"),
    InfoType.COMPONENT_CONFIG: CodeName("上传建筑消防设施部件配置情况", "component_config"),
    InfoType.SYSTEM_TIME: CodeName("上传建筑消防设施系统时间", "system_time"),
    InfoType.COLLECTOR_STATUS: CodeName("上传用户信息传输装置运行状态", "collector_status"),
    InfoType.COLLECTOR_OPERATION: CodeName("上传用户信息传输装置操作信息", "collector_operation"),
    InfoType.COLLECTOR_VERSION: CodeName("上传用户信息传输装置软件版本", "collector_version"),
    InfoType.COLLECTOR_CONFIG: CodeName("上传用户信息传输装置配置情况", "collector_config"),
    InfoType.COLLECTOR_TIME: CodeName("上传用户信息传输装置系统时间", "collector_time"),
    InfoType.READ_SYSTEM_STATUS: CodeName("读建筑消防设施系统状态", "read_system_status"),
    InfoType.READ_COMPONENT_STATUS: CodeName("读建筑消防设施部件运行状态", "read_component_status"),
    InfoType.READ_COMPONENT_ANALOG: CodeName("读建筑消防设施部件模拟量值", "read_component_analog"),
    InfoType.READ_OPERATIONS: CodeName("读建筑消防设施操作信息记录", "read_operations"),
    InfoType.READ_SOFTWARE_VERSION: CodeName("读建筑消防设施软件版本", "read_software_version"),
    InfoType.READ_SYSTEM_CONFIG: CodeName("读建筑消防设施系统配置情况", "read_system_config"),
    InfoType.READ_COMPONENT_CONFIG: CodeName("读建筑消防设施部件配置情况", "read_component_config"),
    InfoType.READ_SYSTEM_TIME: CodeName("读建筑消防设施系统时间", "read_system_time"),
    InfoType.READ_COLLECTOR_STATUS: CodeName("读用户信息传输装置运行状态", "read_collector_status"),
    InfoType.READ_COLLECTOR_OPERATIONS: CodeName(
        "读用户信息传输装置操作信息记录", "read_collector_operations"
    ),
    InfoType.READ_COLLECTOR_VERSION: CodeName(
        "读用户信息传输装置软件版本", "read_collector_version"
    ),
    InfoType.READ_COLLECTOR_CONFIG: CodeName("读用户信息传输装置配置情况", "read_collector_config"),
    InfoType.READ_COLLECTOR_TIME: CodeName("读用户信息传输装置系统时间", "read_collector_time"),
    InfoType.INIT_COLLECTOR: CodeName("初始化用户信息传输装置", "init_collector"),
    InfoType.SYNC_COLLECTOR_TIME: CodeName("同步用户信息传输装置时钟", "sync_collector_time"),
    InfoType.INSPECTION: CodeName("查岗命令", "inspection"),
}


def is_vendor_info_type(code: int) -> bool:
    # GB/T 26875.3-2011 表 3: 128–254 are left to the user (manufacturer); their layout is unknown.
    return 128 <= code <= 254


def downstream_command(info_type: int) -> Command:
    """The command byte a monitoring centre sends a downstream type with.

    Reads (61–88) are requests answered by a reply; initialising the device, setting its clock and
    the inspection (89–91) are control commands answered by a confirm (GB/T 26875.3-2011 §6.2,
    §6.4 and 表 2: 控制命令 covers 时间同步)."""
    return Command.CONTROL if info_type >= InfoType.INIT_COLLECTOR else Command.REQUEST


# GB/T 26875.3-2011 §8.2.1.1, 表 4 (系统类型定义); 128–255 are user-defined.
SYSTEM_TYPES: dict[int, CodeName] = {
    0: CodeName("通用", "general"),
    1: CodeName("火灾报警系统", "fire_alarm_system"),
    10: CodeName("消防联动控制器", "fire_linkage_controller"),
    11: CodeName("消火栓系统", "hydrant_system"),
    12: CodeName("自动喷水灭火系统", "sprinkler_system"),
    13: CodeName("气体灭火系统", "gas_extinguishing_system"),
    14: CodeName("水喷雾灭火系统（泵启动方式）", "water_spray_system_pump_started"),
    15: CodeName("水喷雾灭火系统（压力容器启动方式）", "water_spray_system_vessel_started"),
    16: CodeName("泡沫灭火系统", "foam_extinguishing_system"),
    17: CodeName("干粉灭火系统", "dry_powder_extinguishing_system"),
    18: CodeName("防烟排烟系统", "smoke_control_system"),
    19: CodeName("防火门及卷帘系统", "fire_door_and_shutter_system"),
    20: CodeName("消防电梯", "fire_elevator"),
    21: CodeName("消防应急广播", "emergency_broadcast"),
    22: CodeName("消防应急照明和疏散指示系统", "emergency_lighting_and_evacuation"),
    23: CodeName("消防电源", "fire_power_supply"),
    24: CodeName("消防电话", "fire_telephone"),
}

# GB/T 26875.3-2011 §8.2.1.2, 表 5 (部件类型定义); 128–255 are user-defined.
COMPONENT_TYPES: dict[int, CodeName] = {
    0: CodeName("通用", "general"),
    1: CodeName("火灾报警控制器", "fire_alarm_controller"),
    10: CodeName("可燃气体探测器", "combustible_gas_detector"),
    11: CodeName("点型可燃气体探测器", "point_combustible_gas_detector"),
    12: CodeName("独立式可燃气体探测器", "standalone_combustible_gas_detector"),
    13: CodeName("线型可燃气体探测器", "line_combustible_gas_detector"),
    16: CodeName("电气火灾监控报警器", "electrical_fire_monitor"),
    17: CodeName("剩余电流式电气火灾监控探测器", "residual_current_fire_detector"),
    18: CodeName("测温式电气火灾监控探测器", "temperature_electrical_fire_detector"),
    21: CodeName("探测回路", "detection_loop"),
    22: CodeName("火灾显示盘", "fire_display_panel"),
    23: CodeName("手动火灾报警按钮", "manual_call_point"),
    24: CodeName("消火栓按钮", "hydrant_button"),
    25: CodeName("火灾探测器", "fire_detector"),
    30: CodeName("感温火灾探测器", "heat_detector"),
    31: CodeName("点型感温火灾探测器", "point_heat_detector"),
    32: CodeName("点型感温火灾探测器（S型）", "point_heat_detector_s"),
    33: CodeName("点型感温火灾探测器（R型）", "point_heat_detector_r"),
    34: CodeName("线型感温火灾探测器", "line_heat_detector"),
    35: CodeName("线型感温火灾探测器（S型）", "line_heat_detector_s"),
    36: CodeName("线型感温火灾探测器（R型）", "line_heat_detector_r"),
    37: CodeName("光纤感温火灾探测器", "optical_fibre_heat_detector"),
    40: CodeName("感烟火灾探测器", "smoke_detector"),
    41: CodeName("点型离子感烟火灾探测器", "point_ionisation_smoke_detector"),
    42: CodeName("点型光电感烟火灾探测器", "point_photoelectric_smoke_detector"),
    43: CodeName("线型光束感烟火灾探测器", "line_beam_smoke_detector"),
    44: CodeName("吸气式感烟火灾探测器", "aspirating_smoke_detector"),
    50: CodeName("复合式火灾探测器", "multi_sensor_detector"),
    51: CodeName("复合式感烟感温火灾探测器", "smoke_heat_detector"),
    52: CodeName("复合式感光感温火灾探测器", "flame_heat_detector"),
    53: CodeName("复合式感光感烟火灾探测器", "flame_smoke_detector"),
    61: CodeName("紫外火焰探测器", "ultraviolet_flame_detector"),
    62: CodeName("红外火焰探测器", "infrared_flame_detector"),
    69: CodeName("感光火灾探测器", "flame_detector"),
    74: CodeName("气体探测器", "gas_detector"),
    78: CodeName("图像摄像方式火灾探测器", "video_fire_detector"),
    79: CodeName("感声火灾探测器", "acoustic_fire_detector"),
    81: CodeName("气体灭火控制器", "gas_extinguishing_controller"),
    82: CodeName("消防电气控制装置", "fire_electrical_control_unit"),
    83: CodeName("消防控制室图形显示装置", "control_room_graphic_display"),
    84: CodeName("模块", "module"),
    85: CodeName("输入模块", "input_module"),
    86: CodeName("输出模块", "output_module"),
    87: CodeName("输入/输出模块", "input_output_module"),
    88: CodeName("中继模块", "repeater_module"),
    91: CodeName("消防水泵", "fire_pump"),
    92: CodeName("消防水箱", "fire_water_tank"),
    95: CodeName("喷淋泵", "sprinkler_pump"),
    96: CodeName("水流指示器", "water_flow_indicator"),
    97: CodeName("信号阀", "signal_valve"),
    98: CodeName("报警阀", "alarm_valve"),
    99: CodeName("压力开关", "pressure_switch"),
    101: CodeName("阀驱动装置", "valve_actuator"),
    102: CodeName("防火门", "fire_door"),
    103: CodeName("防火阀", "fire_damper"),
    104: CodeName("通风空调", "ventilation_air_conditioning"),
    105: CodeName("泡沫液泵", "foam_pump"),
    106: CodeName("管网电磁阀", "pipe_network_solenoid_valve"),
    111: CodeName("防烟排烟风机", "smoke_control_fan"),
    113: CodeName("排烟防火阀", "smoke_exhaust_fire_damper"),
    114: CodeName("常闭送风口", "normally_closed_air_inlet"),
    115: CodeName("排烟口", "smoke_vent"),
    116: CodeName("电控挡烟垂壁", "electric_smoke_curtain"),
    117: CodeName("防火卷帘控制器", "fire_shutter_controller"),
    118: CodeName("防火门监控器", "fire_door_monitor"),
    121: CodeName("警报装置", "alarm_sounder"),
}


class AnalogType(NamedTuple):
    zh: str
    en: str
    unit: str
    decimals: int  # the smallest unit is 10**-decimals of `unit`

    @property
    def resolution(self) -> float:
        return 10.0**-self.decimals


# GB/T 26875.3-2011 §8.2.1.3, 表 6: the 2-byte signed value counts the smallest unit (最小计量单元).
ANALOG_TYPES: dict[int, AnalogType] = {
    0: AnalogType("未用", "unused", "", 0),
    1: AnalogType("事件计数", "event_count", "件", 0),
    2: AnalogType("高度", "height", "m", 2),
    3: AnalogType("温度", "temperature", "℃", 1),
    4: AnalogType("压力", "pressure", "MPa", 1),
    5: AnalogType("压力", "pressure", "kPa", 1),
    6: AnalogType("气体浓度", "gas_concentration", "%LEL", 1),
    7: AnalogType("时间", "time", "s", 0),
    8: AnalogType("电压", "voltage", "V", 1),
    9: AnalogType("电流", "current", "A", 1),
    10: AnalogType("流量", "flow", "L/s", 1),
    11: AnalogType("风量", "air_volume", "m³/min", 1),
    12: AnalogType("风速", "wind_speed", "m/s", 0),
}


class BitFlag(NamedTuple):
    bit: int
    name: str  # English snake_case, used in JSON
    zh: str  # the standard's wording for the bit set to 1


# GB/T 26875.3-2011 §8.2.1.1 (system status) and §8.2.1.2 (component status) share bits 0–7.
_FACILITY_STATUS_BITS: tuple[BitFlag, ...] = (
    BitFlag(0, "normal", "正常运行状态"),
    BitFlag(1, "fire", "火警"),
    BitFlag(2, "fault", "故障"),
    BitFlag(3, "shielded", "屏蔽"),
    BitFlag(4, "supervisory", "监管"),
    BitFlag(5, "started", "启动（开启）"),
    BitFlag(6, "feedback", "反馈"),
    BitFlag(7, "delayed", "延时状态"),
)
SYSTEM_STATUS_BITS: tuple[BitFlag, ...] = (
    *_FACILITY_STATUS_BITS,
    BitFlag(8, "main_power_fault", "主电故障"),
    BitFlag(9, "backup_power_fault", "备电故障"),
    BitFlag(10, "bus_fault", "总线故障"),
    BitFlag(11, "manual", "手动状态"),
    BitFlag(12, "config_changed", "配置改变"),
    BitFlag(13, "reset", "复位"),
)
COMPONENT_STATUS_BITS: tuple[BitFlag, ...] = (
    *_FACILITY_STATUS_BITS,
    BitFlag(8, "power_fault", "电源故障"),
)
# GB/T 26875.3-2011 §8.2.1.8.
COLLECTOR_STATUS_BITS: tuple[BitFlag, ...] = (
    BitFlag(0, "normal", "正常监视状态"),
    BitFlag(1, "fire", "火警"),
    BitFlag(2, "fault", "故障"),
    BitFlag(3, "main_power_fault", "主电故障"),
    BitFlag(4, "backup_power_fault", "备电故障"),
    BitFlag(5, "channel_fault", "与监控中心通信信道故障"),
    BitFlag(6, "line_fault", "监测连接线路故障"),
)
# GB/T 26875.3-2011 §8.2.1.4 (facility) and §8.2.1.9 (device) differ only in bit 5.
OPERATION_BITS: tuple[BitFlag, ...] = (
    BitFlag(0, "reset", "复位"),
    BitFlag(1, "silence", "消音"),
    BitFlag(2, "manual_alarm", "手动报警"),
    BitFlag(3, "alarm_cleared", "警情消除"),
    BitFlag(4, "self_test", "自检"),
    BitFlag(5, "confirm", "确认"),
    BitFlag(6, "test", "测试"),
)
COLLECTOR_OPERATION_BITS: tuple[BitFlag, ...] = tuple(
    BitFlag(5, "inspection_reply", "查岗应答") if flag.bit == 5 else flag for flag in OPERATION_BITS
)


def _lookup(table: dict[int, CodeName], code: int) -> CodeName:
    if code in table:
        return table[code]
    return VENDOR_DEFINED if 128 <= code <= 255 else RESERVED


def _pick(name: CodeName, english: bool) -> str:
    return name.en if english else name.zh


def system_type_name(code: int, *, english: bool = False) -> str:
    return _pick(_lookup(SYSTEM_TYPES, code), english)


def component_type_name(code: int, *, english: bool = False) -> str:
    return _pick(_lookup(COMPONENT_TYPES, code), english)


def command_name(code: int, *, english: bool = False) -> str:
    return _pick(_lookup(COMMAND_NAMES, code), english)


def info_type_name(code: int, *, english: bool = False) -> str:
    if is_vendor_info_type(code):
        return _pick(VENDOR_DEFINED, english)
    return _pick(INFO_TYPE_NAMES.get(code, RESERVED), english)


def analog_type(code: int) -> AnalogType:
    """Unknown analog types keep their raw value (no unit, no scaling)."""
    if code in ANALOG_TYPES:
        return ANALOG_TYPES[code]
    name = VENDOR_DEFINED if 128 <= code <= 255 else RESERVED
    return AnalogType(name.zh, name.en, "", 0)


def bit_names(value: int, table: tuple[BitFlag, ...]) -> list[str]:
    """English names of the bits set in `value`; bits the standard reserves are ignored."""
    return [flag.name for flag in table if value >> flag.bit & 1]


def bit_labels(value: int, table: tuple[BitFlag, ...]) -> list[str]:
    """The standard's Chinese wording of the bits set in `value`."""
    return [flag.zh for flag in table if value >> flag.bit & 1]
