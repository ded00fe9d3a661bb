"""Survey pages: the public page a customer answers on (no sign-in, phone first), the staff list
of surveys, and sending a survey about a resolved ticket by hand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ruwang.lib.views import apply_errors, require
from service import surveys, ticket_selectors
from service.models import SurveyTrigger, Ticket

PAGE_SIZE = 50

CSAT_LABELS = {
    1: gettext_lazy("Very dissatisfied"),
    2: gettext_lazy("Dissatisfied"),
    3: gettext_lazy("Neutral"),
    4: gettext_lazy("Satisfied"),
    5: gettext_lazy("Very satisfied"),
}


class SurveyAnswerForm(forms.Form):
    csat = forms.TypedChoiceField(
        label=gettext_lazy("How satisfied are you with our service?"),
        choices=[(n, CSAT_LABELS[n]) for n in surveys.CSAT_CHOICES],
        coerce=int,
        error_messages={
            "required": gettext_lazy("Choose how satisfied you are (1 to 5 stars)."),
            "invalid_choice": gettext_lazy("Satisfaction is a score from 1 to 5."),
        },
    )
    nps = forms.TypedChoiceField(
        label=gettext_lazy("How likely are you to recommend us to a friend or colleague?"),
        choices=[(n, str(n)) for n in surveys.NPS_CHOICES],
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={
            "invalid_choice": gettext_lazy("Likelihood to recommend is a score from 0 to 10.")
        },
    )
    comment = forms.CharField(
        label=gettext_lazy("Anything you would like to tell us?"),
        required=False,
        max_length=surveys.COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _about(survey: Any) -> str:
    """What the survey asks about, as the customer knows it."""
    if survey.trigger == SurveyTrigger.TICKET and survey.ticket is not None:
        return _("Service request %(number)s: %(subject)s") % {
            "number": survey.ticket.number,
            "subject": survey.ticket.subject,
        }
    if survey.trigger == SurveyTrigger.REVISIT:
        return _("Our recent after-sales revisit")
    return _("Connecting your building to the monitoring centre")


def _closed(request: HttpRequest, *, status: int, title: str, text: str) -> HttpResponse:
    return render(
        request,
        "service/surveys/closed.html",
        {"title": title, "text": text},
        status=status,
    )


@never_cache
def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's page behind the e-mailed link: no sign-in, one answer, then thanks."""
    survey = surveys.survey_by_token(token)
    if survey is None:
        return _closed(
            request,
            status=404,
            title=_("Survey not found"),
            text=_("This survey link is not valid. Please check that the whole link was copied."),
        )
    if survey.answered_at is not None:
        return render(
            request,
            "service/surveys/thanks.html",
            {"survey": survey, "reused": request.method == "POST"},
            status=409 if request.method == "POST" else 200,
        )
    if surveys.survey_is_expired(survey):
        return _closed(
            request,
            status=410,
            title=_("This survey has expired"),
            text=_(
                "The link was valid until %(expires)s. Thank you all the same; if you would "
                "like to tell us something, please contact your account manager."
            )
            % {"expires": f"{timezone.localtime(survey.expires_at):%Y-%m-%d %H:%M}"},
        )
    form = SurveyAnswerForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            surveys.survey_answer(
                survey=survey,
                csat=form.cleaned_data["csat"],
                nps=form.cleaned_data["nps"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            if exc.code in ("answered", "expired"):  # answered in another tab a moment ago
                return redirect("service:survey_answer", token=token)
            apply_errors(form, exc)
        else:
            return redirect("service:survey_answer", token=token)
    context = {
        "survey": survey,
        "about": _about(survey),
        "form": form,
        "csat_choices": [(n, CSAT_LABELS[n]) for n in reversed(surveys.CSAT_CHOICES)],
        "nps_choices": surveys.NPS_CHOICES,
        "chosen_csat": str(form["csat"].value() or ""),
        "chosen_nps": str(form["nps"].value() if form["nps"].value() is not None else ""),
    }
    return render(
        request, "service/surveys/answer.html", context, status=400 if form.errors else 200
    )


SHOW_CHOICES = [
    (surveys.SHOW_ANSWERED, gettext_lazy("Answered")),
    (surveys.SHOW_LOW, gettext_lazy("Low scores")),
    (surveys.SHOW_WAITING, gettext_lazy("Waiting for an answer")),
    (surveys.SHOW_EXPIRED, gettext_lazy("Expired")),
    (surveys.SHOW_ALL, gettext_lazy("All")),
]


@login_required
def survey_list(request: HttpRequest) -> HttpResponse:
    """Every survey of the customers the user sees, with the roll-up (CSAT, NPS, response)."""
    user = require(request, surveys.VIEW_PERM)
    show = request.GET.get("show", surveys.SHOW_ANSWERED)
    if show not in surveys.SHOW_KEYS:
        show = surveys.SHOW_ANSWERED
    raw_page = request.GET.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    offset = (page - 1) * PAGE_SIZE
    found = list(surveys.survey_list(user, show=show)[offset : offset + PAGE_SIZE + 1])
    context = {
        "show": show,
        "tabs": [(key, label, f"?{urlencode({'show': key})}") for key, label in SHOW_CHOICES],
        "stats": surveys.survey_stats(surveys.surveys_visible_to(user)),
        "rows": surveys.list_rows(found[:PAGE_SIZE]),
        "page": page,
        "previous_url": f"?{urlencode({'show': show, 'page': page - 1})}" if page > 1 else "",
        "next_url": (
            f"?{urlencode({'show': show, 'page': page + 1})}" if len(found) > PAGE_SIZE else ""
        ),
        "can_view_tickets": user.has_perm("service.view_ticket"),
    }
    return render(request, "service/surveys/list.html", context)


@login_required
@require_POST
def survey_send_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    """Send (again) the survey about a resolved ticket, e.g. after the first one expired."""
    user = require(request, "service.work_ticket")
    try:
        ticket = ticket_selectors.ticket_get(user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    state = surveys.ticket_surveys(user, ticket)
    if state is None or not state.can_send:
        messages.error(
            request,
            _("A survey can be sent once the ticket is resolved, and not while one is open."),
        )
        return redirect("service:ticket", pk=ticket.pk)
    try:
        survey = surveys.survey_send(
            actor=user, customer=ticket.customer, trigger=SurveyTrigger.TICKET, ticket=ticket
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if survey.email:
            messages.success(request, _("Survey sent to %(email)s.") % {"email": survey.email})
        else:
            messages.warning(
                request,
                _(
                    "The customer has no e-mail address: copy the survey link and send it by "
                    "SMS or WeCom."
                ),
            )
    return redirect(reverse("service:ticket", args=[ticket.pk]) + "#rw-surveys")
