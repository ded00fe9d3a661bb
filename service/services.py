"""Every write to after-sales plans and their revisits: transaction, permission check, audit row."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Department, User
from accounts.services import require_perm
from audit.services import audit_record, changes_between
from customers.models import Customer
from customers.selectors import customer_visible
from devices.models import Collector
from service.models import AfterSalesPlan, RevisitStatus, RevisitTemplate, ScheduledRevisit
from workflow.models import Case

START_PERM = "service.add_aftersalesplan"
CLOSE_PERM = "service.close_revisit"
# The department that serves a plan when the caller names none (工程部, the SOP's after-sales
# team), looked up by its code; a plan without one is still valid.
AFTER_SALES_DEPARTMENT_CODE = "engineering"
MAX_MONTHS = 120


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole calendar months, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last_day))


def _check_customer(actor: User | None, customer: Customer) -> None:
    if actor is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")


def template_months(template: RevisitTemplate) -> list[int]:
    """The month offsets a revisit template lists ("1,3,6,12"; Chinese commas and spaces too)."""
    parts = [p for p in re.split(r"[,，、\s]+", template.months) if p]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= MAX_MONTHS for p in parts):
        raise ValidationError(
            {
                "revisit_months": _(
                    "The revisit template %(name)s must list whole months from 1 to %(max)d, "
                    "separated by commas."
                )
                % {"name": template.name, "max": MAX_MONTHS}
            }
        )
    return sorted({int(p) for p in parts})


def default_revisit_months(months: int) -> list[int]:
    """The offsets of a plan whose caller names none: the default revisit template's, else
    settings.RUWANG_REVISIT_MONTHS; those beyond a shorter plan are dropped (a 6-month
    warranty is revisited at 1, 3 and 6 months)."""
    template = RevisitTemplate.objects.filter(is_default=True).first()
    offsets = (
        template_months(template) if template is not None else list(settings.RUWANG_REVISIT_MONTHS)
    )
    return [m for m in offsets if m <= months]


def _revisit_offsets(months: int, revisit_months: Sequence[int] | None) -> list[int]:
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationError(
            {"months": _("The plan lasts from 1 to %(max)d months.") % {"max": MAX_MONTHS}}
        )
    offsets = default_revisit_months(months) if revisit_months is None else revisit_months
    if any(isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= months for m in offsets):
        raise ValidationError(
            {
                "revisit_months": _("Revisits fall between 1 and %(months)d months after handover.")
                % {"months": months}
            }
        )
    return sorted(set(offsets))


def _default_department() -> Department | None:
    return Department.objects.filter(code=AFTER_SALES_DEPARTMENT_CODE).first()


def after_sales_plan_start(
    *,
    actor: User | None,
    customer: Customer,
    starts_on: dt.date,
    case: Case | None = None,
    collector: Collector | None = None,
    months: int = 12,
    revisit_months: Sequence[int] | None = None,
    department: Department | None = None,
) -> AfterSalesPlan:
    """Start the customer's after-sales service on `starts_on` (the handover day): a plan of
    `months` months and a planned revisit at each month offset (unless given: the default
    revisit template's, else settings.RUWANG_REVISIT_MONTHS, see default_revisit_months).
    Called again for the same case, returns the plan it started before."""
    require_perm(actor, START_PERM)
    _check_customer(actor, customer)
    if case is not None and case.customer_id != customer.pk:
        raise ValidationError({"case": _("The case belongs to another customer.")})
    if collector is not None and collector.customer_id != customer.pk:
        raise ValidationError({"collector": _("The collector is not installed at this customer.")})
    offsets = _revisit_offsets(months, revisit_months)
    with transaction.atomic():
        if case is not None:
            # The case row serialises two handovers of one case (a retried step, a double click).
            Case.objects.select_for_update().filter(pk=case.pk).values_list("pk").first()
            existing = AfterSalesPlan.objects.filter(case=case).first()
            if existing is not None:
                return existing
        plan = AfterSalesPlan.objects.create(
            customer=customer,
            case=case,
            collector=collector,
            starts_on=starts_on,
            ends_on=add_months(starts_on, months),
            department=department or _default_department(),
            created_by=actor,
        )
        ScheduledRevisit.objects.bulk_create(
            ScheduledRevisit(
                plan=plan,
                customer=customer,
                due_on=add_months(starts_on, offset),
                months_after=offset,
            )
            for offset in offsets
        )
        audit_record(
            actor=actor,
            action="after_sales_plan.start",
            obj=plan,
            changes=changes_between(
                {},
                {
                    "customer": customer.pk,
                    "case": case.number if case is not None else None,
                    "collector": collector.serial_number if collector is not None else None,
                    "starts_on": starts_on,
                    "ends_on": plan.ends_on,
                    "department": plan.department_id,
                    "revisit_months": offsets,
                },
            ),
        )
    return plan


def _close(
    *,
    actor: User | None,
    revisit: ScheduledRevisit,
    status: str,
    note: str,
    action: str,
    method: str = "",
    findings: str = "",
) -> ScheduledRevisit:
    require_perm(actor, CLOSE_PERM)
    _check_customer(actor, revisit.customer)
    with transaction.atomic():
        current = ScheduledRevisit.objects.select_for_update().get(pk=revisit.pk)
        if current.status != RevisitStatus.PLANNED:
            raise ValidationError(
                _("This revisit is already closed (%(status)s).")
                % {"status": current.get_status_display()}
            )
        revisit.status = status
        revisit.note = note
        revisit.method = method
        revisit.findings = findings
        revisit.done_at = timezone.now()
        revisit.done_by = actor
        revisit.save(update_fields=["status", "note", "method", "findings", "done_at", "done_by"])
        changes = {"status": [RevisitStatus.PLANNED, status], "note": [None, note or None]}
        if method or findings:
            changes |= {"method": [None, method or None], "findings": [None, findings or None]}
        audit_record(actor=actor, action=action, obj=revisit, changes=changes)
    return revisit


REVISIT_METHODS = ("phone", "visit")


def revisit_complete(
    *,
    actor: User | None,
    revisit: ScheduledRevisit,
    note: str = "",
    method: str = "",
    findings: str = "",
) -> ScheduledRevisit:
    """Record that the customer was revisited, with what came of it: a note, or (the revisit
    form of a revisit ticket) how the customer was reached and what was found."""
    if method and method not in REVISIT_METHODS:
        raise ValidationError({"method": _("Choose phone or visit.")})
    return _close(
        actor=actor,
        revisit=revisit,
        status=RevisitStatus.DONE,
        note=note.strip(),
        action="revisit.complete",
        method=method,
        findings=findings.strip(),
    )


def revisit_cancel(
    *, actor: User | None, revisit: ScheduledRevisit, reason: str
) -> ScheduledRevisit:
    """Drop a planned revisit, saying why (the reason is kept as its note)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the revisit is cancelled.")})
    return _close(
        actor=actor,
        revisit=revisit,
        status=RevisitStatus.CANCELLED,
        note=reason,
        action="revisit.cancel",
    )
