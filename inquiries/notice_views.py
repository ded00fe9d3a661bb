"""Notice pages (客户通知): the list, compose and edit (audience pickers with a live recipient
count), a notice's page with its delivery log, and the actions that send, schedule, cancel and
retry it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Region, User
from audit.services import audit_record
from customers import exports
from customers.models import CustomerStatus, Segment, Tag
from inquiries import notices
from inquiries.models import (
    Notice,
    NoticeAttachment,
    NoticeStatus,
    Project,
)
from inquiries.notice_forms import AudienceForm, DeliveryFilterForm, NoticeForm, ScheduleForm
from ruwang.lib.views import apply_errors, require

LIST_SIZE = 30
LOG_SIZE = 50


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _may_compose(user: User) -> bool:
    return user.has_perm("inquiries.add_notice") or user.has_perm("inquiries.change_notice")


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    user = require(request, "inquiries.view_notice")
    status = request.GET.get("status", "")
    qs = notices.notices_visible_to(user).order_by("-created_at", "-pk")
    if status in NoticeStatus.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, LIST_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "inquiries/notices/list.html",
        {
            "page": page,
            "rows": [(n, notices.NOTICE_STATUS_LABELS.get(n.status, n.status)) for n in page],
            "status": status,
            "statuses": list(notices.NOTICE_STATUS_LABELS.items()),
            "can_add": user.has_perm("inquiries.add_notice"),
        },
    )


def _audience_summary(audience: dict[str, Any]) -> list[tuple[str, str]]:
    """(criterion, chosen values) in words, for the notice's page."""
    rows: list[tuple[str, str]] = []
    lookups: list[tuple[str, str, Any]] = [
        ("projects", _("Projects"), Project),
        ("regions", _("Districts"), Region),
        ("tags", _("Tags"), Tag),
    ]
    for key, label, model in lookups:
        ids = audience.get(key) or []
        if ids:
            names = [str(obj) for obj in model.objects.filter(pk__in=ids)]
            rows.append((label, "、".join(names) or "—"))
    statuses = audience.get("statuses") or []
    if statuses:
        labels = dict(CustomerStatus.choices)
        rows.append((_("Customer status"), "、".join(str(labels.get(s, s)) for s in statuses)))
    if audience.get("segment"):
        segment = Segment.objects.filter(pk=audience["segment"]).first()
        rows.append((_("Saved segment"), segment.name if segment else _("(deleted)")))
    return rows


def _save_and_act(
    request: HttpRequest, user: User, form: NoticeForm, notice: Notice | None
) -> Notice | None:
    """Save the notice and its new attachments as one write, then send or schedule it when
    that button was pressed. None (errors on the form) when nothing was saved."""
    data = form.cleaned_data
    try:
        with transaction.atomic():
            saved = notices.notice_save(
                actor=user,
                notice=notice,
                title=data["title"],
                body=data["body"],
                project=data["project"],
                audience=form.audience(),
                channels=data["channels"],
                is_public=data["is_public"],
                scheduled_for=data["scheduled_for"],
            )
            for upload in data["attachments"]:
                notices.notice_attach(
                    actor=user,
                    notice=saved,
                    name=upload.name or "",
                    fileobj=upload,
                    size=upload.size or 0,
                )
    except ValidationError as exc:
        apply_errors(form, exc)
        return None
    action = request.POST.get("action", "save")
    try:
        if action == "send":
            saved = notices.notice_send(actor=user, notice=saved)
            messages.success(request, _("The notice is being sent."))
        elif action == "schedule":
            if data["scheduled_for"] is None:
                raise ValidationError(_("Give the time to send it, then press “Schedule”."))
            notices.notice_schedule(actor=user, notice=saved, at=data["scheduled_for"])
            messages.success(
                request,
                _("Scheduled for %(at)s.")
                % {"at": timezone.localtime(data["scheduled_for"]).strftime("%Y-%m-%d %H:%M")},
            )
        else:
            messages.success(request, _("Notice saved."))
    except ValidationError as exc:
        messages.error(request, _("Saved, but not sent: %(why)s") % {"why": " ".join(exc.messages)})
    return saved


