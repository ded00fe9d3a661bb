"""Precomputed report figures for the saved segments people report on.

A report filtered by a segment cannot read the ordinary aggregate rows (a segment is an
arbitrary set of customers no visibility key stands for), and counting from the raw rows takes
seconds at a million customers. So a segment becomes "reported on" when a report is opened
with it (`segment_report_use` stamps `Segment.report_used_at`, at most once an hour), and the
periodic refreshes (reports.aggregates.reports_refresh, reports.funnel.funnel_refresh,
reports.workload.workload_refresh, every ten minutes) also keep aggregate rows carrying the
segment's id for the segments used in the last REPORTED_DAYS days (the MAX_SEGMENTS most recent):
recent months every refresh as for the rows of everyone, all months on the first refresh for a
segment, after its definition changed, and nightly. A use that finds a segment's figures not
ready (its first, or after a change) starts the refreshes at once instead of waiting for the
next ten-minute tick.

A `SegmentFigures` row per segment and group of reports records the definition the rows were
computed from (its fingerprint) and when. The pages read the rows only while that fingerprint
is the segment's current one and a full build ran for it (`ready_figures`); otherwise they count
live from the rows and say that the segment's figures are precomputed from the next refresh.
A changed definition (customers.segments.segment_save) or a deleted segment drops the rows and
the readiness (`segment_figures_drop`); a refresh that read a definition changed while it ran
writes nothing for that segment (`still_current`).

Membership is evaluated by each refresh: a customer who enters or leaves a segment (its
conditions changed, or a condition on history such as recent tickets) counts in the segment's
recent months from the next refresh, in older months from the nightly rebuild, as a customer
moved to another owner or district does in the rows of everyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Segment
from reports.models import SegmentFigures

REPORTED_DAYS = 30
MAX_SEGMENTS = 20
USE_STAMP_EVERY = dt.timedelta(hours=1)
REFRESH_MINUTES = 10  # the scheduler runs every report refresh this often

# The groups of reports refreshed together (SegmentFigures.figures).
CUSTOMER_REPORTS = "customers"  # customers, value, satisfaction, SLA (reports.aggregates)
FUNNEL = "funnel"
WORKLOAD = "workload"
GROUPS = (CUSTOMER_REPORTS, FUNNEL, WORKLOAD)


def fingerprint(definition: object) -> str:
    """A digest of a segment definition: figures computed from another one are not its."""
    text = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def segment_report_use(segment: Segment, now: dt.datetime | None = None) -> None:
    """Record that a report was opened filtered by `segment` (derived bookkeeping: no audit
    row). Written at most once an hour per segment, so that opening reports stays a read."""
    now = now or timezone.now()
    if segment.report_used_at is not None and segment.report_used_at > now - USE_STAMP_EVERY:
        return
    stamped = (
        Segment.objects.filter(pk=segment.pk)
        .filter(Q(report_used_at__isnull=True) | Q(report_used_at__lte=now - USE_STAMP_EVERY))
        .update(report_used_at=now)
    )
    segment.report_used_at = now
    if stamped and not all(ready_figures(segment, group) for group in GROUPS):
        # Not precomputed yet (first use, a changed definition): refresh now rather than at
        # the next ten-minute tick, once this request's writes are committed.
        transaction.on_commit(_refresh_now)


def _refresh_now() -> None:
    from reports.process_tasks import process_reports_refresh  # the tasks import this module
    from reports.tasks import reports_refresh_task

    reports_refresh_task.enqueue()
    process_reports_refresh.enqueue()


def reported_segments(now: dt.datetime) -> list[Segment]:
    """The segments whose figures the refreshes keep: used in a report in the last
    REPORTED_DAYS days, the most recently used first, at most MAX_SEGMENTS."""
    since = now - dt.timedelta(days=REPORTED_DAYS)
    return list(
        Segment.objects.filter(report_used_at__gte=since).order_by("-report_used_at", "pk")[
            :MAX_SEGMENTS
        ]
    )


@dataclass(frozen=True)
class SegmentJob:
    """One segment's share of a refresh: its definition as read when the refresh began and
    whether every month is computed (first time, changed definition, nightly rebuild)."""

    segment: Segment
    fingerprint: str
    full: bool


def segment_jobs(figures: str, now: dt.datetime, *, full: bool) -> list[SegmentJob]:
    """The reported segments' work for one group of reports (`full`: the refresh of everyone
    rebuilds every month, so do the segments)."""
    segments = reported_segments(now)
    states = {
        state.segment_id: state
        for state in SegmentFigures.objects.filter(
            figures=figures, segment_id__in=[s.pk for s in segments]
        )
    }
    jobs = []
    for segment in segments:
        digest = fingerprint(segment.definition)
        state = states.get(segment.pk)
        rebuild = full or state is None or state.fingerprint != digest or state.full_at is None
        jobs.append(SegmentJob(segment, digest, rebuild))
    return jobs


def still_current(job: SegmentJob) -> bool:
    """Whether the segment still exists with the definition the job computed from (call it in
    the transaction that writes the job's rows: the segment's row stays locked till then, so it
    is neither changed nor deleted between this check and the rows written)."""
    definition = (
        Segment.objects.select_for_update()
        .filter(pk=job.segment.pk)
        .values_list("definition", flat=True)
        .first()
    )
    return definition is not None and fingerprint(definition) == job.fingerprint


def record(figures: str, job: SegmentJob, now: dt.datetime) -> None:
    """The job's rows are written: its figures are as of `now`."""
    state, _created = SegmentFigures.objects.get_or_create(
        segment_id=job.segment.pk,
        figures=figures,
        defaults={"fingerprint": job.fingerprint, "computed_at": now},
    )
    state.fingerprint = job.fingerprint
    state.computed_at = now
    if job.full:
        state.full_at = now
    state.save()


