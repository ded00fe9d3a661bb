"""A collector's point table (消防设施编码 / 点位表) as an Excel workbook: template, import, export.

The import runs in two steps so nothing is written before the user has seen every problem:

1. `read_sheet` turns the upload into a `Sheet` (the header row and the data rows as text);
   problems with the file as a whole raise `PointFileError`.
2. `points_import` (the service) loads what the database knows about the collector into an
   `ImportContext` and checks every row with `validate`, a pure function. As a dry run it stops
   there; as a commit it checks again inside one transaction and writes every row or none:
   new fire systems through `services.fire_system_save`, points in bulk, one audit row.

A row whose address is already in the point table is an error unless the user asked to update
existing points (`replace`); then it is reported as an update (or as unchanged). `export_xlsx`
writes the same columns, so exporting and importing with `replace` changes nothing.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.models import Floor
from devices import services
from devices.gb26875 import codes
from devices.models import (
    MAX_COMPONENT_ADDRESS,
    AddressScheme,
    Collector,
    FireSystem,
    Point,
    join_address,
    split_address,
)
from devices.selectors import collector_visible
from ruwang.lib.excel import append_row

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "AddressError",
    "ImportContext",
    "ImportReport",
    "PointFileError",
    "PointRow",
    "RowError",
    "Sheet",
    "address_from_parts",
    "build_template",
    "export_xlsx",
    "load_context",
    "points_import",
    "read_sheet",
    "validate",
]

MAX_ROWS = 10_000
MAX_SYSTEM_ADDRESS = 255
# A new fire system gets the model's default split (most panels: loop in the high 16 bits).
DEFAULT_SCHEME = AddressScheme.HI16_LO16


# --- columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # as written in the template; also the name used in error reports
    help: Promise
    example: str = ""
    text: bool = False  # formatted as text in the template (keeps leading zeros)


COLUMNS: tuple[Column, ...] = (
    Column(
        "system_type",
        "系统类型",
        gettext_lazy(
            "Required. The code or the Chinese name of the fire system type "
            "(GB/T 26875.3-2011 table 4, listed below); 128–255 are vendor codes."
        ),
        "火灾报警系统",
    ),
    Column(
        "system_address",
        "系统地址",
        gettext_lazy("The address of the panel, 0–255; empty means 1."),
        "1",
    ),
    Column(
        "loop",
        "回路",
        gettext_lazy(
            "The loop (zone) number, with 点号. Its range depends on the system's address "
            "scheme; leave it empty when the system's addresses are not split."
        ),
        "1",
    ),
    Column(
        "number",
        "点号",
        gettext_lazy("The point number on its loop. Fill in 点号 (with 回路) or 部件地址."),
        "23",
    ),
    Column(
        "component_address",
        "部件地址",
        gettext_lazy(
            "The raw 4-byte component address in decimal (0–4294967295), instead of 回路 and "
            "点号. When all three are filled in they must agree."
        ),
        "",
    ),
    Column(
        "native_code",
        "控制器编码",
        gettext_lazy("The code the panel shows, at most 40 characters."),
        "1-023",
        text=True,
    ),
    Column(
        "component_type",
        "部件类型",
        gettext_lazy(
            "Required. The code or the Chinese name of the component type "
            "(GB/T 26875.3-2011 table 5, listed below); 128–255 are vendor codes."
        ),
        "感烟火灾探测器",
    ),
    Column(
        "floor",
        "楼层",
        gettext_lazy(
            "A floor of this customer's buildings: its number (3, -1), or its name "
            "(3F, B1, 3层, 地下1层). Write 楼名/楼层 (主楼/3F) when several buildings have "
            "that floor. Empty for none."
        ),
        "3F",
        text=True,
    ),
    Column(
        "location",
        "位置",
        gettext_lazy("Where the component is, at most 120 characters."),
        "三层东侧走廊",
        text=True,
    ),
    Column(
        "enabled",
        "启用",
        gettext_lazy("是 or 否; empty means 是."),
        "是",
    ),
)
HEADERS: list[str] = [column.header for column in COLUMNS]
HEADER_OF: dict[str, str] = {column.key: column.header for column in COLUMNS}

_WHITESPACE = re.compile(r"\s+")
_TRAILING_NOTE = re.compile(r"[(（].*[)）]$")
_YES = {"是", "y", "yes", "true", "1", "启用", "√", "✓"}
_NO = {"否", "n", "no", "false", "0", "停用", "禁用", "×", "✗"}


def _token(text: str) -> str:
    """A value as compared: NFKC (full-width digits and letters), no spaces, lower case."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text)).lower()


