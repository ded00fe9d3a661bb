"""Import customers, each with its primary contact, from an Excel workbook (.xlsx) or a CSV file.

Three steps, so a user can check a file before anything is written:

1. `read_rows` turns the upload into rows keyed by the headers as written in the file (Chinese
   headers such as 客户名称, or the English keys such as ``name``); file-level problems raise
   `ImportFileError`.
2. `validate` checks every row without writing: required values, GB 32100-2015 credit codes,
   mobile numbers, districts, account managers, allowed values, and duplicates (same credit code,
   same mobile, or the same normalised name in the same district, within the file or against the
   database). Lookups are batched, never one query per row.
3. `commit` writes the rows through the customer services (audit rows, search columns) inside one
   transaction: either every row is imported or none is.

`run_import` does all three; `build_template` makes the blank workbook users fill in.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from accounts.models import Region, RegionLevel, User
from customers import services
from customers.models import (
    Contact,
    ContactRole,
    Customer,
    CustomerCategory,
    CustomerKind,
    SourceChannel,
    Tag,
)
from customers.search import normalise
from customers.selectors import VisibilityScope, visibility_scope
from ruwang.lib import validators

__all__ = [
    "MAX_ROWS",
    "TEMPLATE_COLUMNS",
    "ImportFileError",
    "ImportReport",
    "PreparedRow",
    "RowError",
    "SheetRow",
    "build_template",
    "commit",
    "read_rows",
    "run_import",
    "validate",
]

MAX_ROWS = 100_000
EXTENSIONS = (".xlsx", ".csv")
# Users who may be named as 客户经理 (the same choice the customer form offers).
OWNER_ROLES = ("account_manager", "market_manager")

KIND_VALUES: dict[str, str] = {
    "组织": CustomerKind.ORGANISATION,
    "个体零售户": CustomerKind.RETAILER,
    "个人": CustomerKind.PERSON,
}
CATEGORY_VALUES: dict[str, str] = {
    "重点单位": CustomerCategory.KEY_UNIT,
    "一般单位": CustomerCategory.GENERAL,
    "九小场所": CustomerCategory.SMALL_VENUE,
    "其他": CustomerCategory.OTHER,
}
ROLE_VALUES: dict[str, str] = {
    "法定代表人": ContactRole.LEGAL_REPRESENTATIVE,
    "消防安全责任人": ContactRole.SAFETY_RESPONSIBLE,
    "消防安全管理人": ContactRole.SAFETY_MANAGER,
    "联系人": ContactRole.CONTACT,
    "值班人员": ContactRole.DUTY_OPERATOR,
    "财务": ContactRole.FINANCE,
    "其他": ContactRole.OTHER,
}
_TAG_SEPARATORS = re.compile(r"[,，、;；]")
_WHITESPACE = re.compile(r"\s+")
_TRAILING_NOTE = re.compile(r"\(.*\)$")


# --- columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the English key, also accepted as a header
    header: str  # the Chinese header of the template
    format: Promise  # what the 说明 sheet says about the values
    required: bool = False
    max_length: int | None = None
    allowed: str = ""
    example: str = ""


def _values_list(values: Mapping[str, str]) -> str:
    return "、".join([*values, *dict.fromkeys(values.values())])


_AT_MOST_40 = gettext_lazy("At most 40 characters.")

COLUMNS: tuple[Column, ...] = (
    Column(
        "name",
        "客户名称",
        required=True,
        max_length=120,
        example="南昌市示例商贸有限公司",
        format=gettext_lazy("The full registered name, at most 120 characters."),
    ),
    Column("short_name", "简称", max_length=40, format=_AT_MOST_40, example="示例商贸"),
    Column(
        "kind",
        "类型",
        allowed=_values_list(KIND_VALUES),
        example="组织",
        format=gettext_lazy("One of the allowed values; empty means 组织."),
    ),
    Column(
        "credit_code",
        "统一社会信用代码",
        max_length=18,
        example=validators.make_credit_code("91360102MA35F0QX3"),
        format=gettext_lazy(
            "18 characters (GB 32100-2015) with a correct check character; unique. "
            "Format the column as text."
        ),
    ),
    Column("licence_number", "许可证号", max_length=40, format=_AT_MOST_40),
    Column(
        "category",
        "单位类别",
        allowed=_values_list(CATEGORY_VALUES),
        example="一般单位",
        format=gettext_lazy("One of the allowed values; empty means 一般单位."),
    ),
    Column(
        "industry",
        "行业",
        max_length=60,
        example="商贸",
        format=gettext_lazy("At most 60 characters."),
    ),
    Column(
        "region_code",
        "区县代码",
        example="360102",
        format=gettext_lazy(
            "The six-digit GB/T 2260 code of the district (区/县). Fill in this column or "
            "the next one."
        ),
    ),
    Column(
        "region_name",
        "区县",
        example="江西省南昌市东湖区",
        format=gettext_lazy(
            "The district's name, or its full name such as 江西省南昌市东湖区 when the name "
            "alone is ambiguous. Fill in this column or the previous one."
        ),
    ),
    Column(
        "address",
        "详细地址",
        max_length=200,
        example="八一大道 1 号",
        format=gettext_lazy("At most 200 characters."),
    ),
    Column(
        "owner_username",
        "客户经理",
        format=gettext_lazy(
            "The user name of an active account manager or market manager; empty for none."
        ),
    ),
    Column(
        "tags",
        "标签",
        example="商场、高层",
        format=gettext_lazy("Tags separated by commas or 、, each at most 30 characters."),
    ),
    Column(
        "contact_name",
        "联系人",
        max_length=60,
        example="张三",
        format=gettext_lazy(
            "The primary contact's name, at most 60 characters. Needed when any other "
            "contact column is filled in."
        ),
    ),
    Column(
        "contact_role",
        "联系人角色",
        allowed=_values_list(ROLE_VALUES),
        example="消防安全管理人",
        format=gettext_lazy("One of the allowed values; empty means 联系人."),
    ),
    Column(
        "mobile",
        "手机",
        example="13812345678",
        format=gettext_lazy(
            "An 11-digit mainland mobile number; unique. Format the column as text."
        ),
    ),
    Column(
        "landline",
        "固定电话",
        max_length=30,
        example="0791-86123456",
        format=gettext_lazy("At most 30 characters, e.g. 0791-86123456."),
    ),
    Column(
        "email",
        "电子邮箱",
        max_length=254,
        example="zhangsan@example.com",
        format=gettext_lazy("An e-mail address."),
    ),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
TEMPLATE_COLUMNS: list[str] = [column.header for column in COLUMNS]
TEXT_COLUMNS = ("credit_code", "licence_number", "region_code", "mobile", "landline")
CONTACT_KEYS = ("contact_name", "contact_role", "mobile", "landline", "email")


def _header_token(text: str) -> str:
    """A header as compared: NFKC, no spaces, no trailing * or (note), lower case."""
    token = _WHITESPACE.sub("", unicodedata.normalize("NFKC", text))
    token = _TRAILING_NOTE.sub("", token).rstrip("*")
    return token.lower()


_HEADER_KEYS: dict[str, str] = {}
for _column in COLUMNS:
    _HEADER_KEYS[_header_token(_column.header)] = _column.key
    _HEADER_KEYS[_header_token(_column.key)] = _column.key


# --- results ------------------------------------------------------------------------------


class ImportFileError(Exception):
    """The file as a whole cannot be imported; `message` is for the user."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


