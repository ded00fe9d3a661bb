"""Reads of after-sales plans and revisits, limited to what the user may see.

A plan and its revisits are visible with their customer (customers.selectors' visibility rules).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from customers.models import Customer
from customers.selectors import (
    CustomerFilters,
    customer_query,
    customer_visible,
    customers_visible_to,
)
from service.models import AfterSalesPlan, RevisitStatus, ScheduledRevisit

VIEW_PERM = "service.view_scheduledrevisit"
CLOSE_PERM = "service.close_revisit"
DUE_SOON_DAYS = 30

# The revisit list's views: (key, what it shows).
SHOW_OVERDUE = "overdue"
SHOW_DUE_SOON = "due_soon"
SHOW_PLANNED = "planned"
SHOW_DONE = "done"
SHOW_CANCELLED = "cancelled"
SHOW_ALL = "all"
SHOW_KEYS = (SHOW_OVERDUE, SHOW_DUE_SOON, SHOW_PLANNED, SHOW_DONE, SHOW_CANCELLED, SHOW_ALL)


def revisits_visible_to(user: User) -> QuerySet[ScheduledRevisit]:
    """Every revisit of a customer the user may see (none without the view permission)."""
    if not user.has_perm(VIEW_PERM):
        return ScheduledRevisit.objects.none()
    qs = ScheduledRevisit.objects.all()
    if user.has_perm("customers.view_all_customers"):
        # Merged customers keep their rows but leave every list, as in customers_visible_to.
        return qs.filter(customer__merged_into__isnull=True)
    return qs.filter(customer__in=customers_visible_to(user).values("id"))


def revisit_list(
    user: User,
    *,
    show: str = SHOW_PLANNED,
    customer: Customer | None = None,
    customer_text: str = "",
    today: dt.date | None = None,
) -> QuerySet[ScheduledRevisit]:
    """The revisits of one list view (overdue, due within 30 days, every planned one, done,
    cancelled or all), optionally of one customer or of the customers a search finds (name,
    pinyin, initials, phone), soonest due first."""
    today = today or timezone.localdate()
    qs = revisits_visible_to(user)
    if show == SHOW_OVERDUE:
        qs = qs.filter(status=RevisitStatus.PLANNED, due_on__lt=today)
    elif show == SHOW_DUE_SOON:
        qs = qs.filter(
            status=RevisitStatus.PLANNED,
            due_on__gte=today,
            due_on__lte=today + dt.timedelta(days=DUE_SOON_DAYS),
        )
    elif show == SHOW_PLANNED:
        qs = qs.filter(status=RevisitStatus.PLANNED)
    elif show == SHOW_DONE:
        qs = qs.filter(status=RevisitStatus.DONE)
    elif show == SHOW_CANCELLED:
        qs = qs.filter(status=RevisitStatus.CANCELLED)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if customer_text.strip():
        matching = customer_query(user, CustomerFilters(q=customer_text)).queryset
        qs = qs.filter(customer__in=matching.order_by().values("id"))
    return qs.select_related("customer", "plan__case", "plan__department", "done_by").order_by(
        "due_on", "id"
    )


def revisit_counts(user: User, today: dt.date | None = None) -> dict[str, int]:
    """How many planned revisits are overdue and due within 30 days, in one query."""
    today = today or timezone.localdate()
    soon = today + dt.timedelta(days=DUE_SOON_DAYS)
    return revisits_visible_to(user).aggregate(
        **{
            SHOW_OVERDUE: Count("id", filter=Q(status=RevisitStatus.PLANNED, due_on__lt=today)),
            SHOW_DUE_SOON: Count(
                "id", filter=Q(status=RevisitStatus.PLANNED, due_on__gte=today, due_on__lte=soon)
            ),
        }
    )


def revisit_get(user: User, pk: int) -> ScheduledRevisit:
    """The revisit, or ScheduledRevisit.DoesNotExist (shown as 404) when the user may not see it."""
    revisit = ScheduledRevisit.objects.select_related("customer", "plan").get(pk=pk)
    if not user.has_perm(VIEW_PERM) or not customer_visible(user, revisit.customer):
        raise ScheduledRevisit.DoesNotExist
    return revisit


@dataclass
class CustomerAfterSales:
    """What the customer profile's after-sales card shows."""

    customer: Customer
    plans: list[AfterSalesPlan]
    can_close: bool
    today: dt.date
    overdue: int = field(default=0)


def customer_after_sales(user: User, customer: Customer) -> CustomerAfterSales | None:
    """The customer's after-sales plans, newest first, each with its revisits (`plan.revisits
    .all()`, prefetched, soonest first); None when the user may not see them."""
    if not user.has_perm(VIEW_PERM) or not customer_visible(user, customer):
        return None
    today = timezone.localdate()
    plans = list(
        AfterSalesPlan.objects.filter(customer=customer)
        .select_related("department", "case", "collector")
        .prefetch_related(
            Prefetch(
                "revisits",
                queryset=ScheduledRevisit.objects.select_related("done_by").order_by(
                    "due_on", "id"
                ),
            )
        )
        .order_by("-starts_on", "-id")
    )
    overdue = sum(
        1
        for plan in plans
        for revisit in plan.revisits.all()
        if revisit.status == RevisitStatus.PLANNED and revisit.due_on < today
    )
    return CustomerAfterSales(
        customer=customer,
        plans=plans,
        can_close=user.has_perm(CLOSE_PERM),
        today=today,
        overdue=overdue,
    )
