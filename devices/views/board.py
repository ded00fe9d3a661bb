"""The monitoring centre's alarm board (监控台), an event's page, and acknowledging an event.

The board page polls its rows partial every 2 s (htmx); each answer carries the next poll (with
the newest id it showed, so rows newer than that flash) and the open counters out of band.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from accounts.models import User
from audit.selectors import object_history
from devices import board_services
from devices.board_services import NOTES_MAX_LENGTH, BoardTab
from devices.gb26875 import codes
from devices.models import BOARD_KINDS, DeviceEvent, EventKind, Verdict
from ruwang.lib.views import apply_errors

POLL_SECONDS = 2

TAB_LABELS = {
    BoardTab.OPEN: gettext_lazy("Open"),
    BoardTab.HANDLED_TODAY: gettext_lazy("Handled today"),
    BoardTab.RECENT: gettext_lazy("Last 24 hours"),
}
KIND_STYLES = {
    EventKind.FIRE: ("danger", "fire"),
    EventKind.FAULT: ("warning", "exclamation-triangle-fill"),
    EventKind.OFFLINE: ("secondary", "wifi-off"),
}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require_board(user: User) -> None:
    if not user.has_perm("devices.view_board"):
        raise PermissionDenied("devices.view_board")


def _event_or_404(user: User, pk: int) -> DeviceEvent:
    try:
        return board_services.board_event_get(user, pk)
    except DeviceEvent.DoesNotExist as exc:
        raise Http404 from exc


# --- presentation of one event -------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    event: DeviceEvent
    style: str  # Bootstrap colour of the kind
    icon: str
    customer: str
    site: str
    floor: str
    location: str
    unknown_point: bool
    equipment: str  # component type (or system type) name
    locate_url: str
    new: bool  # arrived since the previous poll: flashes when a fire alarm
    age_seconds: int  # since it was received


def _plan_url(floor_id: int, point_id: int, cache: dict[int, str]) -> str:
    if floor_id not in cache:
        cache[floor_id] = reverse("devices:plan_editor", args=[floor_id])
    return f"{cache[floor_id]}?{urlencode({'highlight': point_id})}"


def _row(event: DeviceEvent, since: int | None, plans: dict[int, str], now: datetime) -> EventRow:
    collector = event.collector
    point = event.point
    style, icon = KIND_STYLES.get(EventKind(event.kind), ("info", "info-circle"))
    floor = location = equipment = locate = ""
    # A collector may read a panel serving several buildings: a point's floor names its own.
    site = collector.site.name if collector.site is not None else ""
    if point is not None:
        if point.floor is not None:
            floor, site = point.floor.name, point.floor.site.name
        location = point.location or str(point)
        equipment = codes.component_type_name(point.component_type)
        if point.floor_id is not None and point.x is not None and point.y is not None:
            locate = _plan_url(point.floor_id, point.pk, plans)
    elif event.component_address is not None:
        location = event.description
    elif event.system_type is not None:
        location = f"{codes.system_type_name(event.system_type)} #{event.system_address}"
    else:
        location = collector.location
    if not equipment and event.component_type is not None:
        equipment = codes.component_type_name(event.component_type)
    elif not equipment and event.system_type is not None:
        equipment = codes.system_type_name(event.system_type)
    return EventRow(
        event=event,
        style=style,
        icon=icon,
        customer=collector.customer.name if collector.customer is not None else "",
        site=site,
        floor=floor,
        location=location,
        unknown_point=event.unknown_point,
        equipment=equipment,
        locate_url=locate,
        new=since is not None and event.pk > since,
        age_seconds=max(int((now - event.received_at).total_seconds()), 0),
    )


# Labels of the decoded information object's keys (devices.gb26875 `as_dict`), in page order.
DATA_LABELS: dict[str, Any] = {
    "system_type": gettext_lazy("System type"),
    "system_address": gettext_lazy("System address"),
    "component_type": gettext_lazy("Component type"),
    "component_address": gettext_lazy("Component address"),
    "status": gettext_lazy("Status word"),
    "status_bits": gettext_lazy("Status"),
    "operation": gettext_lazy("Operation word"),
    "operation_bits": gettext_lazy("Operations"),
    "operator": gettext_lazy("Operator number"),
    "analog_type": gettext_lazy("Analog type"),
    "raw_value": gettext_lazy("Raw value"),
    "value": gettext_lazy("Value"),
    "description": gettext_lazy("Description"),
    "occurred_at": gettext_lazy("Occurred at (device clock)"),
    "system_time": gettext_lazy("Clock"),
    "major": gettext_lazy("Major version"),
    "minor": gettext_lazy("Minor version"),
    "count": gettext_lazy("Count"),
    "payload": gettext_lazy("Payload"),
}
# Shown together with the code they name.
_MERGED_KEYS = {"system_type_name", "component_type_name", "analog_type_name", "unit"}
_STATUS_BITS: dict[int, tuple[codes.BitFlag, ...]] = {
    codes.InfoType.SYSTEM_STATUS: codes.SYSTEM_STATUS_BITS,
    codes.InfoType.COMPONENT_STATUS: codes.COMPONENT_STATUS_BITS,
    codes.InfoType.COLLECTOR_STATUS: codes.COLLECTOR_STATUS_BITS,
}
_OPERATION_BITS: dict[int, tuple[codes.BitFlag, ...]] = {
    codes.InfoType.OPERATION: codes.OPERATION_BITS,
    codes.InfoType.COLLECTOR_OPERATION: codes.COLLECTOR_OPERATION_BITS,
}


def _bit_labels(names: list[str], table: tuple[codes.BitFlag, ...]) -> str:
    """The standard's own wording of the bits in Chinese; their code names otherwise."""
    if (get_language() or "zh-hans").startswith("zh"):
        wording = {flag.name: flag.zh for flag in table}
        return "、".join(wording.get(name, name) for name in names)
    return ", ".join(name.replace("_", " ") for name in names)


