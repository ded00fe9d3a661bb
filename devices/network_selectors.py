"""Reads of network operations (网管): the online rate over time, collector status counts,
heartbeat gaps, firmware versions, faults, upgrade campaigns and the work log.

Every list of collectors goes through `selectors.collectors_visible_to`. The network roles see
every customer, but a read never widens what a user may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import User
from devices.models import (
    IN_SERVICE,
    CampaignTarget,
    Collector,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    FaultStatus,
    FirmwareCampaign,
    OnlineSample,
    TargetStatus,
    WorkLogEntry,
)
from devices.selectors import collectors_visible_to

# The chart never gets more points than this, whatever the period (downsampled here, not in
# the browser: a month of one-minute samples is 43,200 rows).
MAX_CHART_POINTS = 300
# Heartbeat gaps shown on the page; the total is still counted.
GAPS_LIMIT = 200
OPEN_FAULT_STATUSES = (FaultStatus.OPEN, FaultStatus.HANDLING)
OPEN_TARGET_STATUSES = (TargetStatus.PENDING, TargetStatus.IN_PROGRESS)


class Period(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"


@dataclass(frozen=True)
class PeriodSpec:
    window: timedelta
    bucket_seconds: int  # one chart point per bucket
    hourly: bool  # let the database add up samples per hour first


# Buckets chosen so that window / bucket + 1 stays under MAX_CHART_POINTS: 289, 169, 241.
PERIODS: dict[Period, PeriodSpec] = {
    Period.DAY: PeriodSpec(timedelta(hours=24), 5 * 60, hourly=False),
    Period.WEEK: PeriodSpec(timedelta(days=7), 60 * 60, hourly=True),
    Period.MONTH: PeriodSpec(timedelta(days=30), 3 * 60 * 60, hourly=True),
}


def period_parse(value: str | None) -> Period:
    try:
        return Period(value or Period.DAY)
    except ValueError:
        return Period.DAY


# --- online rate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OnlineSeries:
    # (bucket start as milliseconds since the epoch, online rate in percent or None: no sample)
    points: list[tuple[int, float | None]]
    average: float | None  # weighted by collectors in service over the whole period
    lowest: float | None
    samples: int


def _percent(online: int, total: int) -> float | None:
    return round(100 * online / total, 2) if total else None


def online_rate_series(period: Period, *, now: datetime | None = None) -> OnlineSeries:
    """The fleet's online rate over the period, one point per bucket (empty buckets are None,
    so the chart shows the gateway's own outages as gaps instead of joining across them)."""
    now = now or timezone.now()
    spec = PERIODS[period]
    start = now - spec.window
    qs = OnlineSample.objects.filter(at__gte=start, at__lte=now).order_by()
    rows: Sequence[tuple[datetime, int, int, int]]
    if spec.hourly:
        rows = list(
            qs.annotate(slot=TruncHour("at"))
            .values("slot")
            .annotate(on=Sum("online"), total=Sum("in_service"), n=Count("id"))
            .values_list("slot", "on", "total", "n")
        )
    else:
        rows = [
            (at, on, total, 1) for at, on, total in qs.values_list("at", "online", "in_service")
        ]
    size = spec.bucket_seconds
    buckets: dict[int, list[int]] = {}
    samples = online_sum = total_sum = 0
    for slot, on, total, n in rows:
        key = int(slot.timestamp()) // size * size
        bucket = buckets.setdefault(key, [0, 0])
        bucket[0] += on
        bucket[1] += total
        online_sum += on
        total_sum += total
        samples += n
    first = int(start.timestamp()) // size * size
    last = int(now.timestamp()) // size * size
    points: list[tuple[int, float | None]] = []
    for key in range(first, last + 1, size):
        on, total = buckets.get(key, (0, 0))
        points.append((key * 1000, _percent(on, total)))
    rates = [rate for _t, rate in points if rate is not None]
    return OnlineSeries(
        points=points,
        average=_percent(online_sum, total_sum),
        lowest=min(rates) if rates else None,
        samples=samples,
    )


@dataclass(frozen=True)
class StatusCounts:
    by_status: dict[str, int]
    online: int
    offline: int

    @property
    def talking(self) -> int:
        """Collectors that should be talking: online or offline (as OnlineSample.in_service)."""
        return self.online + self.offline

    @property
    def rate(self) -> float | None:
        return _percent(self.online, self.talking)


