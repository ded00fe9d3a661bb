"""Every read of the inquiry desk a user sees, limited to what they may see.

Staff with inquiries.view_inquiry see the inquiries of the customers they may see, plus those
assigned to them or to a team they belong to; the customer centre (view_all_inquiries) and
everyone with a global view of customers see all of them."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.models import User
from customers.models import Customer
from customers.selectors import customers_visible_to
from inquiries.models import OPEN_STATUSES, Inquiry
from service.models import TeamMember


def inquiries_visible_to(user: User) -> QuerySet[Inquiry]:
    if not user.is_active or not user.has_perm("inquiries.view_inquiry"):
        return Inquiry.objects.none()
    qs = Inquiry.objects.all()
    if user.has_perm("inquiries.view_all_inquiries") or user.has_perm(
        "customers.view_all_customers"
    ):
        return qs
    in_team = TeamMember.objects.filter(team=OuterRef("team"), user=user)
    return qs.filter(
        Q(customer__in=customers_visible_to(user).values("pk")) | Q(assignee=user) | Exists(in_team)
    )


def inquiry_visible(user: User, inquiry: Inquiry) -> bool:
    return inquiries_visible_to(user).filter(pk=inquiry.pk).exists()


def inquiry_get(user: User, pk: int) -> Inquiry:
    """The inquiry with what its page shows; 404 when it does not exist or is not visible."""
    found = (
        inquiries_visible_to(user)
        .select_related("customer", "project", "team", "assignee", "mailbox", "created_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    return found


def customer_inquiries(user: User, customer: Customer, limit: int = 10) -> dict[str, Any] | None:
    """The inquiry card of the customer profile: the latest inquiries and how many are open;
    None for users who do not read inquiries."""
    if not user.has_perm("inquiries.view_inquiry"):
        return None
    qs = inquiries_visible_to(user).filter(customer=customer)
    return {
        "customer": customer,
        "recent": list(qs.select_related("team", "assignee").order_by("-received_at")[:limit]),
        "open_count": qs.filter(status__in=OPEN_STATUSES).count(),
    }
