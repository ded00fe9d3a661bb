"""The figures behind the customer reports (customers, value, satisfaction, SLA), kept as
aggregate rows per customer visibility keys (owner, district, department) × the reports'
dimensions, and the same figures computed live from the rows themselves.

Each `Fact` names an aggregate model and the source queries ("parts") that fill it. A part is a
queryset of source rows annotated with the customer's keys (`k_owner`, `k_region`, `k_department`),
the row's `month` (local time) and dimensions, and the measures to aggregate over them. So the
same definitions serve:

* the refresh (`reports_refresh`): GROUP BY keys × month × dimensions in the database, the few
  thousand result rows written to the aggregate table;
* the live path (`live_figures`), used before the first refresh and when a report is filtered
  by a segment whose figures are not precomputed (yet): the parts filtered by `customer_scope`
  and the period, grouped by the dimensions asked for;
* the aggregate path (`aggregate_figures`): the aggregate rows `key_scope` selects, summed —
  the rows of everyone (`segment_id` NULL), or those of the segment filtering the report.

Segments (reports.segment_figures): the same GROUP BYs restricted to a segment's customers
fill rows carrying its id, for the segments reported on lately: the recent months every refresh,
every month on a segment's first refresh, after its definition changed, and nightly.

Refresh (every 10 minutes by `reports.tasks.reports_refresh_task`): the monthly tables are
recomputed from the first day of the previous month on (work whose deadline, answer, creation or
signature falls there; later months too: deadlines in the future), the customers-as-they-are-now
table entirely (one GROUP BY over the customers). Once a night (after 03:00, when the value
classes of 02:00 are in), and whenever the value classes were recomputed since the last full
rebuild, every month is rebuilt: that is when older months take in what changes them after the
fact (a customer moved to another owner or region, a reopened ticket's new deadline).

Size: a table holds one row per distinct (owner, district, department) of the customers ×
dimensions (× month), not per customer: with customers' owners looking after a few districts
each, a few hundred key combinations, so a page sums a few thousand to a few tens of thousands
of rows whatever the number of customers (see bench/reports.py).

"Now" matters for the SLA: open work past its deadline counts as late as of the refresh (live:
as of the request).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    F,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from accounts.models import User
from customers.models import Segment
from customers.segments import segment_members_q
from reports import segment_figures as seg
from reports.filters import ReportFilters, customer_scope, key_scope, local_zone
from reports.models import (
    ContractMonthAggregate,
    CustomerCountAggregate,
    CustomerMonthAggregate,
    ReportRefresh,
    SlaMonthAggregate,
    SurveyMonthAggregate,
)

BATCH = 5000
REFRESH_MINUTES = 10
NIGHTLY_HOUR = 3  # after the value classes' nightly run (02:00)
KEY_COLUMNS = (
    ("k_owner", "owner_id"),
    ("k_region", "region_id"),
    ("k_department", "department_id"),
)

# SLA measures, in the order the report shows them.
SLA_TASK = "task"
SLA_RESPONSE = "response"
SLA_RESOLUTION = "resolution"
SLA_INQUIRY = "inquiry"
SLA_MEASURES = (SLA_TASK, SLA_RESPONSE, SLA_RESOLUTION, SLA_INQUIRY)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


class LocalMonth(Func):
    """The first day of the local month of a datetime (or the month of a date) column or
    expression. On SQLite, Django's Trunc calls a Python function per row (~16 µs: half a
    minute at two million tickets), so when the time zone keeps one UTC offset all year
    (Asia/Shanghai has since 1991) SQLite's own strftime computes it; elsewhere, Trunc."""

    output_field = DateField()

    def __init__(self, expression: Any, *, is_date: bool = False) -> None:
        super().__init__(expression)
        self.is_date = is_date

    def convert_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # PostgreSQL's DATE_TRUNC gives a timestamp (Trunc converts it in Python the same way)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str):
            return dt.date.fromisoformat(value[:10])
        return value

    def _trunc(self, compiler: Any) -> tuple[str, Any]:
        source = self.get_source_expressions()[0]
        trunc = (
            Trunc(source, "month", output_field=DateField())
            if self.is_date
            else Trunc(source, "month", output_field=DateField(), tzinfo=local_zone())
        )
        return compiler.compile(trunc.resolve_expression(compiler.query))

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, Any]:
        return self._trunc(compiler)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        offset = 0 if self.is_date else fixed_offset_seconds()
        if offset is None:
            return self._trunc(compiler)
        sql, params = compiler.compile(self.get_source_expressions()[0])
        # '%%': the SQLite backend formats the query with its parameters
        return f"strftime('%%Y-%%m-01', {sql}, '{offset:+d} seconds')", params


