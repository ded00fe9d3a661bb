"""Every write to the device registry: transaction, permission check, audit row."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record, changes_between, field_values
from customers.models import Customer, Floor, Site
from customers.selectors import customer_visible
from devices import gb26875 as gb
from devices.joint_test_services import joint_tests_match
from devices.models import (
    Collector,
    CollectorRegistration,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    FaultKind,
    FireSystem,
    JointTest,
    JointTestStatus,
    Point,
    ReceivedFrame,
    RegistrationAction,
    split_address,
)
from devices.network_services import campaign_versions_reported
from ruwang.db import prepared_statements

COLLECTOR_FIELDS = (
    "address",
    "serial_number",
    "manufacturer",
    "model",
    "firmware_version",
    "line",
    "iccid",
    "heartbeat_seconds",
    "warranty_ends_on",
)
SYSTEM_FIELDS = ("system_type", "system_address", "brand", "panel_model", "address_scheme")
POINT_FIELDS = (
    "component_address",
    "native_code",
    "component_type",
    "floor",
    "location",
    "x",
    "y",
    "enabled",
)


def _check_customer(actor: User | None, customer: Customer | None) -> None:
    if actor is not None and customer is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def collector_save(
    *, actor: User | None, data: Mapping[str, Any], collector: Collector | None = None
) -> Collector:
    """Create a collector (in stock) or change its own details (not where it is installed)."""
    require_perm(
        actor, "devices.add_collector" if collector is None else "devices.change_collector"
    )
    created = collector is None
    collector = collector or Collector()
    _check_customer(actor, collector.customer)
    before = {} if created else field_values(collector, COLLECTOR_FIELDS)
    for key in COLLECTOR_FIELDS:
        if key in data:
            setattr(collector, key, data[key])
    collector.full_clean(exclude=["customer", "site"])
    with transaction.atomic():
        collector.save()
        audit_record(
            actor=actor,
            action="collector.create" if created else "collector.update",
            obj=collector,
            changes=changes_between(before, field_values(collector, COLLECTOR_FIELDS)),
        )
    return collector


def collector_install(
    *,
    actor: User | None,
    collector: Collector,
    customer: Customer,
    site: Site,
    location: str,
    installed_on: dt.date | None = None,
    note: str = "",
) -> Collector:
    """备案: record the collector as installed in a customer's building (or moved to another)."""
    require_perm(actor, "devices.change_collector")
    _check_customer(actor, customer)
    _check_customer(actor, collector.customer)
    if site.customer_id != customer.pk:
        raise ValidationError({"site": _("The building does not belong to this customer.")})
    if collector.status == CollectorStatus.RETIRED:
        raise ValidationError(_("A retired collector cannot be installed."))
    # An in-stock unit already set aside for this customer is registered, not moved.
    moved = collector.customer_id is not None and not (
        collector.status == CollectorStatus.IN_STOCK and collector.customer_id == customer.pk
    )
    day = installed_on or timezone.localdate()
    with transaction.atomic():
        before = field_values(collector, ("customer", "site", "location", "installed_on"))
        collector.customer, collector.site, collector.location = customer, site, location.strip()
        collector.installed_on = day
        if collector.warranty_ends_on is None:
            collector.warranty_ends_on = _one_year_after(day)
        if collector.status in (CollectorStatus.IN_STOCK, CollectorStatus.FAULTY):
            collector.status = CollectorStatus.INSTALLED
            collector.status_changed_at = timezone.now()
        collector.save()
        CollectorRegistration.objects.create(
            collector=collector,
            action=RegistrationAction.MOVED if moved else RegistrationAction.REGISTERED,
            customer=customer,
            site=site,
            location=collector.location,
            note=note,
            by=actor,
        )
        audit_record(
            actor=actor,
            action="collector.install",
            obj=collector,
            changes=changes_between(
                before, field_values(collector, ("customer", "site", "location", "installed_on"))
            ),
        )
    return collector


