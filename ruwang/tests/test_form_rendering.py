"""The `bootstrap` filter renders common widgets without Django's widget templates; the markup
must be the same as Django's, whitespace aside."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django import forms

from ruwang.templatetags.ui import bootstrap


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append(("start", tag, *sorted(f"{k}={v}" for k, v in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.items.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.items.append(("text", data.strip()))


def markup(html: str) -> list[tuple[str, ...]]:
    parser = _Markup()
    parser.feed(html)
    return parser.items


class Sample(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "全部"), ("a", "A <b> & c"), ("b", "B")], required=False
    )
    grouped = forms.ChoiceField(
        choices=[("南昌市", [("1", "东湖区"), ("2", "西湖区")]), ("3", "其他")]
    )
    name = forms.CharField(
        max_length=20,
        help_text="姓名",
        widget=forms.TextInput(attrs={"placeholder": 'say "hi"', "type": "search"}),
    )
    count = forms.IntegerField(min_value=1, required=False)
    email = forms.EmailField(required=False, disabled=True)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"status": "a", "grouped": "2", "name": "<x & y>", "count": "3", "email": "a@b.cn"},
        {"status": "zz", "grouped": "", "name": "", "count": "no"},  # invalid: errors shown
    ],
)
@pytest.mark.parametrize("field_name", ["status", "grouped", "name", "count", "email"])
def test_fast_widgets_render_the_same_markup_as_django(data, field_name):
    form = Sample(data or None)
    if data:
        form.is_valid()
    field = form[field_name]
    css = "form-select" if isinstance(field.field.widget, forms.Select) else "form-control"
    if field.errors:
        css += " is-invalid"
    expected = field.as_widget(attrs={"class": css})
    assert markup(bootstrap(field)) == markup(expected)
