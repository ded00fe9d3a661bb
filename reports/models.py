"""Reports (报表): the figures behind them are precomputed into aggregate tables (see each
report's module) and refreshed incrementally; ReportRefresh records how fresh each is, and
every report page says so."""

from __future__ import annotations

from django.db import models
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
