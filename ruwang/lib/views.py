"""Small helpers every app's views share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import HttpRequest

from accounts.models import User


def acting_user(request: HttpRequest) -> User:
    """The signed-in user (views are behind login_required)."""
    return request.user  # type: ignore[return-value]


def require(request: HttpRequest, perm: str) -> User:
    """The signed-in user, or PermissionDenied (403) without `perm`."""
    user = acting_user(request)
    if not user.has_perm(perm):
        raise PermissionDenied(perm)
    return user


def apply_errors(form: BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names when the form has
    that field, otherwise at the top."""
    if hasattr(exc, "error_dict"):
        for field_name, errors in exc.message_dict.items():
            form.add_error(field_name if field_name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
