"""`ruwang gb26875`: decode prints one JSON line (exit 1 when invalid), encode prints spaced hex.
No database."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from devices.tests.test_gb26875_frame import (
    CENTRE_CONFIRM,
    CENTRE_DENY,
    INSPECTION,
    MAIN_POWER_FAULT,
    SMOKE_ALARM,
    control_unit,
    sealed,
)

DECODED_KEYS = {
    "valid",
    "serial",
    "version",
    "sent_at",
    "source",
    "destination",
    "command",
    "adu_length",
    "type",
    "objects",
}
FRAME_OPTIONS = ["--source", "88888", "--destination", "889", "--time", "2012-09-26T09:58:35"]


def run(*args: str) -> str:
    out = StringIO()
    call_command("gb26875", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def encode(command_line: str) -> str:
    """`encode <kind> [options]` from the centre (88888) to the device (889) at 09:58:35, unless
    the options say otherwise (argparse keeps the last value given)."""
    kind, *options = command_line.split()
    return run("encode", kind, *FRAME_OPTIONS, *options)


def decode(*hex_parts: str) -> dict:
    output = run("decode", *hex_parts)
    assert output.count("\n") == 1, "exactly one line"
    return json.loads(output)


def decode_invalid(data: bytes) -> tuple[int | str | None, dict]:
    out = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("gb26875", "decode", data.hex(" "), stdout=out, stderr=StringIO())
    return caught.value.code, json.loads(out.getvalue())


def test_decoding_a_valid_frame_prints_the_documented_json_shape():
    result = decode(SMOKE_ALARM)
    assert set(result) == DECODED_KEYS
    assert result["valid"] is True
    assert result["serial"] == 1
    assert result["version"] == [1, 1]
    assert result["sent_at"] == "2012-09-26T09:58:32"
    assert (result["source"], result["destination"]) == (889, 88888)
    assert (result["command"], result["adu_length"], result["type"]) == (2, 48, 2)
    (obj,) = result["objects"]
    assert obj == {
        "system_type": 1,
        "system_type_name": "火灾报警系统",
        "system_address": 1,
        "component_type": 40,
        "component_type_name": "感烟火灾探测器",
        "component_address": 0x0002000A,
        "status": 2,
        "status_bits": ["fire"],
        "description": "",
        "occurred_at": "2012-09-26T09:58:02",
    }


def test_hex_may_come_without_spaces_and_split_over_several_arguments():
    compact = MAIN_POWER_FAULT.replace(" ", "")
    result = decode(compact[:20], compact[20:])
    assert result["type"] == 21
    assert result["objects"][0]["status_bits"] == ["main_power_fault"]


def test_chinese_descriptions_are_printed_as_text_not_escapes():
    description = "C8 FD C2 A5 B6 AB B2 E0 D7 DF C0 C8 B8 D0 D1 CC" + " 00" * 15  # 三楼东侧走廊感烟
    adu = f"02 01 01 01 2A 05 00 02 00 02 00 {description} 02 3A 09 1A 09 0C"
    output = run("decode", sealed(control_unit(adu_length=48, command=2) + " " + adu).hex())
    assert "三楼东侧走廊感烟" in output
    assert json.loads(output)["objects"][0]["description"] == "三楼东侧走廊感烟"


def test_a_heartbeat_decodes_with_no_type_and_no_objects():
    result = decode(sealed(control_unit(adu_length=0, command=2)).hex())
    assert (result["type"], result["objects"], result["adu_length"]) == (None, [], 0)


def test_a_frame_with_a_bad_checksum_prints_invalid_and_exits_1():
    bad = bytes.fromhex(SMOKE_ALARM.replace("46 23 23", "47 23 23"))
    assert decode_invalid(bad) == (1, {"valid": False, "error": "checksum"})


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (bytes.fromhex("41" + CENTRE_CONFIRM[2:]), "start"),
        (bytes.fromhex(CENTRE_CONFIRM[:-2] + "24"), "end"),
        (sealed(control_unit(adu_length=1025, command=2) + " 00" * 1025), "length"),
        (sealed(control_unit(adu_length=0, command=7)), "command"),
        (bytes.fromhex(SMOKE_ALARM)[:40], "truncated"),
        (sealed(control_unit(adu_length=3, command=2) + " 09 01 00"), "adu"),
    ],
)
def test_each_kind_of_invalid_frame_is_named_in_the_output(data, error):
    assert decode_invalid(data) == (1, {"valid": False, "error": error})


def test_input_that_is_not_hex_is_a_command_error():
    with pytest.raises(CommandError, match="not hexadecimal"):
        run("decode", "40 40 zz")


def test_encoding_a_confirm_reproduces_the_standards_example():
    output = encode("ack --serial 1 --version 1.1")
    assert output.strip() == CENTRE_CONFIRM


def test_encoding_a_deny_reproduces_the_standards_example():
    output = encode("nak --serial 1 --version 1.1")
    assert output.strip() == CENTRE_DENY


def test_encoding_an_inspection_command_reproduces_the_standards_example():
    # The standard's example was sent at 09:58:32.
    output = encode(
        "query --type 91 --timeout 10 --serial 1 --version 1.1 --time 2012-09-26T09:58:32"
    )
    assert output.strip() == INSPECTION


def test_an_encoded_read_decodes_as_a_request_and_a_clock_sync_as_control():
    read = decode(
        encode("query --type 62 --system-type 1 --system-address 1 --component-address 0x2000A")
    )
    assert (read["command"], read["type"]) == (4, 62)
    assert read["objects"][0]["component_address"] == 0x2000A
    sync = decode(encode("query --type 90 --sync-time 2024-01-02T03:04:05"))
    assert (sync["command"], sync["type"]) == (1, 90)
    assert sync["objects"] == [{"system_time": "2024-01-02T03:04:05"}]


def test_reading_operation_records_needs_a_start_time():
    with pytest.raises(CommandError, match="--start"):
        encode("query --type 84")
    result = decode(encode("query --type 84 --count 5 --start 2024-01-01T00:00:00"))
    assert result["objects"] == [{"count": 5, "start_at": "2024-01-01T00:00:00"}]


def test_an_encoded_heartbeat_decodes_as_an_empty_send_data_frame():
    result = decode(encode("heartbeat"))
    assert (result["command"], result["type"], result["adu_length"]) == (2, None, 0)
    assert result["sent_at"] == "2012-09-26T09:58:35"


def test_an_encoded_device_status_decodes_with_its_bit_names():
    output = encode("status --collector --status 0x08")
    result = decode(output)
    assert result["type"] == 21
    assert result["objects"][0]["status_bits"] == ["main_power_fault"]
    system = decode(encode("status --status 0x0003"))
    assert system["objects"][0]["status_bits"] == ["normal", "fire"]


def test_values_that_do_not_fit_are_command_errors():
    with pytest.raises(CommandError):
        encode("ack --serial 70000")
    with pytest.raises(CommandError):
        encode("query --type 91 --timeout 300")
