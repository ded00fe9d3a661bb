"""The service dashboard (服务看板): open tickets by status and team, SLAs at risk and breached,
first-response and resolution times, CSAT and NPS, revisits due — and the precomputed figures
behind it.

What is read live, what is precomputed, and why (the page must stay under a second at
1,000,000 tickets, see bench/service.py):

* **Live, from indexes.** Open tickets by status and team read the (status, team) index only;
  SLAs at risk / breached the (sla_state, status) index; revisits due the (status, due_on)
  index. Open tickets are a small share of all tickets, so these stay cheap at any size. A
  region filter joins the customer (its district) for the open tickets only.
* **Precomputed: times and satisfaction.** Medians and p90 over every ticket created in a
  period cannot be computed from an index, and a year of tickets is hundreds of thousands of
  rows. `TicketDailyStat` holds, per day × district × kind, the number of tickets created,
  responded to and resolved, and histograms of their first-response and resolution times in
  calendar hours (buckets `HOUR_BUCKET_EDGES`: half an hour up to 2 hours, then each at most
  1.5 times the one before). A period's figures are one `SUM` over its rows; the median and p90
  are then read from the summed histogram and interpolated inside their bucket. **Precision:**
  the true value lies in the same bucket as the estimate (the page shows the bucket). Days are
  local days (settings.TIME_ZONE); a ticket counts on the day it was created.
  Each ticket is counted in the row of its customer's district, of every region above it (city,
  province) and of "every region" (region NULL): a region filter reads the rows of that one
  region, so a period costs at most days × 6 kinds rows whatever the region (a year: ~2,200
  rows). Rows per district alone would be nearly one per ticket at a million tickets (a few
  tickets per day, district and kind), and summing a year of them took seconds. Teams and
  priorities are not a dimension: nothing filters the times by them, and a ticket changes team
  when reassigned (open tickets by team are live). `SurveyDailyStat` does the same for survey
  answers (per day answered × region: CSAT count and sum, NPS count, promoters 9–10,
  detractors 0–6); NPS = % promoters − % detractors.
* **Refresh.** `stats_refresh()` recomputes whole days, from the tickets themselves:
  - once a day (the first refresh after midnight), every day (a full rebuild: it also catches
    what leaves no timeline entry, such as a customer moved to another district);
  - otherwise, the days on which the changed tickets were created. Every change that moves a
    ticket's figures (creation, first response, resolution, reopening) writes a TicketEntry in
    the same transaction (service.tickets), and entry ids only grow, so the entries after the
    previous refresh's mark name the changed tickets. The refresh reads from the mark of the
    refresh *before* the previous one, so a transaction still open during the previous
    refresh is not missed;
  - survey days from the previous refresh's start (answers are written once, at answer time).
  Refreshes run in the background (`dashboard_refresh` task): the dashboard view enqueues one
  when the figures are older than REFRESH_EVERY (10 minutes) or were not rebuilt today (at most
  once per 10 minutes per cache), and the scheduler may enqueue it too. The page says when the
  figures were computed. Each day range is replaced in one transaction holding the
  DashboardRefresh row's lock, so two refreshes never interleave their writes.

Who sees what: `service.view_service_dashboard` (service leads, the operations director, market
managers) shows company-wide figures, or a region's; figures name no customer. The list of
the most urgent tickets names customers, so it holds only tickets of customers the user may
see (customers.selectors' visibility rules), like every ticket list.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django_tasks import task

from accounts.models import Region, User
from customers.selectors import any_of, region_subtree_ids, visibility_scope
from service.models import (
    HOUR_BUCKET_EDGES,
    HOUR_BUCKETS,
    OPEN_TICKET_STATUSES,
    DashboardRefresh,
    RevisitStatus,
    ScheduledRevisit,
    SlaState,
    Survey,
    SurveyDailyStat,
    Ticket,
    TicketDailyStat,
    TicketEntry,
    TicketKind,
    resolution_bucket_field,
    response_bucket_field,
)

PERM = "service.view_service_dashboard"
URGENT_LIMIT = 10
REVISIT_DUE_DAYS = 7
REFRESH_EVERY = dt.timedelta(minutes=10)
REFRESH_CACHE_KEY = "service:dashboard-refresh-requested"
# Days recomputed per query and transaction (a month of tickets at a time).
CHUNK_DAYS = 31
# Survey answers written shortly before the previous refresh started are read again.
SURVEY_OVERLAP = dt.timedelta(minutes=15)
SLA_ALERT_STATES = (SlaState.AT_RISK, SlaState.BREACHED)

RESPONSE_FIELDS = tuple(response_bucket_field(i) for i in range(HOUR_BUCKETS))
RESOLUTION_FIELDS = tuple(resolution_bucket_field(i) for i in range(HOUR_BUCKETS))


# --- histograms ----------------------------------------------------------------------------


def hour_bucket(hours: float) -> int:
    """The bucket of a duration: [0, 0.5) is 0, [0.5, 1) is 1 … [720, ∞) is the last."""
    return bisect.bisect_right(HOUR_BUCKET_EDGES, max(hours, 0.0))


def bucket_bounds(index: int) -> tuple[float, float | None]:
    """(lowest, highest) hours of a bucket; the last bucket has no upper bound (None)."""
    low = 0.0 if index == 0 else float(HOUR_BUCKET_EDGES[index - 1])
    high = float(HOUR_BUCKET_EDGES[index]) if index < len(HOUR_BUCKET_EDGES) else None
    return low, high


@dataclass(frozen=True)
class Estimate:
    """A quantile read from a histogram: the interpolated value and the bucket it lies in (the
    true value lies in the same bucket). `open_ended`: in the last bucket, at least `low`."""

    hours: float
    low: float
    high: float | None

    @property
    def open_ended(self) -> bool:
        return self.high is None


def histogram_quantile(counts: Sequence[int], q: float) -> Estimate | None:
    """The q-quantile (0 < q ≤ 1) of the durations counted in `counts`, None when empty.

    The bucket is the one holding the ⌈q·n⌉-th smallest duration (the nearest-rank quantile);
    inside it the value is interpolated linearly."""
    n = sum(counts)
    if n == 0:
        return None
    target = q * n
    before = 0
    for index, count in enumerate(counts):
        if count and before + count >= target:
            low, high = bucket_bounds(index)
            if high is None:
                return Estimate(low, low, None)
            return Estimate(low + (high - low) * max(target - before, 0) / count, low, high)
        before += count
    raise AssertionError("unreachable: the counts add up to n")  # pragma: no cover


# --- local days ----------------------------------------------------------------------------


def _zone() -> dt.tzinfo:
    return timezone.get_default_timezone()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of a local day, as an aware datetime."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=_zone())


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(_zone()).date()


def day_runs(
    days: Iterable[dt.date], longest: int = CHUNK_DAYS
) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive days as (first, last) ranges of at most `longest` days."""
    first = last = None
    for day in sorted(set(days)):
        if first is not None and last is not None:
            if day == last + dt.timedelta(days=1) and (day - first).days < longest:
                last = day
                continue
            yield first, last
        first = last = day
    if first is not None and last is not None:
        yield first, last


