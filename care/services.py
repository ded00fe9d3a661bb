"""Writes of customer care: a care task created by hand, closed with its outcome, cancelled
with a reason, reassigned; the care-rule settings. Each checks the actor's permission, runs in
one transaction and writes an audit row."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record, changes_between, field_values
from care.models import CareKind, CareSettings, CareTask, CareTaskStatus
from care.selectors import (
    ADD_PERM,
    MANAGE_PERM,
    SETTINGS_PERM,
    VIEW_PERM,
    assignee_choices,
)
from customers.models import Customer
from customers.selectors import customer_visible

TITLE_MAX = 200
TEXT_MAX = 4000
# Kinds a person may create by hand (the rules and key-account plans create the others too).
MANUAL_KINDS = tuple(CareKind.values)

# Called inside the closing transaction for a task of the kind (e.g. key accounts mark the plan
# item carried out): fn(task=…, actor=…).
CloseHook = Callable[..., None]
CLOSE_HOOKS: dict[str, list[CloseHook]] = {}


def care_task_close_hook_register(kind: str, hook: CloseHook) -> None:
    CLOSE_HOOKS.setdefault(kind, []).append(hook)


def _text(value: str | None, limit: int, name: str, required: bool = True) -> str:
    text = (value or "").replace("\x00", "").strip()
    if required and not text:
        raise ValidationError({name: _("Fill in this field.")})
    if len(text) > limit:
        raise ValidationError(
            {
                name: _("At most %(limit)d characters (this has %(n)d).")
                % {"limit": limit, "n": len(text)}
            }
        )
    return text


def may_work(user: User, task: CareTask) -> bool:
    """Close or cancel: the assignee, or a manager."""
    if not user.is_active or not user.has_perm(VIEW_PERM):
        return False
    return task.assignee_id == user.pk or user.has_perm(MANAGE_PERM)


def may_reassign(user: User) -> bool:
    return user.is_active and user.has_perm(MANAGE_PERM)


def _check_visible(actor: User, task: CareTask) -> None:
    if not customer_visible(actor, task.customer) and not actor.has_perm(
        "care.view_all_care_tasks"
    ):
        raise PermissionDenied(VIEW_PERM)


def _check_assignee(customer: Customer, assignee: User | None) -> None:
    if assignee is None:
        return
    if not assignee_choices(customer).filter(pk=assignee.pk).exists():
        raise ValidationError(
            {
                "assignee": _(
                    "%(name)s may not work care tasks of this customer: choose someone who "
                    "may see the customer."
                )
                % {"name": assignee}
            }
        )


def _lock(task: CareTask) -> CareTask:
    return CareTask.objects.select_for_update().select_related("customer").get(pk=task.pk)


def _require_open(task: CareTask) -> None:
    if task.status != CareTaskStatus.OPEN:
        raise ValidationError(
            _("This care task is “%(status)s” already.") % {"status": task.get_status_display()}
        )


def care_task_create(
    *,
    actor: User,
    customer: Customer,
    kind: str,
    title: str,
    detail: str,
    due_on: dt.date | None,
    assignee: User | None,
) -> CareTask:
    """A care task created by hand for a customer the actor may see. Giving it to someone else
    (or to the department pool) takes a manager."""
    require_perm(actor, ADD_PERM)
    if not customer_visible(actor, customer):
        raise PermissionDenied(VIEW_PERM)
    errors: dict[str, str] = {}
    if kind not in MANUAL_KINDS:
        errors["kind"] = _("Choose the kind from the list.")
    try:
        title = _text(title, TITLE_MAX, "title")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    try:
        detail = _text(detail, TEXT_MAX, "detail", required=False)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if due_on is None:
        errors["due_on"] = _("Fill in this field.")
    elif due_on < timezone.localdate():
        errors["due_on"] = _("The due date cannot be in the past.")
    if assignee != actor and not actor.has_perm(MANAGE_PERM):
        errors["assignee"] = _("Only a manager may give a care task to someone else.")
    if errors:
        raise ValidationError(errors)
    _check_assignee(customer, assignee)
    assert due_on is not None
    with transaction.atomic():
        task = CareTask.objects.create(
            customer=customer,
            kind=kind,
            title=title,
            detail=detail,
            assignee=assignee,
            due_on=due_on,
            occurrence=f"manual:{uuid.uuid4().hex}",
            created_at=timezone.now(),
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="care_task.create",
            obj=task,
            changes={
                "customer": [None, customer.pk],
                "kind": [None, kind],
                "title": [None, title],
                "due_on": [None, due_on.isoformat()],
                "assignee": [None, assignee.pk if assignee else None],
            },
        )
    return task


def _finish(*, actor: User, task: CareTask, status: str, text: str, action: str) -> CareTask:
    if not may_work(actor, task):
        raise PermissionDenied(MANAGE_PERM)
    _check_visible(actor, task)
    with transaction.atomic():
        task = _lock(task)
        _require_open(task)
        if not may_work(actor, task):  # reassigned meanwhile
            raise PermissionDenied(MANAGE_PERM)
        task.status = status
        task.outcome = text
        task.done_at = timezone.now()
        task.done_by = actor
        task.save(update_fields=["status", "outcome", "done_at", "done_by"])
        audit_record(
            actor=actor,
            action=action,
            obj=task,
            changes={"status": [CareTaskStatus.OPEN, status], "outcome": [None, text]},
        )
        if status == CareTaskStatus.DONE:
            for hook in CLOSE_HOOKS.get(task.kind, []):
                hook(task=task, actor=actor)
    return task


def care_task_close(*, actor: User, task: CareTask, outcome: str) -> CareTask:
    """Mark the task done with what was done and how the customer responded."""
    text = _text(outcome, TEXT_MAX, "outcome")
    return _finish(
        actor=actor, task=task, status=CareTaskStatus.DONE, text=text, action="care_task.close"
    )


def care_task_cancel(*, actor: User, task: CareTask, reason: str) -> CareTask:
    """Drop the task (no longer needed), saying why."""
    text = _text(reason, TEXT_MAX, "reason")
    return _finish(
        actor=actor,
        task=task,
        status=CareTaskStatus.CANCELLED,
        text=text,
        action="care_task.cancel",
    )


def care_task_reassign(*, actor: User, task: CareTask, assignee: User | None) -> CareTask:
    """Give an open task to someone who may see its customer, or back to the pool (None)."""
    if not may_reassign(actor):
        raise PermissionDenied(MANAGE_PERM)
    _check_visible(actor, task)
    _check_assignee(task.customer, assignee)
    with transaction.atomic():
        task = _lock(task)
        _require_open(task)
        before = task.assignee_id
        new = assignee.pk if assignee is not None else None
        if before == new:
            return task
        task.assignee = assignee
        task.save(update_fields=["assignee"])
        audit_record(
            actor=actor, action="care_task.reassign", obj=task, changes={"assignee": [before, new]}
        )
    return task


# --- settings --------------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "anniversary_enabled",
    "anniversary_days_before",
    "warranty_enabled",
    "warranty_days_before",
    "no_contact_enabled",
    "no_contact_days",
    "low_score_enabled",
    "low_score_max",
    "faults_enabled",
    "faults_count",
    "faults_days",
    "task_due_days",
)
# field → (lowest, highest)
SETTINGS_RANGES: dict[str, tuple[int, int]] = {
    "anniversary_days_before": (0, 60),
    "warranty_days_before": (1, 365),
    "no_contact_days": (7, 730),
    "low_score_max": (1, 4),
    "faults_count": (2, 100),
    "faults_days": (1, 365),
    "task_due_days": (0, 90),
}


def care_settings_update(*, actor: User, data: Mapping[str, Any]) -> CareSettings:
    """Change the rule switches and parameters (every number within its range)."""
    require_perm(actor, SETTINGS_PERM)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        raw = data.get(name)
        if name.endswith("_enabled"):
            values[name] = bool(raw)
            continue
        low, high = SETTINGS_RANGES[name]
        if raw is None or raw == "":
            errors[name] = _("Fill in this field.")
            continue
        try:
            number = int(raw)
        except (TypeError, ValueError):
            errors[name] = _("Enter a whole number.")
            continue
        if not low <= number <= high:
            errors[name] = _("Enter a number from %(low)d to %(high)d.") % {
                "low": low,
                "high": high,
            }
            continue
        values[name] = number
    if errors:
        raise ValidationError(errors)
    CareSettings.current()
    with transaction.atomic():
        cs = CareSettings.objects.select_for_update().order_by("id").first()
        assert cs is not None
        before = field_values(cs, SETTINGS_FIELDS)
        for name, value in values.items():
            setattr(cs, name, value)
        cs.updated_by = actor
        cs.save()
        audit_record(
            actor=actor,
            action="care_settings.update",
            obj=cs,
            changes=changes_between(before, field_values(cs, SETTINGS_FIELDS)),
        )
    return cs
