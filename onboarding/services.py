"""Shipped SOPs: publishing their BPMN files; the retailer profile; starting cases in bulk."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from accounts.models import Region, User
from accounts.services import require_perm
from audit.models import AuditEntry
from audit.services import audit_record, changes_between, field_values
from customers import services as customer_services

# The customer importer's readers (.xlsx; CSV in UTF-8, with or without BOM, or GB18030),
# district lookup and visibility rules; `read_rows` itself only knows the customer columns.
from customers.importing import (
    Districts,
    ImportFileError,
    RowError,
    Visibility,
    csv_table,
    xlsx_table,
)
from customers.models import (
    Contact,
    ContactRole,
    Customer,
    CustomerKind,
    CustomerStatus,
    SourceChannel,
)
from customers.selectors import customer_visible
from onboarding.models import BusinessType, RetailerProfile
from ruwang.lib import validators
from workflow.models import Case, CaseStatus, DefinitionVersion, ProcessDefinition
from workflow.services import case_start, definition_upload, published_version, version_publish

logger = logging.getLogger(__name__)

PROCESSES_DIR = Path(__file__).resolve().parent / "processes"
# The definition key workflow.services derives from the BPMN process id.
TOBACCO_PROCESS_KEY = "tobacco-retailer-onboarding"
IMPORT_PERMISSIONS = ("workflow.add_case", "customers.add_customer")


# --- shipped process definitions ------------------------------------------------------------


def _workflow_tables_exist() -> bool:
    needed = {m._meta.db_table for m in (AuditEntry, DefinitionVersion, ProcessDefinition, User)}
    try:
        with connection.cursor() as cursor:
            existing = set(connection.introspection.table_names(cursor))
    except DatabaseError:
        return False
    return needed <= existing


def shipped_processes_sync() -> list[str]:
    """Publish every `processes/*.bpmn` whose exact XML no version has yet; the keys published.

    Runs after every migrate, so it does nothing until the workflow tables exist, and a file
    that fails validation is logged (and retried next time) instead of breaking migrate.
    """
    if not _workflow_tables_exist():
        return []
    published: list[str] = []
    for path in sorted(PROCESSES_DIR.glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        if DefinitionVersion.objects.filter(xml=xml).exists():
            continue
        try:
            with transaction.atomic():
                version = definition_upload(actor=None, xml=xml)
                version = version_publish(actor=None, version=version)
        except ValidationError as exc:
            logger.error("Shipped process %s was not published: %s", path.name, exc.messages)
            continue
        published.append(version.definition.key)
    return published


# --- retailer profile -------------------------------------------------------------------------

PROFILE_FIELDS = (
    "business_type",
    "operator",
    "licence_issued_on",
    "licence_valid_until",
    "registration_notes",
    "business_status",
    "order_day",
    "grade",
    "delivery_route",
    "order_method",
    "policy_explained",
    "supply_introduced",
    "ordering_explained",
    "verification_notes",
    "verified_at",
    "verified_by",
    "archived_at",
    "archived_by",
)


def retailer_profile_save(
    *, actor: User | None, customer: Customer, data: Mapping[str, Any], reason: str = ""
) -> RetailerProfile:
    """Create or update the retailer profile of a customer (only the PROFILE_FIELDS given)."""
    require_perm(actor, "customers.change_customer")
    if actor is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")
    with transaction.atomic():
        profile, created = RetailerProfile.objects.select_for_update().get_or_create(
            customer=customer
        )
        before = {} if created else field_values(profile, PROFILE_FIELDS)
        for name, value in data.items():
            if name in PROFILE_FIELDS:
                setattr(profile, name, value)
        profile.full_clean(exclude=["customer", "operator", "verified_by", "archived_by"])
        profile.save()
        changes = changes_between(before, field_values(profile, PROFILE_FIELDS))
        if reason:
            changes["reason"] = [None, reason]
        audit_record(
            actor=actor,
            action="retailer_profile.create" if created else "retailer_profile.update",
            obj=profile,
            changes=changes,
        )
    return profile


def _iso_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    return date.fromisoformat(value) if value else None


def _text(data: Mapping[str, Any], name: str) -> str:
    return str(data.get(name) or "").strip()


def registration_apply(
    *, actor: User | None, customer: Customer, data: Mapping[str, Any], reason: str
) -> RetailerProfile:
    """The 新入网户登记表 written to the records: licence number, name and address on the
    customer, the operator as its primary contact, the rest on the retailer profile."""
    with transaction.atomic():
        updates: dict[str, Any] = {"licence_number": _text(data, "licence_number")}
        if customer.kind != CustomerKind.RETAILER:
            updates["kind"] = CustomerKind.RETAILER
        for form_name, customer_field in (("shop_name", "name"), ("business_address", "address")):
            if _text(data, form_name):
                updates[customer_field] = _text(data, form_name)
        customer_services.customer_update(actor=actor, customer=customer, data=updates)
        profile = RetailerProfile.objects.filter(customer=customer).first()
        operator: Contact | None = profile.operator if profile is not None else None
        if _text(data, "operator_name"):
            operator = (
                operator
                or customer.contacts.filter(is_primary=True, anonymised_at__isnull=True).first()
            )
            contact_data: dict[str, Any] = {
                "name": _text(data, "operator_name"),
                "mobile": _text(data, "operator_mobile"),
                "is_primary": True,
            }
            if operator is None:
                contact_data["role"] = ContactRole.LEGAL_REPRESENTATIVE
            operator = customer_services.contact_save(
                actor=actor, customer=customer, data=contact_data, contact=operator
            )
        return retailer_profile_save(
            actor=actor,
            customer=customer,
            reason=reason,
            data={
                "operator": operator,
                "business_type": _text(data, "business_type"),
                "licence_issued_on": _iso_date(data.get("licence_issued_on")),
                "licence_valid_until": _iso_date(data.get("licence_valid_until")),
                "registration_notes": _text(data, "registration_notes"),
            },
        )


def verification_archive(
    *,
    actor: User | None,
    customer: Customer,
    data: Mapping[str, Any],
    verified_at: datetime | None,
    verified_by: User | None,
    reviewer: User | None,
    reason: str,
) -> RetailerProfile:
    """The reviewed business data onto the profile, stamped as archived (资料归档)."""
    grade = _text(data, "grade")
    return retailer_profile_save(
        actor=actor,
        customer=customer,
        reason=reason,
        data={
            "business_status": _text(data, "business_status"),
            "order_day": _text(data, "order_day"),
            "grade": int(grade) if grade else None,
            "delivery_route": _text(data, "delivery_route"),
            "order_method": _text(data, "order_method"),
            "policy_explained": bool(data.get("policy_explained")),
            "supply_introduced": bool(data.get("supply_introduced")),
            "ordering_explained": bool(data.get("ordering_explained")),
            "verification_notes": _text(data, "verification_notes"),
            "verified_at": verified_at,
            "verified_by": verified_by,
            "archived_at": timezone.now(),
            "archived_by": reviewer,
        },
    )


# --- starting cases from a list of new licences -------------------------------------------------

MAX_IMPORT_ROWS = 500  # every row starts a case within the request: keep one upload short


@dataclass(frozen=True)
class LicenceColumn:
    key: str
    header: str  # as in the template
    note: Promise  # what the 说明 sheet says about the values
    example: str = ""
    aliases: tuple[str, ...] = ()  # other headers people write for the same column
    required: bool = False
    max_length: int = 200


LICENCE_COLUMNS: tuple[LicenceColumn, ...] = (
    LicenceColumn(
        "licence_number",
        "许可证号",
        aliases=("许可证号码", "烟草专卖零售许可证号", "零售许可证号"),
        required=True,
        max_length=40,
        example="360102100001",
        note=gettext_lazy(
            "The tobacco monopoly retail licence number; unique in the file. Format the column "
            "as text so that leading zeros are kept."
        ),
    ),
    LicenceColumn(
        "shop_name",
        "店名",
        aliases=("店铺名称", "企业名称", "字号名称"),
        required=True,
        max_length=120,
        example="东湖便民商店",
        note=gettext_lazy("The shop's name as on the licence; becomes the customer's name."),
    ),
    LicenceColumn(
        "operator_name",
        "经营者",
        aliases=("经营者姓名", "负责人"),
        max_length=60,
        example="张三",
        note=gettext_lazy("The operator named on the licence; becomes the primary contact."),
    ),
    LicenceColumn(
        "mobile",
        "手机",
        aliases=("手机号", "手机号码", "联系电话"),
        max_length=20,
        example="13812345678",
        note=gettext_lazy(
            "The operator's 11-digit mainland mobile number. Format the column as text."
        ),
    ),
    LicenceColumn(
        "district",
        "区县",
        aliases=("区县代码", "所属区县"),
        required=True,
        max_length=200,
        example="360102",
        note=gettext_lazy(
            "The six-digit GB/T 2260 code of the district (区/县), or its full name such as "
            "江西省南昌市东湖区. The account manager is assigned by this district."
        ),
    ),
    LicenceColumn(
        "address",
        "经营地址",
        aliases=("地址", "详细地址"),
        max_length=200,
        example="八一大道 1 号",
        note=gettext_lazy("The business address, at most 200 characters."),
    ),
    LicenceColumn(
        "business_type",
        "业态",
        aliases=("经营业态",),
        max_length=20,
        example="便利店",
        note=gettext_lazy("One of the allowed values; may be left empty."),
    ),
)
COLUMNS_BY_KEY = {column.key: column for column in LICENCE_COLUMNS}
BUSINESS_TYPE_VALUES: dict[str, str] = {
    "食杂店": BusinessType.GROCERY,
    "便利店": BusinessType.CONVENIENCE,
    "超市": BusinessType.SUPERMARKET,
    "烟酒商店": BusinessType.TOBACCO_LIQUOR,
    "娱乐服务类": BusinessType.ENTERTAINMENT,
    "其他": BusinessType.OTHER,
}
_WHITESPACE = re.compile(r"\s+")


def _squeeze(value: str) -> str:
    """NFKC (full-width → ASCII) without any whitespace."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", value))


