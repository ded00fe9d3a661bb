"""Ticket pages (工单): the list (all / mine), a new ticket, and a ticket's page with its
timeline and the forms that work it (note or message, status, assignment, link, attachment)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from customers import selectors as customer_selectors
from customers.models import Customer
from customers.segments import segment_for_filter
from ruwang.lib.views import acting_user, apply_errors, require
from service import notify, ticket_attachments, tickets
from service import ticket_selectors as selectors
from service.models import Ticket
from service.ticket_forms import (
    STATUS_CHOICES,
    AssignForm,
    AttachForm,
    CustomerLookupForm,
    LinkForm,
    NoteForm,
    StatusForm,
    TicketCreateForm,
    TicketFilterForm,
)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _ticket_or_404(user: User, pk: int) -> Ticket:
    try:
        return selectors.ticket_get(user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None


def _customer_or_404(user: User, raw: str) -> Customer | None:
    return customer_selectors.customer_from_param(user, raw)


# --- list ------------------------------------------------------------------------------------


@login_required
def ticket_list(request: HttpRequest, mine: bool = False) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    form = TicketFilterForm(request.GET, mine=mine)
    customer = _customer_or_404(user, request.GET.get("customer_id", ""))
    filters = form.filters(mine=mine, customer=customer)
    # A segment the user may not use (another's private one) is ignored, not an error.
    segment = segment_for_filter(user, request.GET.get("segment"))
    if segment is not None:
        filters = dataclasses.replace(filters, segment=segment)
    cursor = request.GET.get("after", "")
    page = selectors.ticket_page(user, filters, cursor)
    query = request.GET.copy()
    query.pop("after", None)
    context: dict[str, Any] = {
        "form": form,
        "mine": mine,
        "filters": filters,
        "chosen_customer": customer,
        "rows": page.rows,
        "next_cursor": page.next_cursor,
        "query": query.urlencode(),
        "list_url": request.path,
        "can_add": user.has_perm(selectors.ADD_PERM),
    }
    if _is_htmx(request) and cursor:
        return render(request, "service/tickets/_rows.html", context)
    counts = selectors.status_counts(user, filters)
    base = {k: v for k, v in query.items() if k != "status"}
    context["tabs"] = [
        (key, label, counts[key], f"?{urlencode({**base, 'status': key})}")
        for key, label in STATUS_CHOICES
    ]
    template = "service/tickets/_results.html" if _is_htmx(request) else "service/tickets/list.html"
    return render(request, template, context)


# --- new ticket ------------------------------------------------------------------------------


@login_required
def ticket_create(request: HttpRequest) -> HttpResponse:
    user = require(request, selectors.ADD_PERM)
    customer = _customer_or_404(
        user, request.POST.get("customer") or request.GET.get("customer", "")
    )
    if customer is None:
        lookup = CustomerLookupForm(request.GET or None)
        text = lookup.cleaned_data["q"] if lookup.is_valid() else ""
        context = {
            "lookup": lookup,
            "q": text,
            "matches": customer_selectors.customer_matches(user, text),
            "pick_url": reverse("service:ticket_create"),
        }
        if _is_htmx(request):
            return render(request, "customers/_matches.html", context)
        return render(request, "service/tickets/create.html", {**context, "customer": None})
    form = TicketCreateForm(
        request.POST or None, request.FILES or None, customer=customer, user=user
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = ticket_attachments.ticket_open(
                actor=user,
                attachment=data.get("file"),
                customer=customer,
                kind=data["kind"],
                priority=data["priority"],
                channel=data["channel"],
                subject=data["subject"],
                description=data["description"],
                site=data["site"],
                collector=data["collector"],
                team=data["team"],
                assignee=data.get("assignee"),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            if ticket.assignee is not None:
                text = _("Ticket %(number)s opened and assigned to %(who)s.") % {
                    "number": ticket.number,
                    "who": ticket.assignee,
                }
            else:
                text = _("Ticket %(number)s opened; nobody could take it yet.") % {
                    "number": ticket.number
                }
            messages.success(request, text)
            return redirect("service:ticket", pk=ticket.pk)
    return render(request, "service/tickets/create.html", {"customer": customer, "form": form})


# --- one ticket ------------------------------------------------------------------------------


def _may_assign(user: User, ticket: Ticket, can_work: bool) -> bool:
    """Leads (re)assign any ticket; the assignee may hand their own over."""
    return user.has_perm(selectors.ASSIGN_PERM) or (ticket.assignee_id == user.pk and can_work)


def _detail(request: HttpRequest, ticket: Ticket, **forms: Any) -> HttpResponse:
    user = acting_user(request)
    can_work = tickets.may_work(user, ticket)
    can_assign = _may_assign(user, ticket, can_work)
    can_attach = can_work and user.has_perm("customers.change_customer")
    today = timezone.localdate()
    collector = ticket.collector
    context: dict[str, Any] = {
        "ticket": ticket,
        "row": selectors.ticket_row(ticket),
        "timeline": selectors.ticket_timeline(ticket),
        "attachments": selectors.ticket_attachments(ticket),
        "links": selectors.ticket_links(user, ticket),
        "today": today,
        "warranty_ends_on": collector.warranty_ends_on if collector else None,
        "can_work": can_work,
        "can_assign": can_assign,
        "can_attach": can_attach,
        "customer_email": notify.customer_address(ticket) if can_work else "",
    }
    if can_work:
        context["note_form"] = forms.get("note_form") or NoteForm()
        context["status_form"] = forms.get("status_form") or StatusForm(ticket=ticket)
        context["link_form"] = forms.get("link_form") or LinkForm(user=user)
    if can_assign:
        context["assign_form"] = forms.get("assign_form") or AssignForm(
            ticket=ticket, initial={"team": ticket.team_id}
        )
    if can_attach:
        context["attach_form"] = forms.get("attach_form") or AttachForm()
    return render(request, "service/tickets/detail.html", context)


@login_required
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    return _detail(request, _ticket_or_404(user, pk))


def _working(request: HttpRequest, pk: int) -> tuple[User, Ticket]:
    """The worker and the ticket of a working action: 403 without service.work_ticket, 404 for
    a ticket the user may not see."""
    user = require(request, selectors.WORK_PERM)
    return user, _ticket_or_404(user, pk)


@login_required
@require_POST
def ticket_note(request: HttpRequest, pk: int) -> HttpResponse:
    user, ticket = _working(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        address = notify.customer_address(ticket) if form.to_customer else ""
        try:
            tickets.ticket_note(
                actor=user,
                ticket=ticket,
                text=form.cleaned_data["text"],
                to_customer=form.to_customer,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            if not form.to_customer:
                messages.success(request, _("Internal note added."))
            elif address:
                messages.success(
                    request,
                    _("Message recorded and e-mailed to %(address)s.") % {"address": address},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "Message recorded. The customer has no contact with an e-mail address: "
                        "tell them by phone."
                    ),
                )
            return redirect("service:ticket", pk=ticket.pk)
    return _detail(request, ticket, note_form=form)


@login_required
@require_POST
def ticket_status(request: HttpRequest, pk: int) -> HttpResponse:
    user, ticket = _working(request, pk)
    form = StatusForm(request.POST, ticket=ticket)
    if form.is_valid():
        try:
            ticket = tickets.ticket_set_status(
                actor=user,
                ticket=ticket,
                status=form.cleaned_data["status"],
                text=form.cleaned_data["text"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Ticket %(number)s is now %(status)s.")
                % {"number": ticket.number, "status": ticket.get_status_display()},
            )
            return redirect("service:ticket", pk=ticket.pk)
    return _detail(request, ticket, status_form=form)


@login_required
@require_POST
def ticket_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    if not (user.has_perm(selectors.ASSIGN_PERM) or user.has_perm(selectors.WORK_PERM)):
        raise PermissionDenied(selectors.ASSIGN_PERM)
    ticket = _ticket_or_404(user, pk)
    if not _may_assign(user, ticket, tickets.may_work(user, ticket)):
        raise PermissionDenied(selectors.ASSIGN_PERM)
    form = AssignForm(request.POST, ticket=ticket)
    if form.is_valid():
        try:
            ticket = tickets.ticket_assign(
                actor=user,
                ticket=ticket,
                assignee=form.cleaned_data["assignee"],
                reason=form.cleaned_data["reason"],
                team=form.cleaned_data["team"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            if ticket.assignee is not None:
                text = _("Ticket %(number)s assigned to %(who)s.") % {
                    "number": ticket.number,
                    "who": ticket.assignee,
                }
            else:
                text = _("Nobody of the team could take ticket %(number)s: its lead was told.") % {
                    "number": ticket.number
                }
            messages.success(request, text)
            return redirect("service:ticket", pk=ticket.pk)
    return _detail(request, ticket, assign_form=form)


@login_required
@require_POST
def ticket_link(request: HttpRequest, pk: int) -> HttpResponse:
    user, ticket = _working(request, pk)
    form = LinkForm(request.POST, user=user)
    if form.is_valid():
        target = form.cleaned_data["target"]
        try:
            tickets.ticket_link(
                actor=user, source=ticket, target=target, kind=form.cleaned_data["kind"]
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "target" in exc.error_dict:
                form.add_error("number", exc.error_dict["target"])
            else:
                apply_errors(form, exc)
        else:
            messages.success(request, _("Linked to ticket %(number)s.") % {"number": target.number})
            return redirect("service:ticket", pk=ticket.pk)
    return _detail(request, ticket, link_form=form)


@login_required
@require_POST
def ticket_attach(request: HttpRequest, pk: int) -> HttpResponse:
    user, ticket = _working(request, pk)
    form = AttachForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            ticket_attachments.ticket_attach(
                actor=user,
                ticket=ticket,
                file_name=upload.name,
                fileobj=upload,
                size=upload.size,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("File attached."))
            return redirect("service:ticket", pk=ticket.pk)
    return _detail(request, ticket, attach_form=form)
