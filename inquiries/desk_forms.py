"""Forms of the staff desk: the queue's filters, manual entry of a question found elsewhere, and
the forms of an inquiry's page (comment, re-route, contentious, close, attachment, reply,
review, posted reply)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.segments import segment_for_filter, segment_members_q
from inquiries.models import (
    OPEN_STATUSES,
    AttachmentKind,
    Inquiry,
    InquiryChannel,
    InquiryStatus,
    Project,
    Reply,
    ReplyStatus,
    SignAs,
    Topic,
)
from inquiries.replies import BODY_MAX, COMMENT_MAX, URL_MAX
from inquiries.services import SUBJECT_MAX
from ruwang.lib import files
from service.models import Team

# --- the queue ---------------------------------------------------------------------------------

STATUS_OPEN = "open"
STATUS_ALL = "all"
STATUS_CHOICES = [
    (STATUS_OPEN, _("Open")),
    *InquiryStatus.choices,
    (STATUS_ALL, _("All")),
]

# The queue's quick views (one at a time).
VIEW_MINE = "mine"
VIEW_UNASSIGNED = "unassigned"
VIEW_OVERDUE = "overdue"
VIEW_DUE_SOON = "due_soon"
VIEW_CONTENTIOUS = "contentious"
VIEW_REVIEW = "review"
VIEW_CHOICES = [
    ("", _("Everything")),
    (VIEW_MINE, _("Mine")),
    (VIEW_UNASSIGNED, _("Unassigned")),
    (VIEW_OVERDUE, _("Overdue")),
    (VIEW_DUE_SOON, _("Due within 4 hours")),
    (VIEW_CONTENTIOUS, _("Contentious")),
    (VIEW_REVIEW, _("Awaiting my review")),
]
DUE_SOON = dt.timedelta(hours=4)


def awaiting_review_of(user: User, qs: QuerySet[Inquiry]) -> QuerySet[Inquiry]:
    """The inquiries of `qs` whose reply waits for a review `user` may give (not their own)."""
    if not user.has_perm("inquiries.review_reply"):
        return qs.none()
    in_review = Reply.objects.filter(inquiry=OuterRef("pk"), status=ReplyStatus.IN_REVIEW).exclude(
        author=user
    )
    return qs.filter(status=InquiryStatus.IN_REVIEW).filter(Exists(in_review))


@dataclass(frozen=True)
class QueueFilters:
    status: str = STATUS_OPEN
    view: str = ""
    channel: str = ""
    topic: str = ""
    project: Project | None = None
    team: Team | None = None
    q: str = ""
    customer_id: int | None = None  # from the customer profile's "all inquiries" link
    segment: str = ""  # a segment's id; one the user may not use is ignored

    def apply(self, user: User, qs: QuerySet[Inquiry], now: dt.datetime) -> QuerySet[Inquiry]:
        """The inquiries these filters select from `qs`, open ones by deadline (most urgent
        first), the others newest first."""
        if self.status == STATUS_OPEN:
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif self.status in InquiryStatus.values:
            qs = qs.filter(status=self.status)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.topic:
            qs = qs.filter(topic=self.topic)
        if self.project is not None:
            qs = qs.filter(project=self.project)
        if self.team is not None:
            qs = qs.filter(team=self.team)
        if self.customer_id is not None:
            qs = qs.filter(customer_id=self.customer_id)
        segment = segment_for_filter(user, self.segment) if self.segment else None
        if segment is not None:
            # The segment's customers the user may see (the queue also shows inquiries of a
            # team's customers the user may not see: those stay out, as in the preview).
            qs = qs.filter(segment_members_q(segment, "customer__", user))
        text = self.q.strip()
        if text:
            qs = qs.filter(Q(number__icontains=text) | Q(subject__icontains=text))
        if self.view == VIEW_MINE:
            qs = qs.filter(assignee=user)
        elif self.view == VIEW_UNASSIGNED:
            qs = qs.filter(assignee__isnull=True, status__in=OPEN_STATUSES)
        elif self.view == VIEW_OVERDUE:
            qs = qs.filter(status__in=OPEN_STATUSES, due_at__lte=now)
        elif self.view == VIEW_DUE_SOON:
            qs = qs.filter(status__in=OPEN_STATUSES, due_at__gt=now, due_at__lte=now + DUE_SOON)
        elif self.view == VIEW_CONTENTIOUS:
            qs = qs.filter(contentious=True)
        elif self.view == VIEW_REVIEW:
            qs = awaiting_review_of(user, qs)
        if self.status == STATUS_OPEN or self.status in OPEN_STATUSES:
            return qs.order_by("due_at", "pk")
        return qs.order_by("-received_at", "-pk")


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), choices=STATUS_CHOICES, required=False, initial=STATUS_OPEN
    )
    view = forms.ChoiceField(choices=VIEW_CHOICES, required=False, widget=forms.HiddenInput())
    customer = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput())
    # Rendered by {% segment_filter_select %} (the choices depend on the user); checked in
    # QueueFilters.apply, so that a stale id never voids the other filters.
    segment = forms.CharField(required=False, max_length=12, widget=forms.HiddenInput())
    q = forms.CharField(
        label=_("Inquiry number or subject"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "WZ-2026-000123"}),
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("All channels")), *InquiryChannel.choices],
    )
    topic = forms.ChoiceField(
        label=_("Topic"), required=False, choices=[("", _("All topics")), *Topic.choices]
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        required=False,
        queryset=Project.objects.none(),
        empty_label=_("All projects"),
    )
    team = forms.ModelChoiceField(
        label=_("Team"), required=False, queryset=Team.objects.none(), empty_label=_("All teams")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project = self.fields["project"]
        assert isinstance(project, forms.ModelChoiceField)
        project.queryset = Project.objects.order_by("name")
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = Team.objects.filter(is_active=True).order_by("name")

    def filters(self) -> QueueFilters:
        """The chosen filters (the defaults where a value is not valid)."""
        data = self.cleaned_data if self.is_valid() else {}
        return QueueFilters(
            status=data.get("status") or STATUS_OPEN,
            view=data.get("view", ""),
            channel=data.get("channel", ""),
            topic=data.get("topic", ""),
            project=data.get("project"),
            team=data.get("team"),
            q=data.get("q", ""),
            customer_id=data.get("customer"),
            segment=data.get("segment", ""),
        )


# --- manual entry ------------------------------------------------------------------------------


def _checked_upload(upload: UploadedFile | None) -> UploadedFile | None:
    """The upload, or the file check's ValidationError (type, content, size) on the field."""
    if upload is None:
        return None
    files.check_upload(upload.name or "", upload, upload.size or 0, settings.DOCUMENT_MAX_BYTES)
    return upload