def fixed_offset_seconds() -> int | None:
    """The local zone's UTC offset in seconds when it is the same all year (no daylight
    saving in the years around now), else None."""
    zone = local_zone()
    year = timezone.now().year
    offsets = {
        dt.datetime(y, m, 1, tzinfo=zone).utcoffset()
        for y in range(year - 6, year + 2)
        for m in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    return None if offset is None else int(offset.total_seconds())


def local_month(moment: str | Any) -> LocalMonth:
    """The first day of the local month of a datetime column or expression."""
    return LocalMonth(F(moment) if isinstance(moment, str) else moment)


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=local_zone())


@dataclass(frozen=True)
class Part:
    """Source rows of a fact. `rows(now)` returns them annotated with k_owner, k_region,
    k_department (through `path` to their customer), `month` and the fact's dimensions;
    `moment` is the column (or annotation) whose local month is `month`, None for a fact
    without months; `measures(now)` are the aggregates summed into the model's columns."""

    path: str
    rows: Callable[[dt.datetime], QuerySet[Any]]
    measures: Callable[[dt.datetime], dict[str, Any]]
    moment: str | None = None
    date_moment: bool = False  # a DateField (contracts' signed_on): no time zone
    # For the refresh of recent months: a condition an index can answer that the source rows
    # whose moment falls from `since` on meet (nearly all: see _recent_tickets).
    recent: Callable[[dt.datetime], Q] | None = None


@dataclass(frozen=True)
class Fact:
    report: str  # the ReportRefresh key whose freshness this fact shares
    model: type[models.Model]
    dims: tuple[str, ...]
    sums: tuple[str, ...]
    parts: tuple[Part, ...]
    monthly: bool = True


def _keys(path: str) -> dict[str, F]:
    return {
        "k_owner": F(f"{path}owner_id"),
        "k_region": F(f"{path}region_id"),
        "k_department": F(f"{path}department_id"),
    }


# --- the facts ---------------------------------------------------------------------------------


def _customers(now: dt.datetime) -> QuerySet[Any]:
    from customers.models import Customer

    return Customer.objects.filter(merged_into__isnull=True).annotate(
        **_keys(""),
        value_class=Coalesce(F("value__abc_class"), Value(""), output_field=models.CharField()),
    )


def _customer_months(now: dt.datetime) -> QuerySet[Any]:
    from customers.models import Customer

    return Customer.objects.filter(merged_into__isnull=True).annotate(
        **_keys(""), month=local_month("created_at")
    )


def _contracts(now: dt.datetime) -> QuerySet[Any]:
    from onboarding.models import ServiceContract

    return ServiceContract.objects.filter(customer__merged_into__isnull=True).annotate(
        **_keys("customer__"),
        month=LocalMonth(F("signed_on"), is_date=True),
        value_class=Coalesce(
            F("customer__value__abc_class"), Value(""), output_field=models.CharField()
        ),
    )


def _surveys(now: dt.datetime) -> QuerySet[Any]:
    from service.models import Survey

    return Survey.objects.filter(
        answered_at__isnull=False, customer__merged_into__isnull=True
    ).annotate(**_keys("customer__"), month=local_month("answered_at"))


