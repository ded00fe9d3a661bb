"""Pages of the knowledge base (知识库) and the complaint (投诉) and article actions of a ticket.

The ticket page shows both panels (templates/service/tickets/_complaint.html, _articles.html);
their forms post here and come back to the ticket page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from ruwang.lib.views import apply_errors, require
from service import complaints, knowledge, notify
from service.models import Article, Ticket, TicketKind
from service.tickets import REVIEW_PERM, WORK_PERM, may_work

PAGE_SIZE = 30


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = list(knowledge.ARTICLE_FIELDS)
        labels = {
            "title": gettext_lazy("Title"),
            "problem": gettext_lazy("Problem"),
            "cause": gettext_lazy("Cause of the problem"),
            "solution": gettext_lazy("Solution"),
            "keywords": gettext_lazy("Keywords"),
            "is_published": gettext_lazy("Published"),
        }
        help_texts = {
            "keywords": gettext_lazy(
                "Words that appear in tickets this article helps with, separated by commas "
                "(e.g. 离线、通讯故障). Tickets containing them suggest the article."
            ),
            "is_published": gettext_lazy("Unpublished articles are seen only by their editors."),
        }
        widgets = {
            "problem": forms.Textarea(attrs={"rows": 3}),
            "cause": forms.Textarea(attrs={"rows": 3}),
            "solution": forms.Textarea(attrs={"rows": 6}),
        }


class AnalysisForm(forms.Form):
    root_cause = forms.CharField(
        label=gettext_lazy("Root cause"), max_length=4000, widget=forms.Textarea
    )
    corrective_action = forms.CharField(
        label=gettext_lazy("Corrective action"), max_length=4000, widget=forms.Textarea
    )


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[("approve", gettext_lazy("Approve")), ("return", gettext_lazy("Return"))],
    )
    comment = forms.CharField(label=gettext_lazy("Review comment"), required=False, max_length=2000)


class OutcomeForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Message to the customer"), max_length=4000, widget=forms.Textarea
    )


class LinkForm(forms.Form):
    article = forms.IntegerField(label=gettext_lazy("Article"), min_value=1)


# --- helpers -----------------------------------------------------------------------------------


def _ticket_or_404(user: User, pk: int) -> Ticket:
    try:
        ticket = Ticket.objects.select_related("customer", "team__lead", "assignee").get(pk=pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    if not knowledge.ticket_visible(user, ticket):
        raise Http404
    return ticket


def _article_or_404(user: User, pk: int) -> Article:
    try:
        return knowledge.article_get(user, pk)
    except Article.DoesNotExist:
        raise Http404 from None


def _to_ticket(request: HttpRequest, ticket: Ticket, anchor: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(reverse("service:ticket", args=[ticket.pk]) + anchor)


def _errors(form: forms.Form, exc: ValidationError | None = None) -> str:
    """The form's (or the service's) errors as one message naming each field."""
    if exc is not None:
        apply_errors(form, exc)
    return " ".join(
        f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


def _page(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


# --- knowledge base pages ---------------------------------------------------------------------


@login_required
def article_list(request: HttpRequest) -> HttpResponse:
    """Search the articles; with ?ticket=<id> each row offers to link the article to the ticket."""
    user = require(request, knowledge.VIEW_PERM)
    q = request.GET.get("q", "").strip()[:100]
    ticket = None
    raw_ticket = request.GET.get("ticket", "")
    if raw_ticket.isdigit():
        ticket = _ticket_or_404(user, int(raw_ticket))
        if not may_work(user, ticket):
            ticket = None
    page = _page(request)
    offset = (page - 1) * PAGE_SIZE
    rows = list(knowledge.article_search(user, q)[offset : offset + PAGE_SIZE + 1])
    query: dict[str, str | int] = {}
    if q:
        query["q"] = q
    if ticket is not None:
        query["ticket"] = ticket.pk
    linked = set(ticket.article_links.values_list("article_id", flat=True)) if ticket else set()
    context = {
        "q": q,
        "articles": rows[:PAGE_SIZE],
        "ticket": ticket,
        "linked": linked,
        "can_add": user.has_perm(knowledge.ADD_PERM),
        "page": page,
        "previous_url": f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
        "next_url": f"?{urlencode({**query, 'page': page + 1})}" if len(rows) > PAGE_SIZE else "",
    }
    partial = getattr(request, "htmx", False)
    template = "service/kb/_article_rows.html" if partial else "service/kb/article_list.html"
    return render(request, template, context)


@login_required
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, knowledge.VIEW_PERM)
    article = _article_or_404(user, pk)
    context = {"article": article, "can_change": user.has_perm(knowledge.CHANGE_PERM)}
    return render(request, "service/kb/article_detail.html", context)


@login_required
def article_create(request: HttpRequest) -> HttpResponse:
    user = require(request, knowledge.ADD_PERM)
    form = ArticleForm(request.POST or None, initial={"is_published": True})
    if request.method == "POST" and form.is_valid():
        try:
            article = knowledge.article_create(actor=user, data=form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Article saved."))
            return redirect("service:article", article.pk)
    return render(request, "service/kb/article_form.html", {"form": form, "article": None})


@login_required
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, knowledge.CHANGE_PERM)
    article = _article_or_404(user, pk)
    form = ArticleForm(request.POST or None, instance=article)
    if request.method == "POST" and form.is_valid():
        try:
            knowledge.article_update(actor=user, article=article, data=form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Article saved."))
            return redirect("service:article", article.pk)
    return render(request, "service/kb/article_form.html", {"form": form, "article": article})


# --- articles of a ticket ---------------------------------------------------------------------


@login_required
@require_POST
def ticket_article_link(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, WORK_PERM)
    require(request, knowledge.VIEW_PERM)
    ticket = _ticket_or_404(user, pk)
    form = LinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form))
        return _to_ticket(request, ticket, "#rw-ticket-articles")
    article = _article_or_404(user, form.cleaned_data["article"])
    try:
        knowledge.ticket_article_link(actor=user, ticket=ticket, article=article)
    except ValidationError as exc:
        messages.error(request, _errors(form, exc))
    else:
        messages.success(
            request,
            _("Article “%(title)s” linked to %(number)s.")
            % {"title": article.title, "number": ticket.number},
        )
    return _to_ticket(request, ticket, "#rw-ticket-articles")


@login_required
@require_POST
def ticket_article_solved(request: HttpRequest, pk: int, article_pk: int) -> HttpResponse:
    user = require(request, WORK_PERM)
    require(request, knowledge.VIEW_PERM)
    ticket = _ticket_or_404(user, pk)
    linked = ticket.article_links.filter(article_id=article_pk).select_related("article").first()
    article = linked.article if linked else _article_or_404(user, article_pk)
    try:
        knowledge.ticket_article_solved(actor=user, ticket=ticket, article=article)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("Recorded: “%(title)s” solved this ticket.") % {"title": article.title}
        )
    return _to_ticket(request, ticket, "#rw-ticket-articles")


# --- complaints -------------------------------------------------------------------------------


def _complaint_or_404(user: User, pk: int) -> Ticket:
    ticket = _ticket_or_404(user, pk)
    if ticket.kind != TicketKind.COMPLAINT:
        raise Http404
    return ticket


@login_required
@require_POST
def complaint_analysis(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, WORK_PERM)
    ticket = _complaint_or_404(user, pk)
    form = AnalysisForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form))
        return _to_ticket(request, ticket, "#rw-complaint")
    try:
        complaints.complaint_save_analysis(actor=user, ticket=ticket, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, _errors(form, exc))
    else:
        messages.success(request, _("Root cause and corrective action saved."))
    return _to_ticket(request, ticket, "#rw-complaint")


@login_required
@require_POST
def complaint_submit(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, WORK_PERM)
    ticket = _complaint_or_404(user, pk)
    try:
        complaints.complaint_submit(actor=user, ticket=ticket)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Submitted for a supervisor's review."))
    return _to_ticket(request, ticket, "#rw-complaint")


@login_required
@require_POST
def complaint_review(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, REVIEW_PERM)
    ticket = _complaint_or_404(user, pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form))
        return _to_ticket(request, ticket, "#rw-complaint")
    approve = form.cleaned_data["decision"] == "approve"
    try:
        complaints.complaint_review(
            actor=user, ticket=ticket, approve=approve, comment=form.cleaned_data["comment"]
        )
    except ValidationError as exc:
        messages.error(request, _errors(form, exc))
    else:
        messages.success(
            request,
            _("Approved: the customer can now be told the outcome.")
            if approve
            else _("Returned for rework; the assignee has been told."),
        )
    return _to_ticket(request, ticket, "#rw-complaint")


@login_required
@require_POST
def complaint_tell_customer(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, WORK_PERM)
    ticket = _complaint_or_404(user, pk)
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form))
        return _to_ticket(request, ticket, "#rw-complaint")
    try:
        complaints.complaint_tell_customer(
            actor=user, ticket=ticket, text=form.cleaned_data["text"]
        )
    except ValidationError as exc:
        messages.error(request, _errors(form, exc))
    else:
        address = notify.customer_address(ticket)
        messages.success(
            request,
            _("The outcome was sent to the customer (%(address)s).") % {"address": address}
            if address
            else _(
                "The outcome is recorded on the ticket. The customer has no e-mail address: "
                "tell them by phone."
            ),
        )
    return _to_ticket(request, ticket, "#rw-complaint")
