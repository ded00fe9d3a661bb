"""Built-in service-task handlers, usable by any process (`ruwang:handler="…"`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from workflow.registry import HandlerContext, service_handler


def _status(ctx: HandlerContext, status: str, reason: str) -> None:
    from customers import services
    from customers.models import STATUS_TRANSITIONS

    customer = ctx.case.customer
    if customer.status == status:
        return
    if status not in STATUS_TRANSITIONS.get(customer.status, ()):
        return  # a customer already further along keeps its status
    services.customer_change_status(
        actor=None, customer=customer, status=status, reason=f"{ctx.case.number}: {reason}"
    )


@service_handler("customer.onboarding", _("Customer becomes onboarding (入网中)"))
def customer_onboarding(ctx: HandlerContext) -> Mapping[str, Any] | None:
    _status(ctx, "onboarding", str(_("Onboarding started")))
    return None


@service_handler("customer.activate", _("Customer becomes active (在网)"))
def customer_activate(ctx: HandlerContext) -> Mapping[str, Any] | None:
    if ctx.case.customer.status == "prospect":
        _status(ctx, "onboarding", str(_("Onboarding started")))
    _status(ctx, "active", str(_("Onboarding completed")))
    return None
