"""Reads of cases and tasks, limited to the customers the acting user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.selectors import any_of, visibility_scope
from workflow.models import (
    OPEN_TASK_STATUSES,
    Case,
    CaseStatus,
    DefinitionVersion,
    Notification,
    ProcessDefinition,
    Task,
    TaskStatus,
    VersionStatus,
)

DUE_SOON = timedelta(hours=24)


def tasks_visible_to(user: User) -> QuerySet[Task]:
    """Tasks of the customers the user may see, by the copies of the customer's visibility
    keys on each task (no join: an inbox walks its task index and filters as it goes)."""
    if not user.has_perm("workflow.view_case"):
        return Task.objects.none()
    branches = visibility_scope(user).branches("customer_")  # the scope is kept per user object
    return Task.objects.all() if branches is None else Task.objects.filter(any_of(branches))


def cases_visible_to(user: User) -> QuerySet[Case]:
    if not user.has_perm("workflow.view_case"):
        return Case.objects.none()
    branches = visibility_scope(user).branches("customer__")
    return Case.objects.all() if branches is None else Case.objects.filter(any_of(branches))


def user_role_codes(user: User) -> list[str]:
    return sorted(user.role_codes())


INBOX_VIEWS = ("mine", "pool", "delegated", "all")


@dataclass(frozen=True)
class InboxFilters:
    view: str = "mine"  # mine | pool | delegated | all (managers: every open task)
    due: str = ""  # "" | overdue | soon
    q: str = ""  # customer name or case number


INBOX_PAGE = 50
POOL_CAP = 99  # the pool tab shows "99+" beyond this


def inbox(user: User, filters: InboxFilters) -> QuerySet[Task]:
    """Open tasks of one inbox tab, due first. "Mine" reads status=claimed and the pool
    status=ready (the same rows as "open"), so each walks its (…, status, due_at, id) index."""
    visible = tasks_visible_to(user)
    if filters.view == "pool":
        qs = visible.filter(status=TaskStatus.READY, role__in=user_role_codes(user))
    elif filters.view == "delegated":
        qs = visible.filter(delegated_by=user, status__in=OPEN_TASK_STATUSES).exclude(assignee=user)
    elif filters.view == "all" and user.has_perm("workflow.reassign_task"):
        qs = visible.filter(status__in=OPEN_TASK_STATUSES)
    else:
        qs = visible.filter(status=TaskStatus.CLAIMED, assignee=user)
    now = timezone.now()
    if filters.due == "overdue":
        qs = qs.filter(due_at__lt=now)
    elif filters.due == "soon":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + DUE_SOON)
    text = filters.q.strip()
    if text:
        qs = qs.filter(Q(case__number__iexact=text) | Q(customer__name__icontains=text))
    return (
        qs.select_related("case", "customer", "assignee")
        .only(
            "name",
            "status",
            "role",
            "due_at",
            "escalation_level",
            "case__number",
            "customer__name",
            "assignee__username",
            "assignee__display_name",
        )
        .order_by(F("due_at").asc(nulls_last=True), "id")
    )


def inbox_page(user: User, filters: InboxFilters, offset: int, size: int) -> list[Task]:
    """Rows offset … offset+size (one more, to know whether a next page exists).

    Views spanning both open statuses (a manager's "all", "handed over") read each status in
    due order from its index and merge here, instead of sorting every open task."""
    qs = inbox(user, filters)
    stop = offset + size + 1
    if filters.view not in ("all", "delegated"):
        return list(qs[offset:stop])
    rows = [
        task
        for status in (TaskStatus.READY, TaskStatus.CLAIMED)
        for task in qs.filter(status=status)[:stop]
    ]
    rows.sort(key=lambda t: (t.due_at is None, t.due_at or timezone.now(), t.pk))
    return rows[offset:stop]


@dataclass(frozen=True)
class InboxCounts:
    mine: int
    pool: int  # at most POOL_CAP + 1
    overdue: int
    soon: int

    @property
    def pool_label(self) -> str:
        return f"{POOL_CAP}+" if self.pool > POOL_CAP else str(self.pool)


def inbox_counts(user: User) -> InboxCounts:
    """The counts of the inbox tabs and the workbench: one aggregate over my claimed tasks,
    and the pool counted no further than POOL_CAP + 1 (a role's pool can span a province)."""
    from django.db.models import Count

    now = timezone.now()
    visible = tasks_visible_to(user)
    mine = visible.filter(status=TaskStatus.CLAIMED, assignee=user).aggregate(
        mine=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        soon=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + DUE_SOON)),
    )
    pool = visible.filter(status=TaskStatus.READY, role__in=user_role_codes(user)).order_by(
        "due_at", "id"
    )
    return InboxCounts(pool=len(pool.values_list("id", flat=True)[: POOL_CAP + 1]), **mine)


def task_get(user: User, pk: int) -> Task:
    """The task, or Task.DoesNotExist (a 404) when its customer is hidden from the user."""
    return (
        tasks_visible_to(user)
        .select_related(
            "case__customer",
            "case__version__definition",
            "assignee",
            "completed_by",
            "delegated_by",
        )
        .get(pk=pk)
    )


