"""Every write to tickets (工单): create, route, respond, change status, assign, link.

SLA: a ticket takes the most specific active policy for its kind × priority × customer category;
its first-response and resolution deadlines are computed on the business calendar. The clock
pauses while the ticket waits on the customer: on resuming, the deadlines move by the paused
time (work time for work-hour targets). `service.sla.ticket_sla_tick` warns and escalates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.models import Customer, Site
from customers.selectors import customer_visible
from devices.models import Collector
from service.models import (
    OPEN_TICKET_STATUSES,
    AssignmentRule,
    Channel,
    EntryKind,
    Leave,
    LinkKind,
    Priority,
    SlaPolicy,
    SlaState,
    Team,
    TeamMember,
    Ticket,
    TicketEntry,
    TicketKind,
    TicketLink,
    TicketStatus,
)
from service.sla import warn_at
from workflow.business_calendar import current_calendar
from workflow.calendar import Duration, parse_duration

WORK_PERM = "service.work_ticket"
ASSIGN_PERM = "service.assign_ticket"
REVIEW_PERM = "service.review_complaint"

# Which status may follow which (reopen: resolved/closed → in progress).
TRANSITIONS: dict[str, frozenset[str]] = {
    TicketStatus.NEW: frozenset(
        {TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED}
    ),
    TicketStatus.ASSIGNED: frozenset(
        {TicketStatus.IN_PROGRESS, TicketStatus.WAITING, TicketStatus.RESOLVED}
    ),
    TicketStatus.IN_PROGRESS: frozenset({TicketStatus.WAITING, TicketStatus.RESOLVED}),
    TicketStatus.WAITING: frozenset({TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.CLOSED, TicketStatus.IN_PROGRESS}),
    TicketStatus.CLOSED: frozenset({TicketStatus.IN_PROGRESS}),
}


def _check_customer(actor: User | None, customer: Customer) -> None:
    if actor is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")


def _entry(
    ticket: Ticket,
    kind: str,
    *,
    actor: User | None,
    text: str = "",
    at: dt.datetime | None = None,
    **data: Any,
) -> TicketEntry:
    return TicketEntry.objects.create(
        ticket=ticket,
        kind=kind,
        author=actor,
        text=text,
        data=data,
        created_at=at or timezone.now(),
    )


# --- SLA -----------------------------------------------------------------------------------------


def policy_for(kind: str, priority: str, category: str) -> SlaPolicy | None:
    """The most specific active policy matching the ticket (blank fields match anything)."""
    candidates = SlaPolicy.objects.filter(
        Q(kind="") | Q(kind=kind),
        Q(priority="") | Q(priority=priority),
        Q(customer_category="") | Q(customer_category=category),
        is_active=True,
    )
    return max(candidates, key=lambda p: (p.specificity, -p.pk), default=None)


def _due(start: dt.datetime, duration: str) -> dt.datetime | None:
    return current_calendar().add(start, parse_duration(duration)) if duration else None


def sla_apply(ticket: Ticket, start: dt.datetime) -> None:
    """Choose the policy and set both deadlines (not saved)."""
    policy = policy_for(ticket.kind, ticket.priority, ticket.customer.category or "")
    ticket.policy = policy
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        ticket.sla_state = SlaState.NONE
        return
    ticket.first_response_due_at = _due(start, policy.first_response)
    ticket.resolution_due_at = _due(start, policy.resolution)
    ticket.sla_state = SlaState.ON_TRACK
    # Escalation starts with the breach (service.sla): nothing to escalate yet.
    ticket.next_escalation_at = None


def _shift(
    moment: dt.datetime | None, duration_text: str, since: dt.datetime, now: dt.datetime
) -> dt.datetime | None:
    """Move a deadline by the time paused between `since` and `now`, in the target's own clock."""
    if moment is None or not duration_text:
        return moment
    duration: Duration = parse_duration(duration_text)
    if duration.is_work_time:
        calendar = current_calendar()
        paused = dt.timedelta(seconds=calendar.work_seconds_between(since, now))
        return calendar.add_work_time(moment, paused)
    return moment + (now - since)