def _every_day(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# --- refresh (derived data: no permission, no audit row; nothing a person changed) --------


def _lock_refresh() -> None:
    """Serialise the writers of the figures (a no-op on SQLite, whose writes are serial)."""
    list(DashboardRefresh.objects.select_for_update().filter(pk=1).values_list("pk"))


TICKET_STAT_COLUMNS = (
    "day", "region", "kind", "created", "responded", "resolved", *RESPONSE_FIELDS,
    *RESOLUTION_FIELDS,
)  # fmt: skip
SURVEY_STAT_COLUMNS = (
    "day", "region", "answered", "csat_count", "csat_sum", "nps_count", "promoters",
    "detractors",
)  # fmt: skip


def _ancestors() -> dict[int, list[int]]:
    """Each region's chain of regions above it (district → city, province), from one query
    on the small region table."""
    parent: dict[int, int | None] = dict(Region.objects.values_list("id", "parent_id"))
    chains: dict[int, list[int]] = {}
    for region_id in parent:
        chain: list[int] = []
        above = parent[region_id]
        while above is not None and above not in chain:
            chain.append(above)
            above = parent.get(above)
        chains[region_id] = chain
    return chains


def _roll_up(
    sums: dict[tuple[Any, ...], list[int]], ancestors: dict[int, list[int]]
) -> list[list[Any]]:
    """Rows for each (day, district, …) of `sums`, plus the same figures added up for every
    region above the district and for every region (None)."""
    rolled: dict[tuple[Any, ...], list[int]] = {}
    for (day, region_id, *rest), counters in sums.items():
        for scope in (region_id, *ancestors.get(region_id, ()), None):
            key = (day, scope, *rest)
            row = rolled.get(key)
            if row is None:
                rolled[key] = list(counters)
            else:
                for i, n in enumerate(counters):
                    row[i] += n
    return [[*key, *counters] for key, counters in rolled.items()]


def _ticket_rows(first: dt.date, last: dt.date, ancestors: dict[int, list[int]]) -> list[list[Any]]:
    """TicketDailyStat rows (TICKET_STAT_COLUMNS) of the tickets created on these days."""
    zone = _zone()
    start, end = day_start(first), day_start(last + dt.timedelta(days=1))
    counters = 3 + 2 * HOUR_BUCKETS
    sums: dict[tuple[Any, ...], list[int]] = {}
    tickets = (
        Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values_list(
            "created_at", "first_responded_at", "resolved_at", "kind", "customer__region_id"
        )
    )
    for created_at, responded_at, resolved_at, kind, region_id in tickets.iterator(5000):
        key = (created_at.astimezone(zone).date(), region_id, kind)
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0] * counters
        row[0] += 1
        if responded_at is not None:
            row[1] += 1
            row[3 + hour_bucket((responded_at - created_at).total_seconds() / 3600)] += 1
        if resolved_at is not None:
            row[2] += 1
            hours = (resolved_at - created_at).total_seconds() / 3600
            row[3 + HOUR_BUCKETS + hour_bucket(hours)] += 1
    return _roll_up(sums, ancestors)