def _compose(request: HttpRequest, user: User, notice: Notice | None) -> HttpResponse:
    if request.method == "POST":
        form = NoticeForm(request.POST, request.FILES, user=user)
        if form.is_valid():
            saved = _save_and_act(request, user, form, notice)
            if saved is not None:
                return redirect("inquiries:notice", pk=saved.pk)
    elif notice is not None:
        form = NoticeForm(
            user=user,
            initial={
                "title": notice.title,
                "body": notice.body,
                "project": notice.project_id,
                "channels": notice.channels,
                "is_public": notice.is_public,
                "scheduled_for": (
                    timezone.localtime(notice.scheduled_for) if notice.scheduled_for else None
                ),
                **AudienceForm.initial_from(notice.audience),
            },
        )
    else:
        form = NoticeForm(user=user, initial={"channels": ["email"]})
    preview, preview_errors = _preview(user, form)
    context = {
        "form": form,
        "notice": notice,
        "status_label": notices.NOTICE_STATUS_LABELS.get(notice.status, "") if notice else "",
        "attachments": list(notice.attachments.all()) if notice is not None else [],
        "can_send": user.has_perm("inquiries.send_notice"),
        "preview": preview,
        "preview_errors": preview_errors,
    }
    return render(request, "inquiries/notices/form.html", context)


def _preview(user: User, form: AudienceForm) -> tuple[notices.NoticePreview | None, list[str]]:
    """The live count for the audience the form holds (bound or initial)."""
    data = form.data if form.is_bound else _as_query(form.initial)
    audience_form = AudienceForm(data, user=user)
    if not audience_form.is_valid():
        return None, [str(e) for errors in audience_form.errors.values() for e in errors]
    audience = audience_form.audience()
    try:
        return notices.notice_preview(user=user, audience=audience), []
    except ValidationError as exc:
        return None, exc.messages


def _as_query(initial: Mapping[str, Any]) -> QueryDict:
    """Initial audience values (ids) as a posted form would hold them."""
    query = QueryDict(mutable=True)
    for key in AudienceForm.base_fields:
        value = initial.get(key)
        if value in (None, "", []):
            continue
        query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return query


@login_required
def notice_create(request: HttpRequest) -> HttpResponse:
    user = require(request, "inquiries.add_notice")
    return _compose(request, user, None)


@login_required
def notice_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "inquiries.view_notice")
    notice = notices.notice_get(user, pk)
    if not notices.may_edit(user, notice):
        raise PermissionDenied("inquiries.change_notice")
    if notice.status not in notices.EDITABLE:
        messages.error(request, _("Only a draft or a scheduled notice can be changed."))
        return redirect("inquiries:notice", pk=notice.pk)
    return _compose(request, user, notice)


@login_required
def notice_audience(request: HttpRequest) -> HttpResponse:
    """The live recipient count of the compose page (htmx, on every change of the audience)."""
    user = require(request, "inquiries.view_notice")
    if not _may_compose(user):
        raise PermissionDenied("inquiries.add_notice")
    form = AudienceForm(request.GET, user=user)
    preview, preview_errors = _preview(user, form)
    return render(
        request,
        "inquiries/notices/_audience_count.html",
        {"preview": preview, "preview_errors": preview_errors},
    )


@login_required
def notice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "inquiries.view_notice")
    notice = notices.notice_get(user, pk)
    filters = DeliveryFilterForm(request.GET or None)
    log = notices.deliveries_visible_to(user, notice)
    chosen: dict[str, str] = {}
    if filters.is_valid():
        chosen = {k: v for k, v in filters.cleaned_data.items() if v}
        log = log.filter(**chosen)
    page = Paginator(log, LOG_SIZE).get_page(request.GET.get("page"))
    reveal = user.has_perm("customers.reveal_personal_data")
    rows = [
        (
            d,
            notices.shown_address(d, reveal),
            notices.DELIVERY_STATUS_LABELS.get(d.status, d.status),
            notices.CHANNEL_LABELS.get(d.channel, d.channel),
        )
        for d in page.object_list
    ]
    counts = notices.delivery_counts(notice)
    context = {
        "notice": notice,
        "counts": counts,
        "status_label": notices.NOTICE_STATUS_LABELS.get(notice.status, notice.status),
        "channel_labels": [notices.CHANNEL_LABELS.get(c, c) for c in notice.channels],
        "count_rows": [
            (key, label, counts.get(key, 0))
            for key, label in notices.DELIVERY_STATUS_LABELS.items()
        ],
        "total": sum(counts.values()),
        "hidden": sum(counts.values()) - notices.deliveries_visible_to(user, notice).count(),
        "page": page,
        "rows": rows,
        "filters": filters,
        "query": urlencode(chosen),
        "audience": _audience_summary(notice.audience),
        "attachments": list(notice.attachments.all()),
        "schedule_form": ScheduleForm(
            initial={
                "scheduled_for": timezone.localtime(notice.scheduled_for)
                if notice.scheduled_for
                else None
            }
        ),
        "can_edit": notice.status in notices.EDITABLE and notices.may_edit(user, notice),
        "can_send": user.has_perm("inquiries.send_notice"),
    }
    if _is_htmx(request) and request.GET.get("part") == "progress":
        return render(request, "inquiries/notices/_progress.html", context)
    return render(request, "inquiries/notices/detail.html", context)


