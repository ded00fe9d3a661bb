"""Who hears about a ticket: the assignee, the team lead when nobody could take it, the customer."""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from service.models import Ticket, TicketEntry
from workflow.notifications import notify

log = logging.getLogger(__name__)


def ticket_url(ticket: Ticket) -> str:
    return reverse("service:ticket", args=[ticket.pk])


def people(recipients: list[User | None], ticket: Ticket, *, kind: str, text: str) -> int:
    """An in-app notification and an e-mail to each active recipient, linking to the ticket."""
    return notify(recipients, kind=kind, text=text, task=None, url=ticket_url(ticket))


def assigned(ticket: Ticket) -> int:
    text = _("Ticket %(number)s assigned to you: %(subject)s") % {
        "number": ticket.number,
        "subject": ticket.subject,
    }
    return people([ticket.assignee], ticket, kind="ticket", text=text)


def unassigned(ticket: Ticket) -> int:
    """Nobody of the team took the ticket (all away, or the team assigns by hand): the lead
    decides."""
    from service.models import AssignmentRule

    lead = ticket.team.lead if ticket.team else None
    values = {"number": ticket.number, "subject": ticket.subject}
    if ticket.team is not None and ticket.team.rule == AssignmentRule.MANUAL:
        text = _("Ticket %(number)s waits for you to assign it: %(subject)s") % values
    else:
        text = _("Ticket %(number)s has nobody present to take it: %(subject)s") % values
    return people([lead], ticket, kind="ticket", text=text)


def customer_address(ticket: Ticket) -> str:
    contact = ticket.customer.contacts.exclude(email="").order_by("-is_primary", "id").first()
    return contact.email if contact else ""


def _mail_customer(address: str, subject: str, body: str) -> None:
    try:
        send_mail(subject, body, None, [address], fail_silently=False)
    except Exception:  # a mail outage must not undo the work that triggered it
        log.exception("customer e-mail to %s failed", address)


def customer_message(ticket: Ticket, entry: TicketEntry) -> bool:
    """A message to the customer goes to their contact's e-mail (after the commit)."""
    address = customer_address(ticket)
    if not address:
        return False
    subject = f"[{ticket.number}] {ticket.subject}"
    transaction.on_commit(lambda: _mail_customer(address, subject, entry.text))
    return True


def resolved(ticket: Ticket) -> int:
    """The creator and the assignee hear that the ticket is resolved; the customer is sent a
    satisfaction survey (service.surveys.survey_after_resolve says for which tickets)."""
    from service.surveys import survey_after_resolve

    text = _("Ticket %(number)s resolved: %(subject)s") % {
        "number": ticket.number,
        "subject": ticket.subject,
    }
    survey_after_resolve(ticket)
    return people([ticket.created_by], ticket, kind="ticket", text=text)