def collector_remove(
    *, actor: User | None, collector: Collector, retire: bool = False, note: str = ""
) -> Collector:
    """Take a collector off its building: back in stock, or retired for good."""
    require_perm(actor, "devices.change_collector")
    _check_customer(actor, collector.customer)
    if collector.status == CollectorStatus.RETIRED:
        raise ValidationError(_("This collector is already retired."))
    with transaction.atomic():
        CollectorRegistration.objects.create(
            collector=collector,
            action=RegistrationAction.RETIRED if retire else RegistrationAction.REMOVED,
            customer=collector.customer,
            site=collector.site,
            location=collector.location,
            note=note,
            by=actor,
        )
        collector.customer = collector.site = None
        collector.location = ""
        collector.status = CollectorStatus.RETIRED if retire else CollectorStatus.IN_STOCK
        collector.status_changed_at = timezone.now()
        collector.save()
        audit_record(
            actor=actor,
            action="collector.retire" if retire else "collector.remove",
            obj=collector,
            changes={"note": note} if note else {},
        )
    return collector


def fire_system_save(
    *,
    actor: User | None,
    collector: Collector,
    data: Mapping[str, Any],
    system: FireSystem | None = None,
) -> FireSystem:
    require_perm(actor, "devices.change_point_table")
    _check_customer(actor, collector.customer)
    created = system is None
    system = system or FireSystem(collector=collector)
    before = {} if created else field_values(system, SYSTEM_FIELDS)
    for key in SYSTEM_FIELDS:
        if key in data:
            setattr(system, key, data[key])
    system.full_clean()
    with transaction.atomic():
        system.save()
        if not created and "address_scheme" in data:
            _resplit_points(system)
        audit_record(
            actor=actor,
            action="fire_system.create" if created else "fire_system.update",
            obj=system,
            changes=changes_between(before, field_values(system, SYSTEM_FIELDS)),
        )
    return system


def _resplit_points(system: FireSystem) -> None:
    points = list(system.points.all())
    for point in points:
        point.loop, point.number = split_address(system.address_scheme, point.component_address)
    Point.objects.bulk_update(points, ["loop", "number"], batch_size=500)


def _check_floor(system: FireSystem, floor: Floor | None) -> None:
    collector = system.collector
    if floor is not None and (
        collector.customer_id is None or floor.site.customer_id != collector.customer_id
    ):
        raise ValidationError({"floor": _("The floor is not in this customer's buildings.")})


def point_save(
    *,
    actor: User | None,
    system: FireSystem,
    data: Mapping[str, Any],
    point: Point | None = None,
) -> Point:
    require_perm(actor, "devices.change_point_table")
    _check_customer(actor, system.collector.customer)
    created = point is None
    point = point or Point(system=system)
    before = {} if created else field_values(point, POINT_FIELDS)
    for key in POINT_FIELDS:
        if key in data:
            setattr(point, key, data[key])
    _check_floor(system, point.floor)
    point.loop, point.number = split_address(system.address_scheme, point.component_address)
    for axis in ("x", "y"):
        value = getattr(point, axis)
        if value is not None and not 0 <= value <= 1:
            raise ValidationError({axis: _("A position is a fraction of the plan, from 0 to 1.")})
    point.full_clean()
    with transaction.atomic():
        point.save()
        audit_record(
            actor=actor,
            action="point.create" if created else "point.update",
            obj=point,
            changes=changes_between(before, field_values(point, POINT_FIELDS)),
        )
    return point