def _survey_rows(first: dt.date, last: dt.date, ancestors: dict[int, list[int]]) -> list[list[Any]]:
    """SurveyDailyStat rows (SURVEY_STAT_COLUMNS) of the answers received on these days."""
    zone = _zone()
    start, end = day_start(first), day_start(last + dt.timedelta(days=1))
    sums: dict[tuple[Any, ...], list[int]] = {}
    answers = (
        Survey.objects.filter(answered_at__gte=start, answered_at__lt=end)
        .order_by()
        .values_list("answered_at", "csat", "nps", "customer__region_id")
    )
    for answered_at, csat, nps, region_id in answers.iterator(5000):
        assert answered_at is not None  # filtered on its range
        key = (answered_at.astimezone(zone).date(), region_id)
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0] * 6
        row[0] += 1
        if csat is not None:
            row[1] += 1
            row[2] += csat
        if nps is not None:
            row[3] += 1
            row[4] += nps >= 9
            row[5] += nps <= 6
    return _roll_up(sums, ancestors)


def _insert(model: Any, names: Sequence[str], rows: list[list[Any]]) -> None:
    """One INSERT statement run for every row (executemany: SQLite reuses the compiled
    statement, psycopg pipelines the rows). bulk_create spent most of a full rebuild preparing
    the values of 47 columns one by one; these are integers and a date, adapted here once.
    (Multi-row VALUES lists measured slower on PostgreSQL with server-side binding.)"""
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    columns = ", ".join(ops.quote_name(model._meta.get_field(n).column) for n in names)
    marks = ", ".join(["%s"] * len(names))
    for row in rows:
        row[0] = ops.adapt_datefield_value(row[0])
    with connection.cursor() as cursor:
        # Table and column names come from the model; the values are bound parameters.
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _rebuild(
    model: Any,
    names: Sequence[str],
    rows_of: Any,
    days: Iterable[dt.date],
    ancestors: dict[int, list[int]],
) -> int:
    """Replace the rows of `model` on these days by fresh ones; returns the rows written."""
    written = 0
    for first, last in day_runs(days):
        rows = rows_of(first, last, ancestors)
        with transaction.atomic():
            _lock_refresh()
            model.objects.filter(day__gte=first, day__lte=last).delete()
            _insert(model, names, rows)
        written += len(rows)
    return written


def _changed_ticket_days(after_id: int, up_to_id: int) -> set[dt.date]:
    """The creation days of the tickets with timeline entries numbered (after_id, up_to_id]."""
    if up_to_id <= after_id:
        return set()
    changed = TicketEntry.objects.filter(id__gt=after_id, id__lte=up_to_id).values("ticket_id")
    created = Ticket.objects.filter(id__in=changed).order_by().values_list("created_at", flat=True)
    zone = _zone()
    return {moment.astimezone(zone).date() for moment in created}


