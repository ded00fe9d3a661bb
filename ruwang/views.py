from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

from accounts import otp, selectors
from accounts.models import User
from audit.models import AuditEntry, Outcome
from audit.services import audit_record


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    profile = selectors.user_profile(user)
    context = {
        "profile": profile,
        "otp_enabled": otp.has_confirmed_device(user),
        "otp_required": user.has_role(*settings.OTP_REQUIRED_ROLES),
        "recent_logins": selectors.recent_logins(user),
        "org_summary": (
            selectors.organisation_summary() if user.has_perm("accounts.view_user") else None
        ),
        "audit_recent": (
            list(AuditEntry.objects.order_by("-id")[:8])
            if user.has_perm("audit.view_auditentry")
            else None
        ),
        "recent_denials": (
            AuditEntry.objects.filter(outcome=Outcome.DENIED).order_by("-id")[:5]
            if user.has_perm("audit.view_auditentry")
            else None
        ),
    }
    from care.selectors import my_task_counts

    context["care_counts"] = my_task_counts(user)
    if user.has_perm("workflow.view_case"):
        from django.utils import timezone

        from workflow import selectors as workflow_selectors

        context["task_counts"] = workflow_selectors.inbox_counts(user)
        context["next_tasks"] = list(
            workflow_selectors.inbox(user, workflow_selectors.InboxFilters())[:5]
        )
        context["now"] = timezone.now()
    return render(request, "dashboard.html", context)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Every refusal is audited, whichever check raised it."""
    user = getattr(request, "user", None)
    audit_record(
        actor=user if user is not None and user.is_authenticated else None,
        action="access.denied",
        object_type="url",
        object_repr=request.path[:200],
        outcome=Outcome.DENIED,
        changes={"permission": [None, str(exception or "")[:200]]},
    )
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: the database may be what failed.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
