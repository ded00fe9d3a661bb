"""Form pieces several pages share."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Days outside these are typing mistakes (and would overflow the date arithmetic).
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)


class DateRangeForm(forms.Form):
    """`date_from` and `date_to` (both optional) of a statistics page: each a plausible day,
    the last not before the first and, with `max_days`, the range not longer than that (a
    longer one is a typing mistake and would read years of rows for nothing)."""

    max_days: ClassVar[int | None] = None

    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def _clean_day(self, name: str) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get(name)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise forms.ValidationError(
                _("Choose a day between %(first)s and %(last)s.")
                % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}
            )
        return day

    def clean_date_from(self) -> dt.date | None:
        return self._clean_day("date_from")

    def clean_date_to(self) -> dt.date | None:
        return self._clean_day("date_to")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("date_from"), data.get("date_to")
        if first is not None and last is not None:
            if last < first:
                self.add_error("date_to", _("The last day cannot be before the first day."))
            elif self.max_days is not None and (last - first).days >= self.max_days:
                self.add_error(
                    "date_to",
                    _("Choose a period of at most %(n)s days.") % {"n": self.max_days},
                )
        return data
