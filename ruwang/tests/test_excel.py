"""Exported spreadsheets keep customer text as text: no formulas, no broken files."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from ruwang.lib.excel import append_row

HOSTILE = ['=HYPERLINK("http://evil.example","点我")', "+cmd|' /C calc'!A0", "王芳\x07\x1b"]


def _read(workbook: Workbook) -> list[tuple[object, str]]:
    buffer = io.BytesIO()
    workbook.save(buffer)
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).worksheets[-1]
    return [(c.value, c.data_type) for c in sheet[sheet.max_row]]


def test_a_write_only_sheet_keeps_hostile_text_as_text() -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    append_row(sheet, [*HOSTILE, 42])
    cells = _read(workbook)
    assert cells[0] == (HOSTILE[0], "s")
    assert cells[1] == (HOSTILE[1], "s")
    assert cells[2] == ("王芳", "s")  # control characters removed: the file still opens
    assert cells[3] == (42, "n")


def test_a_normal_sheet_keeps_hostile_text_as_text() -> None:
    workbook = Workbook()
    sheet = workbook.active
    append_row(sheet, ["表头"])
    append_row(sheet, [*HOSTILE, 42])
    cells = _read(workbook)
    assert [c[1] for c in cells] == ["s", "s", "s", "n"]
    assert cells[0][0] == HOSTILE[0]
