"""The reports page: every report the viewer may open."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reports.models import ReportRefresh
from reports.registry import VIEW_PERM, reports_for
from ruwang.lib.views import require


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    user = require(request, VIEW_PERM)
    refreshed = dict(ReportRefresh.objects.values_list("key", "finished_at"))
    entries = [(entry, refreshed.get(entry.key)) for entry in reports_for(user)]
    return render(request, "reports/index.html", {"entries": entries})


def refresh_state(key: str) -> ReportRefresh | None:
    """How fresh one report's precomputed figures are (None: never computed)."""
    return ReportRefresh.objects.filter(key=key).first()
