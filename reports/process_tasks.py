"""Background refresh of the onboarding funnel's and the workload report's figures: the
scheduler enqueues `process_reports_refresh` every ten minutes; each refresh is incremental,
and the first one after midnight rebuilds everything (see reports.funnel, reports.workload)."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from reports.funnel import funnel_refresh
from reports.workload import workload_refresh


@task()
def process_reports_refresh(full: bool = False) -> dict[str, Any]:
    funnel = funnel_refresh(full=full)
    workload = workload_refresh(full=full)
    return {
        "funnel": {"full": funnel.full, "months": funnel.months, "rows": funnel.rows},
        "workload": {"full": workload.full, "days": workload.days, "rows": workload.rows},
    }
