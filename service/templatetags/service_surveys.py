"""Survey cards included in other apps' pages (the ticket page, the customer profile): each
computes its own data from the page's `user`, so the including view passes nothing extra."""

from __future__ import annotations

from typing import Any

from django import template

from customers.models import Customer
from service import surveys
from service.models import Ticket

register = template.Library()


def _user(context: template.Context) -> Any:
    user = context.get("user")
    if user is None and context.get("request") is not None:
        user = context["request"].user
    return user if user is not None and user.is_authenticated else None


@register.simple_tag(takes_context=True)
def ticket_surveys(context: template.Context, ticket: Ticket) -> surveys.TicketSurveys | None:
    """`{% ticket_surveys ticket as state %}`: the ticket's surveys, or None when hidden."""
    user = _user(context)
    return surveys.ticket_surveys(user, ticket) if user is not None else None


@register.simple_tag(takes_context=True)
def customer_surveys(
    context: template.Context, customer: Customer
) -> surveys.CustomerSurveys | None:
    """`{% customer_surveys customer as card %}`: the profile card's data, or None."""
    user = _user(context)
    return surveys.customer_surveys(user, customer) if user is not None else None


@register.filter
def stars(score: int | None) -> str:
    """★★★☆☆ for a CSAT score of 3."""
    if score is None:
        return ""
    return "★" * score + "☆" * (len(surveys.CSAT_CHOICES) - score)