def _act(request: HttpRequest, pk: int, perm: str) -> tuple[User, Notice]:
    user = require(request, "inquiries.view_notice")
    notice = notices.notice_get(user, pk)
    if not user.has_perm(perm):
        raise PermissionDenied(perm)
    return user, notice


@login_required
@require_POST
def notice_send(request: HttpRequest, pk: int) -> HttpResponse:
    user, notice = _act(request, pk, "inquiries.send_notice")
    try:
        notices.notice_send(actor=user, notice=notice)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The notice is being sent."))
    return redirect("inquiries:notice", pk=notice.pk)


@login_required
@require_POST
def notice_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    user, notice = _act(request, pk, "inquiries.send_notice")
    try:
        if request.POST.get("unschedule"):
            notices.notice_schedule(actor=user, notice=notice, at=None)
            messages.success(request, _("The schedule was removed: the notice is a draft again."))
        else:
            form = ScheduleForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Give the time to send it as YYYY-MM-DD HH:MM."))
            at = form.cleaned_data["scheduled_for"]
            notices.notice_schedule(actor=user, notice=notice, at=at)
            messages.success(
                request,
                _("Scheduled for %(at)s.")
                % {"at": timezone.localtime(at).strftime("%Y-%m-%d %H:%M")},
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("inquiries:notice", pk=notice.pk)


@login_required
@require_POST
def notice_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "inquiries.view_notice")
    notice = notices.notice_get(user, pk)
    try:
        notices.notice_cancel(actor=user, notice=notice)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The notice was cancelled."))
    return redirect("inquiries:notice", pk=notice.pk)


@login_required
@require_POST
def notice_retry(request: HttpRequest, pk: int) -> HttpResponse:
    user, notice = _act(request, pk, "inquiries.send_notice")
    try:
        count = notices.notice_retry_failed(actor=user, notice=notice)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(n)d failed deliveries are being sent again.") % {"n": count})
    return redirect("inquiries:notice", pk=notice.pk)


def _attachment(user: User, pk: int, file_pk: int) -> NoticeAttachment:
    notice = notices.notice_get(user, pk)
    found = NoticeAttachment.objects.filter(notice=notice, pk=file_pk).first()
    if found is None:
        raise Http404
    return found


@login_required
def notice_file(request: HttpRequest, pk: int, file_pk: int) -> FileResponse:
    user = require(request, "inquiries.view_notice")
    attachment = _attachment(user, pk, file_pk)
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type,
    )


@login_required
@require_POST
def notice_file_remove(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    user = require(request, "inquiries.view_notice")
    attachment = _attachment(user, pk, file_pk)
    try:
        notices.notice_attachment_remove(actor=user, attachment=attachment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Attachment removed."))
    return redirect("inquiries:notice_edit", pk=pk)


@login_required
def notice_deliveries_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The delivery log (rows of customers the user may see) as .xlsx, phone numbers masked
    unless the user may reveal personal data."""
    user = require(request, "inquiries.view_notice")
    notice = notices.notice_get(user, pk)
    reveal = user.has_perm("customers.reveal_personal_data")
    rows = notices.deliveries_visible_to(user, notice).iterator(chunk_size=2000)
    content, count = notices.deliveries_xlsx(rows, reveal=reveal)
    audit_record(
        actor=user,
        action="notice.export_deliveries",
        obj=notice,
        changes={"rows": [None, count], "unmasked": [None, reveal]},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="notice-{notice.pk}-{stamp}.xlsx"'
    return response