def _data_value(key: str, value: Any, data: dict[str, Any], info_type: int | None) -> str:
    if key in ("system_type", "component_type", "analog_type"):
        name = data.get(f"{key}_name")
        return f"{value} {name}" if name else str(value)
    if key == "component_address" and isinstance(value, int):
        return f"{value} (0x{value:08X})"
    if key in ("status", "operation") and isinstance(value, int):
        return f"0x{value:04X}" if key == "status" else f"0x{value:02X}"
    if key == "status_bits" and isinstance(value, list):
        return _bit_labels(value, _STATUS_BITS.get(info_type or 0, codes.COMPONENT_STATUS_BITS))
    if key == "operation_bits" and isinstance(value, list):
        return _bit_labels(value, _OPERATION_BITS.get(info_type or 0, codes.OPERATION_BITS))
    if key == "value" and data.get("unit"):
        return f"{value} {data['unit']}"
    if key in ("occurred_at", "system_time", "start_at") and isinstance(value, str):
        return value.replace("T", " ")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def data_items(event: DeviceEvent) -> list[tuple[str, str]]:
    """The decoded information object as (label, value) pairs: known keys first, in a fixed
    order, with Chinese labels; keys this page does not know keep their own name."""
    data = event.data if isinstance(event.data, dict) else {}
    known = [key for key in DATA_LABELS if key in data]
    unknown = sorted(key for key in data if key not in DATA_LABELS and key not in _MERGED_KEYS)
    return [
        (str(DATA_LABELS.get(key, key)), _data_value(key, data[key], data, event.info_type))
        for key in (*known, *unknown)
    ]


# --- the board --------------------------------------------------------------------------------


def _tab(request: HttpRequest) -> BoardTab:
    try:
        return BoardTab(request.GET.get("tab", BoardTab.OPEN))
    except ValueError:
        return BoardTab.OPEN


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", "")
    return kind if kind in BOARD_KINDS else ""


def _since(request: HttpRequest) -> int | None:
    raw = request.GET.get("since", "")
    return int(raw) if raw.isdigit() else None


