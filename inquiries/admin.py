"""Administration of the inquiry desk's set-up: projects and their stages, the responsibility
matrix, the desk settings, contentious keywords, reply templates and mailboxes. Every save and
delete is audited (AuditedAdmin)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedAdmin
from inquiries import services
from inquiries.mail_admin import MailboxAdmin
from inquiries.models import (
    ContentiousKeyword,
    DeskSettings,
    Mailbox,
    Project,
    ReplyTemplate,
    RoutingRule,
)


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    extra = 0
    fields = ("stage", "topic", "team", "position", "note", "is_active")


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ("name", "code", "stage", "region", "public_notices", "is_active")
    list_filter = ("stage", "is_active")
    search_fields = ("name", "code")
    list_select_related = ("region",)
    # A project's customers are added by its inquiries and notices, not by hand here (a large
    # project has tens of thousands).
    exclude = ("customers", "stage_changed_at")
    inlines = (RoutingRuleInline,)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = Project.objects.get(pk=obj.pk).stage if change and obj.pk else obj.stage
        super().save_model(request, obj, form, change)
        moved = services.project_stage_changed(
            actor=request.user,  # type: ignore[arg-type]
            project=obj,
            before=before,
        )
        if moved:
            from django.contrib import messages
            from django.utils.translation import gettext as _

            messages.info(
                request,
                _("%(n)d open inquiries went to the team now responsible.") % {"n": moved},
            )


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    list_display = ("__str__", "project", "stage", "topic", "team", "position", "is_active")
    list_filter = ("stage", "topic", "team", "is_active")
    list_select_related = ("project", "team")
    list_editable = ("position", "is_active")
    ordering = ("position", "pk")


@admin.register(DeskSettings)
class DeskSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "reply_hours", "warn_hours", "work_hours", "default_team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: inquiries.routing.desk_settings() creates it on first use.
        return not DeskSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContentiousKeyword)
class ContentiousKeywordAdmin(AuditedAdmin):
    list_display = ("word", "is_active")
    list_editable = ("is_active",)
    search_fields = ("word",)


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(AuditedAdmin):
    list_display = ("name", "topic", "is_active")
    list_filter = ("topic", "is_active")
    search_fields = ("name", "body")


admin.site.register(Mailbox, MailboxAdmin)
