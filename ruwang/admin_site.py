"""The administration site: one sign-in page for the whole product, and a plain 403 (audited)
for signed-in users who are not administrators, instead of a second login form."""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class RuwangAdminSite(admin.AdminSite):
    site_header = _("Ruwang · System administration")
    site_title = _("Ruwang")
    index_title = _("System administration")

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("admin")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, view)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.user.is_authenticated:
            raise PermissionDenied("admin")
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
