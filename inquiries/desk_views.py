"""Staff pages of the inquiry desk: the queue, manual entry of a question found elsewhere, and an
inquiry's page with the thread and the forms that work it (claim, re-route, contentious mark,
comment, close, attachment, the reply editor and the supervisor's review).

Readers (inquiries.view_inquiry) see the thread and may comment (the seed's 3.4.2); only those
who may answer the inquiry (inquiries.reply_inquiry and sight of it) write and send replies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from customers import selectors as customer_selectors
from customers.models import Customer
from inquiries import replies, routing, services
from inquiries.desk_forms import (
    DUE_SOON,
    STATUS_CHOICES,
    VIEW_CHOICES,
    VIEW_REVIEW,
    AttachForm,
    CloseForm,
    CommentForm,
    ComposeForm,
    ContentiousForm,
    CustomerLookupForm,
    InquiryEntryForm,
    KnowledgeSearchForm,
    QueueFilterForm,
    ReplyForm,
    RerouteForm,
    ReviewForm,
    awaiting_review_of,
)
from inquiries.models import (
    OPEN_STATUSES,
    POSTED_CHANNELS,
    AttachmentKind,
    Inquiry,
    InquiryAttachment,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Reply,
    ReplyStatus,
    ReplyTemplate,
    SignAs,
)
from inquiries.selectors import inquiries_visible_to, inquiry_get
from ruwang.lib.masking import mask_email, mask_phone
from ruwang.lib.views import acting_user, apply_errors, require
from service import knowledge

VIEW_PERM = "inquiries.view_inquiry"
ADD_PERM = "inquiries.add_inquiry"
REPLY_PERM = routing.REPLY_PERMISSION
REVIEW_PERM = replies.REVIEW_PERMISSION
ASSIGN_PERM = "inquiries.assign_inquiry"

PAGE_SIZE = 50
MAX_PAGE = 200  # beyond 10,000 rows people filter, they do not page
COUNT_CAP = customer_selectors.LIST_CAP
KNOWLEDGE_HITS = 8


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- deadlines ---------------------------------------------------------------------------------

OVERDUE = "overdue"
AT_RISK = "at_risk"
ON_TRACK = "on_track"
STOPPED = "stopped"
NO_DEADLINE = "none"


def deadline_state(inquiry: Inquiry, now: dt.datetime) -> str:
    """How the reply deadline stands: overdue, at risk (past the warning or within 4 hours),
    on track, stopped (answered or closed) or none."""
    if not inquiry.is_open:
        return STOPPED
    if inquiry.due_at is None:
        return NO_DEADLINE
    if inquiry.due_at <= now:
        return OVERDUE
    if (inquiry.warn_at is not None and inquiry.warn_at <= now) or inquiry.due_at - now <= DUE_SOON:
        return AT_RISK
    return ON_TRACK


@dataclass(frozen=True)
class QueueRow:
    inquiry: Inquiry
    deadline: str


# --- the queue ---------------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    if raw and raw.isdigit():
        return max(1, min(int(raw), MAX_PAGE))
    return 1


def _capped_count(qs: QuerySet[Inquiry]) -> int:
    return qs.order_by().values("pk")[: COUNT_CAP + 1].count()


@login_required
def inquiry_queue(request: HttpRequest) -> HttpResponse:
    user = require(request, VIEW_PERM)
    form = QueueFilterForm(request.GET)
    filters = form.filters()
    now = timezone.now()
    visible = inquiries_visible_to(user)
    qs = (
        filters.apply(user, visible, now)
        .select_related("customer", "team", "assignee", "project")
        .defer(*(f"customer__{name}" for name in customer_selectors.SEARCH_COLUMNS))
    )
    page = _page_number(request.GET.get("page"))
    start = (page - 1) * PAGE_SIZE
    found = list(qs[start : start + PAGE_SIZE + 1])
    rows = [QueueRow(i, deadline_state(i, now)) for i in found[:PAGE_SIZE]]
    query = request.GET.copy()
    query.pop("page", None)
    base = {k: v for k, v in query.items() if k != "view"}
    can_review = user.has_perm(REVIEW_PERM)
    views = [
        (key, label, f"?{urlencode({**base, 'view': key} if key else base)}")
        for key, label in VIEW_CHOICES
        if key != VIEW_REVIEW or can_review
    ]
    total = _capped_count(qs)
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "rows": rows,
        "page": page,
        "previous_url": f"?{urlencode({**query.dict(), 'page': page - 1})}" if page > 1 else "",
        "next_url": (
            f"?{urlencode({**query.dict(), 'page': page + 1})}"
            if len(found) > PAGE_SIZE and page < MAX_PAGE
            else ""
        ),
        "total": f"{COUNT_CAP:,}+" if total > COUNT_CAP else f"{total:,}",
        "views": views,
        "status_choices": STATUS_CHOICES,
        "review_count": awaiting_review_of(user, visible).count() if can_review else 0,
        "review_url": f"?{urlencode({'view': VIEW_REVIEW})}",
        "can_add": user.has_perm(ADD_PERM),
        "now": now,
    }
    template = (
        "inquiries/desk/_queue_results.html" if _is_htmx(request) else "inquiries/desk/queue.html"
    )
    return render(request, template, context)


# --- manual entry ------------------------------------------------------------------------------


def _customer_or_404(user: User, raw: str) -> Customer | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404
    try:
        return customer_selectors.customer_get(user, int(raw))
    except Customer.DoesNotExist:
        raise Http404 from None


@login_required
def inquiry_create(request: HttpRequest) -> HttpResponse:
    user = require(request, ADD_PERM)
    lookup = CustomerLookupForm(request.GET or None)
    text = lookup.cleaned_data["q"] if lookup.is_valid() else ""
    pick_url = reverse("inquiries:create")
    if _is_htmx(request) and request.method == "GET":
        matches = customer_selectors.customer_matches(user, text)
        return render(
            request,
            "customers/_matches.html",
            {"matches": matches, "q": text, "pick_url": pick_url},
        )
    customer = _customer_or_404(
        user, request.POST.get("customer") or request.GET.get("customer", "")
    )
    form = InquiryEntryForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data.get("screenshot")
        attachments = (
            [
                services.IncomingFile(
                    name=upload.name or "screenshot",
                    fileobj=upload,
                    size=upload.size or 0,
                    kind=AttachmentKind.SCREENSHOT,
                )
            ]
            if upload is not None
            else []
        )
        try:
            inquiry = services.inquiry_create(
                actor=user,
                channel=data["channel"],
                body=data["body"],
                subject=data["subject"],
                topic=data["topic"],
                project=data["project"],
                customer=customer,
                author_name=data["author_name"],
                author_email=data["author_email"],
                author_phone=data["author_phone"],
                source_site=data["source_site"],
                source_url=data["source_url"],
                author_handle=data["author_handle"],
                posted_at=data["posted_at"],
                contentious=data["contentious"],
                contentious_reason=data["contentious_reason"],
                attachments=attachments,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "attachment" in exc.error_dict:
                form.add_error("screenshot", exc.error_dict.pop("attachment"))
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Inquiry %(number)s entered and routed to %(team)s.")
                % {"number": inquiry.number, "team": inquiry.team or _("nobody")},
            )
            return redirect("inquiries:detail", pk=inquiry.pk)
    context = {
        "form": form,
        "customer": customer,
        "lookup": lookup,
        "q": text,
        "matches": customer_selectors.customer_matches(user, text) if text else [],
        "pick_url": pick_url,
        "can_lookup": user.has_perm("customers.view_customer"),
    }
    return render(request, "inquiries/desk/create.html", context)


# --- an inquiry's page -------------------------------------------------------------------------

EVENT_LABELS: dict[str, Promise] = {
    "routed": gettext_lazy("Routed"),
    "rerouted": gettext_lazy("Re-routed"),
    "claimed": gettext_lazy("Claimed"),
    "contentious": gettext_lazy("Marked contentious"),
    "not_contentious": gettext_lazy("Contentious mark cleared"),
    "closed": gettext_lazy("Closed"),
    "reopened": gettext_lazy("Reopened: the customer wrote again"),
    "warned": gettext_lazy("Reply deadline warning sent"),
    "escalated": gettext_lazy("Reply deadline passed: escalated"),
    "reply_drafted": gettext_lazy("Reply drafted"),
    "reply_redrafted": gettext_lazy("Reply changed: a draft again"),
    "reply_submitted": gettext_lazy("Reply submitted for review"),
    "reply_approved": gettext_lazy("Reply approved"),
    "reply_returned": gettext_lazy("Reply returned with comments"),
    "attachment_refused": gettext_lazy("Attachments not kept"),
}


@dataclass(frozen=True)
class ThreadRow:
    message: InquiryMessage
    heading: str
    detail: str


def _thread(inquiry: Inquiry, *, reveal: bool) -> list[ThreadRow]:
    """The thread's rows; `reveal`: show the address a reply went to unmasked."""
    messages_qs = (
        InquiryMessage.objects.filter(inquiry=inquiry)
        .select_related("author")
        .prefetch_related(
            Prefetch(
                "attachments",
                queryset=InquiryAttachment.objects.select_related("document__current"),
            )
        )
        .order_by("created_at", "pk")
    )
    rows = []
    for message in messages_qs:
        detail = ""
        if message.kind == MessageKind.EVENT:
            heading = str(EVENT_LABELS.get(message.event, message.event))
            data = message.data or {}
            if message.event in ("routed", "rerouted", "claimed"):
                parts = [str(data[k]) for k in ("team", "assignee") if data.get(k)]
                detail = " · ".join(parts)
            elif message.event == "reply_approved" and data.get("edited"):
                heading = _("Reply approved with edits")
            elif message.event == "escalated" and data.get("to"):
                detail = "、".join(str(p) for p in data["to"])
        elif message.kind == MessageKind.REPLY:
            data = message.data or {}
            heading = _("Reply posted") if data.get("posted_url") else _("Reply sent")
            to = str(data.get("to") or "")
            detail = to if reveal or not to else mask_email(to)
        else:
            heading = message.get_kind_display()
        rows.append(ThreadRow(message=message, heading=heading, detail=detail))
    return rows


