"""The collector registry (采集机台账): list, detail, edit, install (备案), remove, systems."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _

from accounts.models import User
from customers import selectors as customer_selectors
from customers.models import Customer
from devices import selectors, services
from devices.forms import (
    CollectorFilterForm,
    CollectorForm,
    CustomerLookupForm,
    FireSystemForm,
    InstallForm,
    RemoveForm,
    address_candidates,
)
from devices.gb26875.codes import system_type_name
from devices.models import Collector, CollectorStatus, FireSystem
from ruwang.lib.views import acting_user, apply_errors, require

PAGE_SIZE = 50
LOOKUP_SIZE = 20
LATEST_EVENTS = 20
# A page of collectors shows its customers' names: their search columns are not loaded.


def _collector_or_404(request: HttpRequest, pk: int) -> Collector:
    try:
        return selectors.collector_get(acting_user(request), pk)
    except Collector.DoesNotExist as exc:
        raise Http404 from exc


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _chosen_customer(user: User, raw: str) -> Customer | None:
    if not raw.strip().isdigit():
        return None
    try:
        return customer_selectors.customer_get(user, int(raw))
    except Customer.DoesNotExist:
        return None


# --- list ------------------------------------------------------------------------------------


def _filtered(user: User, form: CollectorFilterForm) -> QuerySet[Collector]:
    qs = selectors.collectors_visible_to(user)
    if not form.is_valid():
        return qs
    data = form.cleaned_data
    if data["status"]:
        qs = qs.filter(status=data["status"])
    if data["line"]:
        qs = qs.filter(line=data["line"])
    if data["customer"].strip():
        matching = customer_selectors.customer_query(
            user, customer_selectors.CustomerFilters(q=data["customer"])
        ).queryset
        qs = qs.filter(customer__in=matching.order_by().values("id"))
    text = data["q"].strip()
    if text:
        condition = Q(serial_number__icontains=text)
        candidates = address_candidates(text)
        if candidates:
            condition |= Q(address__in=sorted(candidates))
        qs = qs.filter(condition)
    return qs


@login_required
def collector_list(request: HttpRequest) -> HttpResponse:
    user = require(request, "devices.view_collector")
    form = CollectorFilterForm(request.GET)
    qs = (
        _filtered(user, form)
        .select_related("customer", "site")
        .defer(*(f"customer__{name}" for name in customer_selectors.SEARCH_COLUMNS))
        .order_by("-id")
    )
    after = request.GET.get("after", "")
    if after.isdigit():
        qs = qs.filter(id__lt=int(after))
    rows = list(qs[: PAGE_SIZE + 1])
    next_cursor = str(rows[PAGE_SIZE - 1].pk) if len(rows) > PAGE_SIZE else ""
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "rows": rows[:PAGE_SIZE],
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "can_add": user.has_perm("devices.add_collector"),
    }
    if _is_htmx(request) and after:
        template = "devices/registry/_collector_rows.html"
    elif _is_htmx(request):
        template = "devices/registry/_collector_results.html"
    else:
        template = "devices/registry/collector_list.html"
    return render(request, template, context)


# --- detail ----------------------------------------------------------------------------------


@login_required
def collector_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.view_collector")
    collector = _collector_or_404(request, pk)
    systems = [
        {"system": s, "type_name": system_type_name(s.system_type), "points": s.point_count}
        for s in collector.systems.annotate(point_count=Count("points")).order_by(
            "system_type", "system_address"
        )
    ]
    context = {
        "collector": collector,
        "systems": systems,
        "registrations": list(collector.registrations.select_related("customer", "site", "by")),
        "events": list(collector.events.select_related("point").order_by("-id")[:LATEST_EVENTS]),
        "can_change": user.has_perm("devices.change_collector"),
        "can_edit_points": user.has_perm("devices.change_point_table"),
        "can_test": user.has_perm("devices.run_joint_test") and collector.customer_id is not None,
        "can_record_fault": user.has_perm("devices.manage_network"),
        "joint_tests": list(collector.joint_tests.order_by("-started_at")[:5]),
        "retired": collector.status == CollectorStatus.RETIRED,
    }
    return render(request, "devices/registry/collector_detail.html", context)


# --- create and edit -------------------------------------------------------------------------


def _service_data(form: CollectorForm) -> dict[str, Any]:
    return dict(form.cleaned_data)


@login_required
def collector_create(request: HttpRequest) -> HttpResponse:
    user = require(request, "devices.add_collector")
    # From a customer's page: once registered, go on to install it there.
    customer = _chosen_customer(
        user, request.POST.get("customer") or request.GET.get("customer", "")
    )
    form = CollectorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            collector = services.collector_save(actor=user, data=_service_data(form))
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, _("Collector %(serial)s registered.") % {"serial": collector.serial_number}
            )
            if customer is not None and user.has_perm("devices.change_collector"):
                url = reverse("devices:collector_install", args=[collector.pk])
                return redirect(f"{url}?customer={customer.pk}")
            return redirect("devices:collector", pk=collector.pk)
    return render(
        request,
        "devices/registry/collector_form.html",
        {"form": form, "collector": None, "customer": customer},
    )


@login_required
def collector_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.change_collector")
    collector = _collector_or_404(request, pk)
    initial = {
        "address": str(collector.address),
        "serial_number": collector.serial_number,
        "manufacturer": collector.manufacturer,
        "model": collector.model,
        "firmware_version": collector.firmware_version,
        "line": collector.line,
        "iccid": collector.iccid,
        "heartbeat_seconds": collector.heartbeat_seconds,
        "warranty_ends_on": collector.warranty_ends_on,
    }
    form = CollectorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.collector_save(actor=user, data=_service_data(form), collector=collector)
        except ValidationError as exc:
            collector.refresh_from_db()
            apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("devices:collector", pk=collector.pk)
    return render(
        request,
        "devices/registry/collector_form.html",
        {"form": form, "collector": collector, "customer": None},
    )


# --- install (备案) and remove ----------------------------------------------------------------


@login_required
def install_start(request: HttpRequest) -> HttpResponse:
    """From a customer's page: pick the collector (in stock) to install there."""
    user = require(request, "devices.change_collector")
    customer = _chosen_customer(user, request.GET.get("customer", ""))
    if customer is None:
        raise Http404
    text = request.GET.get("q", "").strip()
    stock = selectors.collectors_visible_to(user).filter(status=CollectorStatus.IN_STOCK)
    if text:
        condition = Q(serial_number__icontains=text)
        candidates = address_candidates(text)
        if candidates:
            condition |= Q(address__in=sorted(candidates))
        stock = stock.filter(condition)
    context = {
        "customer": customer,
        "q": text,
        "collectors": list(stock.order_by("-id")[:LOOKUP_SIZE]),
        "can_add": user.has_perm("devices.add_collector"),
    }
    template = (
        "devices/registry/_stock_matches.html"
        if _is_htmx(request)
        else "devices/registry/install_start.html"
    )
    return render(request, template, context)


