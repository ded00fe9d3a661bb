"""Reads of care tasks, always limited to what the acting user may see: the tasks of the
customers they may see (every task with care.view_all_care_tasks)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from care.models import CareKind, CareTask, CareTaskStatus
from customers.models import Customer, Segment
from customers.segments import segment_members_q
from customers.selectors import any_of, users_who_see, visibility_scope

VIEW_PERM = "care.view_caretask"
ADD_PERM = "care.add_caretask"
# Managers: the department pool, reassigning, closing and cancelling others' tasks.
MANAGE_PERM = "care.change_caretask"
ALL_PERM = "care.view_all_care_tasks"
SETTINGS_PERM = "care.change_caresettings"

PAGE_SIZE = 50
CARD_RECENT = 5


class View:
    MINE = "mine"
    POOL = "pool"
    ALL = "all"


def care_tasks_visible_to(user: User) -> QuerySet[CareTask]:
    if not user.is_active or not user.has_perm(VIEW_PERM):
        return CareTask.objects.none()
    qs = CareTask.objects.filter(customer__merged_into__isnull=True)
    if user.has_perm(ALL_PERM):
        return qs
    branches = visibility_scope(user).branches("customer__")
    return qs if branches is None else qs.filter(any_of(branches))


def care_task_get(user: User, pk: int) -> CareTask:
    """The task, or CareTask.DoesNotExist (shown as 404) when the user may not see it."""
    return (
        care_tasks_visible_to(user)
        .select_related("customer", "customer__region", "customer__department", "assignee")
        .select_related("created_by", "done_by")
        .get(pk=pk)
    )


def pool_condition(user: User) -> Q | None:
    """The unassigned tasks a manager is offered: those of their department's customers, every
    department's with care.view_all_care_tasks; None for a user without a pool."""
    if not user.has_perm(MANAGE_PERM):
        return None
    if user.has_perm(ALL_PERM):
        return Q(assignee__isnull=True)
    if user.department_id is None:
        return None
    return Q(assignee__isnull=True, customer__department_id=user.department_id)


@dataclass(frozen=True)
class TaskFilters:
    view: str = View.MINE
    kind: str = ""
    status: str = CareTaskStatus.OPEN
    q: str = ""
    segment: Segment | None = None


def care_task_list(user: User, filters: TaskFilters) -> QuerySet[CareTask]:
    """The tasks of one view ("mine", "pool", "all"), filtered; open ones by due date (the
    overdue first), closed ones newest first."""
    qs = care_tasks_visible_to(user)
    if filters.view == View.MINE:
        qs = qs.filter(assignee=user)
    elif filters.view == View.POOL:
        condition = pool_condition(user)
        qs = qs.none() if condition is None else qs.filter(condition)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        qs = qs.filter(status=filters.status)
    text = filters.q.strip()
    if text:
        by_name = Q(customer__name__icontains=text) | Q(customer__short_name__icontains=text)
        qs = qs.filter(by_name | Q(customer_id=int(text)) if text.isdigit() else by_name)
    if filters.segment is not None:
        qs = qs.filter(segment_members_q(filters.segment, prefix="customer__"))
    order = ["due_on", "id"] if filters.status == CareTaskStatus.OPEN else ["-due_on", "-id"]
    return qs.select_related("customer", "customer__region", "assignee").order_by(*order)


@dataclass(frozen=True)
class TaskCounts:
    open: int
    overdue: int
    pool: int | None


def my_task_counts(user: User, today: dt.date | None = None) -> TaskCounts | None:
    """The dashboard card's figures: my open and overdue tasks, and the pool (managers)."""
    if not user.is_active or not user.has_perm(VIEW_PERM):
        return None
    today = today or timezone.localdate()
    mine = care_tasks_visible_to(user).filter(assignee=user, status=CareTaskStatus.OPEN)
    open_count = mine.order_by().count()
    overdue = mine.filter(due_on__lt=today).order_by().count() if open_count else 0
    condition = pool_condition(user)
    pool = None
    if condition is not None:
        pool = (
            care_tasks_visible_to(user)
            .filter(condition, status=CareTaskStatus.OPEN)
            .order_by()
            .count()
        )
    return TaskCounts(open=open_count, overdue=overdue, pool=pool)


@dataclass
class CustomerCareCard:
    customer: Customer
    open: list[CareTask] = field(default_factory=list)
    recent: list[CareTask] = field(default_factory=list)
    can_add: bool = False
    today: dt.date = field(default_factory=timezone.localdate)


def customer_care_card(user: User, customer: Customer) -> CustomerCareCard | None:
    """The care card of a customer profile the user may already open; None without
    care.view_caretask."""
    if not user.is_active or not user.has_perm(VIEW_PERM):
        return None
    tasks = CareTask.objects.filter(customer=customer).select_related("assignee")
    return CustomerCareCard(
        customer=customer,
        open=list(tasks.filter(status=CareTaskStatus.OPEN).order_by("due_on", "id")),
        recent=list(
            tasks.exclude(status=CareTaskStatus.OPEN).order_by("-done_at", "-id")[:CARD_RECENT]
        ),
        can_add=user.has_perm(ADD_PERM),
    )


def assignee_choices(customer: Customer) -> QuerySet[User]:
    """Active users who may work care tasks and may see `customer`."""
    holders = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True)
        | Q(
            groups__permissions__codename="view_caretask",
            groups__permissions__content_type__app_label="care",
        )
        | Q(
            user_permissions__codename="view_caretask",
            user_permissions__content_type__app_label="care",
        )
    )
    return users_who_see(customer, User.objects.filter(pk__in=holders.values("pk"))).order_by(
        "display_name", "username"
    )


KIND_CHOICES = CareKind.choices
