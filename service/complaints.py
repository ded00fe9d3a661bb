"""Complaints (投诉): root cause, corrective action, a supervisor's review, the customer told.

A complaint ticket is closed only when it has a root cause and a corrective action, a
supervisor other than the person who wrote the action approved them, and the customer was told
the outcome. The loop lives on the ticket's timeline: each step writes a system entry whose
`data["event"]` is one of COMPLAINT_EVENTS, so the panel knows where the complaint stands (and who
wrote the action) without extra columns. The approval itself is `Ticket.reviewed_by/_at`; saving
a changed analysis withdraws it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from customers.selectors import customer_visible
from service import notify, tickets
from service.models import EntryKind, Ticket, TicketEntry, TicketKind, TicketStatus
from service.tickets import REVIEW_PERM, WORK_PERM, may_work, ticket_note

ANALYSIS = "complaint_analysis"
SUBMITTED = "complaint_submitted"
APPROVED = "complaint_approved"
RETURNED = "complaint_returned"
OUTCOME_SENT = "complaint_outcome_sent"
COMPLAINT_EVENTS = (ANALYSIS, SUBMITTED, APPROVED, RETURNED, OUTCOME_SENT)

# Where a complaint stands (ComplaintState.stage).
STAGE_OPEN = "open"  # analysis being written (or not started)
STAGE_SUBMITTED = "submitted"  # waiting for a supervisor
STAGE_RETURNED = "returned"  # the supervisor sent it back with a comment
STAGE_APPROVED = "approved"  # approved; the customer is still to be told
STAGE_DONE = "done"  # approved and the customer told: may be closed


def complaint_problems(ticket: Ticket) -> list[str]:
    """What a complaint still needs before it may be closed (root cause, corrective action,
    review, the outcome told): the rule ticket_set_status applies when closing."""
    return tickets.complaint_problems(ticket)


def _require_work(actor: User, ticket: Ticket) -> None:
    if not may_work(actor, ticket):
        raise PermissionDenied(WORK_PERM)


def _lock(ticket: Ticket) -> Ticket:
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the team join.
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "team__lead")
        .get(pk=ticket.pk)
    )


def _entry(
    ticket: Ticket,
    *,
    actor: User,
    text: str,
    event: str,
    kind: str = EntryKind.SYSTEM,
    **data: object,
) -> TicketEntry:
    """An entry on the ticket's timeline marking a step of the complaint loop."""
    return TicketEntry.objects.create(
        ticket=ticket,
        kind=kind,
        author=actor,
        text=text,
        data={"event": event, **data},
        created_at=timezone.now(),
    )


def _require_complaint(ticket: Ticket) -> None:
    if ticket.kind != TicketKind.COMPLAINT:
        raise ValidationError(_("This ticket is not a complaint."))
    if ticket.status == TicketStatus.CLOSED:
        raise ValidationError(_("The complaint is closed: reopen it first."))


def _events(ticket: Ticket) -> list[TicketEntry]:
    return list(
        TicketEntry.objects.filter(ticket=ticket, data__event__in=COMPLAINT_EVENTS)
        .select_related("author")
        .order_by("created_at", "id")
    )


@dataclass(frozen=True)
class ComplaintState:
    """Where the complaint stands and what this user may do with it now."""

    ticket: Ticket
    stage: str
    writer: User | None  # who saved the analysis last (may not review it)
    returned_comment: str
    returned_by: User | None
    missing: list[str]
    can_edit: bool
    can_submit: bool
    can_review: bool
    is_writer: bool
    can_tell: bool
    outcome_text: str
    customer_address: str


def _stage(ticket: Ticket, events: list[TicketEntry]) -> str:
    if ticket.reviewed_at is not None:
        return STAGE_DONE if ticket.outcome_sent_at is not None else STAGE_APPROVED
    last = next(
        (e.data["event"] for e in reversed(events) if e.data["event"] != OUTCOME_SENT), None
    )
    if last == SUBMITTED:
        return STAGE_SUBMITTED
    if last == RETURNED:
        return STAGE_RETURNED
    return STAGE_OPEN


def _writer(events: list[TicketEntry]) -> User | None:
    for event in reversed(events):
        if event.data["event"] == ANALYSIS:
            return event.author
    return None


