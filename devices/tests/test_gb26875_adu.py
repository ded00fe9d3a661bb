"""GB/T 26875.3-2011 application data units: every information type decoded from bytes written out
by hand from the standard's layouts (§8.2, §8.3), the code tables, and encode → decode round trips.
No database."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.gb26875 import (
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
    FrameError,
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
    analog_type,
    bit_labels,
    bit_names,
    command_name,
    component_type_name,
    decode_adu,
    downstream_command,
    info_type_name,
    system_type_name,
)
from devices.gb26875.codes import (
    COLLECTOR_OPERATION_BITS,
    COMPONENT_STATUS_BITS,
    OPERATION_BITS,
    SYSTEM_STATUS_BITS,
    Command,
)

# 2012-09-26 09:58:02 as a time label (§8.2.2: second, minute, hour, day, month, year - 2000).
LABEL = "02 3A 09 1A 09 0C"
MOMENT = datetime(2012, 9, 26, 9, 58, 2)
MOMENT_TEXT = "2012-09-26T09:58:02"


def adu(text: str) -> Adu:
    return decode_adu(bytes.fromhex(text))


def only_object(text: str) -> InfoObject:
    decoded = adu(text)
    assert len(decoded.objects) == 1
    return decoded.objects[0]


# Upstream types, one test each, bytes as laid out in §8.3.1.


def test_system_status_reports_fire_and_main_power_fault_with_its_time():
    decoded = adu(f"01 01  01 02  03 01  {LABEL}")
    assert decoded.type == 1
    assert decoded.objects == (
        SystemStatus(system_type=1, system_address=2, status=0x0103, occurred_at=MOMENT),
    )
    assert decoded.as_dicts() == [
        {
            "system_type": 1,
            "system_type_name": "火灾报警系统",
            "system_address": 2,
            "status": 0x0103,
            "status_bits": ["normal", "fire", "main_power_fault"],
            "occurred_at": MOMENT_TEXT,
        }
    ]


def test_component_status_carries_a_gb18030_description_padded_to_31_bytes():
    description = "C8 FD C2 A5 B6 AB B2 E0 D7 DF C0 C8 B8 D0 D1 CC" + " 00" * 15  # 三楼东侧走廊感烟
    obj = only_object(f"02 01  01 01 2A 05 00 02 00  02 00  {description}  {LABEL}")
    assert obj == ComponentStatus(
        system_type=1,
        system_address=1,
        component_type=42,
        component_address=0x00020005,
        status=0x0002,
        description="三楼东侧走廊感烟",
        occurred_at=MOMENT,
    )
    as_dict = obj.as_dict()
    assert as_dict["component_type_name"] == "点型光电感烟火灾探测器"
    assert as_dict["status_bits"] == ["fire"]
    assert as_dict["description"] == "三楼东侧走廊感烟"


def test_component_status_from_the_standards_example_trims_space_padding():
    # "2号10区 感烟探测器 火警": component address 0A 00 02 00, 30 spaces and a NUL as description.
    obj = only_object(f"02 01 01 01 28 0A 00 02 00 02 00 {'20 ' * 30} 00 {LABEL}")
    assert obj.description == ""
    assert obj.component_address == 0x0002000A
    assert component_type_name(obj.component_type) == "感烟火灾探测器"


def test_component_status_power_fault_uses_the_component_bit_table():
    obj = only_object(f"02 01 01 01 28 01 00 00 00 01 01 {'00 ' * 31} {LABEL}")
    assert obj.as_dict()["status_bits"] == ["normal", "power_fault"]


def test_analog_value_is_scaled_by_the_resolution_of_its_type():
    # Temperature -12.5 ℃ is -125 tenths: i16 little-endian 83 FF.
    obj = only_object(f"03 01  01 01 1E 05 00 02 00  03 83 FF  {LABEL}")
    assert obj == AnalogValue(
        system_type=1,
        system_address=1,
        component_type=30,
        component_address=0x00020005,
        analog_type=3,
        raw_value=-125,
        occurred_at=MOMENT,
    )
    as_dict = obj.as_dict()
    assert as_dict["value"] == -12.5
    assert as_dict["unit"] == "℃"
    assert as_dict["analog_type_name"] == "温度"
    assert as_dict["occurred_at"] == MOMENT_TEXT


def test_analog_height_has_centimetre_resolution_and_two_objects_decode_in_order():
    decoded = adu(
        f"03 02  01 01 00 01 00 00 00 02 D2 04 {LABEL}  01 01 00 02 00 00 00 06 E8 03 {LABEL}"
    )
    first, second = decoded.objects
    assert (first.value, first.unit) == (12.34, "m")
    assert (second.value, second.unit) == (100.0, "%LEL")


def test_analog_value_of_an_unknown_type_is_kept_unscaled():
    obj = only_object(f"03 01 01 01 00 01 00 00 00 C8 10 00 {LABEL}")
    assert obj.as_dict()["value"] == 16.0
    assert obj.as_dict()["unit"] == ""
    assert obj.as_dict()["analog_type_name"] == "厂商自定义"


def test_analog_value_from_a_reading_rounds_to_the_smallest_unit():
    obj = AnalogValue.from_value(
        system_type=1,
        system_address=1,
        component_type=0,
        component_address=1,
        analog_type=4,
        value=0.36,
        occurred_at=MOMENT,
    )
    assert obj.raw_value == 4
    assert obj.value == 0.4


def test_operation_record_names_reset_and_silence():
    obj = only_object(f"04 01  01 01 03 07  {LABEL}")
    assert obj == Operation(
        system_type=1, system_address=1, operation=0x03, operator=7, occurred_at=MOMENT
    )
    assert obj.as_dict()["operation_bits"] == ["reset", "silence"]


def test_software_version_has_no_time_label():
    assert only_object("05 01  01 01 02 03") == SoftwareVersion(
        system_type=1, system_address=1, major=2, minor=3
    )


def test_system_configurations_each_carry_their_own_description_length():
    # 主机 JB-QB-5 (12 bytes) and 火灾报警控制器 (14 bytes).
    decoded = adu(
        "06 02  01 01 0C D6 F7 BB FA 20 4A 42 2D 51 42 2D 35"
        "  01 02 0E BB F0 D4 D6 B1 A8 BE AF BF D8 D6 C6 C6 F7"
    )
    assert decoded.objects == (
        SystemConfig(system_type=1, system_address=1, description="主机 JB-QB-5"),
        SystemConfig(system_type=1, system_address=2, description="火灾报警控制器"),
    )


def test_component_configuration_is_38_bytes_without_time():
    description = "D2 BB C2 A5 B4 F3 CC FC CA D6 B1 A8" + " 20" * 19  # 一楼大厅手报
    obj = only_object(f"07 01  01 02 17 0A 00 02 00  {description}")
    assert obj == ComponentConfig(
        system_type=1,
        system_address=2,
        component_type=23,
        component_address=0x0002000A,
        description="一楼大厅手报",
    )
    assert obj.as_dict()["component_type_name"] == "手动火灾报警按钮"


def test_system_time_is_the_facilitys_clock():
    assert only_object(f"08 01  01 01  {LABEL}") == SystemTime(
        system_type=1, system_address=1, system_time=MOMENT
    )


def test_collector_status_main_power_fault_from_the_standards_example():
    obj = only_object(f"15 01  08  {LABEL}")
    assert obj == CollectorStatus(status=0x08, occurred_at=MOMENT)
    assert obj.as_dict() == {
        "status": 8,
        "status_bits": ["main_power_fault"],
        "occurred_at": MOMENT_TEXT,
    }


def test_collector_operation_bit_5_is_the_inspection_reply():
    obj = only_object(f"18 01  20 01  {LABEL}")
    assert obj == CollectorOperation(operation=0x20, operator=1, occurred_at=MOMENT)
    assert obj.as_dict()["operation_bits"] == ["inspection_reply"]


def test_collector_version_1_1_from_the_standards_example():
    assert only_object("19 01 01 01") == CollectorVersion(major=1, minor=1)


def test_collector_configuration_is_a_length_prefixed_description():
    obj = only_object("1A 01 15 D3 C3 BB A7 D0 C5 CF A2 B4 AB CA E4 D7 B0 D6 C3 20 56 31 2E 31")
    assert obj == CollectorConfig(description="用户信息传输装置 V1.1")


def test_collector_time_is_the_devices_clock():
    assert only_object(f"1C 01 {LABEL}") == CollectorTime(system_time=MOMENT)


# Downstream types (§8.3.2), bytes from the standard's examples where it gives them.


@pytest.mark.parametrize("type_flag", [0x51, 0x55, 0x56, 0x58, 0x59])
def test_device_reads_and_initialisation_carry_one_reserved_byte(type_flag):
    decoded = adu(f"{type_flag:02X} 01 00")
    assert decoded.type == type_flag
    assert decoded.objects == (ReservedByte(reserved=0),)


def test_reading_two_system_statuses_names_both_systems():
    assert adu("3D 02 01 01 0A 02").objects == (
        SystemRef(system_type=1, system_address=1),
        SystemRef(system_type=10, system_address=2),
    )


@pytest.mark.parametrize("type_flag", [0x3E, 0x3F, 0x43])
def test_component_reads_name_system_and_component_address_without_a_component_type(type_flag):
    assert adu(f"{type_flag:02X} 01 01 01 0A 00 02 00").objects == (
        ComponentRef(system_type=1, system_address=1, component_address=0x0002000A),
    )


def test_reading_operation_records_gives_a_count_and_a_start_time():
    assert adu(f"40 01 01 01 0A {LABEL}").objects == (
        OperationQuery(system_type=1, system_address=1, count=10, start_at=MOMENT),
    )
    assert adu(f"54 01 0A {LABEL}").objects == (CollectorOperationQuery(count=10, start_at=MOMENT),)


def test_clock_sync_and_inspection_from_the_standards_examples():
    assert adu(f"5A 01 {LABEL}").objects == (CollectorTime(system_time=MOMENT),)
    assert adu("5B 01 0A").objects == (Inspection(timeout_minutes=10),)


def test_reads_go_out_as_requests_and_device_commands_as_control():
    assert downstream_command(61) == Command.REQUEST
    assert downstream_command(88) == Command.REQUEST
    assert [downstream_command(t) for t in (89, 90, 91)] == [Command.CONTROL] * 3


# Vendor types, empty ADUs and malformed content.


def test_a_vendor_type_keeps_its_raw_objects():
    decoded = adu("80 03 DE AD BE EF")
    assert decoded.type == 128
    assert decoded.objects == (VendorPayload(count=3, payload=bytes.fromhex("DEADBEEF")),)
    assert decoded.as_dicts() == [{"count": 3, "payload": "DE AD BE EF"}]
    assert decoded.to_bytes() == bytes.fromhex("80 03 DE AD BE EF")
    assert decoded.type_name == "厂商自定义"


def test_an_empty_adu_has_no_type_and_no_objects():
    assert decode_adu(b"") == Adu(type=None, objects=())
    assert Adu().to_bytes() == b""


def test_a_description_ends_at_the_first_nul_even_with_garbage_after_it():
    obj = only_object(f"07 01 01 01 00 01 00 00 00 41 42 00 FF FF {'00 ' * 26}")
    assert obj.description == "AB"


def test_undecodable_description_bytes_are_replaced_not_fatal():
    obj = only_object(f"07 01 01 01 00 01 00 00 00 41 FF {'00 ' * 29}")
    assert obj.description == "A\ufffd"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("09 01 00", "adu"),  # 9–20 are reserved by 表 3
        ("FF 01 00", "adu"),  # 255 is outside the vendor range 128–254
        ("15 01 08 02 3A 09 1A 0D 0C", "adu"),  # month 13
        ("15 01 08 02 3A 09 00 09 0C", "adu"),  # day 0
        ("15 01 08 02 3A 18 1A 09 0C", "adu"),  # hour 24
        ("15 01 08 02 3A 09 1A 09 64", "adu"),  # year byte 100
        ("15", "length"),  # a type flag without an object count
        ("15 02 08 02 3A 09 1A 09 0C", "length"),  # two objects announced, one present
        ("15 01 08 02 3A 09 1A 09 0C 00", "length"),  # a byte after the last object
        ("1A 01 05 41 42", "length"),  # description length 5, two bytes present
    ],
)
def test_malformed_adus_raise_a_frame_error_of_the_right_kind(text, kind):
    with pytest.raises(FrameError) as caught:
        adu(text)
    assert caught.value.kind == kind


def test_encoding_refuses_objects_of_the_wrong_class_for_the_type():
    with pytest.raises(ValueError, match="SystemStatus"):
        Adu(1, (CollectorStatus(status=1, occurred_at=MOMENT),)).to_bytes()


def test_encoding_refuses_a_description_longer_than_31_gb18030_bytes():
    too_long = ComponentConfig(
        system_type=1,
        system_address=1,
        component_type=0,
        component_address=0,
        description="楼" * 16,
    )
    with pytest.raises(ValueError, match="31"):
        Adu(7, (too_long,)).to_bytes()


def test_encoding_refuses_reserved_types_and_out_of_range_fields():
    with pytest.raises(ValueError):
        Adu(9, (ReservedByte(reserved=0),)).to_bytes()
    with pytest.raises(ValueError):
        Adu(91, (Inspection(timeout_minutes=256),)).to_bytes()
    with pytest.raises(ValueError):
        Adu(28, (CollectorTime(system_time=datetime(1999, 12, 31)),)).to_bytes()
    with pytest.raises(ValueError):
        Adu(None, (ReservedByte(reserved=0),)).to_bytes()


# Code tables.


def test_code_names_come_in_chinese_and_english():
    assert system_type_name(1) == "火灾报警系统"
    assert system_type_name(23) == "消防电源"
    assert system_type_name(1, english=True) == "fire_alarm_system"
    assert component_type_name(85) == "输入模块"
    assert component_type_name(23, english=True) == "manual_call_point"
    assert command_name(6) == "否认"
    assert info_type_name(91) == "查岗命令"
    assert info_type_name(2, english=True) == "component_status"


def test_unknown_codes_are_named_reserved_or_vendor_defined_without_raising():
    assert system_type_name(5) == "预留"
    assert system_type_name(200) == "厂商自定义"
    assert component_type_name(254, english=True) == "vendor_defined"
    assert component_type_name(14) == "预留"
    assert info_type_name(9) == "预留"
    assert info_type_name(128) == "厂商自定义"
    assert command_name(99, english=True) == "reserved"
    assert analog_type(99).unit == ""


def test_analog_types_carry_unit_and_resolution():
    assert (analog_type(2).unit, analog_type(2).resolution) == ("m", 0.01)
    assert (analog_type(5).unit, analog_type(5).resolution) == ("kPa", 0.1)
    assert (analog_type(12).unit, analog_type(12).resolution) == ("m/s", 1.0)


def test_status_bit_names_ignore_the_reserved_bits():
    assert bit_names(0xFFFF, SYSTEM_STATUS_BITS)[-1] == "reset"
    assert len(bit_names(0xFFFF, SYSTEM_STATUS_BITS)) == 14
    assert bit_names(0xFFFF, COMPONENT_STATUS_BITS)[-1] == "power_fault"
    assert bit_labels(0x0006, SYSTEM_STATUS_BITS) == ["火警", "故障"]


def test_facility_and_device_operations_differ_only_in_bit_5():
    assert bit_names(0x20, OPERATION_BITS) == ["confirm"]
    assert bit_names(0x20, COLLECTOR_OPERATION_BITS) == ["inspection_reply"]
    assert bit_names(0x5F, OPERATION_BITS) == bit_names(0x5F, COLLECTOR_OPERATION_BITS)


# Round trips: whatever the codec encodes, it decodes back unchanged.

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i16 = st.integers(-0x8000, 0x7FFF)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0)
)


def _texts(limit: int) -> st.SearchStrategy[str]:
    """Text as a decoder returns it: no NUL, no surrounding whitespace, within `limit` bytes."""
    characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    return (
        st.text(characters, max_size=limit)
        .map(str.strip)
        .filter(lambda text: len(text.encode("gb18030")) <= limit)
    )


descriptions = _texts(31)
long_texts = _texts(255)
system = {"system_type": u8, "system_address": u8}
component = {**system, "component_type": u8, "component_address": u32}

OBJECT_STRATEGIES: dict[type[InfoObject], st.SearchStrategy[InfoObject]] = {
    SystemStatus: st.builds(SystemStatus, **system, status=u16, occurred_at=moments),
    ComponentStatus: st.builds(
        ComponentStatus, **component, status=u16, description=descriptions, occurred_at=moments
    ),
    AnalogValue: st.builds(
        AnalogValue, **component, analog_type=u8, raw_value=i16, occurred_at=moments
    ),
    Operation: st.builds(Operation, **system, operation=u8, operator=u8, occurred_at=moments),
    SoftwareVersion: st.builds(SoftwareVersion, **system, major=u8, minor=u8),
    SystemConfig: st.builds(SystemConfig, **system, description=long_texts),
    ComponentConfig: st.builds(ComponentConfig, **component, description=descriptions),
    SystemTime: st.builds(SystemTime, **system, system_time=moments),
    CollectorStatus: st.builds(CollectorStatus, status=u8, occurred_at=moments),
    CollectorOperation: st.builds(
        CollectorOperation, operation=u8, operator=u8, occurred_at=moments
    ),
    CollectorVersion: st.builds(CollectorVersion, major=u8, minor=u8),
    CollectorConfig: st.builds(CollectorConfig, description=long_texts),
    CollectorTime: st.builds(CollectorTime, system_time=moments),
    SystemRef: st.builds(SystemRef, **system),
    ComponentRef: st.builds(ComponentRef, **system, component_address=u32),
    OperationQuery: st.builds(OperationQuery, **system, count=u8, start_at=moments),
    CollectorOperationQuery: st.builds(CollectorOperationQuery, count=u8, start_at=moments),
    ReservedByte: st.builds(ReservedByte, reserved=u8),
    Inspection: st.builds(Inspection, timeout_minutes=u8),
}


def _standard_adus(type_flag: int) -> st.SearchStrategy[Adu]:
    objects = st.lists(OBJECT_STRATEGIES[OBJECT_TYPES[type_flag]], min_size=1, max_size=3)
    return objects.map(lambda items: Adu(type_flag, tuple(items)))


vendor_adus = st.builds(
    lambda type_flag, count, payload: Adu(type_flag, (VendorPayload(count, payload),)),
    st.integers(128, 254),
    u8,
    st.binary(max_size=200),
)
# Every type the codec encodes, with up to 3 objects (at most 3 × 258 bytes, within 1024).
adus = st.one_of(st.sampled_from(sorted(OBJECT_TYPES)).flatmap(_standard_adus), vendor_adus)


def test_every_type_flag_of_the_standard_has_a_round_trip_strategy():
    assert set(OBJECT_TYPES.values()) == set(OBJECT_STRATEGIES)


@settings(max_examples=300)
@given(adus)
def test_every_encoded_adu_decodes_to_the_same_objects(original):
    assert decode_adu(original.to_bytes()) == original


@given(st.sampled_from(sorted(OBJECT_TYPES)).flatmap(_standard_adus))
def test_every_decoded_object_converts_to_a_json_ready_dict(original):
    for as_dict in decode_adu(original.to_bytes()).as_dicts():
        assert all(isinstance(key, str) for key in as_dict)
        assert all(isinstance(value, int | float | str | list) for value in as_dict.values()), (
            as_dict
        )
