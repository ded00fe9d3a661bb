"""Spreadsheet exports of customer data (openpyxl, write-only: constant memory)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from customers.models import Customer
from ruwang.lib.excel import append_row
from ruwang.lib.masking import mask_phone

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _save(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def customers_xlsx(rows: Iterable[Customer], *, reveal: bool) -> tuple[bytes, int]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Customers"))
    sheet.append(
        [
            _("Customer name"),
            _("Short name"),
            _("Kind"),
            _("Category"),
            _("Credit code"),
            _("Licence number"),
            _("Industry"),
            _("District"),
            _("Address"),
            _("Status"),
            _("Account manager"),
            _("Primary contact"),
            _("Mobile"),
            _("Tags"),
            _("Created"),
        ]
    )
    count = 0
    for customer in rows:
        primary = next(iter(getattr(customer, "primary", [])), None)
        mobile = primary.mobile if primary else ""
        append_row(
            sheet,
            [
                customer.name,
                customer.short_name,
                customer.get_kind_display(),
                customer.get_category_display(),
                customer.credit_code or "",
                customer.licence_number,
                customer.industry,
                customer.region.full_name,
                customer.address,
                customer.get_status_display(),
                str(customer.owner) if customer.owner else "",
                primary.name if primary else "",
                mobile if reveal or not mobile else mask_phone(mobile),
                "、".join(t.name for t in customer.tags.all()),
                timezone.localtime(customer.created_at).strftime("%Y-%m-%d %H:%M"),
            ],
        )
        count += 1
    return _save(workbook), count


def personal_data_xlsx(data: dict[str, Any]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Personal data"))
    for key, value in data.items():
        if key != "consents":
            append_row(sheet, [key, "" if value is None else str(value)])
    consents = workbook.create_sheet(_("Consent records"))
    consents.append(["notice_version", "channel", "given_at", "covers_id_number", "withdrawn_at"])
    for consent in data["consents"]:
        append_row(consents, [str(v) if v is not None else "" for v in consent.values()])
    return _save(workbook)
