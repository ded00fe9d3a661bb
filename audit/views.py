from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import User
from audit import selectors
from audit.forms import AuditFilterForm
from audit.models import AuditEntry
from audit.services import audit_record


def _filters(form: AuditFilterForm) -> selectors.AuditFilters | None:
    """The filters asked for; None when the form has errors (shown beside the fields)."""
    if not form.is_bound:
        return selectors.AuditFilters()
    if not form.is_valid():
        return None
    return selectors.AuditFilters(**form.cleaned_data)


def _cursor(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() else None


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = AuditFilterForm(request.GET or None)
    filters = _filters(form)
    rows: list[AuditEntry] = []
    next_cursor: int | None = None
    qs = selectors.audit_entries(user, filters or selectors.AuditFilters())
    if filters is not None:
        rows, next_cursor = selectors.audit_page(qs, _cursor(request))
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "rows": rows,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "can_export": user.has_perm("audit.export_auditentry"),
    }
    template = "audit/_rows.html" if request.htmx else "audit/list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not user.has_perm("audit.export_auditentry"):
        raise PermissionDenied("audit.export_auditentry")
    form = AuditFilterForm(request.GET or None)
    filters = _filters(form)
    if filters is None:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    qs = selectors.audit_entries(user, filters)
    audit_record(
        actor=user,
        action="audit.export",
        object_type="audit.auditentry",
        changes={"filters": [None, {k: str(v) for k, v in filters.__dict__.items() if v}]},
    )
    writer = csv.writer(_Echo())
    header = [
        "id",
        "time",
        "user",
        "ip",
        "action",
        "object_type",
        "object_id",
        "object",
        "outcome",
        "changes",
        "hash",
    ]

    def rows() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(header)  # BOM: Excel opens UTF-8 Chinese correctly
        for e in qs.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    e.pk,
                    timezone.localtime(e.occurred_at).isoformat(),
                    e.actor_username,
                    e.ip,
                    e.action,
                    e.object_type,
                    e.object_id,
                    e.object_repr,
                    e.outcome,
                    e.changes,
                    e.hash,
                ]
            )

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
