"""Staff performance page (绩效评估) and its Excel export."""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import IO, Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from accounts.models import User
from audit.services import audit_record
from insights.performance import (
    DEFINITIONS,
    Figures,
    Period,
    Scope,
    Subject,
    performance_scope,
    scope_figures,
)
from ruwang.lib.excel import append_row
from ruwang.lib.forms import DateRangeForm
from ruwang.lib.views import acting_user

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A longer period is a typing mistake too, and would read years of rows for nothing.
MAX_DAYS = 366 * 3


class PeriodForm(DateRangeForm):
    max_days = MAX_DAYS

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def period(self) -> Period:
        """The chosen period; this month so far while the form is unbound or invalid. A missing
        first day is the first of the last day's month; a missing last day is today (or the
        first day, for a first day in the future)."""
        if not (self.is_bound and self.is_valid()):
            return Period.this_month(self.today)
        last: dt.date | None = self.cleaned_data.get("date_to")
        first: dt.date | None = self.cleaned_data.get("date_from")
        if last is None:
            last = max(self.today, first) if first is not None else self.today
            if first is not None and (last - first).days >= MAX_DAYS:
                last = first + dt.timedelta(days=MAX_DAYS - 1)
        if first is None:
            first = last.replace(day=1)
        return Period(first_day=first, last_day=last)


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return _("%(n)s min") % {"n": round(value * 60)}
    return _("%(n)s h") % {"n": f"{value:.1f}".removesuffix(".0")}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".removesuffix(".0") + "%"


def _shown(figures: Figures) -> dict[str, str]:
    """Each figure as the page shows it, by its key in DEFINITIONS."""
    return {
        "tasks_completed": str(figures.tasks_completed),
        "task_on_time_rate": _percent(figures.task_on_time_rate),
        "avg_handling_hours": _hours(figures.avg_handling_hours),
        "tickets_resolved": str(figures.tickets_resolved),
        "avg_first_response_hours": _hours(figures.avg_first_response_hours),
        "csat": "—" if figures.csat is None else f"{figures.csat:.2f}",
        "revisits_done": str(figures.revisits_done),
        "replies_sent": str(figures.replies_sent),
        "reply_on_time_rate": _percent(figures.reply_on_time_rate),
    }


def _details(figures: Figures) -> dict[str, str]:
    """The counts a rate or an average is taken over, shown under the figure."""
    return {
        "task_on_time_rate": _("%(part)s of %(whole)s with a due time")
        % {"part": figures.tasks_on_time, "whole": figures.tasks_with_due},
        "avg_handling_hours": _("over %(n)s tasks") % {"n": figures.tasks_completed},
        "avg_first_response_hours": _("over %(n)s tickets") % {"n": figures.tickets_responded},
        "csat": _("%(n)s answered surveys") % {"n": figures.csat_count},
        "reply_on_time_rate": _("%(part)s of %(whole)s first replies")
        % {"part": figures.first_replies_on_time, "whole": figures.first_replies},
    }


def _scope_for(request: HttpRequest) -> tuple[User, PeriodForm, Period, Scope]:
    user = acting_user(request)
    form = PeriodForm(request.GET or None, today=timezone.localdate())
    period = form.period()
    scope = scope_figures(performance_scope(user), period)
    return user, form, period, scope


@login_required
def performance_page(request: HttpRequest) -> HttpResponse:
    """Everyone sees their own figures; managers also see their people's, teams' and
    departments'. Asking for someone else's figures is a 404, as if they did not exist."""
    _user, form, period, scope = _scope_for(request)
    key = request.GET.get("subject") or scope.viewer_key
    subject = scope.get(key)
    if subject is None:
        raise Http404(key)
    shown = _shown(subject.figures)
    details = _details(subject.figures)
    cards = [
        {
            "key": name,
            "label": label,
            "definition": definition,
            "value": shown[name],
            "detail": details.get(name, ""),
        }
        for name, label, definition in DEFINITIONS
    ]
    period_query = {
        "date_from": period.first_day.isoformat(),
        "date_to": period.last_day.isoformat(),
    }
    page_url = reverse("insights:performance")
    rows = [
        {
            "subject": s,
            "values": [_shown(s.figures)[name] for name, _label, _d in DEFINITIONS],
            "url": f"{page_url}?{urlencode({**period_query, 'subject': s.key})}",
        }
        for s in scope.subjects()
    ]
    context = {
        "form": form,
        "period": period,
        "scope": scope,
        "subject": subject,
        "cards": cards,
        "columns": [label for _name, label, _d in DEFINITIONS],
        "rows": rows,
        "export_url": f"{reverse('insights:performance_export')}?{urlencode(period_query)}",
    }
    return render(request, "insights/performance/page.html", context)


def performance_xlsx(scope: Scope, period: Period, exported_by: User) -> IO[bytes]:
    """The figures of every subject in `scope` as .xlsx (a temporary file at its start), with a
    second sheet holding the period and the definitions."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Staff performance"))
    append_row(
        sheet,
        [
            _("Kind"),
            _("Name"),
            _("Tasks completed"),
            _("Tasks with a due time"),
            _("Tasks on time"),
            _("Tasks on time (%)"),
            _("Average handling time (h)"),
            _("Tickets resolved"),
            _("Tickets first answered"),
            _("First-response time (h)"),
            _("Answered surveys"),
            _("CSAT"),
            _("Revisits done"),
            _("Inquiry replies sent"),
            _("First replies"),
            _("First replies within the deadline"),
            _("Replies within the deadline (%)"),
        ],
    )

    def rounded(value: float | None, digits: int = 2) -> float | None:
        return None if value is None else round(value, digits)

    subjects: list[Subject] = scope.subjects()
    for subject in subjects:
        f = subject.figures
        append_row(
            sheet,
            [
                subject.kind_label,
                subject.label,
                f.tasks_completed,
                f.tasks_with_due,
                f.tasks_on_time,
                rounded(f.task_on_time_rate, 1),
                rounded(f.avg_handling_hours),
                f.tickets_resolved,
                f.tickets_responded,
                rounded(f.avg_first_response_hours),
                f.csat_count,
                rounded(f.csat),
                f.revisits_done,
                f.replies_sent,
                f.first_replies,
                f.first_replies_on_time,
                rounded(f.reply_on_time_rate, 1),
            ],
        )
    about = workbook.create_sheet(_("Definitions"))
    append_row(about, [_("From"), period.first_day.isoformat()])
    append_row(about, [_("To"), period.last_day.isoformat()])
    append_row(about, [_("Exported by"), str(exported_by)])
    exported_at = timezone.localtime().replace(tzinfo=None)
    append_row(about, [_("Exported at"), exported_at.isoformat(" ", "minutes")])
    for _name, label, definition in DEFINITIONS:
        append_row(about, [str(label), str(definition)])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to FileResponse, which closes it
    workbook.save(handle)
    handle.seek(0)
    return handle


@login_required
def performance_export(request: HttpRequest) -> HttpResponse | FileResponse:
    """What the page's table shows (the viewer and everyone they may see) as .xlsx; audited,
    since it is personal data about staff."""
    user, form, period, scope = _scope_for(request)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(
            f"{form[name].label}: {' '.join(str(m) for m in e)}" for name, e in form.errors.items()
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    handle = performance_xlsx(scope, period, user)
    audit_record(
        actor=user,
        action="insights.performance_export",
        object_type="accounts.user",
        changes={
            "period": [None, f"{period.first_day.isoformat()}–{period.last_day.isoformat()}"],
            "subjects": [None, [s.key for s in scope.subjects()]],
        },
    )
    name = f"performance-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.xlsx"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=XLSX_TYPE)