def _survey_measures(now: dt.datetime) -> dict[str, Any]:
    return {
        "answered": Count("pk"),
        "csat_count": Count("csat"),
        "csat_sum": Coalesce(Sum("csat"), 0),
        "nps_count": Count("nps"),
        "promoters": Count("pk", filter=Q(nps__gte=9)),
        "detractors": Count("pk", filter=Q(nps__lte=6)),
    }


# Tickets whose deadline falls in the recent months were created at most this long before
# them (deadlines are hours to days after creation, moved on by waiting). The refresh of recent
# months reads only those (the created_at index answers: a scan of every ticket took 10 s at
# two million on SQLite, this 0.6 s); a ticket reopened long after it was created waits for
# the nightly rebuild.
TICKET_LOOKBACK = dt.timedelta(days=92)


def _recent_tickets(since: dt.datetime) -> Q:
    return Q(created_at__gte=since - TICKET_LOOKBACK)


def _on_time_late(done: str, due: str, still_open: Q, now: dt.datetime) -> dict[str, Any]:
    """Done by the deadline: on time. Done after it, or still open (`still_open`) with the
    deadline passed: late. Open and not yet due: neither."""
    return {
        "on_time": Count("pk", filter=Q(**{f"{done}__lte": F(due)})),
        "late": Count(
            "pk",
            filter=Q(**{f"{done}__gt": F(due)})
            | (Q(**{f"{done}__isnull": True, f"{due}__lte": now}) & still_open),
        ),
    }


def _tasks(now: dt.datetime) -> QuerySet[Any]:
    from workflow.models import OPEN_TASK_STATUSES, Task, TaskStatus

    return (
        Task.objects.filter(due_at__isnull=False, customer__merged_into__isnull=True)
        .filter(Q(status=TaskStatus.COMPLETED) | Q(status__in=OPEN_TASK_STATUSES))
        .annotate(
            **_keys("customer__"),
            month=local_month("due_at"),
            measure=Value(SLA_TASK, output_field=models.CharField()),
            done=models.Case(
                models.When(status=TaskStatus.COMPLETED, then=F("completed_at")),
                default=None,
                output_field=DateTimeField(),
            ),
        )
    )


def _task_measures(now: dt.datetime) -> dict[str, Any]:
    from workflow.models import OPEN_TASK_STATUSES

    return _on_time_late("done", "due_at", Q(status__in=OPEN_TASK_STATUSES), now)


def _ticket_response(now: dt.datetime) -> QuerySet[Any]:
    from service.models import Ticket

    return Ticket.objects.filter(
        first_response_due_at__isnull=False, customer__merged_into__isnull=True
    ).annotate(
        **_keys("customer__"),
        month=local_month("first_response_due_at"),
        measure=Value(SLA_RESPONSE, output_field=models.CharField()),
    )


def _response_measures(now: dt.datetime) -> dict[str, Any]:
    return _on_time_late("first_responded_at", "first_response_due_at", Q(), now)


def _ticket_resolution(now: dt.datetime) -> QuerySet[Any]:
    from service.models import Ticket

    return Ticket.objects.filter(
        resolution_due_at__isnull=False, customer__merged_into__isnull=True
    ).annotate(
        **_keys("customer__"),
        month=local_month("resolution_due_at"),
        measure=Value(SLA_RESOLUTION, output_field=models.CharField()),
        done=Coalesce("resolved_at", "closed_at"),
    )


def _resolution_measures(now: dt.datetime) -> dict[str, Any]:
    from service.models import TicketStatus

    # A ticket waiting on the customer has its clock stopped: not late while it waits.
    return _on_time_late("done", "resolution_due_at", ~Q(status=TicketStatus.WAITING), now)


def _inquiries(now: dt.datetime) -> QuerySet[Any]:
    from inquiries.models import Inquiry

    return (
        Inquiry.objects.filter(customer__merged_into__isnull=True)
        .filter(Q(first_due_at__isnull=False) | Q(due_at__isnull=False))
        .annotate(
            **_keys("customer__"),
            deadline=Coalesce("first_due_at", "due_at"),
            measure=Value(SLA_INQUIRY, output_field=models.CharField()),
        )
        .annotate(month=local_month("deadline"))
    )