# --- routing -----------------------------------------------------------------------------------


def _present(users: Iterable[User], today: dt.date) -> list[User]:
    """Active users not on leave today."""
    people = [u for u in users if u.is_active]
    away = set(
        Leave.objects.filter(
            user__in=[u.pk for u in people], starts_on__lte=today, ends_on__gte=today
        ).values_list("user_id", flat=True)
    )
    return [u for u in people if u.pk not in away]


def team_candidates(team: Team, today: dt.date | None = None) -> list[User]:
    members = [
        m.user
        for m in TeamMember.objects.filter(team=team, takes_tickets=True)
        .select_related("user")
        .order_by("user_id")
    ]
    return _present(members, today or timezone.localdate())


def route(ticket: Ticket, team: Team) -> User | None:
    """Who of the team gets the ticket by its rule; None when nobody is present (the lead
    is then told, see ticket_create). Only people who may work on the ticket's customer
    are chosen: a ticket its assignee cannot open helps nobody."""
    rule = team.rule
    if rule == AssignmentRule.MANUAL:
        return None
    if rule == AssignmentRule.OWNER:
        owner = ticket.customer.owner
        if (
            owner is not None
            and _present([owner], timezone.localdate())
            and may_work(owner, ticket)
        ):
            return owner
        rule = AssignmentRule.LEAST_OPEN  # the owner is away: fall back to the team
    people = [u for u in team_candidates(team) if may_work(u, ticket)]
    if not people:
        return None
    if rule == AssignmentRule.ROUND_ROBIN:
        with transaction.atomic():
            # Locked, so that two tickets opened at once go to two people.
            last = (
                Team.objects.select_for_update()
                .filter(pk=team.pk)
                .values_list("last_assigned_id", flat=True)
                .first()
            )
            following = [u for u in people if last is not None and u.pk > last]
            chosen = following[0] if following else people[0]
            Team.objects.filter(pk=team.pk).update(last_assigned=chosen)
        team.last_assigned = chosen
        return chosen
    counts = dict(
        Ticket.objects.filter(assignee__in=[u.pk for u in people], status__in=OPEN_TICKET_STATUSES)
        .values_list("assignee")
        .annotate(n=Count("id"))
        .values_list("assignee", "n")
    )
    return min(people, key=lambda u: (counts.get(u.pk, 0), u.pk))


def default_team(kind: str) -> Team | None:
    """Faults, revisits and upgrades go to engineering's after-sales team; the rest to the
    customer centre, when those teams exist (codes `after-sales`, `customer-centre`)."""
    code = (
        "after-sales"
        if kind in (TicketKind.FAULT, TicketKind.REVISIT, TicketKind.UPGRADE)
        else "customer-centre"
    )
    return Team.objects.filter(code=code, is_active=True).first()


# --- create ------------------------------------------------------------------------------------


def _next_number(ticket: Ticket, now: dt.datetime) -> str:
    # The number follows the primary key (as case numbers do): unique without a counter table.
    return f"GD-{timezone.localtime(now).year}-{ticket.pk:06d}"


def _check_assignee(assignee: User, ticket: Ticket) -> None:
    if not assignee.is_active:
        raise ValidationError({"assignee": _("%(who)s is not active.") % {"who": assignee}})
    if not may_work(assignee, ticket):
        raise ValidationError(
            {"assignee": _("%(who)s may not work on this customer's tickets.") % {"who": assignee}}
        )


