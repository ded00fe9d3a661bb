"""The workload and throughput report page and its Excel export."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from reports import workload as workload_module
from reports.export import Sheet, report_xlsx_response
from reports.filters import report_filters
from reports.funnel_views import freshness_text
from reports.registry import EXPORT_PERM, VIEW_PERM, entry
from reports.workload import COLUMNS, FIELDS, Row, Workload, segment_alone, workload_report
from ruwang.lib.views import require


def _cells(row: Row) -> list[int]:
    return [*row.counts, row.backlog_total]


def _chart(workload: Workload) -> dict[str, Any]:
    labels = {key: str(label) for key, label, _text in COLUMNS}
    return {
        "weeks": [week.monday.isoformat() for week in workload.weeks],
        "series": [
            {"key": key, "name": labels[key], "values": [week.counts[i] for week in workload.weeks]}
            for i, key in enumerate(FIELDS)
        ],
    }


@login_required
def workload_page(request: HttpRequest) -> HttpResponse:
    user = require(request, VIEW_PERM)
    form, filters = report_filters(request, user)
    workload = workload_report(user, filters)
    query = filters.query()
    context = {
        "report": entry("workload"),
        "form": form,
        "filters": filters,
        "workload": workload,
        "columns": COLUMNS,
        "rows": [(row, _cells(row)) for row in workload.rows],
        "chart": _chart(workload),
        "freshness": freshness_text(
            workload_module.KEY, workload.precomputed, segment=segment_alone(filters)
        ),
        "export_url": f"{reverse('reports:workload_export')}{'?' + query if query else ''}",
    }
    return render(request, "reports/workload/page.html", context)


@login_required
def workload_export(request: HttpRequest) -> FileResponse:
    user = require(request, VIEW_PERM)
    require(request, EXPORT_PERM)
    _form, filters = report_filters(request, user)
    workload = workload_report(user, filters)
    labels = [str(label) for _key, label, _text in COLUMNS]
    sheets = [
        Sheet(
            _("Workload"),
            [
                _("Name"),
                _("Kind"),
                *labels,
                _("Open tasks"),
                _("Open tickets"),
                _("Open inquiries"),
            ],
            [
                [row.subject.label, row.subject.kind_label, *_cells(row), *row.backlog]
                for row in workload.rows
            ],
        ),
        Sheet(
            _("By week"),
            [_("Week of"), *labels[: len(FIELDS)]],
            [[week.monday.isoformat(), *week.counts] for week in workload.weeks],
        ),
        Sheet(
            _("Definitions"),
            [_("Figure"), _("Definition")],
            [[str(label), str(text)] for _key, label, text in COLUMNS],
        ),
    ]
    return report_xlsx_response(
        user=user,
        key="workload",
        title=str(entry("workload").title),
        filters=filters,
        sheets=sheets,
        freshness=freshness_text(
            workload_module.KEY, workload.precomputed, segment=segment_alone(filters)
        ),
    )
