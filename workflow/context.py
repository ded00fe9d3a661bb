from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def bell(request: HttpRequest) -> dict[str, Any]:
    """The unread-notification count for the top bar, queried only when a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        from workflow.selectors import unread_notifications

        return unread_notifications(user)

    return {"unread_notifications": SimpleLazyObject(count)}