def _header_key(header: str) -> str:
    return _squeeze(header).rstrip("*").lower()


_HEADERS: dict[str, str] = {}
for _column in LICENCE_COLUMNS:
    for _name in (_column.key, _column.header, *_column.aliases):
        _HEADERS[_header_key(_name)] = _column.key


@dataclass
class ImportResult:
    """What a check (dry run) or a start found and did; nothing is written unless `ok`."""

    total: int = 0
    errors: list[RowError] = field(default_factory=list)
    file_error: str = ""
    committed: bool = False
    customers_created: int = 0
    customers_reused: int = 0
    cases: list[Case] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_error and not self.errors and self.total > 0

    @property
    def problem_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass
class _Row:
    number: int
    headers: dict[str, str]  # key → header as written
    values: dict[str, str]
    errors: list[RowError] = field(default_factory=list)
    licence: str = ""
    mobile: str = ""
    business_type: str = ""
    region: Region | None = None
    existing: Customer | None = None

    def error(self, key: str, message: str) -> None:
        header = self.headers.get(key) or COLUMNS_BY_KEY[key].header
        self.errors.append(RowError(self.number, header, self.values.get(key, ""), message))


def _table(filename: str, data: bytes) -> Generator[tuple[int, list[str]], None, None]:
    extension = PurePath(filename).suffix.lower()
    if extension == ".xlsx":
        return xlsx_table(data)
    if extension == ".csv":
        return csv_table(data)
    raise ImportFileError(
        _("Unsupported file type “%(extension)s”: upload an Excel workbook (.xlsx) or a CSV file.")
        % {"extension": extension or filename}
    )