@login_required
def collector_install(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.change_collector")
    collector = _collector_or_404(request, pk)
    raw = request.POST.get("customer") or request.GET.get("customer", "")
    customer = _chosen_customer(user, raw)
    lookup = CustomerLookupForm(request.GET or None)
    text = lookup.cleaned_data["q"] if lookup.is_valid() else ""
    matches = (
        customer_selectors.customer_matches(user, text, LOOKUP_SIZE) if customer is None else []
    )
    pick_url = reverse("devices:collector_install", args=[collector.pk])
    if _is_htmx(request) and customer is None:
        return render(
            request,
            "customers/_matches.html",
            {"matches": matches, "q": text, "pick_url": pick_url},
        )
    form = None
    if customer is not None:
        form = InstallForm(request.POST or None, customer=customer)
        if request.method == "POST" and form.is_valid():
            try:
                services.collector_install(
                    actor=user,
                    collector=collector,
                    customer=customer,
                    site=form.cleaned_data["site"],
                    location=form.cleaned_data["location"],
                    installed_on=form.cleaned_data["installed_on"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                collector.refresh_from_db()
                apply_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Collector %(serial)s recorded at %(customer)s.")
                    % {"serial": collector.serial_number, "customer": customer.name},
                )
                return redirect("devices:collector", pk=collector.pk)
    return render(
        request,
        "devices/registry/install.html",
        {
            "collector": collector,
            "customer": customer,
            "customer_missing": bool(raw) and customer is None,
            "lookup": lookup,
            "matches": matches,
            "pick_url": pick_url,
            "q": text,
            "form": form,
            "retired": collector.status == CollectorStatus.RETIRED,
        },
    )


@login_required
def collector_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.change_collector")
    collector = _collector_or_404(request, pk)
    retired = collector.status == CollectorStatus.RETIRED
    form = RemoveForm(request.POST or None, installed=collector.customer_id is not None)
    if request.method == "POST" and not retired and form.is_valid():
        retire = form.cleaned_data["retire"]
        try:
            services.collector_remove(
                actor=user, collector=collector, retire=retire, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            collector.refresh_from_db()
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Collector %(serial)s retired.") % {"serial": collector.serial_number}
                if retire
                else _("Collector %(serial)s removed and back in stock.")
                % {"serial": collector.serial_number},
            )
            return redirect("devices:collector", pk=collector.pk)
    return render(
        request,
        "devices/registry/remove.html",
        {"collector": collector, "form": form, "retired": retired},
    )


# --- fire systems ----------------------------------------------------------------------------


def _system_form(
    request: HttpRequest, user: User, collector: Collector, system: FireSystem | None
) -> HttpResponse:
    initial = (
        {
            "system_type": system.system_type,
            "system_address": system.system_address,
            "brand": system.brand,
            "panel_model": system.panel_model,
            "address_scheme": system.address_scheme,
        }
        if system
        else None
    )
    form = FireSystemForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.fire_system_save(
                actor=user, collector=collector, data=form.cleaned_data, system=system
            )
        except ValidationError as exc:
            if system is not None:
                system.refresh_from_db()
            apply_errors(form, exc)
        else:
            messages.success(request, _("Fire system saved."))
            return redirect("devices:collector", pk=collector.pk)
    return render(
        request,
        "devices/registry/system_form.html",
        {"form": form, "collector": collector, "system": system},
    )


@login_required
def system_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.change_point_table")
    return _system_form(request, user, _collector_or_404(request, pk), None)


@login_required
def system_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.change_point_table")
    collector_id = FireSystem.objects.filter(pk=pk).values_list("collector_id", flat=True).first()
    if collector_id is None:
        raise Http404
    collector = _collector_or_404(request, collector_id)
    system = collector.systems.filter(pk=pk).first()
    if system is None:
        raise Http404
    return _system_form(request, user, collector, system)


urlpatterns: list[URLPattern] = [
    path("collectors/", collector_list, name="collectors"),
    path("collectors/new/", collector_create, name="collector_create"),
    path("collectors/install/", install_start, name="install_start"),
    path("collectors/<int:pk>/", collector_detail, name="collector"),
    path("collectors/<int:pk>/edit/", collector_edit, name="collector_edit"),
    path("collectors/<int:pk>/install/", collector_install, name="collector_install"),
    path("collectors/<int:pk>/remove/", collector_remove, name="collector_remove"),
    path("collectors/<int:pk>/systems/new/", system_create, name="system_create"),
    path("systems/<int:pk>/edit/", system_edit, name="system_edit"),
]