def _inquiry_measures(now: dt.datetime) -> dict[str, Any]:
    from inquiries.models import InquiryStatus

    return _on_time_late("first_replied_at", "deadline", ~Q(status=InquiryStatus.CLOSED), now)


CUSTOMERS = Fact(
    report="customers",
    model=CustomerCountAggregate,
    dims=("status", "value_class"),
    sums=("customers", "monetary"),
    parts=(
        Part(
            "",
            _customers,
            lambda now: {
                "customers": Count("pk"),
                "monetary": Coalesce(Sum("value__monetary"), 0, output_field=models.DecimalField()),
            },
        ),
    ),
    monthly=False,
)
CUSTOMER_MONTHS = Fact(
    report="customers",
    model=CustomerMonthAggregate,
    dims=("month",),
    sums=("customers",),
    parts=(Part("", _customer_months, lambda now: {"customers": Count("pk")}, "created_at"),),
)
CONTRACTS = Fact(
    report="value",
    model=ContractMonthAggregate,
    dims=("month", "value_class"),
    sums=("contracts", "fee_months"),
    parts=(
        Part(
            "customer__",
            _contracts,
            lambda now: {
                "contracts": Count("pk"),
                "fee_months": Coalesce(
                    Sum(F("annual_fee") * F("term_months"), output_field=models.DecimalField()),
                    Value(Decimal(0)),
                    output_field=models.DecimalField(),
                ),
            },
            "signed_on",
            date_moment=True,
        ),
    ),
)
SURVEYS = Fact(
    report="satisfaction",
    model=SurveyMonthAggregate,
    dims=("month",),
    sums=("answered", "csat_count", "csat_sum", "nps_count", "promoters", "detractors"),
    parts=(Part("customer__", _surveys, _survey_measures, "answered_at"),),
)
SLA = Fact(
    report="sla",
    model=SlaMonthAggregate,
    dims=("month", "measure"),
    sums=("on_time", "late"),
    parts=(
        Part("customer__", _tasks, _task_measures, "due_at"),
        Part(
            "customer__",
            _ticket_response,
            _response_measures,
            "first_response_due_at",
            recent=_recent_tickets,
        ),
        Part(
            "customer__",
            _ticket_resolution,
            _resolution_measures,
            "resolution_due_at",
            recent=_recent_tickets,
        ),
        Part("customer__", _inquiries, _inquiry_measures, "deadline"),
    ),
)
FACTS: tuple[Fact, ...] = (CUSTOMERS, CUSTOMER_MONTHS, CONTRACTS, SURVEYS, SLA)
REPORT_KEYS = ("customers", "value", "satisfaction", "sla")
# Reports reading a fact besides their own (the value report counts customers per class).
READERS: dict[str, tuple[Fact, ...]] = {
    "customers": (CUSTOMERS, CUSTOMER_MONTHS),
    "value": (CUSTOMERS, CONTRACTS),
    "satisfaction": (SURVEYS,),
    "sla": (SLA,),
}


# --- reading -----------------------------------------------------------------------------------


def months_of(filters: ReportFilters) -> tuple[dt.date, dt.date]:
    """The whole months the period touches: (first day of the first, first day of the last).
    Monthly figures cover whole months."""
    return month_start(filters.first_day), month_start(filters.last_day)


def _period_rows(part: Part, qs: QuerySet[Any], filters: ReportFilters) -> QuerySet[Any]:
    first, last = months_of(filters)
    after = add_months(last, 1)
    if part.date_moment:
        return qs.filter(**{f"{part.moment}__gte": first, f"{part.moment}__lt": after})
    return qs.filter(
        **{
            f"{part.moment}__gte": local_midnight(first),
            f"{part.moment}__lt": local_midnight(after),
        }
    )