def ticket_create(
    *,
    actor: User | None,
    customer: Customer,
    kind: str,
    subject: str,
    description: str = "",
    priority: str = Priority.NORMAL,
    channel: str = Channel.PHONE,
    site: Site | None = None,
    collector: Collector | None = None,
    team: Team | None = None,
    assignee: User | None = None,
    source_key: str = "",
    now: dt.datetime | None = None,
    **links: Any,
) -> Ticket:
    """Open a ticket, choose its SLA, route it (team rule, or the named assignee).

    `links`: fault=, revisit=, campaign_target= for tickets the system raises."""
    require_perm(actor, "service.add_ticket")
    _check_customer(actor, customer)
    if not subject.strip():
        raise ValidationError({"subject": _("Enter a subject.")})
    if site is not None and site.customer_id != customer.pk:
        raise ValidationError({"site": _("The building does not belong to this customer.")})
    if collector is not None and collector.customer_id != customer.pk:
        raise ValidationError({"collector": _("The collector is not installed at this customer.")})
    now = now or timezone.now()
    ticket = Ticket(
        number=f"tmp-{uuid.uuid4().hex[:16]}",
        kind=kind,
        priority=priority,
        channel=channel,
        customer=customer,
        site=site or (collector.site if collector else None),
        collector=collector,
        subject=subject.strip(),
        description=description.strip(),
        team=team if team is not None else default_team(kind),
        created_by=actor,
        created_at=now,
        source_key=source_key,
        **links,
    )
    if collector is not None:
        ends = collector.warranty_ends_on
        ticket.in_warranty = ends is not None and timezone.localtime(now).date() <= ends
    # The one-open-ticket-per-source constraint is left to the database (below): checking it
    # here first would race with a concurrent insert anyway.
    ticket.full_clean(exclude=["number", "policy"], validate_constraints=False)
    if assignee is not None:
        _check_assignee(assignee, ticket)
    sla_apply(ticket, now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                ticket.save()
        except IntegrityError:
            if not source_key:
                raise
            raise ValidationError(_("An open ticket for this already exists.")) from None
        ticket.number = _next_number(ticket, now)
        chosen = assignee
        if chosen is None and ticket.team is not None:
            chosen = route(ticket, ticket.team)
        if chosen is not None:
            ticket.assignee = chosen
            ticket.status = TicketStatus.ASSIGNED
        ticket.save(update_fields=["number", "assignee", "status"])
        _entry(ticket, EntryKind.SYSTEM, actor=actor, text=ticket.subject, at=now, event="created")
        if chosen is not None:
            _entry(ticket, EntryKind.ASSIGNMENT, actor=actor, at=now, to=chosen.pk)
        audit_record(
            actor=actor,
            action="ticket.create",
            obj=ticket,
            changes={"kind": ticket.kind, "customer": customer.pk},
        )
        if chosen is None and ticket.team is not None:
            from service import notify

            notify.unassigned(ticket)
        elif chosen is not None:
            from service import notify

            notify.assigned(ticket)
    return ticket


# --- working on a ticket ---------------------------------------------------------------------


def _lock(ticket: Ticket) -> Ticket:
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the policy join,
    # and the customer row need not be locked.
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "policy", "team__lead")
        .get(pk=ticket.pk)
    )


def may_work(actor: User, ticket: Ticket) -> bool:
    return actor.has_perm(WORK_PERM) and customer_visible(actor, ticket.customer)


def _require_work(actor: User | None, ticket: Ticket) -> None:
    if actor is not None and not may_work(actor, ticket):
        raise PermissionDenied(WORK_PERM)


def _touch(ticket: Ticket, actor: User | None) -> list[str]:
    """A person working on a system ticket takes it over (it is no longer closed for them)."""
    if actor is not None and ticket.source_key and not ticket.taken_over:
        ticket.taken_over = True
        return ["taken_over"]
    return []


def _responded(ticket: Ticket, now: dt.datetime) -> list[str]:
    """Record the first response; a ticket at risk only for its first response is back on
    track when the resolution deadline is not yet near."""
    if ticket.first_responded_at is not None:
        return []
    ticket.first_responded_at = now
    fields = ["first_responded_at"]
    if ticket.sla_state == SlaState.AT_RISK:
        warning = warn_at(ticket.resolution_due_at, ticket.policy)
        if warning is not None and warning > now:
            ticket.sla_state = SlaState.ON_TRACK
            ticket.warned_at = None
            fields += ["sla_state", "warned_at"]
    return fields


