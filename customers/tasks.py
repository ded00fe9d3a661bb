"""Background work of the customers app (run by `ruwang db_worker`)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from audit.services import audit_record
from customers import importing
from customers.models import ImportJob, ImportStatus

logger = logging.getLogger(__name__)


def progress_key(job_id: int) -> str:
    return f"customers:import:{job_id}"


def progress_of(job_id: int) -> dict[str, Any]:
    return cache.get(progress_key(job_id)) or {"phase": "queued", "done": 0, "total": 0}


def _report_progress(job_id: int, phase: str, done: int, total: int) -> None:
    cache.set(progress_key(job_id), {"phase": phase, "done": done, "total": total}, 3600)


@task()
def import_job_run(job_id: int) -> None:
    """Read and check an uploaded sheet; unless it is a dry run, import it all or nothing."""
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    _report_progress(job.pk, "reading", 0, 0)
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        rows = importing.read_rows(job.original_name, data)
        _report_progress(job.pk, "checking", 0, len(rows))
        report, prepared = importing.validate(rows, actor=job.created_by)
        job.total_rows, job.valid_rows = report.total, report.valid
        job.problems = [
            {
                "row": e.row,
                "column": e.column,
                "value": e.value,
                "message": str(e.message),
                "kind": kind,
            }
            for kind, items in (("error", report.errors), ("duplicate", report.duplicates))
            for e in items
        ]
        job.problems.sort(key=lambda p: (p["row"], p["column"]))
        if not job.dry_run and report.ok:
            _report_progress(job.pk, "importing", 0, len(prepared))
            job.created_count = importing.commit(
                prepared,
                actor=job.created_by,
                progress=lambda done: _report_progress(job.pk, "importing", done, len(prepared)),
            )
    except importing.ImportFileError as exc:
        job.file_error = str(exc.message)
    except Exception:
        logger.exception("import %s failed", job.pk)
        job.status = ImportStatus.FAILED
        job.file_error = _("The import stopped because of an internal error; nothing was imported.")
        job.finished_at = timezone.now()
        job.save()
        raise
    audit_record(
        actor=job.created_by,
        action="customer.import_check" if job.dry_run else "customer.import",
        obj=job,
        changes={
            "rows": [None, job.total_rows],
            "problems": [None, len(job.problems)],
            "created": [None, job.created_count],
        },
    )
    job.status = ImportStatus.DONE
    job.finished_at = timezone.now()
    job.save()
    _report_progress(job.pk, "done", job.total_rows, job.total_rows)
