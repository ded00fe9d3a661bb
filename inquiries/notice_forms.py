"""Forms of the notice pages: compose (content, audience, channels, attachments), the audience
alone (the live recipient count), scheduling and the delivery log's filter."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import CustomerStatus, Segment, Tag
from customers.segments import region_options, segments_visible_to
from inquiries.models import Project
from inquiries.notices import CHANNEL_LABELS, DELIVERY_STATUS_LABELS

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _datetime_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class AudienceForm(forms.Form):
    """Who receives the notice: every given criterion must hold; within one, any of."""

    projects = forms.ModelMultipleChoiceField(
        label=_("Projects"),
        queryset=Project.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    regions = forms.TypedMultipleChoiceField(
        label=_("Districts"),
        coerce=int,
        required=False,
        help_text=_("A province or city includes every district in it."),
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"),
        queryset=Tag.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    statuses = forms.MultipleChoiceField(
        label=_("Customer status"),
        choices=CustomerStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    segment: forms.ModelChoiceField[Segment] = forms.ModelChoiceField(
        label=_("Saved segment"),
        queryset=Segment.objects.none(),
        required=False,
        empty_label=_("(none)"),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        assert isinstance(fields["projects"], forms.ModelMultipleChoiceField)
        assert isinstance(fields["tags"], forms.ModelMultipleChoiceField)
        assert isinstance(fields["segment"], forms.ModelChoiceField)
        assert isinstance(fields["regions"], forms.TypedMultipleChoiceField)
        fields["projects"].queryset = Project.objects.order_by("name")
        fields["tags"].queryset = Tag.objects.order_by("name")
        fields["segment"].queryset = segments_visible_to(user).order_by("name")
        fields["regions"].choices = region_options()

    def audience(self) -> dict[str, Any]:
        data = self.cleaned_data
        audience: dict[str, Any] = {
            "projects": [p.pk for p in data.get("projects") or []],
            "regions": list(data.get("regions") or []),
            "tags": [t.pk for t in data.get("tags") or []],
            "statuses": list(data.get("statuses") or []),
        }
        if data.get("segment") is not None:
            audience["segment"] = data["segment"].pk
        return audience

    @staticmethod
    def initial_from(audience: dict[str, Any]) -> dict[str, Any]:
        return {
            "projects": audience.get("projects", []),
            "regions": audience.get("regions", []),
            "tags": audience.get("tags", []),
            "statuses": audience.get("statuses", []),
            "segment": audience.get("segment"),
        }


class NoticeForm(AudienceForm):
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(
        label=_("Text"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 8})
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.none(),
        required=False,
        help_text=_("The project the notice is about; its public notices page can show it."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Send by"),
        choices=list(CHANNEL_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    is_public = forms.BooleanField(
        label=_("Also show it on the project's public notices page"), required=False
    )
    scheduled_for = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=_datetime_widget(),
        help_text=_("Used by “Schedule”: the notice goes out at this time."),
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        project = self.fields["project"]
        assert isinstance(project, forms.ModelChoiceField)
        project.queryset = Project.objects.filter(is_active=True).order_by("name")


class ScheduleForm(forms.Form):
    scheduled_for = forms.DateTimeField(
        label=_("Send at"), input_formats=DATETIME_FORMATS, widget=_datetime_widget()
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Delivery status"),
        choices=[("", _("All")), *DELIVERY_STATUS_LABELS.items()],
        required=False,
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[("", _("All")), *CHANNEL_LABELS.items()],
        required=False,
    )