@dataclass
class RowError:
    row: int  # spreadsheet row number; the header is row 1
    column: str  # the header as written in the file
    value: str
    message: str


@dataclass
class ImportReport:
    total: int
    valid: int
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the import."""
        return not self.errors and not self.duplicates

    @property
    def problem_rows(self) -> list[int]:
        """The row numbers with an error or a duplicate, in order."""
        return sorted({e.row for e in self.errors} | {d.row for d in self.duplicates})


@dataclass
class PreparedRow:
    """A checked row, ready for `commit`."""

    row: int
    customer: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    contact: dict[str, Any] | None = None


class SheetRow(dict[str, str]):
    """One data row keyed by the headers as written; `number` is its spreadsheet row."""

    def __init__(self, values: Mapping[str, str], number: int) -> None:
        super().__init__(values)
        self.number = number


# --- template -----------------------------------------------------------------------------


def build_template() -> bytes:
    """The import workbook: a header row and an example row, and a 说明 sheet per column."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "客户"
    sheet.append(TEMPLATE_COLUMNS)
    sheet.append([column.example for column in COLUMNS])
    required_fill = PatternFill("solid", fgColor="FCE4D6")
    for index, column in enumerate(COLUMNS, start=1):
        header = sheet.cell(row=1, column=index)
        header.font = Font(bold=True)
        if column.required:
            header.fill = required_fill
        letter = header.column_letter
        sheet.column_dimensions[letter].width = max(12, len(column.header) * 2 + 4)
        if column.key in TEXT_COLUMNS:
            # Stored as text so Excel keeps leading zeros and long digit strings.
            sheet.column_dimensions[letter].number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet("说明")
    notes.append([_("Column"), _("English key"), _("Required?"), _("Format"), _("Allowed values")])
    for column in COLUMNS:
        if column.required:
            required = _("Required")
        elif column.key in ("region_code", "region_name"):
            required = _("One of 区县代码 and 区县")
        else:
            required = _("Optional")
        notes.append([column.header, column.key, required, str(column.format), column.allowed])
    notes.append([])
    notes.append(
        [
            _(
                "The first sheet is imported: one customer per row below the header row. "
                "Delete the example row before importing. Rows with an error or a duplicate "
                "are listed, and nothing is imported until every row is correct."
            )
        ]
    )
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDE", (16, 16, 14, 70, 50), strict=True):
        notes.column_dimensions[letter].width = width

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- reading ------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()


