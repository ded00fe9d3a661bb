"""Administration pages for the organisation. Every save and delete is audited through services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import Department, Region, Role, Territory, User
from audit.selectors import object_history
from audit.services import field_values


class AuditedAdmin(admin.ModelAdmin):
    """Writes go through the audit log; "History" shows the record's audit trail."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before: dict[str, Any] = {}
        if change and obj.pk:
            original = type(obj).objects.get(pk=obj.pk)
            before = field_values(original)
            if isinstance(original, User):
                before["roles"] = sorted(original.role_codes())
        request._audit_before = (before, not change)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, created = getattr(request, "_audit_before", ({}, not change))
        services.admin_object_saved(
            actor=request.user,  # type: ignore[arg-type]
            obj=form.instance,
            before=before,
            created=created,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.admin_object_deleted(actor=request.user, obj=obj)  # type: ignore[arg-type]
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj: Model = get_object_or_404(self.model, pk=object_id)
        if not self.has_view_or_change_permission(request, obj):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        meta = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": _("History of %(object)s") % {"object": obj},
            "object": obj,
            "opts": meta,
            "entries": object_history(f"{meta.app_label}.{meta.model_name}", str(obj.pk)),
        }
        return TemplateResponse(request, "admin/audit_history.html", context)


class UserAdminForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):  # type: ignore[name-defined]
        model = User
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        groups = data.get("groups")
        if groups is not None:
            codes = [g.role.code for g in groups if hasattr(g, "role")]
            try:
                services.role_check_assignment(codes)
            except ValidationError as exc:
                self.add_error("groups", exc)
        supervisor = data.get("supervisor")
        if supervisor is not None and self.instance.pk and supervisor.pk == self.instance.pk:
            self.add_error("supervisor", _("A user cannot be their own supervisor."))
        return data


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    form = UserAdminForm
    list_display = (
        "username",
        "display_name",
        "department",
        "supervisor",
        "is_active",
        "is_demo",
        "last_login",
    )
    list_filter = ("is_active", "is_demo", "department", "groups")
    search_fields = ("username", "display_name", "email", "mobile")
    list_select_related = ("department", "supervisor")
    autocomplete_fields = ("supervisor", "department")
    filter_horizontal = ("groups", "regions", "territories")
    readonly_fields = ("last_login", "date_joined", "password_changed_at", "is_superuser")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (
            _("Personal info"),
            {"fields": ("display_name", "first_name", "last_name", "email", "mobile")},
        ),
        (
            _("Organisation"),
            {"fields": ("department", "supervisor", "groups", "regions", "territories")},
        ),
        (
            _("Status"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "is_demo",
                    "must_change_password",
                    "password_changed_at",
                    "last_login",
                    "date_joined",
                )
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "display_name",
                    "department",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            # A password chosen by an administrator is temporary.
            from django.utils import timezone

            obj.must_change_password = True
            obj.password_changed_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Department)
class DepartmentAdmin(AuditedAdmin):
    list_display = ("name", "code", "parent", "head", "is_active", "sort_order")
    list_editable = ("sort_order",)
    search_fields = ("name", "code")
    list_filter = ("is_active",)
    autocomplete_fields = ("parent", "head")


class RoleInline(admin.StackedInline):
    model = Role
    can_delete = False
    fields = ("code", "description", "is_builtin")
    readonly_fields = ("is_builtin",)


class GroupAdminForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ("name", "permissions")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        role = getattr(self.instance, "role", None) if self.instance.pk else None
        perms = data.get("permissions")
        if role is not None and perms is not None:
            codes = [f"{p.content_type.app_label}.{p.codename}" for p in perms]
            try:
                services.role_check_permissions(role.code, codes)
            except ValidationError as exc:
                self.add_error("permissions", exc)
        return data


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(AuditedAdmin, DjangoGroupAdmin):
    form = GroupAdminForm
    inlines = (RoleInline,)
    list_display = ("name", "role_code", "member_count")

    @admin.display(description=_("code"))
    def role_code(self, obj: Group) -> str:
        return obj.role.code if hasattr(obj, "role") else ""

    @admin.display(description=_("members"))
    def member_count(self, obj: Group) -> int:
        return obj.user_set.count()

    def has_delete_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        if obj is not None and hasattr(obj, "role") and obj.role.is_builtin:
            return False  # built-in roles are referenced by code throughout the product
        return super().has_delete_permission(request, obj)


@admin.register(Region)
class RegionAdmin(AuditedAdmin):
    list_display = ("code", "name", "level", "full_name", "is_active")
    list_filter = ("level", "is_active")
    search_fields = ("code", "name", "full_name")
    readonly_fields = ("code", "level", "parent", "full_name")
    fields = ("code", "name", "level", "parent", "full_name", "is_active")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the GB/T 2260 tree comes from `ruwang regions`

    def has_delete_permission(self, request: HttpRequest, obj: Region | None = None) -> bool:
        return False


@admin.register(Territory)
class TerritoryAdmin(AuditedAdmin):
    list_display = ("name", "code", "district_count", "is_active")
    search_fields = ("name", "code")
    autocomplete_fields = ("districts",)
    list_filter = ("is_active",)

    @admin.display(description=_("districts"))
    def district_count(self, obj: Territory) -> int:
        return obj.districts.count()
