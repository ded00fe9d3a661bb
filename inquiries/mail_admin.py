"""Administration of the desk's IMAP mailboxes: the password is write-only (stored encrypted
through inquiries.mail.mailbox_set_password, never shown again), and "poll now" reads a mailbox
at once to check its settings. Registered in inquiries.admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import AuditedAdmin
from inquiries.mail import mailbox_poll, mailbox_set_password
from inquiries.models import Mailbox


class MailboxAdminForm(forms.ModelForm):
    password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = Mailbox
        fields = (
            "name",
            "address",
            "host",
            "port",
            "security",
            "username",
            "password",
            "folder",
            "project",
            "is_active",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("password") and not self.instance.password_encrypted:
            self.add_error("password", gettext("Enter the mailbox password."))
        return data


@admin.action(description=_("Poll now"), permissions=["change"])
def poll_now(modeladmin: MailboxAdmin, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
    for mailbox in queryset.select_related("project"):
        result = mailbox_poll(mailbox)
        if result.error:
            modeladmin.message_user(
                request,
                gettext("%(mailbox)s: %(error)s") % {"mailbox": mailbox, "error": result.error},
                messages.ERROR,
            )
            continue
        modeladmin.message_user(
            request,
            gettext(
                "%(mailbox)s: %(fetched)d fetched, %(created)d new inquiries, %(followups)d "
                "follow-ups, %(skipped)d automatic messages skipped."
            )
            % {
                "mailbox": mailbox,
                "fetched": result.fetched,
                "created": result.created,
                "followups": result.followups,
                "skipped": result.skipped,
            },
            messages.SUCCESS,
        )


class MailboxAdmin(AuditedAdmin):
    form = MailboxAdminForm
    list_display = ("name", "address", "project", "is_active", "last_polled_at", "last_error")
    list_filter = ("is_active", "security")
    search_fields = ("name", "address", "username")
    list_select_related = ("project",)
    readonly_fields = ("last_polled_at", "last_error")
    actions = (poll_now,)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The fields are audited first (the password is not among them); the new password is
        # then stored and audited on its own, without its value.
        super().save_related(request, form, formsets, change)
        password = form.cleaned_data.get("password")
        if password:
            mailbox_set_password(
                actor=request.user,  # type: ignore[arg-type]
                mailbox=form.instance,
                password=password,
            )
