"""Key accounts (关键客户, CRM handbook ch. 6): flagging by hand or by rule, the key-account
profile (decision makers, history, risks, opportunities, strategy), the care plan whose items
become care tasks for the owner, and the periodic satisfaction review.

Writes are the `<entity>_<verb>` functions below (atomic, permission-checked, audited); reads
that a user sees are filtered to the customers that user may see. A plan item is done when its
care task is done (tasks are closed on the care-task pages); a recorded review closes the open
review task of its account.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record, changes_between, field_values
from care.models import (
    CareKind,
    CarePlanItem,
    CarePlanKind,
    CareTask,
    CareTaskStatus,
    DecisionMaker,
    DecisionMakerAttitude,
    KeyAccount,
    KeyAccountEvent,
    KeyAccountEventKind,
    KeyAccountRule,
    KeyAccountRuleKind,
    KeyAccountSettings,
    KeyAccountSource,
    SatisfactionReview,
)
from customers.models import Contact, Customer, CustomerCategory, CustomerStatus, Segment
from customers.selectors import customers_visible_to, region_subtree_ids

VIEW_PERM = "care.view_keyaccount"
CHANGE_PERM = "care.change_keyaccount"
MANAGE_ALL_PERM = "care.manage_all_keyaccounts"
RULES_PERM = "care.manage_keyaccount_rules"
EXPORT_PERM = "care.export_keyaccounts"

DEFAULT_REVIEW_MONTHS = 3
MAX_REVIEW_MONTHS = 24
PAGE_SIZE = 50
EXPORT_MAX_ROWS = 20_000
BATCH = 1000
VALUE_CLASSES = ("A", "B", "C")
DAILY_HOUR = 3  # local time; the value classes are recomputed nightly after 02:00


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def key_account_settings() -> KeyAccountSettings:
    found = KeyAccountSettings.objects.order_by("pk").first()
    return found if found is not None else KeyAccountSettings.objects.create()


# --- who may ---------------------------------------------------------------------------------


def can_manage(user: User, account: KeyAccount) -> bool:
    """Owners (and the customer's account manager) manage their own key accounts; holders of
    manage_all_keyaccounts manage every key account they may see."""
    if not user.is_active or not user.has_perm(CHANGE_PERM):
        return False
    if user.has_perm(MANAGE_ALL_PERM):
        return True
    return user.pk in (account.owner_id, account.customer.owner_id)


def can_flag(user: User, customer: Customer) -> bool:
    if not user.is_active or not user.has_perm(CHANGE_PERM):
        return False
    return user.has_perm(MANAGE_ALL_PERM) or customer.owner_id == user.pk


def _require_manage(user: User, account: KeyAccount) -> None:
    if not can_manage(user, account):
        raise PermissionDenied(CHANGE_PERM)


def _require_active(account: KeyAccount) -> None:
    if not account.is_active:
        raise ValidationError(_("This customer is no longer a key account."))


def _reason(reason: str, field_name: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError({field_name: _("Fill in the reason.")})
    return text[:200]


def _check_owner(owner: User | None) -> None:
    if owner is not None and not owner.is_active:
        raise ValidationError({"owner": _("The owner must be an active user.")})


def _check_months(months: int) -> None:
    if not 1 <= months <= MAX_REVIEW_MONTHS:
        raise ValidationError({"review_months": _("The review interval must be 1 to 24 months.")})


# --- care tasks of a key account -------------------------------------------------------------


def _open_tasks(account: KeyAccount) -> QuerySet[CareTask]:
    return CareTask.objects.filter(
        Q(plan_item__key_account=account) | Q(occurrence__startswith=f"review:{account.pk}:"),
        customer_id=account.customer_id,
        status=CareTaskStatus.OPEN,
    )


def _close_tasks(
    tasks: QuerySet[CareTask], *, status: str, actor: User | None, outcome: str
) -> int:
    return tasks.update(status=status, done_at=timezone.now(), done_by=actor, outcome=outcome)


def _plan_task_title(kind: str, title: str) -> str:
    return f"{CarePlanKind(kind).label}: {title}"[:200]


# --- flagging ----------------------------------------------------------------------------------


@transaction.atomic
def key_account_flag(
    *,
    actor: User,
    customer: Customer,
    reason: str,
    owner: User | None = None,
    review_months: int = DEFAULT_REVIEW_MONTHS,
) -> KeyAccount:
    """Flag `customer` as key account (again, keeping its profile, plan and reviews, when it
    was unflagged before). The owner defaults to the customer's account manager."""
    if not can_flag(actor, customer):
        raise PermissionDenied(CHANGE_PERM)
    text = _reason(reason)
    owner = owner if owner is not None else customer.owner
    _check_owner(owner)
    _check_months(review_months)
    now = timezone.now()
    account = KeyAccount.objects.select_for_update().filter(customer=customer).first()
    if account is not None and account.is_active:
        raise ValidationError(_("This customer is already a key account."))
    before = field_values(account) if account is not None else {}
    if account is None:
        account = KeyAccount(customer=customer)
    account.owner = owner
    account.is_active = True
    account.source = KeyAccountSource.MANUAL
    account.rule = None
    account.reason = text
    account.flagged_at = now
    account.flagged_by = actor
    account.unflagged_at = None
    account.unflag_reason = ""
    account.review_months = review_months
    account.next_review_on = add_months(timezone.localdate(), review_months)
    account.updated_by = actor
    account.save()
    KeyAccountEvent.objects.create(
        key_account=account, kind=KeyAccountEventKind.FLAGGED, reason=text, at=now, actor=actor
    )
    audit_record(
        actor=actor,
        action="key_account.flag",
        obj=account,
        changes=changes_between(before, field_values(account)),
    )
    return account


@transaction.atomic
def key_account_unflag(*, actor: User, account: KeyAccount, reason: str) -> KeyAccount:
    """No longer a key account: history kept; open plan and review tasks are cancelled; rules
    do not flag it again unless asked to."""
    _require_manage(actor, account)
    _require_active(account)
    text = _reason(reason)
    now = timezone.now()
    account.is_active = False
    account.unflagged_at = now
    account.unflag_reason = text
    account.updated_by = actor
    account.save()
    cancelled = _close_tasks(
        _open_tasks(account),
        status=CareTaskStatus.CANCELLED,
        actor=actor,
        outcome=_("No longer a key account: %(reason)s") % {"reason": text},
    )
    KeyAccountEvent.objects.create(
        key_account=account, kind=KeyAccountEventKind.UNFLAGGED, reason=text, at=now, actor=actor
    )
    audit_record(
        actor=actor,
        action="key_account.unflag",
        obj=account,
        changes={"reason": text, "tasks_cancelled": cancelled},
    )
    return account


PROFILE_FIELDS = ("owner", "review_months", "history", "risks", "opportunities", "strategy")


@transaction.atomic
def key_account_update(*, actor: User, account: KeyAccount, **data: Any) -> KeyAccount:
    """Edit the profile, the owner and the review interval. A new owner takes over the open
    plan and review tasks; a new interval moves the next review (its open task is cancelled and
    the daily run opens the one for the new date)."""
    _require_manage(actor, account)
    _require_active(account)
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    owner_changed = "owner" in data and data["owner"] != account.owner
    if owner_changed and not actor.has_perm(MANAGE_ALL_PERM) and data["owner"] != actor:
        # An owner may hand the account to someone else only through a manager.
        raise ValidationError(
            {"owner": _("Only a manager may give the key account to another owner.")}
        )
    if "owner" in data:
        _check_owner(data["owner"])
    if "review_months" in data:
        _check_months(int(data["review_months"]))
    before = field_values(account)
    old_months = account.review_months
    for name, value in data.items():
        setattr(account, name, value.strip() if isinstance(value, str) else value)
    account.updated_by = actor
    if account.review_months != old_months:
        last = account.reviews.order_by("-reviewed_on").values_list("reviewed_on", flat=True)
        base = last.first() or timezone.localtime(account.flagged_at).date()
        new_due = add_months(base, account.review_months)
        if new_due != account.next_review_on:
            _close_tasks(
                CareTask.objects.filter(
                    occurrence__startswith=f"review:{account.pk}:", status=CareTaskStatus.OPEN
                ),
                status=CareTaskStatus.CANCELLED,
                actor=actor,
                outcome=_("The review interval changed."),
            )
            account.next_review_on = new_due
    account.save()
    if owner_changed:
        _open_tasks(account).update(assignee=account.owner)
        KeyAccountEvent.objects.create(
            key_account=account,
            kind=KeyAccountEventKind.OWNER,
            reason=str(account.owner or "—")[:200],
            at=timezone.now(),
            actor=actor,
        )
    audit_record(
        actor=actor,
        action="key_account.update",
        obj=account,
        changes=changes_between(before, field_values(account)),
    )
    return account


# --- decision makers -------------------------------------------------------------------------


@transaction.atomic
def decision_maker_save(
    *,
    actor: User,
    account: KeyAccount,
    maker: DecisionMaker | None = None,
    contact: Contact | None = None,
    name: str = "",
    position: str = "",
    decision_role: str = "",
    attitude: str = DecisionMakerAttitude.UNKNOWN,
    notes: str = "",
) -> DecisionMaker:
    """Add (maker=None) or change a decision maker of the key account."""
    _require_manage(actor, account)
    _require_active(account)
    if contact is not None and contact.customer_id != account.customer_id:
        raise ValidationError({"contact": _("Choose a contact of this customer.")})
    name = name.strip()
    if contact is None and not name:
        raise ValidationError({"name": _("Choose a contact or fill in the name.")})
    if attitude not in DecisionMakerAttitude.values:
        raise ValidationError({"attitude": _("Choose an attitude from the list.")})
    if maker is not None and maker.key_account_id != account.pk:
        raise Http404
    before = field_values(maker) if maker is not None else {}
    maker = maker or DecisionMaker(key_account=account)
    maker.contact = contact
    # A contact's name is read from the contact (so an erasure of the contact reaches it here).
    maker.name = name if contact is None else ""
    maker.position = position.strip()
    maker.decision_role = decision_role.strip()
    maker.attitude = attitude
    maker.notes = notes.strip()
    maker.save()
    audit_record(
        actor=actor,
        action="key_account.decision_maker_save",
        obj=maker,
        changes={
            "key_account": account.pk,
            **changes_between(before, field_values(maker)),
        },
    )
    return maker


@transaction.atomic
def decision_maker_delete(*, actor: User, maker: DecisionMaker) -> None:
    account = maker.key_account
    _require_manage(actor, account)
    _require_active(account)
    audit_record(
        actor=actor,
        action="key_account.decision_maker_delete",
        obj=maker,
        changes={"key_account": account.pk, **changes_between(field_values(maker), {})},
    )
    maker.delete()


# --- care plan -------------------------------------------------------------------------------


def _check_plan(kind: str, title: str, budget: Decimal | None) -> str:
    if kind not in CarePlanKind.values:
        raise ValidationError({"kind": _("Choose a kind from the list.")})
    text = title.strip()
    if not text:
        raise ValidationError({"title": _("Fill in the title.")})
    if budget is not None and budget < 0:
        raise ValidationError({"budget": _("The budget cannot be negative.")})
    return text[:120]


@transaction.atomic
def plan_item_create(
    *,
    actor: User,
    account: KeyAccount,
    kind: str,
    planned_on: dt.date,
    title: str,
    notes: str = "",
    budget: Decimal | None = None,
) -> CarePlanItem:
    """A plan item and its care task for the owner, due on the planned date."""
    _require_manage(actor, account)
    _require_active(account)
    text = _check_plan(kind, title, budget)
    now = timezone.now()
    item = CarePlanItem.objects.create(
        key_account=account,
        kind=kind,
        planned_on=planned_on,
        title=text,
        notes=notes.strip(),
        budget=budget,
        created_at=now,
        created_by=actor,
    )
    item.task = CareTask.objects.create(
        customer_id=account.customer_id,
        kind=CareKind.PLAN,
        title=_plan_task_title(kind, text),
        detail=item.notes,
        assignee=account.owner,
        due_on=planned_on,
        occurrence=f"plan:{item.pk}",
        created_at=now,
        created_by=actor,
    )
    item.save(update_fields=["task"])
    audit_record(
        actor=actor,
        action="key_account.plan_item_create",
        obj=item,
        changes={"key_account": account.pk, **changes_between({}, field_values(item))},
    )
    return item


@transaction.atomic
def plan_item_update(
    *,
    actor: User,
    item: CarePlanItem,
    kind: str,
    planned_on: dt.date,
    title: str,
    notes: str = "",
    budget: Decimal | None = None,
) -> CarePlanItem:
    """Change a plan item; a new date moves its task while the task is open."""
    account = item.key_account
    _require_manage(actor, account)
    _require_active(account)
    text = _check_plan(kind, title, budget)
    before = field_values(item)
    item.kind, item.planned_on, item.title = kind, planned_on, text
    item.notes, item.budget = notes.strip(), budget
    item.save()
    if item.task_id is not None:
        CareTask.objects.filter(pk=item.task_id, status=CareTaskStatus.OPEN).update(
            due_on=planned_on, title=_plan_task_title(kind, text), detail=item.notes
        )
    audit_record(
        actor=actor,
        action="key_account.plan_item_update",
        obj=item,
        changes=changes_between(before, field_values(item)),
    )
    return item


@transaction.atomic
def plan_item_delete(*, actor: User, item: CarePlanItem) -> None:
    """Remove a plan item; its open task is cancelled (a done task stays done)."""
    account = item.key_account
    _require_manage(actor, account)
    cancelled = 0
    if item.task_id is not None:
        cancelled = _close_tasks(
            CareTask.objects.filter(pk=item.task_id, status=CareTaskStatus.OPEN),
            status=CareTaskStatus.CANCELLED,
            actor=actor,
            outcome=_("The care plan item was removed."),
        )
    audit_record(
        actor=actor,
        action="key_account.plan_item_delete",
        obj=item,
        changes={
            "key_account": account.pk,
            "task_cancelled": cancelled,
            **changes_between(field_values(item), {}),
        },
    )
    item.delete()


class PlanState:
    DONE = "done"
    CANCELLED = "cancelled"
    OVERDUE = "overdue"
    PLANNED = "planned"


def plan_item_state(item: CarePlanItem, today: dt.date) -> str:
    task = item.task
    if task is not None and task.status == CareTaskStatus.DONE:
        return PlanState.DONE
    if task is not None and task.status == CareTaskStatus.CANCELLED:
        return PlanState.CANCELLED
    return PlanState.OVERDUE if item.planned_on < today else PlanState.PLANNED


# --- satisfaction reviews --------------------------------------------------------------------


@transaction.atomic
def review_record(
    *,
    actor: User,
    account: KeyAccount,
    reviewed_on: dt.date,
    satisfaction: int,
    summary: str,
    actions: str = "",
) -> SatisfactionReview:
    """Record a satisfaction review: the open review task is done and the next review falls
    due `review_months` after the latest review."""
    _require_manage(actor, account)
    _require_active(account)
    today = timezone.localdate()
    if reviewed_on > today:
        raise ValidationError({"reviewed_on": _("The review date cannot be in the future.")})
    if not 1 <= int(satisfaction) <= 5:
        raise ValidationError({"satisfaction": _("Satisfaction is a score from 1 to 5.")})
    text = summary.strip()
    if not text:
        raise ValidationError({"summary": _("Fill in the summary.")})
    review = SatisfactionReview.objects.create(
        key_account=account,
        reviewed_on=reviewed_on,
        reviewer=actor,
        satisfaction=int(satisfaction),
        summary=text,
        actions=actions.strip(),
        created_at=timezone.now(),
    )
    latest = account.reviews.order_by("-reviewed_on").values_list("reviewed_on", flat=True)[0]
    account.next_review_on = add_months(latest, account.review_months)
    account.updated_by = actor
    account.save(update_fields=["next_review_on", "updated_by", "updated_at"])
    closed = _close_tasks(
        CareTask.objects.filter(
            occurrence__startswith=f"review:{account.pk}:", status=CareTaskStatus.OPEN
        ),
        status=CareTaskStatus.DONE,
        actor=actor,
        outcome=_("Satisfaction review recorded on %(day)s (score %(score)s).")
        % {"day": reviewed_on.isoformat(), "score": review.satisfaction},
    )
    audit_record(
        actor=actor,
        action="key_account.review_record",
        obj=review,
        changes={
            "key_account": account.pk,
            "satisfaction": review.satisfaction,
            "next_review_on": account.next_review_on,
            "tasks_done": closed,
        },
    )
    return review


def review_tasks_create(today: dt.date | None = None) -> int:
    """One REVIEW care task for the owner per key account and due date, opened `review_lead_days`
    before the date; running it again the same day (or every day) never repeats a task."""
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=key_account_settings().review_lead_days)
    due = list(
        KeyAccount.objects.filter(is_active=True, next_review_on__lte=horizon)
        .select_related("customer")
        .order_by("pk")
    )
    if not due:
        return 0
    wanted = {
        f"review:{a.pk}:{a.next_review_on.isoformat()}": (a, a.next_review_on)
        for a in due
        if a.next_review_on is not None
    }
    existing = set(
        CareTask.objects.filter(occurrence__in=list(wanted)).values_list("occurrence", flat=True)
    )
    now = timezone.now()
    rows = [
        CareTask(
            customer_id=account.customer_id,
            kind=CareKind.REVIEW,
            title=_("Satisfaction review: %(customer)s") % {"customer": account.customer.name},
            detail=_("The periodic satisfaction review of the key account is due."),
            assignee_id=account.owner_id,
            due_on=due_on,
            occurrence=occurrence,
            created_at=now,
        )
        for occurrence, (account, due_on) in wanted.items()
        if occurrence not in existing
    ]
    with transaction.atomic():
        CareTask.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
        if rows:
            audit_record(
                actor=None,
                action="key_account.review_tasks_create",
                object_type="care.caretask",
                changes={"tasks": len(rows)},
            )
    return len(rows)


