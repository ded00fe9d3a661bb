"""Spreadsheet cells that stay what they are: text from customers (a name typed into the public
question form, an e-mail subject) is never turned into a formula and never breaks the file.

openpyxl stores a string starting with "=" as a formula (a classic injection: `=HYPERLINK(…)`
or DDE in a cell someone opens in Excel), and refuses control characters with an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

CELL_MAX = 32_767  # characters Excel keeps in one cell


def clean_text(value: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:CELL_MAX]


def append_row(sheet: Any, values: Iterable[Any]) -> None:
    """`sheet.append(values)` with every string kept as text (write-only or normal sheets)."""
    if isinstance(sheet, Worksheet):
        sheet.append([clean_text(v) if isinstance(v, str) else v for v in values])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
        return
    row = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=clean_text(value))
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    sheet.append(row)