@dataclass(frozen=True)
class RefreshResult:
    full: bool
    ticket_days: int
    ticket_rows: int
    survey_days: int
    survey_rows: int


def stats_refresh(*, full: bool = False, now: dt.datetime | None = None) -> RefreshResult:
    """Bring TicketDailyStat and SurveyDailyStat up to date (see the module docstring): every
    day when `full` or when not rebuilt yet today, otherwise the days that changed."""
    now = now or timezone.now()
    today = local_day(now)
    state, _created = DashboardRefresh.objects.get_or_create(pk=1)
    full = full or state.full_on is None or state.full_on < today or state.started_at is None
    entry_mark = TicketEntry.objects.aggregate(m=Max("id"))["m"] or 0
    if full:
        bounds = Ticket.objects.aggregate(first=Min("created_at"))
        first_ticket = local_day(bounds["first"]) if bounds["first"] else today
        ticket_days = _every_day(min(first_ticket, today), today)
        first_answer = Survey.objects.aggregate(first=Min("answered_at"))["first"]
        survey_days = _every_day(
            min(local_day(first_answer), today) if first_answer else today, today
        )
    else:
        assert state.started_at is not None
        ticket_days = sorted(_changed_ticket_days(state.entry_mark_before, entry_mark))
        survey_days = _every_day(local_day(state.started_at - SURVEY_OVERLAP), today)
    ancestors = _ancestors()
    ticket_rows = _rebuild(
        TicketDailyStat, TICKET_STAT_COLUMNS, _ticket_rows, ticket_days, ancestors
    )
    survey_rows = _rebuild(
        SurveyDailyStat, SURVEY_STAT_COLUMNS, _survey_rows, survey_days, ancestors
    )
    with transaction.atomic():
        _lock_refresh()
        if full:
            # Days before the first ticket (or answer), e.g. of since deleted test data.
            TicketDailyStat.objects.exclude(day__range=(ticket_days[0], today)).delete()
            SurveyDailyStat.objects.exclude(day__range=(survey_days[0], today)).delete()
        DashboardRefresh.objects.filter(pk=1).update(
            started_at=now,
            finished_at=timezone.now(),
            full_on=today if full else state.full_on,
            # A full rebuild read every ticket: entries before its mark are done (one of a
            # transaction still open when it started waits for the next night's rebuild).
            entry_mark_before=entry_mark if full else state.entry_mark,
            entry_mark=entry_mark,
        )
    return RefreshResult(full, len(ticket_days), ticket_rows, len(survey_days), survey_rows)


@task()
def dashboard_refresh(full: bool = False) -> dict[str, Any]:
    """Background refresh of the dashboard figures (enqueued by the dashboard view when they
    are stale, and by the scheduler)."""
    result = stats_refresh(full=full)
    return {
        "full": result.full,
        "ticket_days": result.ticket_days,
        "ticket_rows": result.ticket_rows,
        "survey_days": result.survey_days,
        "survey_rows": result.survey_rows,
    }


def refresh_state() -> DashboardRefresh | None:
    return DashboardRefresh.objects.filter(pk=1).first()


def is_stale(state: DashboardRefresh | None, now: dt.datetime) -> bool:
    if state is None or state.started_at is None or state.full_on is None:
        return True
    return state.full_on < local_day(now) or state.started_at < now - REFRESH_EVERY


def stats_request_refresh(*, state: DashboardRefresh | None, now: dt.datetime) -> bool:
    """Enqueue a background refresh when the figures (`state`: refresh_state()) are stale, at
    most once per REFRESH_EVERY (per cache); True when one was enqueued."""
    if not is_stale(state, now):
        return False
    if not cache.add(REFRESH_CACHE_KEY, True, int(REFRESH_EVERY.total_seconds())):
        return False
    dashboard_refresh.enqueue()
    return True


# --- what the page shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """A period of local days (inclusive) and optionally a region with its whole subtree."""

    first_day: dt.date
    last_day: dt.date
    region: Region | None = None

    def region_ids(self) -> list[int] | None:
        """None: every region. One query on the small region table otherwise."""
        return None if self.region is None else region_subtree_ids([self.region.pk])


