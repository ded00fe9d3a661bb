"""Enforces two-factor authentication and password expiry for signed-in users, and keeps the
idle timeout sliding."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.otp import otp_required_for


def _exempt_prefixes() -> tuple[str, ...]:
    return (
        settings.STATIC_URL,
        reverse("accounts:logout"),
        reverse("accounts:otp_setup"),
        reverse("accounts:otp_verify"),
        reverse("accounts:password_change"),
        reverse("set_language"),
        reverse("javascript-catalog"),
    )


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(f"{url}?next={request.get_full_path()}")


class SecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._exempt: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            if self._exempt is None:
                self._exempt = _exempt_prefixes()
            if not request.path.startswith(self._exempt):
                # Finish signing in (second factor) before anything else, then renew the password.
                verified = getattr(user, "is_verified", lambda: False)()  # set by OTPMiddleware
                if not verified and otp_required_for(user):
                    return _redirect(request, reverse("accounts:otp_verify"))
                if user.password_expired():
                    return _redirect(request, reverse("accounts:password_change"))
        return self.get_response(request)


# A session is saved (its idle clock restarted) at most once a minute, not on every request.
SESSION_REFRESH_SECONDS = 60
_REFRESHED = "_rw_refreshed"


class SlidingSessionMiddleware:
    """The idle timeout counts from the last request: a session in use is saved again, with a
    new expiry, once it is a minute old (instead of a database write on every request)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(_REFRESHED, 0)) >= SESSION_REFRESH_SECONDS:
                session[_REFRESHED] = now  # marks the session modified: saved with a new expiry
        return response
