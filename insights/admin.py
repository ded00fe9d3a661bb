"""Administration of the value classification's settings (one row; every save audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedAdmin
from insights.models import ChurnModel, ChurnSettings, ValueSettings


@admin.register(ValueSettings)
class ValueSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "a_share", "b_share", "frequency_days", "monetary_days")
    fields = (
        "frequency_days",
        "monetary_days",
        "a_share",
        "b_share",
        "recency_weight",
        "frequency_weight",
        "monetary_weight",
        "computed_at",
        "computed_seconds",
    )
    readonly_fields = ("computed_at", "computed_seconds")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: insights.value.value_settings() creates it on first use.
        return not ValueSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- churn risk ------------------------------------------------------------------------------


@admin.register(ChurnSettings)
class ChurnSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "min_terminations", "min_actives", "lead_days", "renewal_days")
    fields = (
        "min_terminations",
        "min_actives",
        "lead_days",
        "history_days",
        "renewal_days",
        "high_threshold",
        "medium_threshold",
        "computed_at",
    )
    readonly_fields = ("computed_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: insights.churn.churn_settings() creates it on first use.
        return not ChurnSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChurnModel)
class ChurnModelAdmin(admin.ModelAdmin):
    """The training runs, read only (written by insights.churn.churn_recompute)."""

    list_display = ("trained_at", "method", "terminations", "actives", "holdout_auc", "scored")
    list_filter = ("method",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
