"""Tickets the system raises by itself: device faults, revisits on their dates, firmware upgrades.

Each such ticket carries a `source_key` naming what raised it (`collector:<id>:<fault kind>`,
`revisit:<id>`, `campaign-target:<id>`); the partial unique constraint on open tickets keeps one
open ticket per source, so a repeated fault updates the open ticket instead of adding another.
When the cause goes away (the collector recovers, the fault is closed, the upgrade is done) the
ticket is resolved and closed automatically — unless a person took it over (worked on it, see
service.tickets._touch): then it only gets an entry saying so, and the person closes it.

The device hooks run inside the device layer's transactions (the gateway's offline check and
ingest, the network pages): each ticket is written in its own savepoint and a failure is logged,
never raised, so trouble with a ticket never loses device data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from devices.models import (
    CampaignStatus,
    CampaignTarget,
    Collector,
    Fault,
    FaultKind,
    FaultStatus,
    FirmwareCampaign,
    TargetStatus,
)
from service import services, tickets
from service.models import (
    OPEN_TICKET_STATUSES,
    Channel,
    EntryKind,
    LinkKind,
    Priority,
    RevisitStatus,
    ScheduledRevisit,
    Ticket,
    TicketEntry,
    TicketKind,
    TicketStatus,
)

if TYPE_CHECKING:
    from service.models import Survey

log = logging.getLogger(__name__)
T = TypeVar("T")

# Kinds a revisit's follow-up issues may be opened as (the revisit form offers these).
ISSUE_KINDS = (TicketKind.OTHER, TicketKind.FAULT)
ISSUE_SUBJECT_MAX = Ticket._meta.get_field("subject").max_length or 120
FINDINGS_MAX = 4000
MAX_ISSUES = 20


def fault_source_key(collector_id: int, kind: str) -> str:
    return f"collector:{collector_id}:{kind}"


def revisit_source_key(revisit_id: int) -> str:
    return f"revisit:{revisit_id}"


def target_source_key(target_id: int) -> str:
    return f"campaign-target:{target_id}"


def _when(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _open_ticket(source_key: str) -> Ticket | None:
    return (
        Ticket.objects.select_related("customer", "policy")
        .filter(source_key=source_key, status__in=OPEN_TICKET_STATUSES)
        .first()
    )


def _system_entry(ticket: Ticket, text: str, at: dt.datetime | None = None, **data: object) -> None:
    TicketEntry.objects.create(
        ticket=ticket,
        kind=EntryKind.SYSTEM,
        author=None,
        text=text,
        data=data,
        created_at=at or timezone.now(),
    )


def _raise_or_update(
    source_key: str, create: Callable[[], Ticket], again: str, at: dt.datetime, **data: object
) -> tuple[Ticket, bool]:
    """The open ticket of `source_key` with an entry `again`, or a new one from `create`.
    Returns (ticket, created)."""
    existing = _open_ticket(source_key)
    if existing is None:
        try:
            return create(), True
        except ValidationError:
            # Another process opened it between the look-up and the insert (the partial unique
            # constraint refused the second): update that one instead.
            existing = _open_ticket(source_key)
            if existing is None:
                raise
    _system_entry(existing, again, at, **data)
    return existing, False


def _settle(ticket: Ticket, text: str, at: dt.datetime | None = None, **data: object) -> bool:
    """The cause of a system ticket went away: resolve and close it with `text`, or — taken
    over by a person — only say so on its timeline. Returns whether it was closed."""
    if ticket.taken_over:
        _system_entry(
            ticket,
            _("%(what)s The ticket stays open: a person took it over and closes it.")
            % {"what": text},
            at,
            **data,
        )
        return False
    ticket = tickets.ticket_set_status(
        actor=None, ticket=ticket, status=TicketStatus.RESOLVED, text=text
    )
    tickets.ticket_set_status(
        actor=None, ticket=ticket, status=TicketStatus.CLOSED, text=_("Closed automatically.")
    )
    return True


def _collect(into: list[T], work: Callable[..., T], *args: Any, **kwargs: Any) -> None:
    into.append(work(*args, **kwargs))


def _isolated(what: str, work: Callable[[], object]) -> None:
    """Run one ticket's work in a savepoint; a failure is logged and undone, not raised (the
    caller is device traffic or a device page whose own write must go on)."""
    try:
        with transaction.atomic():
            work()
    except Exception:
        log.exception("service automation: %s failed", what)


# --- device faults ---------------------------------------------------------------------------


def _fault_subject(fault: Fault, collector: Collector) -> str:
    if fault.kind == FaultKind.OFFLINE:
        return _("Collector %(serial)s offline") % {"serial": collector.serial_number}
    return _("%(kind)s: collector %(serial)s") % {
        "kind": fault.get_kind_display(),
        "serial": collector.serial_number,
    }


def _fault_description(fault: Fault, collector: Collector) -> str:
    lines = [
        _("Raised by the system: %(kind)s at %(time)s.")
        % {"kind": fault.get_kind_display(), "time": _when(fault.opened_at)}
    ]
    where = " · ".join(p for p in (str(collector.site or ""), collector.location) if p)
    if where:
        lines.append(_("Installed at: %(where)s") % {"where": where})
    if fault.cause:
        lines.append(_("Cause recorded: %(cause)s") % {"cause": fault.cause})
    return "\n".join(lines)


def _fault_ticket(fault: Fault) -> Ticket:
    collector = fault.collector
    assert collector.customer is not None

    def create() -> Ticket:
        return tickets.ticket_create(
            actor=None,
            customer=collector.customer,  # type: ignore[arg-type]
            kind=TicketKind.FAULT,
            subject=_fault_subject(fault, collector),
            description=_fault_description(fault, collector),
            priority=Priority.HIGH,
            channel=Channel.SYSTEM,
            collector=collector,
            source_key=fault_source_key(collector.pk, fault.kind),
            now=fault.opened_at,
            fault=fault,
        )

    if fault.kind == FaultKind.OFFLINE:
        again = _("Still offline: the collector went offline again at %(time)s.")
    else:
        again = _("Reported again: %(kind)s at %(time)s.")
    again %= {"kind": fault.get_kind_display(), "time": _when(fault.opened_at)}
    return _raise_or_update(
        fault_source_key(collector.pk, fault.kind),
        create,
        again,
        fault.opened_at,
        event="fault_again",
        fault=fault.pk,
    )[0]


def fault_tickets_raise(faults: Iterable[Fault]) -> list[Ticket]:
    """Device faults just opened (a collector offline after three missed heartbeats, a fault
    recorded on the network pages): open a fault ticket for engineering per collector and
    kind, or add an entry to the one already open. Collectors of no customer are skipped.
    Returns the tickets opened or updated."""
    ids = [f.pk for f in faults if f.pk is not None]
    found = (
        Fault.objects.filter(pk__in=ids, collector__customer__isnull=False)
        .select_related("collector__customer", "collector__site")
        .order_by("id")
    )
    raised: list[Ticket] = []
    for fault in found:
        _isolated(
            f"fault ticket of fault {fault.pk}", partial(_collect, raised, _fault_ticket, fault)
        )
    return raised


def collectors_recovered(collector_ids: Sequence[int], at: dt.datetime | None = None) -> int:
    """Collectors heard from again after being offline: their offline tickets are resolved
    and closed (or, taken over, told). Returns how many tickets were closed."""
    if not collector_ids:
        return 0
    at = at or timezone.now()
    keys = [fault_source_key(pk, FaultKind.OFFLINE) for pk in collector_ids]
    open_tickets = Ticket.objects.filter(
        source_key__in=keys, status__in=OPEN_TICKET_STATUSES
    ).select_related("customer", "policy")
    closed: list[bool] = []
    text = _("The collector is back online (%(time)s).") % {"time": _when(at)}
    for ticket in open_tickets:
        _isolated(
            f"recovery of ticket {ticket.pk}",
            partial(_collect, closed, _settle, ticket, text, at, event="recovered"),
        )
    return sum(closed)


def fault_closed(fault: Fault) -> bool:
    """Staff closed a device fault: when no other fault of that kind is still open on the
    collector, its ticket is resolved and closed (or, taken over, told). Returns whether a
    ticket was closed."""
    if (
        Fault.objects.filter(collector_id=fault.collector_id, kind=fault.kind)
        .exclude(status=FaultStatus.CLOSED)
        .exclude(pk=fault.pk)
        .exists()
    ):
        return False
    ticket = _open_ticket(fault_source_key(fault.collector_id, fault.kind))
    if ticket is None:
        return False
    text = _("The fault was closed on the network pages: %(handling)s") % {
        "handling": fault.handling or fault.get_kind_display()
    }
    closed: list[bool] = []
    _isolated(
        f"closing ticket {ticket.pk}",
        partial(_collect, closed, _settle, ticket, text, event="fault_closed", fault=fault.pk),
    )
    return any(closed)


# --- firmware upgrades -----------------------------------------------------------------------


def _upgrade_ticket(target: CampaignTarget) -> Ticket:
    collector = target.collector
    campaign = target.campaign

    def create() -> Ticket:
        return tickets.ticket_create(
            actor=None,
            customer=collector.customer,  # type: ignore[arg-type]
            kind=TicketKind.UPGRADE,
            subject=_("Firmware upgrade of %(serial)s to %(version)s")
            % {"serial": collector.serial_number, "version": campaign.target_version},
            description=_(
                "Campaign %(campaign)s: upgrade the collector from %(from)s to %(version)s."
            )
            % {
                "campaign": campaign.name,
                "from": target.from_version or "—",
                "version": campaign.target_version,
            },
            priority=Priority.NORMAL,
            channel=Channel.SYSTEM,
            collector=collector,
            source_key=target_source_key(target.pk),
            campaign_target=target,
        )

    again = _("The upgrade is open again: %(status)s.") % {"status": target.get_status_display()}
    return _raise_or_update(target_source_key(target.pk), create, again, timezone.now())[0]


def _targets(ids: Iterable[int]) -> list[CampaignTarget]:
    return list(
        CampaignTarget.objects.filter(pk__in=list(ids), collector__customer__isnull=False)
        .select_related("campaign", "collector__customer", "collector__site")
        .order_by("id")
    )


def upgrade_tickets_raise(campaign: FirmwareCampaign) -> list[Ticket]:
    """A campaign started: one upgrade ticket for engineering per collector still to be
    upgraded (collectors of no customer are skipped). Returns the tickets."""
    ids = CampaignTarget.objects.filter(
        campaign=campaign,
        status__in=(TargetStatus.PENDING, TargetStatus.IN_PROGRESS, TargetStatus.FAILED),
    ).values_list("pk", flat=True)
    raised: list[Ticket] = []
    for target in _targets(ids):
        _isolated(
            f"upgrade ticket of target {target.pk}",
            partial(_collect, raised, _upgrade_ticket, target),
        )
    return raised


def _target_changed(target: CampaignTarget, by: str) -> None:
    key = target_source_key(target.pk)
    status = TargetStatus(target.status)
    detail = f" {target.note}" if target.note else ""
    if status in (TargetStatus.UPGRADED, TargetStatus.SKIPPED):
        ticket = _open_ticket(key)
        if ticket is None:
            return
        text = (
            _("Upgraded to %(version)s (%(by)s).")
            if status == TargetStatus.UPGRADED
            else _("Skipped in the campaign (%(by)s).")
        ) % {"version": target.campaign.target_version, "by": by}
        _settle(ticket, text + detail, event="target", status=status.value)
        return
    ticket = _open_ticket(key)
    if ticket is None:
        if target.campaign.status == CampaignStatus.RUNNING:
            _upgrade_ticket(target)  # reopened after it was done or skipped: tracked again
        return
    text = _("Upgrade status: %(status)s (%(by)s).") % {"status": status.label, "by": by}
    _system_entry(ticket, text + detail, event="target", status=status.value)


def upgrade_targets_changed(target_ids: Iterable[int], *, by_device: bool = False) -> None:
    """Campaign targets changed status (on the campaign page, or the collector reported the
    target version): done or skipped resolve and close the ticket (taken over: an entry),
    upgrading or failed add an entry to it."""
    by = _("reported by the collector") if by_device else _("campaign page")
    for target in _targets(target_ids):
        _isolated(f"upgrade ticket of target {target.pk}", partial(_target_changed, target, by))


def upgrade_campaign_cancelled(campaign: FirmwareCampaign) -> int:
    """A campaign was cancelled: its open upgrade tickets are resolved and closed (taken over:
    an entry). Returns how many were closed."""
    keys = [
        target_source_key(pk)
        for pk in CampaignTarget.objects.filter(campaign=campaign).values_list("pk", flat=True)
    ]
    closed: list[bool] = []
    text = _("The upgrade campaign %(name)s was cancelled.") % {"name": campaign.name}
    for ticket in Ticket.objects.filter(
        source_key__in=keys, status__in=OPEN_TICKET_STATUSES
    ).select_related("customer", "policy"):
        _isolated(
            f"cancelling ticket {ticket.pk}",
            partial(_collect, closed, _settle, ticket, text, event="campaign_cancelled"),
        )
    return sum(closed)


# --- revisits --------------------------------------------------------------------------------


def _revisit_ticket(revisit: ScheduledRevisit) -> Ticket:
    plan = revisit.plan
    collector = plan.collector
    if collector is not None and collector.customer_id != revisit.customer_id:
        collector = None  # moved to another customer since the handover
    return tickets.ticket_create(
        actor=None,
        customer=revisit.customer,
        kind=TicketKind.REVISIT,
        subject=_("Revisit %(customer)s, month %(n)d after handover")
        % {"customer": revisit.customer.name, "n": revisit.months_after},
        description=_(
            "Revisit due on %(due)s (after-sales period %(start)s – %(end)s): call or visit the "
            "customer, then record the method, the findings and any issues raised on this "
            "ticket."
        )
        % {
            "due": f"{revisit.due_on:%Y-%m-%d}",
            "start": f"{plan.starts_on:%Y-%m-%d}",
            "end": f"{plan.ends_on:%Y-%m-%d}",
        },
        priority=Priority.NORMAL,
        channel=Channel.SYSTEM,
        collector=collector,
        source_key=revisit_source_key(revisit.pk),
        revisit=revisit,
    )


def revisit_tickets_open(today: dt.date | None = None) -> list[Ticket]:
    """The daily tick: a revisit ticket for engineering for each planned revisit due today or
    earlier that has none yet; and the open revisit tickets of revisits recorded or cancelled
    on the revisit list meanwhile are resolved and closed. Returns the tickets opened."""
    today = today or timezone.localdate()
    due = (
        ScheduledRevisit.objects.filter(status=RevisitStatus.PLANNED, due_on__lte=today)
        .filter(~Exists(Ticket.objects.filter(revisit=OuterRef("pk"))))
        .select_related("customer", "plan__collector__site")
        .order_by("due_on", "id")
    )
    opened: list[Ticket] = []
    for revisit in due:
        _isolated(
            f"revisit ticket of revisit {revisit.pk}",
            partial(_collect, opened, _revisit_ticket, revisit),
        )
    stale = Ticket.objects.filter(
        kind=TicketKind.REVISIT,
        status__in=OPEN_TICKET_STATUSES,
        revisit__status__in=(RevisitStatus.DONE, RevisitStatus.CANCELLED),
    ).select_related("customer", "policy", "revisit")
    for ticket in stale:
        assert ticket.revisit is not None
        text = _("The revisit was recorded on the revisit list (%(status)s).") % {
            "status": ticket.revisit.get_status_display()
        }
        _isolated(f"closing revisit ticket {ticket.pk}", partial(_close_regardless, ticket, text))
    return opened


def _close_regardless(ticket: Ticket, text: str) -> None:
    """The work of the ticket was done elsewhere by a person: resolve and close it."""
    ticket = tickets.ticket_set_status(
        actor=None, ticket=ticket, status=TicketStatus.RESOLVED, text=text
    )
    tickets.ticket_set_status(actor=None, ticket=ticket, status=TicketStatus.CLOSED)


@dataclass
class RevisitRecorded:
    """What recording a revisit on its ticket did."""

    revisit: ScheduledRevisit
    ticket: Ticket
    follow_ups: list[Ticket] = field(default_factory=list)
    survey: Survey | None = None
    survey_problem: str = ""


def issue_lines(text: str) -> list[str]:
    """Each non-empty line of the issues field is one issue."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def revisit_record(
    *,
    actor: User,
    ticket: Ticket,
    method: str,
    findings: str,
    issues: str = "",
    issue_kind: str = TicketKind.OTHER,
) -> RevisitRecorded:
    """The revisit form of a revisit ticket: record how the customer was reached and what was
    found, open a follow-up ticket (of `issue_kind`) per issue raised (one per line), complete
    the scheduled revisit, resolve the ticket, then send the customer a satisfaction survey.
    All or nothing, except the survey: a survey that cannot be sent (no e-mail address) is
    reported in `survey_problem` and the revisit stays recorded."""
    require_perm(actor, services.CLOSE_PERM)
    if not tickets.may_work(actor, ticket):
        raise PermissionDenied(tickets.WORK_PERM)
    revisit = ticket.revisit
    if revisit is None:
        raise ValidationError(_("This ticket is not a revisit."))
    lines = issue_lines(issues)
    if lines:
        require_perm(actor, "service.add_ticket")
    findings = findings.strip()
    errors: dict[str, str] = {}
    if method not in services.REVISIT_METHODS:
        errors["method"] = _("Choose phone or visit.")
    if not findings:
        errors["findings"] = _("Write down what the revisit found.")
    elif len(findings) > FINDINGS_MAX:
        errors["findings"] = _("At most %(n)d characters.") % {"n": FINDINGS_MAX}
    if lines and issue_kind not in ISSUE_KINDS:
        errors["issue_kind"] = _("Choose the kind of ticket the issues open.")
    if len(lines) > MAX_ISSUES:
        errors["issues"] = _("At most %(n)d issues, one per line.") % {"n": MAX_ISSUES}
    elif any(len(line) > ISSUE_SUBJECT_MAX for line in lines):
        errors["issues"] = _("Each issue is one line of at most %(n)d characters.") % {
            "n": ISSUE_SUBJECT_MAX
        }
    if errors:
        raise ValidationError(errors)
    channel = Channel.PHONE if method == "phone" else Channel.VISIT
    with transaction.atomic():
        revisit = services.revisit_complete(
            actor=actor, revisit=revisit, method=method, findings=findings
        )
        follow_ups = []
        for line in lines:
            follow_up = tickets.ticket_create(
                actor=actor,
                customer=ticket.customer,
                kind=issue_kind,
                subject=line,
                description=_("Raised at the revisit %(number)s: %(findings)s")
                % {"number": ticket.number, "findings": findings},
                channel=channel,
                site=ticket.site,
                collector=ticket.collector,
            )
            tickets.ticket_link(
                actor=actor, source=follow_up, target=ticket, kind=LinkKind.FOLLOW_UP
            )
            follow_ups.append(follow_up)
        summary = _("Revisited by %(method)s: %(findings)s") % {
            "method": revisit.get_method_display(),
            "findings": findings,
        }
        if follow_ups:
            summary += "\n" + _("Issues raised: %(numbers)s") % {
                "numbers": "、".join(t.number for t in follow_ups)
            }
        current = Ticket.objects.get(pk=ticket.pk)
        if current.is_open:
            ticket = tickets.ticket_set_status(
                actor=actor, ticket=current, status=TicketStatus.RESOLVED, text=summary
            )
        else:
            tickets.ticket_note(actor=actor, ticket=current, text=summary)
    recorded = RevisitRecorded(revisit=revisit, ticket=ticket, follow_ups=follow_ups)
    from service.surveys import survey_send

    try:
        recorded.survey = survey_send(
            actor=actor, customer=ticket.customer, trigger="revisit", revisit=revisit
        )
    except ValidationError as exc:
        recorded.survey_problem = " ".join(exc.messages)
    return recorded
