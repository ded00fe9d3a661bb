"""Forms of the revisit list: its filters and the small complete / cancel forms of a row."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from service import selectors

SHOW_CHOICES = [
    (selectors.SHOW_OVERDUE, _("Overdue")),
    (selectors.SHOW_DUE_SOON, _("Due in the next 30 days")),
    (selectors.SHOW_PLANNED, _("All planned")),
    (selectors.SHOW_DONE, _("Done")),
    (selectors.SHOW_CANCELLED, _("Cancelled")),
    (selectors.SHOW_ALL, _("All")),
]


class RevisitFilterForm(forms.Form):
    show = forms.ChoiceField(
        label=_("Revisits to show"),
        required=False,
        choices=SHOW_CHOICES,
        initial=selectors.SHOW_PLANNED,
    )
    customer = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": _("Customer name"), "type": "search"}),
    )


class RevisitCompleteForm(forms.Form):
    note = forms.CharField(
        label=_("Revisit note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RevisitCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