def unreported(figures: str, jobs: list[SegmentJob]) -> Q:
    """Forget the readiness of this group's figures of the segments not reported on lately
    (or deleted), and return the condition on `segment_id` of the rows to delete with it:
    every segment's row but those of `jobs`."""
    keep = [job.segment.pk for job in jobs]
    SegmentFigures.objects.filter(figures=figures).exclude(segment_id__in=keep).delete()
    return Q(segment_id__isnull=False) & ~Q(segment_id__in=keep)


def ready_figures(segment: Segment, figures: str) -> SegmentFigures | None:
    """The state of the segment's precomputed figures when a page may read them: computed in
    full from its current definition."""
    state = SegmentFigures.objects.filter(segment_id=segment.pk, figures=figures).first()
    if state is None or state.full_at is None:
        return None
    if state.fingerprint != fingerprint(segment.definition):
        return None
    return state


def segment_figures_drop(segment_id: int) -> None:
    """Forget every precomputed figure of the segment (its definition changed, or it is being
    deleted): pages count live until the next refresh rebuilds them."""
    from reports.models import (
        ContractMonthAggregate,
        CustomerCountAggregate,
        CustomerMonthAggregate,
        SlaMonthAggregate,
        SurveyMonthAggregate,
    )
    from workflow.models import StepCellStat, StepDailyStat, StepMonthlyStat, WorkloadDailyStat

    SegmentFigures.objects.filter(segment_id=segment_id).delete()
    for model in (
        CustomerCountAggregate,
        CustomerMonthAggregate,
        ContractMonthAggregate,
        SurveyMonthAggregate,
        SlaMonthAggregate,
        StepCellStat,
        StepMonthlyStat,
        StepDailyStat,
        WorkloadDailyStat,
    ):
        rows = model._default_manager.filter(segment_id=segment_id)
        rows._raw_delete(rows.db)


def not_ready_text() -> str:
    """What a page filtered by a segment without precomputed figures says."""
    return _(
        "Filtered by a segment: counted from the records now. This segment's figures are kept "
        "precomputed from the next refresh, within %(minutes)d minutes."
    ) % {"minutes": REFRESH_MINUTES}


def ready_text(state: SegmentFigures) -> str:
    """What a page reading a segment's precomputed figures says."""
    at = date_format(timezone.localtime(state.computed_at), "Y-m-d H:i")
    return _(
        "Figures for this segment as of %(at)s, refreshed every %(minutes)d minutes (earlier "
        "months in full every night)."
    ) % {"at": at, "minutes": REFRESH_MINUTES}
