"""The service dashboard page (服务看板): filters by period and region, figures from
service.dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Region, RegionLevel
from customers.selectors import region_filter_options
from ruwang.lib.views import require
from service import dashboard as stats
from service.models import HOUR_BUCKET_EDGES, SlaState

PERIOD_RANGE = "range"
DEFAULT_PERIOD = "30"
PERIOD_CHOICES = [
    ("7", gettext_lazy("Last 7 days")),
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
    (PERIOD_RANGE, gettext_lazy("Date range")),
]
# A longer range would still be correct, only slower (one summed row per day and district).
MAX_RANGE_DAYS = 3 * 366


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(label=gettext_lazy("Period"), required=False, choices=PERIOD_CHOICES)
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    # The page renders the options itself (cities and districts with customers, cached).
    region = forms.ModelChoiceField(
        label=gettext_lazy("Region"), required=False, queryset=Region.objects.all()
    )

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("period") or DEFAULT_PERIOD) != PERIOD_RANGE:
            return data
        first, last = data.get("date_from"), data.get("date_to")
        if first is None and "date_from" not in self.errors:
            self.add_error("date_from", _("Enter the first day of the range."))
        if last is None and "date_to" not in self.errors:
            self.add_error("date_to", _("Enter the last day of the range."))
        if first is None or last is None:
            return data
        if last < first:
            self.add_error("date_to", _("The last day cannot be before the first day."))
        elif first > self.today:
            self.add_error("date_from", _("The range cannot start in the future."))
        elif (last - first).days >= MAX_RANGE_DAYS:
            self.add_error(
                "date_to", _("Choose at most %(days)s days.") % {"days": f"{MAX_RANGE_DAYS:,}"}
            )
        return data

    def filters(self) -> stats.Filters:
        """The chosen period and region (the last 30 days everywhere where invalid)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        period = data.get("period") or DEFAULT_PERIOD
        if period == PERIOD_RANGE:
            first, last = data["date_from"], min(data["date_to"], self.today)
        else:
            first, last = self.today - dt.timedelta(days=int(period) - 1), self.today
        return stats.Filters(first_day=first, last_day=last, region=data.get("region"))


def _region_options() -> SafeString:
    return format_html_join(
        "",
        '<option value="{}">{}{}</option>',
        (
            (pk, "\u3000" if level == RegionLevel.DISTRICT else "", label)
            for pk, label, level in region_filter_options()
        ),
    )


def _hours(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _estimate_cell(estimate: stats.Estimate | None) -> dict[str, str] | None:
    """Display of a median or p90: the value and the bucket holding the true value."""
    if estimate is None:
        return None
    if estimate.high is None:
        return {"value": f"≥ {_hours(estimate.low)}", "bucket": f"≥ {_hours(estimate.low)}"}
    return {
        "value": _hours(estimate.hours),
        "bucket": f"{_hours(estimate.low)}–{_hours(estimate.high)}",
    }


def _time_rows(board: stats.Dashboard) -> list[dict[str, Any]]:
    rows = []
    for times in [board.times, *board.times_by_kind]:
        rows.append(
            {
                "kind": times.kind,
                "label": times.label or _("All tickets"),
                "created": times.created,
                "responded": times.responded,
                "resolved": times.resolved,
                "cells": [
                    _estimate_cell(times.response_median),
                    _estimate_cell(times.response_p90),
                    _estimate_cell(times.resolution_median),
                    _estimate_cell(times.resolution_p90),
                ],
            }
        )
    return rows


def _chart(board: stats.Dashboard) -> dict[str, Any]:
    """What static/service/dashboard.js draws (json_script)."""
    tickets = reverse("service:tickets")
    return {
        "status": {
            "labels": [label for _value, label, _n in board.open.by_status],
            "values": [n for _value, _label, n in board.open.by_status],
            "links": [
                f"{tickets}?{urlencode({'status': value})}"
                for value, _label, _n in board.open.by_status
            ],
        },
        "team": {
            "labels": [name or _("No team") for _id, name, _n in board.open.by_team],
            "values": [n for _id, _name, n in board.open.by_team],
            "links": [
                f"{tickets}?{urlencode({'team': team_id})}" if team_id else ""
                for team_id, _name, _n in board.open.by_team
            ],
        },
        "weeks": {
            "labels": [f"{w.week:%m-%d}" for w in board.satisfaction.weeks],
            "csat": [
                round(w.csat, 2) if w.csat is not None else None for w in board.satisfaction.weeks
            ],
            "nps": [
                round(w.nps, 1) if w.nps is not None else None for w in board.satisfaction.weeks
            ],
            "answered": [w.answered for w in board.satisfaction.weeks],
        },
        "names": {
            "tickets": _("Open tickets"),
            "csat": _("CSAT (1–5)"),
            "nps": _("NPS"),
            "answered": _("Answers"),
        },
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = require(request, stats.PERM)
    now = timezone.now()
    today = timezone.localdate(now)
    form = DashboardFilterForm(request.GET or None, today=today)
    filters = form.filters()
    state = stats.refresh_state()
    if stats.stats_request_refresh(state=state, now=now):
        state = stats.refresh_state()  # the refresh may have run already (immediate tasks)
    board = stats.dashboard(user, filters, today=today, state=state)
    region = filters.region
    tickets = reverse("service:tickets")
    context = {
        "form": form,
        "board": board,
        "period": (form.cleaned_data.get("period") if form.is_bound and form.is_valid() else "")
        or DEFAULT_PERIOD,
        "region_options": _region_options(),
        "region_selected": str(region.pk) if region else "",
        "time_rows": _time_rows(board),
        "chart": _chart(board),
        "bucket_edges": ", ".join(_hours(e) for e in HOUR_BUCKET_EDGES),
        "stale_after": int(stats.REFRESH_EVERY.total_seconds() // 60),
        "links": {
            "at_risk": f"{tickets}?{urlencode({'sla': SlaState.AT_RISK})}",
            "breached": f"{tickets}?{urlencode({'sla': SlaState.BREACHED})}",
            "open": tickets,
            "revisits_overdue": f"{reverse('service:revisits')}?show=overdue",
            "revisits": reverse("service:revisits"),
        },
        "can_view_revisits": user.has_perm("service.view_scheduledrevisit"),
    }
    return render(request, "service/dashboard.html", context)
