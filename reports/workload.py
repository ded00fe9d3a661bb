"""Workload and throughput (工作量与吞吐): per person and team for the period, the work that
reached them and the work they finished — process tasks, tickets, inquiry replies — their open
backlog now, and a week-by-week chart.

Who sees whose figures: insights.performance.performance_scope (the viewer, the people below
them on the supervisor chain and in the departments they head; a team or department when every
member is visible). A team's or department's figures add up its members' (work a member did
counts for each team they belong to).

Definitions (shown next to each column and in the export):
- Tasks received: process tasks held or completed by the person, on the day they got them
  (claimed, assigned or delegated to them; opened, when never claimed).
- Tasks completed: process tasks the person completed in the period.
- Tickets assigned: times a ticket was assigned to the person in the period (when opened or
  reassigned), from the tickets' timelines.
- Tickets resolved: tickets assigned to the person resolved in the period.
- Replies sent: replies to online inquiries the person sent in the period.
- Backlog now: open tasks, tickets and inquiries assigned to the person at this moment
  (whatever the period).

What is precomputed: `WorkloadDailyStat` rows per (day, person) hold the five counts; a period
sums them (two queries: per person, per week). A region or department filter reads
`WorkloadWeeklyStat` rows per (week, person, the customers' district and department) for the
whole weeks of the period and counts the days of a partly chosen week from the rows themselves.
A saved segment alone reads rows carrying its id (`segment_id`), kept for the segments reported
on lately (reports.segment_figures); until a segment's rows are ready, and with a region or
department besides, it is counted from the rows themselves. The backlog is always counted now.
`workload_refresh` recomputes the days from a quarter of an hour before the previous refresh
started (every counted moment is written when it happens), and every day once a day (which also
catches a task's completion credited to a day of its claim long ago, e.g. a reassignment).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, F, IntegerField, Min, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Segment
from customers.segments import segment_members_q
from inquiries.models import OPEN_STATUSES as OPEN_INQUIRY_STATUSES
from inquiries.models import Inquiry, Reply, ReplyStatus
from insights.performance import Scope, Subject, performance_scope
from reports import segment_figures as seg
from reports.filters import ReportFilters, local_zone, segment_probe_q
from reports.models import ReportRefresh
from service.models import OPEN_TICKET_STATUSES, EntryKind, Ticket, TicketEntry
from workflow.models import (
    OPEN_TASK_STATUSES,
    Task,
    TaskStatus,
    WorkloadDailyStat,
    WorkloadWeeklyStat,
)

KEY = "workload"
FIELDS = (
    "tasks_received",
    "tasks_completed",
    "tickets_assigned",
    "tickets_resolved",
    "replies_sent",
)
BACKLOG = ("open_tasks", "open_tickets", "open_inquiries")
OVERLAP = dt.timedelta(minutes=15)
# Days recomputed per query and transaction in a full rebuild.
CHUNK_DAYS = 35  # five whole weeks
# The same for a segment's rows.
SEGMENT_CHUNK_DAYS = 366

COLUMNS: list[tuple[str, Any, Any]] = [
    (
        "tasks_received",
        _("Tasks received"),
        _(
            "Process tasks held or completed by the person, counted on the day they got them "
            "(claimed, assigned or delegated; opened, if never claimed)."
        ),
    ),
    (
        "tasks_completed",
        _("Tasks completed"),
        _("Process tasks the person completed in the period."),
    ),
    (
        "tickets_assigned",
        _("Tickets assigned"),
        _("Times a ticket was assigned to the person in the period (when opened or reassigned)."),
    ),
    (
        "tickets_resolved",
        _("Tickets resolved"),
        _("Tickets assigned to the person that were resolved in the period."),
    ),
    (
        "replies_sent",
        _("Replies sent"),
        _("Replies to online inquiries the person sent in the period."),
    ),
    (
        "backlog",
        _("Backlog now"),
        _(
            "Open process tasks, tickets and inquiries assigned to the person at this moment "
            "(whatever the period)."
        ),
    ),
]

# A customer condition on the rows of one source, given the path from them to the customer.
CustomerCondition = Callable[[str], Q]


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(local_zone()).date() if timezone.is_aware(value) else value.date()
    assert isinstance(value, dt.date)
    return value


# (person, local day, customer's district, customer's department)
Cell = tuple[int, dt.date, int | None, int | None]


def count_cells(
    start: dt.datetime,
    end: dt.datetime,
    user_ids: Iterable[int] | None = None,
    customers: CustomerCondition | None = None,
) -> dict[Cell, list[int]]:
    """Per (person, local day, the customer's district and department) in [start, end): the
    five counts of FIELDS, from the rows themselves (five grouped queries). `user_ids`: only
    these people (None: everyone); `customers`: only work on the customers it selects."""
    zone = local_zone()
    ids = None if user_ids is None else sorted(set(user_ids))
    result: dict[Cell, list[int]] = defaultdict(lambda: [0] * len(FIELDS))

    def scoped(qs: QuerySet[Any], path: str, person: str) -> QuerySet[Any]:
        if ids is not None:
            qs = qs.filter(**{f"{person}__in": ids})
        else:
            qs = qs.filter(**{f"{person}__isnull": False})
        if customers is not None:
            qs = qs.filter(customers(path))
        return qs.order_by().annotate(
            k_region=F(f"{path}region_id"), k_department=F(f"{path}department_id")
        )

    def collect(qs: QuerySet[Any], index: int) -> None:
        for row in qs.values("person", "day", "k_region", "k_department").annotate(n=Count("id")):
            cell = (row["person"], _day(row["day"]), row["k_region"], row["k_department"])
            result[cell][index] += row["n"]

    received = Task.objects.annotate(
        person=Coalesce("completed_by_id", "assignee_id"),
        got=Coalesce("claimed_at", "created_at"),
    ).filter(got__gte=start, got__lt=end)
    collect(scoped(received, "customer__", "person").annotate(day=TruncDate("got", tzinfo=zone)), 0)

    completed = Task.objects.filter(
        status=TaskStatus.COMPLETED, completed_at__gte=start, completed_at__lt=end
    ).annotate(person=F("completed_by_id"), day=TruncDate("completed_at", tzinfo=zone))
    collect(scoped(completed, "customer__", "completed_by_id"), 1)

    assigned = (
        TicketEntry.objects.filter(
            kind=EntryKind.ASSIGNMENT, created_at__gte=start, created_at__lt=end
        )
        .annotate(person=Cast(KeyTextTransform("to", "data"), IntegerField()))
        .annotate(day=TruncDate("created_at", tzinfo=zone))
    )
    collect(scoped(assigned, "ticket__customer__", "person"), 2)

    resolved = Ticket.objects.filter(resolved_at__gte=start, resolved_at__lt=end).annotate(
        person=F("assignee_id"), day=TruncDate("resolved_at", tzinfo=zone)
    )
    collect(scoped(resolved, "customer__", "assignee_id"), 3)

    replies = Reply.objects.filter(
        status=ReplyStatus.SENT, sent_at__gte=start, sent_at__lt=end
    ).annotate(person=F("sent_by_id"), day=TruncDate("sent_at", tzinfo=zone))
    collect(scoped(replies, "inquiry__customer__", "sent_by_id"), 4)
    return result


def count_days(
    start: dt.datetime,
    end: dt.datetime,
    user_ids: Iterable[int] | None = None,
    customers: CustomerCondition | None = None,
) -> dict[tuple[int, dt.date], list[int]]:
    """count_cells per (person, local day)."""
    result: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0] * len(FIELDS))
    for (person, day, _region, _department), values in count_cells(
        start, end, user_ids, customers
    ).items():
        _add(result[(person, day)], values)
    return result


def _add(total: list[int], values: Iterable[int]) -> None:
    """Add counts in FIELDS order to a running total."""
    for index, value in enumerate(values):
        total[index] += value


def backlog_now(
    user_ids: Iterable[int], customers: CustomerCondition | None = None
) -> dict[int, list[int]]:
    """Per person: open tasks, tickets and inquiries assigned to them now (index reads)."""
    ids = sorted(set(user_ids))
    result: dict[int, list[int]] = defaultdict(lambda: [0] * len(BACKLOG))
    sources: list[tuple[QuerySet[Any], str]] = [
        (Task.objects.filter(status__in=OPEN_TASK_STATUSES), "customer__"),
        (Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES), "customer__"),
        (Inquiry.objects.filter(status__in=OPEN_INQUIRY_STATUSES), "customer__"),
    ]
    for index, (qs, path) in enumerate(sources):
        qs = qs.filter(assignee_id__in=ids)
        if customers is not None:
            qs = qs.filter(customers(path))
        for row in qs.order_by().values("assignee_id").annotate(n=Count("id")):
            result[row["assignee_id"]][index] = row["n"]
    return result


# --- refresh (derived data: no permission, no audit row) -------------------------------------


def _lock() -> None:
    list(ReportRefresh.objects.select_for_update().filter(key=KEY).values_list("pk"))


def _bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = local_zone()
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=zone),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone),
    )


class _SegmentChanged(Exception):
    """The segment being refreshed was changed or deleted meanwhile: its rows are not written."""


def _rebuild(first: dt.date, last: dt.date, job: seg.SegmentJob | None = None) -> int:
    """Recount the days [first, last] into WorkloadDailyStat: of everyone, or (`job`) of the
    work on its segment's customers (raises _SegmentChanged when its definition is no longer
    the one the job read)."""
    start, end = _bounds(first, last)
    segment_id = job.segment.pk if job is not None else None
    customers = _segment_condition(job.segment) if job is not None else None
    cells = count_cells(start, end, customers=customers)
    daily: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0] * len(FIELDS))
    weekly: dict[tuple[int, dt.date, int | None, int | None], list[int]] = defaultdict(
        lambda: [0] * len(FIELDS)
    )
    for (user_id, day, region_id, department_id), values in cells.items():
        _add(daily[(user_id, day)], values)
        _add(weekly[(user_id, _monday(day), region_id, department_id)], values)
    rows = [
        WorkloadDailyStat(
            day=day,
            user_id=user_id,
            segment_id=segment_id,
            **dict(zip(FIELDS, values, strict=True)),
        )
        for (user_id, day), values in daily.items()
        if any(values)
    ]
    week_rows = [
        WorkloadWeeklyStat(
            week=monday,
            user_id=user_id,
            customer_region_id=region_id,
            customer_department_id=department_id,
            **dict(zip(FIELDS, values, strict=True)),
        )
        for (user_id, monday, region_id, department_id), values in weekly.items()
        if any(values)
    ]
    with transaction.atomic():
        _lock()
        if job is not None and not seg.still_current(job):
            raise _SegmentChanged
        WorkloadDailyStat.objects.filter(
            day__gte=first, day__lte=last, segment_id=segment_id
        ).delete()
        WorkloadDailyStat.objects.bulk_create(rows, batch_size=2000)
        if job is None:  # `first` is a Monday: the chunk's weeks are whole (the last: to date)
            assert first.weekday() == 0
            WorkloadWeeklyStat.objects.filter(week__gte=first, week__lte=last).delete()
            WorkloadWeeklyStat.objects.bulk_create(week_rows, batch_size=2000)
    return len(rows) + (len(week_rows) if job is None else 0)


def _segment_condition(segment: Segment) -> CustomerCondition:
    def condition(path: str) -> Q:
        return Q(**{f"{path}merged_into__isnull": True}) & segment_members_q(segment, prefix=path)

    return condition


def _refresh_segment(job: seg.SegmentJob, first: dt.date, today: dt.date, now: dt.datetime) -> int:
    """The rows of one reported segment: from `first` (the refresh's own first day) on, or
    every day for a full build, in chunks of SEGMENT_CHUNK_DAYS (a segment's rows are a
    fraction of everyone's, and each chunk evaluates its definition again); the rows written
    (none when the segment changed meanwhile)."""
    if job.full:
        first = _first_day(today)
    rows = 0
    try:
        day = first
        while day <= today:
            last = min(day + dt.timedelta(days=SEGMENT_CHUNK_DAYS - 1), today)
            rows += _rebuild(day, last, job)
            day = last + dt.timedelta(days=1)
        with transaction.atomic():
            _lock()
            if not seg.still_current(job):
                raise _SegmentChanged
            if job.full:
                WorkloadDailyStat.objects.filter(segment_id=job.segment.pk).exclude(
                    day__range=(first, today)
                ).delete()
            seg.record(seg.WORKLOAD, job, now)
    except _SegmentChanged:
        return 0
    return rows


def _first_day(today: dt.date) -> dt.date:
    """The first day any counted work happened (today when none)."""
    moments = [
        Task.objects.aggregate(m=Min("created_at"))["m"],
        TicketEntry.objects.filter(kind=EntryKind.ASSIGNMENT).aggregate(m=Min("created_at"))["m"],
        Ticket.objects.aggregate(m=Min("resolved_at"))["m"],
        Reply.objects.aggregate(m=Min("sent_at"))["m"],
    ]
    days = [_day(m) for m in moments if m is not None]
    return min([*days, today])


@dataclass(frozen=True)
class RefreshResult:
    full: bool
    days: int
    rows: int
    seconds: float


def workload_refresh(*, full: bool = False, now: dt.datetime | None = None) -> RefreshResult:
    """Bring WorkloadDailyStat up to date (see the module docstring)."""
    began = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localdate(now)
    state, _created = ReportRefresh.objects.get_or_create(key=KEY)
    full = full or state.full_rebuild_due(today)
    jobs = seg.segment_jobs(seg.WORKLOAD, now, full=full)
    if full:
        first = _first_day(today)
    else:
        assert state.started_at is not None
        first = min(timezone.localdate(state.started_at - OVERLAP), today)
    # From its Monday: the weekly rows are recounted whole.
    first = _monday(first)
    rows = 0
    day = first
    while day <= today:
        last = min(day + dt.timedelta(days=CHUNK_DAYS - 1), today)
        rows += _rebuild(day, last)
        day = last + dt.timedelta(days=1)
    for job in jobs:
        rows += _refresh_segment(job, first, today, now)
    with transaction.atomic():
        _lock()
        WorkloadDailyStat.objects.filter(seg.unreported(seg.WORKLOAD, jobs)).delete()
        if full:
            WorkloadDailyStat.objects.filter(segment_id__isnull=True).exclude(
                day__range=(first, today)
            ).delete()
            WorkloadWeeklyStat.objects.exclude(week__range=(first, today)).delete()
        seconds = time.perf_counter() - began
        ReportRefresh.objects.filter(key=KEY).update(
            started_at=now,
            finished_at=timezone.now(),
            full_at=now if full else state.full_at,
            mark_at=now,
            seconds=seconds,
        )
    return RefreshResult(full, (today - first).days + 1, rows, seconds)


# --- the report -----------------------------------------------------------------------------


@dataclass
class Row:
    subject: Subject
    counts: list[int] = field(default_factory=lambda: [0] * len(FIELDS))
    backlog: list[int] = field(default_factory=lambda: [0] * len(BACKLOG))

    @property
    def backlog_total(self) -> int:
        return sum(self.backlog)


@dataclass(frozen=True)
class Week:
    monday: dt.date
    counts: list[int]


@dataclass(frozen=True)
class Workload:
    scope: Scope
    rows: list[Row]  # people, then teams, then departments
    weeks: list[Week]  # the people in scope together
    precomputed: bool

    @property
    def people(self) -> list[Row]:
        return [row for row in self.rows if row.subject.kind == "person"]

    @property
    def groups(self) -> list[Row]:
        return [row for row in self.rows if row.subject.kind != "person"]


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _customer_condition(filters: ReportFilters, *, few: bool = False) -> CustomerCondition | None:
    """Region, department and segment filters select the customers whose work counts. The
    viewer's own customer visibility does not: a person's workload is theirs to see whatever
    customer it was for (the figures name no customer). `few`: for a few rows (the open
    backlog), the segment is tested per row's customer (reports.filters.segment_probe_q)."""
    if filters.region_ids is None and filters.department is None and filters.segment is None:
        return None
    region_ids = filters.region_ids
    department = filters.department
    segment = filters.segment

    def condition(path: str) -> Q:
        found = Q(**{f"{path}merged_into__isnull": True})
        if region_ids is not None:
            found &= Q(**{f"{path}region_id__in": list(region_ids)})
        if department is not None:
            found &= Q(**{f"{path}department_id": department.pk})
        if segment is not None and few:
            found &= segment_probe_q(segment, path)
        elif segment is not None:
            found &= segment_members_q(segment, prefix=path)
        return found

    return condition


def _keyed_rows(filters: ReportFilters) -> Q | None:
    """The precomputed rows a region or department filter (without a segment) selects: rows
    are kept per the customers' district and department. None when a segment is chosen too
    (its rows are not kept per district) or no customer filter is."""
    if filters.segment is not None:
        return None
    if filters.region_ids is None and filters.department is None:
        return None
    condition = Q()
    if filters.region_ids is not None:
        condition &= Q(customer_region_id__in=list(filters.region_ids))
    if filters.department is not None:
        condition &= Q(customer_department_id=filters.department.pk)
    return condition


def _keyed_counts(
    filters: ReportFilters,
    keyed: Q,
    person_ids: list[int],
    customers: CustomerCondition | None,
    per_person: dict[int, list[int]],
    per_week: dict[dt.date, list[int]],
) -> None:
    """A region or department filter: the whole weeks of the period from the weekly rows of
    its districts or department, the days of a partly chosen week (at most six at each end)
    counted from the rows themselves."""
    first, last = filters.first_day, filters.last_day
    whole_from = _monday(first) if first.weekday() == 0 else _monday(first) + dt.timedelta(7)
    whole_to = _monday(last + dt.timedelta(days=1))  # exclusive: the Monday after the last
    edges: list[tuple[dt.date, dt.date]] = []
    if whole_from >= whole_to:
        edges.append((first, last))
    else:
        rows = WorkloadWeeklyStat.objects.filter(
            keyed, week__gte=whole_from, week__lt=whole_to, user_id__in=person_ids
        ).order_by()
        sums = {name: Sum(name) for name in FIELDS}
        for row in rows.values("user_id", "week").annotate(**sums):
            values = [row[name] or 0 for name in FIELDS]
            _add(per_person[row["user_id"]], values)
            _add(per_week[_day(row["week"])], values)
        if first < whole_from:
            edges.append((first, whole_from - dt.timedelta(days=1)))
        if whole_to <= last:
            edges.append((whole_to, last))
    for edge_first, edge_last in edges:
        start, end = _bounds(edge_first, edge_last)
        _count_into(start, end, person_ids, customers, per_person, per_week)


def _count_into(
    start: dt.datetime,
    end: dt.datetime,
    person_ids: list[int],
    customers: CustomerCondition | None,
    per_person: dict[int, list[int]],
    per_week: dict[dt.date, list[int]],
) -> None:
    """Add the counts of [start, end), from the rows themselves, per person and per week."""
    for (user_id, day), values in count_days(start, end, person_ids, customers).items():
        _add(per_person[user_id], values)
        _add(per_week[_monday(day)], values)


def segment_alone(filters: ReportFilters) -> Segment | None:
    """The filters' segment when it is the only customer filter: the one case its precomputed
    rows answer (they are not kept per region or department)."""
    if filters.region_ids is None and filters.department is None:
        return filters.segment
    return None


def workload_report(viewer: User, filters: ReportFilters) -> Workload:
    scope = performance_scope(viewer)
    person_ids = [subject.member_ids[0] for subject in scope.people]
    customers = _customer_condition(filters)
    per_person: dict[int, list[int]] = defaultdict(lambda: [0] * len(FIELDS))
    per_week: dict[dt.date, list[int]] = defaultdict(lambda: [0] * len(FIELDS))
    segment = segment_alone(filters)
    keyed = _keyed_rows(filters)
    precomputed = (
        customers is None
        or keyed is not None
        or (segment is not None and seg.ready_figures(segment, seg.WORKLOAD) is not None)
    )
    if keyed is not None:
        _keyed_counts(filters, keyed, person_ids, customers, per_person, per_week)
    elif precomputed:
        rows = WorkloadDailyStat.objects.filter(
            day__gte=filters.first_day,
            day__lte=filters.last_day,
            user_id__in=person_ids,
            segment_id=segment.pk if segment is not None else None,
        ).order_by()
        sums = {name: Sum(name) for name in FIELDS}
        for person in rows.values("user_id").annotate(**sums):
            per_person[person["user_id"]] = [person[name] or 0 for name in FIELDS]
        for daily in rows.values("day").annotate(**sums):
            target = per_week[_monday(_day(daily["day"]))]
            for index, name in enumerate(FIELDS):
                target[index] += daily[name] or 0
    else:
        start, end = filters.bounds()
        _count_into(start, end, person_ids, customers, per_person, per_week)
    backlog = backlog_now(person_ids, _customer_condition(filters, few=True))
    result = []
    for subject in scope.subjects():
        row = Row(subject=subject)
        for uid in subject.member_ids:
            if uid in per_person:
                row.counts = [a + b for a, b in zip(row.counts, per_person[uid], strict=True)]
            if uid in backlog:
                row.backlog = [a + b for a, b in zip(row.backlog, backlog[uid], strict=True)]
        result.append(row)
    weeks = []
    monday = _monday(filters.first_day)
    while monday <= filters.last_day:
        weeks.append(Week(monday, per_week.get(monday, [0] * len(FIELDS))))
        monday += dt.timedelta(days=7)
    return Workload(scope=scope, rows=result, weeks=weeks, precomputed=precomputed)
