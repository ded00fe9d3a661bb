"""The reports the reports page lists, each with the permission it needs besides
`reports.view_reports`."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import User

VIEW_PERM = "reports.view_reports"
EXPORT_PERM = "reports.export_reports"


@dataclass(frozen=True)
class ReportEntry:
    key: str
    title: Promise
    description: Promise
    url_name: str
    icon: str
    perm: str = VIEW_PERM


REPORTS: tuple[ReportEntry, ...] = (
    ReportEntry(
        "customers",
        _("Customers by region, status and class"),
        _("How many customers each district has, in each status and value class."),
        "reports:customers",
        "geo-alt",
    ),
    ReportEntry(
        "value",
        _("Contract value by class"),
        _("Contract value and fees of the customers in each value class (A/B/C)."),
        "reports:value",
        "cash-coin",
    ),
    ReportEntry(
        "funnel",
        _("Onboarding funnel and step cycle times"),
        _(
            "How many onboarding cases reach each SOP step, the median and p90 time of each step, "
            "and which step is the bottleneck."
        ),
        "reports:funnel",
        "funnel",
    ),
    ReportEntry(
        "sla",
        _("SLA compliance"),
        _("Share of process tasks, service tickets and online inquiries handled in time."),
        "reports:sla",
        "stopwatch",
    ),
    ReportEntry(
        "workload",
        _("Workload and throughput"),
        _("Work received and completed per person and team."),
        "reports:workload",
        "people",
    ),
    ReportEntry(
        "satisfaction",
        _("Satisfaction trend"),
        _("Survey satisfaction (CSAT) and NPS month by month."),
        "reports:satisfaction",
        "emoji-smile",
    ),
)


def reports_for(user: User) -> list[ReportEntry]:
    if not user.has_perm(VIEW_PERM):
        return []
    return [entry for entry in REPORTS if user.has_perm(entry.perm)]


def entry(key: str) -> ReportEntry:
    return next(item for item in REPORTS if item.key == key)
