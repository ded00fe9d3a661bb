"""The customer-facing pages of the inquiry desk (no sign-in): the question form — on its own,
per project, and chrome-less for an iframe on the company's site — and each project's public
notices; plus the staff page listing the links and iframe snippets to publish.

Public pages use their own phone-first layout (templates/inquiries/public/), never the staff
base template with its navigation."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from inquiries.models import (
    DeskSettings,
    Inquiry,
    InquiryChannel,
    Notice,
    NoticeAttachment,
    NoticeStatus,
    Project,
)
from inquiries.public_forms import PublicInquiryForm
from inquiries.ratelimit import RateCheck, rate_limit_hit
from inquiries.services import IncomingFile, inquiry_create
from ruwang.lib import files
from ruwang.lib.request_context import client_ip
from ruwang.lib.views import require

logger = logging.getLogger(__name__)

RATE_SCOPE = "inquiry-form"
DEFAULT_RATE = "5/600"
# A second identical question from the same address this soon is a double click or a reload of
# the answer page, not a new question.
DUPLICATE_WINDOW = dt.timedelta(minutes=10)
NOTICES_PER_PAGE = 10

LAYOUT = "inquiries/public/_base.html"
EMBED_LAYOUT = "inquiries/public/_embed.html"

# Service field → form field, so the service's errors show on the field the customer filled.
_SERVICE_FIELDS = {
    "author_name": "name",
    "author_email": "email",
    "author_phone": "mobile",
    "body": "question",
}


# --- reads -------------------------------------------------------------------------------------


def _brand() -> str:
    """Who the customer is talking to, as the desk signs its replies."""
    signature = DeskSettings.objects.values_list("company_signature", flat=True).first()
    return signature or ""


def _project(code: str, *, notices: bool = False) -> Project | None:
    """An active project by code (with its notices page switched on when `notices`)."""
    found = Project.objects.filter(code=code, is_active=True)
    if notices:
        found = found.filter(public_notices=True)
    return found.first()


def _public_notices(project: Project) -> Any:
    return (
        Notice.objects.filter(project=project, is_public=True, status=NoticeStatus.SENT)
        .order_by("-sent_at", "-pk")
        .prefetch_related("attachments")
    )


def _recent_duplicate(form: PublicInquiryForm, now: dt.datetime) -> Inquiry | None:
    data = form.cleaned_data
    project = form.project_chosen()
    return (
        Inquiry.objects.filter(
            channel=InquiryChannel.WEB,
            author_email__iexact=data["email"],
            subject=data["subject"],
            body=data["question"],
            project=project,
            received_at__gte=now - DUPLICATE_WINDOW,
        )
        .order_by("-received_at")
        .first()
    )


# --- shared pieces -----------------------------------------------------------------------------


def _context(embed: bool, **extra: Any) -> dict[str, Any]:
    return {"layout": EMBED_LAYOUT if embed else LAYOUT, "embed": embed, "brand": _brand(), **extra}


def _not_found(request: HttpRequest, *, embed: bool = False) -> HttpResponse:
    return render(request, "inquiries/public/not_found.html", _context(embed), status=404)


def _too_many(request: HttpRequest, check: RateCheck, *, embed: bool) -> HttpResponse:
    retry_at = timezone.localtime(dt.datetime.fromtimestamp(check.reset_at, tz=dt.UTC))
    response = render(
        request,
        "inquiries/public/too_many.html",
        _context(
            embed,
            retry_at=retry_at,
            retry_minutes=max(1, (check.retry_after + 59) // 60),
        ),
        status=429,
    )
    response["Retry-After"] = str(check.retry_after)
    return response


def _thanks(
    request: HttpRequest, *, inquiry: Inquiry | None, email: str, embed: bool, again_url: str
) -> HttpResponse:
    return render(
        request,
        "inquiries/public/thanks.html",
        _context(embed, inquiry=inquiry, email=email, again_url=again_url),
    )


def _apply_service_errors(form: PublicInquiryForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            name = _SERVICE_FIELDS.get(field, field)
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def _csrf_refused(request: HttpRequest) -> bool:
    """Django's own CSRF check, run here rather than by the middleware (the form views are
    csrf_exempt) so that a refusal gets a page the customer can act on — inside the iframe
    too — instead of the bare 403."""
    middleware = CsrfViewMiddleware(lambda _request: HttpResponse())
    return middleware.process_view(request, _ask, (), {}) is not None


def _csrf_failed(
    request: HttpRequest, *, project: Project | None, embed: bool, form_url: str
) -> HttpResponse:
    """The form again with what was typed (nothing saved), saying why it was not sent. Typically
    the browser kept no cookie: blocked cookies, or the form embedded on another site."""
    typed = {
        name: request.POST.get(name, "")
        for name in ("name", "email", "mobile", "project", "topic", "subject", "question")
    }
    form = PublicInquiryForm(initial=typed, project=project)
    return render(
        request,
        "inquiries/public/ask.html",
        _context(embed, form=form, project=project, form_url=form_url, csrf_failed=True),
        status=403,
    )


def _ask(request: HttpRequest, *, project: Project | None, embed: bool) -> HttpResponse:
    """The form: GET shows it, POST (rate-limited per client IP) files the question."""
    form_url = request.path
    if request.method == "POST":
        ip = client_ip(request)
        # Every attempt counts, valid or not: a bot probing the form is limited like one that
        # succeeds.
        check = rate_limit_hit(
            scope=RATE_SCOPE,
            key=ip or "unknown",
            rate=getattr(settings, "INQUIRY_FORM_RATE", DEFAULT_RATE),
        )
        if not check.allowed:
            if check.count == check.limit + 1:
                logger.warning("Public question form: rate limit reached by %s", ip)
            return _too_many(request, check, embed=embed)
        if _csrf_refused(request):
            return _csrf_failed(request, project=project, embed=embed, form_url=form_url)
        form = PublicInquiryForm(request.POST, request.FILES, project=project)
        if form.is_spam:
            # Dropped without a word: the bot sees the usual page, nothing is written.
            logger.warning("Public question form: honeypot filled from %s; dropped", ip)
            return _thanks(
                request,
                inquiry=None,
                email=str(request.POST.get("email", ""))[:254],
                embed=embed,
                again_url=form_url,
            )
        if form.is_valid():
            data = form.cleaned_data
            now = timezone.now()
            inquiry = _recent_duplicate(form, now)
            if inquiry is None:
                upload = data.get("attachment")
                attachments = (
                    [IncomingFile(name=upload.name or "", fileobj=upload, size=upload.size or 0)]
                    if upload is not None
                    else []
                )
                try:
                    inquiry = inquiry_create(
                        actor=None,
                        channel=InquiryChannel.WEB,
                        body=data["question"],
                        subject=data["subject"],
                        topic=data["topic"],
                        project=form.project_chosen(),
                        author_name=data["name"],
                        author_email=data["email"],
                        author_phone=data["mobile"],
                        attachments=attachments,
                        now=now,
                    )
                except ValidationError as exc:
                    _apply_service_errors(form, exc)
            if inquiry is not None:
                return _thanks(
                    request, inquiry=inquiry, email=data["email"], embed=embed, again_url=form_url
                )
    else:
        form = PublicInquiryForm(project=project)
    return render(
        request,
        "inquiries/public/ask.html",
        _context(embed, form=form, project=project, form_url=form_url),
    )


# --- the question form -------------------------------------------------------------------------


@csrf_exempt  # checked in _ask, see _csrf_refused
@never_cache
@require_http_methods(["GET", "POST"])
def ask(request: HttpRequest) -> HttpResponse:
    """The question form for any project (the customer picks one, or none)."""
    return _ask(request, project=None, embed=False)


@csrf_exempt  # checked in _ask, see _csrf_refused
@never_cache
@require_http_methods(["GET", "POST"])
def ask_project(request: HttpRequest, code: str) -> HttpResponse:
    """The question form of one project (the link printed on its brochures and site)."""
    project = _project(code)
    if project is None:
        return _not_found(request)
    return _ask(request, project=project, embed=False)


@csrf_exempt  # checked in _ask, see _csrf_refused
@xframe_options_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def ask_embed(request: HttpRequest, code: str) -> HttpResponse:
    """The project's form without page chrome, for an iframe on the company's own site: the one
    page allowed in a frame (the rest of the site sends X-Frame-Options: DENY)."""
    project = _project(code)
    if project is None:
        return _not_found(request, embed=True)
    return _ask(request, project=project, embed=True)


# --- public notices ----------------------------------------------------------------------------


@require_GET
def notices(request: HttpRequest, code: str) -> HttpResponse:
    """A project's notices to its customers, newest first."""
    project = _project(code, notices=True)
    if project is None:
        return _not_found(request)
    page = Paginator(_public_notices(project), NOTICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "inquiries/public/notices.html",
        _context(False, project=project, page=page),
    )