def _header_key(header: str) -> str | None:
    token = _TRAILING_NOTE.sub("", _token(header)).rstrip("*")
    for column in COLUMNS:
        if token in (_token(column.header), column.key):
            return column.key
    return None


# --- the sheet ----------------------------------------------------------------------------


class PointFileError(Exception):
    """The file as a whole cannot be imported; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Sheet:
    """The data rows of an upload: (spreadsheet row number, {column key: cell text})."""

    name: str
    rows: tuple[tuple[int, dict[str, str]], ...]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "rows": [[n, cells] for n, cells in self.rows]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sheet:
        return cls(
            name=str(data["name"]),
            rows=tuple(
                (int(n), {str(k): str(v) for k, v in cells.items()}) for n, cells in data["rows"]
            ),
        )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_sheet(name: str, data: bytes) -> Sheet:
    """The rows of the first worksheet below its header row (the first non-empty row).

    Raises PointFileError for a file that is not an .xlsx workbook, unknown or repeated
    columns, a missing required column, no data rows, or more than MAX_ROWS rows."""
    unreadable = _("The file could not be read as an Excel workbook (.xlsx).")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise PointFileError(unreadable) from exc
    try:
        try:
            worksheet = workbook.worksheets[0]
            worksheet.reset_dimensions()  # some programs write a wrong <dimension>
            table = [
                (number, [_cell_text(v) for v in values])
                for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
            ]
        except Exception as exc:  # no sheet, a chart sheet first, a broken part
            raise PointFileError(unreadable) from exc
    finally:
        workbook.close()

    positions: list[tuple[int, str]] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in table:
        if not any(values):
            continue
        if positions is None:
            positions = _map_headers(values)
            continue
        if len(rows) >= MAX_ROWS:
            raise PointFileError(
                _("The file has more than %(max)d rows; split it into smaller files.")
                % {"max": MAX_ROWS}
            )
        width = len(values)
        rows.append((number, {key: values[i] if i < width else "" for i, key in positions}))
    if positions is None:
        raise PointFileError(_("The file is empty: it has no header row."))
    if not rows:
        raise PointFileError(_("The file has a header row but no points below it."))
    return Sheet(name=name, rows=tuple(rows))


def _map_headers(values: Sequence[str]) -> list[tuple[int, str]]:
    positions: list[tuple[int, str]] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for index, header in enumerate(values):
        if not header:
            continue
        key = _header_key(header)
        if key is None:
            unknown.append(header)
        elif key in seen:
            raise PointFileError(
                _("The column %(column)s appears twice; keep one.") % {"column": HEADER_OF[key]}
            )
        else:
            seen.add(key)
            positions.append((index, key))
    if unknown:
        raise PointFileError(
            _("Unknown columns: %(columns)s. The allowed columns are: %(allowed)s.")
            % {"columns": "、".join(unknown), "allowed": "、".join(HEADERS)}
        )
    for key in ("system_type", "component_type"):
        if key not in seen:
            raise PointFileError(
                _("The header row has no %(column)s column.") % {"column": HEADER_OF[key]}
            )
    if not seen & {"number", "component_address"}:
        raise PointFileError(
            _("The header row needs a %(number)s or a %(address)s column.")
            % {"number": HEADER_OF["number"], "address": HEADER_OF["component_address"]}
        )
    return positions


# --- what the database knows ----------------------------------------------------------------


@dataclass(frozen=True)
class SystemRef:
    pk: int
    system_type: int
    system_address: int
    address_scheme: str


@dataclass(frozen=True)
class PointRef:
    pk: int
    native_code: str
    component_type: int
    floor_pk: int | None
    location: str
    enabled: bool


@dataclass(frozen=True)
class FloorRef:
    pk: int
    number: int
    name: str
    site_pk: int
    site_name: str


@dataclass(frozen=True)
class ImportContext:
    """The collector's fire systems, points and the floors its points may be on."""

    systems: Mapping[tuple[int, int], SystemRef]
    points: Mapping[tuple[int, int, int], PointRef]  # (system type, address, component address)
    floors: Sequence[FloorRef]
    home_site_pk: int | None = None  # the building the collector is installed in
    installed: bool = True  # False: the collector has no customer, so no floors


