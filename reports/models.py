"""Reports (报表): the figures behind them are precomputed into aggregate tables (see each
report's module) and refreshed incrementally; ReportRefresh records how fresh each is, and
every report page says so."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReportRefresh(models.Model):
    """How far one report's aggregates are refreshed: when the last refresh ran, when the last
    full rebuild ran, and a mark (e.g. the highest source row id or change time seen) from
    which the next incremental refresh reads."""

    key = models.SlugField(_("report"), max_length=40, unique=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("refreshed at"), null=True, blank=True)
    full_at = models.DateTimeField(_("last full rebuild"), null=True, blank=True)
    mark = models.BigIntegerField(default=0)
    mark_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(_("duration (s)"), default=0)

    class Meta:
        ordering = ["key"]
        verbose_name = _("report refresh")
        verbose_name_plural = _("report refreshes")
        permissions = [
            ("view_reports", _("Can open the reports")),
            ("export_reports", _("Can export reports to Excel")),
            ("refresh_reports", _("Can refresh report figures now")),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.finished_at}"

    def full_rebuild_due(self, today: dt.date) -> bool:
        """Never rebuilt in full, never refreshed, or not rebuilt today yet (the first refresh
        after midnight rebuilds everything)."""
        return (
            self.full_at is None
            or self.started_at is None
            or timezone.localdate(self.full_at) < today
        )


# --- aggregates of the customer reports (reports.aggregates keeps them) ------------------------
#
# Every row carries the visibility keys of the customers it counts — owner, district, department
# (plain columns: ids copied, no constraint, so a deleted user or region never blocks a refresh)
# — and the report's dimensions; `reports.filters.key_scope` selects the rows a viewer may see.


class KeyedAggregate(models.Model):
    owner_id = models.BigIntegerField(null=True)
    region_id = models.BigIntegerField(null=True)
    department_id = models.BigIntegerField(null=True)
    # NULL: the figures of every customer; else only of the customers of that saved segment
    # (customers.Segment id, a plain column so that a deleted segment never blocks a refresh;
    # reports.segment_figures keeps these rows for the segments people report on).
    segment_id = models.BigIntegerField(null=True)

    class Meta:
        abstract = True


class CustomerCountAggregate(KeyedAggregate):
    """Customers (not merged) as they are now, per keys × status × value class ('' when not
    classified yet), with the sum of their RFM monetary value."""

    status = models.CharField(max_length=20)
    value_class = models.CharField(max_length=1, blank=True)
    customers = models.PositiveIntegerField(default=0)
    monetary = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes = [
            models.Index(fields=["region_id"], name="report_customer_agg_region"),
            models.Index(fields=["segment_id", "region_id"], name="report_customer_agg_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.status} {self.value_class}: {self.customers}"


class MonthlyAggregate(KeyedAggregate):
    month = models.DateField()  # the first day of a month (local time)

    class Meta:
        abstract = True


class CustomerMonthAggregate(MonthlyAggregate):
    """Customers created per month (local), per keys."""

    customers = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["month"], name="report_customer_month_month"),
            models.Index(fields=["segment_id", "month"], name="report_customer_month_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.region_id}: {self.customers}"


class ContractMonthAggregate(MonthlyAggregate):
    """Service contracts signed per month, per keys × the customer's value class: how many and
    Σ annual fee × term months (÷ 12 gives their value, as insights.value counts it)."""

    value_class = models.CharField(max_length=1, blank=True)
    contracts = models.PositiveIntegerField(default=0)
    fee_months = models.DecimalField(max_digits=20, decimal_places=2, default=0)

    class Meta:
        indexes = [
            models.Index(fields=["month"], name="report_contract_month_month"),
            models.Index(fields=["segment_id", "month"], name="report_contract_month_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.region_id} {self.value_class}: {self.contracts}"


class SurveyMonthAggregate(MonthlyAggregate):
    """Survey answers per month answered (local), per keys (definitions of
    service.SurveyDailyStat: CSAT 1–5, promoters 9–10, detractors 0–6)."""

    answered = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    nps_count = models.PositiveIntegerField(default=0)
    promoters = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["month"], name="report_survey_month_month"),
            models.Index(fields=["segment_id", "month"], name="report_survey_month_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.region_id}: {self.answered}"


class SlaMonthAggregate(MonthlyAggregate):
    """Work judged against its deadline, per month the deadline falls in (local), per keys ×
    measure (task, ticket response, ticket resolution, inquiry): on time and late."""

    measure = models.CharField(max_length=12)
    on_time = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["month"], name="report_sla_month_month"),
            models.Index(fields=["segment_id", "month"], name="report_sla_month_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.region_id} {self.measure}: {self.on_time}/{self.late}"


class SegmentFigures(models.Model):
    """Precomputed report figures of one saved segment: which group of reports (`figures`:
    the customer reports, the funnel, the workload) has rows carrying the segment's id, for
    which version of its definition (`fingerprint`), as of when. Pages read the rows only
    while the fingerprint is the segment's current one and a full build has run for it
    (reports.segment_figures)."""

    segment = models.ForeignKey(
        "customers.Segment", on_delete=models.CASCADE, related_name="+", verbose_name=_("segment")
    )
    figures = models.SlugField(_("report"), max_length=20)
    fingerprint = models.CharField(max_length=64)
    computed_at = models.DateTimeField(_("refreshed at"))
    full_at = models.DateTimeField(_("last full rebuild"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment report figures")
        verbose_name_plural = _("segment report figures")
        constraints = [
            models.UniqueConstraint(fields=["segment", "figures"], name="segment_figures_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.figures} {self.computed_at}"