# --- rules -----------------------------------------------------------------------------------


def rule_describe(rule: KeyAccountRule) -> str:
    if rule.kind == KeyAccountRuleKind.VALUE_CLASS:
        return _("Value class %(klass)s") % {"klass": rule.value_class}
    if rule.kind == KeyAccountRuleKind.CATEGORY:
        label = dict(CustomerCategory.choices).get(rule.category, rule.category)
        return _("Category: %(category)s") % {"category": label}
    if rule.kind == KeyAccountRuleKind.CONTRACT_VALUE:
        return _("Contract value at least %(amount)s yuan") % {"amount": rule.min_contract_value}
    return _("Segment: %(segment)s") % {"segment": rule.segment}


def rule_customers(rule: KeyAccountRule) -> QuerySet[Customer]:
    """Every customer the rule matches (not merged, not terminated), whoever may see them."""
    qs = Customer.objects.filter(merged_into__isnull=True).exclude(status=CustomerStatus.TERMINATED)
    if rule.kind == KeyAccountRuleKind.VALUE_CLASS:
        return qs.filter(value__abc_class=rule.value_class)
    if rule.kind == KeyAccountRuleKind.CATEGORY:
        return qs.filter(category=rule.category)
    if rule.kind == KeyAccountRuleKind.CONTRACT_VALUE:
        from onboarding.models import ServiceContract

        totals = (
            ServiceContract.objects.order_by()
            .values("customer_id")
            .annotate(total=Sum("annual_fee"))
            .filter(total__gte=rule.min_contract_value or 0)
            .values("customer_id")
        )
        return qs.filter(pk__in=totals)
    from customers.segments import segment_q

    assert rule.segment is not None
    return qs.filter(segment_q(rule.segment.definition))


