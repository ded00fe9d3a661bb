"""The ticket SLA clock: warnings before, breaches at and escalations after the deadlines.

`ticket_sla_tick` runs every minute (service.tasks). A ticket waiting on the customer is never
looked at: its clock is paused, and ticket_set_status moves its deadlines when it resumes.

- warning (at risk): `policy.warn_before` ahead of the resolution deadline, or of the first
  response deadline while nobody has answered; the assignee is told (the team lead while
  nobody has the ticket);
- breach: the first response or the resolution deadline passed; the assignee and the team
  lead are told. Telling the lead is escalation level 1 of the team's chain;
- escalation level 2: one resolution period after the missed deadline the lead's supervisor
  is told; the chain then ends.

Each step claims its ticket with a conditional UPDATE (as workflow.services.sla_tick does), so
two ticks running at once never tell anyone twice.

Cost at a million tickets: every query filters on a due column through the partial index
`ticket_running_due` (resolution_due_at of running tickets) or on the (sla_state, status)
index, so it reads only live tickets near or past a deadline, never the closed history.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from service import notify
from service.models import EntryKind, SlaPolicy, SlaState, Ticket, TicketEntry, TicketStatus
from workflow.business_calendar import current_calendar
from workflow.calendar import Duration, DurationError, parse_duration

log = logging.getLogger(__name__)

# Statuses in which the clock runs (waiting on the customer pauses it). The tuple matches the
# condition of the partial index `ticket_running_due`, so the planner may use that index.
RUNNING_STATUSES = (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS)
# Not yet breached: the states a warning or a breach may still move a ticket out of.
LIVE_STATES = (SlaState.ON_TRACK, SlaState.AT_RISK)
# Level 1 = the team lead (told with the breach), level 2 = the lead's supervisor.
MAX_ESCALATION_LEVEL = 2


def _duration(text: str) -> Duration | None:
    if not text:
        return None
    try:
        return parse_duration(text)
    except DurationError:  # an SLA policy saved with a broken duration: never block the tick
        log.warning("SLA policy duration %r cannot be read", text)
        return None


def warn_at(due: dt.datetime | None, policy: SlaPolicy | None) -> dt.datetime | None:
    """When a deadline turns "at risk": `warn_before` ahead of it on the policy's clock."""
    duration = _duration(policy.warn_before) if policy is not None else None
    if due is None or duration is None:
        return None
    return current_calendar().subtract(due, duration)


def _reach(now: dt.datetime, duration: Duration) -> dt.datetime:
    """The latest deadline whose warning is due by `now`: every deadline at most `duration`
    ahead on its clock. Work time that ends on a period's end reaches on to the next start
    (a deadline at 13:30 is one work hour after 11:00)."""
    calendar = current_calendar()
    end = calendar.add(now, duration)
    return calendar.next_working_moment(end) if duration.is_work_time else end


def warning_horizon(now: dt.datetime) -> dt.datetime:
    """Deadlines up to this moment may need a warning now (the widest `warn_before` of any
    policy; the exact moment is checked per ticket)."""
    texts = set(SlaPolicy.objects.values_list("warn_before", flat=True).distinct())
    durations = [d for d in map(_duration, texts) if d is not None]
    return max((_reach(now, d) for d in durations), default=now)


def _chain(ticket: Ticket) -> list[User | None]:
    """The team's escalation chain: its lead, then the lead's supervisor."""
    lead = ticket.team.lead if ticket.team is not None else None
    return [lead, lead.supervisor if lead is not None else None]