def _active_projects() -> QuerySet[Project]:
    return Project.objects.filter(is_active=True).order_by("name")


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


class InquiryEntryForm(forms.Form):
    """A question found on an external site, a forum or social media (or an e-mail or web
    question typed in by hand)."""

    channel = forms.ChoiceField(
        label=_("Channel"), choices=InquiryChannel.choices, initial=InquiryChannel.FORUM
    )
    source_site = forms.CharField(
        label=_("Website"),
        required=False,
        max_length=80,
        help_text=_("Where the question was found, e.g. 搜房网论坛."),
    )
    source_url = forms.URLField(
        label=_("URL"), required=False, max_length=500, assume_scheme="https"
    )
    author_handle = forms.CharField(label=_("Author's user name"), required=False, max_length=80)
    posted_at = forms.DateTimeField(
        label=_("Posted at"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("The reply deadline counts from this time."),
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        required=False,
        queryset=Project.objects.none(),
        empty_label=_("Not about one project"),
    )
    topic = forms.ChoiceField(label=_("Topic"), choices=Topic.choices, initial=Topic.GENERAL)
    subject = forms.CharField(label=_("Subject"), required=False, max_length=SUBJECT_MAX)
    body = forms.CharField(
        label=_("Question"), max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 6})
    )
    author_name = forms.CharField(label=_("Contact name"), required=False, max_length=60)
    author_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    author_phone = forms.CharField(label=_("Contact phone"), required=False, max_length=20)
    contentious = forms.BooleanField(
        label=_("Contentious: the reply needs a supervisor's approval"), required=False
    )
    contentious_reason = forms.CharField(label=_("Why contentious"), required=False, max_length=200)
    screenshot = forms.FileField(
        label=_("Screenshot"),
        required=False,
        help_text=_("A picture of the post; kept with the customer's documents."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project = self.fields["project"]
        assert isinstance(project, forms.ModelChoiceField)
        project.queryset = _active_projects()

    def clean_screenshot(self) -> UploadedFile | None:
        return _checked_upload(self.cleaned_data.get("screenshot"))


# --- an inquiry's page ---------------------------------------------------------------------------


class CommentForm(forms.Form):
    text = forms.CharField(
        label=_("Internal comment"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Seen by staff only, never sent to the customer."),
    )


class RerouteForm(forms.Form):
    team = forms.ModelChoiceField(
        label=_("Team"),
        required=False,
        queryset=Team.objects.none(),
        empty_label=_("By the responsibility matrix"),
    )
    topic = forms.ChoiceField(label=_("Topic"), required=False, choices=Topic.choices)
    project = forms.ModelChoiceField(
        label=_("Project"), required=False, queryset=Project.objects.none()
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args: Any, inquiry: Inquiry, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial", {"topic": inquiry.topic, "project": inquiry.project_id, "team": None}
        )
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = Team.objects.filter(is_active=True).order_by("name")
        project = self.fields["project"]
        assert isinstance(project, forms.ModelChoiceField)
        project.queryset = _active_projects()


class ContentiousForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class CloseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=300,
        help_text=_("Required when the inquiry was never answered (spam, a duplicate)."),
    )


class AttachForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=AttachmentKind.choices, initial=AttachmentKind.SCREENSHOT
    )
    file = forms.FileField(label=_("File"))

    def clean_file(self) -> UploadedFile | None:
        return _checked_upload(self.cleaned_data.get("file"))


class ReplyForm(forms.Form):
    """The reply editor; which button was pressed is `action`."""

    SAVE = "save"
    SUBMIT = "submit"
    SEND = "send"
    POST = "post"
    ACTIONS = (SAVE, SUBMIT, SEND, POST)

    body = forms.CharField(
        label=_("Reply"),
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 10, "id": "rw-reply-text"}),
    )
    sign_as = forms.ChoiceField(
        label=_("Sign as"), choices=SignAs.choices, initial=SignAs.COMPANY, widget=forms.RadioSelect
    )
    posted_url = forms.URLField(
        label=_("URL of the posted reply"),
        required=False,
        max_length=URL_MAX,
        assume_scheme="https",
        help_text=_("Post the reply on the site first, then give its address here."),
    )
    # Set by the button pressed (not rendered as a field).
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS], required=False)

    def __init__(self, *args: Any, posted: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not posted:
            del self.fields["posted_url"]


class ComposeForm(forms.Form):
    """Inserting a template or a knowledge-base snippet into the reply being written."""

    body = forms.CharField(required=False, max_length=BODY_MAX)
    sign_as = forms.ChoiceField(choices=SignAs.choices, required=False)
    # The template picker is part of the reply form, so `template` always comes along: the
    # "use template" button says it is wanted. `article` is a knowledge-base snippet's button.
    template = forms.IntegerField(required=False, min_value=1)
    use_template = forms.BooleanField(required=False)
    article = forms.IntegerField(required=False, min_value=1)


class ReviewForm(forms.Form):
    APPROVE = "approve"
    RETURN = "return"

    # Set by the button pressed (not rendered as a field).
    decision = forms.ChoiceField(choices=[(APPROVE, _("Approve")), (RETURN, _("Return"))])
    body = forms.CharField(
        label=_("Reply text"),
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Edit the text to approve it with your changes (the change is recorded)."),
    )
    comment = forms.CharField(
        label=_("Reviewer's comments"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to return the reply: say what should change."),
    )


class KnowledgeSearchForm(forms.Form):
    q = forms.CharField(label=_("Search the knowledge base"), required=False, max_length=60)
