"""Pages and Excel exports of the customer reports: customers by region/status/class,
contract value by class, satisfaction trend, SLA compliance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from reports import aggregates as agg
from reports import customer_reports as cr
from reports import segment_figures as seg
from reports.export import Sheet, report_xlsx_response
from reports.filters import ReportFilters, report_filters
from reports.registry import EXPORT_PERM, VIEW_PERM, entry
from reports.tasks import reports_refresh_task
from ruwang.lib.views import require

REFRESH_PERM = "reports.refresh_reports"
Builder = Callable[..., dict[str, Any]]


def _source(key: str, filters: ReportFilters) -> tuple[bool, str]:
    """Whether to compute live, and the freshness line the page and export show."""
    first, last = agg.months_of(filters)
    months = _("Monthly figures cover whole months: %(first)s – %(last)s.") % {
        "first": f"{first:%Y-%m}",
        "last": f"{last:%Y-%m}",
    }
    if filters.segment is not None:
        ready = seg.ready_figures(filters.segment, seg.CUSTOMER_REPORTS)
        if ready is None:
            return True, " ".join([seg.not_ready_text(), months])
        return False, " ".join([seg.ready_text(ready), months])
    state = agg.freshness(key)
    if state is None or state.finished_at is None:
        return True, " ".join(
            [
                _(
                    "Computed from the records now: the precomputed figures are not ready yet "
                    "(they are refreshed every %(minutes)d minutes)."
                )
                % {"minutes": agg.REFRESH_MINUTES},
                months,
            ]
        )
    at = date_format(timezone.localtime(state.finished_at), "Y-m-d H:i")
    return False, " ".join(
        [
            _(
                "Figures as of %(at)s, refreshed every %(minutes)d minutes (earlier months in "
                "full every night)."
            )
            % {"at": at, "minutes": agg.REFRESH_MINUTES},
            months,
        ]
    )


def _prepare(
    request: HttpRequest, key: str, builder: Builder
) -> tuple[User, Any, ReportFilters, dict[str, Any], str]:
    user = require(request, VIEW_PERM)
    form, filters = report_filters(request, user)
    live, freshness = _source(key, filters)
    report = builder(user, filters, timezone.now(), live=live)
    return user, form, filters, report, freshness


def _page(
    request: HttpRequest,
    key: str,
    builder: Builder,
    chart: Callable[[dict[str, Any]], dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    _user, form, filters, report, freshness = _prepare(request, key, builder)
    query = filters.query()
    export_url = reverse(f"reports:{key}_export") + (f"?{query}" if query else "")
    return render(
        request,
        f"reports/{key}/page.html",
        {
            "report": entry(key),
            "form": form,
            "filters": filters,
            "freshness": freshness,
            "export_url": export_url,
            "data": report,
            "chart": chart(report),
            **(extra or {}),
        },
    )


def _export(
    request: HttpRequest,
    key: str,
    builder: Builder,
    sheets: Callable[[dict[str, Any]], Sequence[Sheet]],
) -> HttpResponseBase:
    require(request, EXPORT_PERM)
    user, _form, filters, report, freshness = _prepare(request, key, builder)
    return report_xlsx_response(
        user=user,
        key=key,
        title=str(entry(key).title),
        filters=filters,
        sheets=sheets(report),
        freshness=freshness,
    )


def _month(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def _num(value: Any) -> Any:
    return "" if value is None else value


# --- customers --------------------------------------------------------------------------------


@login_required
def customers_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "customers", cr.customers_report, cr.customers_chart)


def _customer_sheets(report: dict[str, Any]) -> list[Sheet]:
    statuses, classes = report["statuses"], report["classes"]
    header = [
        _("City") if report["level"] == "city" else _("District"),
        *[label for _k, label in statuses],
        *[label for _k, label in classes],
        _("Total"),
    ]

    def row(unit: dict[str, Any], name: str) -> list[Any]:
        return [
            name,
            *[unit["status"].get(k, 0) for k, _l in statuses],
            *[unit["class"].get(k, 0) for k, _l in classes],
            unit["total"],
        ]

    rows = [row(u, u["name"]) for u in report["units"]] + [row(report["total"], _("Total"))]
    return [
        Sheet(_("Customers"), header, rows),
        Sheet(
            _("New customers"),
            [_("Month"), _("New customers")],
            [[_month(m), n] for m, n in report["new_by_month"]],
        ),
    ]


@login_required
def customers_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "customers", cr.customers_report, _customer_sheets)


# --- value ------------------------------------------------------------------------------------


@login_required
def value_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "value", cr.value_report, cr.value_chart)


def _value_sheets(report: dict[str, Any]) -> list[Sheet]:
    header = [
        _("Value class"),
        _("Customers"),
        _("Contracts signed"),
        _("Contract value (yuan)"),
        _("Average per customer (yuan)"),
        _("Share of value (%)"),
        _("RFM monetary value (yuan)"),
    ]
    rows = [
        [
            c["label"],
            c["customers"],
            c["contracts"],
            c["value"],
            _num(c["average"]),
            _num(c["share"]),
            c["monetary"],
        ]
        for c in report["classes"]
    ]
    total = report["total"]
    rows.append(
        [
            _("Total"),
            total["customers"],
            total["contracts"],
            total["value"],
            "",
            100 if total["value"] else "",
            total["monetary"],
        ]
    )
    labels = [c["label"] for c in report["classes"]]
    return [
        Sheet(_("Value by class"), header, rows),
        Sheet(
            _("By month"),
            [_("Month"), *labels],
            [[_month(m), *values] for m, values in report["months"]],
        ),
    ]


@login_required
def value_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "value", cr.value_report, _value_sheets)


# --- satisfaction -----------------------------------------------------------------------------


@login_required
def satisfaction_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "satisfaction", cr.satisfaction_report, cr.satisfaction_chart)


def _satisfaction_sheets(report: dict[str, Any]) -> list[Sheet]:
    header = [
        _("Month"),
        _("Answers"),
        _("CSAT (1–5)"),
        _("CSAT answers"),
        _("NPS"),
        _("NPS answers"),
        _("Promoters (9–10)"),
        _("Detractors (0–6)"),
    ]

    def row(label: str, r: dict[str, Any]) -> list[Any]:
        return [
            label,
            r["answered"],
            _num(r["csat"]),
            r["csat_count"],
            _num(r["nps"]),
            r["nps_count"],
            r["promoters"],
            r["detractors"],
        ]

    rows = [row(_month(r["month"]), r) for r in report["months"]]
    rows.append(row(_("Total"), report["total"]))
    return [Sheet(_("Satisfaction"), header, rows)]


@login_required
def satisfaction_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "satisfaction", cr.satisfaction_report, _satisfaction_sheets)


# --- SLA --------------------------------------------------------------------------------------


@login_required
def sla_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "sla", cr.sla_report, cr.sla_chart)


def _sla_sheets(report: dict[str, Any]) -> list[Sheet]:
    measures = report["measures"]
    header = [_("Month")]
    for m in measures:
        header += [
            f"{m['label']} · {_('on time')}",
            f"{m['label']} · {_('late')}",
            f"{m['label']} · %",
        ]
    rows = []
    for r in report["months"]:
        line: list[Any] = [_month(r["month"])]
        for cell in r["cells"]:
            line += [cell["on_time"], cell["late"], _num(cell["rate"])]
        rows.append(line)
    total: list[Any] = [_("Total")]
    for m in measures:
        total += [m["on_time"], m["late"], _num(m["rate"])]
    rows.append(total)
    return [
        Sheet(_("SLA compliance"), header, rows),
        Sheet(
            _("Definitions"),
            [_("Measure"), _("Definition")],
            [[m["label"], m["definition"]] for m in measures],
        ),
    ]


@login_required
def sla_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "sla", cr.sla_report, _sla_sheets)


# --- refresh now ------------------------------------------------------------------------------


@login_required
@require_POST
def refresh_now(request: HttpRequest) -> HttpResponse:
    """Ask for a refresh of the customer reports' figures (runs in the background)."""
    require(request, REFRESH_PERM)
    reports_refresh_task.enqueue()
    messages.success(request, _("The report figures are being refreshed: reload in a minute."))
    target = request.POST.get("next", "")
    if not target.startswith("/reports/"):
        target = reverse("reports:index")
    return redirect(target)
