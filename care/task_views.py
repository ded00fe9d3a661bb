"""Care task pages (我的关怀任务): my tasks, the department pool, every visible task; a task's
page with close / cancel / reassign; a task created by hand; the care-rule settings."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from audit.models import AuditEntry
from care import rules, selectors, services
from care.models import CareKind, CareSettings, CareTask
from care.task_forms import (
    VIEW_LABELS,
    CancelForm,
    CloseForm,
    CreateForm,
    CustomerLookupForm,
    ReassignForm,
    SettingsForm,
    TaskFilterForm,
)
from customers import selectors as customer_selectors
from customers.models import Customer
from customers.segments import segment_for_filter
from ruwang.lib.views import apply_errors, require


def _task_or_404(user: User, pk: int) -> CareTask:
    try:
        return selectors.care_task_get(user, pk)
    except CareTask.DoesNotExist:
        raise Http404 from None


def _customer_or_404(user: User, raw: str) -> Customer | None:
    return customer_selectors.customer_from_param(user, raw)


def _back(request: HttpRequest, task: CareTask) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("care:task", pk=task.pk)


# --- list ------------------------------------------------------------------------------------


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    view = request.GET.get("view") or selectors.View.MINE
    has_pool = selectors.pool_condition(user) is not None
    if view not in VIEW_LABELS or (view == selectors.View.POOL and not has_pool):
        raise PermissionDenied(selectors.MANAGE_PERM)
    form = TaskFilterForm(request.GET)
    filters = form.filters(view)
    segment = segment_for_filter(user, request.GET.get("segment"))
    if segment is not None:
        filters = dataclasses.replace(filters, segment=segment)
    page = Paginator(selectors.care_task_list(user, filters), selectors.PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    views = [
        (key, label) for key, label in VIEW_LABELS.items() if key != selectors.View.POOL or has_pool
    ]
    context: dict[str, Any] = {
        "form": form,
        "view": view,
        "views": views,
        "page": page,
        "query": query.urlencode(),
        "today": timezone.localdate(),
        "can_add": user.has_perm(selectors.ADD_PERM),
        "can_settings": user.has_perm(selectors.SETTINGS_PERM),
    }
    if getattr(request, "htmx", False):
        return render(request, "care/tasks/_results.html", context)
    return render(request, "care/tasks/list.html", context)


# --- one task --------------------------------------------------------------------------------


def _detail(
    request: HttpRequest,
    user: User,
    task: CareTask,
    *,
    close: CloseForm | None = None,
    cancel: CancelForm | None = None,
    reassign: ReassignForm | None = None,
    status: int = 200,
) -> HttpResponse:
    may_work = task.is_open and services.may_work(user, task)
    may_reassign = task.is_open and services.may_reassign(user)
    context = {
        "task": task,
        "today": timezone.localdate(),
        "close_form": (close or CloseForm()) if may_work else None,
        "cancel_form": (cancel or CancelForm()) if may_work else None,
        "reassign_form": (
            reassign
            or ReassignForm(
                choices=selectors.assignee_choices(task.customer),
                initial={"assignee": task.assignee_id},
            )
            if may_reassign
            else None
        ),
    }
    return render(request, "care/tasks/detail.html", context, status=status)


@login_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    return _detail(request, user, _task_or_404(user, pk))


@login_required
@require_POST
def task_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    task = _task_or_404(user, pk)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            services.care_task_close(actor=user, task=task, outcome=form.cleaned_data["outcome"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Care task closed."))
            return _back(request, task)
    return _detail(request, user, task, close=form, status=400)


@login_required
@require_POST
def task_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.VIEW_PERM)
    task = _task_or_404(user, pk)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.care_task_cancel(actor=user, task=task, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Care task cancelled."))
            return _back(request, task)
    return _detail(request, user, task, cancel=form, status=400)


@login_required
@require_POST
def task_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, selectors.MANAGE_PERM)
    task = _task_or_404(user, pk)
    form = ReassignForm(request.POST, choices=selectors.assignee_choices(task.customer))
    if form.is_valid():
        try:
            services.care_task_reassign(
                actor=user, task=task, assignee=form.cleaned_data["assignee"]
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Care task reassigned."))
            return _back(request, task)
    return _detail(request, user, task, reassign=form, status=400)


# --- new task --------------------------------------------------------------------------------


@login_required
def task_create(request: HttpRequest) -> HttpResponse:
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
            "pick_url": reverse("care:task_create"),
        }
        if getattr(request, "htmx", False):
            return render(request, "customers/_matches.html", context)
        return render(request, "care/tasks/create.html", {**context, "customer": None})
    manager = user.has_perm(selectors.MANAGE_PERM)
    choices = selectors.assignee_choices(customer) if manager else User.objects.none()
    form = CreateForm(
        request.POST or None, customer=customer, user=user, manager=manager, choices=choices
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = services.care_task_create(
                actor=user,
                customer=customer,
                kind=data["kind"],
                title=data["title"],
                detail=data["detail"],
                due_on=data["due_on"],
                assignee=data["assignee"] if manager else user,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Care task created."))
            return redirect("care:task", pk=task.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "care/tasks/create.html", {"form": form, "customer": customer}, status=status
    )


# --- settings --------------------------------------------------------------------------------


def _last_run() -> AuditEntry | None:
    return AuditEntry.objects.filter(action=rules.RUN_ACTION).order_by("-id").first()


def _created_labels(last: AuditEntry | None) -> list[tuple[str, int]]:
    if last is None:
        return []
    created = (last.changes.get("created") or [None, {}])[1] or {}
    labels = dict(CareKind.choices)
    return [(str(labels.get(kind, kind)), n) for kind, n in created.items()]


@login_required
def care_settings(request: HttpRequest) -> HttpResponse:
    user = require(request, selectors.SETTINGS_PERM)
    cs = CareSettings.current()
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            try:
                services.care_settings_update(actor=user, data=form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Care rule settings saved."))
                return redirect("care:settings")
        status = 400
    else:
        form = SettingsForm(initial={name: getattr(cs, name) for name in services.SETTINGS_FIELDS})
        status = 200
    last = _last_run()
    context = {
        "form": form,
        "settings": cs,
        "last_run": last,
        "last_created": _created_labels(last),
        "lookback_days": rules.LOW_SCORE_LOOKBACK_DAYS,
        "run_hour": rules.RUN_HOUR,
    }
    return render(request, "care/settings/form.html", context, status=status)