@dataclass(frozen=True)
class OpenTickets:
    total: int
    # (status value, label, count) for every open status, in lifecycle order.
    by_status: list[tuple[str, str, int]]
    # (team id or None, team name or None, count), largest first.
    by_team: list[tuple[int | None, str | None, int]]


def _in_regions(qs: QuerySet[Any], region_ids: list[int] | None, path: str) -> QuerySet[Any]:
    return qs if region_ids is None else qs.filter(**{f"{path}__in": region_ids})


def open_tickets(region_ids: list[int] | None) -> OpenTickets:
    qs = _in_regions(
        Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES), region_ids, "customer__region_id"
    )
    rows = list(
        qs.order_by().values_list("status", "team_id", "team__name").annotate(n=Count("id"))
    )
    statuses = dict.fromkeys(OPEN_TICKET_STATUSES, 0)
    teams: dict[int | None, tuple[str | None, int]] = {}
    for status, team_id, team_name, n in rows:
        statuses[status] += n
        teams[team_id] = (team_name, teams.get(team_id, (team_name, 0))[1] + n)
    by_team = sorted(
        ((team_id, name, n) for team_id, (name, n) in teams.items()),
        key=lambda row: (-row[2], row[1] or ""),
    )
    return OpenTickets(
        total=sum(statuses.values()),
        by_status=[(s.value, str(s.label), statuses[s]) for s in OPEN_TICKET_STATUSES],
        by_team=by_team,
    )


def sla_alerts(region_ids: list[int] | None) -> dict[str, int]:
    """Open tickets at risk and breached now: {"at_risk": n, "breached": n}."""
    qs = _in_regions(
        Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES, sla_state__in=SLA_ALERT_STATES),
        region_ids,
        "customer__region_id",
    )
    counts = dict(qs.order_by().values_list("sla_state").annotate(n=Count("id")))
    return {state.value: counts.get(state.value, 0) for state in SLA_ALERT_STATES}


def urgent_tickets(
    user: User, region_ids: list[int] | None, limit: int = URGENT_LIMIT
) -> list[Ticket]:
    """The open tickets at risk or breached that the user may see: breached first, then by
    the nearest resolution deadline."""
    qs = Ticket.objects.filter(
        status__in=OPEN_TICKET_STATUSES,
        sla_state__in=SLA_ALERT_STATES,
        customer__merged_into__isnull=True,
    )
    branches = visibility_scope(user).branches("customer__")
    if branches is not None:
        qs = qs.filter(any_of(branches))
    qs = _in_regions(qs, region_ids, "customer__region_id")
    # "breached" sorts after "at_risk": descending puts breached tickets first.
    return list(
        qs.select_related("customer", "team", "assignee").order_by(
            "-sla_state", "resolution_due_at", "id"
        )[:limit]
    )


def revisits_due(region_ids: list[int] | None, today: dt.date) -> dict[str, int]:
    """Planned revisits overdue (due before today) and due within REVISIT_DUE_DAYS."""
    qs = _in_regions(
        ScheduledRevisit.objects.filter(
            status=RevisitStatus.PLANNED, due_on__lte=today + dt.timedelta(days=REVISIT_DUE_DAYS)
        ),
        region_ids,
        "customer__region_id",
    )
    return qs.aggregate(
        due=Count("id", filter=Q(due_on__gte=today)),
        overdue=Count("id", filter=Q(due_on__lt=today)),
    )


@dataclass(frozen=True)
class Times:
    """First-response and resolution times of the tickets created in the period (one kind,
    or all)."""

    kind: str  # "" for every kind
    label: str
    created: int
    responded: int
    resolved: int
    response_median: Estimate | None
    response_p90: Estimate | None
    resolution_median: Estimate | None
    resolution_p90: Estimate | None


def _times(kind: str, label: str, sums: dict[str, int]) -> Times:
    response = [sums[f] or 0 for f in RESPONSE_FIELDS]
    resolution = [sums[f] or 0 for f in RESOLUTION_FIELDS]
    return Times(
        kind=kind,
        label=label,
        created=sums["created"] or 0,
        responded=sums["responded"] or 0,
        resolved=sums["resolved"] or 0,
        response_median=histogram_quantile(response, 0.5),
        response_p90=histogram_quantile(response, 0.9),
        resolution_median=histogram_quantile(resolution, 0.5),
        resolution_p90=histogram_quantile(resolution, 0.9),
    )