def outcome_text(ticket: Ticket) -> str:
    """The message proposed to the customer, from the corrective action (edited before sending)."""
    return _(
        "About your complaint %(number)s (%(subject)s): we have looked into it and taken the "
        "following action: %(action)s Thank you for telling us."
    ) % {
        "number": ticket.number,
        "subject": ticket.subject,
        "action": ticket.corrective_action.strip(),
    }


def complaint_state(user: User, ticket: Ticket) -> ComplaintState | None:
    """The complaint panel of a ticket for `user` (None: not a complaint, or not visible)."""
    if ticket.kind != TicketKind.COMPLAINT:
        return None
    if not user.has_perm("service.view_ticket") or not customer_visible(user, ticket.customer):
        return None
    events = _events(ticket)
    stage = _stage(ticket, events)
    writer = _writer(events)
    # The supervisor's last comment stays in view until the complaint is submitted again.
    returned = None
    for event in reversed(events):
        if event.data["event"] in (SUBMITTED, APPROVED):
            break
        if event.data["event"] == RETURNED:
            returned = event
            break
    is_open = ticket.status != TicketStatus.CLOSED
    works = is_open and may_work(user, ticket)
    reviewer = is_open and stage == STAGE_SUBMITTED and user.has_perm(REVIEW_PERM)
    is_writer = reviewer and writer is not None and writer.pk == user.pk
    complete = bool(ticket.root_cause.strip() and ticket.corrective_action.strip())
    return ComplaintState(
        ticket=ticket,
        stage=stage,
        writer=writer,
        returned_comment=returned.data.get("comment", "") if returned else "",
        returned_by=returned.author if returned else None,
        missing=complaint_problems(ticket),
        can_edit=works,
        can_submit=works and complete and stage in (STAGE_OPEN, STAGE_RETURNED),
        can_review=reviewer and not is_writer,
        is_writer=is_writer,
        can_tell=works and stage in (STAGE_APPROVED, STAGE_DONE),
        outcome_text=outcome_text(ticket) if complete else "",
        customer_address=notify.customer_address(ticket) if works else "",
    )


