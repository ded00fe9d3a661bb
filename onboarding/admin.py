"""What the system administrator configures for the printed forms: letterhead and form headers."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedAdmin
from onboarding.models import CompanyProfile, FormHeader


@admin.register(CompanyProfile)
class CompanyProfileAdmin(AuditedAdmin):
    list_display = ("name", "address", "phone", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One letterhead: printed on every form.
        return super().has_add_permission(request) and not CompanyProfile.objects.exists()


@admin.register(FormHeader)
class FormHeaderAdmin(AuditedAdmin):
    list_display = ("annex", "doc_number", "title", "version", "approver")
    ordering = ("annex",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per form, created after migrate

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
