"""Presentation helpers for templates (Bootstrap classes on form widgets)."""

from __future__ import annotations

from django import forms, template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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
    attrs: dict[str, str | bool] = {"class": f"{existing} {css}".strip()}
    if type(widget) in _FAST_WIDGETS and not field.field.localize:
        return _render_fast(field, widget, attrs)
    return field.as_widget(attrs=attrs)


# Widgets rendered here instead of through Django's widget templates: a select renders one
# template per option, ~0.1 ms each, which made a filter form cost ~20 ms per list page.
# Exact types only (a subclass may render differently); the markup is the same as Django's
# (tested against it).
_FAST_WIDGETS = (forms.TextInput, forms.NumberInput, forms.EmailInput, forms.Select)


def _attrs_html(attrs: dict[str, object]) -> str:
    # django/forms/widgets/attrs.html: False drops the attribute, True writes it bare.
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


def _render_fast(
    field: forms.BoundField, widget: forms.Widget, attrs: dict[str, str | bool]
) -> SafeString:
    final = field.build_widget_attrs(attrs, widget)
    if field.auto_id and "id" not in widget.attrs:
        final.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), final)["widget"]
    if isinstance(widget, forms.Select):
        parts = [f'<select name="{escape(context["name"])}"{_attrs_html(context["attrs"])}>']
        for group, options, _index in context["optgroups"]:
            if group:
                parts.append(f'<optgroup label="{escape(group)}">')
            parts += [
                f'<option value="{escape(o["value"])}"{_attrs_html(o["attrs"])}>'
                f"{escape(o['label'])}</option>"
                for o in options
            ]
            if group:
                parts.append("</optgroup>")
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every name, value and label is escaped
    value = context["value"]
    shown = "" if value is None else f' value="{escape(value)}"'
    return mark_safe(  # noqa: S308 - every name, value and attribute is escaped
        f'<input type="{escape(context["type"])}" name="{escape(context["name"])}"{shown}'
        f"{_attrs_html(context['attrs'])}>"
    )


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
