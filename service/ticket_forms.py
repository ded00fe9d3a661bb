"""Forms of the ticket pages: the list's filters, a new ticket, and the forms of a ticket's
page (note or message, status, assignment, link, attachment)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Customer, Site
from devices.models import Collector
from ruwang.lib import files
from service import ticket_selectors as selectors
from service.models import (
    Channel,
    LinkKind,
    Priority,
    Team,
    Ticket,
    TicketKind,
    TicketStatus,
)
from service.tickets import TRANSITIONS

STATUS_CHOICES = [
    (selectors.STATUS_OPEN, _("Open")),
    *TicketStatus.choices,
    (selectors.STATUS_ALL, _("All")),
]
ASSIGNEE_CHOICES = [
    ("", _("Anyone")),
    (selectors.ASSIGNEE_ME, _("Me")),
    (selectors.ASSIGNEE_NOBODY, _("Unassigned")),
]
SLA_CHOICES = [("", _("Any")), *((s.value, s.label) for s in selectors.SLA_FILTERS)]
# People choose how a ticket reached them; "raised by the system" is the system's own.
PERSON_CHANNELS = [(c.value, c.label) for c in Channel if c != Channel.SYSTEM]


def _team_choices() -> Any:
    return Team.objects.filter(is_active=True).order_by("name")


def _checked_upload(upload: UploadedFile | None) -> UploadedFile | None:
    """The upload, or the file check's ValidationError (type, content, size) on the field."""
    if upload is None:
        return None
    files.check_upload(upload.name or "", upload, upload.size or 0, settings.DOCUMENT_MAX_BYTES)
    return upload


class TicketFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, widget=forms.HiddenInput())
    q = forms.CharField(
        label=_("Number or subject"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "GD-2026-000045"}),
    )
    customer = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Customer name")}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *TicketKind.choices]
    )
    priority = forms.ChoiceField(
        label=_("Priority"), required=False, choices=[("", _("Any")), *Priority.choices]
    )
    team = forms.ModelChoiceField(
        label=_("Team"), required=False, queryset=Team.objects.none(), empty_label=_("All teams")
    )
    assignee = forms.ChoiceField(label=_("Assignee"), required=False, choices=ASSIGNEE_CHOICES)
    sla = forms.ChoiceField(label=_("SLA"), required=False, choices=SLA_CHOICES)

    def __init__(self, *args: Any, mine: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = _team_choices()
        if mine:  # "my tickets": the assignee is fixed
            del self.fields["assignee"]

    def filters(
        self, *, mine: bool = False, customer: Customer | None = None
    ) -> selectors.TicketFilters:
        """The selectors' filters (the defaults where a value is not valid)."""
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.TicketFilters(
            status=data.get("status") or selectors.STATUS_OPEN,
            kind=data.get("kind", ""),
            priority=data.get("priority", ""),
            team=data.get("team"),
            assignee=selectors.ASSIGNEE_ME if mine else data.get("assignee", ""),
            sla=data.get("sla", ""),
            customer=customer,
            customer_text=data.get("customer", ""),
            q=data.get("q", ""),
        )


class CustomerLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Find the customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("Customer number, name, pinyin or phone"),
                "type": "search",
                "autocomplete": "off",
            }
        ),
    )


class TicketCreateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=TicketKind.choices)
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=PERSON_CHANNELS)
    subject = forms.CharField(label=_("Subject"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    site = forms.ModelChoiceField(label=_("Building"), required=False, queryset=Site.objects.none())
    collector = forms.ModelChoiceField(
        label=_("Collector"), required=False, queryset=Collector.objects.none()
    )
    file = forms.FileField(
        label=_("Attachment"),
        required=False,
        help_text=_("A photo or document; kept with the customer's documents."),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        required=False,
        queryset=Team.objects.none(),
        empty_label=_("By the ticket's kind"),
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        required=False,
        queryset=User.objects.none(),
        empty_label=_("By the team's rule"),
    )

    def __init__(self, *args: Any, customer: Customer, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("priority", Priority.NORMAL)
        site = self.fields["site"]
        assert isinstance(site, forms.ModelChoiceField)
        site.queryset = Site.objects.filter(customer=customer).order_by("id")
        collector = self.fields["collector"]
        assert isinstance(collector, forms.ModelChoiceField)
        collector.queryset = Collector.objects.filter(customer=customer).order_by("-id")
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = _team_choices()
        if user.has_perm(selectors.ASSIGN_PERM):
            assignee = self.fields["assignee"]
            assert isinstance(assignee, forms.ModelChoiceField)
            assignee.queryset = selectors.ticket_workers(customer)
        else:
            del self.fields["assignee"]
        # The file is kept as a customer document: only those who may add documents attach.
        if not user.has_perm("customers.change_customer"):
            del self.fields["file"]

    def clean_subject(self) -> str:
        return str(self.cleaned_data["subject"]).strip()

    def clean_file(self) -> UploadedFile | None:
        return _checked_upload(self.cleaned_data.get("file"))


class NoteForm(forms.Form):
    NOTE = "note"
    MESSAGE = "message"

    kind = forms.ChoiceField(
        label=_("Write"),
        choices=[(NOTE, _("Internal note")), (MESSAGE, _("Message to the customer"))],
        initial=NOTE,
        widget=forms.RadioSelect,
    )
    text = forms.CharField(
        label=_("Text"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    @property
    def to_customer(self) -> bool:
        return self.cleaned_data.get("kind") == self.MESSAGE


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=TicketStatus.choices)
    text = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any status is accepted (the service explains a move it refuses); the list offers
        # the ones that may follow the current status.
        allowed = TRANSITIONS.get(ticket.status, frozenset())
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.widget.choices = [(v, label) for v, label in TicketStatus.choices if v in allowed]

    @property
    def has_choices(self) -> bool:
        return bool(self.fields["status"].widget.choices)


class AssignForm(forms.Form):
    team = forms.ModelChoiceField(
        label=_("Team"),
        required=False,
        queryset=Team.objects.none(),
        empty_label=_("Keep the team"),
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        required=False,
        queryset=User.objects.none(),
        empty_label=_("By the team's rule"),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("Needed when the ticket changes hands")}),
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = _team_choices()
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        assignee.queryset = selectors.ticket_workers(ticket.customer)


class LinkForm(forms.Form):
    number = forms.CharField(
        label=_("Ticket number"),
        max_length=30,
        widget=forms.TextInput(attrs={"placeholder": "GD-2026-000045"}),
    )
    kind = forms.ChoiceField(label=_("Link"), choices=LinkKind.choices, initial=LinkKind.RELATES)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_number(self) -> str:
        number = str(self.cleaned_data["number"]).strip()
        target = selectors.ticket_by_number(self.user, number)
        if target is None:
            raise forms.ValidationError(
                _("No ticket %(number)s that you may see."), params={"number": number}
            )
        self.cleaned_data["target"] = target
        return number


class AttachForm(forms.Form):
    file = forms.FileField(label=_("Attachment"))

    def clean_file(self) -> UploadedFile | None:
        return _checked_upload(self.cleaned_data.get("file"))