def _read(filename: str, data: bytes) -> tuple[dict[str, str], list[tuple[int, list[str]]]]:
    """(key → header as written, with its column index as text) and the data rows."""
    table = _table(filename, data)
    header_row: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    with contextlib.closing(table):
        for number, values in table:
            if not any(values):
                continue
            if header_row is None:
                header_row = values
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise ImportFileError(
                    _("The file has more than %(max)d rows; split it into smaller files.")
                    % {"max": MAX_IMPORT_ROWS}
                )
            rows.append((number, values))
    if header_row is None:
        raise ImportFileError(_("The file is empty: it has no header row."))
    positions: dict[str, str] = {}
    unknown: list[str] = []
    for index, header in enumerate(header_row):
        if not header:
            continue
        key = _HEADERS.get(_header_key(header))
        if key is None:
            unknown.append(header)
        elif key in positions:
            raise ImportFileError(
                _("The column %(column)s appears twice; keep one.") % {"column": header}
            )
        else:
            positions[key] = f"{index}:{header}"
    allowed = "、".join(c.header for c in LICENCE_COLUMNS)
    if unknown:
        raise ImportFileError(
            _("Unknown columns: %(columns)s. The allowed columns are: %(allowed)s.")
            % {"columns": "、".join(unknown), "allowed": allowed}
        )
    missing = [c.header for c in LICENCE_COLUMNS if c.required and c.key not in positions]
    if missing:
        raise ImportFileError(
            _("The header row has no %(columns)s column.") % {"columns": "、".join(missing)}
        )
    if not rows:
        raise ImportFileError(_("The file has a header row but no licences below it."))
    return positions, rows


