"""Onboarding funnel and step cycle times (入网漏斗与各步骤周期): of the cases of one process
started in the period, how many reached each SOP step, how many completed the whole process,
how many were cancelled and at which step they stopped; per step the median and p90 cycle
time and the bottleneck.

Definitions (shown on the page and in the export):
- The cases: cases of the chosen process started in the period (local days), at customers the
  viewer may see that the filters select. Every figure is about these cases.
- Reached: cases with at least one task at the step (a step done twice counts once).
- Cycle time: from a task's creation to its completion, in calendar hours (nights, weekends
  and holidays included), over every completed task of the step (a repeated step counts each
  time). Median and p90 are read from a histogram (service.dashboard.histogram_quantile): the
  true value lies in the bucket shown.
- Bottleneck: the step with the highest median cycle time (ties: the higher p90).
- Waiting now: open cases with an open task at the step. Stopped here: cancelled cases whose
  task at the step was open when the case was cancelled.
- Step order: the SOP order of the process diagram (user tasks by their distance from the
  start event along the flows; the same distance: the diagram's order).

What is precomputed: `StepMonthlyStat` rows per (definition, month of the case's start, step,
customer owner, district, department) hold the counters and histograms; a period made of whole
months sums its rows (`key_scope` selects what the viewer may see); the days of a partial month
at either end of the period are counted from the cases and tasks themselves. `StepDailyStat`
holds the same per day for everyone together. Rows with a `segment_id` hold the same for the
cases of one saved segment's customers, kept for the segments reported on lately
(reports.segment_figures: recounted as everyone's are, all days on a segment's first refresh);
a segment without them yet is counted from the cases.
Both are sums of `StepCellStat` cells per (definition, day, step, customer keys), which is what
`funnel_refresh` counts from the cases and tasks (set-based SQL, a few queries whatever the
number of cases). Every ten minutes it recounts only the cells of the cases touched since the
previous refresh (tasks opened or completed, cases started or ended, read from a quarter of an
hour before the previous refresh started so a transaction still open then is not missed), then
sums the monthly rows of their groups and the daily rows of their days from the cells; a day
whose cells no longer count each of its cases once (a touched case of a customer moved to
other keys or merged) is recounted whole. Once a day everything is rebuilt (which also
catches a customer moved to another owner or district).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Segment
from customers.segments import segment_members_q
from reports import segment_figures as seg
from reports.filters import ReportFilters, customer_scope, key_scope, local_zone
from reports.models import ReportRefresh
from service.dashboard import Estimate, histogram_quantile
from service.models import HOUR_BUCKET_EDGES, HOUR_BUCKETS
from workflow import bpmn
from workflow.graph import NodeType, ProcessGraph
from workflow.models import (
    STEP_CYCLE_BUCKETS,
    Case,
    CaseStatus,
    DefinitionVersion,
    ProcessDefinition,
    StepCellStat,
    StepDailyStat,
    StepMonthlyStat,
    Task,
    TaskStatus,
    VersionStatus,
    step_cycle_field,
)

assert STEP_CYCLE_BUCKETS == HOUR_BUCKETS, "the step histograms use the dashboard's buckets"

KEY = "funnel"
DEFAULT_PROCESS_KEY = "fire-monitoring-onboarding"
CYCLE_FIELDS = tuple(step_cycle_field(i) for i in range(HOUR_BUCKETS))
COUNTERS = ("cases", "completed", "open", "stopped")
# Tasks opened or completed shortly before the previous refresh started are read again.
OVERLAP = dt.timedelta(minutes=15)
OPEN_CASE = (CaseStatus.RUNNING, CaseStatus.ON_HOLD)
OPEN_TASK = (TaskStatus.READY, TaskStatus.CLAIMED)
CASE_ROW = ""  # the node_id of the cases' own row

DEFINITIONS: list[tuple[Any, Any]] = [
    (
        _("Cases"),
        _(
            "Cases of the chosen process started in the period, at the customers you may see "
            "that the filters select. Every figure below is about these cases."
        ),
    ),
    (_("Reached"), _("Cases with at least one task at the step (a repeated step counts once).")),
    (
        _("Cycle time"),
        _(
            "From a task's creation to its completion, in calendar hours (nights, weekends and "
            "holidays included), over every completed task of the step. Median and p90 are read "
            "from a histogram: the true value lies in the range shown."
        ),
    ),
    (
        _("Bottleneck"),
        _("The step with the highest median cycle time (on a tie, the higher p90)."),
    ),
    (_("Waiting now"), _("Open cases with an open task at the step.")),
    (
        _("Stopped here"),
        _("Cancelled cases whose task at the step was still open when the case was cancelled."),
    ),
    (
        _("Step order"),
        _(
            "The SOP order of the process diagram: steps by their distance from the start "
            "along the flows."
        ),
    ),
]


# --- counters -------------------------------------------------------------------------------


@dataclass
class Counters:
    """Of one step (or, for CASE_ROW, of the cases): cases reached (started), tasks completed
    (cases completed), open cases waiting (open), cancelled cases stopped (cancelled), and the
    cycle-time histogram."""

    cases: int = 0
    completed: int = 0
    open: int = 0
    stopped: int = 0
    cycles: list[int] = field(default_factory=lambda: [0] * HOUR_BUCKETS)

    def add(self, other: Counters) -> None:
        self.cases += other.cases
        self.completed += other.completed
        self.open += other.open
        self.stopped += other.stopped
        self.cycles = [a + b for a, b in zip(self.cycles, other.cycles, strict=True)]


Tally = dict[str, Counters]


class HoursBetween(Func):
    """Hours from `start` to `end` (two datetime columns) as a float, computed natively: on
    SQLite from julianday() (Django's own duration arithmetic there calls back into Python for
    every row), on PostgreSQL from the epoch of the interval."""

    arity = 2
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 24.0)",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM (%(expressions)s)) / 3600.0)",
            arg_joiner=" - ",
            **extra,
        )


def _cycle_bucket() -> SqlCase:
    """The histogram bucket of a completed task's cycle time (annotated as `_cycle`, in hours),
    computed by the database: the same as service.dashboard.hour_bucket (the first edge above
    it; a negative time falls in the first bucket)."""
    return SqlCase(
        *[
            When(Q(_cycle__lt=float(edge)), then=Value(index))
            for index, edge in enumerate(HOUR_BUCKET_EDGES)
        ],
        default=Value(len(HOUR_BUCKET_EDGES)),
        output_field=IntegerField(),
    )


def _month(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(local_zone())
        return value.date()
    assert isinstance(value, dt.date)
    return value


def count_cases(cases: QuerySet[Case], keyed: bool) -> dict[tuple[Any, ...], Tally]:
    """The counters of `cases`, per step; `keyed`: grouped by (definition, day started, owner,
    district, department) too (the refresh rolls these up into its monthly rows per keys and
    daily rows of everyone: a case lies in exactly one group, so even the counts of distinct
    cases add up), else one group `()`. Three grouped queries whatever the number of cases."""
    case_keys: dict[str, Any] = {}
    task_keys: dict[str, Any] = {}
    if keyed:
        case_keys = {
            "k_def": F("version__definition_id"),
            "k_day": TruncDate("started_at", tzinfo=local_zone()),
            "k_owner": F("customer__owner_id"),
            "k_region": F("customer__region_id"),
            "k_dept": F("customer__department_id"),
        }
        task_keys = {
            "k_def": F("case__version__definition_id"),
            "k_day": TruncDate("case__started_at", tzinfo=local_zone()),
            "k_owner": F("case__customer__owner_id"),
            "k_region": F("case__customer__region_id"),
            "k_dept": F("case__customer__department_id"),
        }
    names = list(case_keys)
    result: dict[tuple[Any, ...], Tally] = defaultdict(lambda: defaultdict(Counters))

    def group(row: dict[str, Any]) -> tuple[Any, ...]:
        if not keyed:
            return ()
        return (
            row["k_def"],
            _month(row["k_day"]),
            row["k_owner"],
            row["k_region"],
            row["k_dept"],
        )

    started = (
        cases.order_by().annotate(**case_keys).values(*names, "status").annotate(n=Count("id"))
    )
    for row in started:
        counters = result[group(row)][CASE_ROW]
        counters.cases += row["n"]
        if row["status"] == CaseStatus.COMPLETED:
            counters.completed += row["n"]
        elif row["status"] == CaseStatus.CANCELLED:
            counters.stopped += row["n"]
        else:
            counters.open += row["n"]

    tasks = Task.objects.filter(case__in=cases.order_by().values("id")).order_by()
    steps = (
        tasks.annotate(**task_keys)
        .values(*names, "node_id")
        .annotate(
            reached=Count("case_id", distinct=True),
            done=Count("id", filter=Q(status=TaskStatus.COMPLETED)),
            waiting=Count(
                "case_id",
                distinct=True,
                filter=Q(status__in=OPEN_TASK, case__status__in=OPEN_CASE),
            ),
            stopped=Count(
                "case_id",
                distinct=True,
                filter=Q(status=TaskStatus.CANCELLED, case__status=CaseStatus.CANCELLED),
            ),
        )
    )
    for row in steps:
        counters = result[group(row)][row["node_id"]]
        counters.cases += row["reached"]
        counters.completed += row["done"]
        counters.open += row["waiting"]
        counters.stopped += row["stopped"]

    cycles = (
        tasks.filter(status=TaskStatus.COMPLETED, completed_at__isnull=False)
        .annotate(**task_keys, _cycle=HoursBetween("completed_at", "created_at"))
        .annotate(bucket=_cycle_bucket())
        .values(*names, "node_id", "bucket")
        .annotate(n=Count("id"))
    )
    for row in cycles:
        result[group(row)][row["node_id"]].cycles[row["bucket"]] += row["n"]
    return result


# --- refresh (derived data: no permission, no audit row) -------------------------------------


def _month_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day.replace(day=1), dt.time(), tzinfo=local_zone())


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=local_zone())


def _lock(key: str) -> None:
    list(ReportRefresh.objects.select_for_update().filter(key=key).values_list("pk"))


def _as_date(value: Any) -> dt.date:
    """A date read by a raw query: a date (PostgreSQL) or its ISO text (SQLite)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _sql_text(value: str) -> str:
    """A status constant of this module as an SQL literal (never user input)."""
    assert value.isidentifier(), value
    return f"'{value}'"