def _merge(
    rows: Iterable[dict[str, Any]], dims: Sequence[str], sums: Sequence[str]
) -> list[dict[str, Any]]:
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[d] for d in dims)
        into = merged.get(key)
        if into is None:
            merged[key] = {**{d: row[d] for d in dims}, **{s: row[s] or 0 for s in sums}}
        else:
            for s in sums:
                into[s] += row[s] or 0
    return list(merged.values())


def live_figures(
    fact: Fact, user: User, filters: ReportFilters, dims: Sequence[str], now: dt.datetime
) -> list[dict[str, Any]]:
    """The fact's sums per `dims`, computed from the source rows of the customers `user` may
    see that the filters select (monthly facts: in the period's months)."""
    rows: list[dict[str, Any]] = []
    for part in fact.parts:
        qs = part.rows(now).filter(customer_scope(user, filters, part.path))
        if fact.monthly:
            qs = _period_rows(part, qs, filters)
        rows.extend(qs.order_by().values(*dims).annotate(**part.measures(now)))
    return _merge(rows, dims, fact.sums)


def aggregate_figures(
    fact: Fact, user: User, filters: ReportFilters, dims: Sequence[str]
) -> list[dict[str, Any]]:
    """The same sums read from the aggregate rows: of everyone, or of the filters' segment
    (whose figures the caller found ready: reports.segment_figures.ready_figures)."""
    segment_id = filters.segment.pk if filters.segment is not None else None
    qs = (
        fact.model.objects.filter(key_scope(user, filters))  # type: ignore[attr-defined]
        .filter(segment_id=segment_id)
        .annotate(**{name: F(column) for name, column in KEY_COLUMNS})
    )
    if fact.monthly:
        first, last = months_of(filters)
        qs = qs.filter(month__gte=first, month__lte=last)
    rows = qs.order_by().values(*dims).annotate(**{f"t_{s}": Sum(s) for s in fact.sums})
    return _merge(
        ({**{d: r[d] for d in dims}, **{s: r[f"t_{s}"] for s in fact.sums}} for r in rows),
        dims,
        fact.sums,
    )


def figures(
    fact: Fact,
    user: User,
    filters: ReportFilters,
    dims: Sequence[str],
    now: dt.datetime,
    *,
    live: bool = False,
) -> list[dict[str, Any]]:
    """From the aggregates, unless `live` (no refresh has run yet, or the filters' segment has
    no precomputed figures yet)."""
    if live:
        return live_figures(fact, user, filters, dims, now)
    return aggregate_figures(fact, user, filters, dims)


# --- refreshing --------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    full: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _fields(fact: Fact) -> list[models.Field[Any, Any]]:
    """The aggregate model's columns in insert order: keys, segment, dimensions, sums."""
    meta = fact.model._meta
    names = [c for _n, c in KEY_COLUMNS] + ["segment_id", *fact.dims, *fact.sums]
    fields = [meta.get_field(name) for name in names]
    return [field for field in fields if isinstance(field, models.Field)]


def _grouped(
    fact: Fact, now: dt.datetime, from_month: dt.date | None, segment: Segment | None = None
) -> list[list[Any]]:
    """The fact's aggregate rows (KEY_COLUMNS, segment, dims, sums) from fresh GROUP BYs over
    the source rows (from `from_month` on; all when None; only the customers of `segment`
    when given), ready to insert."""
    group = [name for name, _column in KEY_COLUMNS] + list(fact.dims)
    fields = _fields(fact)
    names = [*group[: len(KEY_COLUMNS)], "segment_id", *group[len(KEY_COLUMNS) :], *fact.sums]
    segment_id = segment.pk if segment is not None else None
    rows: list[list[Any]] = []
    for part in fact.parts:
        qs = part.rows(now)
        if segment is not None:
            qs = qs.filter(segment_members_q(segment, prefix=part.path))
        if fact.monthly and from_month is not None:
            since: Any = from_month if part.date_moment else local_midnight(from_month)
            qs = qs.filter(**{f"{part.moment}__gte": since})
            if part.recent is not None:
                qs = qs.filter(part.recent(local_midnight(from_month)))
        grouped = qs.order_by().values(*group).annotate(**part.measures(now))
        for row in grouped.iterator(chunk_size=BATCH):
            row["segment_id"] = segment_id
            rows.append(
                [
                    field.get_db_prep_save(
                        row[name] if name in group or name == "segment_id" else row[name] or 0,
                        connection,
                    )
                    for field, name in zip(fields, names, strict=True)
                ]
            )
    return rows