def _check_rule(
    kind: str,
    value_class: str,
    category: str,
    min_contract_value: Decimal | None,
    segment: Segment | None,
) -> dict[str, Any]:
    """The rule's condition fields, only the one its kind reads kept."""
    clean: dict[str, Any] = {
        "value_class": "",
        "category": "",
        "min_contract_value": None,
        "segment": None,
    }
    if kind == KeyAccountRuleKind.VALUE_CLASS:
        if value_class not in VALUE_CLASSES:
            raise ValidationError({"value_class": _("Choose a value class.")})
        clean["value_class"] = value_class
    elif kind == KeyAccountRuleKind.CATEGORY:
        if category not in CustomerCategory.values:
            raise ValidationError({"category": _("Choose a customer category.")})
        clean["category"] = category
    elif kind == KeyAccountRuleKind.CONTRACT_VALUE:
        if min_contract_value is None or min_contract_value <= 0:
            raise ValidationError({"min_contract_value": _("Fill in a contract value above zero.")})
        clean["min_contract_value"] = min_contract_value
    elif kind == KeyAccountRuleKind.SEGMENT:
        if segment is None:
            raise ValidationError({"segment": _("Choose a segment.")})
        clean["segment"] = segment
    else:
        raise ValidationError({"kind": _("Choose a condition from the list.")})
    return clean