def _insert_cells(cases: QuerySet[Case], segment_id: int | None = None) -> int:
    """Count the cells of `cases` (per definition, day started, owner, district, department
    and step) into StepCellStat in one INSERT … SELECT, whatever the number of cases; the rows
    written (carrying `segment_id`). The same figures as count_cases: the tasks are first
    folded per (case, step), so that a case reached counts once without a DISTINCT; cycle
    times are bucketed by the database as _cycle_bucket does."""
    keys = (
        cases.order_by()
        .annotate(
            k_def=F("version__definition_id"),
            k_day=TruncDate("started_at", tzinfo=local_zone()),
            k_owner=F("customer__owner_id"),
            k_region=F("customer__region_id"),
            k_dept=F("customer__department_id"),
        )
        .values("id", "status", "k_def", "k_day", "k_owner", "k_region", "k_dept")
    )
    case_sql, case_params = keys.query.sql_with_params()
    params: list[Any] = [*case_params, segment_id]
    if connection.vendor == "postgresql":
        # An interval compares as its exact length: the buckets of _cycle_bucket, in one binary
        # search instead of up to 22 numeric divisions per task.
        bucket = "width_bucket(t.completed_at - t.created_at, %s::interval[])"
        params.append([dt.timedelta(hours=edge) for edge in HOUR_BUCKET_EDGES])
    else:
        hours = "((julianday(t.completed_at) - julianday(t.created_at)) * 24.0)"
        whens = " ".join(
            f"WHEN {hours} < {float(edge)!r} THEN {index}"
            for index, edge in enumerate(HOUR_BUCKET_EDGES)
        )
        bucket = f"CASE {whens} ELSE {len(HOUR_BUCKET_EDGES)} END"
    quote = connection.ops.quote_name
    task = quote(Task._meta.db_table)
    completed = _sql_text(TaskStatus.COMPLETED)
    cancelled = _sql_text(CaseStatus.CANCELLED)
    open_task = ", ".join(_sql_text(s) for s in OPEN_TASK)
    open_case = ", ".join(_sql_text(s) for s in OPEN_CASE)
    ended = ", ".join(_sql_text(s) for s in (CaseStatus.COMPLETED, CaseStatus.CANCELLED))

    empty = "''"

    def cell(node: str) -> str:
        return f"k.k_day, k.k_def, {node} AS node_id, k.k_owner, k.k_region, k.k_dept"

    columns = [
        "day",
        "definition_id",
        "node_id",
        "customer_owner_id",
        "customer_region_id",
        "customer_department_id",
        *COUNTERS,
        *CYCLE_FIELDS,
        "segment_id",
    ]
    buckets = ", ".join(
        f"SUM(CASE WHEN x.bucket = {index} THEN 1 ELSE 0 END)" for index in range(HOUR_BUCKETS)
    )
    by = "x.k_day, x.k_def, x.node_id, x.k_owner, x.k_region, x.k_dept"
    # Only this module's constants and the ORM's own SQL are interpolated; values are bound.
    sql = (
        f"WITH k AS ({case_sql}) "  # noqa: S608
        f"INSERT INTO {quote(StepCellStat._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) "
        f"SELECT {by}, SUM(x.n_cases), SUM(x.n_done), SUM(x.n_open), SUM(x.n_stopped), "
        f"{buckets}, CAST(%s AS bigint) FROM ("
        # The cases themselves: started, completed, open, cancelled.
        f"SELECT {cell(empty)}, 1 AS n_cases, "
        f"CASE WHEN k.status = {_sql_text(CaseStatus.COMPLETED)} THEN 1 ELSE 0 END AS n_done, "
        f"CASE WHEN k.status IN ({ended}) THEN 0 ELSE 1 END AS n_open, "
        f"CASE WHEN k.status = {cancelled} THEN 1 ELSE 0 END AS n_stopped, "
        "CAST(NULL AS integer) AS bucket FROM k "
        # Each step a case reached: once, with its completed tasks, waiting or stopped there.
        f"UNION ALL SELECT {cell('p.node_id')}, 1, p.done, "
        f"CASE WHEN p.has_open = 1 AND k.status IN ({open_case}) THEN 1 ELSE 0 END, "
        f"CASE WHEN p.has_cancelled = 1 AND k.status = {cancelled} THEN 1 ELSE 0 END, "
        "CAST(NULL AS integer) "
        "FROM k JOIN (SELECT t.case_id, t.node_id, "
        f"SUM(CASE WHEN t.status = {completed} THEN 1 ELSE 0 END) AS done, "
        f"MAX(CASE WHEN t.status IN ({open_task}) THEN 1 ELSE 0 END) AS has_open, "
        f"MAX(CASE WHEN t.status = {_sql_text(TaskStatus.CANCELLED)} THEN 1 ELSE 0 END) "
        f"AS has_cancelled FROM {task} t WHERE t.case_id IN (SELECT id FROM k) "
        "GROUP BY t.case_id, t.node_id) p ON p.case_id = k.id "
        # Each completed task's cycle time.
        f"UNION ALL SELECT {cell('t.node_id')}, 0, 0, 0, 0, {bucket} "
        f"FROM k JOIN {task} t ON t.case_id = k.id "
        f"WHERE t.status = {completed} AND t.completed_at IS NOT NULL"
        f") x GROUP BY {by}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Compiling these aggregates just in time costs far more than running them.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


CELL_KEYS = (
    "definition_id",
    "customer_owner_id",
    "customer_region_id",
    "customer_department_id",
)
SUMMED = (*COUNTERS, *CYCLE_FIELDS)


def _insert_sums(
    model: Any, cells: QuerySet[StepCellStat], keys: Sequence[str], **fixed: Any
) -> int:
    """Insert rows of `model` summing `cells` per `keys` and step (with the `fixed` values) in
    one INSERT … SELECT; the rows written."""
    sums = (
        cells.order_by()
        .values(*keys, "node_id")
        .annotate(**{f"s_{name}": Sum(name) for name in SUMMED})
    )
    select_sql, select_params = sums.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = [*fixed, *keys, "node_id", *SUMMED]
    # A NULL segment_id needs its type: an untyped NULL in a SELECT list is text to PostgreSQL.
    constants = ", ".join("CAST(%s AS bigint)" if name == "segment_id" else "%s" for name in fixed)
    picked = ", ".join(["s.*"] if not fixed else [constants, "s.*"])
    # The table and column names are the models'; values are bound.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT {picked} FROM ({select_sql}) s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*fixed.values(), *select_params])
        return max(cursor.rowcount, 0)


def _counted(segment: Segment | None = None) -> QuerySet[Case]:
    """The cases the figures count: of customers not merged (and of `segment`'s customers)."""
    cases = Case.objects.filter(customer__merged_into__isnull=True)
    if segment is not None:
        cases = cases.filter(segment_members_q(segment, prefix="customer__"))
    return cases


def _in(field: str, values: set[Any]) -> Q:
    """`field` is one of `values` (None matching NULL)."""
    found = Q(**{f"{field}__in": sorted(v for v in values if v is not None)})
    if None in values:
        found |= Q(**{f"{field}__isnull": True})
    return found


def _day_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Runs of consecutive days as (first, day after the last)."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + dt.timedelta(days=1))
        else:
            ranges.append((day, day + dt.timedelta(days=1)))
    return ranges


Keys = tuple[set[Any], set[Any], set[Any], set[Any]]


def _keys_q(keys: Keys | None, prefix: str = "") -> Q:
    """The cells (or, with prefix "customer__" for the customer's keys, the cases) whose
    definition, owner, district and department are each among `keys` (None: any)."""
    if keys is None:
        return Q()
    definitions, owners, regions, depts = keys
    if prefix:
        return (
            _in("version__definition_id", definitions)
            & _in(f"{prefix}owner_id", owners)
            & _in(f"{prefix}region_id", regions)
            & _in(f"{prefix}department_id", depts)
        )
    return (
        _in("definition_id", definitions)
        & _in("customer_owner_id", owners)
        & _in("customer_region_id", regions)
        & _in("customer_department_id", depts)
    )


def _touched(since: dt.datetime) -> dict[dt.date, Keys]:
    """Per day, the keys of the cells of the cases touched since `since` (tasks opened or
    completed, cases started or ended): their product is recounted."""
    tasks = Task.objects.filter(Q(created_at__gte=since) | Q(completed_at__gte=since)).values(
        "case_id"
    )
    touched = (
        Case.objects.filter(Q(started_at__gte=since) | Q(ended_at__gte=since) | Q(id__in=tasks))
        .order_by()
        .annotate(k_day=TruncDate("started_at", tzinfo=local_zone()))
        .values_list(
            "version__definition_id",
            "k_day",
            "customer__owner_id",
            "customer__region_id",
            "customer__department_id",
        )
        .distinct()
    )
    days: dict[dt.date, Keys] = {}
    for definition_id, day, owner, region, dept in touched:
        keys = days.setdefault(_as_date(day), (set(), set(), set(), set()))
        for found, value in zip(keys, (definition_id, owner, region, dept), strict=True):
            found.add(value)
    return days


def _miscounted(days: Iterable[dt.date], segment: Segment | None = None) -> set[dt.date]:
    """The days whose cells (of everyone, or of `segment`) do not count each of their cases
    once: a case whose customer moved to other keys (or was merged, or left the segment) is
    still in its former cell, which only a recount of the whole day finds."""
    ranges = _day_ranges(days)
    started, cells = Q(pk__in=[]), Q(pk__in=[])
    for first, end in ranges:
        started |= Q(started_at__gte=_day_start(first), started_at__lt=_day_start(end))
        cells |= Q(day__gte=first, day__lt=end)
    counted = dict(
        _counted(segment)
        .filter(started)
        .order_by()
        .annotate(k_day=TruncDate("started_at", tzinfo=local_zone()))
        .values_list("k_day")
        .annotate(n=Count("id"))
    )
    summed = dict(
        StepCellStat.objects.filter(cells, node_id=CASE_ROW, segment_id=_segment_id(segment))
        .order_by()
        .values_list("day")
        .annotate(n=Sum("cases"))
    )
    found = set()
    for first, end in ranges:
        day = first
        while day < end:
            if counted.get(day, 0) != (summed.get(day) or 0):
                found.add(day)
            day += dt.timedelta(days=1)
    return found


@dataclass(frozen=True)
class RefreshResult:
    full: bool
    months: int
    rows: int
    seconds: float


class _SegmentChanged(Exception):
    """The segment being refreshed was changed or deleted meanwhile: its rows are not written."""


def _segment_id(segment: Segment | None) -> int | None:
    return segment.pk if segment is not None else None


def _recount(days: dict[dt.date, Keys | None], job: seg.SegmentJob | None = None) -> int:
    """Recount the cells of `days` (per day the keys of its cells, None: every cell), then
    sum the monthly rows of the groups and the daily rows of the days they are in; the rows
    written. With `job`, the rows of its segment (raises _SegmentChanged when its definition
    is no longer the one the job read)."""
    segment = job.segment if job is not None else None
    segment_id = _segment_id(segment)
    case_q, cell_q = Q(pk__in=[]), Q(pk__in=[])
    for first, end in _day_ranges(day for day, keys in days.items() if keys is None):
        case_q |= Q(started_at__gte=_day_start(first), started_at__lt=_day_start(end))
        cell_q |= Q(day__gte=first, day__lt=end)
    for day, keys in days.items():
        if keys is not None:
            next_day = day + dt.timedelta(days=1)
            case_q |= Q(
                started_at__gte=_day_start(day), started_at__lt=_day_start(next_day)
            ) & _keys_q(keys, "customer__")
            cell_q |= Q(day=day) & _keys_q(keys)
    months: dict[dt.date, Keys | None] = {}
    for day, keys in days.items():
        month = day.replace(day=1)
        if keys is None or months.get(month, ()) is None:
            months[month] = None
            continue
        merged = months.setdefault(month, (set(), set(), set(), set()))
        assert merged is not None
        for found, values in zip(merged, keys, strict=True):
            found |= values
    with transaction.atomic():
        _lock(KEY)
        if job is not None and not seg.still_current(job):
            raise _SegmentChanged
        StepCellStat.objects.filter(cell_q, segment_id=segment_id).delete()
        written = _insert_cells(_counted(segment).filter(case_q), segment_id)
        for month, keys in sorted(months.items(), key=lambda item: item[0]):
            end = _next_month(month)
            in_month = StepCellStat.objects.filter(
                day__gte=month, day__lt=end, segment_id=segment_id
            )
            StepMonthlyStat.objects.filter(
                Q(month=month) & _keys_q(keys), segment_id=segment_id
            ).delete()
            written += _insert_sums(
                StepMonthlyStat,
                in_month.filter(_keys_q(keys)),
                CELL_KEYS,
                month=month,
                segment_id=segment_id,
            )
        for first, end in _day_ranges(days):
            in_days = StepCellStat.objects.filter(
                day__gte=first, day__lt=end, segment_id=segment_id
            )
            StepDailyStat.objects.filter(
                day__gte=first, day__lt=end, segment_id=segment_id
            ).delete()
            written += _insert_sums(
                StepDailyStat, in_days, ("definition_id", "day"), segment_id=segment_id
            )
    return written


def _month_days(month: dt.date) -> dict[dt.date, Keys | None]:
    days: dict[dt.date, Keys | None] = {}
    day = month
    while day < _next_month(month):
        days[day] = None
        day += dt.timedelta(days=1)
    return days


def _refresh_segment(
    job: seg.SegmentJob,
    months: set[dt.date],
    touched: dict[dt.date, Keys | None],
    now: dt.datetime,
) -> int:
    """The rows of one reported segment: every day of every month with cases at once for a
    full build (a segment's cells are a fraction of everyone's, and its definition is
    evaluated once instead of once a month), else the cells of the touched cases as for
    everyone; the rows written (none when the segment changed meanwhile)."""
    written = 0
    try:
        if job.full:
            days: dict[dt.date, Keys | None] = {}
            for month in months:
                days.update(_month_days(month))
            if days:
                written += _recount(days, job)
        elif touched:
            written += _recount(touched, job)
            moved = _miscounted(touched, job.segment)
            if moved:
                written += _recount(dict.fromkeys(moved), job)
        with transaction.atomic():
            _lock(KEY)
            if not seg.still_current(job):
                raise _SegmentChanged
            seg.record(seg.FUNNEL, job, now)
    except _SegmentChanged:
        return 0
    return written


def funnel_refresh(*, full: bool = False, now: dt.datetime | None = None) -> RefreshResult:
    """Bring the precomputed rows up to date (see the module docstring): in full month by
    month, else only the cells of the cases touched since the previous refresh, then the
    monthly rows of their groups and the daily rows of their days, summed from the cells."""
    began = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localdate(now)
    state, _created = ReportRefresh.objects.get_or_create(key=KEY)
    full = full or state.full_rebuild_due(today)
    jobs = seg.segment_jobs(seg.FUNNEL, now, full=full)
    written = 0
    months: set[dt.date] = set()
    if full or any(job.full for job in jobs):
        months = {
            _month(m)
            for m in Case.objects.order_by().datetimes("started_at", "month", tzinfo=local_zone())
        }
    touched: dict[dt.date, Keys | None] = {}
    if full:
        for month in sorted(months):
            written += _recount(_month_days(month))
        touched_months = len(months)
    else:
        assert state.started_at is not None
        touched = dict(_touched(state.started_at - OVERLAP))
        touched_months = len({day.replace(day=1) for day in touched})
        if touched:
            written += _recount(touched)
            moved = _miscounted(touched)
            if moved:
                written += _recount(dict.fromkeys(moved))
    for job in jobs:
        written += _refresh_segment(job, months, touched, now)
    with transaction.atomic():
        _lock(KEY)
        unreported = seg.unreported(seg.FUNNEL, jobs)
        for model in (StepCellStat, StepMonthlyStat, StepDailyStat):
            model.objects.filter(unreported).delete()
        if full:
            # Months without cases any more (e.g. of since deleted test data).
            StepMonthlyStat.objects.exclude(month__in=sorted(months)).delete()
            for month in set(StepDailyStat.objects.dates("day", "month")) - months:
                StepDailyStat.objects.filter(day__gte=month, day__lt=_next_month(month)).delete()
            for month in set(StepCellStat.objects.dates("day", "month")) - months:
                StepCellStat.objects.filter(day__gte=month, day__lt=_next_month(month)).delete()
        seconds = time.perf_counter() - began
        ReportRefresh.objects.filter(key=KEY).update(
            started_at=now,
            finished_at=timezone.now(),
            full_at=now if full else state.full_at,
            mark_at=now,
            seconds=seconds,
        )
    return RefreshResult(full, touched_months, written, seconds)


# --- the report -----------------------------------------------------------------------------


def definitions() -> list[ProcessDefinition]:
    """Process definitions with at least one version, the default one first."""
    found = list(ProcessDefinition.objects.filter(versions__isnull=False).distinct())
    found.sort(key=lambda d: (d.key != DEFAULT_PROCESS_KEY, d.name))
    return found


@dataclass(frozen=True)
class Step:
    node_id: str
    name: str


@lru_cache(maxsize=32)
def _graph(version_id: int, xml: str) -> ProcessGraph | None:
    try:
        return bpmn.parse(xml)
    except bpmn.BpmnError:
        return None


def sop_order(graph: ProcessGraph) -> list[Step]:
    """User tasks by their distance (in flows) from the start events, ties in document
    order: the SOP's order, loops and returns not moving a step back."""
    distance: dict[str, int] = {}
    frontier = [node.id for node in graph.start_nodes()]
    for node_id in frontier:
        distance[node_id] = 0
    while frontier:
        following = []
        for node_id in frontier:
            for flow in graph.outgoing(node_id):
                if flow.target not in distance:
                    distance[flow.target] = distance[node_id] + 1
                    following.append(flow.target)
        frontier = following
    position = {node_id: index for index, node_id in enumerate(graph.nodes)}
    tasks = [n for n in graph.nodes.values() if n.type == NodeType.USER_TASK]
    tasks.sort(key=lambda n: (distance.get(n.id, len(graph.nodes)), position[n.id]))
    return [Step(n.id, n.name or n.id) for n in tasks]


def steps_of(definition: ProcessDefinition, seen: Iterable[str]) -> list[Step]:
    """The steps of the definition's latest published version (else its latest version) in
    SOP order, then steps only older versions had (named by their tasks)."""
    versions = DefinitionVersion.objects.filter(definition=definition).order_by("-number")
    version = versions.filter(status=VersionStatus.PUBLISHED).first() or versions.first()
    steps: list[Step] = []
    if version is not None:
        graph = _graph(version.pk, version.xml)
        if graph is not None:
            steps = sop_order(graph)
    known = {step.node_id for step in steps}
    missing = sorted(set(seen) - known - {CASE_ROW})
    if missing:
        names = dict(
            Task.objects.filter(node_id__in=missing, case__version__definition=definition)
            .order_by()
            .values_list("node_id", "name")
            .distinct()
        )
        steps += [Step(node_id, names.get(node_id, node_id)) for node_id in missing]
    return steps


def whole_months(
    filters: ReportFilters, today: dt.date
) -> tuple[list[dt.date], list[tuple[dt.date, dt.date]]]:
    """The months of the period the precomputed rows answer (a month wholly inside it; the
    current month also when the period runs to today or later: no case starts in the future),
    and the remaining day ranges (first, last) counted from the rows themselves."""
    months: list[dt.date] = []
    edges: list[tuple[dt.date, dt.date]] = []
    day = filters.first_day
    while day <= filters.last_day:
        month_end = _next_month(day) - dt.timedelta(days=1)
        if day.day == 1 and (month_end <= filters.last_day or filters.last_day >= today):
            months.append(day)
        else:
            edges.append((day, min(month_end, filters.last_day)))
        day = month_end + dt.timedelta(days=1)
    return months, edges


def _sum_rows(rows: QuerySet[Any]) -> Tally:
    tally: Tally = defaultdict(Counters)
    sums = (
        rows.order_by()
        .values("node_id")
        .annotate(**{f"s_{name}": Sum(name) for name in (*COUNTERS, *CYCLE_FIELDS)})
    )
    for row in sums:
        counters = tally[row["node_id"]]
        counters.cases = row["s_cases"] or 0
        counters.completed = row["s_completed"] or 0
        counters.open = row["s_open"] or 0
        counters.stopped = row["s_stopped"] or 0
        counters.cycles = [row[f"s_{name}"] or 0 for name in CYCLE_FIELDS]
    return tally


def _live(
    user: User,
    filters: ReportFilters,
    definition: ProcessDefinition,
    first: dt.date,
    last: dt.date,
    *,
    few: bool = False,
) -> Tally:
    zone = local_zone()
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    cases = Case.objects.filter(
        customer_scope(user, filters, "customer__", few=few),
        version__definition=definition,
        started_at__gte=start,
        started_at__lt=end,
    )
    return count_cases(cases, False).get((), {})


def funnel_tally(
    user: User, filters: ReportFilters, definition: ProcessDefinition, today: dt.date
) -> tuple[Tally, bool, bool]:
    """The counters of the report, whether precomputed rows were used, and whether some days
    were counted from the cases themselves besides: the daily rows of
    everyone when the viewer sees every customer and no region or department is chosen; else
    the monthly rows of the customer keys the viewer and the filters select, for the whole
    months of the period, and the cases themselves for the days of a partial month. With a
    segment: the same from the rows of the segment once its figures are ready
    (reports.segment_figures), until then the cases themselves."""
    segment_id = None
    if filters.segment is not None:
        if seg.ready_figures(filters.segment, seg.FUNNEL) is None:
            live = _live(user, filters, definition, filters.first_day, filters.last_day)
            return live, False, True
        segment_id = filters.segment.pk
    scope = key_scope(user, filters, "customer_")
    if not scope:
        rows = StepDailyStat.objects.filter(
            definition=definition,
            day__gte=filters.first_day,
            day__lte=filters.last_day,
            segment_id=segment_id,
        )
        return _sum_rows(rows), True, False
    months, edges = whole_months(filters, today)
    tally: Tally = defaultdict(Counters)
    if months:
        month_rows = StepMonthlyStat.objects.filter(
            scope, definition=definition, month__in=months, segment_id=segment_id
        )
        for node_id, counters in _sum_rows(month_rows).items():
            tally[node_id].add(counters)
    for first, last in edges:
        # A viewer who sees some customers only, a partial month: few cases.
        few_cases = _live(user, filters, definition, first, last, few=True)
        for node_id, counters in few_cases.items():
            tally[node_id].add(counters)
    return tally, bool(months), bool(edges)


@dataclass(frozen=True)
class StepFigures:
    step: Step
    reached: int
    share: float | None  # % of the cases started
    completed: int
    waiting: int
    stopped: int
    median: Estimate | None
    p90: Estimate | None
    cycles: Sequence[int]
    bottleneck: bool = False


@dataclass(frozen=True)
class Funnel:
    definition: ProcessDefinition
    started: int
    completed: int
    cancelled: int
    open: int
    steps: list[StepFigures]
    bottleneck: StepFigures | None
    slowest_p90: StepFigures | None
    precomputed: bool
    live_days: bool

    def rate(self, part: int) -> float | None:
        return 100.0 * part / self.started if self.started else None

    @property
    def completed_rate(self) -> float | None:
        return self.rate(self.completed)

    @property
    def cancelled_rate(self) -> float | None:
        return self.rate(self.cancelled)


def funnel_report(
    user: User, filters: ReportFilters, definition: ProcessDefinition, today: dt.date | None = None
) -> Funnel:
    tally, precomputed, live_days = funnel_tally(
        user, filters, definition, today or timezone.localdate()
    )
    cases = tally.get(CASE_ROW, Counters())
    figures = []
    for step in steps_of(definition, tally):
        counters = tally.get(step.node_id, Counters())
        figures.append(
            StepFigures(
                step=step,
                reached=counters.cases,
                share=100.0 * counters.cases / cases.cases if cases.cases else None,
                completed=counters.completed,
                waiting=counters.open,
                stopped=counters.stopped,
                median=histogram_quantile(counters.cycles, 0.5),
                p90=histogram_quantile(counters.cycles, 0.9),
                cycles=tuple(counters.cycles),
            )
        )
    timed = [f for f in figures if f.median is not None and f.p90 is not None]
    bottleneck = max(
        timed,
        key=lambda f: (f.median.hours, f.p90.hours),  # type: ignore[union-attr]
        default=None,
    )
    slowest = max(timed, key=lambda f: f.p90.hours, default=None)  # type: ignore[union-attr]
    if bottleneck is not None:
        figures = [
            StepFigures(**{**f.__dict__, "bottleneck": True}) if f is bottleneck else f
            for f in figures
        ]
        bottleneck = next(f for f in figures if f.bottleneck)
        if slowest is not None and slowest.step == bottleneck.step:
            slowest = bottleneck
    return Funnel(
        definition=definition,
        started=cases.cases,
        completed=cases.completed,
        cancelled=cases.stopped,
        open=cases.open,
        steps=figures,
        bottleneck=bottleneck,
        slowest_p90=slowest,
        precomputed=precomputed,
        live_days=live_days,
    )