def collector_status_counts(user: User) -> StatusCounts:
    counts = {status: 0 for status in CollectorStatus.values}
    rows = collectors_visible_to(user).order_by().values("status").annotate(n=Count("id"))
    counts.update({row["status"]: row["n"] for row in rows})
    return StatusCounts(
        by_status=counts,
        online=counts[CollectorStatus.ONLINE],
        offline=counts[CollectorStatus.OFFLINE],
    )


# --- heartbeat gaps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    collector_id: int
    serial_number: str
    customer: str
    # None: the collector went offline before any offline event we know of.
    started_at: datetime | None
    ended_at: datetime | None  # None: still offline
    seconds: int  # up to now when still offline; from the period start when started_at is None

    @property
    def still_offline(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class GapReport:
    rows: list[Gap]
    total: int  # before the GAPS_LIMIT cut
    still_offline: int


def heartbeat_gaps(user: User, *, period: Period, now: datetime | None = None) -> GapReport:
    """Times collectors were silent: each offline→online pair of events in the period, and the
    collectors offline right now (since their status changed). Collectors offline now come
    first (longest first), then the gaps that ended, newest first.

    Two queries whatever the number of collectors, and a third (one grouped query) only when a
    gap that ended in the period began before it."""
    now = now or timezone.now()
    since = now - PERIODS[period].window
    visible = collectors_visible_to(user)
    events = (
        DeviceEvent.objects.filter(
            collector__in=visible,
            kind__in=(EventKind.OFFLINE, EventKind.ONLINE),
            occurred_at__gte=since,
            occurred_at__lte=now,
        )
        .order_by("collector_id", "occurred_at", "id")
        .values_list(
            "collector_id",
            "kind",
            "occurred_at",
            "collector__serial_number",
            "collector__customer__name",
        )
    )
    ended: list[Gap] = []
    # collector id → (came back at, serial, customer): back online with no offline in period
    orphans: dict[int, list[tuple[datetime, str, str]]] = {}
    current: int | None = None
    went_offline: datetime | None = None
    for collector_id, kind, at, serial, customer in events:
        if collector_id != current:
            current, went_offline = collector_id, None
        if kind == EventKind.OFFLINE:
            went_offline = went_offline or at
            continue
        if went_offline is None:
            orphans.setdefault(collector_id, []).append((at, serial, customer or ""))
            continue
        seconds = int((at - went_offline).total_seconds())
        ended.append(Gap(collector_id, serial, customer or "", went_offline, at, seconds))
        went_offline = None
    if orphans:
        # Their offline event is older than the period: the latest one before it, per collector.
        starts = dict(
            DeviceEvent.objects.filter(
                collector_id__in=list(orphans), kind=EventKind.OFFLINE, occurred_at__lt=since
            )
            .order_by()
            .values("collector_id")
            .annotate(at=Max("occurred_at"))
            .values_list("collector_id", "at")
        )
        for collector_id, returns in orphans.items():
            for n, (at, serial, customer) in enumerate(returns):
                # Only the first return can belong to an older offline event.
                began = starts.get(collector_id) if n == 0 else None
                seconds = int((at - (began or since)).total_seconds())
                ended.append(Gap(collector_id, serial, customer, began, at, seconds))
    offline_now = [
        Gap(
            pk,
            serial,
            customer or "",
            changed,
            None,
            int((now - (changed or since)).total_seconds()),
        )
        for pk, serial, customer, changed in visible.filter(status=CollectorStatus.OFFLINE)
        .order_by("status_changed_at", "id")
        .values_list("pk", "serial_number", "customer__name", "status_changed_at")
    ]
    offline_now.sort(key=lambda gap: -gap.seconds)
    ended.sort(key=lambda gap: (gap.ended_at or now, gap.collector_id), reverse=True)
    rows = offline_now + ended
    return GapReport(rows=rows[:GAPS_LIMIT], total=len(rows), still_offline=len(offline_now))


# --- firmware -------------------------------------------------------------------------------


def firmware_distribution(user: User) -> list[dict[str, Any]]:
    """In-service collectors per manufacturer, model and firmware version, most common first
    within each model."""
    return list(
        collectors_visible_to(user)
        .filter(status__in=IN_SERVICE)
        .order_by()
        .values("manufacturer", "model", "firmware_version")
        .annotate(n=Count("id"))
        .order_by("manufacturer", "model", "-n", "firmware_version")
    )


def campaign_candidates(
    user: User | None,
    *,
    target_version: str,
    manufacturer: str = "",
    model: str = "",
    from_versions: Sequence[str] | None = None,
    collectors: Sequence[Collector] | None = None,
) -> QuerySet[Collector]:
    """The collectors an upgrade campaign would target: the chosen collectors (any but retired
    ones) or else every in-service collector, narrowed by manufacturer, model and current
    version, without those already on the target version."""
    qs = Collector.objects.all() if user is None else collectors_visible_to(user)
    if collectors is not None:
        qs = qs.filter(pk__in=[c.pk for c in collectors]).exclude(status=CollectorStatus.RETIRED)
    else:
        qs = qs.filter(status__in=IN_SERVICE)
    if manufacturer.strip():
        qs = qs.filter(manufacturer__iexact=manufacturer.strip())
    if model.strip():
        qs = qs.filter(model__iexact=model.strip())
    versions = sorted({v.strip() for v in from_versions or () if v.strip()})
    if versions:
        qs = qs.filter(firmware_version__in=versions)
    return qs.exclude(firmware_version=target_version.strip())


def candidates_by_version(qs: QuerySet[Collector]) -> list[dict[str, Any]]:
    """How many candidates are on each current version (the create form's preview)."""
    return list(
        qs.order_by()
        .values("firmware_version")
        .annotate(n=Count("id"))
        .order_by("-n", "firmware_version")
    )


def campaigns_with_progress() -> list[FirmwareCampaign]:
    """Every campaign with its target counts per status (one query)."""

    def count(*statuses: str) -> Count:
        return Count("targets", filter=Q(targets__status__in=statuses))

    return list(
        FirmwareCampaign.objects.select_related("created_by")
        .annotate(
            total=Count("targets"),
            upgraded=count(TargetStatus.UPGRADED),
            failed=count(TargetStatus.FAILED),
            remaining=count(*OPEN_TARGET_STATUSES),
        )
        .order_by("-created_at", "-id")
    )


def campaign_get(pk: int) -> FirmwareCampaign:
    return FirmwareCampaign.objects.select_related("created_by").get(pk=pk)


def campaign_targets(user: User, campaign: FirmwareCampaign) -> QuerySet[CampaignTarget]:
    return (
        CampaignTarget.objects.filter(campaign=campaign, collector__in=collectors_visible_to(user))
        .select_related("campaign", "collector__customer", "updated_by")
        .order_by("id")
    )


def campaign_target_counts(campaign: FirmwareCampaign) -> dict[str, int]:
    counts = {status: 0 for status in TargetStatus.values}
    rows = campaign.targets.order_by().values("status").annotate(n=Count("id"))
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


# --- faults -------------------------------------------------------------------------------


def faults_visible_to(user: User) -> QuerySet[Fault]:
    return Fault.objects.filter(collector__in=collectors_visible_to(user))


def fault_list(user: User, *, status: str = "", kind: str = "") -> QuerySet[Fault]:
    qs = faults_visible_to(user).select_related(
        "collector__customer", "collector__site", "handled_by"
    )
    if status == "unclosed":
        qs = qs.filter(status__in=OPEN_FAULT_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-opened_at", "-id")


def fault_get(user: User, pk: int) -> Fault:
    """The fault, or Fault.DoesNotExist (shown as 404) when its collector is not visible."""
    return (
        faults_visible_to(user)
        .select_related("collector__customer", "collector__site", "handled_by", "event")
        .get(pk=pk)
    )


def fault_open_counts(user: User) -> dict[str, int]:
    counts: dict[str, int] = {status: 0 for status in OPEN_FAULT_STATUSES}
    rows = (
        faults_visible_to(user)
        .filter(status__in=OPEN_FAULT_STATUSES)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    )
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def open_faults(user: User, *, limit: int = 10) -> list[Fault]:
    return list(fault_list(user, status="unclosed")[:limit])


# --- work log -----------------------------------------------------------------------------


def worklog_entries(start: dt.date, end: dt.date) -> QuerySet[WorkLogEntry]:
    """Entries from `start` to `end` inclusive, oldest day first, in the order written."""
    return (
        WorkLogEntry.objects.filter(day__gte=start, day__lte=end)
        .select_related("author", "collector__customer")
        .order_by("day", "created_at", "id")
    )
