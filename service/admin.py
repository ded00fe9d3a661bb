"""Administration of the after-sales service set-up: teams and their members, leave, SLA
policies and revisit templates. Every save and delete is audited (AuditedAdmin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts import services as account_services
from accounts.admin import AuditedAdmin
from audit.services import field_values
from customers.models import CustomerCategory
from service.models import Leave, RevisitTemplate, SlaPolicy, Team, TeamMember
from service.services import MAX_MONTHS
from workflow.calendar import DurationError, duration_ok, parse_duration


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ("name", "code", "department", "lead", "rule", "is_active")
    list_filter = ("is_active", "rule")
    search_fields = ("name", "code")
    list_select_related = ("department", "lead")
    autocomplete_fields = ("lead",)
    inlines = (TeamMemberInline,)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Members joining, changing and leaving are audited one by one."""
        actor = request.user
        instances = formset.save(commit=False)
        for member in formset.deleted_objects:
            account_services.admin_object_deleted(actor=actor, obj=member)  # type: ignore[arg-type]
            member.delete()
        for member in instances:
            created = member.pk is None
            before = {} if created else field_values(TeamMember.objects.get(pk=member.pk))
            member.save()
            account_services.admin_object_saved(
                actor=actor,  # type: ignore[arg-type]
                obj=member,
                before=before,
                created=created,
            )
        formset.save_m2m()


@admin.register(Leave)
class LeaveAdmin(AuditedAdmin):
    list_display = ("user", "starts_on", "ends_on", "note")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__display_name", "note")
    autocomplete_fields = ("user",)
    date_hierarchy = "starts_on"


def _duration(value: str, *, required: bool = True) -> str:
    """A duration in the business calendar's syntax ("4 work hours", "2 workdays", "24 hours")."""
    text = value.strip()
    if not text and not required:
        return ""
    if not duration_ok(text):
        try:
            parse_duration(text)
        except DurationError as exc:  # its message says what is wrong, in Chinese
            raise forms.ValidationError(str(exc)) from exc
    return text


class SlaPolicyForm(forms.ModelForm):
    customer_category = forms.ChoiceField(
        label=_("customer category"),
        required=False,
        choices=[("", _("Any")), *CustomerCategory.choices],
    )

    class Meta:
        model = SlaPolicy
        fields = (
            "name",
            "kind",
            "priority",
            "customer_category",
            "first_response",
            "resolution",
            "warn_before",
            "is_active",
        )
        help_texts = {
            "first_response": _('e.g. "2 work hours", "1 workday" or "24 hours"'),
            "resolution": _('e.g. "2 work hours", "1 workday" or "24 hours"'),
        }

    def clean_first_response(self) -> str:
        return _duration(self.cleaned_data["first_response"])

    def clean_resolution(self) -> str:
        return _duration(self.cleaned_data["resolution"])

    def clean_warn_before(self) -> str:
        return _duration(self.cleaned_data.get("warn_before") or "", required=False)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(AuditedAdmin):
    form = SlaPolicyForm
    list_display = (
        "name",
        "kind",
        "priority",
        "customer_category",
        "first_response",
        "resolution",
        "warn_before",
        "is_active",
    )
    list_filter = ("is_active", "kind", "priority")
    search_fields = ("name",)


class RevisitTemplateForm(forms.ModelForm):
    class Meta:
        model = RevisitTemplate
        fields = ("name", "months", "is_default")

    def clean_months(self) -> str:
        raw = str(self.cleaned_data["months"]).replace("，", ",")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and 1 <= int(p) <= MAX_MONTHS for p in parts):
            raise forms.ValidationError(
                _("Write whole months from 1 to %(max)d separated by commas, e.g. 1,3,6,12."),
                params={"max": MAX_MONTHS},
            )
        return ",".join(str(m) for m in sorted({int(p) for p in parts}))


@admin.register(RevisitTemplate)
class RevisitTemplateAdmin(AuditedAdmin):
    form = RevisitTemplateForm
    list_display = ("name", "months", "is_default")
