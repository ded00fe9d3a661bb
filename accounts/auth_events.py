"""Logins, logouts and login failures are audited. Django reports them only through signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from audit.models import Outcome
from audit.services import audit_record
from ruwang.lib.request_context import client_ip


def _ip(request: HttpRequest | None) -> str:
    return client_ip(request) if request is not None else ""


def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="auth.login", obj=user, ip=_ip(request))


def on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action="auth.logout", obj=user, ip=_ip(request))


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    locked = bool(getattr(request, "axes_locked_out", False))
    audit_record(
        actor=None,
        username=username,
        action="auth.login_locked" if locked else "auth.login_failed",
        object_type="accounts.user",
        object_repr=username,
        outcome=Outcome.DENIED if locked else Outcome.FAILURE,
        ip=_ip(request),
    )


def connect() -> None:
    user_logged_in.connect(on_login, dispatch_uid="audit_login")
    user_logged_out.connect(on_logout, dispatch_uid="audit_logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit_login_failed")
