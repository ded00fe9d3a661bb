"""Form widgets shared by every app that asks for an administrative region."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.cache import cache
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

DISTRICT_OPTIONS_KEY = "accounts:district-options"


def district_options_html() -> str:
    """Every active district as an <option>, grouped by province and city in <optgroup>s.

    About 3,000 options: rendered once and cached (until `regions_sync` changes the tree),
    because rendering them through the widget templates costs ~0.3 s per form."""
    html: str | None = cache.get(DISTRICT_OPTIONS_KEY)
    if html is not None:
        return html
    from accounts.models import Region, RegionLevel

    groups: dict[str, list[tuple[int, str]]] = {}
    rows = (
        Region.objects.filter(level=RegionLevel.DISTRICT, is_active=True)
        .select_related("parent")
        .order_by("code")
        .values_list("id", "name", "parent__full_name")
    )
    for pk, name, group in rows:
        groups.setdefault(group or "", []).append((pk, name))
    html = "".join(
        format_html(
            '<optgroup label="{}">{}</optgroup>',
            group,
            format_html_join("", '<option value="{}">{}</option>', options),
        )
        for group, options in groups.items()
    )
    cache.set(DISTRICT_OPTIONS_KEY, html, None)
    return html


def forget_district_options() -> None:
    cache.delete(DISTRICT_OPTIONS_KEY)


class DistrictSelect(forms.Select):
    """A <select> of every district, grouped by city, from the cached options."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        options = district_options_html()
        selected = "" if value in (None, "") else str(value)
        if selected.isdigit():
            needle = f'<option value="{selected}">'
            options = options.replace(needle, f'<option value="{selected}" selected>', 1)
        attributes = "".join(
            f' {escape(key)}="{escape(val)}"' if val is not True else f" {escape(key)}"
            for key, val in final.items()
            if val not in (None, False)
        )
        return mark_safe(  # noqa: S308 - names, attributes and labels are escaped above
            f'<select name="{escape(name)}"{attributes}><option value="">---------</option>'
            f"{options}</select>"
        )