@transaction.atomic
def rule_save(
    *,
    actor: User,
    rule: KeyAccountRule | None = None,
    name: str,
    kind: str,
    value_class: str = "",
    category: str = "",
    min_contract_value: Decimal | None = None,
    segment: Segment | None = None,
    is_active: bool = True,
) -> KeyAccountRule:
    if not actor.has_perm(RULES_PERM):
        raise PermissionDenied(RULES_PERM)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Fill in the name.")})
    clash = KeyAccountRule.objects.filter(name=name)
    if rule is not None:
        clash = clash.exclude(pk=rule.pk)
    if clash.exists():
        raise ValidationError({"name": _("Another rule already has this name.")})
    conditions = _check_rule(kind, value_class, category, min_contract_value, segment)
    before = field_values(rule) if rule is not None else {}
    rule = rule or KeyAccountRule(created_at=timezone.now(), created_by=actor)
    rule.name, rule.kind, rule.is_active = name, kind, is_active
    for key, value in conditions.items():
        setattr(rule, key, value)
    rule.save()
    audit_record(
        actor=actor,
        action="key_account.rule_save",
        obj=rule,
        changes=changes_between(before, field_values(rule)),
    )
    return rule


@transaction.atomic
def rule_delete(*, actor: User, rule: KeyAccountRule) -> None:
    """Delete a rule; the key accounts it flagged stay, with their reason."""
    if not actor.has_perm(RULES_PERM):
        raise PermissionDenied(RULES_PERM)
    audit_record(
        actor=actor,
        action="key_account.rule_delete",
        obj=rule,
        changes=changes_between(field_values(rule), {}),
    )
    rule.delete()