def _templates_for(inquiry: Inquiry) -> tuple[list[ReplyTemplate], list[ReplyTemplate]]:
    """Active templates of the inquiry's topic and general ones first, then the others."""
    mine: list[ReplyTemplate] = []
    others: list[ReplyTemplate] = []
    for template in ReplyTemplate.objects.filter(is_active=True).order_by("name"):
        (mine if template.topic in ("", inquiry.topic) else others).append(template)
    mine.sort(key=lambda t: (t.topic != inquiry.topic, t.name))
    return mine, others


def _knowledge(user: User, q: str) -> list[Any]:
    if not q.strip():
        return []
    return list(knowledge.article_search(user, q)[:KNOWLEDGE_HITS])


def _reply_form(inquiry: Inquiry, reply: Reply | None, user: User) -> ReplyForm:
    initial: dict[str, Any] = {"sign_as": SignAs.COMPANY}
    if reply is not None:
        initial = {"body": reply.body, "sign_as": reply.sign_as}
    return ReplyForm(initial=initial, posted=inquiry.channel in POSTED_CHANNELS)


def _detail(
    request: HttpRequest, inquiry: Inquiry, *, status: int = 200, **forms: Any
) -> HttpResponse:
    user = acting_user(request)
    now = timezone.now()
    reply = replies.reply_current(inquiry)
    can_answer = routing.may_answer(user, inquiry)
    can_review = user.has_perm(REVIEW_PERM)
    can_reroute = inquiry.is_open and services.may_reroute(user, inquiry)
    posted = inquiry.channel in POSTED_CHANNELS
    customer = inquiry.customer
    context: dict[str, Any] = {
        "inquiry": inquiry,
        "now": now,
        "deadline": deadline_state(inquiry, now),
        "thread": _thread(inquiry, reveal=can_answer),
        "attachments": list(
            InquiryAttachment.objects.filter(inquiry=inquiry)
            .select_related("document__current")
            .order_by("added_at", "pk")
        ),
        "customer_visible": customer_selectors.customer_visible(user, customer),
        "masked_phone": mask_phone(inquiry.author_phone) if inquiry.author_phone else "",
        "shown_email": (
            inquiry.author_email
            if can_answer or not inquiry.author_email
            else mask_email(inquiry.author_email)
        ),
        "source_link": inquiry.source_url
        if inquiry.source_url.lower().startswith(("http://", "https://"))
        else "",
        "reply": reply,
        "posted": posted,
        "can_answer": can_answer,
        "can_reroute": can_reroute,
        "can_close": inquiry.status != InquiryStatus.CLOSED and (can_answer or can_reroute),
        "can_claim": can_answer and inquiry.is_open and inquiry.assignee_id is None,
        "can_mark": can_answer and inquiry.is_open and not inquiry.contentious,
        "can_clear": (
            can_review
            and inquiry.contentious
            and inquiry.status in OPEN_STATUSES
            and inquiry.status != InquiryStatus.IN_REVIEW
        ),
        "comment_form": forms.get("comment_form") or CommentForm(),
    }
    if can_answer:
        context["attach_form"] = forms.get("attach_form") or AttachForm()
    if can_reroute:
        context["reroute_form"] = forms.get("reroute_form") or RerouteForm(inquiry=inquiry)
    if context["can_mark"] or context["can_clear"]:
        context["contentious_form"] = forms.get("contentious_form") or ContentiousForm()
    if context["can_close"]:
        context["close_form"] = forms.get("close_form") or CloseForm()
    editable = reply is None or reply.status != ReplyStatus.IN_REVIEW
    if can_answer and (forms.get("reply_form") or (inquiry.is_open and editable)):
        context["reply_form"] = forms.get("reply_form") or _reply_form(inquiry, reply, user)
        context["templates_mine"], context["templates_other"] = _templates_for(inquiry)
        context["can_search_knowledge"] = user.has_perm(knowledge.VIEW_PERM)
        kb_form = KnowledgeSearchForm(request.GET or None)
        q = kb_form.cleaned_data["q"] if kb_form.is_valid() else ""
        context["kb_form"] = kb_form
        context["kb_q"] = q
        context["kb_articles"] = _knowledge(user, q)
        context["needs_review"] = inquiry.contentious and (
            reply is None or reply.status != ReplyStatus.APPROVED
        )
    if forms.get("review_form"):
        context["review_form"] = forms["review_form"]
    elif (
        can_review
        and reply is not None
        and reply.status == ReplyStatus.IN_REVIEW
        and reply.author_id != user.pk
    ):
        context["review_form"] = ReviewForm(initial={"body": reply.body})
    return render(request, "inquiries/desk/detail.html", context, status=status)