def _parse(number: int, positions: Mapping[str, str], values: Sequence[str]) -> _Row:
    headers: dict[str, str] = {}
    cells: dict[str, str] = {}
    for key, position in positions.items():
        index, header = position.split(":", 1)
        headers[key] = header
        cells[key] = values[int(index)].strip() if int(index) < len(values) else ""
    row = _Row(number, headers, cells)
    for key, value in cells.items():
        limit = COLUMNS_BY_KEY[key].max_length
        if len(value) > limit:
            row.error(
                key,
                _("Too long: at most %(max)d characters, this has %(length)d.")
                % {"max": limit, "length": len(value)},
            )
    row.licence = _squeeze(cells.get("licence_number", "")).upper()
    if not row.licence:
        row.error("licence_number", _("Enter the licence number."))
    if not cells.get("shop_name"):
        row.error("shop_name", _("Enter the shop's name."))
    mobile = cells.get("mobile", "")
    if mobile:
        try:
            validators.validate_mobile(mobile)
        except ValidationError as exc:
            row.error("mobile", " ".join(exc.messages))
        else:
            row.mobile = validators.normalise_mobile(mobile)
            if not cells.get("operator_name"):
                row.error("operator_name", _("Enter the operator's name with the mobile number."))
    kind = cells.get("business_type", "")
    if kind:
        text = _squeeze(kind)
        choice = BUSINESS_TYPE_VALUES.get(text) or (
            text.lower() if text.lower() in BusinessType.values else None
        )
        if choice is None:
            row.error(
                "business_type",
                _("Unknown business type; use one of: %(choices)s.")
                % {"choices": "、".join(BUSINESS_TYPE_VALUES)},
            )
        else:
            row.business_type = choice
    if not cells.get("district"):
        row.error("district", _("Enter the district's code or full name."))
    return row


def _check_against_database(rows: list[_Row], actor: User | None) -> None:
    districts = Districts()
    visibility = Visibility(actor)
    for row in rows:
        value = _squeeze(row.values.get("district", ""))
        if not value:
            continue
        is_code = bool(re.fullmatch(r"[0-9]{6}", value))
        region, reason = districts.find(value if is_code else "", "" if is_code else value)
        if region is None:
            row.error("district", reason or "")
        else:
            row.region = region

    first: dict[str, int] = {}
    for row in rows:
        if not row.licence:
            continue
        if row.licence in first:
            row.error(
                "licence_number",
                _("Same licence number as row %(row)d.") % {"row": first[row.licence]},
            )
        else:
            first[row.licence] = row.number

    holders: dict[str, list[Customer]] = defaultdict(list)
    licences = sorted(first)
    for start in range(0, len(licences), 500):
        for customer in Customer.objects.filter(
            licence_number__in=licences[start : start + 500], merged_into__isnull=True
        ):
            holders[customer.licence_number.upper()].append(customer)
    running = {
        customer_id: number
        for customer_id, number in Case.objects.filter(
            customer__in=[c for found in holders.values() for c in found],
            version__definition__key=TOBACCO_PROCESS_KEY,
            status__in=(CaseStatus.RUNNING, CaseStatus.ON_HOLD),
        ).values_list("customer_id", "number")
    }
    statuses = dict(CustomerStatus.choices)
    for row in rows:
        found = holders.get(row.licence, [])
        if len(found) > 1:
            row.error(
                "licence_number",
                _("Several customers hold this licence number: %(names)s. Merge them first.")
                % {"names": "、".join(c.name for c in found)},
            )
            continue
        if found:
            customer = found[0]
            if customer.status != CustomerStatus.PROSPECT:
                row.error(
                    "licence_number",
                    _("This licence already belongs to %(name)s, who is %(status)s.")
                    % {"name": customer.name, "status": statuses[customer.status]},
                )
            elif customer.pk in running:
                row.error(
                    "licence_number",
                    _("Case %(number)s is already onboarding %(name)s with this licence.")
                    % {"number": running[customer.pk], "name": customer.name},
                )
            elif actor is not None and not customer_visible(actor, customer):
                row.error(
                    "licence_number",
                    _("This licence belongs to a customer you may not see; ask its manager."),
                )
            else:
                row.existing = customer
        elif row.region is not None and not visibility.can_see(None, row.region):
            row.error(
                "district",
                _(
                    "You would not be allowed to see a retailer in this district, so you cannot "
                    "start its onboarding; ask a colleague who serves the district."
                ),
            )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(f"{k}: {m}" for k, ms in exc.message_dict.items() for m in ms)
        return " ".join(exc.messages)
    if isinstance(exc, PermissionDenied):
        return _("You are not allowed to do this.")
    return str(exc) or exc.__class__.__name__