@require_GET
def notice(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    project = _project(code, notices=True)
    found = _public_notices(project).filter(pk=pk).first() if project is not None else None
    if project is None or found is None:
        return _not_found(request)
    return render(
        request,
        "inquiries/public/notice.html",
        _context(False, project=project, notice=found),
    )


@require_GET
def notice_file(request: HttpRequest, code: str, pk: int, file_pk: int) -> HttpResponseBase:
    """A public notice's attachment, always as a download (never rendered by the browser)."""
    project = _project(code, notices=True)
    attachment = (
        NoticeAttachment.objects.filter(
            pk=file_pk,
            notice_id=pk,
            notice__project=project,
            notice__is_public=True,
            notice__status=NoticeStatus.SENT,
        ).first()
        if project is not None
        else None
    )
    if attachment is None:
        return _not_found(request)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        logger.error("Notice attachment %s is missing from storage", attachment.pk)
        raise Http404 from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=files.safe_download_name(attachment.name),
        content_type=attachment.content_type or "application/octet-stream",
    )


# --- staff: the links to publish ---------------------------------------------------------------


def iframe_snippet(url: str, title: str) -> str:
    """The HTML to paste into a page of the company's site (attribute values escaped)."""
    return (
        f'<iframe src="{escape(url)}" title="{escape(title)}" '
        'style="width:100%;max-width:40rem;height:1100px;border:0" loading="lazy"></iframe>'
    )


@login_required
def public_links(request: HttpRequest) -> HttpResponse:
    """Every active project's form link, iframe snippet and notices link, as absolute URLs to
    paste into the company's site."""
    require(request, "inquiries.view_project")
    rows = []
    for project in Project.objects.filter(is_active=True).order_by("name"):
        embed_url = request.build_absolute_uri(reverse("inquiries:ask_embed", args=[project.code]))
        rows.append(
            {
                "project": project,
                "form_url": request.build_absolute_uri(
                    reverse("inquiries:ask_project", args=[project.code])
                ),
                "embed_url": embed_url,
                "snippet": iframe_snippet(embed_url, project.name),
                "notices_url": (
                    request.build_absolute_uri(
                        reverse("inquiries:public_notices", args=[project.code])
                    )
                    if project.public_notices
                    else ""
                ),
            }
        )
    return render(
        request,
        "inquiries/public/links.html",
        {
            "rows": rows,
            "general_url": request.build_absolute_uri(reverse("inquiries:ask")),
        },
    )
