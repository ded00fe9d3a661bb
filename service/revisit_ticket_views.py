"""The revisit form of a revisit ticket (templates/service/tickets/_revisit.html): method,
findings and issues raised; posting it completes the revisit and resolves the ticket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from ruwang.lib.views import require
from service import automation, services, ticket_selectors
from service.models import Ticket, TicketKind


class RevisitRecordForm(forms.Form):
    method = forms.ChoiceField(
        label=gettext_lazy("Revisit method"),
        choices=[("phone", gettext_lazy("Phone")), ("visit", gettext_lazy("Visit"))],
        widget=forms.RadioSelect,
    )
    findings = forms.CharField(
        label=gettext_lazy("Revisit findings"),
        max_length=automation.FINDINGS_MAX,
        widget=forms.Textarea,
    )
    issues = forms.CharField(
        label=gettext_lazy("Issues raised"), required=False, max_length=4000, widget=forms.Textarea
    )
    issue_kind = forms.ChoiceField(
        label=gettext_lazy("Open the issues as"),
        choices=[(k.value, k.label) for k in automation.ISSUE_KINDS],
        initial=TicketKind.OTHER,
        required=False,
    )


def _ticket_or_404(user: User, pk: int) -> Ticket:
    try:
        return ticket_selectors.ticket_get(user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None


def _errors(form: forms.Form, errors: Mapping[str, Iterable[Any]]) -> str:
    return " ".join(
        f"{form.fields[name].label}: {message}" if name in form.fields else str(message)
        for name, messages_ in errors.items()
        for message in messages_
    )


@login_required
@require_POST
def revisit_ticket_record(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, services.CLOSE_PERM)
    ticket = _ticket_or_404(user, pk)
    back = redirect("service:ticket", ticket.pk)
    form = RevisitRecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form, form.errors))
        return back
    data = form.cleaned_data
    try:
        recorded = automation.revisit_record(
            actor=user,
            ticket=ticket,
            method=data["method"],
            findings=data["findings"],
            issues=data["issues"],
            issue_kind=data["issue_kind"] or TicketKind.OTHER,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        messages.error(request, _errors(form, errors))
        return back
    text = _("Revisit of %(customer)s recorded; the ticket is resolved.") % {
        "customer": ticket.customer.name
    }
    if recorded.follow_ups:
        text += " " + _("Tickets opened for the issues raised: %(numbers)s.") % {
            "numbers": "、".join(t.number for t in recorded.follow_ups)
        }
    messages.success(request, text)
    if recorded.survey_problem:
        messages.warning(
            request,
            _("No satisfaction survey was sent: %(problem)s")
            % {"problem": recorded.survey_problem},
        )
    return back