def load_context(collector: Collector) -> ImportContext:
    systems = {
        (s.system_type, s.system_address): SystemRef(
            s.pk, s.system_type, s.system_address, s.address_scheme
        )
        for s in FireSystem.objects.filter(collector=collector)
    }
    points = {
        (t, a, address): PointRef(pk, code, kind, floor, location, enabled)
        for pk, t, a, address, code, kind, floor, location, enabled in Point.objects.filter(
            system__collector=collector
        ).values_list(
            "pk",
            "system__system_type",
            "system__system_address",
            "component_address",
            "native_code",
            "component_type",
            "floor_id",
            "location",
            "enabled",
        )
    }
    floors: list[FloorRef] = []
    if collector.customer_id is not None:
        floors = [
            FloorRef(pk, number, name, site_pk, site_name)
            for pk, number, name, site_pk, site_name in Floor.objects.filter(
                site__customer_id=collector.customer_id
            )
            .order_by("site_id", "number")
            .values_list("pk", "number", "name", "site_id", "site__name")
        ]
    return ImportContext(
        systems=systems,
        points=points,
        floors=floors,
        home_site_pk=collector.site_id,
        installed=collector.customer_id is not None,
    )


# --- checking values ----------------------------------------------------------------------


class AddressError(ValueError):
    """An address that does not fit; `column` names the offending input."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# The largest loop and point number of each scheme (the joined address is checked as well).
_LIMITS: dict[str, tuple[int | None, int]] = {
    AddressScheme.HI16_LO16: (0xFFFF, 0xFFFF),
    AddressScheme.HI8_LO24: (0xFF, 0xFFFFFF),
    AddressScheme.DECIMAL_1000: (MAX_COMPONENT_ADDRESS // 1000, 999),
    AddressScheme.NONE: (None, MAX_COMPONENT_ADDRESS),
}


def address_from_parts(scheme: str, loop: int | None, number: int) -> int:
    """The component address of loop + point number under `scheme`, range-checked.

    Raises AddressError with column "loop" or "number"."""
    max_loop, max_number = _LIMITS.get(scheme, _LIMITS[AddressScheme.NONE])
    if max_loop is None:
        if loop is not None:
            raise AddressError(
                _("This system's addresses are not split into loops: leave the loop empty."),
                "loop",
            )
    elif loop is None:
        raise AddressError(
            _("This system's addresses are split into loop and point: fill in the loop."),
            "loop",
        )
    elif not 0 <= loop <= max_loop:
        raise AddressError(
            _("The loop is out of range for this system's address scheme (0–%(max)d).")
            % {"max": max_loop},
            "loop",
        )
    if not 0 <= number <= max_number:
        raise AddressError(
            _("The point number is out of range for this system's address scheme (0–%(max)d).")
            % {"max": max_number},
            "number",
        )
    address = join_address(scheme, loop, number)
    if address > MAX_COMPONENT_ADDRESS:
        raise AddressError(
            _("The address is out of range (at most %(max)d).") % {"max": MAX_COMPONENT_ADDRESS},
            "number",
        )
    return address


def _integer(text: str) -> int | None:
    """The whole number in a cell (full-width digits allowed), or None."""
    token = _token(text)
    if re.fullmatch(r"[+-]?\d+", token):
        return int(token)
    return None


def _name_index(table: Mapping[int, codes.CodeName]) -> dict[str, int]:
    index: dict[str, int] = {}
    for code, name in table.items():
        index[_token(name.zh)] = code
        index[name.en] = code
    return index


_CODE_NAMES = {
    id(codes.SYSTEM_TYPES): _name_index(codes.SYSTEM_TYPES),
    id(codes.COMPONENT_TYPES): _name_index(codes.COMPONENT_TYPES),
}


def _code(text: str, table: Mapping[int, codes.CodeName]) -> int | None:
    """A code of `table` written as its number, its Chinese or English name, or "40 感烟…"."""
    token = _token(text)
    number = _integer(token)
    if number is not None:
        return number if number in table or 128 <= number <= 255 else None
    names = _CODE_NAMES.get(id(table)) or _name_index(table)
    if token in names:
        return names[token]
    match = re.fullmatch(r"(\d+)[-:：.、]?(.+)", token)
    if match:
        code = int(match.group(1))
        if code in table and names.get(match.group(2)) == code:
            return code
    return None


def _floor_number(token: str) -> int | None:
    """The floor number of a floor label: 3, -1, 3F, 3层, 3楼, B1, -1F, 地下1层, 负1层."""
    for pattern, sign in (
        (r"([+-]?\d+)(?:f|层|楼|l)?", 1),
        (r"b(\d+)(?:f|层)?", -1),
        (r"(?:地下|负)(\d+)(?:层|楼)?", -1),
    ):
        match = re.fullmatch(pattern, token)
        if match:
            number = int(match.group(1)) * sign
            return number or None
    return None


def resolve_floor(text: str, context: ImportContext) -> FloorRef:
    """The floor a label names; raises ValueError with the message for the user."""
    token = _token(text)
    candidates: Sequence[FloorRef] = context.floors
    if not context.installed:
        raise ValueError(_("The collector is not installed at a customer: leave the floor empty."))
    for separator in ("/", "\\", "|"):
        if separator in token:
            site, token = token.rsplit(separator, 1)
            candidates = [f for f in candidates if _token(f.site_name) == site]
            if not candidates:
                raise ValueError(_("This customer has no building of that name."))
            break
    matches = [f for f in candidates if _token(f.name) == token]
    if not matches:
        number = _floor_number(token)
        matches = [f for f in candidates if number is not None and f.number == number]
    if len(matches) > 1:
        at_home = [f for f in matches if f.site_pk == context.home_site_pk]
        matches = at_home or matches
    if not matches:
        raise ValueError(_("This customer's buildings have no such floor."))
    if len(matches) > 1:
        raise ValueError(
            _("Several buildings have this floor: write the building too, e.g. %(example)s.")
            % {"example": f"{matches[0].site_name}/{matches[0].name}"}
        )
    return matches[0]


def floor_label(floor: FloorRef, context: ImportContext) -> str:
    """How the export writes a floor: its name, with the building when the name alone would be
    read as another floor (so an export imports back to the same floors)."""
    try:
        if resolve_floor(floor.name, context).pk == floor.pk:
            return floor.name
    except ValueError:
        pass
    return f"{floor.site_name}/{floor.name}"


def _enabled(text: str) -> bool | None:
    token = _token(text)
    if not token or token in _YES:
        return True
    if token in _NO:
        return False
    return None


# --- validation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # spreadsheet row number
    column: str  # the column's header, e.g. 部件类型
    value: str
    message: str


@dataclass
class PointRow:
    """A checked row, ready to write."""

    row: int
    system_type: int
    system_address: int
    component_address: int
    native_code: str
    component_type: int
    floor_pk: int | None
    location: str
    enabled: bool
    existing_pk: int | None = None
    changed: list[str] = field(default_factory=list)  # headers of the columns an update changes

    @property
    def action(self) -> str:
        if self.existing_pk is None:
            return "create"
        return "update" if self.changed else "unchanged"

    @property
    def system_label(self) -> str:
        return f"{codes.system_type_name(self.system_type)} #{self.system_address}"


@dataclass
class ImportReport:
    total: int
    replace: bool
    rows: list[PointRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new_systems: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    def _count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def created(self) -> int:
        return self._count("create")

    @property
    def updated(self) -> int:
        return self._count("update")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def updates(self) -> list[PointRow]:
        return [r for r in self.rows if r.action == "update"]

    @property
    def new_system_labels(self) -> list[str]:
        return [f"{codes.system_type_name(t)} #{a}" for t, a in self.new_systems]


class _RowChecker:
    """Collects the problems of one row."""

    def __init__(self, number: int, cells: Mapping[str, str]) -> None:
        self.number = number
        self.cells = cells
        self.errors: list[RowError] = []

    def text(self, key: str) -> str:
        return self.cells.get(key, "").strip()

    def error(self, key: str, message: str) -> None:
        self.errors.append(RowError(self.number, HEADER_OF[key], self.text(key), message))


def _address(check: _RowChecker, scheme: str) -> int | None:
    raw_text, loop_text, number_text = (
        check.text("component_address"),
        check.text("loop"),
        check.text("number"),
    )
    raw = loop = number = None
    for key, text in (
        ("component_address", raw_text),
        ("loop", loop_text),
        ("number", number_text),
    ):
        if text:
            value = _integer(text)
            if value is None or value < 0:
                check.error(key, _("Write a whole number, 0 or more."))
                return None
            if key == "component_address":
                raw = value
            elif key == "loop":
                loop = value
            else:
                number = value
    if raw is not None and raw > MAX_COMPONENT_ADDRESS:
        check.error(
            "component_address",
            _("The address is out of range (at most %(max)d).") % {"max": MAX_COMPONENT_ADDRESS},
        )
        return None
    if number is None:
        if loop is not None:
            check.error("number", _("Fill in the point number with the loop."))
            return None
        if raw is None:
            check.error("number", _("Fill in 点号 (with 回路) or 部件地址."))
        return raw
    try:
        joined = address_from_parts(scheme, loop, number)
    except AddressError as exc:
        check.error(exc.column, exc.message)
        return None
    if raw is not None and raw != joined:
        check.error(
            "component_address",
            _(
                "The address does not match 回路 and 点号, which give %(address)d under this "
                "system's address scheme."
            )
            % {"address": joined},
        )
        return None
    return joined


def validate(sheet: Sheet, context: ImportContext, *, replace: bool = False) -> ImportReport:
    """Check every row of `sheet` against `context`; nothing is read from or written to the
    database. Every problem is reported with its row, column and value."""
    report = ImportReport(total=len(sheet.rows), replace=replace)
    first_row_of: dict[tuple[int, int, int], int] = {}
    new_systems: dict[tuple[int, int], None] = {}
    for number, cells in sheet.rows:
        check = _RowChecker(number, cells)

        system_type = None
        if not check.text("system_type"):
            check.error("system_type", _("The system type is required."))
        else:
            system_type = _code(check.text("system_type"), codes.SYSTEM_TYPES)
            if system_type is None:
                check.error(
                    "system_type",
                    _("Unknown system type: use a code or a name listed in the 说明 sheet."),
                )

        system_address: int | None = 1
        if check.text("system_address"):
            system_address = _integer(check.text("system_address"))
            if system_address is None or not 0 <= system_address <= MAX_SYSTEM_ADDRESS:
                check.error(
                    "system_address",
                    _("The system address is a whole number from 0 to %(max)d.")
                    % {"max": MAX_SYSTEM_ADDRESS},
                )
                system_address = None

        system = None
        if system_type is not None and system_address is not None:
            system = context.systems.get((system_type, system_address))
        scheme = system.address_scheme if system else DEFAULT_SCHEME
        address = _address(check, scheme)

        component_type = None
        if not check.text("component_type"):
            check.error("component_type", _("The component type is required."))
        else:
            component_type = _code(check.text("component_type"), codes.COMPONENT_TYPES)
            if component_type is None:
                check.error(
                    "component_type",
                    _("Unknown component type: use a code or a name listed in the 说明 sheet."),
                )

        floor_pk = None
        if check.text("floor"):
            try:
                floor_pk = resolve_floor(check.text("floor"), context).pk
            except ValueError as exc:
                check.error("floor", str(exc))

        for key, limit in (("native_code", 40), ("location", 120)):
            if len(check.text(key)) > limit:
                check.error(key, _("At most %(max)d characters.") % {"max": limit})

        enabled = _enabled(check.text("enabled"))
        if enabled is None:
            check.error("enabled", _("Write 是 or 否."))

        existing = None
        if system_type is not None and system_address is not None and address is not None:
            where = (system_type, system_address, address)
            address_column = "number" if check.text("number") else "component_address"
            if where in first_row_of:
                check.error(
                    address_column,
                    _("The same address as row %(row)d of this file.")
                    % {"row": first_row_of[where]},
                )
            else:
                first_row_of[where] = number
            existing = context.points.get(where)
            if existing is not None and not replace:
                check.error(
                    address_column,
                    _(
                        "This address is already in the point table (%(code)s). Tick “Update "
                        "existing points” to overwrite it."
                    )
                    % {"code": existing.native_code or address},
                )

        if check.errors:
            report.errors.extend(check.errors)
            continue
        assert system_type is not None and system_address is not None and address is not None
        assert component_type is not None and enabled is not None
        row = PointRow(
            row=number,
            system_type=system_type,
            system_address=system_address,
            component_address=address,
            native_code=check.text("native_code"),
            component_type=component_type,
            floor_pk=floor_pk,
            location=check.text("location"),
            enabled=enabled,
        )
        if existing is not None:
            row.existing_pk = existing.pk
            row.changed = _changes(row, existing)
        if system is None:
            new_systems[(system_type, system_address)] = None
        report.rows.append(row)
    report.new_systems = list(new_systems)
    return report


def _changes(row: PointRow, existing: PointRef) -> list[str]:
    pairs = (
        ("native_code", row.native_code, existing.native_code),
        ("component_type", row.component_type, existing.component_type),
        ("floor", row.floor_pk, existing.floor_pk),
        ("location", row.location, existing.location),
        ("enabled", row.enabled, existing.enabled),
    )
    return [HEADER_OF[key] for key, new, old in pairs if new != old]


# --- the service --------------------------------------------------------------------------


def points_import(
    *,
    actor: User | None,
    collector: Collector,
    sheet: Sheet,
    replace: bool = False,
    commit: bool = False,
) -> ImportReport:
    """Check `sheet` against the collector's point table and, with `commit`, write it: every
    row or none. The commit checks again inside its transaction, so a table changed since the
    dry run is caught; the report says what was (or would be) created and updated."""
    require_perm(actor, "devices.change_point_table")
    if actor is not None and not collector_visible(actor, collector):
        raise PermissionDenied("collector not visible")
    if not commit:
        return validate(sheet, load_context(collector), replace=replace)
    with transaction.atomic():
        report = validate(sheet, load_context(collector), replace=replace)
        if report.ok:
            _write(actor, collector, sheet, report)
    return report


_UPDATED_FIELDS = ["native_code", "component_type", "floor", "location", "enabled", "x", "y"]


def _write(actor: User | None, collector: Collector, sheet: Sheet, report: ImportReport) -> None:
    systems = {
        (s.system_type, s.system_address): s for s in FireSystem.objects.filter(collector=collector)
    }
    for system_type, system_address in report.new_systems:
        systems[(system_type, system_address)] = services.fire_system_save(
            actor=actor,
            collector=collector,
            data={"system_type": system_type, "system_address": system_address},
        )
    existing = Point.objects.in_bulk([r.existing_pk for r in report.updates])
    new_points: list[Point] = []
    changed: list[Point] = []
    for row in report.rows:
        if row.action == "unchanged":
            continue
        system = systems[(row.system_type, row.system_address)]
        point = existing[row.existing_pk] if row.existing_pk else Point(system=system)
        if row.existing_pk and point.floor_id != row.floor_pk:
            point.x = point.y = None  # a position on another floor's plan means nothing here
        point.component_address = row.component_address
        point.loop, point.number = split_address(system.address_scheme, row.component_address)
        point.native_code = row.native_code
        point.component_type = row.component_type
        point.floor_id = row.floor_pk
        point.location = row.location
        point.enabled = row.enabled
        (changed if row.existing_pk else new_points).append(point)
    Point.objects.bulk_create(new_points, batch_size=500)
    Point.objects.bulk_update(changed, _UPDATED_FIELDS, batch_size=500)
    audit_record(
        actor=actor,
        action="point.import",
        obj=collector,
        changes={
            "file": sheet.name,
            "created": len(new_points),
            "updated": len(changed),
            "unchanged": report.unchanged,
            "systems_created": len(report.new_systems),
        },
    )


# --- template and export ------------------------------------------------------------------


def _workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _points_sheet(workbook: Workbook) -> Any:
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "点位表"
    sheet.append(HEADERS)
    required = PatternFill("solid", fgColor="FCE4D6")
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        if column.key in ("system_type", "component_type"):
            cell.fill = required
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 28 if column.key == "location" else 14
        if column.text:
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    return sheet


def build_template() -> bytes:
    """The blank import workbook: the 点位表 sheet (header row only) and a 说明 sheet with
    the columns, an example row and the codes of the system and component types."""
    workbook = Workbook()
    _points_sheet(workbook)
    notes = workbook.create_sheet("说明")
    bold = Font(bold=True)
    notes.append([_("Column"), _("What to write"), _("Example")])
    for column in COLUMNS:
        notes.append([column.header, str(column.help), column.example])
    notes.append([])
    notes.append(
        [
            _(
                "Fill in the 点位表 sheet, one point per row below the header row. The file is "
                "checked first and nothing is written until every row is correct; then all "
                "rows are imported at once. A new combination of 系统类型 and 系统地址 creates "
                "that fire system."
            )
        ]
    )
    notes.append([])
    notes.append([_("System types (系统类型)")])
    notes.append([_("Code"), _("Chinese name")])
    for code, name in codes.SYSTEM_TYPES.items():
        notes.append([code, name.zh])
    notes.append([])
    notes.append([_("Component types (部件类型)")])
    notes.append([_("Code"), _("Chinese name")])
    for code, name in codes.COMPONENT_TYPES.items():
        notes.append([code, name.zh])
    for row in notes.iter_rows():
        if row[0].value in (
            _("Column"),
            _("Code"),
            _("System types (系统类型)"),
            _("Component types (部件类型)"),
        ):
            for cell in row:
                cell.font = bold
    for letter, width in zip("ABC", (22, 90, 18), strict=True):
        notes.column_dimensions[letter].width = width
    return _workbook_bytes(workbook)


def _type_text(code: int, table: Mapping[int, codes.CodeName]) -> str | int:
    # Vendor codes share one name (厂商自定义): written as the number, which imports back.
    return table[code].zh if code in table else code


def export_rows(points: Iterable[Point], context: ImportContext) -> list[list[Any]]:
    floors = {f.pk: f for f in context.floors}
    rows: list[list[Any]] = []
    for point in points:
        system = point.system
        loop, number = split_address(system.address_scheme, point.component_address)
        floor = floors.get(point.floor_id) if point.floor_id else None
        rows.append(
            [
                _type_text(system.system_type, codes.SYSTEM_TYPES),
                system.system_address,
                loop if loop is not None else "",
                number,
                point.component_address,
                point.native_code,
                _type_text(point.component_type, codes.COMPONENT_TYPES),
                floor_label(floor, context) if floor else "",
                point.location,
                "是" if point.enabled else "否",
            ]
        )
    return rows


def export_xlsx(collector: Collector, points: Iterable[Point]) -> bytes:
    """The point table in the import's columns (the same workbook layout as the template)."""
    workbook = Workbook()
    sheet = _points_sheet(workbook)
    for row in export_rows(points, load_context(collector)):
        append_row(sheet, row)
    return _workbook_bytes(workbook)