def ticket_note(
    *, actor: User, ticket: Ticket, text: str, to_customer: bool = False
) -> TicketEntry:
    """An internal note, or a message to the customer (the first message is the first response)."""
    _require_work(actor, ticket)
    if not text.strip():
        raise ValidationError({"text": _("Write something first.")})
    now = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        fields = _touch(ticket, actor)
        if to_customer:
            fields += _responded(ticket, now)
        ticket.save(update_fields=[*fields, "updated_at"])
        entry = _entry(
            ticket,
            EntryKind.MESSAGE if to_customer else EntryKind.NOTE,
            actor=actor,
            text=text.strip(),
            at=now,
        )
        if to_customer:
            from service import notify

            notify.customer_message(ticket, entry)
    return entry


def complaint_problems(ticket: Ticket) -> list[str]:
    """What a complaint still needs before it can be closed (投诉闭环): root cause, corrective
    action, a supervisor's review and the outcome told to the customer."""
    if ticket.kind != TicketKind.COMPLAINT:
        return []
    missing = []
    if not ticket.root_cause.strip():
        missing.append(_("the root cause"))
    if not ticket.corrective_action.strip():
        missing.append(_("the corrective action"))
    if ticket.reviewed_at is None:
        missing.append(_("a supervisor's review"))
    if ticket.outcome_sent_at is None:
        missing.append(_("the outcome told to the customer"))
    return missing


def ticket_set_status(*, actor: User | None, ticket: Ticket, status: str, text: str = "") -> Ticket:
    """Move a ticket along its lifecycle; waiting pauses the SLA clock, leaving it resumes."""
    _require_work(actor, ticket)
    if status not in TicketStatus.values:
        raise ValidationError({"status": _("Choose a valid status.")})
    now = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        before = ticket.status
        if status == before:
            return ticket
        if status not in TRANSITIONS.get(before, frozenset()):
            raise ValidationError(
                {
                    "status": _("A ticket cannot go from %(a)s to %(b)s.")
                    % {
                        "a": TicketStatus(before).label,
                        "b": TicketStatus(status).label,
                    }
                }
            )
        if status == TicketStatus.ASSIGNED and ticket.assignee_id is None:
            raise ValidationError({"status": _("Assign the ticket to someone first.")})
        if status == TicketStatus.CLOSED:
            missing = complaint_problems(ticket)
            if missing:
                raise ValidationError(
                    _("A complaint can be closed only with %(missing)s.")
                    % {"missing": "、".join(str(m) for m in missing)}
                )
        fields = ["status", "updated_at", *_touch(ticket, actor)]
        if before == TicketStatus.WAITING and ticket.paused_at is not None:
            policy = ticket.policy
            if policy is not None:
                if ticket.first_responded_at is None:
                    ticket.first_response_due_at = _shift(
                        ticket.first_response_due_at, policy.first_response, ticket.paused_at, now
                    )
                ticket.resolution_due_at = _shift(
                    ticket.resolution_due_at, policy.resolution, ticket.paused_at, now
                )
                ticket.next_escalation_at = _shift(
                    ticket.next_escalation_at, policy.resolution, ticket.paused_at, now
                )
            ticket.paused_at = None
            fields += [
                "paused_at",
                "first_response_due_at",
                "resolution_due_at",
                "next_escalation_at",
            ]
        if status == TicketStatus.WAITING:
            ticket.paused_at = now
            fields.append("paused_at")
        if actor is not None and status in (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED):
            fields += _responded(ticket, now)
        if status == TicketStatus.RESOLVED:
            ticket.resolved_at = now
            if ticket.sla_state in (SlaState.ON_TRACK, SlaState.AT_RISK):
                ticket.sla_state = SlaState.MET
            ticket.next_escalation_at = None
            fields += ["resolved_at", "sla_state", "next_escalation_at"]
        if status == TicketStatus.CLOSED:
            ticket.closed_at = now
            fields.append("closed_at")
        reopened = before in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and status not in (
            TicketStatus.RESOLVED,
            TicketStatus.CLOSED,
        )
        if reopened:
            ticket.reopened_count += 1
            ticket.resolved_at = ticket.closed_at = None
            if ticket.policy is not None:
                # A reopened ticket gets a whole resolution period from now.
                ticket.resolution_due_at = _due(now, ticket.policy.resolution)
                ticket.sla_state = SlaState.ON_TRACK
                ticket.next_escalation_at = None
                ticket.breached_at = ticket.warned_at = None
                ticket.escalation_level = 0
            fields += [
                "reopened_count",
                "resolved_at",
                "closed_at",
                "resolution_due_at",
                "sla_state",
                "next_escalation_at",
                "breached_at",
                "warned_at",
                "escalation_level",
            ]
        ticket.status = status
        ticket.save(update_fields=sorted(set(fields)))
        _entry(
            ticket,
            EntryKind.STATUS,
            actor=actor,
            text=text.strip(),
            at=now,
            before=before,
            after=status,
        )
        audit_record(
            actor=actor,
            action="ticket.status",
            obj=ticket,
            changes={"status": [before, status]},
        )
    if status == TicketStatus.RESOLVED:
        from service import notify

        notify.resolved(ticket)
    return ticket


