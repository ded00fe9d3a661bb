"""The holiday greeting form: holiday, saved segment, channels, text and time to send."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from care.greetings import Holiday
from customers.models import Segment
from customers.segments import segments_visible_to
from inquiries.notices import CHANNEL_LABELS

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class GreetingForm(forms.Form):
    holiday = forms.ChoiceField(label=_("Holiday"), required=False)
    segment = forms.ModelChoiceField(
        label=_("Saved segment"),
        queryset=Segment.objects.none(),
        required=False,
        help_text=_("The customers of the segment that you may see receive the greeting."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Send by"),
        choices=list(CHANNEL_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    title = forms.CharField(label=_("Title"), max_length=120, required=False)
    body = forms.CharField(
        label=_("Text"), max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    scheduled_for = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("09:00 on the holiday's first day unless you choose another time."),
    )

    def __init__(self, *args: Any, user: User, holidays: list[Holiday], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        holiday = self.fields["holiday"]
        assert isinstance(holiday, forms.ChoiceField)
        holiday.choices = [
            ("", _("— choose a holiday —")),
            *(
                (
                    h.code,
                    f"{h.name} {h.first_day:%Y-%m-%d}"
                    + ("" if h.official else f"（{_('estimated')}）"),
                )
                for h in holidays
            ),
        ]
        segment = self.fields["segment"]
        assert isinstance(segment, forms.ModelChoiceField)
        segment.queryset = segments_visible_to(user).order_by("name")