@dataclass
class RulesResult:
    flagged: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def _flag_by_rule(
    rule: KeyAccountRule, actor: User | None, reflag_removed: bool, today: dt.date
) -> int:
    candidates = rule_customers(rule).exclude(key_account__is_active=True)
    if not reflag_removed:
        candidates = candidates.exclude(key_account__isnull=False)
    found = list(candidates.order_by("pk").values_list("pk", "owner_id"))
    now = timezone.now()
    common = {
        "is_active": True,
        "source": KeyAccountSource.RULE,
        "rule": rule,
        "reason": (_("By rule: %(name)s") % {"name": rule.name})[:200],
        "flagged_at": now,
        "flagged_by": actor,
        "unflagged_at": None,
        "unflag_reason": "",
    }
    # In batches: a broad rule (every class A customer) may match many thousands.
    for start in range(0, len(found), BATCH):
        _flag_batch(dict(found[start : start + BATCH]), common, today)
    return len(found)


def _flag_batch(owners: dict[int, int | None], common: dict[str, Any], today: dt.date) -> None:
    existing = {
        a.customer_id: a
        for a in KeyAccount.objects.filter(customer_id__in=list(owners), is_active=False)
    }
    KeyAccount.objects.bulk_create(
        [
            KeyAccount(
                customer_id=pk,
                owner_id=owner_id,
                next_review_on=add_months(today, DEFAULT_REVIEW_MONTHS),
                **common,
            )
            for pk, owner_id in owners.items()
            if pk not in existing
        ]
    )
    for account in existing.values():
        for key, value in common.items():
            setattr(account, key, value)
        account.owner_id = account.owner_id or owners[account.customer_id]
        account.next_review_on = add_months(today, account.review_months)
    KeyAccount.objects.bulk_update(list(existing.values()), [*common, "owner", "next_review_on"])
    flagged = KeyAccount.objects.filter(
        customer_id__in=list(owners), rule=common["rule"], flagged_at=common["flagged_at"]
    ).values_list("pk", flat=True)
    KeyAccountEvent.objects.bulk_create(
        KeyAccountEvent(
            key_account_id=pk,
            kind=KeyAccountEventKind.FLAGGED,
            reason=common["reason"],
            at=common["flagged_at"],
            actor=common["flagged_by"],
        )
        for pk in flagged
    )