def _region_rows(qs: QuerySet[Any], filters: Filters) -> QuerySet[Any]:
    """The rows of the filter's region (they count its whole subtree), or of every region."""
    qs = qs.filter(day__gte=filters.first_day, day__lte=filters.last_day)
    if filters.region is None:
        return qs.filter(region__isnull=True)
    return qs.filter(region=filters.region)


def ticket_times(filters: Filters) -> tuple[Times, list[Times]]:
    """(every kind, each kind that had tickets) for the tickets created in the period."""
    qs = _region_rows(TicketDailyStat.objects.all(), filters)
    summed = ("created", "responded", "resolved", *RESPONSE_FIELDS, *RESOLUTION_FIELDS)
    rows = list(qs.order_by().values("kind").annotate(**{f: Sum(f) for f in summed}))
    total = {f: sum(row[f] or 0 for row in rows) for f in summed}
    by_kind = {row["kind"]: row for row in rows}
    kinds = [
        _times(kind.value, str(kind.label), by_kind[kind.value])
        for kind in TicketKind
        if kind.value in by_kind
    ]
    return _times("", "", total), kinds


@dataclass(frozen=True)
class SurveyWeek:
    week: dt.date  # the Monday
    answered: int
    csat: float | None
    nps: float | None


@dataclass(frozen=True)
class Satisfaction:
    answered: int
    csat: float | None  # average, 1–5
    csat_count: int
    nps: float | None  # % promoters − % detractors, −100…100
    nps_count: int
    promoters: int
    detractors: int
    weeks: list[SurveyWeek]


def nps_score(promoters: int, detractors: int, answers: int) -> float | None:
    """Net promoter score: % promoters (9–10) − % detractors (0–6) of the NPS answers."""
    return None if answers == 0 else 100.0 * (promoters - detractors) / answers


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def satisfaction(filters: Filters) -> Satisfaction:
    """CSAT and NPS of the survey answers received in the period, and week by week."""
    qs = _region_rows(SurveyDailyStat.objects.all(), filters)
    summed = ("answered", "csat_count", "csat_sum", "nps_count", "promoters", "detractors")
    rows = qs.order_by().values("day").annotate(**{f: Sum(f) for f in summed})
    weeks: dict[dt.date, dict[str, int]] = {
        monday: dict.fromkeys(summed, 0)
        for monday in sorted({_monday(d) for d in _every_day(filters.first_day, filters.last_day)})
    }
    for row in rows:
        week = weeks[_monday(row["day"])]
        for f in summed:
            week[f] += row[f] or 0
    total = {f: sum(week[f] for week in weeks.values()) for f in summed}
    return Satisfaction(
        answered=total["answered"],
        csat=total["csat_sum"] / total["csat_count"] if total["csat_count"] else None,
        csat_count=total["csat_count"],
        nps=nps_score(total["promoters"], total["detractors"], total["nps_count"]),
        nps_count=total["nps_count"],
        promoters=total["promoters"],
        detractors=total["detractors"],
        weeks=[
            SurveyWeek(
                week=monday,
                answered=w["answered"],
                csat=w["csat_sum"] / w["csat_count"] if w["csat_count"] else None,
                nps=nps_score(w["promoters"], w["detractors"], w["nps_count"]),
            )
            for monday, w in weeks.items()
        ],
    )


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    today: dt.date
    open: OpenTickets
    sla: dict[str, int]
    urgent: list[Ticket]
    revisits: dict[str, int]
    times: Times
    times_by_kind: list[Times]
    satisfaction: Satisfaction
    refreshed_at: dt.datetime | None  # when the times and satisfaction figures were computed


def dashboard(
    user: User,
    filters: Filters,
    *,
    state: DashboardRefresh | None,
    today: dt.date | None = None,
) -> Dashboard:
    """Everything the dashboard shows, in a fixed number of queries; `state` is
    refresh_state() (when the figures were computed)."""
    today = today or timezone.localdate()
    region_ids = filters.region_ids()
    times, by_kind = ticket_times(filters)
    return Dashboard(
        filters=filters,
        today=today,
        open=open_tickets(region_ids),
        sla=sla_alerts(region_ids),
        urgent=urgent_tickets(user, region_ids),
        revisits=revisits_due(region_ids, today),
        times=times,
        times_by_kind=by_kind,
        satisfaction=satisfaction(filters),
        refreshed_at=state.started_at if state is not None else None,
    )
