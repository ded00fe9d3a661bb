"""Point tables (消防设施编码 / 点位表): the table and its points, the Excel import (dry run,
then commit) and export, and the floor-plan editor. Fire systems are edited in the registry
views (devices:system_create / system_edit); the import creates new ones itself.

Between the dry run and the commit the checked rows are kept in the user's session (the cell
text of every row, a few hundred kilobytes at most, under a random token that the commit form
posts back). Nothing is stored on disk, nothing needs cleaning up, it works with any number of
web processes, and it expires with the session. The commit checks the rows again against the
database inside its transaction, so a point table changed since the dry run is caught.
"""

from __future__ import annotations

import json
import math
import secrets
from itertools import groupby
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from audit.services import audit_record
from customers.models import Floor
from customers.selectors import customer_visible
from devices import point_import, selectors, services
from devices.gb26875 import codes
from devices.models import AddressScheme, Collector, FireSystem, Point
from devices.point_forms import (
    ADDRESS_BY_PARTS,
    PointFilterForm,
    PointForm,
    PointImportForm,
    floor_label,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_POSITIONS = 20_000


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(user: User, perm: str) -> None:
    if not user.has_perm(perm):
        raise PermissionDenied(perm)


def _collector(request: HttpRequest, pk: int, *, change: bool = False) -> Collector:
    """The collector: 403 without devices.view_collector, 404 when hidden from the user, 403
    without devices.change_point_table when `change`."""
    user = _user(request)
    _require(user, "devices.view_collector")
    try:
        collector = selectors.collector_get(user, pk)
    except Collector.DoesNotExist as exc:
        raise Http404 from exc
    if change:
        _require(user, "devices.change_point_table")
    return collector


def _system(request: HttpRequest, system_pk: int) -> tuple[FireSystem, Collector]:
    """A fire system whose point table the user may change (403/404 as `_collector`)."""
    _require(_user(request), "devices.view_collector")
    collector_pk = (
        FireSystem.objects.filter(pk=system_pk).values_list("collector_id", flat=True).first()
    )
    if collector_pk is None:
        raise Http404
    collector = _collector(request, collector_pk, change=True)
    system = FireSystem.objects.get(pk=system_pk)
    system.collector = collector
    return system, collector


def _apply_errors(form: BaseForm, exc: ValidationError, address_field: str = "number") -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            if name == "component_address":
                name = address_field
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _floors(collector: Collector) -> Any:
    """The floors of the collector's customer, by building and from the top."""
    if collector.customer_id is None:
        return Floor.objects.none()
    return (
        Floor.objects.filter(site__customer_id=collector.customer_id)
        .select_related("site")
        .order_by("site_id", "-number")
    )


# --- the table ----------------------------------------------------------------------------


@login_required
def point_table(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    collector = _collector(request, pk)
    floors = list(_floors(collector))
    types = (
        Point.objects.filter(system__collector=collector)
        .order_by()
        .values_list("component_type", flat=True)
        .distinct()
    )
    form = PointFilterForm(request.GET or None, floors=floors, types=list(types))
    points = selectors.points_of_collector(collector)
    filtered = False
    if form.is_bound and form.is_valid():
        floor, kind = form.cleaned_data["floor"], form.cleaned_data["type"]
        if floor == PointFilterForm.NO_FLOOR:
            points = points.filter(floor=None)
        elif floor:
            points = points.filter(floor_id=int(floor))
        if kind is not None and kind != "":
            points = points.filter(component_type=kind)
        filtered = bool(floor) or (kind is not None and kind != "")
    rows = list(points)
    systems = list(collector.systems.order_by("system_type", "system_address"))
    by_system = {key: list(group) for key, group in groupby(rows, key=lambda p: p.system_id)}
    several_sites = len({f.site_id for f in floors}) > 1
    floor_labels = {f.pk: floor_label(f, several_sites) for f in floors}
    groups = [
        {
            "system": system,
            "type_name": codes.system_type_name(system.system_type),
            "splits": system.address_scheme != AddressScheme.NONE,
            "rows": [
                {
                    "point": p,
                    "type_name": codes.component_type_name(p.component_type),
                    "placed": p.x is not None and p.y is not None,
                    "floor": floor_labels.get(p.floor_id, "") if p.floor_id else "",
                }
                for p in by_system.get(system.pk, [])
            ],
        }
        for system in systems
        if system.pk in by_system or not filtered
    ]
    return render(
        request,
        "devices/points/table.html",
        {
            "collector": collector,
            "groups": groups,
            "count": len(rows),
            "form": form,
            "filtered": filtered,
            "floors": floors,
            "several_sites": several_sites,
            "can_edit": user.has_perm("devices.change_point_table"),
        },
    )


# --- points -----------------------------------------------------------------------------


@login_required
def point_create(request: HttpRequest, system_pk: int) -> HttpResponse:
    system, collector = _system(request, system_pk)
    return _point_form(request, system, collector, None)


@login_required
def point_edit(request: HttpRequest, pk: int) -> HttpResponse:
    system_pk = Point.objects.filter(pk=pk).values_list("system_id", flat=True).first()
    if system_pk is None:
        raise Http404
    system, collector = _system(request, system_pk)
    point = Point.objects.get(pk=pk)
    return _point_form(request, system, collector, point)


def _point_form(
    request: HttpRequest, system: FireSystem, collector: Collector, point: Point | None
) -> HttpResponse:
    form = PointForm(request.POST or None, system=system, floors=_floors(collector), point=point)
    if request.method == "POST" and form.is_valid():
        address_field = (
            "number"
            if form.cleaned_data["address_entry"] == ADDRESS_BY_PARTS
            else "component_address"
        )
        try:
            saved = services.point_save(
                actor=_user(request), system=system, data=form.service_data(), point=point
            )
        except ValidationError as exc:
            _apply_errors(form, exc, address_field)
        else:
            messages.success(request, _("Point %(point)s saved.") % {"point": saved})
            return redirect(reverse("devices:points", args=[collector.pk]) + f"#point-{saved.pk}")
    return render(
        request,
        "devices/points/point_form.html",
        {
            "form": form,
            "collector": collector,
            "system": system,
            "system_name": codes.system_type_name(system.system_type),
            "point": point,
        },
    )


# --- import and export --------------------------------------------------------------------


def _session_key(collector: Collector) -> str:
    return f"devices.points_import.{collector.pk}"


@login_required
def points_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a workbook: a dry run that writes nothing and lists every problem."""
    collector = _collector(request, pk, change=True)
    form = PointImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            sheet = point_import.read_sheet(upload.name, upload.read())
        except point_import.PointFileError as exc:
            form.add_error("file", exc.message)
        else:
            replace = form.cleaned_data["replace"]
            report = point_import.points_import(
                actor=_user(request), collector=collector, sheet=sheet, replace=replace
            )
            token = secrets.token_urlsafe(16)
            if report.ok:
                request.session[_session_key(collector)] = {
                    "token": token,
                    "replace": replace,
                    "sheet": sheet.as_json(),
                }
            else:
                request.session.pop(_session_key(collector), None)
            return _import_result(request, collector, sheet, report, token)
    return render(request, "devices/points/import.html", {"form": form, "collector": collector})


def _import_result(
    request: HttpRequest,
    collector: Collector,
    sheet: point_import.Sheet,
    report: point_import.ImportReport,
    token: str,
    *,
    committing: bool = False,
) -> HttpResponse:
    return render(
        request,
        "devices/points/import_result.html",
        {
            "collector": collector,
            "file_name": sheet.name,
            "report": report,
            "token": token,
            "committing": committing,
            "writes": report.created + report.updated,
        },
    )


@login_required
@require_POST
def points_import_commit(request: HttpRequest, pk: int) -> HttpResponse:
    """Write the rows of the last dry run: all of them, or none when a row no longer fits."""
    collector = _collector(request, pk, change=True)
    stored = request.session.get(_session_key(collector))
    if not stored or stored.get("token") != request.POST.get("token"):
        messages.error(
            request,
            _(
                "The checked file is no longer available (another file was checked since, or "
                "the session ended). Upload it again."
            ),
        )
        return redirect("devices:points_import", pk=collector.pk)
    sheet = point_import.Sheet.from_json(stored["sheet"])
    try:
        report = point_import.points_import(
            actor=_user(request),
            collector=collector,
            sheet=sheet,
            replace=bool(stored["replace"]),
            commit=True,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("devices:points_import", pk=collector.pk)
    del request.session[_session_key(collector)]
    if not report.ok:
        return _import_result(request, collector, sheet, report, "", committing=True)
    messages.success(
        request,
        _("Point table imported: %(created)d created, %(updated)d updated, %(same)d unchanged.")
        % {"created": report.created, "updated": report.updated, "same": report.unchanged},
    )
    return redirect("devices:points", pk=collector.pk)


def _xlsx(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    return response


@login_required
def points_template(request: HttpRequest) -> HttpResponse:
    _require(_user(request), "devices.view_collector")
    return _xlsx(point_import.build_template(), "点位表模板.xlsx")


@login_required
def points_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The point table in the import's columns."""
    user = _user(request)
    collector = _collector(request, pk)
    points = list(selectors.points_of_collector(collector))
    content = point_import.export_xlsx(collector, points)
    audit_record(
        actor=user,
        action="point.export",
        obj=collector,
        changes={"rows": len(points)},
    )
    return _xlsx(content, f"点位表-{collector.serial_number}.xlsx")


# --- the floor plan -----------------------------------------------------------------------


def _floor(request: HttpRequest, floor_pk: int) -> Floor:
    """A floor of a customer the user may see (404 otherwise)."""
    try:
        floor = Floor.objects.select_related("site__customer", "plan__current").get(pk=floor_pk)
    except Floor.DoesNotExist as exc:
        raise Http404 from exc
    if not customer_visible(_user(request), floor.site.customer):
        raise Http404
    return floor


def _point_json(point: Point, floor: Floor) -> dict[str, Any]:
    return {
        "id": point.pk,
        "code": str(point),
        "type": codes.component_type_name(point.component_type),
        "location": point.location,
        "system": f"{codes.system_type_name(point.system.system_type)} "
        f"#{point.system.system_address}",
        "collector": point.system.collector.serial_number,
        "on_floor": point.floor_id == floor.pk,
        "x": point.x if point.floor_id == floor.pk else None,
        "y": point.y if point.floor_id == floor.pk else None,
    }


@login_required
def plan_editor(request: HttpRequest, floor_pk: int) -> HttpResponse:
    """The floor plan with its points: editable with devices.change_point_table, otherwise
    read-only (the monitoring centre locates alarms here: `?highlight=<point id>`)."""
    user = _user(request)
    if not (user.has_perm("devices.view_collector") or user.has_perm("devices.view_board")):
        raise PermissionDenied("devices.view_collector")
    floor = _floor(request, floor_pk)
    customer = floor.site.customer
    can_edit = user.has_perm("devices.change_point_table")
    version = floor.plan.current if floor.plan else None
    is_image = version is not None and version.content_type.startswith("image/")
    # Editors also see the customer's points without a floor: placing one puts it here.
    on_floor = Q(floor=floor) | Q(floor=None) if can_edit else Q(floor=floor)
    points = list(
        Point.objects.filter(on_floor, system__collector__customer=customer)
        .select_related("system__collector")
        .order_by(
            "system__collector_id",
            "system__system_type",
            "system__system_address",
            "component_address",
        )
    )
    highlight: Point | None = None
    raw_highlight = request.GET.get("highlight", "")
    if raw_highlight.isdigit():
        highlight = next((p for p in points if p.pk == int(raw_highlight)), None)
        if highlight is None or highlight.floor_id != floor.pk:
            highlight = (
                Point.objects.filter(pk=int(raw_highlight), system__collector__customer=customer)
                .select_related("floor")
                .first()
            )
    return render(
        request,
        "devices/points/plan_editor.html",
        {
            "floor": floor,
            "site": floor.site,
            "customer": customer,
            "version": version,
            "is_image": is_image,
            "can_edit": can_edit and is_image,
            "can_upload": user.has_perm("customers.change_customer"),
            "points_data": [_point_json(p, floor) for p in points],
            "highlight": highlight,
            "highlight_here": highlight is not None and highlight.floor_id == floor.pk,
            "placed": sum(1 for p in points if p.floor_id == floor.pk and p.x is not None),
            "js_text": {
                "placed": _("On plan"),
                "notPlaced": _("Not placed"),
                "noFloor": _("No floor yet"),
                "remove": _("Remove from plan"),
                "drag": _("Drag onto the plan"),
                "unsaved": _("%(count)s unsaved changes."),
                "saved": _("Saved."),
                "failed": _("Saving failed (%(status)s). Try again."),
                "imageFailed": _("The plan image could not be loaded."),
            },
        },
    )


class _BadPositions(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _BadPositions(name)


def _positions(body: bytes) -> dict[int, tuple[float, float] | None]:
    """{point id: [x, y] | null} as posted by the editor; raises _BadPositions."""
    try:
        payload = json.loads(body or b"null", parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadPositions(_("The positions could not be read: they are not valid JSON.")) from exc
    if not isinstance(payload, dict):
        raise _BadPositions(_("The positions must be an object of point id → [x, y] or null."))
    if len(payload) > MAX_POSITIONS:
        raise _BadPositions(_("Too many points in one save."))
    positions: dict[int, tuple[float, float] | None] = {}
    for key, value in payload.items():
        if not key.isdigit():
            raise _BadPositions(_("“%(key)s” is not a point id.") % {"key": key[:20]})
        if value is None:
            positions[int(key)] = None
            continue
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not all(math.isfinite(v) for v in value)
        ):
            raise _BadPositions(
                _("The position of point %(id)s must be [x, y] with numbers from 0 to 1.")
                % {"id": key}
            )
        positions[int(key)] = (float(value[0]), float(value[1]))
    return positions


@login_required
@require_POST
def plan_save(request: HttpRequest, floor_pk: int) -> JsonResponse:
    """Save the editor's changes: {point id: [x, y] as fractions of the plan | null}."""
    user = _user(request)
    _require(user, "devices.change_point_table")
    floor = _floor(request, floor_pk)
    try:
        positions = _positions(request.body)
    except _BadPositions as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    if not positions:
        return JsonResponse({"saved": 0, "message": _("Nothing to save.")})
    version = floor.plan.current if floor.plan else None
    has_image = version is not None and version.content_type.startswith("image/")
    if not has_image and any(at is not None for at in positions.values()):
        return JsonResponse(
            {"error": _("This floor has no plan image to place points on.")}, status=400
        )
    try:
        saved = services.points_place(actor=user, floor=floor, positions=positions)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse(
        {"saved": saved, "message": _("Positions saved: %(count)d points.") % {"count": saved}}
    )


urlpatterns: list[URLPattern] = [
    path("collectors/<int:pk>/points/", point_table, name="points"),
    path("collectors/<int:pk>/points/import/", points_import, name="points_import"),
    path(
        "collectors/<int:pk>/points/import/commit/",
        points_import_commit,
        name="points_import_commit",
    ),
    path("collectors/<int:pk>/points/export.xlsx", points_export, name="points_export"),
    path("points/template.xlsx", points_template, name="points_template"),
    path("systems/<int:system_pk>/points/new/", point_create, name="point_create"),
    path("points/<int:pk>/edit/", point_edit, name="point_edit"),
    path("floors/<int:floor_pk>/plan/", plan_editor, name="plan_editor"),
    path("floors/<int:floor_pk>/plan/save/", plan_save, name="plan_save"),
]