@transaction.atomic
def key_accounts_apply_rules(
    *,
    actor: User | None,
    rules: Iterable[KeyAccountRule] | None = None,
    reflag_removed: bool = False,
    today: dt.date | None = None,
) -> RulesResult:
    """Flag the customers matching the active rules that are not key accounts yet. A customer
    unflagged by hand is flagged again only with `reflag_removed` (an explicit request)."""
    if actor is not None and not actor.has_perm(RULES_PERM):
        raise PermissionDenied(RULES_PERM)
    today = today or timezone.localdate()
    chosen = list(rules) if rules is not None else list(KeyAccountRule.objects.all())
    result = RulesResult()
    now = timezone.now()
    for rule in chosen:
        if not rule.is_active:
            continue
        count = _flag_by_rule(rule, actor, reflag_removed, today)
        KeyAccountRule.objects.filter(pk=rule.pk).update(last_run_at=now, last_flagged=count)
        result.by_rule[rule.name] = count
        result.flagged += count
    audit_record(
        actor=actor,
        action="key_account.apply_rules",
        object_type="care.keyaccount",
        changes={
            "flagged": result.flagged,
            "by_rule": result.by_rule,
            "reflag_removed": reflag_removed,
        },
    )
    return result


def key_accounts_daily(*, today: dt.date | None = None, only_if_due: bool = False) -> bool:
    """The daily run: flag by rule, then open the review tasks that fall due. With
    `only_if_due` (the scheduler's call every few minutes) it runs once per day, after 03:00
    so that a rule on the value class reads the classes recomputed after 02:00."""
    if only_if_due and timezone.localtime().hour < DAILY_HOUR:
        return False
    today = today or timezone.localdate()
    with transaction.atomic():
        settings = KeyAccountSettings.objects.select_for_update().filter(
            pk=key_account_settings().pk
        )[0]
        if only_if_due and settings.daily_run_on == today:
            return False
        settings.daily_run_on = today
        settings.save(update_fields=["daily_run_on"])
    key_accounts_apply_rules(actor=None, today=today)
    review_tasks_create(today)
    return True


