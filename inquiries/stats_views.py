"""The statistics page of the inquiry desk and the export of the record (网上客户问题及回复记录)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from inquiries import stats
from inquiries.stats_forms import StatsFilterForm
from ruwang.lib.views import require


def _hours_label(hours: float | None) -> str:
    if hours is None:
        return "—"
    if hours < 1:
        return _("%(n)s min") % {"n": round(hours * 60)}
    return _("%(n)s h") % {"n": f"{hours:.1f}".removesuffix(".0")}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".removesuffix(".0") + "%"


def _chart(figures: dict[str, Any]) -> dict[str, Any]:
    """What the page's charts draw (json_script): labels, values and the filter value a click
    on a bar applies."""

    def bars(rows: list[dict[str, Any]], param: str) -> dict[str, Any]:
        return {
            "labels": [r["label"] for r in rows],
            "values": [r["count"] for r in rows],
            "param": param,
            "keys": ["" if r["key"] is None else str(r["key"]) for r in rows],
        }

    reply_time = figures["reply_time"]
    trend = figures["trend"]
    date_format = "%Y-%m" if trend["unit"] == "month" else "%m-%d"
    return {
        "channel": bars(figures["by_channel"], "channel"),
        "topic": bars(figures["by_topic"], "topic"),
        # Inquiries without a team cannot be filtered by team: their bar is not a link.
        "team": bars(figures["by_team"], "team"),
        "buckets": {
            "labels": [b["label"] for b in reply_time["buckets"]] + [_("Not replied")],
            "values": [b["count"] for b in reply_time["buckets"]] + [reply_time["not_replied"]],
        },
        "trend": {
            "labels": [p["start"].strftime(date_format) for p in trend["points"]],
            "dates": [p["start"].isoformat() for p in trend["points"]],
            "values": [p["count"] for p in trend["points"]],
        },
        "names": {"inquiries": _("Inquiries")},
    }


def _query(filters: stats.StatsFilters) -> str:
    """The query string that gives these filters (the export link of the page)."""
    params = {"date_from": filters.first_day.isoformat(), "date_to": filters.last_day.isoformat()}
    if filters.project is not None:
        params["project"] = str(filters.project.pk)
    if filters.team is not None:
        params["team"] = str(filters.team.pk)
    if filters.channel:
        params["channel"] = filters.channel
    if filters.topic:
        params["topic"] = filters.topic
    return urlencode(params)


@login_required
def inquiry_stats_page(request: HttpRequest) -> HttpResponse:
    user = require(request, stats.STATS_PERM)
    form = StatsFilterForm(request.GET or None, today=timezone.localdate())
    filters = form.filters()
    figures = stats.inquiry_stats(user, filters)
    context = {
        "form": form,
        "filters": filters,
        "figures": figures,
        "chart": _chart(figures),
        "median": _hours_label(figures["reply_time"]["median_hours"]),
        "p90": _hours_label(figures["reply_time"]["p90_hours"]),
        "on_time_rate": _percent(figures["deadline"]["rate"]),
        "contentious_share": _percent(figures["contentious"]["share"]),
        "review_median": _hours_label(figures["review"]["median_hours"]),
        "review_p90": _hours_label(figures["review"]["p90_hours"]),
        "returned_share": _percent(figures["review"]["returned_share"]),
        "teams": [{**team, "rate": _percent(team["on_time_rate"])} for team in figures["by_team"]],
        "export_url": (
            f"{reverse('inquiries:export')}?{_query(filters)}"
            if user.has_perm(stats.EXPORT_PERM)
            else ""
        ),
        "bucket_edges": "、".join(str(e) for e in stats.BUCKET_EDGES),
    }
    return render(request, "inquiries/stats/stats.html", context)


@login_required
def inquiry_export(request: HttpRequest) -> HttpResponse | FileResponse:
    """The record of the filtered period as .xlsx; personal data masked unless the user may
    reveal it; every export audited."""
    user = require(request, stats.EXPORT_PERM)
    form = StatsFilterForm(request.GET or None, today=timezone.localdate())
    if form.is_bound and not form.is_valid():
        # The statistics page shows what is wrong with the filters.
        if user.has_perm(stats.STATS_PERM):
            return HttpResponseRedirect(f"{reverse('inquiries:stats')}?{request.GET.urlencode()}")
        errors = "; ".join(
            f"{form[name].label}: {' '.join(str(m) for m in e)}" for name, e in form.errors.items()
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    reveal = user.has_perm("customers.reveal_personal_data")
    handle, count = stats.inquiry_record_xlsx(
        stats.inquiry_record_rows(user, filters),
        reveal=reveal,
        filters=filters,
        exported_by=user,
    )
    audit_record(
        actor=user,
        action="inquiry.export",
        object_type="inquiries.inquiry",
        changes={
            "filters": [None, filters.describe()],
            "rows": [None, count],
            "unmasked": [None, reveal],
        },
    )
    name = f"inquiry-record-{filters.first_day:%Y%m%d}-{filters.last_day:%Y%m%d}.xlsx"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=stats.XLSX_TYPE)