def xlsx_table(data: bytes) -> Generator[tuple[int, list[str]], None, None]:
    unreadable = _("The file could not be read as an Excel workbook (.xlsx).")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(unreadable) from exc
    try:
        try:
            sheet = workbook.worksheets[0]
            # Some programs write a wrong <dimension>; read every row actually present.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(min_row=1, values_only=True)
        except (IndexError, AttributeError) as exc:  # no sheet, or a chart sheet first
            raise ImportFileError(unreadable) from exc
        number = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                break
            except Exception as exc:
                raise ImportFileError(unreadable) from exc
            number += 1
            yield number, [_cell_text(v) for v in values]
    finally:
        workbook.close()


def _decode_text(data: bytes) -> str:
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[len(codecs.BOM_UTF8) :].decode("utf-8")
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # GB18030 is a superset of GBK and GB2312, what Excel writes on Chinese Windows.
            return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _("The file could not be read as CSV text (UTF-8 or GBK encoded).")
        ) from exc


def csv_table(data: bytes) -> Generator[tuple[int, list[str]], None, None]:
    text = _decode_text(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, values in enumerate(reader, start=1):
            yield number, [v.strip() for v in values]
    except csv.Error as exc:
        raise ImportFileError(
            _("The file could not be read as CSV text (UTF-8 or GBK encoded).")
        ) from exc


def _map_headers(headers: Sequence[str]) -> dict[str, str]:
    """header as written → column key; raises ImportFileError for unknown or repeated ones."""
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for header in headers:
        key = _HEADER_KEYS.get(_header_token(header))
        if key is None:
            unknown.append(header)
            continue
        if key in seen or header in mapping:
            raise ImportFileError(
                _("The columns %(first)s and %(second)s are the same column; keep one.")
                % {"first": seen.get(key, header), "second": header}
            )
        seen[key] = header
        mapping[header] = key
    if unknown:
        raise ImportFileError(
            _("Unknown columns: %(columns)s. The allowed columns are: %(allowed)s.")
            % {"columns": "、".join(unknown), "allowed": "、".join(TEMPLATE_COLUMNS)}
        )
    return mapping


def _check_required_headers(keys: set[str]) -> None:
    if "name" not in keys:
        raise ImportFileError(
            _("The header row has no %(column)s column.")
            % {"column": COLUMNS_BY_KEY["name"].header}
        )
    if not keys & {"region_code", "region_name"}:
        raise ImportFileError(
            _("The header row needs a %(code)s or a %(name)s column.")
            % {
                "code": COLUMNS_BY_KEY["region_code"].header,
                "name": COLUMNS_BY_KEY["region_name"].header,
            }
        )


def read_rows(filename: str, data: bytes) -> list[dict[str, str]]:
    """The data rows of an uploaded file, keyed by the headers as written in it.

    Each row is a `SheetRow` (a dict) whose `number` is its spreadsheet row; fully empty rows are
    skipped. Raises ImportFileError for an unsupported or unreadable file, unknown or missing
    headers, no data rows, or more than MAX_ROWS rows.
    """
    extension = PurePath(filename).suffix.lower()
    if extension == ".xlsx":
        table = xlsx_table(data)
    elif extension == ".csv":
        table = csv_table(data)
    else:
        raise ImportFileError(
            _(
                "Unsupported file type “%(extension)s”: upload an Excel workbook (.xlsx) "
                "or a CSV file (.csv)."
            )
            % {"extension": extension or filename}
        )

    positions: list[tuple[int, str]] | None = None
    rows: list[dict[str, str]] = []
    with contextlib.closing(table):
        for number, values in table:
            if not any(values):
                continue
            if positions is None:  # the first row with anything in it is the header
                positions = [(i, h) for i, h in enumerate(values) if h]
                _check_required_headers(set(_map_headers([h for _i, h in positions]).values()))
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(
                    _("The file has more than %(max)d rows; split it into smaller files.")
                    % {"max": MAX_ROWS}
                )
            width = len(values)
            cells = {h: values[i] if i < width else "" for i, h in positions}
            rows.append(SheetRow(cells, number))
    if positions is None:
        raise ImportFileError(_("The file is empty: it has no header row."))
    if not rows:
        raise ImportFileError(_("The file has a header row but no customers below it."))
    return rows


# --- validation ---------------------------------------------------------------------------


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`values` in slices small enough for the database's limit on query parameters."""
    limit = connection.features.max_query_params
    size = max(1, limit - 10) if limit else max(1, len(values))
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _text_key(value: str) -> str:
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", value))


def _name_key(name: str) -> str:
    """Names compared for duplicates: NFKC, no spaces or punctuation, lower case."""
    return normalise(unicodedata.normalize("NFKC", name))


def _choice(value: str, labels: Mapping[str, str]) -> str | None:
    """The code for a Chinese label or for the code itself (any case); None if unknown."""
    text = _text_key(value)
    if text in labels:
        return labels[text]
    lowered = text.lower()
    return lowered if lowered in labels.values() else None


class Districts:
    """Every district, preloaded, found by code, name, city + name or full name."""

    def __init__(self) -> None:
        self.by_code: dict[str, Region] = {}
        self.by_name: dict[str, list[Region]] = defaultdict(list)
        districts = Region.objects.filter(level=RegionLevel.DISTRICT).select_related(
            "parent__parent"
        )
        for region in districts:
            self.by_code[region.code] = region
            parent = region.parent
            if not region.is_active:
                continue
            # 东湖区, 南昌市东湖区, 江西省东湖区 and 江西省南昌市东湖区 all name the district.
            names = {region.name, region.full_name}
            for ancestor in (parent, parent.parent if parent is not None else None):
                if ancestor is not None:
                    names.add(ancestor.name + region.name)
            for name in names:
                self.by_name[_text_key(name)].append(region)

    def find(self, code: str, name: str) -> tuple[Region | None, str | None]:
        """The district and None, or None and the reason it was not found."""
        region: Region | None = None
        if code:
            if not re.fullmatch(r"[1-9][0-9]{5}", code):
                return None, _("Enter the six-digit GB/T 2260 code of a district.")
            region = self.by_code.get(code)
            if region is None:
                return None, _(
                    "%(code)s is not the code of a district (区/县); check the code, or use "
                    "the district name instead."
                ) % {"code": code}
            if not region.is_active:
                return None, _("District %(name)s (%(code)s) is no longer in use.") % {
                    "name": region.full_name,
                    "code": code,
                }
        if name:
            matches = self.by_name.get(_text_key(name), [])
            if region is not None:
                if region not in matches:
                    return None, _(
                        "The district code %(code)s (%(name)s) and the district name do not match."
                    ) % {"code": code, "name": region.full_name}
                return region, None
            if not matches:
                return None, _("No district is called “%(name)s”.") % {"name": name}
            if len(matches) > 1:
                options = "、".join(f"{r.full_name}（{r.code}）" for r in matches[:10])
                return None, _(
                    "“%(name)s” is the name of several districts: %(options)s. Enter the full "
                    "name or the district code."
                ) % {"name": name, "options": options}
            return matches[0], None
        if region is None:
            return None, _("Enter the district code or the district name.")
        return region, None


class Visibility:
    """Whether `actor` could see a new customer (selectors.VisibilityScope applied to a row
    not written yet: its department follows the owner, or the actor without one).

    contact_save refuses a customer its actor cannot see, so such rows are reported instead of
    failing half-way through the commit.
    """

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        self.scope = VisibilityScope(everything=True) if actor is None else visibility_scope(actor)
        # An account manager importing a row without an owner becomes its owner.
        self.becomes_owner = actor is not None and actor.has_role("account_manager")

    def can_see(self, owner: User | None, region: Region) -> bool:
        scope, actor = self.scope, self.actor
        if scope.everything or actor is None:
            return True
        if scope.owner_id is None:
            return False
        if owner is None and self.becomes_owner:
            owner = actor
        if owner is not None and owner.pk == scope.owner_id:
            return True
        if region.pk in scope.region_ids:
            return True
        department = owner.department_id if owner is not None else actor.department_id
        return scope.department_id is not None and department == scope.department_id


@dataclass
class _Row:
    number: int
    headers: dict[str, str]  # column key → header as written
    values: dict[str, str]  # column key → value
    customer: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    contact: dict[str, Any] | None = None
    credit_code: str = ""
    mobile: str = ""
    name_key: str = ""
    region: Region | None = None
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[RowError] = field(default_factory=list)

    def header(self, key: str) -> str:
        return self.headers.get(key) or COLUMNS_BY_KEY[key].header

    def error(self, key: str, message: str) -> None:
        self.errors.append(
            RowError(self.number, self.header(key), self.values.get(key, ""), message)
        )

    def duplicate(self, key: str, message: str) -> None:
        self.duplicates.append(
            RowError(self.number, self.header(key), self.values.get(key, ""), message)
        )


def _parse_row(number: int, headers: dict[str, str], raw: Mapping[str, str]) -> _Row:
    """Check a row's values on their own (no database); fill in what `commit` needs."""
    values = {key: _cell_text(raw.get(header)) for key, header in headers.items()}
    row = _Row(number, headers, values)
    get = values.get

    for key, value in values.items():
        limit = COLUMNS_BY_KEY[key].max_length
        if limit and len(value) > limit and key != "credit_code":
            row.error(
                key,
                _("Too long: at most %(max)d characters, this has %(length)d.")
                % {"max": limit, "length": len(value)},
            )

    name = get("name", "")
    if not name:
        row.error("name", _("Enter the customer's name."))
    else:
        row.name_key = _name_key(name)

    kind: str | None = CustomerKind.ORGANISATION
    if get("kind"):
        kind = _choice(values["kind"], KIND_VALUES)
        if kind is None:
            row.error(
                "kind",
                _("Unknown customer type; use one of: %(choices)s.")
                % {"choices": _values_list(KIND_VALUES)},
            )
    category: str | None = CustomerCategory.GENERAL
    if get("category"):
        category = _choice(values["category"], CATEGORY_VALUES)
        if category is None:
            row.error(
                "category",
                _("Unknown unit category; use one of: %(choices)s.")
                % {"choices": _values_list(CATEGORY_VALUES)},
            )

    credit_code = _text_key(get("credit_code", "")).upper()
    if credit_code:
        try:
            validators.validate_credit_code(credit_code)
        except ValidationError as exc:
            row.error("credit_code", " ".join(exc.messages))
        else:
            row.credit_code = credit_code

    tags: list[str] = []
    for tag in _TAG_SEPARATORS.split(get("tags", "")):
        tag = tag.strip()
        if not tag or tag in tags:
            continue
        if len(tag) > 30:
            row.error(
                "tags",
                _("The tag “%(tag)s” is too long: at most %(max)d characters.")
                % {"tag": tag, "max": 30},
            )
        tags.append(tag)

    contact: dict[str, Any] | None = None
    if any(get(key) for key in CONTACT_KEYS):
        contact = {
            "name": get("contact_name", ""),
            "role": ContactRole.CONTACT,
            "mobile": "",
            "landline": get("landline", ""),
            "email": get("email", ""),
            "is_primary": True,
        }
        if not contact["name"]:
            row.error(
                "contact_name",
                _("Enter the contact's name, or leave all the contact columns empty."),
            )
        if get("contact_role"):
            role = _choice(values["contact_role"], ROLE_VALUES)
            if role is None:
                row.error(
                    "contact_role",
                    _("Unknown contact role; use one of: %(choices)s.")
                    % {"choices": _values_list(ROLE_VALUES)},
                )
            else:
                contact["role"] = role
        mobile = get("mobile", "")
        if mobile:
            try:
                validators.validate_mobile(mobile)
            except ValidationError as exc:
                row.error("mobile", " ".join(exc.messages))
            else:
                row.mobile = contact["mobile"] = validators.normalise_mobile(mobile)
        if contact["email"]:
            try:
                validate_email(contact["email"])
            except ValidationError as exc:
                row.error("email", " ".join(exc.messages))

    row.customer = {
        "kind": kind,
        "name": name,
        "short_name": get("short_name", ""),
        "credit_code": credit_code or None,
        "licence_number": get("licence_number", ""),
        "category": category,
        "industry": get("industry", ""),
        "address": get("address", ""),
        "owner": None,
        "source_channel": SourceChannel.IMPORT,
    }
    row.tags = tags
    row.contact = contact
    return row


def _existing_credit_codes(codes: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(codes)):
        qs = Customer.objects.filter(credit_code__in=chunk).values_list("credit_code", "name")
        found.update({code: name for code, name in qs if code})
    return found


def _existing_mobiles(mobiles: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(mobiles)):
        qs = Contact.objects.filter(
            mobile__in=chunk, anonymised_at__isnull=True, customer__merged_into__isnull=True
        ).values_list("mobile", "customer__name")
        for mobile, name in qs:
            found.setdefault(mobile, name)
    return found


def _existing_names(region_ids: set[int]) -> dict[tuple[int, str], str]:
    """(district id, normalised name) → name of the existing customers in these districts."""
    found: dict[tuple[int, str], str] = {}
    for chunk in _chunks(sorted(region_ids)):
        qs = Customer.objects.filter(region_id__in=chunk, merged_into__isnull=True).values_list(
            "region_id", "name"
        )
        for region_id, name in qs.iterator(chunk_size=5000):
            found.setdefault((region_id, _name_key(name)), name)
    return found


def _owners(usernames: set[str]) -> tuple[dict[str, User], set[str]]:
    """The users named (by lower-case user name; names are unique regardless of case), and
    which of them hold a role that may own customers."""
    users: dict[str, User] = {}
    managers: set[str] = set()
    for chunk in _chunks(sorted({u.lower() for u in usernames})):
        named = User.objects.annotate(lower_name=Lower("username")).filter(lower_name__in=chunk)
        users.update({u.username.lower(): u for u in named})
        managers.update(
            u.lower()
            for u in named.filter(groups__role__code__in=OWNER_ROLES).values_list(
                "username", flat=True
            )
        )
    return users, managers


def _headers_of(rows: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """column key → header as written, from the keys of the rows."""
    seen: dict[str, None] = {}
    for raw in rows:
        for header in raw:
            seen.setdefault(header, None)
    mapping = _map_headers(list(seen))
    return {key: header for header, key in mapping.items()}


def validate(
    rows: Sequence[Mapping[str, str]], *, actor: User | None
) -> tuple[ImportReport, list[PreparedRow]]:
    """Check every row without writing anything.

    Returns the report and the rows that passed (ready for `commit`). Rows from `read_rows` carry
    their spreadsheet row number; for plain dicts the n-th row is taken to be row n + 1.
    """
    if len(rows) > MAX_ROWS:
        raise ImportFileError(
            _("The file has more than %(max)d rows; split it into smaller files.")
            % {"max": MAX_ROWS}
        )
    headers = _headers_of(rows)
    parsed = [
        _parse_row(getattr(raw, "number", index + 2), headers, raw)
        for index, raw in enumerate(rows)
    ]

    # Batched lookups: districts, account managers, existing codes, mobiles and names.
    districts = Districts()
    for row in parsed:
        code, name = row.values.get("region_code", ""), row.values.get("region_name", "")
        region, reason = districts.find(code, name)
        if region is None:
            key = "region_code" if code or "region_name" not in headers else "region_name"
            row.error(key, reason or "")
        else:
            row.region = region
            row.customer["region"] = region

    usernames = {row.values["owner_username"] for row in parsed if row.values.get("owner_username")}
    users, managers = _owners(usernames)
    visibility = Visibility(actor)
    for row in parsed:
        username = row.values.get("owner_username", "")
        owner: User | None = None
        if username:
            owner = users.get(username.lower())
            if owner is None:
                row.error("owner_username", _("No user is called “%(name)s”.") % {"name": username})
            elif not owner.is_active:
                row.error(
                    "owner_username", _("The user %(name)s is inactive.") % {"name": username}
                )
                owner = None
            elif username.lower() not in managers:
                row.error(
                    "owner_username",
                    _("The user %(name)s is not an account manager or a market manager.")
                    % {"name": username},
                )
                owner = None
            else:
                row.customer["owner"] = owner
        if (
            row.region is not None
            and row.contact is not None
            and (owner is not None or not username)
            and not visibility.can_see(owner, row.region)
        ):
            row.error(
                "owner_username",
                _(
                    "You would not be allowed to see this customer, so its contact cannot be "
                    "added: make yourself or a colleague of your department the account "
                    "manager, or choose a district you serve."
                ),
            )

    existing_codes = _existing_credit_codes({r.credit_code for r in parsed if r.credit_code})
    existing_mobiles = _existing_mobiles({r.mobile for r in parsed if r.mobile})
    existing_names = _existing_names({r.region.pk for r in parsed if r.region is not None})

    first_code: dict[str, int] = {}
    first_mobile: dict[str, int] = {}
    first_name: dict[tuple[int, str], int] = {}
    for row in parsed:
        if row.credit_code:
            if row.credit_code in existing_codes:
                row.duplicate(
                    "credit_code",
                    _("A customer with this credit code already exists: %(name)s.")
                    % {"name": existing_codes[row.credit_code]},
                )
            elif row.credit_code in first_code:
                row.duplicate(
                    "credit_code",
                    _("Same credit code as row %(row)d.") % {"row": first_code[row.credit_code]},
                )
            else:
                first_code[row.credit_code] = row.number
        if row.mobile:
            if row.mobile in existing_mobiles:
                row.duplicate(
                    "mobile",
                    _("This mobile number already belongs to a contact of %(name)s.")
                    % {"name": existing_mobiles[row.mobile]},
                )
            elif row.mobile in first_mobile:
                row.duplicate(
                    "mobile",
                    _("Same mobile number as row %(row)d.") % {"row": first_mobile[row.mobile]},
                )
            else:
                first_mobile[row.mobile] = row.number
        if row.name_key and row.region is not None:
            pair = (row.region.pk, row.name_key)
            if pair in existing_names:
                row.duplicate(
                    "name",
                    _("A customer with this name already exists in %(district)s: %(name)s.")
                    % {"district": row.region.full_name, "name": existing_names[pair]},
                )
            elif pair in first_name:
                row.duplicate(
                    "name",
                    _("Same name and district as row %(row)d.") % {"row": first_name[pair]},
                )
            else:
                first_name[pair] = row.number

    report = ImportReport(total=len(parsed), valid=0)
    prepared: list[PreparedRow] = []
    for row in parsed:
        report.errors.extend(row.errors)
        report.duplicates.extend(row.duplicates)
        if not row.errors and not row.duplicates:
            prepared.append(PreparedRow(row.number, row.customer, row.tags, row.contact))
    report.valid = len(prepared)
    return report, prepared


# --- writing ------------------------------------------------------------------------------


def _tags_by_name(names: set[str]) -> dict[str, Tag]:
    tags: dict[str, Tag] = {}
    ordered = sorted(names)
    for chunk in _chunks(ordered):
        tags.update({t.name: t for t in Tag.objects.filter(name__in=chunk)})
    for name in ordered:
        if name not in tags:
            tags[name] = Tag.objects.get_or_create(name=name)[0]
    return tags


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(
                f"{COLUMNS_BY_KEY[k].header if k in COLUMNS_BY_KEY else k}: {m}"
                for k, messages in exc.message_dict.items()
                for m in messages
            )
        return " ".join(exc.messages)
    if isinstance(exc, PermissionDenied):
        return _("You are not allowed to do this.")
    return str(exc) or exc.__class__.__name__


def commit(
    prepared: Sequence[PreparedRow],
    *,
    actor: User | None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Create the customers and their contacts through the services, all or nothing.

    Returns the number of customers created. If any row fails, nothing is written and
    ImportFileError names the row.
    """
    current: int | None = None
    created = 0
    try:
        with transaction.atomic():
            tags = _tags_by_name({name for item in prepared for name in item.tags})
            for item in prepared:
                current = item.row
                customer = services.customer_create(
                    actor=actor,
                    data={**item.customer, "source_channel": SourceChannel.IMPORT},
                    tags=[tags[name] for name in item.tags],
                )
                if item.contact is not None:
                    services.contact_save(actor=actor, customer=customer, data=item.contact)
                created += 1
                if progress is not None and created % 100 == 0:
                    progress(created)
    except Exception as exc:
        if current is None:
            message = _("Nothing was imported: %(reason)s") % {"reason": _reason(exc)}
        else:
            message = _(
                "Row %(row)d could not be imported, so nothing was imported: %(reason)s"
            ) % {
                "row": current,
                "reason": _reason(exc),
            }
        raise ImportFileError(message, row=current) from exc
    return created


def run_import(filename: str, data: bytes, *, actor: User | None, dry_run: bool) -> ImportReport:
    """Read and check a file, then (unless `dry_run` or a row has a problem) import it."""
    rows = read_rows(filename, data)
    report, prepared = validate(rows, actor=actor)
    if not dry_run and report.ok:
        commit(prepared, actor=actor)
    return report
