"""The onboarding funnel report page and its Excel export."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Segment
from reports import funnel as funnel_module
from reports import segment_figures as seg
from reports.export import Sheet, report_xlsx_response
from reports.filters import ReportFilters, report_filters
from reports.funnel import DEFINITIONS, Funnel, StepFigures, definitions, funnel_report
from reports.models import ReportRefresh
from reports.registry import EXPORT_PERM, VIEW_PERM, entry
from ruwang.lib.views import require
from service.dashboard import Estimate
from workflow.models import ProcessDefinition


def hours_text(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return _("%(n)s min") % {"n": round(value * 60)}
    return _("%(n)s h") % {"n": f"{value:.1f}".removesuffix(".0")}


def estimate_text(estimate: Estimate | None) -> str:
    """The estimate and the bucket the true value lies in."""
    if estimate is None:
        return "—"
    if estimate.high is None:
        return _("at least %(low)s") % {"low": hours_text(estimate.low)}
    return _("%(value)s (%(low)s–%(high)s)") % {
        "value": hours_text(estimate.hours),
        "low": hours_text(estimate.low),
        "high": hours_text(estimate.high),
    }


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".removesuffix(".0") + "%"


def freshness_text(
    key: str, precomputed: bool, live_days: bool = False, segment: Segment | None = None
) -> str:
    """How fresh the figures are, as the page and the export say it (`segment`: the one
    filtering the report; its own figures' freshness, `key` naming their group too)."""
    if segment is not None:
        ready = seg.ready_figures(segment, key)
        if ready is None:
            return seg.not_ready_text()
        if not precomputed:
            return _("Counted now from the rows themselves.")
        text = seg.ready_text(ready)
        if live_days:
            text += " " + _("The days of a partly chosen month are counted now.")
        return text
    if not precomputed:
        return _("Counted now from the rows themselves.")
    state = ReportRefresh.objects.filter(key=key).first()
    if state is None or state.finished_at is None:
        return _(
            "The precomputed figures have not been computed yet: they are refreshed every ten "
            "minutes in the background."
        )
    moment = date_format(timezone.localtime(state.finished_at), "Y-m-d H:i")
    text = _("Figures as of %(moment)s (refreshed every ten minutes).") % {"moment": moment}
    if live_days:
        text += " " + _("The days of a partly chosen month are counted now.")
    return text


def _chosen_definition(request: HttpRequest) -> tuple[ProcessDefinition | None, list[Any]]:
    choices = definitions()
    key = request.GET.get("process", "")
    chosen = next((d for d in choices if d.key == key), None)
    if chosen is None and choices:
        chosen = choices[0]
    return chosen, choices


def _chart(funnel: Funnel) -> dict[str, Any]:
    def hours(estimate: Estimate | None) -> float | None:
        return None if estimate is None else round(estimate.hours, 1)

    return {
        "steps": [f.step.name for f in funnel.steps],
        "reached": [f.reached for f in funnel.steps],
        "median": [hours(f.median) for f in funnel.steps],
        "p90": [hours(f.p90) for f in funnel.steps],
        "bottleneck": next((i for i, f in enumerate(funnel.steps) if f.bottleneck), -1),
        "started": funnel.started,
        "completed": funnel.completed,
        "names": {
            "started": _("Cases started"),
            "completed": _("Completed the whole process"),
            "reached": _("Reached"),
            "median": _("Median (h)"),
            "p90": _("p90 (h)"),
            "hours": _("Hours"),
        },
    }


def _query(filters: ReportFilters, definition: ProcessDefinition | None) -> str:
    params = filters.params()
    if definition is not None:
        params["process"] = definition.key
    return urlencode(params)


@login_required
def funnel_page(request: HttpRequest) -> HttpResponse:
    user = require(request, VIEW_PERM)
    form, filters = report_filters(request, user)
    definition, choices = _chosen_definition(request)
    funnel = funnel_report(user, filters, definition) if definition is not None else None
    context = {
        "report": entry("funnel"),
        "form": form,
        "filters": filters,
        "definition": definition,
        "choices": choices,
        "funnel": funnel,
        "definitions": DEFINITIONS,
        "freshness": freshness_text(
            funnel_module.KEY,
            bool(funnel and funnel.precomputed),
            bool(funnel and funnel.live_days),
            filters.segment,
        ),
        "export_url": f"{reverse('reports:funnel_export')}?{_query(filters, definition)}"
        if definition is not None
        else "",
        "chart": _chart(funnel) if funnel is not None else None,
        "rows": [_row(f) for f in funnel.steps] if funnel is not None else [],
        "bottleneck": _row(funnel.bottleneck) if funnel and funnel.bottleneck else None,
    }
    return render(request, "reports/funnel/page.html", context)


def _row(f: StepFigures) -> dict[str, Any]:
    return {
        "figures": f,
        "share": percent_text(f.share),
        "median": estimate_text(f.median),
        "p90": estimate_text(f.p90),
    }


@login_required
def funnel_export(request: HttpRequest) -> FileResponse:
    user = require(request, VIEW_PERM)
    require(request, EXPORT_PERM)
    _form, filters = report_filters(request, user)
    definition, _choices = _chosen_definition(request)
    title = str(entry("funnel").title)
    summary_rows: list[list[Any]] = []
    step_rows: list[list[Any]] = []
    precomputed = live_days = False
    if definition is not None:
        funnel = funnel_report(user, filters, definition)
        precomputed, live_days = funnel.precomputed, funnel.live_days
        summary_rows = [
            [_("Process"), definition.name],
            [_("Cases started"), funnel.started],
            [_("Completed the whole process"), funnel.completed],
            [_("Cancelled"), funnel.cancelled],
            [_("Still open"), funnel.open],
            [
                _("Bottleneck"),
                funnel.bottleneck.step.name if funnel.bottleneck is not None else "—",
            ],
        ]
        step_rows = [
            [
                index,
                f.step.name,
                f.reached,
                percent_text(f.share),
                f.completed,
                round(f.median.hours, 1) if f.median else None,
                round(f.p90.hours, 1) if f.p90 else None,
                estimate_text(f.median),
                estimate_text(f.p90),
                f.waiting,
                f.stopped,
                _("Bottleneck") if f.bottleneck else "",
            ]
            for index, f in enumerate(funnel.steps, start=1)
        ]
    sheets = [
        Sheet(_("Summary"), [_("Figure"), _("Value")], summary_rows),
        Sheet(
            _("Steps"),
            [
                _("No."),
                _("Step"),
                _("Reached"),
                _("Share of cases"),
                _("Tasks completed"),
                _("Median cycle time (h)"),
                _("p90 cycle time (h)"),
                _("Median (range)"),
                _("p90 (range)"),
                _("Waiting now"),
                _("Stopped here"),
                _("Bottleneck"),
            ],
            step_rows,
        ),
        Sheet(
            _("Definitions"),
            [_("Figure"), _("Definition")],
            [[str(label), str(text)] for label, text in DEFINITIONS],
        ),
    ]
    return report_xlsx_response(
        user=user,
        key="funnel",
        title=title,
        filters=filters,
        sheets=sheets,
        freshness=freshness_text(funnel_module.KEY, precomputed, live_days, filters.segment),
    )