def points_place(
    *, actor: User | None, floor: Floor, positions: Mapping[int, tuple[float, float] | None]
) -> int:
    """Save the floor-plan editor: point id → (x, y) as fractions of the plan, None to unplace.

    Every point must belong to a collector of the floor's customer; nothing is saved otherwise."""
    require_perm(actor, "devices.change_point_table")
    _check_customer(actor, floor.site.customer)
    points = {
        p.pk: p
        for p in Point.objects.filter(
            pk__in=list(positions), system__collector__customer_id=floor.site.customer_id
        )
    }
    unknown = sorted(set(positions) - set(points))
    if unknown:
        raise ValidationError(_("Unknown points: %(ids)s") % {"ids": ", ".join(map(str, unknown))})
    changed: list[Point] = []
    for pk, position in positions.items():
        point = points[pk]
        if position is None:
            x = y = None
        else:
            x, y = (round(float(v), 5) for v in position)
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValidationError(_("Point %(point)s is outside the plan.") % {"point": point})
        if (point.x, point.y, point.floor_id) != (x, y, floor.pk if position else point.floor_id):
            point.x, point.y = x, y
            if position is not None:
                point.floor = floor
            changed.append(point)
    with transaction.atomic():
        Point.objects.bulk_update(changed, ["x", "y", "floor"], batch_size=500)
        audit_record(
            actor=actor,
            action="point.place",
            obj=floor,
            changes={"points": len(changed)},
        )
    return len(changed)


# --- traffic from the gateway ----------------------------------------------------------------
#
# Device traffic is not a user's action: it is not written to the audit log (which serialises
# its appends); the frames themselves, stored once, are the record.


@dataclass(frozen=True)
class Incoming:
    """A frame the gateway received from a known collector."""

    collector_id: int
    frame: gb.Frame
    raw: bytes
    received_at: datetime


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # a retransmission of a frame already stored: confirm it again
    HEARTBEAT = "heartbeat"


# Event kind of a status word, most urgent first (GB/T 26875.3-2011 §8.2.1.1, §8.2.1.2).
_STATUS_KINDS = (
    ("fire", EventKind.FIRE),
    ("fault", EventKind.FAULT),
    ("main_power_fault", EventKind.FAULT),
    ("backup_power_fault", EventKind.FAULT),
    ("bus_fault", EventKind.FAULT),
    ("power_fault", EventKind.FAULT),
    ("channel_fault", EventKind.FAULT),
    ("line_fault", EventKind.FAULT),
    ("supervisory", EventKind.SUPERVISORY),
    ("started", EventKind.STARTED),
    ("feedback", EventKind.FEEDBACK),
    ("shielded", EventKind.SHIELDED),
)
_OPERATION_TYPES = (gb.InfoType.OPERATION, gb.InfoType.COLLECTOR_OPERATION)
_STATUS_TYPES = (
    gb.InfoType.SYSTEM_STATUS,
    gb.InfoType.COMPONENT_STATUS,
    gb.InfoType.COLLECTOR_STATUS,
)


def event_kind(info_type: int | None, values: Mapping[str, Any]) -> str:
    if info_type in _STATUS_TYPES:
        bits = set(values.get("status_bits", ()))
        for bit, kind in _STATUS_KINDS:
            if bit in bits:
                return kind
        return EventKind.NORMAL
    if info_type == gb.InfoType.COMPONENT_ANALOG:
        return EventKind.ANALOG
    if info_type in _OPERATION_TYPES:
        return EventKind.OPERATION
    return EventKind.INFO


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    for value in values.values():
        if isinstance(value, bytes):
            return {k: v.hex(" ") if isinstance(v, bytes) else v for k, v in values.items()}
    return values  # the usual case: nothing to convert, no copy


def _aware(moment: datetime | None, fallback: datetime, zone: Any = None) -> datetime:
    # Time labels are the device's local wall-clock time (GB/T 26875.3-2011 §8.2.2). zoneinfo
    # zones resolve a naive time by replace() (make_aware's checks cost more than the frame).
    if moment is None:
        return fallback
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone or timezone.get_current_timezone())
    return moment


