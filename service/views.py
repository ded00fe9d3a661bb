"""Revisit pages (回访): the list of scheduled revisits, and completing or cancelling one."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from customers import selectors as customer_selectors
from customers.models import Customer
from ruwang.lib.views import require
from service import selectors, services
from service.forms import SHOW_CHOICES, RevisitCancelForm, RevisitCompleteForm, RevisitFilterForm
from service.models import ScheduledRevisit

PAGE_SIZE = 50


def _revisit_or_404(user: User, pk: int) -> ScheduledRevisit:
    try:
        return selectors.revisit_get(user, pk)
    except ScheduledRevisit.DoesNotExist:
        raise Http404 from None


def _chosen_customer(user: User, raw: str) -> Customer | None:
    if not raw.isdigit():
        return None
    try:
        return customer_selectors.customer_get(user, int(raw))
    except Customer.DoesNotExist:
        raise Http404 from None


@login_required
def revisit_list(request: HttpRequest) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    form = RevisitFilterForm(request.GET)
    show, text = selectors.SHOW_PLANNED, ""
    if form.is_valid():
        show = form.cleaned_data["show"] or selectors.SHOW_PLANNED
        text = form.cleaned_data["customer"]
    customer = _chosen_customer(user, request.GET.get("customer_id", ""))
    today = timezone.localdate()
    raw_page = request.GET.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    offset = (page - 1) * PAGE_SIZE
    rows = list(
        selectors.revisit_list(user, show=show, customer=customer, customer_text=text, today=today)[
            offset : offset + PAGE_SIZE + 1
        ]
    )
    query: dict[str, str | int] = {"show": show}
    if text:
        query["customer"] = text
    if customer is not None:
        query["customer_id"] = customer.pk
    counts = selectors.revisit_counts(user, today)
    context = {
        "form": form,
        "show": show,
        "tabs": [
            (key, label, counts.get(key), f"?{urlencode({**query, 'show': key})}")
            for key, label in SHOW_CHOICES
        ],
        "chosen_customer": customer,
        "revisits": rows[:PAGE_SIZE],
        "today": today,
        "page": page,
        "previous_url": f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
        "next_url": f"?{urlencode({**query, 'page': page + 1})}" if len(rows) > PAGE_SIZE else "",
        "can_close": user.has_perm(selectors.CLOSE_PERM),
        "can_view_cases": user.has_perm("workflow.view_case"),
    }
    return render(request, "service/revisit_list.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("service:revisits")


def _form_errors(form: BaseForm) -> str:
    return " ".join(
        f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


def _service_errors(form: BaseForm, exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(
            f"{form.fields[name].label}: {message}" if name in form.fields else message
            for name, messages_ in exc.message_dict.items()
            for message in messages_
        )
    return " ".join(exc.messages)


@login_required
@require_POST
def revisit_complete(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.CLOSE_PERM)
    revisit = _revisit_or_404(user, pk)
    form = RevisitCompleteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request)
    try:
        services.revisit_complete(actor=user, revisit=revisit, note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, _service_errors(form, exc))
    else:
        messages.success(
            request,
            _("Revisit of %(customer)s recorded as done.") % {"customer": revisit.customer.name},
        )
    return _back(request)


@login_required
@require_POST
def revisit_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.CLOSE_PERM)
    revisit = _revisit_or_404(user, pk)
    form = RevisitCancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request)
    try:
        services.revisit_cancel(actor=user, revisit=revisit, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, _service_errors(form, exc))
    else:
        messages.success(
            request, _("Revisit of %(customer)s cancelled.") % {"customer": revisit.customer.name}
        )
    return _back(request)
