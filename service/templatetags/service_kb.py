"""The complaint and knowledge panels of the ticket page compute their state here (the page
includes them with only `ticket`, `user`, `perms` and `request`); the rules live in
service.complaints and service.knowledge."""

from __future__ import annotations

from django import template

from accounts.models import User
from service import complaints, knowledge
from service.models import Ticket

register = template.Library()


@register.simple_tag
def complaint_panel(ticket: Ticket, user: User) -> complaints.ComplaintState | None:
    return complaints.complaint_state(user, ticket)


@register.simple_tag
def ticket_articles_panel(ticket: Ticket, user: User) -> knowledge.TicketArticles | None:
    return knowledge.ticket_articles(user, ticket)
