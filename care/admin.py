"""Administration of the key-account settings (one row; every save audited). Key accounts, their
plans and reviews are edited on their own pages, where the owner rules and the audit apply."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedAdmin
from care.models import KeyAccountSettings


@admin.register(KeyAccountSettings)
class KeyAccountSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "review_lead_days", "daily_run_on")
    fields = ("review_lead_days", "daily_run_on")
    readonly_fields = ("daily_run_on",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: care.keyaccounts.key_account_settings() creates it on first use.
        return not KeyAccountSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
