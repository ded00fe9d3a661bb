"""Service-task handlers of the shipped SOPs.

They act as the process (actor None, as the built-in handlers do): whoever completed the task
before was already checked by `task_complete`, and the case timeline names them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers import services as customer_services
from customers.selectors import users_who_see
from devices.models import JointTest, JointTestStatus
from onboarding import fire_pdf, fire_services, services
from onboarding.models import Annex, ServiceContract
from service import surveys
from service.services import after_sales_plan_start
from workflow.engine import EngineError
from workflow.handlers import customer_activate
from workflow.models import Case, TaskStatus
from workflow.notifications import notify
from workflow.registry import DATA_LABELS, HandlerContext, service_handler
from workflow.services import territory_manager


def _reason(ctx: HandlerContext, what: str) -> str:
    return f"{ctx.case.number}: {what}"


def _set_owner(ctx: HandlerContext, owner: User) -> None:
    customer = ctx.case.customer
    if customer.owner_id != owner.pk:
        customer_services.customer_update(actor=None, customer=customer, data={"owner": owner})


DATA_LABELS["auto_assigned"] = _("Assigned by territory")


@service_handler(
    "tobacco.assign_by_territory",
    _("Assign the account manager of the retailer's area"),
    provides=("auto_assigned", "account_manager"),
)
def assign_by_territory(ctx: HandlerContext) -> Mapping[str, Any]:
    manager = territory_manager(ctx.case.customer.region)
    if manager is None:
        return {"auto_assigned": False, "account_manager": None}
    _set_owner(ctx, manager)
    return {"auto_assigned": True, "account_manager": manager.pk}


@service_handler("tobacco.set_owner", _("Make the chosen account manager the owner"))
def set_owner(ctx: HandlerContext) -> None:
    chosen = ctx.data.get("account_manager")
    manager = (
        User.objects.filter(pk=chosen, is_active=True).first() if isinstance(chosen, int) else None
    )
    if manager is None:
        raise EngineError(str(_("The chosen account manager is not an active user.")))
    _set_owner(ctx, manager)


@service_handler("tobacco.apply_registration", _("Write the registration form to the records"))
def apply_registration(ctx: HandlerContext) -> None:
    services.registration_apply(
        actor=None,
        customer=ctx.case.customer,
        data=ctx.data,
        reason=_reason(ctx, str(_("New retailer registration form"))),
    )


@service_handler("tobacco.archive", _("Archive the retailer's data and activate the customer"))
def archive(ctx: HandlerContext) -> None:
    verification = (
        ctx.case.tasks.filter(form_key="tobacco_verification", status=TaskStatus.COMPLETED)
        .select_related("completed_by")
        .order_by("-completed_at", "-id")
        .first()
    )
    services.verification_archive(
        actor=None,
        customer=ctx.case.customer,
        data=ctx.data,
        verified_at=verification.completed_at if verification else None,
        verified_by=verification.completed_by if verification else None,
        reviewer=ctx.actor,
        reason=_reason(ctx, str(_("Archived after review"))),
    )
    customer_activate(ctx)


# --- the fire-monitoring onboarding SOP ----------------------------------------------------------


def _notify_case(recipients: list[User], case: Case, *, kind: str, text: str) -> int:
    """An in-app notification (and e-mail) about a case, linking to the case page."""
    url = reverse("workflow:case", args=[case.pk])
    return notify(recipients, kind=kind, text=text, task=None, url=url)


def _role_users(role: str, case: Case) -> list[User]:
    return list(
        users_who_see(
            case.customer, User.objects.filter(is_active=True, groups__role__code=role)
        ).distinct()
    )


@service_handler(
    "fire.release_installation",
    _("Tell engineering that installation may start"),
    provides=("installation_released",),
)
def release_installation(ctx: HandlerContext) -> Mapping[str, Any]:
    case = ctx.case
    text = str(_("Drawings of %(customer)s verified: installation may start (%(case)s)")) % {
        "customer": case.customer.name,
        "case": case.number,
    }
    _notify_case(_role_users("engineer", case), case, kind="release", text=text)
    return {"installation_released": True}


@service_handler("fire.completion_notice", _("Send the installation completion notice to market"))
def completion_notice(ctx: HandlerContext) -> None:
    case = ctx.case
    test = (
        JointTest.objects.filter(case=case, status=JointTestStatus.PASSED)
        .order_by("-finished_at")
        .first()
    )
    fire_pdf.file_annex(case, Annex.COMPLETION, actor=ctx.actor, extra={"joint_test": test})
    text = str(
        _("Installation completion notice: %(customer)s is installed and tested (%(case)s)")
    ) % {"customer": case.customer.name, "case": case.number}
    recipients = [case.started_by] if case.started_by else []
    recipients += _role_users("market_manager", case)
    _notify_case([u for u in recipients if u is not None], case, kind="notice", text=text)


@service_handler(
    "fire.go_live",
    _("Customer goes live: warranty and after-sales service start"),
    provides=("warranty_ends_on",),
)
def go_live(ctx: HandlerContext) -> Mapping[str, Any]:
    case = ctx.case
    raw = ctx.data.get("handed_over_on")
    day = dt.date.fromisoformat(str(raw)[:10]) if raw else timezone.localdate()
    customer_activate(ctx)
    ends = fire_services.warranty_start(case=case, handed_over_on=day)
    record = fire_services.installation_file(case)
    contract = ServiceContract.objects.filter(case=case).first()
    after_sales_plan_start(
        actor=None,
        customer=case.customer,
        starts_on=day,
        case=case,
        collector=record.collector,
        months=contract.warranty_months if contract else 12,
    )
    surveys.survey_send(actor=None, customer=case.customer, trigger="handover", case=case)
    return {"warranty_ends_on": ends.isoformat() if ends else None}


@service_handler("fire.archive", _("Freeze the case's documents (archive)"))
def archive_case(ctx: HandlerContext) -> None:
    fire_services.case_archive(actor=ctx.actor, case=ctx.case)
