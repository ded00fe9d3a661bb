"""The holiday greetings page (节日问候): coming holidays, and a greeting to a saved segment
scheduled as a notice."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from care import greetings
from care.greeting_forms import GreetingForm
from customers.segments import segments_visible_to
from inquiries import notices
from ruwang.lib.views import apply_errors, require


def _preview(user: User, raw: str) -> tuple[notices.NoticePreview | None, list[str]]:
    raw = (raw or "").strip()
    if not raw:
        return None, []
    if not raw.isdigit() or not segments_visible_to(user).filter(pk=int(raw)).exists():
        return None, [_("The saved segment no longer exists or is not yours to use.")]
    try:
        return notices.notice_preview(user=user, audience={"segment": int(raw)}), []
    except ValidationError as exc:
        return None, exc.messages


def _initial(holiday: greetings.Holiday | None) -> dict[str, Any]:
    initial: dict[str, Any] = {"channels": ["sms"]}
    if holiday is not None:
        initial.update(
            holiday=holiday.code,
            title=str(holiday.spec.title),
            body=str(holiday.spec.body),
        )
        if holiday.default_send_at() > timezone.now():
            initial["scheduled_for"] = timezone.localtime(holiday.default_send_at())
    return initial


@login_required
def greetings_page(request: HttpRequest) -> HttpResponse:
    user = require(request, greetings.SEND_PERM)
    holidays = greetings.upcoming_holidays()
    status = 200
    if request.method == "POST":
        form = GreetingForm(request.POST, user=user, holidays=holidays)
        if form.is_valid():
            data = form.cleaned_data
            holiday = greetings.holiday_by_code(data["holiday"])
            try:
                notice = greetings.greeting_schedule(
                    actor=user,
                    holiday=holiday,
                    segment=data["segment"],
                    channels=data["channels"],
                    title=data["title"],
                    body=data["body"],
                    at=data["scheduled_for"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Greeting scheduled for %(at)s.")
                    % {"at": timezone.localtime(notice.scheduled_for).strftime("%Y-%m-%d %H:%M")},
                )
                return redirect("inquiries:notice", pk=notice.pk)
        status = 400
        segment_raw = request.POST.get("segment", "")
    else:
        chosen = greetings.holiday_by_code(request.GET.get("holiday", ""))
        form = GreetingForm(user=user, holidays=holidays, initial=_initial(chosen))
        segment_raw = request.GET.get("segment", "")
    preview, preview_errors = _preview(user, segment_raw)
    context = {
        "form": form,
        "holidays": holidays,
        "preview": preview,
        "preview_errors": preview_errors,
        "send_hour": greetings.SEND_HOUR,
    }
    return render(request, "care/greetings/page.html", context, status=status)


@login_required
def greeting_audience(request: HttpRequest) -> HttpResponse:
    """The live recipient count for the chosen segment (htmx), as the notice preview counts."""
    user = require(request, greetings.SEND_PERM)
    preview, preview_errors = _preview(user, request.GET.get("segment", ""))
    return render(
        request,
        "inquiries/notices/_audience_count.html",
        {"preview": preview, "preview_errors": preview_errors},
    )
