"""Inbox, task and case pages, starting cases, process definitions, notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django import forms
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
from accounts.roles import ROLES, role_label
from customers import selectors as customer_selectors
from customers.models import Customer, DocumentKind
from workflow import registry, selectors, services
from workflow.business_calendar import unofficial_years_ahead
from workflow.forms import DefinitionUploadForm, DelegateForm
from workflow.models import Case, CaseStatus, DefinitionVersion, Notification, Task, VersionStatus


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(user: User, perm: str) -> None:
    if not user.has_perm(perm):
        raise PermissionDenied(perm)


def _task(user: User, pk: int) -> Task:
    _require(user, "workflow.view_case")
    try:
        return selectors.task_get(user, pk)
    except Task.DoesNotExist as exc:
        raise Http404 from exc


def _case(user: User, pk: int) -> Case:
    _require(user, "workflow.view_case")
    try:
        return selectors.case_get(user, pk)
    except Case.DoesNotExist as exc:
        raise Http404 from exc


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


# --- inbox -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _url_format(name: str) -> str:
    """The URL of `name` for a primary key, as a format string: reversed once, not per row."""
    marker = 987654321987
    return reverse(name, args=[marker]).replace(str(marker), "{}")


@dataclass(frozen=True)
class InboxRow:
    """What a row of the inbox prints, prepared here (fifty rows per page)."""

    task: Task
    url: str
    case_url: str
    claim_url: str  # "" once someone holds it
    due: str
    overdue: bool


def _inbox_row(task: Task, now: datetime) -> InboxRow:
    due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M") if task.due_at else ""
    return InboxRow(
        task=task,
        url=_url_format("workflow:task").format(task.pk),
        case_url=_url_format("workflow:case").format(task.case_id),
        claim_url="" if task.assignee_id else _url_format("workflow:task_claim").format(task.pk),
        due=due,
        overdue=task.due_at is not None and task.due_at < now,
    )


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, "workflow.view_case")
    view = request.GET.get("view", "mine")
    if view not in selectors.INBOX_VIEWS or (
        view == "all" and not user.has_perm("workflow.reassign_task")
    ):
        view = "mine"
    filters = selectors.InboxFilters(
        view=view, due=request.GET.get("due", ""), q=request.GET.get("q", "")[:100]
    )
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    size = selectors.INBOX_PAGE
    tasks = selectors.inbox_page(user, filters, offset, size)
    query = request.GET.copy()
    query["offset"] = str(offset + size)
    now = timezone.now()
    context = {
        "tasks": tasks[:size],
        "rows": [_inbox_row(task, now) for task in tasks[:size]],
        "more_url": f"{request.path}?{query.urlencode()}" if len(tasks) > size else "",
        "filters": filters,
        "counts": selectors.inbox_counts(user),
        "now": now,
        "can_see_all": user.has_perm("workflow.reassign_task"),
    }
    template = (
        "workflow/_inbox_rows.html" if getattr(request, "htmx", False) else "workflow/inbox.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def task_claim(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    task = _task(user, pk)
    try:
        services.task_claim(actor=user, task=task)
        messages.success(request, _("You have claimed the task."))
    except services.TaskConflict as exc:
        messages.error(request, str(exc))
    return redirect("workflow:task", pk=pk)


@login_required
@require_POST
def task_unclaim(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    task = _task(user, pk)
    try:
        services.task_unclaim(actor=user, task=task)
        messages.success(request, _("The task is back in the pool."))
    except (services.TaskConflict, ValidationError) as exc:
        messages.error(request, str(exc.messages[0] if isinstance(exc, ValidationError) else exc))
    return redirect("workflow:inbox")


def _task_form(
    task: Task, data: Any = None, files: Any = None, *, completing: bool = True
) -> forms.Form:
    spec = registry.FORMS.get(task.form_key) or registry.FORMS["done"]
    return registry.bound_form(spec, task, data, files, completing=completing)


@login_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    task = _task(user, pk)
    may_work = task.is_open and services.may_work_on(user, task)
    if task.is_open and not (
        may_work
        or services.may_reassign(user)
        or task.assignee_id == user.pk
        or (task.role and user.has_role(task.role))
    ):
        # An open step is for its role (and the managers who hand it over): the others see
        # it on the case page, not its form.
        raise PermissionDenied("task")
    spec = registry.FORMS.get(task.form_key)
    saving = request.method == "POST" and "save_progress" in request.POST
    form = _task_form(task, request.POST or None, request.FILES or None, completing=not saving)
    if request.method == "POST":
        if not may_work:
            raise PermissionDenied("task")
        if saving and spec is not None and spec.on_save is not None:
            if form.is_valid():
                try:
                    services.task_save_progress(actor=user, task=task, data=form.cleaned_data)
                except services.TaskConflict as exc:
                    messages.error(request, str(exc))
                except ValidationError as exc:
                    _errors(request, exc)
                else:
                    messages.success(request, _("Progress saved."))
                    return redirect("workflow:task", pk=pk)
        elif form.is_valid():
            try:
                opened = services.task_complete(actor=user, task=task, data=form.cleaned_data)
            except services.TaskConflict as exc:
                messages.error(request, str(exc))
                return redirect("workflow:task", pk=pk)
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, _("Task completed."))
                mine = [t for t in opened if t.assignee_id == user.pk]
                if mine:
                    return redirect("workflow:task", pk=mine[0].pk)
                return redirect("workflow:inbox")
    # Only people who may see the customer can take the task over.
    candidates = (
        customer_selectors.users_who_see(
            task.case.customer, User.objects.exclude(pk=task.assignee_id or 0)
        ).order_by("username")
        if services.may_reassign(user) or task.assignee_id == user.pk
        else User.objects.none()
    )
    context = {
        "task": task,
        "case": task.case,
        "form": form,
        "approval": bool(spec and spec.approval),
        "form_template": spec.template if spec else "",
        "data_rows": [] if task.is_open else selectors.task_data_rows(task),
        "savable": bool(spec and spec.on_save),
        "may_work": may_work,
        "may_claim": task.is_open
        and task.assignee_id is None
        and bool(task.role)
        and user.has_role(task.role),
        "may_unclaim": task.is_open and task.assignee_id == user.pk and bool(task.role),
        "may_delegate": task.is_open
        and (task.assignee_id == user.pk or services.may_reassign(user)),
        "delegate_form": DelegateForm(candidates=candidates),
        "missing": services.missing_attachments(task) if task.is_open else [],
        "missing_kinds": services.missing_attachment_kinds(task) if task.is_open else [],
        "role_label": role_label(task.role, task.role),
        "comments": task.case.comments.select_related("author").order_by("created_at"),
        "can_upload": user.has_perm("customers.change_customer"),
        "now": timezone.now(),
    }
    return render(request, "workflow/task.html", context)


@login_required
@require_POST
def task_delegate(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    task = _task(user, pk)
    form = DelegateForm(request.POST, candidates=User.objects.filter(is_active=True))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("workflow:task", pk=pk)
    try:
        services.task_delegate(
            actor=user, task=task, to=form.cleaned_data["to"], reason=form.cleaned_data["reason"]
        )
        messages.success(request, _("The task was handed over."))
    except services.TaskConflict as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("workflow:task", pk=pk)


# --- cases ---------------------------------------------------------------------------------------


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, "workflow.view_case")
    status = request.GET.get("status", "")
    q = request.GET.get("q", "")[:100]
    qs = selectors.case_list(user, status, q)
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(id__lt=int(before))  # keyset: newest first, no OFFSET
    size = selectors.INBOX_PAGE
    cases = list(qs[: size + 1])
    more_url = ""
    if len(cases) > size:
        query = request.GET.copy()
        query["before"] = str(cases[size - 1].pk)
        more_url = f"{request.path}?{query.urlencode()}"
    return render(
        request,
        "workflow/case_list.html",
        {
            "cases": cases[:size],
            "more_url": more_url,
            "status": status,
            "q": q,
            "status_choices": CaseStatus.choices,
        },
    )


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case(user, pk)
    tasks = selectors.task_history(case)
    context = {
        "case": case,
        "tasks": tasks,
        "events": case.events.select_related("actor", "task").order_by("at", "id"),
        "comments": case.comments.select_related("author", "task").order_by("created_at"),
        "documents": case.customer.documents.select_related("current").order_by("kind"),
        "diagram": {
            **selectors.diagram_state(case),
            "labels": {"due": _("Due"), "overdue": _("Overdue")},
        },
        "may_manage": services.may_manage_case(user, case),
        "data_rows": selectors.case_data_rows(case),
        "event_labels": selectors.EVENT_LABELS,
        "now": timezone.now(),
    }
    return render(request, "workflow/case.html", context)


@login_required
@require_POST
def case_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = _user(request)
    case = _case(user, pk)
    reason = request.POST.get("reason", "").strip()
    try:
        if action == "hold":
            services.case_hold(actor=user, case=case, reason=reason)
            messages.success(request, _("The case is on hold; its deadlines are paused."))
        elif action == "resume":
            services.case_resume(actor=user, case=case)
            messages.success(request, _("The case is running again; deadlines moved on."))
        elif action == "cancel":
            services.case_cancel(actor=user, case=case, reason=reason)
            messages.success(request, _("The case was cancelled."))
        elif action == "comment":
            services.comment_add(actor=user, case=case, text=request.POST.get("text", ""))
        else:
            raise Http404
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("workflow:case", pk=pk)


@login_required
@require_POST
def case_start(request: HttpRequest) -> HttpResponse:
    """Start a process for a customer (the button on the customer profile)."""
    user = _user(request)
    _require(user, "workflow.add_case")
    try:
        customer = customer_selectors.customer_get(user, int(request.POST.get("customer", "0")))
        version = DefinitionVersion.objects.get(
            pk=int(request.POST.get("version", "0")), status=VersionStatus.PUBLISHED
        )
    except (ValueError, Customer.DoesNotExist, DefinitionVersion.DoesNotExist) as exc:
        raise Http404 from exc
    try:
        case = services.case_start(actor=user, customer=customer, version=version)
    except ValidationError as exc:
        _errors(request, exc)
        return redirect("customers:detail", pk=customer.pk)
    messages.success(request, _("Case %(number)s started.") % {"number": case.number})
    return redirect("workflow:case", pk=case.pk)


# --- process definitions -----------------------------------------------------------------------


@login_required
def definition_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, "workflow.view_processdefinition")
    form = DefinitionUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _require(user, "workflow.change_processdefinition")
        if form.is_valid():
            try:
                version = services.definition_upload(actor=user, xml=form.xml())
            except ValidationError as exc:
                form.add_error("file", exc.messages)
            else:
                messages.success(request, _("Uploaded as a draft; check it and publish."))
                return redirect("workflow:version", pk=version.pk)
    return render(
        request,
        "workflow/definitions.html",
        {
            "definitions": selectors.definitions(),
            "form": form,
            "unofficial_years": unofficial_years_ahead(),
        },
    )


def _choices() -> dict[str, list[tuple[str, str]]]:
    from accounts.models import Department

    return {
        "roles": [(r.code, str(r.label)) for r in ROLES],
        "departments": list(Department.objects.values_list("code", "name")),
        "assignments": [
            ("role", _("Role pool")),
            ("owner", _("Customer's account manager")),
            ("territory", _("Account manager of the customer's territory")),
            ("user", _("Named user")),
            ("least_busy", _("Least busy member of the role")),
            ("starter", _("Whoever started the case")),
        ],
        "forms": [(k, str(s.label)) for k, s in sorted(registry.FORMS.items())],
        "handlers": [(k, str(s.label)) for k, s in sorted(registry.HANDLERS.items())],
        "attachments": [(k, str(v)) for k, v in DocumentKind.choices],
    }


@login_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    _require(user, "workflow.view_processdefinition")
    try:
        version = DefinitionVersion.objects.select_related("definition").get(pk=pk)
    except DefinitionVersion.DoesNotExist as exc:
        raise Http404 from exc
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action == "copy":
                copy = services.version_copy(actor=user, version=version)
                messages.success(request, _("New draft version %(n)s.") % {"n": copy.number})
                return redirect("workflow:version", pk=copy.pk)
            if action in ("save", "publish") and version.status == VersionStatus.DRAFT:
                version = services.version_save(
                    actor=user, version=version, xml=request.POST.get("xml", "")
                )
            if action == "publish":
                services.version_publish(actor=user, version=version)
                messages.success(request, _("Published: new cases use this version."))
            else:
                messages.success(request, _("Saved."))
            return redirect("workflow:version", pk=version.pk)
        except ValidationError as exc:
            version.refresh_from_db()
            if action != "publish":
                _errors(request, exc)
            else:
                messages.error(request, _("Not published: fix the problems listed below."))
    context = {
        "version": version,
        "editable": version.status == VersionStatus.DRAFT
        and user.has_perm("workflow.change_processdefinition"),
        "may_publish": user.has_perm("workflow.publish_processdefinition"),
        "may_copy": user.has_perm("workflow.change_processdefinition"),
        "choices": _choices(),
        "viewer_data": {
            "xml": version.xml,
            "completed": [],
            "active": [],
            "overdue": [],
            "due": {},
        },
    }
    return render(request, "workflow/version.html", context)


@login_required
def version_xml(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    _require(user, "workflow.view_processdefinition")
    try:
        version = DefinitionVersion.objects.select_related("definition").get(pk=pk)
    except DefinitionVersion.DoesNotExist as exc:
        raise Http404 from exc
    response = HttpResponse(version.xml, content_type="application/xml; charset=utf-8")
    name = f"{version.definition.key}-v{version.number}.bpmn"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- notifications -----------------------------------------------------------------------------


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        return redirect("workflow:notifications")
    return render(
        request,
        "workflow/notifications.html",
        {"notifications": selectors.notifications_of(user)},
    )


@login_required
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    note = Notification.objects.filter(recipient=user, pk=pk).first()
    if note is None:
        raise Http404
    if note.read_at is None:
        note.read_at = timezone.now()
        note.save(update_fields=["read_at"])
    return redirect(note.url or "workflow:notifications")