@login_required
def board(request: HttpRequest, partial: bool = False) -> HttpResponse:
    user = _user(request)
    _require_board(user)
    tab, kind, since = _tab(request), _kind(request), _since(request)
    page = board_services.board_events(user, tab=tab, kind=kind)
    plans: dict[int, str] = {}
    now = timezone.now()
    rows = [_row(event, since, plans, now) for event in page.rows]
    newest = max([since or 0, *(row.event.pk for row in rows)])
    filters: dict[str, str | int] = {"tab": tab.value, **({"kind": kind} if kind else {})}
    context = {
        "rows": rows,
        "more": page.more,
        "limit": board_services.BOARD_LIMIT,
        "tab": tab,
        "kind": kind,
        "tabs": [
            (
                value,
                label,
                f"?{urlencode({'tab': value.value, **({'kind': kind} if kind else {})})}",
            )
            for value, label in TAB_LABELS.items()
        ],
        "kinds": [
            (
                value,
                EventKind(value).label if value else _("All kinds"),
                f"?{urlencode({'tab': tab.value, **({'kind': value} if value else {})})}",
            )
            for value in ("", *BOARD_KINDS)
        ],
        "counts": _counts(board_services.board_open_counts(user)),
        "poll_url": f"{reverse('devices:board_rows')}?{urlencode({**filters, 'since': newest})}",
        "poll_seconds": POLL_SECONDS,
        "can_handle": user.has_perm("devices.handle_event"),
        "new_fire": any(row.new and row.event.kind == EventKind.FIRE for row in rows),
    }
    htmx = getattr(request, "htmx", False)
    if partial or htmx:
        return render(request, "devices/board/_rows_response.html", context)
    return render(request, "devices/board/board.html", context)


def _counts(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "label": EventKind(kind).label,
            "n": counts[str(kind)],
            "style": KIND_STYLES[kind][0],
            "icon": KIND_STYLES[kind][1],
        }
        for kind in BOARD_KINDS
    ]


# --- one event ----------------------------------------------------------------------------------


class EventHandleForm(forms.Form):
    verdict = forms.ChoiceField(
        label=gettext_lazy("Verdict"), choices=Verdict.choices, widget=forms.RadioSelect
    )
    notes = forms.CharField(
        label=gettext_lazy("Notes"),
        required=False,
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Required for a real fire and a false alarm: what was found, who was called."
        ),
    )


def _frame_summary(event: DeviceEvent) -> dict[str, Any] | None:
    frame = event.frame
    if frame is None:
        return None
    raw = bytes(frame.raw)
    return {
        "frame": frame,
        "command": f"{frame.command} {codes.command_name(frame.command)}",
        "info_type": (
            f"{frame.info_type} {codes.info_type_name(frame.info_type)}"
            if frame.info_type is not None
            else ""
        ),
        "hex": raw.hex(" ").upper(),
        "length": len(raw),
    }


@login_required
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    _require_board(user)
    event = _event_or_404(user, pk)
    can_handle = user.has_perm("devices.handle_event") and event.handled_at is None
    context = {
        "row": _row(event, None, {}, timezone.now()),
        "event": event,
        "data": data_items(event),
        "frame": _frame_summary(event),
        "history": object_history("devices.deviceevent", str(event.pk), limit=50),
        "form": EventHandleForm() if can_handle else None,
    }
    return render(request, "devices/board/event.html", context)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("devices:board")


@login_required
def event_handle(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    _require_board(user)
    event = _event_or_404(user, pk)
    if not user.has_perm("devices.handle_event"):
        raise PermissionDenied("devices.handle_event")
    htmx = getattr(request, "htmx", False)
    form = EventHandleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            board_services.event_handle(
                actor=user,
                event=event,
                verdict=form.cleaned_data["verdict"],
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            done = _("%(kind)s handled as “%(verdict)s”.") % {
                "kind": event.get_kind_display(),
                "verdict": event.get_verdict_display(),
            }
            if htmx:
                response = render(request, "devices/board/_handle_done.html", {"message": done})
                response["HX-Trigger"] = "rw-board-refresh"
                return response
            messages.success(request, done)
            return redirect(_next_url(request))
    context = {
        "row": _row(event, None, {}, timezone.now()),
        "event": event,
        "form": form,
        "next": _next_url(request),
    }
    template = "devices/board/_handle_form.html" if htmx else "devices/board/handle.html"
    return render(request, template, context)


urlpatterns: list[URLPattern] = [
    path("board/", board, name="board"),
    path("board/rows/", board, {"partial": True}, name="board_rows"),
    path("events/<int:pk>/", event_detail, name="event"),
    path("events/<int:pk>/handle/", event_handle, name="event_handle"),
]
