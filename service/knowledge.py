"""Knowledge base (知识库): articles (problem, cause, solution) found by search, suggested on
tickets, linked to them, and counted when one solved a ticket.

Search is a case-insensitive substring match (each word of the query must occur in the title,
problem, keywords or solution), which suits Chinese: no word splitting is needed for `报警`
to find `火灾报警控制器离线`. A knowledge base holds hundreds of articles, not millions, so a
scan is cheap; tickets are matched against the articles' keywords in Python for the same reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.selectors import customer_visible
from service.models import Article, EntryKind, Ticket, TicketArticle, TicketEntry
from service.tickets import WORK_PERM, may_work

VIEW_PERM = "service.view_article"
ADD_PERM = "service.add_article"
CHANGE_PERM = "service.change_article"
ARTICLE_FIELDS = ("title", "problem", "cause", "solution", "keywords", "is_published")
SEARCH_FIELDS = ("title", "problem", "keywords", "solution")
SUGGESTIONS = 5

# Keywords are separated by commas, enumeration commas, semicolons or spaces (中英文标点).
_KEYWORD_SPLIT = re.compile(r"[,，、;；\s]+")


def keyword_list(keywords: str) -> list[str]:
    return [k for k in _KEYWORD_SPLIT.split(keywords) if k]


# --- reads ---------------------------------------------------------------------------------------


def articles_visible_to(user: User) -> QuerySet[Article]:
    """Published articles for readers; editors also see drafts."""
    if not user.has_perm(VIEW_PERM):
        return Article.objects.none()
    qs = Article.objects.all()
    if not user.has_perm(CHANGE_PERM):
        qs = qs.filter(is_published=True)
    return qs


def article_search(user: User, q: str = "") -> QuerySet[Article]:
    """Articles whose title, problem, keywords or solution contain every word of `q`
    (ignoring case), most often helpful first."""
    qs = articles_visible_to(user)
    for term in q.split():
        match = Q()
        for name in SEARCH_FIELDS:
            match |= Q(**{f"{name}__icontains": term})
        qs = qs.filter(match)
    return qs.select_related("created_by").order_by("-solved_count", "title", "id")


def article_get(user: User, pk: int) -> Article:
    """The article, or Article.DoesNotExist (shown as 404) when the user may not read it."""
    return articles_visible_to(user).select_related("created_by").get(pk=pk)


def ticket_visible(user: User, ticket: Ticket) -> bool:
    return user.has_perm("service.view_ticket") and customer_visible(user, ticket.customer)


def ticket_suggestions(ticket: Ticket, *, limit: int = SUGGESTIONS) -> list[Article]:
    """Published articles whose keywords occur in the ticket's subject or description (most
    matching keywords first, then the most often helpful), leaving out those already linked."""
    text = f"{ticket.subject}\n{ticket.description}".casefold()
    if not text.strip():
        return []
    linked = TicketArticle.objects.filter(ticket=ticket).values("article_id")
    scored: list[tuple[int, int, int]] = []
    for pk, keywords, solved in (
        Article.objects.filter(is_published=True)
        .exclude(keywords="")
        .exclude(pk__in=linked)
        .values_list("pk", "keywords", "solved_count")
    ):
        hits = sum(1 for k in keyword_list(keywords.casefold()) if k in text)
        if hits:
            scored.append((hits, solved, pk))
    best = [pk for _hits, _solved, pk in sorted(scored, key=lambda s: (-s[0], -s[1], s[2]))]
    best = best[:limit]
    by_pk = Article.objects.in_bulk(best)
    return [by_pk[pk] for pk in best]


@dataclass(frozen=True)
class TicketArticles:
    """The knowledge panel of a ticket."""

    ticket: Ticket
    links: list[TicketArticle]
    suggestions: list[Article]
    can_work: bool


def ticket_articles(user: User, ticket: Ticket) -> TicketArticles | None:
    """Linked and suggested articles of a ticket; None when the user may not read articles
    or see the ticket."""
    if not user.has_perm(VIEW_PERM) or not ticket_visible(user, ticket):
        return None
    links = list(
        TicketArticle.objects.filter(ticket=ticket)
        .select_related("article", "linked_by")
        .order_by("linked_at", "id")
    )
    return TicketArticles(
        ticket=ticket,
        links=links,
        suggestions=ticket_suggestions(ticket),
        can_work=may_work(user, ticket),
    )


# --- writes --------------------------------------------------------------------------------------


def _clean(article: Article, data: dict[str, Any]) -> None:
    for name in ARTICLE_FIELDS:
        if name in data:
            value = data[name]
            setattr(article, name, value.strip() if isinstance(value, str) else value)
    article.keywords = "、".join(keyword_list(article.keywords))
    article.full_clean(exclude=["created_by", "solved_count"])


def article_create(*, actor: User, data: dict[str, Any]) -> Article:
    """A new article (title, problem, cause, solution, keywords, is_published)."""
    require_perm(actor, ADD_PERM)
    article = Article(created_by=actor)
    _clean(article, data)
    with transaction.atomic():
        article.save()
        audit_record(
            actor=actor,
            action="article.create",
            obj=article,
            changes={name: [None, getattr(article, name)] for name in ARTICLE_FIELDS},
        )
    return article


def article_update(*, actor: User, article: Article, data: dict[str, Any]) -> Article:
    """Change an article's text or publish / unpublish it."""
    require_perm(actor, CHANGE_PERM)
    with transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article.pk)
        before = {name: getattr(article, name) for name in ARTICLE_FIELDS}
        _clean(article, data)
        changes = {
            name: [before[name], getattr(article, name)]
            for name in ARTICLE_FIELDS
            if before[name] != getattr(article, name)
        }
        if not changes:
            return article
        article.save()
        audit_record(actor=actor, action="article.update", obj=article, changes=changes)
    return article


