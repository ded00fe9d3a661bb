"""Helpers for the onboarding tests: a district with an account manager, licence sheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from django.core.files.base import ContentFile
from openpyxl import Workbook

from accounts.models import Region, Territory, User
from onboarding.services import LICENCE_COLUMNS

HEADERS = [column.header for column in LICENCE_COLUMNS]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)


def give_territory(manager: User, *districts: Region, code: str = "donghu") -> Territory:
    territory = Territory.objects.create(code=code, name=f"{code}片区")
    territory.districts.add(*districts)
    manager.territories.add(territory)
    return territory


def licence_rows(count: int, *, start: int = 1) -> list[list[str]]:
    """`count` correct rows: alternately a district code and a district's full name."""
    rows = []
    for i in range(start, start + count):
        district = "360102" if i % 2 else "江西省南昌市西湖区"
        rows.append(
            [
                f"3601021{i:05d}",
                f"便民商店{i}号",
                f"经营者{i}",
                f"1380000{i:04d}",
                district,
                f"八一大道 {i} 号",
                "便利店",
            ]
        )
    return rows


def xlsx_file(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS) -> ContentFile:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return ContentFile(buffer.getvalue(), name="licences.xlsx")


def csv_file(
    rows: Sequence[Sequence[str]], *, encoding: str = "utf-8", name: str = "licences.csv"
) -> ContentFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return ContentFile(buffer.getvalue().encode(encoding), name=name)