def complaint_save_analysis(
    *, actor: User, ticket: Ticket, root_cause: str, corrective_action: str
) -> Ticket:
    """Record the root cause and the corrective action. A change withdraws an approval (and
    the outcome told): the supervisor approved other words."""
    _require_work(actor, ticket)
    _require_complaint(ticket)
    root_cause, corrective_action = root_cause.strip(), corrective_action.strip()
    errors = {}
    if not root_cause:
        errors["root_cause"] = _("Describe the root cause.")
    if not corrective_action:
        errors["corrective_action"] = _("Describe the corrective action.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        ticket = _lock(ticket)
        _require_complaint(ticket)
        if ticket.root_cause == root_cause and ticket.corrective_action == corrective_action:
            return ticket
        before = {"root_cause": ticket.root_cause, "corrective_action": ticket.corrective_action}
        withdrawn = ticket.reviewed_at is not None
        ticket.root_cause, ticket.corrective_action = root_cause, corrective_action
        ticket.reviewed_by = ticket.reviewed_at = ticket.outcome_sent_at = None
        fields = ["root_cause", "corrective_action", "reviewed_by", "reviewed_at"]
        ticket.save(update_fields=[*fields, "outcome_sent_at"])
        text = _("Root cause and corrective action recorded.")
        if withdrawn:
            text += " " + _("The earlier approval is withdrawn.")
        _entry(ticket, actor=actor, text=text, event=ANALYSIS)
        audit_record(
            actor=actor,
            action="complaint.analysis",
            obj=ticket,
            changes={
                "root_cause": [before["root_cause"], root_cause],
                "corrective_action": [before["corrective_action"], corrective_action],
                "approval_withdrawn": [None, withdrawn],
            },
        )
    return ticket


def complaint_submit(*, actor: User, ticket: Ticket) -> Ticket:
    """Ask a supervisor to review the analysis; the team lead hears about it."""
    _require_work(actor, ticket)
    _require_complaint(ticket)
    with transaction.atomic():
        ticket = _lock(ticket)
        events = _events(ticket)
        stage = _stage(ticket, events)
        if stage == STAGE_SUBMITTED:
            raise ValidationError(_("The complaint is already waiting for review."))
        if stage in (STAGE_APPROVED, STAGE_DONE):
            raise ValidationError(_("The complaint is already approved."))
        missing = [
            m
            for field, m in (
                ("root_cause", _("the root cause")),
                ("corrective_action", _("the corrective action")),
            )
            if not getattr(ticket, field).strip()
        ]
        if missing:
            raise ValidationError(
                _("Record %(missing)s before asking for a review.")
                % {"missing": "、".join(missing)}
            )
        _entry(
            ticket,
            actor=actor,
            text=_("Complaint handling submitted for a supervisor's review."),
            event=SUBMITTED,
        )
        audit_record(actor=actor, action="complaint.submit", obj=ticket)
        lead = ticket.team.lead if ticket.team_id and ticket.team else None
        if lead is not None and lead.pk != actor.pk and lead.has_perm(REVIEW_PERM):
            notify.people(
                [lead],
                ticket,
                kind="ticket",
                text=_("Complaint %(number)s waits for your review: %(subject)s")
                % {"number": ticket.number, "subject": ticket.subject},
            )
    return ticket


def complaint_review(*, actor: User, ticket: Ticket, approve: bool, comment: str = "") -> Ticket:
    """A supervisor approves the root cause and corrective action, or returns them with a
    comment (the assignee and the writer are told). The writer may not review their own."""
    if not actor.has_perm(REVIEW_PERM) or not customer_visible(actor, ticket.customer):
        raise PermissionDenied(REVIEW_PERM)
    _require_complaint(ticket)
    comment = comment.strip()
    if not approve and not comment:
        raise ValidationError({"comment": _("Say what needs to change.")})
    now = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        events = _events(ticket)
        if _stage(ticket, events) != STAGE_SUBMITTED:
            raise ValidationError(_("The complaint is not waiting for review."))
        writer = _writer(events)
        if writer is not None and writer.pk == actor.pk:
            raise ValidationError(
                _("You wrote this corrective action: another supervisor must review it.")
            )
        if approve:
            ticket.reviewed_by, ticket.reviewed_at = actor, now
            text = _("Root cause and corrective action approved.")
            if comment:
                text += " " + comment
            event = APPROVED
        else:
            ticket.reviewed_by = ticket.reviewed_at = None
            text = _("Returned for rework: %(comment)s") % {"comment": comment}
            event = RETURNED
        ticket.save(update_fields=["reviewed_by", "reviewed_at"])
        # A supervisor's comment is an internal note (the timeline shows its text).
        kind = EntryKind.NOTE if comment else EntryKind.SYSTEM
        _entry(ticket, actor=actor, text=text, event=event, kind=kind, comment=comment)
        audit_record(
            actor=actor,
            action="complaint.approve" if approve else "complaint.return",
            obj=ticket,
            changes={"comment": [None, comment]},
        )
        message = (
            _("Complaint %(number)s approved: %(subject)s")
            if approve
            else _("Complaint %(number)s returned for rework: %(subject)s")
        ) % {"number": ticket.number, "subject": ticket.subject}
        notify.people(
            [u for u in (ticket.assignee, writer) if u is not None and u.pk != actor.pk],
            ticket,
            kind="ticket",
            text=message,
        )
    return ticket


def complaint_tell_customer(*, actor: User, ticket: Ticket, text: str) -> TicketEntry:
    """Send the approved outcome to the customer (a message on the ticket, e-mailed to the
    customer's contact) and record when they were told."""
    _require_work(actor, ticket)
    _require_complaint(ticket)
    if not text.strip():
        raise ValidationError({"text": _("Write the message to the customer.")})
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.reviewed_at is None:
            raise ValidationError(
                _("A supervisor must approve the corrective action before the customer is told.")
            )
        entry = ticket_note(actor=actor, ticket=ticket, text=text, to_customer=True)
        ticket.outcome_sent_at = entry.created_at
        ticket.save(update_fields=["outcome_sent_at"])
        _entry(
            ticket,
            actor=actor,
            text=_("The customer was told the outcome of the complaint."),
            event=OUTCOME_SENT,
            message=entry.pk,
        )
        audit_record(
            actor=actor,
            action="complaint.tell_customer",
            obj=ticket,
            changes={"outcome_sent_at": [None, entry.created_at.isoformat()]},
        )
    return entry
