"""Reads of tickets (工单), limited to what the user may see.

A ticket is visible with its customer (customers.selectors' visibility rules) to holders of
service.view_ticket. Lists walk the (-created_at, -id) index newest first with a keyset cursor
and never count further than COUNT_CAP rows (millions of closed tickets pile up).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Customer, Segment
from customers.segments import segment_members_q
from customers.selectors import (
    LIST_CAP,
    SEARCH_COLUMNS,
    CustomerFilters,
    customer_query,
    customers_visible_to,
    users_who_see,
    visibility_scope,
)
from service.models import (
    OPEN_TICKET_STATUSES,
    EntryKind,
    SlaState,
    Team,
    Ticket,
    TicketAttachment,
    TicketEntry,
    TicketLink,
    TicketStatus,
)

VIEW_PERM = "service.view_ticket"
ADD_PERM = "service.add_ticket"
WORK_PERM = "service.work_ticket"
ASSIGN_PERM = "service.assign_ticket"

COUNT_CAP = LIST_CAP
PAGE_SIZE = 50
CARD_SIZE = 5

# The list's status views besides the single statuses.
STATUS_OPEN = "open"
STATUS_ALL = "all"
# Assignee filter values ("" is anyone).
ASSIGNEE_ME = "me"
ASSIGNEE_NOBODY = "nobody"
# The SLA states a list filters by (the others: no SLA, met).
SLA_FILTERS = (SlaState.ON_TRACK, SlaState.AT_RISK, SlaState.BREACHED)

# A page of tickets shows its customers' names: their search columns are not loaded.


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    """Every ticket of a customer the user may see (none without service.view_ticket)."""
    if not user.has_perm(VIEW_PERM):
        return Ticket.objects.none()
    qs = Ticket.objects.all()
    if visibility_scope(user).everything:
        # Merged customers keep their rows but leave every list, as in customers_visible_to.
        return qs.filter(customer__merged_into__isnull=True)
    return qs.filter(customer__in=customers_visible_to(user).values("id"))


@dataclass(frozen=True)
class TicketFilters:
    status: str = STATUS_OPEN  # "open", "all" or one TicketStatus
    kind: str = ""
    priority: str = ""
    team: Team | None = None
    assignee: str = ""  # "", "me" or "nobody"
    sla: str = ""  # "" or one of SLA_FILTERS
    customer: Customer | None = None  # one customer (from its profile)
    customer_text: str = ""  # the customers a search finds (name, pinyin, initials, phone)
    q: str = ""  # ticket number or words of the subject
    segment: Segment | None = None  # the customers of a segment the user may use


def _number_condition(text: str) -> Q | None:
    """The ticket a number names: `GD-2026-000045` exactly, or `45` (the number's serial is the
    ticket's id, see service.tickets._next_number)."""
    if text.isdigit():
        return Q(id=int(text), number__endswith=f"-{int(text):06d}")
    if text.upper().startswith("GD-"):
        return Q(number=text.upper())
    return None


def _filtered(user: User, filters: TicketFilters) -> QuerySet[Ticket]:
    """The tickets the filters select, every status (the caller adds the status)."""
    qs = tickets_visible_to(user)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    if filters.team is not None:
        qs = qs.filter(team=filters.team)
    if filters.assignee == ASSIGNEE_ME:
        qs = qs.filter(assignee=user)
    elif filters.assignee == ASSIGNEE_NOBODY:
        qs = qs.filter(assignee__isnull=True)
    if filters.sla in SLA_FILTERS:
        qs = qs.filter(sla_state=filters.sla)
    if filters.customer is not None:
        qs = qs.filter(customer=filters.customer)
    if filters.segment is not None:
        qs = qs.filter(segment_members_q(filters.segment, "customer__"))
    if filters.customer_text.strip():
        matching = customer_query(user, CustomerFilters(q=filters.customer_text)).queryset
        qs = qs.filter(customer__in=matching.order_by().values("id"))
    text = filters.q.strip()
    if text:
        by_number = _number_condition(text)
        qs = qs.filter(by_number if by_number is not None else Q(subject__icontains=text))
    return qs


def _with_status(qs: QuerySet[Ticket], status: str) -> QuerySet[Ticket]:
    if status == STATUS_OPEN:
        return qs.filter(status__in=OPEN_TICKET_STATUSES)
    if status in TicketStatus.values:
        return qs.filter(status=status)
    return qs  # all


def ticket_list(user: User, filters: TicketFilters) -> QuerySet[Ticket]:
    """The tickets of one list view, newest first, with what a row shows."""
    qs = _with_status(_filtered(user, filters), filters.status)
    return (
        qs.select_related("customer", "team", "assignee")
        .defer(*(f"customer__{name}" for name in SEARCH_COLUMNS))
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class TicketRow:
    """A ticket with the SLA deadline a list shows: the first response's until someone has
    responded, then the resolution's."""

    ticket: Ticket
    due_at: dt.datetime | None
    first_response: bool


def ticket_row(ticket: Ticket) -> TicketRow:
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        return TicketRow(ticket, ticket.first_response_due_at, first_response=True)
    return TicketRow(ticket, ticket.resolution_due_at, first_response=False)


@dataclass
class TicketPage:
    rows: list[TicketRow]
    next_cursor: str


def _after(cursor: str) -> Q | None:
    """Rows after the cursor "created_at|id" newest first (keyset: no OFFSET scans)."""
    moment, _sep, raw_id = cursor.rpartition("|")
    if not raw_id.isdigit():
        return None
    try:
        created = dt.datetime.fromisoformat(moment)
    except ValueError:
        return None
    return Q(created_at__lt=created) | Q(created_at=created, id__lt=int(raw_id))


def ticket_page(
    user: User, filters: TicketFilters, cursor: str = "", size: int | None = None
) -> TicketPage:
    """One page newest first (PAGE_SIZE rows) after the cursor, and the next page's cursor."""
    size = size or PAGE_SIZE
    qs = ticket_list(user, filters)
    after = _after(cursor) if cursor else None
    if after is not None:
        qs = qs.filter(after)
    rows = list(qs[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        last = rows[size - 1]
        next_cursor = f"{last.created_at.isoformat()}|{last.pk}"
    return TicketPage(rows=[ticket_row(t) for t in rows[:size]], next_cursor=next_cursor)


def _capped(qs: QuerySet[Ticket]) -> int:
    return qs.order_by().values("pk")[: COUNT_CAP + 1].count()


def count_label(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def status_counts(user: User, filters: TicketFilters) -> dict[str, str]:
    """How many tickets each status tab holds under the other filters, as labels ("10,000+"
    beyond COUNT_CAP): one capped count per status; "open" and "all" add them up."""
    base = _filtered(user, filters)
    counts = {status: _capped(base.filter(status=status)) for status in TicketStatus.values}
    open_total = sum(counts[s] for s in OPEN_TICKET_STATUSES)
    labels = {status: count_label(n) for status, n in counts.items()}
    labels[STATUS_OPEN] = count_label(open_total)
    labels[STATUS_ALL] = count_label(sum(counts.values()))
    return labels


def my_open_ticket_count(user: User) -> int:
    """Open tickets assigned to the user (the sidebar's badge); its (assignee, status) index
    answers it."""
    if not user.has_perm(VIEW_PERM):
        return 0
    return Ticket.objects.filter(assignee=user, status__in=OPEN_TICKET_STATUSES).count()


# --- one ticket ------------------------------------------------------------------------------


def ticket_get(user: User, pk: int) -> Ticket:
    """The ticket, or Ticket.DoesNotExist (shown as 404) when the user may not see it."""
    ticket = Ticket.objects.select_related(
        "customer",
        "site",
        "collector",
        "team",
        "team__lead",
        "assignee",
        "created_by",
        "policy",
    ).get(pk=pk)
    if not user.has_perm(VIEW_PERM) or not visibility_scope(user).admits(ticket.customer):
        raise Ticket.DoesNotExist
    return ticket


def ticket_by_number(user: User, text: str) -> Ticket | None:
    """The visible ticket a number names (`GD-2026-000045` or `45`), or None."""
    condition = _number_condition(text.strip())
    if condition is None:
        return None
    return tickets_visible_to(user).filter(condition).select_related("customer").first()


@dataclass(frozen=True)
class TimelineRow:
    entry: TicketEntry
    heading: str
    detail: str = ""

    @property
    def shows_text(self) -> bool:
        """The entry's own text is shown, except the subject copied into "ticket opened"."""
        return bool(self.entry.text) and self.entry.data.get("event") != "created"


def _user_names(entries: list[TicketEntry]) -> dict[int, str]:
    ids = {
        entry.data.get(key)
        for entry in entries
        if entry.kind == EntryKind.ASSIGNMENT
        for key in ("to", "previous")
    }
    ids.discard(None)
    if not ids:
        return {}
    return {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}


def _status_label(value: object) -> str:
    return str(TicketStatus(str(value)).label) if value in TicketStatus.values else str(value)


def _describe(entry: TicketEntry, names: dict[int, str]) -> tuple[str, str]:
    data = entry.data or {}
    if entry.kind == EntryKind.NOTE:
        return str(_("Internal note")), ""
    if entry.kind == EntryKind.MESSAGE:
        return str(_("Message to the customer")), ""
    if entry.kind == EntryKind.STATUS:
        return str(_("Status changed")), (
            f"{_status_label(data.get('before'))} → {_status_label(data.get('after'))}"
        )
    if entry.kind == EntryKind.ASSIGNMENT:
        target = names.get(data.get("to") or 0)
        previous = names.get(data.get("previous") or 0)
        shown = target or str(_("the team (nobody present to take it)"))
        detail = f"{previous} → {shown}" if previous else shown
        return str(_("Assigned")), detail
    event = data.get("event", "")
    if event == "created":
        return str(_("Ticket opened")), ""
    if event == "linked":
        return str(_("Linked to another ticket")), str(data.get("target", ""))
    if event == "attached":
        return str(_("File attached")), str(data.get("file", ""))
    # Other apps' events (complaint review, articles, surveys, automation) carry their sentence.
    return str(_("System")), entry.text


def ticket_timeline(ticket: Ticket) -> list[TimelineRow]:
    """The ticket's entries oldest first, each with what it says (two queries)."""
    entries = list(
        TicketEntry.objects.filter(ticket=ticket)
        .select_related("author")
        .order_by("created_at", "id")
    )
    names = _user_names(entries)
    rows = []
    for entry in entries:
        heading, detail = _describe(entry, names)
        rows.append(TimelineRow(entry=entry, heading=heading, detail=detail))
    return rows


def ticket_attachments(ticket: Ticket) -> list[TicketAttachment]:
    return list(
        TicketAttachment.objects.filter(ticket=ticket)
        .select_related("document__current")
        .order_by("added_at", "id")
    )


@dataclass(frozen=True)
class LinkedTicket:
    ticket: Ticket
    kind_label: str
    visible: bool


def ticket_links(user: User, ticket: Ticket) -> list[LinkedTicket]:
    """Tickets linked from and to this one; those of customers the user may not see are listed
    by number only (`visible` False)."""
    scope = visibility_scope(user)
    rows: list[LinkedTicket] = []
    outgoing = TicketLink.objects.filter(source=ticket).select_related("target__customer")
    for link in outgoing.order_by("id"):
        rows.append(
            LinkedTicket(link.target, link.get_kind_display(), scope.admits(link.target.customer))
        )
    incoming = TicketLink.objects.filter(target=ticket).select_related("source__customer")
    for link in incoming.order_by("id"):
        rows.append(
            LinkedTicket(link.source, link.get_kind_display(), scope.admits(link.source.customer))
        )
    return rows


def ticket_workers(customer: Customer) -> QuerySet[User]:
    """Active users who may work tickets and see `customer`: those a ticket can go to."""
    perm = Q(
        groups__permissions__codename="work_ticket",
        groups__permissions__content_type__app_label="service",
    ) | Q(
        user_permissions__codename="work_ticket",
        user_permissions__content_type__app_label="service",
    )
    workers = User.objects.filter(is_active=True).filter(
        pk__in=User.objects.filter(perm | Q(is_superuser=True)).values("pk")
    )
    return users_who_see(customer, workers).order_by("display_name", "username")


# --- the customer profile's card -------------------------------------------------------------


@dataclass
class CustomerTickets:
    """What the customer profile's ticket card shows."""

    customer: Customer
    recent: list[Ticket]
    open_count: int
    can_add: bool
    more: bool = field(default=False)


def customer_tickets(user: User, customer: Customer) -> CustomerTickets | None:
    """The customer's latest tickets (newest first) and how many are open; None when the user
    may not see tickets or this customer."""
    if not user.has_perm(VIEW_PERM) or not visibility_scope(user).admits(customer):
        return None
    recent = list(
        Ticket.objects.filter(customer=customer)
        .select_related("assignee", "team")
        .order_by("-created_at", "-id")[: CARD_SIZE + 1]
    )
    open_count = (
        Ticket.objects.filter(customer=customer, status__in=OPEN_TICKET_STATUSES)
        .order_by()
        .values("pk")[: COUNT_CAP + 1]
        .count()
    )
    return CustomerTickets(
        customer=customer,
        recent=recent[:CARD_SIZE],
        open_count=open_count,
        can_add=user.has_perm(ADD_PERM),
        more=len(recent) > CARD_SIZE,
    )