def ticket_assign(
    *,
    actor: User | None,
    ticket: Ticket,
    assignee: User | None,
    reason: str = "",
    team: Team | None = None,
) -> Ticket:
    """Assign (or reassign, with a reason) to a person; None puts it back to the team's rule."""
    if actor is not None and not (
        actor.has_perm(ASSIGN_PERM) or (ticket.assignee_id == actor.pk and may_work(actor, ticket))
    ):
        raise PermissionDenied(ASSIGN_PERM)
    _check_customer(actor, ticket.customer)
    if assignee is not None:
        _check_assignee(assignee, ticket)
    with transaction.atomic():
        ticket = _lock(ticket)
        previous = ticket.assignee
        if previous is not None and not reason.strip():
            raise ValidationError({"reason": _("Give the reason for the reassignment.")})
        if team is not None:
            ticket.team = team
        chosen = assignee
        if chosen is None and ticket.team is not None:
            chosen = route(ticket, ticket.team)
        ticket.assignee = chosen
        fields = ["assignee", "team", "updated_at", *_touch(ticket, actor)]
        if chosen is not None and ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.ASSIGNED
            fields.append("status")
        elif chosen is None and ticket.status == TicketStatus.ASSIGNED:
            ticket.status = TicketStatus.NEW  # back in the team's queue
            fields.append("status")
        ticket.save(update_fields=fields)
        _entry(
            ticket,
            EntryKind.ASSIGNMENT,
            actor=actor,
            text=reason.strip(),
            to=chosen.pk if chosen else None,
            previous=previous.pk if previous else None,
        )
        audit_record(
            actor=actor,
            action="ticket.assign",
            obj=ticket,
            changes={
                "assignee": [str(previous) if previous else None, str(chosen) if chosen else None],
                "reason": [None, reason],
            },
        )
    from service import notify

    if chosen is not None:
        notify.assigned(ticket)
    else:
        notify.unassigned(ticket)
    return ticket


def ticket_link(
    *, actor: User, source: Ticket, target: Ticket, kind: str = LinkKind.RELATES
) -> TicketLink:
    _require_work(actor, source)
    _require_work(actor, target)
    if source.pk == target.pk:
        raise ValidationError({"target": _("A ticket cannot be linked to itself.")})
    if kind not in LinkKind.values:
        raise ValidationError({"kind": _("Choose a valid link.")})
    with transaction.atomic():
        link, created = TicketLink.objects.get_or_create(
            source=source, target=target, defaults={"kind": kind}
        )
        if created:
            _entry(source, EntryKind.SYSTEM, actor=actor, event="linked", target=target.number)
            audit_record(
                actor=actor,
                action="ticket.link",
                obj=source,
                changes={"link": [None, f"{kind} {target.number}"]},
            )
    return link