def _write(
    fact: Fact, rows: list[list[Any]], from_month: dt.date | None, segment_id: int | None = None
) -> None:
    """Replace the fact's rows of everyone (or of segment `segment_id`) from `from_month` on
    (all when None) by `rows`: one DELETE, then multi-row INSERTs (inside the caller's
    transaction)."""
    meta = fact.model._meta
    stale = fact.model._default_manager.filter(segment_id=segment_id)
    if fact.monthly and from_month is not None:
        stale = stale.filter(month__gte=from_month)
    stale._raw_delete(stale.db)
    columns = [str(field.column) for field in _fields(fact)]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - model's own names
        quote(meta.db_table),
        ", ".join(quote(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


def _full_due(state: ReportRefresh | None, now: dt.datetime) -> bool:
    if state is None or state.full_at is None:
        return True
    from insights.models import ValueSettings

    classes_at = ValueSettings.objects.order_by("pk").values_list("computed_at", flat=True).first()
    if classes_at is not None and classes_at > state.full_at:
        return True
    local = timezone.localtime(now)
    return local.hour >= NIGHTLY_HOUR and timezone.localtime(state.full_at).date() < local.date()


def reports_refresh(*, full: bool = False, now: dt.datetime | None = None) -> RefreshResult:
    """Bring every customer-report aggregate up to date (see the module docstring) and record
    each report's freshness; then the same for each segment reported on lately (in full for a
    segment without figures of its current definition yet). The GROUP BYs read outside any
    transaction (readers never wait and writers are not held up on SQLite); the rows are then
    replaced in one short transaction per segment. Two refreshes at once both compute; the
    later one's rows stay."""
    started = time.monotonic()
    now = now or timezone.now()
    result = RefreshResult()
    anchor = ReportRefresh.objects.filter(key="customers").first()
    result.full = full or _full_due(anchor, now)
    recent = add_months(month_start(timezone.localdate(now)), -1)
    from_month = None if result.full else recent
    jobs = seg.segment_jobs(seg.CUSTOMER_REPORTS, now, full=result.full)
    computed = [(fact, _grouped(fact, now, from_month)) for fact in FACTS]
    with transaction.atomic():
        for key in REPORT_KEYS:
            ReportRefresh.objects.get_or_create(key=key)
        states = list(
            ReportRefresh.objects.select_for_update().filter(key__in=REPORT_KEYS).order_by("key")
        )
        for fact, rows in computed:
            _write(fact, rows, from_month)
            result.rows[fact.model.__name__] = len(rows)
        result.seconds = round(time.monotonic() - started, 2)
        for state in states:
            state.started_at = now
            state.finished_at = now
            state.seconds = result.seconds
            state.mark_at = now
            if result.full:
                state.full_at = now
            state.save()
        unreported = seg.unreported(seg.CUSTOMER_REPORTS, jobs)
        for fact in FACTS:
            gone = fact.model._default_manager.filter(unreported)
            gone._raw_delete(gone.db)
    for job in jobs:
        since = None if job.full else recent
        mine = [(fact, _grouped(fact, now, since, job.segment)) for fact in FACTS]
        with transaction.atomic():
            if not seg.still_current(job):
                continue
            for fact, rows in mine:
                _write(fact, rows, since, job.segment.pk)
                name = f"{fact.model.__name__} segment {job.segment.pk}"
                result.rows[name] = len(rows)
            seg.record(seg.CUSTOMER_REPORTS, job, now)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def freshness(key: str) -> ReportRefresh | None:
    return ReportRefresh.objects.filter(key=key, finished_at__isnull=False).first()