# --- the ingest path's SQL ----------------------------------------------------------------------
#
# A batch binds thousands of values, and the statements are written for the driver:
# - SQLite: Django's cursor rewrites every "%s" of a statement to "?" with a regular expression
#   and its datetime adaptation checks settings on every value; at a few thousand frames a
#   second these cost more than SQLite's own work. The driver's cursor takes "?" and values
#   adapted here, on the connection Django opened, inside Django's transaction.
# - PostgreSQL: psycopg parses a statement's placeholders in Python, once per distinct text; a
#   statement per batch size would be parsed (and planned by the server) every time. Lists go
#   as arrays instead (`= ANY(%b)`, `unnest`): a handful of texts, parsed once and prepared.


class _Sql:
    def __init__(self) -> None:
        connection.ensure_connection()
        self.sqlite = connection.vendor == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self.cursor = connection.connection.cursor() if self.sqlite else connection.cursor()
        self.zone = connection.timezone  # what Django converts aware datetimes to on SQLite
        # Device time labels repeat within a batch (one per second): each is converted once.
        self._datetimes: dict[datetime, str] = {}
        self.json = (
            json.dumps if self.sqlite else partial(connection.ops.adapt_json_value, encoder=None)
        )

    def close(self) -> None:
        self.cursor.close()

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def among(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        """`column` is one of `values`: the condition and its parameters."""
        if self.sqlite:
            return f"{column} IN ({self.marks(len(values))})", list(values)
        return f"{column} = ANY(%b)", [list(values)]

    def datetime(self, value: datetime) -> Any:
        """Django's adaptation of an aware datetime, without its per-value checks: on SQLite
        str() of the naive time in the connection's zone; psycopg binds it as it is."""
        if not self.sqlite:
            return value
        text = self._datetimes.get(value)
        if text is None:
            text = self._datetimes[value] = str(value.astimezone(self.zone).replace(tzinfo=None))
        return text

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        with prepared_statements():  # PostgreSQL plans these few statement texts once
            self.cursor.execute(sql, params)

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return list(self.cursor.fetchall())


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _points_of(sql: _Sql, incoming: Sequence[Incoming]) -> dict[tuple[int, int, int, int], int]:
    """(collector, system type, system address, component address) → point id, for the
    component objects of a batch: one query."""
    collectors: set[int] = set()
    addresses: set[int] = set()
    for item in incoming:
        for obj in item.frame.adu.objects:
            address = getattr(obj, "component_address", None)
            if address is not None:
                collectors.add(item.collector_id)
                addresses.add(address)
    if not addresses:
        return {}
    of_collectors, params = sql.among("s.collector_id", collectors)
    with_addresses, more = sql.among("p.component_address", addresses)
    rows = sql.rows(
        "SELECT p.id, s.collector_id, s.system_type, s.system_address, p.component_address"  # noqa: S608 - names from the models, values bound
        f" FROM {_table(Point)} p JOIN {_table(FireSystem)} s ON s.id = p.system_id"
        f" WHERE {of_collectors} AND {with_addresses}",
        params + more,
    )
    return {(c, t, a, addr): pk for pk, c, t, a, addr in rows}


def _under_joint_test(sql: _Sql, collector_ids: set[int]) -> set[int]:
    """Which of these collectors have a joint test open (their events go to the test too)."""
    of_collectors, params = sql.among("collector_id", collector_ids)
    rows = sql.rows(
        f"SELECT DISTINCT collector_id FROM {_table(JointTest)}"  # noqa: S608
        f" WHERE status = {sql.mark} AND {of_collectors}",
        [str(JointTestStatus.OPEN), *params],
    )
    return {pk for (pk,) in rows}


class TouchLedger:
    """When the gateway last wrote each collector's last_seen_at, so that a collector sending
    frame after frame (an alarm storm, a burst of status reports) is not written for every
    batch: a row update is the costliest part of a frame on PostgreSQL (a new row version and
    its WAL). A collector is written again once its hold has passed: a quarter of its heartbeat
    interval, at most HOLD_MAX seconds. So last_seen_at is never more than a quarter interval
    behind while frames keep coming, far from the three silent intervals that make a collector
    offline; and a collector marked offline has been silent for longer than its hold, so its
    next frame is written and brings it back online. Kept by one gateway process, in memory
    (a restarted gateway writes every collector on its first frame)."""

    HOLD_MAX = 5.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[int, float] = {}

    def due(self, collector_ids: Collection[int]) -> set[int]:
        """The collectors whose last_seen_at is to be written now."""
        now = self.clock()
        until = self._until
        return {pk for pk in collector_ids if until.get(pk, 0.0) <= now}

    def written(self, rows: Iterable[tuple[int, str, int]], at: float) -> None:
        """The collectors (id, status, heartbeat seconds) written at `at` (clock time, taken
        before the write), once their transaction committed."""
        for pk, _status, heartbeat in rows:
            self._until[pk] = at + min(self.HOLD_MAX, max(heartbeat, 0) / 4)


def _touch(sql: _Sql, collector_ids: set[int], now: datetime) -> list[tuple[int, str, int]]:
    """last_seen_at = now for the collectors heard from; returns their (id, status, heartbeat
    seconds) in the same statement (the ingest path's hottest query)."""
    if not collector_ids:
        return []
    of_collectors, params = sql.among("id", collector_ids)
    return [
        (pk, status, heartbeat)
        for pk, status, heartbeat in sql.rows(
            f"UPDATE {_table(Collector)} SET last_seen_at = {sql.mark}"  # noqa: S608
            f" WHERE {of_collectors} RETURNING id, status, heartbeat_seconds",
            [sql.datetime(now), *params],
        )
    ]


def _came_back(statuses: list[tuple[int, str, int]], now: datetime) -> None:
    """Collectors heard from again: installed or offline ones are online now."""
    returning = [
        (pk, status)
        for pk, status, _heartbeat in statuses
        if status in (CollectorStatus.INSTALLED, CollectorStatus.OFFLINE)
    ]
    if not returning:
        return
    Collector.objects.filter(pk__in=[pk for pk, _s in returning]).update(
        status=CollectorStatus.ONLINE, status_changed_at=now
    )
    was_offline = [pk for pk, status in returning if status == CollectorStatus.OFFLINE]
    DeviceEvent.objects.bulk_create(
        DeviceEvent(collector_id=pk, kind=EventKind.ONLINE, occurred_at=now, received_at=now)
        for pk in was_offline
    )
    Fault.objects.filter(
        collector_id__in=was_offline, kind=FaultKind.OFFLINE, recovered_at=None
    ).update(recovered_at=now)
    if was_offline:
        from service.automation import collectors_recovered  # service builds on devices

        collectors_recovered(was_offline, now)


def _insert(
    sql: _Sql,
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str] = (),
    skip_conflicts: bool = False,
) -> list[tuple[Any, ...]]:
    """Multi-row INSERT of already-adapted values, RETURNING `returning` (both databases).

    The gateway's ingest path: Django's bulk_create spends ~1 ms per row building its SQL
    through every field's preparation; device traffic needs a few microseconds."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    # Table and column names come from the models, values are bound parameters.
    head = f"INSERT INTO {_table(model)} ({', '.join(quote(c) for c in columns)})"
    tail = (" ON CONFLICT DO NOTHING" if skip_conflicts else "") + (
        " RETURNING " + ", ".join(quote(c) for c in returning) if returning else ""
    )
    if not sql.sqlite:
        # One array per column, whatever the number of rows: one statement text. Arrays go in
        # binary (%b), whose elements psycopg writes in C; its text format escapes each element
        # in Python.
        fields = {f.column: f for f in model._meta.concrete_fields}
        arrays = ", ".join(f"%b::{fields[c].db_type(connection)}[]" for c in columns)
        statement = f"{head} SELECT * FROM unnest({arrays}){tail}"  # noqa: S608
        params = [list(column) for column in zip(*rows, strict=True)]
        if returning:
            return [tuple(r) for r in sql.rows(statement, params)]
        sql.execute(statement, params)
        return []
    one = "(" + sql.marks(len(columns)) + ")"
    out: list[tuple[Any, ...]] = []
    chunk = max(1, 30_000 // len(columns))  # under SQLite's bound-parameter limit
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        statement = f"{head} VALUES {', '.join([one] * len(part))}{tail}"
        params = [value for row in part for value in row]
        if returning:
            out += [tuple(r) for r in sql.rows(statement, params)]
        else:
            sql.execute(statement, params)
    return out


_FRAME_COLUMNS = ("collector_id", "serial", "sent_at", "received_at", "command", "info_type", "raw")
_EVENT_COLUMNS = (
    "collector_id",
    "frame_id",
    "kind",
    "info_type",
    "system_type",
    "system_address",
    "component_type",
    "component_address",
    "point_id",
    "unknown_point",
    "status",
    "data",
    "description",
    "occurred_at",
    "received_at",
    "verdict",
    "notes",
)


def frames_ingest(incoming: Sequence[Incoming], ledger: TouchLedger | None = None) -> list[Outcome]:
    """Store a batch of received frames durably, in one transaction; the gateway confirms each
    frame only after this returns. A retransmitted frame (same collector, serial and time
    label) is stored once. Every frame refreshes its collector's last_seen_at (with a
    `ledger`, the gateway's: unless written moments ago, see TouchLedger)."""
    now = timezone.now()
    zone = timezone.get_current_timezone()
    heard = {item.collector_id for item in incoming}
    if ledger is not None:
        clock = ledger.clock()
        heard = ledger.due(heard)
    with transaction.atomic():
        sql = _Sql()
        try:
            touched = _touch(sql, heard, now)
            _came_back(touched, now)
            data = [
                (item, _aware(item.frame.sent_at, item.received_at, zone))
                for item in incoming
                if not item.frame.is_heartbeat
            ]
            # Stored once: the unique (collector, serial, time label) skips a retransmission of
            # a frame stored earlier, or earlier in this batch; only new rows come back.
            frame_ids = _store_frames(sql, data) if data else {}
        finally:
            sql.close()
    if ledger is not None:
        ledger.written(touched, clock)
    outcomes: list[Outcome] = []
    for item in incoming:
        if item.frame.is_heartbeat:
            outcomes.append(Outcome.HEARTBEAT)
        elif frame_ids.pop((item.collector_id, item.frame.serial), None) is not None:
            outcomes.append(Outcome.STORED)
        else:
            outcomes.append(Outcome.DUPLICATE)
    return outcomes