def case_get(user: User, pk: int) -> Case:
    return (
        cases_visible_to(user)
        .select_related("customer", "version__definition", "started_by")
        .get(pk=pk)
    )


def case_list(user: User, status: str = "", q: str = "") -> QuerySet[Case]:
    qs = cases_visible_to(user)
    if status in CaseStatus.values:
        qs = qs.filter(status=status)
    if q.strip():
        qs = qs.filter(Q(number__iexact=q.strip()) | Q(customer__name__icontains=q.strip()))
    return qs.select_related("customer", "version__definition", "started_by").order_by("-id")


def customer_cases(user: User, customer_id: int) -> list[Case]:
    return list(
        cases_visible_to(user)
        .filter(customer_id=customer_id)
        .select_related("version__definition")
        .order_by("-id")[:50]
    )


def startable_processes() -> list[DefinitionVersion]:
    """The latest published version of each process."""
    versions = (
        DefinitionVersion.objects.filter(status=VersionStatus.PUBLISHED)
        .select_related("definition")
        .order_by("definition__name", "-number")
    )
    seen: set[int] = set()
    result = []
    for version in versions:
        if version.definition_id not in seen:
            seen.add(version.definition_id)
            result.append(version)
    return result


def definitions() -> QuerySet[ProcessDefinition]:
    return ProcessDefinition.objects.prefetch_related("versions").order_by("name")


def unread_notifications(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_of(user: User, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).order_by("-id")[:limit])


def task_history(case: Case) -> list[Task]:
    return list(case.tasks.select_related("assignee", "completed_by").order_by("created_at", "id"))


def diagram_state(case: Case) -> dict[str, Any]:
    """What the progress diagram marks: completed, active and overdue elements, due badges."""
    now = timezone.now()
    tasks = list(case.tasks.all())
    completed = sorted(
        {t.node_id for t in tasks if t.status in (TaskStatus.COMPLETED, TaskStatus.RETURNED)}
    )
    open_tasks = [t for t in tasks if t.is_open]
    passed = {
        e for e in case.events.filter(kind__in=["service", "end"]).values_list("node_id", flat=True)
    }
    return {
        "xml": case.version.xml,
        "completed": sorted(set(completed) | passed),
        "active": sorted({t.node_id for t in open_tasks}),
        "overdue": sorted({t.node_id for t in open_tasks if t.due_at and t.due_at < now}),
        "due": {
            t.node_id: timezone.localtime(t.due_at).strftime("%m-%d %H:%M")
            for t in open_tasks
            if t.due_at
        },
    }


EVENT_LABELS = {
    "started": _("started the case"),
    "task_opened": _("task opened"),
    "claimed": _("claimed"),
    "unclaimed": _("returned to the pool"),
    "delegated": _("handed over"),
    "completed_task": _("completed"),
    "progress": _("saved progress"),
    "returned": _("rejected and returned"),
    "service": _("automatic step"),
    "end": _("reached the end"),
    "completed": _("case completed"),
    "held": _("put on hold"),
    "resumed": _("resumed"),
    "cancelled": _("cancelled"),
    "comment": _("commented"),
    "breached": _("overdue"),
    "escalated": _("escalated"),
}


def _display(field: Any, value: Any) -> str:
    """A stored form value as the form would show it: choice labels, yes/no, names."""
    from django import forms

    if value is None or value == "":
        return "—"
    if isinstance(field, forms.BooleanField) or isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(field, forms.ModelChoiceField) and field.queryset is not None:
        found = field.queryset.model._default_manager.filter(pk=value).first()
        return str(found) if found is not None else str(value)
    if isinstance(field, forms.ChoiceField):
        return str(dict(field.choices).get(value, value))  # type: ignore[arg-type]
    return str(value)


def display_value(field: Any, value: Any) -> str:
    """A stored form value as the form would show it (for pages and printed forms)."""
    return _display(field, value)


def task_data_rows(task: Task) -> list[tuple[str, str]]:
    """(label, value) of what a completed task recorded, labelled by its form's fields."""
    from workflow.registry import DATA_LABELS, FORMS

    spec = FORMS.get(task.form_key)
    fields = spec.form_class.base_fields if spec else {}
    rows = []
    for key, value in (task.data or {}).items():
        found = fields.get(key)
        if found is None and key not in DATA_LABELS:
            continue  # ids of records written by the form: shown by the form's own pages
        label = str(found.label) if found is not None and found.label else key
        rows.append((str(DATA_LABELS.get(key, label)), _display(found, value)))
    return rows


def case_data_rows(case: Case) -> list[tuple[str, str]]:
    """(label, value) of the case data, labelled by the forms that collected it."""
    from workflow.registry import DATA_LABELS, FORMS

    fields: dict[str, Any] = {}
    for spec in FORMS.values():
        for name, form_field in spec.form_class.base_fields.items():
            fields.setdefault(name, form_field)
    rows = []
    for key, value in case.data.items():
        found = fields.get(key)
        label = str(found.label) if found is not None and found.label else key
        label = str(DATA_LABELS.get(key, label))
        rows.append((label, _display(found, value)))
    return rows
