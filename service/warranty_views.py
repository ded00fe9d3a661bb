"""Warranty page (质保到期): collectors whose warranty ends in the next 30, 60 or 90 days — the
market department's renewal opportunities — and its Excel export."""

from __future__ import annotations

import io
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from ruwang.lib.excel import append_row
from ruwang.lib.views import require
from service import warranty

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_MAX_ROWS = 20_000


def _window(request: HttpRequest) -> int:
    raw = request.GET.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in warranty.WINDOWS else warranty.DEFAULT_WINDOW


@login_required
def warranty_list(request: HttpRequest) -> HttpResponse:
    user = require(request, warranty.VIEW_PERM)
    days = _window(request)
    today = timezone.localdate()
    raw_page = request.GET.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    offset = (page - 1) * PAGE_SIZE
    rows = list(
        warranty.warranties_expiring(user, days=days, today=today)[offset : offset + PAGE_SIZE + 1]
    )
    for collector in rows:
        assert collector.warranty_ends_on is not None
        collector.days_left = (collector.warranty_ends_on - today).days  # type: ignore[attr-defined]
    counts = warranty.warranty_counts(user, today)
    context = {
        "days": days,
        "tabs": [(d, counts[d], f"?{urlencode({'days': d})}") for d in warranty.WINDOWS],
        "collectors": rows[:PAGE_SIZE],
        "today": today,
        "page": page,
        "previous_url": f"?{urlencode({'days': days, 'page': page - 1})}" if page > 1 else "",
        "next_url": (
            f"?{urlencode({'days': days, 'page': page + 1})}" if len(rows) > PAGE_SIZE else ""
        ),
        "can_export": user.has_perm(warranty.EXPORT_PERM),
        "can_view_collectors": user.has_perm("devices.view_collector"),
    }
    return render(request, "service/warranty.html", context)


@login_required
def warranty_export(request: HttpRequest) -> HttpResponse:
    """The chosen window's warranties as an .xlsx workbook (customer data leaving the system:
    needs the customer export permission and is audited)."""
    from openpyxl import Workbook

    user = require(request, warranty.VIEW_PERM)
    if not user.has_perm(warranty.EXPORT_PERM):
        raise PermissionDenied(warranty.EXPORT_PERM)
    days = _window(request)
    today = timezone.localdate()
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _("Warranties ending")
    sheet.append(
        [
            _("Warranty ends on"),
            _("Days left"),
            _("Customer"),
            _("Building"),
            _("Collector"),
            _("Location"),
            _("Contract number"),
        ]
    )
    rows = 0
    for collector in warranty.warranties_expiring(user, days=days, today=today)[:EXPORT_MAX_ROWS]:
        assert collector.warranty_ends_on is not None and collector.customer is not None
        append_row(
            sheet,
            [
                collector.warranty_ends_on,
                (collector.warranty_ends_on - today).days,
                collector.customer.name,
                collector.site.name if collector.site else "",
                collector.serial_number,
                collector.location,
                collector.contract_number or "",  # type: ignore[attr-defined]
            ],
        )
        rows += 1
    for column, width in zip("ABCDEFG", (14, 10, 30, 20, 18, 20, 20), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit_record(
        actor=user,
        action="warranty.export",
        object_type="devices.collector",
        changes={"days": days, "rows": rows},
    )
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="warranties-{today}-{days}d.xlsx"'
    return response