def _local(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _candidates(query: Q) -> QuerySet[Ticket]:
    return Ticket.objects.filter(query).select_related(
        "policy", "assignee", "team__lead__supervisor", "customer"
    )


def _system_entry(ticket: Ticket, now: dt.datetime, text: str, **data: object) -> None:
    TicketEntry.objects.create(
        ticket=ticket, kind=EntryKind.SYSTEM, author=None, text=text, data=data, created_at=now
    )


# --- the three steps -------------------------------------------------------------------------


def _breach(ticket: Ticket, now: dt.datetime) -> bool:
    response_missed = (
        ticket.first_responded_at is None
        and ticket.first_response_due_at is not None
        and ticket.first_response_due_at <= now
    )
    resolution_missed = ticket.resolution_due_at is not None and ticket.resolution_due_at <= now
    if not (response_missed or resolution_missed):
        return False
    missed: dt.datetime
    if response_missed and ticket.first_response_due_at is not None:
        missed = ticket.first_response_due_at
    else:
        assert ticket.resolution_due_at is not None
        missed = ticket.resolution_due_at
    period = _duration(ticket.policy.resolution) if ticket.policy is not None else None
    following = current_calendar().add(missed, period) if period is not None else None
    with transaction.atomic():
        claimed = Ticket.objects.filter(
            pk=ticket.pk, sla_state__in=LIVE_STATES, status__in=RUNNING_STATUSES
        ).update(
            sla_state=SlaState.BREACHED,
            breached_at=now,
            escalation_level=1,
            next_escalation_at=following,
        )
        if not claimed:  # another tick got there first, or the ticket moved on
            return False
        values = {"number": ticket.number, "due": _local(missed), "subject": ticket.subject}
        if response_missed:
            text = _("Ticket %(number)s missed its first-response deadline (%(due)s): %(subject)s")
        else:
            text = _("Ticket %(number)s missed its resolution deadline (%(due)s): %(subject)s")
        text %= values
        lead = _chain(ticket)[0]
        _system_entry(
            ticket,
            now,
            text,
            event="sla_breached",
            missed="first_response" if response_missed else "resolution",
            level=1,
            to=[u.pk for u in (ticket.assignee, lead) if u is not None],
        )
        notify.people([ticket.assignee, lead], ticket, kind="ticket_breached", text=text)
    return True


def _escalate(ticket: Ticket, now: dt.datetime) -> bool:
    level = ticket.escalation_level + 1
    chain = _chain(ticket)
    target = chain[level - 1] if level <= len(chain) else None
    unchanged = Ticket.objects.filter(pk=ticket.pk, escalation_level=ticket.escalation_level)
    if target is None or not target.is_active or level > MAX_ESCALATION_LEVEL:
        unchanged.update(next_escalation_at=None)  # nobody (left) to escalate to
        return False
    period = _duration(ticket.policy.resolution) if ticket.policy is not None else None
    following = (
        current_calendar().add(ticket.next_escalation_at or now, period)
        if period is not None and level < min(len(chain), MAX_ESCALATION_LEVEL)
        else None
    )
    with transaction.atomic():
        if not unchanged.update(escalation_level=level, next_escalation_at=following):
            return False  # another tick got there first
        text = _(
            "Escalation (level %(level)s): ticket %(number)s breached its SLA at %(due)s and "
            "is still open: %(subject)s"
        ) % {
            "level": level,
            "number": ticket.number,
            "due": _local(ticket.breached_at),
            "subject": ticket.subject,
        }
        _system_entry(ticket, now, text, event="sla_escalated", level=level, to=[target.pk])
        notify.people([target], ticket, kind="ticket_escalated", text=text)
    return True


def _warn(ticket: Ticket, now: dt.datetime) -> bool:
    resolution_warn = warn_at(ticket.resolution_due_at, ticket.policy)
    response_warn = (
        warn_at(ticket.first_response_due_at, ticket.policy)
        if ticket.first_responded_at is None
        else None
    )
    response_due = response_warn is not None and response_warn <= now
    if not (response_due or (resolution_warn is not None and resolution_warn <= now)):
        return False
    with transaction.atomic():
        claimed = Ticket.objects.filter(
            pk=ticket.pk, sla_state=SlaState.ON_TRACK, status__in=RUNNING_STATUSES
        ).update(sla_state=SlaState.AT_RISK, warned_at=now)
        if not claimed:
            return False
        if response_due:
            text = _("Ticket %(number)s needs a first response by %(due)s: %(subject)s")
            due = ticket.first_response_due_at
        else:
            text = _("Ticket %(number)s must be resolved by %(due)s: %(subject)s")
            due = ticket.resolution_due_at
        text %= {"number": ticket.number, "due": _local(due), "subject": ticket.subject}
        # Nobody has the ticket yet: its lead must hand it out in time.
        who = ticket.assignee if ticket.assignee is not None else _chain(ticket)[0]
        _system_entry(ticket, now, text, event="sla_warned", to=[who.pk] if who is not None else [])
        notify.people([who], ticket, kind="ticket_at_risk", text=text)
    return True


def ticket_sla_tick(now: dt.datetime | None = None) -> dict[str, int]:
    """Breaches, escalations and warnings due at `now` (default: now) of running tickets."""
    now = now or timezone.now()
    counts = {"warned": 0, "breached": 0, "escalated": 0}
    running = Q(status__in=RUNNING_STATUSES)
    unanswered = Q(first_responded_at__isnull=True)

    # Breaches first: a ticket past its deadline is breached, not warned.
    seen: set[int] = set()
    for query in (
        running & Q(resolution_due_at__lte=now, sla_state__in=LIVE_STATES),
        running & unanswered & Q(sla_state__in=LIVE_STATES, first_response_due_at__lte=now),
    ):
        for ticket in _candidates(query):
            if ticket.pk not in seen:
                seen.add(ticket.pk)
                counts["breached"] += _breach(ticket, now)

    escalating = running & Q(sla_state=SlaState.BREACHED, next_escalation_at__lte=now)
    for ticket in _candidates(escalating):
        counts["escalated"] += _escalate(ticket, now)

    horizon = warning_horizon(now)
    seen.clear()
    for query in (
        running & Q(resolution_due_at__lte=horizon, sla_state=SlaState.ON_TRACK),
        running & unanswered & Q(sla_state=SlaState.ON_TRACK, first_response_due_at__lte=horizon),
    ):
        for ticket in _candidates(query):
            if ticket.pk not in seen:
                seen.add(ticket.pk)
                counts["warned"] += _warn(ticket, now)
    return counts