def _store_frames(sql: _Sql, data: list[tuple[Incoming, datetime]]) -> dict[tuple[int, int], int]:
    """Insert the frames (skipping those already stored) and their events; returns the new
    frames' ids by (collector, serial)."""
    zone = timezone.get_current_timezone()
    adapt = sql.datetime
    frame_ids: dict[tuple[int, int], int] = {}
    received: dict[int, Any] = {}  # the adapted received_at of each frame, by id(item)
    rows: list[tuple[Any, ...]] = []
    for item, sent_at in data:
        frame = item.frame
        received[id(item)] = moment = adapt(item.received_at)
        rows.append(
            (
                item.collector_id,
                frame.serial,
                adapt(sent_at),
                moment,
                frame.command,
                frame.adu.type,
                item.raw,
            )
        )
    # A batch never holds two frames of one collector with one serial and different times (it
    # would take 65,536 frames in a few milliseconds), so (collector, serial) names the row.
    for pk, collector_id, serial in _insert(
        sql,
        ReceivedFrame,
        _FRAME_COLUMNS,
        rows,
        returning=("id", "collector_id", "serial"),
        skip_conflicts=True,
    ):
        frame_ids[(collector_id, serial)] = pk
    pending = dict(frame_ids)
    stored = [
        (item, sent_at)
        for item, sent_at in data
        if pending.pop((item.collector_id, item.frame.serial), None) is not None
    ]
    if not stored:
        return frame_ids
    points = _points_of(sql, [item for item, _sent in stored])
    under_test = _under_joint_test(sql, {item.collector_id for item, _s in stored})
    rows = []
    tested: list[DeviceEvent] = []
    versions: dict[int, str] = {}
    to_json = sql.json
    for item, sent_at in stored:
        info_type = item.frame.adu.type
        frame_id = frame_ids[(item.collector_id, item.frame.serial)]
        for obj in item.frame.adu.objects:
            values = _json_ready(obj.as_dict())
            if info_type == gb.InfoType.COLLECTOR_VERSION:
                versions[item.collector_id] = f"{values['major']}.{values['minor']}"
            component = values.get("component_address")
            point = None
            if component is not None:
                key = (
                    item.collector_id,
                    values["system_type"],
                    values["system_address"],
                    component,
                )
                point = points.get(key)
            kind = event_kind(info_type, values)
            description = str(values.get("description", ""))[:64]
            occurred_at = _aware(getattr(obj, "occurred_at", None), sent_at, zone)
            if item.collector_id in under_test:  # the joint test needs row ids: the ORM path
                tested.append(
                    DeviceEvent(
                        collector_id=item.collector_id,
                        frame_id=frame_id,
                        kind=kind,
                        info_type=info_type,
                        system_type=values.get("system_type"),
                        system_address=values.get("system_address"),
                        component_type=values.get("component_type"),
                        component_address=component,
                        point_id=point,
                        unknown_point=component is not None and point is None,
                        status=values.get("status"),
                        data=values,
                        description=description,
                        occurred_at=occurred_at,
                        received_at=item.received_at,
                    )
                )
                continue
            rows.append(
                (
                    item.collector_id,
                    frame_id,
                    kind,
                    info_type,
                    values.get("system_type"),
                    values.get("system_address"),
                    values.get("component_type"),
                    component,
                    point,
                    component is not None and point is None,
                    values.get("status"),
                    to_json(values),
                    description,
                    adapt(occurred_at),
                    received[id(item)],
                    "",
                    "",
                )
            )
    _insert(sql, DeviceEvent, _EVENT_COLUMNS, rows)
    if tested:
        joint_tests_match(DeviceEvent.objects.bulk_create(tested))
    for collector_id, version in versions.items():
        Collector.objects.filter(pk=collector_id).update(firmware_version=version)
    if versions:
        campaign_versions_reported(versions)
    return frame_ids


