from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import otp, selectors, services
from accounts.forms import OtpTokenForm
from accounts.models import User


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


login_view = LoginView.as_view()


def lockout_response(request: HttpRequest, credentials: dict[str, Any], *args: Any) -> HttpResponse:
    """Shown instead of the login result while a user name is locked (same for unknown names)."""
    form = AuthenticationForm(request, initial={"username": credentials.get("username", "")})
    message = _(
        "Too many failed sign-in attempts. This account is locked for %(minutes)d minutes; "
        "try again later or ask a system administrator to unlock it."
    ) % {"minutes": settings.LOGIN_LOCKOUT_MINUTES}
    return render(
        request, "accounts/login.html", {"form": form, "lockout_message": message}, status=429
    )


logout_view = require_POST(auth_views.LogoutView.as_view())


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_set_password(
                actor=user, user=user, password=form.cleaned_data["new_password1"]
            )
        except ValidationError as exc:
            form.add_error("new_password2", exc)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password has been changed."))
            return redirect(_next_url(request))
    return render(
        request,
        "accounts/password_change.html",
        {
            "form": form,
            "expired": user.password_expired(),
            "help_texts": password_validators_help_texts(),
            "next": _next_url(request),
        },
    )


@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    device = otp.pending_device(user)
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.otp_enrol_confirm(user=user, device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            messages.success(request, _("Two-factor authentication is on."))
            return redirect(_next_url(request))
        form.add_error("token", _("The code is wrong or has expired. Try the current code."))
    return render(
        request,
        "accounts/otp_setup.html",
        {
            "form": form,
            "qr_svg": otp.qr_svg(device),
            "secret": otp.secret_base32(device),
            "required": otp.otp_required_for(user),
            "next": _next_url(request),
        },
    )


@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not otp.has_confirmed_device(user):
        return redirect(f"{reverse('accounts:otp_setup')}?next={_next_url(request)}")
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.otp_check(user=user, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", _("The code is wrong or has expired. Try the current code."))
    return render(request, "accounts/otp_verify.html", {"form": form, "next": _next_url(request)})


@login_required
@require_POST
def otp_disable(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    services.otp_disable(actor=user, user=user)
    messages.success(request, _("Two-factor authentication is off."))
    return redirect("accounts:profile")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    new_token = ""
    if request.method == "POST" and request.POST.get("action") == "create_token":
        try:
            _row, new_token = services.api_token_create(
                actor=user, name=request.POST.get("name", "")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    elif request.method == "POST" and request.POST.get("action") == "revoke_token":
        try:
            services.api_token_revoke(actor=user, token_id=int(request.POST.get("token", "0")))
        except (ValidationError, ValueError):
            messages.error(request, _("No such token."))
        else:
            messages.success(request, _("The token has been revoked."))
        return redirect("accounts:profile")
    return render(
        request,
        "accounts/profile.html",
        {
            "profile": selectors.user_profile(user),
            "otp_enabled": otp.has_confirmed_device(user),
            "otp_required": user.has_role(*settings.OTP_REQUIRED_ROLES),
            "recent_logins": selectors.recent_logins(user),
            "tokens": user.api_tokens.filter(revoked_at__isnull=True),
            "new_token": new_token,
        },
    )


@login_required
def lockouts(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    services.require_perm(user, "accounts.change_user")
    if request.method == "POST":
        username = request.POST.get("username", "")
        services.lockout_clear(actor=user, username=username)
        messages.success(request, _("%(name)s has been unlocked.") % {"name": username})
        return redirect("accounts:lockouts")
    return render(request, "accounts/lockouts.html", {"locked": selectors.locked_usernames()})
