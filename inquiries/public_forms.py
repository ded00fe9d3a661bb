"""The public question form (no sign-in): what a customer fills in on a phone."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from inquiries.models import Project, Topic
from inquiries.services import BODY_MAX, MOBILE_RE, SUBJECT_MAX
from ruwang.lib import files

# The honeypot's name: a field a person never sees but a form-filling bot completes.
HONEYPOT = "website"

# Separators people type in a number, and the country code they sometimes put in front.
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_COUNTRY_CODE = re.compile(r"^(\+86|0086|86)(?=1\d{10}$)")


class PublicInquiryForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Tell us your name so we know how to address you.")},
    )
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        help_text=_("Our reply is sent to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={
            "required": _("Enter your e-mail address: our reply is sent there."),
            "invalid": _("Enter a valid e-mail address, such as name@example.com."),
        },
    )
    mobile = forms.CharField(
        label=_("Mobile (optional)"),
        required=False,
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"},
        ),
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.none(),
        required=False,
        empty_label=_("Not about one project"),
        error_messages={"invalid_choice": _("Choose one of the listed projects.")},
    )
    topic = forms.ChoiceField(
        label=_("Topic"),
        choices=Topic.choices,
        initial=Topic.GENERAL,
        error_messages={"invalid_choice": _("Choose one of the listed topics.")},
    )
    subject = forms.CharField(
        label=_("Subject"),
        max_length=SUBJECT_MAX,
        error_messages={"required": _("Give your question a short subject.")},
    )
    question = forms.CharField(
        label=_("Your question"),
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": _("Write your question.")},
    )
    attachment = forms.FileField(
        label=_("Attachment (optional)"),
        required=False,
    )
    consent = forms.BooleanField(
        label=_("I agree my contact details are used to answer this question."),
        error_messages={"required": _("Tick the box to let us use your contact details.")},
    )
    # The honeypot: visually hidden, skipped by the keyboard and autofill (see the template).
    website = forms.CharField(label=_("Website"), required=False, max_length=200)

    def __init__(self, *args: Any, project: Project | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_project = project
        if project is not None:
            del self.fields["project"]
        else:
            field = self.fields["project"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = Project.objects.filter(is_active=True).order_by("name")
        attachment = self.fields["attachment"]
        attachment.widget.attrs["accept"] = ",".join(f".{x}" for x in sorted(files.ALLOWED_TYPES))
        attachment.help_text = _("One photo, PDF or office document, at most %(mb)d MB.") % {
            "mb": settings.DOCUMENT_MAX_BYTES // (1024 * 1024)
        }

    @property
    def is_spam(self) -> bool:
        """The honeypot was filled in: a bot, whatever else it sent."""
        return bool(str(self.data.get(HONEYPOT, "")).strip())

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()

    def clean_mobile(self) -> str:
        raw = str(self.cleaned_data.get("mobile") or "")
        mobile = _COUNTRY_CODE.sub("", _PHONE_SEPARATORS.sub("", raw))
        if mobile and not MOBILE_RE.fullmatch(mobile):
            raise forms.ValidationError(
                _("Enter an 11-digit mainland mobile number, such as 13800138000."),
                code="invalid",
            )
        return mobile

    def clean_subject(self) -> str:
        return str(self.cleaned_data["subject"]).strip()

    def clean_question(self) -> str:
        return str(self.cleaned_data["question"]).strip()

    def clean_attachment(self) -> UploadedFile | None:
        """Refused here (type, content, size) so the error shows on the field before anything
        is written; the service checks again."""
        upload: UploadedFile | None = self.cleaned_data.get("attachment")
        if upload is None:
            return None
        files.check_upload(upload.name or "", upload, upload.size or 0, settings.DOCUMENT_MAX_BYTES)
        return upload

    def project_chosen(self) -> Project | None:
        if self.fixed_project is not None:
            return self.fixed_project
        chosen: Project | None = self.cleaned_data.get("project")
        return chosen
