"""Forms of the care task pages and the care-rule settings. Text fields are optional here: the
services check them and name the field in their errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import User
from care.models import CareKind, CareTaskStatus
from care.selectors import TaskFilters, View
from customers.models import Customer

STATUS_CHOICES = [("", pgettext_lazy("care task status", "All")), *CareTaskStatus.choices]
VIEW_LABELS = {
    View.MINE: _("Assigned to me"),
    View.POOL: _("Department pool"),
    View.ALL: _("All care tasks"),
}


class TaskFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("All kinds")), *CareKind.choices], required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    q = forms.CharField(
        label=_("Customer"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name or number")}),
    )

    def filters(self, view: str) -> TaskFilters:
        if not self.is_valid():
            return TaskFilters(view=view)
        data = self.cleaned_data
        status = data["status"] if "status" in self.data else CareTaskStatus.OPEN
        return TaskFilters(view=view, kind=data["kind"], status=status, q=data["q"])


class CloseForm(forms.Form):
    outcome = forms.CharField(
        label=_("Outcome"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was done and how the customer responded."),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AssigneeField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj)


class ReassignForm(forms.Form):
    assignee = AssigneeField(
        label=_("Assign to"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("— department pool —"),
    )

    def __init__(self, *args: Any, choices: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = choices


class CreateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CareKind.choices, initial=CareKind.PLAN)
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    detail = forms.CharField(
        label=_("Detail"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    due_on = forms.DateField(
        label=_("Due on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    assignee = AssigneeField(
        label=_("Assign to"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("— department pool —"),
    )

    def __init__(
        self, *args: Any, customer: Customer, user: User, manager: bool, choices: Any, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if manager:
            field = self.fields["assignee"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = choices
            field.initial = user.pk
        else:
            del self.fields["assignee"]


class CustomerLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Customer"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Name, pinyin, phone or number")}),
    )


class SettingsForm(forms.Form):
    anniversary_enabled = forms.BooleanField(label=_("Contract anniversary"), required=False)
    anniversary_days_before = forms.IntegerField(
        label=_("Days before the anniversary"), required=False, min_value=0, max_value=60
    )
    warranty_enabled = forms.BooleanField(label=_("Warranty ending"), required=False)
    warranty_days_before = forms.IntegerField(
        label=_("Days before the warranty ends"), required=False, min_value=1, max_value=365
    )
    no_contact_enabled = forms.BooleanField(label=_("No contact"), required=False)
    no_contact_days = forms.IntegerField(
        label=_("Days without contact"), required=False, min_value=7, max_value=730
    )
    low_score_enabled = forms.BooleanField(label=_("Low survey score"), required=False)
    low_score_max = forms.IntegerField(
        label=_("Highest satisfaction counted as low (1–5)"),
        required=False,
        min_value=1,
        max_value=4,
    )
    faults_enabled = forms.BooleanField(label=_("Repeated faults"), required=False)
    faults_count = forms.IntegerField(
        label=_("At least … faults"), required=False, min_value=2, max_value=100
    )
    faults_days = forms.IntegerField(
        label=_("Within … days"), required=False, min_value=1, max_value=365
    )
    task_due_days = forms.IntegerField(
        label=_("Days to carry out a task"),
        required=False,
        min_value=0,
        max_value=90,
        help_text=_(
            "A task is due this many days after its rule fired (an anniversary: on the day)."
        ),
    )
