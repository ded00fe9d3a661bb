"""Reads of collectors' warranties (质保): those ending soon are renewal opportunities for the
market department. A collector's warranty runs from the handover for the contract's warranty
months (onboarding.fire_services.warranty_start); its contract is found through the onboarding
case's installation file (入网案卷)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from customers.selectors import customers_visible_to
from devices.models import Collector, CollectorStatus
from onboarding.models import ServiceContract

VIEW_PERM = "service.view_ticket"
EXPORT_PERM = "customers.export_customers"
WINDOWS = (30, 60, 90)
DEFAULT_WINDOW = 30
# Collectors that serve a customer (not in stock, not retired).
SERVING = (
    CollectorStatus.INSTALLED,
    CollectorStatus.ONLINE,
    CollectorStatus.OFFLINE,
    CollectorStatus.FAULTY,
)


def _serving_visible(user: User) -> QuerySet[Collector]:
    if not user.has_perm(VIEW_PERM):
        return Collector.objects.none()
    qs = Collector.objects.filter(status__in=SERVING, customer__isnull=False)
    if user.has_perm("customers.view_all_customers"):
        return qs.filter(customer__merged_into__isnull=True)
    return qs.filter(customer__in=customers_visible_to(user).values("id"))


def warranties_expiring(
    user: User, *, days: int, today: dt.date | None = None
) -> QuerySet[Collector]:
    """Collectors of customers the user may see whose warranty ends today or within `days`
    days, soonest first, each with `contract_number` (its onboarding contract, or None)."""
    today = today or timezone.localdate()
    contract = (
        ServiceContract.objects.filter(case__installation_file__collector=OuterRef("pk"))
        .order_by("-signed_on", "-id")
        .values("number")[:1]
    )
    return (
        _serving_visible(user)
        .filter(warranty_ends_on__gte=today, warranty_ends_on__lte=today + dt.timedelta(days=days))
        .annotate(contract_number=Subquery(contract))
        .select_related("customer", "site")
        .order_by("warranty_ends_on", "id")
    )


def warranty_counts(user: User, today: dt.date | None = None) -> dict[int, int]:
    """How many warranties end within each window (30, 60, 90 days), in one query."""
    today = today or timezone.localdate()
    counts = (
        _serving_visible(user)
        .filter(warranty_ends_on__gte=today)
        .aggregate(
            **{
                f"d{days}": Count(
                    "id", filter=Q(warranty_ends_on__lte=today + dt.timedelta(days=days))
                )
                for days in WINDOWS
            }
        )
    )
    return {days: counts[f"d{days}"] for days in WINDOWS}