# --- reads -----------------------------------------------------------------------------------


def key_accounts_visible_to(user: User) -> QuerySet[KeyAccount]:
    if not user.is_active or not user.has_perm(VIEW_PERM):
        return KeyAccount.objects.none()
    return KeyAccount.objects.filter(customer__in=customers_visible_to(user).values("pk"))


def key_account_get(user: User, pk: int) -> KeyAccount:
    """The key account, or 404 when the user may not see its customer."""
    if not user.has_perm(VIEW_PERM):
        raise PermissionDenied(VIEW_PERM)
    found = (
        key_accounts_visible_to(user)
        .select_related("customer", "customer__region", "customer__owner", "owner", "rule")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    return found


@dataclass(frozen=True)
class KeyAccountFilters:
    owner: int | None = None
    region: int | None = None
    value_class: str = ""
    plan_overdue: bool = False
    review_overdue: bool = False
    active: bool = True
    q: str = ""


def _count(items: QuerySet[CarePlanItem]) -> Coalesce:
    counted = items.order_by().values("key_account").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def key_account_list(
    user: User, filters: KeyAccountFilters, today: dt.date | None = None
) -> QuerySet[KeyAccount]:
    """The key accounts `user` may see, filtered, each with its plan progress for this year
    (done/total, cancelled items left out), overdue plan items, next planned item, last
    review and next review due — one query per page."""
    today = today or timezone.localdate()
    qs = key_accounts_visible_to(user).filter(is_active=filters.active)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.region:
        qs = qs.filter(customer__region_id__in=region_subtree_ids([filters.region]))
    if filters.value_class:
        qs = qs.filter(customer__value__abc_class=filters.value_class)
    if filters.q:
        qs = qs.filter(customer__name__icontains=filters.q)
    items = CarePlanItem.objects.filter(key_account=OuterRef("pk"))
    this_year = items.filter(planned_on__year=today.year)
    open_items = items.filter(task__status=CareTaskStatus.OPEN)
    next_item = open_items.filter(planned_on__gte=today).order_by("planned_on", "pk")
    reviews = SatisfactionReview.objects.filter(key_account=OuterRef("pk")).order_by(
        "-reviewed_on", "-pk"
    )
    qs = qs.annotate(
        plan_total=_count(
            this_year.filter(task__status__in=[CareTaskStatus.OPEN, CareTaskStatus.DONE])
        ),
        plan_done=_count(this_year.filter(task__status=CareTaskStatus.DONE)),
        plan_overdue=_count(open_items.filter(planned_on__lt=today)),
        next_planned_on=Subquery(next_item.values("planned_on")[:1]),
        next_planned_title=Subquery(next_item.values("title")[:1]),
        last_review_on=Subquery(reviews.values("reviewed_on")[:1]),
        last_review_score=Subquery(reviews.values("satisfaction")[:1]),
    )
    if filters.plan_overdue:
        qs = qs.filter(plan_overdue__gt=0)
    if filters.review_overdue:
        qs = qs.filter(next_review_on__lt=today)
    return qs.select_related("customer", "customer__region", "customer__value", "owner").order_by(
        F("next_review_on").asc(nulls_last=True), "pk"
    )


def owner_options(user: User) -> list[tuple[int, str]]:
    """The owners of the key accounts `user` may see."""
    ids = key_accounts_visible_to(user).filter(owner__isnull=False).values("owner_id")
    return [
        (u.pk, u.display_name or u.username)
        for u in User.objects.filter(pk__in=ids).order_by("display_name", "pk")
    ]


@dataclass
class PlanProgress:
    done: int
    total: int
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class KeyAccountDetail:
    account: KeyAccount
    year: int
    items: list[tuple[CarePlanItem, str]]
    progress: PlanProgress
    reviews: list[SatisfactionReview]
    makers: list[DecisionMaker]
    events: list[KeyAccountEvent]
    review_task: CareTask | None
    can_manage: bool
    review_overdue: bool


def key_account_detail(
    user: User, account: KeyAccount, year: int | None = None, today: dt.date | None = None
) -> KeyAccountDetail:
    today = today or timezone.localdate()
    year = year or today.year
    items = list(
        account.plan_items.filter(planned_on__year=year)
        .select_related("task", "created_by")
        .order_by("planned_on", "pk")
    )
    states = [(item, plan_item_state(item, today)) for item in items]
    counted = [s for _item, s in states if s != PlanState.CANCELLED]
    progress = PlanProgress(
        done=counted.count(PlanState.DONE),
        total=len(counted),
        overdue=counted.count(PlanState.OVERDUE),
    )
    review_task = (
        CareTask.objects.filter(
            occurrence__startswith=f"review:{account.pk}:", status=CareTaskStatus.OPEN
        )
        .order_by("due_on")
        .first()
    )
    return KeyAccountDetail(
        account=account,
        year=year,
        items=states,
        progress=progress,
        reviews=list(account.reviews.select_related("reviewer")),
        makers=list(account.decision_makers.select_related("contact")),
        events=list(account.events.select_related("actor")),
        review_task=review_task,
        can_manage=can_manage(user, account),
        review_overdue=bool(
            account.is_active and account.next_review_on and account.next_review_on < today
        ),
    )


@dataclass
class KeyAccountCard:
    customer: Customer
    account: KeyAccount | None
    can_flag: bool
    last_review: SatisfactionReview | None


def key_account_card(user: User, customer: Customer) -> KeyAccountCard | None:
    """The key-account card of a customer profile the user may already open; None for those
    without care.view_keyaccount."""
    if not user.has_perm(VIEW_PERM):
        return None
    account = KeyAccount.objects.select_related("owner", "rule").filter(customer=customer).first()
    last = account.reviews.order_by("-reviewed_on", "-pk").first() if account else None
    return KeyAccountCard(
        customer=customer,
        account=account,
        can_flag=(account is None or not account.is_active) and can_flag(user, customer),
        last_review=last,
    )
