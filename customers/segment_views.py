"""Segment pages (客户细分): the list, a segment's page (its conditions in words, the count and the
first customers), the builder (htmx: every change re-renders the tree and the live preview),
the export of a segment's customers to Excel, and deleting a segment."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from audit.services import audit_record
from customers import exports, selectors
from customers.models import Segment
from customers.segment_forms import (
    SegmentForm,
    builder_tree,
    condition_type_choices,
    empty_definition,
    tree_apply,
    tree_from_post,
)
from customers.segments import (
    describe,
    has_conditions,
    segment_delete,
    segment_get,
    segment_preview,
    segment_queryset,
    segment_save,
    segments_visible_to,
)
from ruwang.lib.views import acting_user, apply_errors, require


def _preview_context(user: User, definition: object) -> dict[str, Any]:
    """The live preview: count and first customers, or why the conditions cannot be used."""
    if not has_conditions(definition):
        return {"preview": None, "preview_errors": [_("Add at least one condition.")]}
    try:
        return {"preview": segment_preview(user, definition), "preview_errors": []}
    except ValidationError as exc:
        return {"preview": None, "preview_errors": exc.messages}


def _builder_context(user: User, definition: object) -> dict[str, Any]:
    return {
        "builder": builder_tree(definition),
        "type_choices": condition_type_choices(),
        **_preview_context(user, definition),
    }


@login_required
def segment_list(request: HttpRequest) -> HttpResponse:
    user = require(request, "customers.view_segment")
    segments = segments_visible_to(user).order_by("name", "pk")
    return render(
        request,
        "customers/segments/list.html",
        {"segments": segments, "can_add": user.has_perm("customers.add_segment")},
    )


def _builder_page(request: HttpRequest, user: User, segment: Segment | None) -> HttpResponse:
    if request.method == "POST":
        form = SegmentForm(request.POST)
        definition: object = tree_from_post(request.POST)
        if form.is_valid():
            try:
                saved = segment_save(
                    actor=user,
                    segment=segment,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    definition=definition,
                    is_shared=form.cleaned_data["is_shared"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Segment “%(name)s” saved.") % {"name": saved.name})
                return redirect("customers:segment", pk=saved.pk)
    elif segment is not None:
        form = SegmentForm(
            initial={
                "name": segment.name,
                "description": segment.description,
                "is_shared": segment.is_shared,
            }
        )
        definition = segment.definition
    else:
        form = SegmentForm()
        definition = empty_definition()
    context = {"form": form, "segment": segment, **_builder_context(user, definition)}
    return render(request, "customers/segments/form.html", context)


@login_required
def segment_create(request: HttpRequest) -> HttpResponse:
    user = require(request, "customers.add_segment")
    return _builder_page(request, user, None)


@login_required
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "customers.change_segment")
    return _builder_page(request, user, segment_get(user, pk))


@login_required
@require_POST
def segment_builder(request: HttpRequest) -> HttpResponse:
    """The builder after one change (a field, a value, a button): the tree and, out of band,
    the preview."""
    user = acting_user(request)
    if not (user.has_perm("customers.add_segment") or user.has_perm("customers.change_segment")):
        raise PermissionDenied("customers.change_segment")
    definition = tree_from_post(request.POST)
    action = request.POST.get("action", "")
    if action:
        definition = tree_apply(definition, action)
    context = _builder_context(user, definition)
    html = render_to_string("customers/segments/_builder.html", context, request=request)
    html += render_to_string(
        "customers/segments/_preview.html", {**context, "oob": True}, request=request
    )
    return HttpResponse(html)


@login_required
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "customers.view_segment")
    segment = segment_get(user, pk)
    context = {
        "segment": segment,
        "summary": describe(segment.definition),
        "can_change": user.has_perm("customers.change_segment"),
        "can_delete": user.has_perm("customers.delete_segment"),
        "can_export": user.has_perm("customers.export_customers"),
        **_preview_context(user, segment.definition),
    }
    return render(request, "customers/segments/detail.html", context)


@login_required
def segment_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The segment's customers (those this user may see) as .xlsx, masked like the customer
    export unless the user may reveal personal data."""
    user = require(request, "customers.view_segment")
    if not user.has_perm("customers.export_customers"):
        raise PermissionDenied("customers.export_customers")
    segment = segment_get(user, pk)
    try:
        qs = segment_queryset(user, segment.definition)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:segment", pk=segment.pk)
    reveal = user.has_perm("customers.reveal_personal_data")
    content, count = exports.customers_xlsx(selectors.customer_export_rows(qs), reveal=reveal)
    audit_record(
        actor=user,
        action="segment.export",
        obj=segment,
        changes={"rows": [None, count], "unmasked": [None, reveal]},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-{stamp}.xlsx"'
    return response


@login_required
@require_POST
def segment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "customers.delete_segment")
    segment = segment_get(user, pk)
    try:
        segment_delete(actor=user, segment=segment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:segment", pk=segment.pk)
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("customers:segments")