def _start_row(
    row: _Row, actor: User | None, version: DefinitionVersion, result: ImportResult
) -> None:
    customer = row.existing
    if customer is None:
        assert row.region is not None
        customer = customer_services.customer_create(
            actor=actor,
            data={
                "kind": CustomerKind.RETAILER,
                "name": row.values["shop_name"],
                "licence_number": row.licence,
                "region": row.region,
                "address": row.values.get("address", ""),
                "source_channel": SourceChannel.IMPORT,
            },
        )
        result.customers_created += 1
    else:
        result.customers_reused += 1
    operator = row.values.get("operator_name", "")
    if operator and not customer.contacts.filter(is_primary=True).exists():
        customer_services.contact_save(
            actor=actor,
            customer=customer,
            data={
                "name": operator,
                "mobile": row.mobile,
                "role": ContactRole.LEGAL_REPRESENTATIVE,
                "is_primary": True,
            },
        )
    if row.business_type:
        retailer_profile_save(
            actor=actor, customer=customer, data={"business_type": row.business_type}
        )
    case = case_start(actor=actor, customer=customer, version=version)
    result.cases.append(case)


def licences_import(*, actor: User | None, file: IO[bytes], commit: bool = False) -> ImportResult:
    """Check a list of new licences (nothing written); with `commit`, create or reuse a prospect
    retailer per row and start one onboarding case each: every row, or none."""
    for perm in IMPORT_PERMISSIONS:
        require_perm(actor, perm)
    result = ImportResult()
    try:
        positions, table = _read(str(getattr(file, "name", "") or ""), file.read())
    except ImportFileError as exc:
        result.file_error = exc.message
        return result
    try:
        published_version(TOBACCO_PROCESS_KEY)
    except ValidationError as exc:
        result.file_error = " ".join(exc.messages)
        return result
    rows = [_parse(number, positions, values) for number, values in table]
    result.total = len(rows)
    _check_against_database(rows, actor)
    result.errors = [error for row in rows for error in row.errors]
    if not commit or not result.ok:
        return result
    current: _Row | None = None
    try:
        with transaction.atomic():
            version = published_version(TOBACCO_PROCESS_KEY)
            for current in rows:
                _start_row(current, actor, version, result)
    except (ValidationError, PermissionDenied) as exc:
        result.customers_created = result.customers_reused = 0
        result.cases = []
        if current is None:
            result.file_error = _("Nothing was started: %(reason)s") % {"reason": _reason(exc)}
        else:
            result.errors.append(
                RowError(
                    current.number,
                    "",
                    current.licence,
                    _("This row could not be started, so nothing was: %(reason)s")
                    % {"reason": _reason(exc)},
                )
            )
        return result
    result.committed = True
    audit_record(
        actor=actor,
        action="onboarding.licences_import",
        object_type="workflow.case",
        object_repr=str(getattr(file, "name", ""))[:200],
        changes={
            "cases": [None, len(result.cases)],
            "customers_created": [None, result.customers_created],
        },
    )
    return result


def licences_template() -> bytes:
    """The workbook to fill in: one licence per row, and a 说明 sheet explaining each column."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "新入网零售户"
    sheet.append([c.header for c in LICENCE_COLUMNS])
    sheet.append([c.example for c in LICENCE_COLUMNS])
    required_fill = PatternFill("solid", fgColor="FCE4D6")
    for index, column in enumerate(LICENCE_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        if column.required:
            cell.fill = required_fill
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 18 if column.key != "address" else 30
        if column.key in ("licence_number", "mobile", "district"):
            # Text, so Excel keeps leading zeros and does not show long numbers as 3.6E+11.
            sheet.column_dimensions[letter].number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet("说明")
    notes.append([_("Column"), _("Required?"), _("Other accepted headers"), _("Format")])
    for column in LICENCE_COLUMNS:
        notes.append(
            [
                column.header,
                _("Required") if column.required else _("Optional"),
                "、".join(column.aliases),
                str(column.note),
            ]
        )
    notes.append([])
    notes.append([_("Allowed business types"), "、".join(BUSINESS_TYPE_VALUES)])
    notes.append([])
    notes.append(
        [
            _(
                "One new licence per row of the first sheet; delete the example row. The file is "
                "checked first and nothing is written; when every row is correct, one onboarding "
                "case is started per row, all at once. A licence whose customer is already a "
                "prospect is reused; one that is onboarding or active is refused."
            )
        ]
    )
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCD", (12, 12, 30, 80), strict=True):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