def _require_ticket_work(actor: User, ticket: Ticket) -> None:
    if not actor.has_perm(VIEW_PERM) or not may_work(actor, ticket):
        raise PermissionDenied(WORK_PERM)


def _require_published(article: Article) -> None:
    if not article.is_published:
        raise ValidationError({"article": _("This article is not published.")})


def ticket_article_link(*, actor: User, ticket: Ticket, article: Article) -> TicketArticle:
    """Link a published article from the ticket (once; linking again changes nothing)."""
    _require_ticket_work(actor, ticket)
    _require_published(article)
    with transaction.atomic():
        link, created = TicketArticle.objects.get_or_create(
            ticket=ticket, article=article, defaults={"linked_by": actor}
        )
        if created:
            TicketEntry.objects.create(
                ticket=ticket,
                kind=EntryKind.SYSTEM,
                author=actor,
                text=_("Knowledge article linked: %(title)s") % {"title": article.title},
                data={"event": "article_linked", "article": article.pk},
                created_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                action="ticket.article_link",
                obj=ticket,
                changes={"article": [None, article.pk]},
            )
    return link


def ticket_article_solved(*, actor: User, ticket: Ticket, article: Article) -> TicketArticle:
    """ "This article solved it": links the article if needed and counts it once per ticket
    (a conditional update decides, so two clicks at once count once)."""
    _require_ticket_work(actor, ticket)
    with transaction.atomic():
        # An article unpublished since it was linked still counts for the ticket it solved.
        link = TicketArticle.objects.filter(
            ticket=ticket, article=article
        ).first() or ticket_article_link(actor=actor, ticket=ticket, article=article)
        marked = TicketArticle.objects.filter(pk=link.pk, solved=False).update(solved=True)
        if marked:
            Article.objects.filter(pk=article.pk).update(solved_count=F("solved_count") + 1)
            TicketEntry.objects.create(
                ticket=ticket,
                kind=EntryKind.SYSTEM,
                author=actor,
                text=_("Knowledge article solved it: %(title)s") % {"title": article.title},
                data={"event": "article_solved", "article": article.pk},
                created_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                action="ticket.article_solved",
                obj=ticket,
                changes={"article": [None, article.pk]},
            )
        link.refresh_from_db()
    return link
