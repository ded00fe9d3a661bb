"""`{% segment_filter_select %}`: the "segment" select of a list's filter form (customer list,
ticket list, inquiry queue), offering the segments the signed-in user may use."""

from __future__ import annotations

from typing import Any

from django import template

from customers.segments import segment_filter_options

register = template.Library()


@register.inclusion_tag("customers/segments/_filter_select.html", takes_context=True)
def segment_filter_select(context: template.Context, css: str = "") -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return {"options": []}
    return {
        "options": segment_filter_options(user),
        "selected": str(request.GET.get("segment", "")),
        "css": css or "col-6 col-md-3 col-lg-2",
    }
