"""The monitoring centre's alarm board (监控台): what it lists, and acknowledging an event.

Reads are limited by `selectors.events_visible_to`; the one write, `event_handle`, owns its
transaction, permission check and audit row like every other service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record, changes_between
from devices.models import BOARD_KINDS, DeviceEvent, Verdict
from devices.selectors import events_visible_to

# The board shows at most this many rows: a longer list is not read by anyone on duty.
BOARD_LIMIT = 200
# "All recent": what the centre received in the last day (one duty cycle of a 24×7 centre).
RECENT_WINDOW = timedelta(hours=24)
# A false alarm or a real fire must be explained; a test needs no words.
NOTES_REQUIRED = (Verdict.REAL, Verdict.FALSE)
NOTES_MAX_LENGTH = 2000


class BoardTab(StrEnum):
    OPEN = "open"
    HANDLED_TODAY = "handled"
    RECENT = "recent"


@dataclass(frozen=True)
class BoardPage:
    rows: list[DeviceEvent]
    more: bool  # more rows matched than BOARD_LIMIT


def _board_query(user: User) -> QuerySet[DeviceEvent]:
    return (
        events_visible_to(user)
        .filter(kind__in=BOARD_KINDS)
        .select_related(
            "collector__customer",
            "collector__site",
            "point__floor__site",
            "point__system",
            "handled_by",
        )
        .order_by("-id")
    )


def _start_of_today(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def board_events(
    user: User,
    *,
    tab: BoardTab = BoardTab.OPEN,
    kind: str = "",
    now: datetime | None = None,
) -> BoardPage:
    """Newest first (handled ones: most recently handled first), at most BOARD_LIMIT rows. Open
    events are served by the partial index `event_board_open`; the other tabs read backwards
    along the primary key."""
    now = now or timezone.now()
    qs = _board_query(user)
    if tab == BoardTab.OPEN:
        qs = qs.filter(handled_at=None)
    elif tab == BoardTab.HANDLED_TODAY:
        # Most recently handled first: an old alarm handled a minute ago is at the top.
        qs = qs.filter(handled_at__gte=_start_of_today(now)).order_by("-handled_at", "-id")
    else:
        qs = qs.filter(received_at__gte=now - RECENT_WINDOW)
    if kind:
        qs = qs.filter(kind=kind)
    rows = list(qs[: BOARD_LIMIT + 1])
    return BoardPage(rows=rows[:BOARD_LIMIT], more=len(rows) > BOARD_LIMIT)


def board_open_counts(user: User) -> dict[str, int]:
    """Open events per board kind (every kind present, zero when none): one query on the
    partial index."""
    counts = dict.fromkeys((str(k) for k in BOARD_KINDS), 0)
    rows = (
        events_visible_to(user)
        .filter(kind__in=BOARD_KINDS, handled_at=None)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    for kind, n in rows:
        counts[kind] = n
    return counts


def board_event_get(user: User, pk: int) -> DeviceEvent:
    """One event with what its page shows, or DeviceEvent.DoesNotExist (404) when hidden."""
    return (
        events_visible_to(user)
        .select_related(
            "collector__customer",
            "collector__site",
            "point__floor__site",
            "point__system",
            "frame",
            "handled_by",
        )
        .get(pk=pk)
    )


def event_handle(
    *, actor: User | None, event: DeviceEvent, verdict: str, notes: str
) -> DeviceEvent:
    """Acknowledge an alarm, fault or offline collector with a verdict. An event is handled
    once: a second operator's attempt is refused, even when both submit at the same moment."""
    require_perm(actor, "devices.handle_event")
    if actor is not None and not events_visible_to(actor).filter(pk=event.pk).exists():
        raise PermissionDenied("event not visible")
    if event.kind not in BOARD_KINDS:
        raise ValidationError(
            _("Only fire alarms, faults and offline collectors are handled on the board.")
        )
    if verdict not in Verdict.values:
        raise ValidationError({"verdict": _("Choose a verdict: real, false alarm or test.")})
    notes = notes.strip()
    if verdict in NOTES_REQUIRED and not notes:
        raise ValidationError(
            {"notes": _("Describe what was found: notes are required for real and false alarms.")}
        )
    if len(notes) > NOTES_MAX_LENGTH:
        raise ValidationError(
            {"notes": _("Notes are at most %(n)d characters.") % {"n": NOTES_MAX_LENGTH}}
        )
    now = timezone.now()
    with transaction.atomic():
        # A conditional update: whichever operator's UPDATE comes first wins, on every database.
        updated = DeviceEvent.objects.filter(pk=event.pk, handled_at=None).update(
            handled_at=now, handled_by=actor, verdict=verdict, notes=notes
        )
        if not updated:
            raise ValidationError(_already_handled(event.pk))
        event.handled_at, event.handled_by, event.verdict, event.notes = now, actor, verdict, notes
        audit_record(
            actor=actor,
            action="event.handle",
            obj=event,
            changes=changes_between(
                {"verdict": "", "notes": ""}, {"verdict": verdict, "notes": notes}
            ),
        )
    return event


def _already_handled(pk: int) -> str:
    handled = DeviceEvent.objects.select_related("handled_by").filter(pk=pk).first()
    if handled is None or handled.handled_at is None:
        return _("This event can no longer be handled.")
    return _("This event was already handled by %(name)s at %(time)s.") % {
        "name": handled.handled_by or _("the system"),
        "time": timezone.localtime(handled.handled_at).strftime("%Y-%m-%d %H:%M:%S"),
    }