@login_required
def inquiry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, VIEW_PERM)
    inquiry = inquiry_get(user, pk)
    if _is_htmx(request) and "q" in request.GET:
        # The knowledge-base search of the reply editor.
        if not routing.may_answer(user, inquiry):
            raise PermissionDenied(REPLY_PERM)
        form = KnowledgeSearchForm(request.GET)
        q = form.cleaned_data["q"] if form.is_valid() else ""
        return render(
            request,
            "inquiries/desk/_knowledge.html",
            {"inquiry": inquiry, "kb_q": q, "kb_articles": _knowledge(user, q)},
        )
    return _detail(request, inquiry)


def _answering(request: HttpRequest, pk: int) -> tuple[User, Inquiry]:
    """The user and the inquiry of an action that needs the reply permission: 403 without it,
    404 for an inquiry the user may not see, 403 when they may not answer this one."""
    user = require(request, REPLY_PERM)
    inquiry = inquiry_get(user, pk)
    if not routing.may_answer(user, inquiry):
        raise PermissionDenied(REPLY_PERM)
    return user, inquiry


def _error_message(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


@login_required
@require_POST
def inquiry_claim(request: HttpRequest, pk: int) -> HttpResponse:
    user, inquiry = _answering(request, pk)
    try:
        services.inquiry_claim(actor=user, inquiry=inquiry)
    except ValidationError as exc:
        _error_message(request, exc)
    else:
        messages.success(request, _("You answer inquiry %(number)s.") % {"number": inquiry.number})
    return redirect("inquiries:detail", pk=inquiry.pk)


@login_required
@require_POST
def inquiry_comment(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, VIEW_PERM)
    inquiry = inquiry_get(user, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.inquiry_comment(actor=user, inquiry=inquiry, text=form.cleaned_data["text"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Internal comment added."))
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, comment_form=form)


@login_required
@require_POST
def inquiry_reroute(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    if not (user.has_perm(ASSIGN_PERM) or user.has_perm(REPLY_PERM)):
        raise PermissionDenied(ASSIGN_PERM)
    inquiry = inquiry_get(user, pk)
    if not services.may_reroute(user, inquiry):
        raise PermissionDenied(ASSIGN_PERM)
    form = RerouteForm(request.POST, inquiry=inquiry)
    if form.is_valid():
        data = form.cleaned_data
        try:
            inquiry = services.inquiry_reroute(
                actor=user,
                inquiry=inquiry,
                reason=data["reason"],
                team=data["team"],
                topic=data["topic"] or None,
                project=data["project"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Inquiry %(number)s re-routed to %(team)s.")
                % {"number": inquiry.number, "team": inquiry.team or _("nobody")},
            )
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, reroute_form=form)


@login_required
@require_POST
def inquiry_contentious(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    mark = request.POST.get("mark") != "0"
    require(request, REPLY_PERM if mark else REVIEW_PERM)
    inquiry = inquiry_get(user, pk)
    form = ContentiousForm(request.POST)
    if form.is_valid():
        try:
            services.inquiry_set_contentious(
                actor=user, inquiry=inquiry, contentious=mark, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Marked contentious: its reply needs a supervisor's approval.")
                if mark
                else _("The contentious mark was cleared."),
            )
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, contentious_form=form)


@login_required
@require_POST
def inquiry_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    if not (user.has_perm(REPLY_PERM) or user.has_perm(ASSIGN_PERM)):
        raise PermissionDenied(REPLY_PERM)
    inquiry = inquiry_get(user, pk)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            services.inquiry_close(actor=user, inquiry=inquiry, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Inquiry %(number)s closed.") % {"number": inquiry.number})
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, close_form=form)


@login_required
@require_POST
def inquiry_attach(request: HttpRequest, pk: int) -> HttpResponse:
    user, inquiry = _answering(request, pk)
    form = AttachForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.inquiry_attach(
                actor=user,
                inquiry=inquiry,
                attachments=[
                    services.IncomingFile(
                        name=upload.name or "file",
                        fileobj=upload,
                        size=upload.size or 0,
                        kind=form.cleaned_data["kind"],
                    )
                ],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "attachment" in exc.error_dict:
                form.add_error("file", exc.error_dict.pop("attachment"))
            apply_errors(form, exc)
        else:
            messages.success(request, _("File attached."))
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, attach_form=form)


# --- the reply ---------------------------------------------------------------------------------


@login_required
@require_POST
def inquiry_reply(request: HttpRequest, pk: int) -> HttpResponse:
    """The reply editor's buttons: save the draft, submit it for review, send it, or record it
    as posted on the other site (the text is saved first in every case)."""
    user, inquiry = _answering(request, pk)
    form = ReplyForm(request.POST, posted=inquiry.channel in POSTED_CHANNELS)
    if form.is_valid():
        data = form.cleaned_data
        action = data["action"] or ReplyForm.SAVE
        try:
            reply = replies.reply_save(
                actor=user, inquiry=inquiry, body=data["body"], sign_as=data["sign_as"]
            )
            if action == ReplyForm.SUBMIT:
                replies.reply_submit(actor=user, reply=reply)
                text = _("The reply was submitted to a supervisor for review.")
            elif action == ReplyForm.SEND:
                replies.reply_send(actor=user, reply=reply)
                text = _("The reply was sent; the reply clock has stopped.")
            elif action == ReplyForm.POST:
                replies.reply_mark_posted(
                    actor=user, reply=reply, posted_url=data.get("posted_url") or ""
                )
                text = _("The reply was recorded as posted; the reply clock has stopped.")
            else:
                text = _("Draft saved.")
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, text)
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, reply_form=form)


@login_required
@require_POST
def inquiry_compose(request: HttpRequest, pk: int) -> HttpResponse:
    """Insert a template or a knowledge-base snippet into the reply being written (nothing is
    saved): the text area for htmx, the whole page otherwise."""
    user, inquiry = _answering(request, pk)
    form = ComposeForm(request.POST)
    if not form.is_valid():
        raise Http404
    data = form.cleaned_data
    body = data["body"] or ""
    sign_as = data["sign_as"] or SignAs.COMPANY
    if data["article"]:
        article = knowledge.articles_visible_to(user).filter(pk=data["article"]).first()
        if article is None:
            raise Http404
        body = replies.snippet_insert(body, article.solution, sign_as, user)
    elif data["use_template"] and data["template"]:
        template = ReplyTemplate.objects.filter(pk=data["template"], is_active=True).first()
        if template is None:
            raise Http404
        body = replies.template_render(template, inquiry, user, sign_as)
    reply_form = ReplyForm(
        initial={"body": body, "sign_as": sign_as}, posted=inquiry.channel in POSTED_CHANNELS
    )
    if _is_htmx(request):
        return render(request, "inquiries/desk/_reply_text.html", {"reply_form": reply_form})
    return _detail(request, inquiry, reply_form=reply_form)


@login_required
@require_POST
def inquiry_review(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, REVIEW_PERM)
    inquiry = inquiry_get(user, pk)
    reply = replies.reply_current(inquiry)
    if reply is None:
        raise Http404
    form = ReviewForm(request.POST)
    decision = request.POST.get("decision", "")
    if decision == ReviewForm.RETURN:
        # Returning needs no text: the author keeps theirs.
        form.fields["body"].required = False
    if form.is_valid():
        data = form.cleaned_data
        approve = data["decision"] == ReviewForm.APPROVE
        try:
            replies.reply_review(
                actor=user,
                reply=reply,
                decision=data["decision"],
                comment=data["comment"],
                body=data["body"] if approve else None,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Reply approved: it may be sent now.")
                if approve
                else _("Reply returned to %(who)s with your comments.") % {"who": reply.author},
            )
            return redirect("inquiries:detail", pk=inquiry.pk)
    return _detail(request, inquiry, review_form=form)
