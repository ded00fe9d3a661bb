"""Presentation helpers for templates (Bootstrap classes on form widgets)."""

from __future__ import annotations

from django import forms, template
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def bootstrap(field: forms.BoundField) -> SafeString:
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select | forms.SelectMultiple):
        css = "form-select"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    existing = widget.attrs.get("class", "")
    return field.as_widget(attrs={"class": f"{existing} {css}".strip()})


@register.filter
def highlight(text: object, term: str) -> SafeString:
    """The text, HTML-escaped, with case-insensitive occurrences of `term` wrapped in <mark>."""
    import re

    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    value = str(text)
    if not term:
        return escape(value)
    parts = re.split(f"({re.escape(term)})", value, flags=re.IGNORECASE)
    return mark_safe(  # noqa: S308 - every part is escaped
        "".join(
            f"<mark>{escape(p)}</mark>" if i % 2 else str(escape(p)) for i, p in enumerate(parts)
        )
    )