def collectors_mark_offline(now: datetime | None = None) -> list[int]:
    """Collectors silent for three heartbeat intervals go offline, with a board event and an
    open fault each. Returns their ids."""
    now = now or timezone.now()
    offline: list[int] = []
    intervals = (
        Collector.objects.filter(status=CollectorStatus.ONLINE)
        .order_by()  # the model's ordering would make DISTINCT one row per collector
        .values_list("heartbeat_seconds", flat=True)
        .distinct()
    )
    with transaction.atomic():
        for seconds in list(intervals):
            silent = Collector.objects.filter(
                status=CollectorStatus.ONLINE,
                heartbeat_seconds=seconds,
                last_seen_at__lt=now - timedelta(seconds=3 * seconds),
            ).select_for_update()
            offline += list(silent.values_list("pk", flat=True))
        if not offline:
            return []
        Collector.objects.filter(pk__in=offline).update(
            status=CollectorStatus.OFFLINE, status_changed_at=now
        )
        events = DeviceEvent.objects.bulk_create(
            DeviceEvent(collector_id=pk, kind=EventKind.OFFLINE, occurred_at=now, received_at=now)
            for pk in offline
        )
        faults = Fault.objects.bulk_create(
            Fault(collector_id=e.collector_id, event=e, kind=FaultKind.OFFLINE, opened_at=now)
            for e in events
        )
        from service.automation import fault_tickets_raise  # service builds on devices

        fault_tickets_raise(faults)
    return offline
