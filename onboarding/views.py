"""Starting the tobacco new-retailer SOP for a list of new licences (check, then start)."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from customers.exports import XLSX_TYPE
from customers.forms import ImportForm
from onboarding import services

# A checked file waits this long for "start the cases" (seconds).
CHECKED_FILE_TTL = 60 * 60


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require_import(user: User) -> None:
    for perm in services.IMPORT_PERMISSIONS:
        if not user.has_perm(perm):
            raise PermissionDenied(perm)


def _checked_key(user: User, token: str) -> str:
    # The user's id is part of the key: a token is worthless to anyone else.
    return f"onboarding:licences:{user.pk}:{token}"


@login_required
def licences(request: HttpRequest) -> HttpResponse:
    """Upload a list of new licences; every row is checked and nothing is written."""
    user = _user(request)
    _require_import(user)
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    token = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        result = services.licences_import(actor=user, file=ContentFile(data, name=upload.name))
        if result.ok:
            token = secrets.token_urlsafe(16)
            cache.set(_checked_key(user, token), (upload.name, data), CHECKED_FILE_TTL)
    context = {"form": form, "result": result, "token": token}
    return render(request, "onboarding/licences.html", context)


@login_required
@require_POST
def licences_start(request: HttpRequest) -> HttpResponse:
    """Start one case per row of a checked file (checked again first): all rows or none."""
    user = _user(request)
    _require_import(user)
    key = _checked_key(user, request.POST.get("token", "")[:64])
    checked = cache.get(key)
    if checked is None:
        messages.error(
            request,
            _("The checked file is no longer available or was already started; upload it again."),
        )
        return redirect("onboarding:licences")
    name, data = checked
    result = services.licences_import(actor=user, file=ContentFile(data, name=name), commit=True)
    if result.committed:
        cache.delete(key)
    return render(
        request,
        "onboarding/licences.html",
        {"form": ImportForm(), "result": result, "token": "", "started": result.committed},
    )


@login_required
@require_GET
def licences_template(request: HttpRequest) -> HttpResponse:
    _require_import(_user(request))
    response = HttpResponse(services.licences_template(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = 'attachment; filename="new-retailer-licences.xlsx"'
    return response


# --- the fire-monitoring SOP's archive ---------------------------------------------------------

ARCHIVE_PAGE = 50


@login_required
@require_GET
def archive(request: HttpRequest) -> HttpResponse:
    """归档: archived onboarding cases with their frozen documents, newest first (keyset)."""
    user = _user(request)
    if not user.has_perm("workflow.view_case"):
        raise PermissionDenied("workflow.view_case")
    from customers.selectors import customers_visible_to
    from onboarding.fire_services import case_documents
    from onboarding.models import InstallationFile

    q = request.GET.get("q", "").strip()[:60]
    files = (
        InstallationFile.objects.filter(
            archived_at__isnull=False, customer__in=customers_visible_to(user)
        )
        .select_related("case", "customer", "site", "collector", "archived_by")
        .order_by("-archived_at", "-id")
    )
    if q:
        files = files.filter(customer__name__contains=q) | files.filter(case__number=q)
    before = request.GET.get("before", "")
    if before.isdigit():
        files = files.filter(id__lt=int(before))
    page = list(files[: ARCHIVE_PAGE + 1])
    more_url = ""
    if len(page) > ARCHIVE_PAGE:
        query = request.GET.copy()
        query["before"] = str(page[ARCHIVE_PAGE - 1].pk)
        more_url = f"{request.path}?{query.urlencode()}"
    rows = [(record, case_documents(record)) for record in page[:ARCHIVE_PAGE]]
    return render(request, "onboarding/archive.html", {"rows": rows, "q": q, "more_url": more_url})
