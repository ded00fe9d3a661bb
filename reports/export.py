"""Excel export of a report: what the page shows, with the filters and the figures' freshness
written above each sheet; audited with the filters and the row count."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from accounts.models import User
from audit.services import audit_record
from reports.filters import ReportFilters
from ruwang.lib.excel import append_row

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]


def report_xlsx_response(
    *,
    user: User,
    key: str,
    title: str,
    filters: ReportFilters,
    sheets: Sequence[Sheet],
    freshness: str = "",
) -> FileResponse:
    """An .xlsx download named after the report and period (the caller checks the
    `reports.export_reports` permission and the report's own)."""
    workbook = Workbook(write_only=True)
    count = 0
    for sheet in sheets:
        ws = workbook.create_sheet(title=sheet.title[:31])
        append_row(ws, [title])
        for label, value in filters.described():
            append_row(ws, [label, value])
        if freshness:
            append_row(ws, [_("Figures as of"), freshness])
        append_row(ws, [_("Exported by"), str(user)])
        append_row(ws, [])
        append_row(ws, list(sheet.header))
        for row in sheet.rows:
            append_row(ws, list(row))
            count += 1
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to FileResponse, which closes it
    workbook.save(handle)
    handle.seek(0)
    audit_record(
        actor=user,
        action="reports.export",
        object_type="reports.report",
        object_repr=key,
        changes={"filters": [None, filters.params()], "rows": [None, count]},
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    name = f"{key}-{filters.first_day:%Y%m%d}-{filters.last_day:%Y%m%d}-{stamp}.xlsx"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=XLSX_TYPE)
