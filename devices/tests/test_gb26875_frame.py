"""GB/T 26875.3-2011 framing (§6): the standard's example frames, every error kind, answers,
heartbeats, the stream splitter and round-trip properties. No database."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from devices.gb26875 import (
    FRAME_ERROR_KINDS,
    MAX_ADU_SIZE,
    Adu,
    CollectorStatus,
    Command,
    ComponentStatus,
    Frame,
    FrameError,
    FrameReader,
    ack_for,
    checksum,
    decode_frame,
    encode_frame,
    heartbeat,
    nak_for,
)
from devices.tests.test_gb26875_adu import adus, moments

# The standard's worked example (its appendix-style walkthrough): device 889 (79 03 00 00 00 00)
# reports to centre 88888 (38 5B 01 00 00 00) "2号10区 感烟探测器 火警" at 2012-09-26 09:58:02,
# sent at 09:58:32; the centre confirms or denies at 09:58:35.
SMOKE_ALARM = (
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 30 00 02"
    " 02 01 01 01 28 0A 00 02 00 02 00" + " 20" * 30 + " 00 02 3A 09 1A 09 0C 46 23 23"
)
CENTRE_CONFIRM = (
    "40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 03 AB 23 23"
)
CENTRE_DENY = (
    "40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 06 AE 23 23"
)
MAIN_POWER_FAULT = (
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 09 00 02"
    " 15 01 08 02 3A 09 1A 09 0C 42 23 23"
)
INSPECTION = (
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 03 00 01"
    " 5B 01 0A 0F 23 23"
)
DEVICE, CENTRE = 889, 88888
SENT = datetime(2012, 9, 26, 9, 58, 32)
ANSWERED = datetime(2012, 9, 26, 9, 58, 35)


def raw(text: str) -> bytes:
    return bytes.fromhex(text)


def sealed(body: str) -> bytes:
    """'@@', the body (serial .. ADU), its 8-bit sum and '##': a frame built by hand."""
    data = raw(body)
    return b"@@" + data + bytes([sum(data) % 256]) + b"##"


def control_unit(*, adu_length: int, command: int, serial: str = "05 00") -> str:
    """Serial, version 1.0, time 2012-09-26 09:58:32, source 889, destination 88888, length,
    command: the 25 bytes between '@@' and the ADU."""
    return (
        f"{serial} 01 00 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00"
        f" {adu_length & 0xFF:02X} {adu_length >> 8:02X} {command:02X}"
    )


def kind_of(data: bytes) -> str:
    with pytest.raises(FrameError) as caught:
        decode_frame(data)
    return caught.value.kind


# Decoding.


def test_the_standards_smoke_alarm_example_decodes_field_by_field():
    frame = decode_frame(raw(SMOKE_ALARM))
    assert frame.serial == 1
    assert frame.version == (1, 1)
    assert frame.sent_at == SENT
    assert (frame.source, frame.destination) == (DEVICE, CENTRE)
    assert frame.command == Command.SEND_DATA
    assert frame.adu_length == 48
    assert frame.adu.type == 2
    assert frame.adu.objects == (
        ComponentStatus(
            system_type=1,
            system_address=1,
            component_type=40,
            component_address=0x0002000A,
            status=2,
            description="",
            occurred_at=datetime(2012, 9, 26, 9, 58, 2),
        ),
    )
    assert not frame.is_heartbeat


def test_a_decoded_frame_re_encodes_to_the_same_bytes():
    for text in (SMOKE_ALARM, CENTRE_CONFIRM, MAIN_POWER_FAULT, INSPECTION):
        assert decode_frame(raw(text)).to_bytes() == raw(text)


def test_the_checksum_is_the_8_bit_sum_from_the_serial_through_the_adu():
    data = raw(MAIN_POWER_FAULT)
    assert checksum(data[2:-3]) == 0x42 == data[-3]


def test_an_empty_send_data_frame_is_a_heartbeat():
    data = sealed(control_unit(adu_length=0, command=2, serial="00 00"))
    frame = decode_frame(data)
    assert frame.is_heartbeat
    assert frame.adu.type is None
    assert frame.adu.objects == ()
    assert heartbeat(source=DEVICE, destination=CENTRE, sent_at=SENT) == data


def test_a_confirm_with_an_empty_adu_is_not_a_heartbeat():
    frame = decode_frame(raw(CENTRE_CONFIRM))
    assert frame.command == Command.CONFIRM
    assert not frame.is_heartbeat


def test_a_vendor_information_type_frame_decodes_with_its_raw_payload():
    frame = decode_frame(sealed(control_unit(adu_length=5, command=2) + " C8 02 AA BB CC"))
    assert frame.adu.type == 200
    assert frame.adu.objects[0].payload == raw("AA BB CC")
    assert frame.adu.objects[0].count == 2


def test_a_sender_with_an_unset_clock_still_gets_its_frame_decoded():
    body = control_unit(adu_length=0, command=2).replace("20 3A 09 1A 09 0C", "00 00 00 00 00 00")
    frame = decode_frame(sealed(body))
    assert frame.sent_at is None
    assert frame.is_heartbeat


# Every error kind.


def test_a_wrong_start_marker_is_a_start_error():
    assert kind_of(raw("41" + CENTRE_CONFIRM[2:])) == "start"
    assert kind_of(b"") == "start"


def test_a_wrong_end_marker_is_an_end_error():
    assert kind_of(raw(CENTRE_CONFIRM[:-2] + "24")) == "end"


def test_a_wrong_checksum_is_a_checksum_error():
    assert kind_of(raw(CENTRE_CONFIRM.replace("AB 23 23", "AC 23 23"))) == "checksum"


def test_an_adu_length_over_1024_is_a_length_error():
    oversize = MAX_ADU_SIZE + 1
    body = control_unit(adu_length=oversize, command=2) + " 00" * oversize
    assert kind_of(sealed(body)) == "length"


def test_a_declared_length_that_disagrees_with_the_frame_is_a_length_error():
    assert kind_of(sealed(control_unit(adu_length=4, command=2) + " 19 01 01")) == "length"
    assert kind_of(sealed(control_unit(adu_length=2, command=2) + " 19 01 01")) == "length"


def test_an_unknown_command_byte_is_a_command_error():
    assert kind_of(sealed(control_unit(adu_length=0, command=7))) == "command"
    assert kind_of(sealed(control_unit(adu_length=0, command=0x80))) == "command"


def test_a_frame_cut_short_is_truncated():
    data = raw(SMOKE_ALARM)
    assert kind_of(data[:40]) == "truncated"
    assert kind_of(data[:20]) == "truncated"


def test_undecodable_information_objects_are_an_adu_error_that_keeps_the_header():
    month_13 = " 15 01 08 02 3A 09 1A 0D 0C"
    with pytest.raises(FrameError) as caught:
        decode_frame(sealed(control_unit(adu_length=9, command=2) + month_13))
    assert caught.value.kind == "adu"
    assert caught.value.header.serial == 5
    assert kind_of(sealed(control_unit(adu_length=3, command=2) + " 09 01 00")) == "adu"


def test_objects_that_overrun_the_adu_are_a_length_error():
    assert kind_of(sealed(control_unit(adu_length=3, command=2) + " 19 01 01")) == "length"


# Answers.


def test_the_confirm_for_a_frame_matches_the_standards_example():
    frame = decode_frame(raw(SMOKE_ALARM))
    assert ack_for(frame, sent_at=ANSWERED) == raw(CENTRE_CONFIRM)


def test_the_deny_for_a_frame_matches_the_standards_example():
    frame = decode_frame(raw(SMOKE_ALARM))
    assert nak_for(frame, sent_at=ANSWERED) == raw(CENTRE_DENY)


def test_a_frame_failing_its_checksum_can_still_be_denied_by_serial():
    corrupted = raw(SMOKE_ALARM.replace("46 23 23", "47 23 23"))
    with pytest.raises(FrameError) as caught:
        decode_frame(corrupted)
    assert nak_for(caught.value.header, sent_at=ANSWERED) == raw(CENTRE_DENY)


def test_encoding_refuses_values_that_do_not_fit_the_frame():
    with pytest.raises(ValueError):
        encode_frame(command=Command.SEND_DATA, serial=0x10000, sent_at=SENT)
    with pytest.raises(ValueError):
        encode_frame(command=Command.SEND_DATA, source=2**48, sent_at=SENT)
    with pytest.raises(ValueError):
        encode_frame(command=7, sent_at=SENT)
    with pytest.raises(ValueError):
        encode_frame(command=Command.SEND_DATA, adu=bytes(MAX_ADU_SIZE + 1), sent_at=SENT)


# The stream splitter.


def test_a_frame_fed_byte_by_byte_comes_out_once_complete():
    reader = FrameReader()
    items = []
    for byte in raw(SMOKE_ALARM):
        items += reader.feed(bytes([byte]))
    assert items == [decode_frame(raw(SMOKE_ALARM))]
    assert reader.buffered == 0


def test_three_sticky_frames_in_one_chunk_come_out_in_order():
    chunk = raw(SMOKE_ALARM) + raw(MAIN_POWER_FAULT) + raw(INSPECTION)
    items = FrameReader().feed(chunk)
    assert [item.adu.type for item in items] == [2, 21, 91]


def test_garbage_between_frames_is_reported_once_per_run_and_skipped():
    reader = FrameReader()
    stream = b"\r\nAT+OK\r\n" + raw(MAIN_POWER_FAULT) + b"\x00\xff#" + raw(INSPECTION)
    items = []
    for byte in stream:
        items += reader.feed(bytes([byte]))
    kinds = [item.kind if isinstance(item, FrameError) else item.adu.type for item in items]
    assert kinds == ["start", 21, "start", 91]
    assert items[0].raw == b"\r\nAT+OK\r\n"


def test_a_false_start_marker_in_garbage_does_not_hide_the_frame_behind_it():
    # The false header reads its ADU length from the real frame's destination bytes (38 5B).
    items = FrameReader().feed(b"@@junk" + raw(MAIN_POWER_FAULT))
    assert [type(item) for item in items] == [FrameError, Frame]
    assert items[0].kind == "length"
    assert items[1].adu.type == 21


def test_a_start_marker_without_an_end_marker_where_its_length_ends_is_skipped():
    false_frame = b"@@" + bytes(25) + b"\x02" + b"!!"  # ADU length 0: "##" was due at 28–29
    items = FrameReader().feed(false_frame + raw(INSPECTION))
    assert [item.kind if isinstance(item, FrameError) else "frame" for item in items] == [
        "end",
        "frame",
    ]


def test_an_over_long_length_after_a_start_marker_is_reported_and_skipped():
    false_start = b"@@" + bytes(22) + (MAX_ADU_SIZE + 1).to_bytes(2, "little") + b"\x02"
    items = FrameReader().feed(false_start + raw(INSPECTION))
    assert [item.kind if isinstance(item, FrameError) else "frame" for item in items] == [
        "length",
        "frame",
    ]


def test_a_delimited_frame_with_a_bad_checksum_is_reported_with_its_header():
    corrupted = raw(SMOKE_ALARM.replace("46 23 23", "00 23 23"))
    items = FrameReader().feed(corrupted + raw(INSPECTION))
    assert items[0].kind == "checksum"
    assert items[0].header.serial == 1
    assert items[1].adu.type == 91


def test_flush_reports_an_unfinished_frame_and_pending_garbage():
    reader = FrameReader()
    assert [error.kind for error in reader.feed(b"xyz" + raw(SMOKE_ALARM)[:10])] == ["start"]
    assert [error.kind for error in reader.flush()] == ["truncated"]
    assert reader.feed(b"no marker at all") == []
    assert [error.kind for error in reader.flush()] == ["start"]
    assert reader.buffered == 0


# Properties.

frames = st.builds(
    lambda serial, version, sent_at, source, destination, command, adu: {
        "serial": serial,
        "version": version,
        "sent_at": sent_at,
        "source": source,
        "destination": destination,
        "command": command,
        "adu": adu,
    },
    st.integers(0, 0xFFFF),
    st.tuples(st.integers(0, 255), st.integers(0, 255)),
    moments,
    st.integers(0, 2**48 - 1),
    st.integers(0, 2**48 - 1),
    st.sampled_from(list(Command)),
    st.one_of(st.just(Adu()), adus),
)


@settings(max_examples=200)
@given(frames)
def test_every_encoded_frame_decodes_to_what_was_encoded(fields):
    frame = decode_frame(encode_frame(**fields))
    assert frame.serial == fields["serial"]
    assert frame.version == fields["version"]
    assert frame.sent_at == fields["sent_at"]
    assert (frame.source, frame.destination) == (fields["source"], fields["destination"])
    assert frame.command == fields["command"]
    assert frame.adu == fields["adu"]
    assert frame.to_bytes() == encode_frame(**fields)


@settings(max_examples=300)
@given(frames, st.data())
def test_any_single_byte_change_in_the_body_is_detected(fields, data):
    original = encode_frame(**fields)
    # The body is the serial number through the end of the ADU (bytes 2 .. n-4).
    index = data.draw(st.integers(2, len(original) - 4), label="index")
    replacement = data.draw(st.integers(0, 255), label="replacement")
    assume(replacement != original[index])
    changed = bytearray(original)
    changed[index] = replacement
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes(changed))
    if index not in (24, 25):  # the ADU length field moves the end of the frame instead
        assert caught.value.kind == "checksum"


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=80), st.binary(max_size=80).map(lambda tail: b"@@" + tail)))
def test_decoding_arbitrary_bytes_raises_nothing_but_frame_errors(data):
    try:
        frame = decode_frame(data)
    except FrameError as error:
        assert error.kind in FRAME_ERROR_KINDS
    else:
        assert frame.adu_bytes == data[27:-3]


@settings(max_examples=100)
@given(st.lists(frames, min_size=1, max_size=4), st.data())
def test_frames_split_at_arbitrary_points_come_out_whole_and_in_order(fields_list, data):
    stream = b"".join(encode_frame(**fields) for fields in fields_list)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts"))
    reader = FrameReader()
    items = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        items += reader.feed(stream[start:end])
    assert [item.to_bytes() for item in items] == [encode_frame(**f) for f in fields_list]
    assert reader.buffered == 0


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=5))
def test_the_reader_never_raises_on_garbage(chunks):
    reader = FrameReader()
    for chunk in chunks:
        for item in reader.feed(chunk):
            assert isinstance(item, Frame | FrameError)
    reader.flush()
    assert reader.buffered == 0


def test_a_status_frame_answers_round_trip_through_the_reader_and_the_confirm():
    data = encode_frame(
        command=Command.SEND_DATA,
        adu=Adu(21, (CollectorStatus(status=0x08, occurred_at=SENT),)),
        serial=7,
        source=DEVICE,
        destination=CENTRE,
        sent_at=SENT,
    )
    (frame,) = FrameReader().feed(data)
    confirm = decode_frame(ack_for(frame, sent_at=ANSWERED))
    assert (confirm.serial, confirm.source, confirm.destination) == (7, CENTRE, DEVICE)
    assert confirm.command == Command.CONFIRM
    assert confirm.adu_bytes == b""
