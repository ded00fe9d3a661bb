"""Service-task handlers of the shipped SOPs.

They act as the process (actor None, as the built-in handlers do): whoever completed the task
before was already checked by `task_complete`, and the case timeline names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers import services as customer_services
from onboarding import services
from workflow.engine import EngineError
from workflow.handlers import customer_activate
from workflow.models import TaskStatus
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
