"""Replies to inquiries (the seed's 3.3): drafted by whoever answers the inquiry, reviewed by a
supervisor first when the inquiry is contentious (有争议), then sent by e-mail or, for questions
found on other sites, posted there by hand and recorded with the URL of the posted reply.

A reply is signed as the company or as the named staff member who wrote it, never in a
customer's name. Every step is audited and leaves an entry in the inquiry's thread; sending
stops the reply clock (services.inquiry_mark_replied).

Steps and statuses:
  reply_save    → draft (a returned or approved reply that is edited is a draft again)
  reply_submit  → in_review (contentious inquiries only)
  reply_review  → approved | returned
  reply_send / reply_mark_posted → sent (contentious: only once approved)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from inquiries import routing, services
from inquiries.models import (
    OPEN_STATUSES,
    POSTED_CHANNELS,
    Inquiry,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Reply,
    ReplyStatus,
    ReplyTemplate,
    SignAs,
)
from inquiries.selectors import inquiry_visible
from inquiries.sla import reviewers_who_see, supervisors_for
from workflow.notifications import notify

REVIEW_PERMISSION = "inquiries.review_reply"
BODY_MAX = 20_000
COMMENT_MAX = 2_000
URL_MAX = 500

_url_validator = URLValidator(schemes=["http", "https"])


# --- small rules -------------------------------------------------------------------------------


def reply_current(inquiry: Inquiry) -> Reply | None:
    """The inquiry's reply in progress (there is at most one unsent reply)."""
    return (
        Reply.objects.filter(inquiry=inquiry)
        .exclude(status=ReplyStatus.SENT)
        .select_related("author", "reviewer")
        .first()
    )


def signature(sign_as: str, person: User | None) -> str:
    """The signature under a reply: the company's, or the staff member's name with it."""
    company = routing.desk_settings().company_signature
    if sign_as == SignAs.STAFF and person is not None:
        return f"{person}（{company}）"
    return company


def final_text(reply: Reply) -> str:
    """What the customer reads: the reply with its signature (once, also when a template
    already put it at the end)."""
    body = reply.body.rstrip()
    mark = signature(reply.sign_as, reply.author)
    if body.endswith(mark):
        return body
    return f"{body}\n\n{mark}"


def _addressee(inquiry: Inquiry) -> str:
    return (
        inquiry.author_name.strip()
        or inquiry.author_handle.strip()
        or (inquiry.customer.name if inquiry.customer_id else "")
    )


def template_render(template: ReplyTemplate, inquiry: Inquiry, actor: User, sign_as: str) -> str:
    """The template's text with {customer}, {number} and {signature} filled in (other braces
    are left alone: a template may quote them)."""
    return (
        template.body.replace("{customer}", _addressee(inquiry))
        .replace("{number}", inquiry.number)
        .replace("{signature}", signature(sign_as, actor))
    )


def snippet_insert(body: str, snippet: str, sign_as: str, actor: User) -> str:
    """The reply text with a knowledge-base snippet appended, above the signature when the text
    already ends with it."""
    body = _normalise(body).rstrip()
    snippet = _normalise(snippet).strip()
    if not snippet:
        return body
    mark = signature(sign_as, actor)
    if body.endswith(mark):
        head = body[: -len(mark)].rstrip()
        return f"{head}\n\n{snippet}\n\n{mark}" if head else f"{snippet}\n\n{mark}"
    return f"{body}\n\n{snippet}" if body else snippet


def _normalise(text: str) -> str:
    # Browsers send text areas with CRLF line ends; stored text uses LF so edits compare equal.
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _clean_body(body: str, field: str = "body") -> str:
    text = _normalise(body).strip()
    if not text:
        raise ValidationError({field: _("Write the reply.")})
    if len(text) > BODY_MAX:
        raise ValidationError(
            {
                field: _("At most %(limit)d characters (this has %(n)d).")
                % {"limit": BODY_MAX, "n": len(text)}
            }
        )
    return text


def _require_answer(actor: User, inquiry: Inquiry) -> None:
    if not routing.may_answer(actor, inquiry):
        raise PermissionDenied(routing.REPLY_PERMISSION)


def _lock_reply(reply: Reply) -> tuple[Reply, Inquiry]:
    inquiry = (
        Inquiry.objects.select_for_update(of=("self",))
        .select_related("customer", "team__lead", "assignee")
        .get(pk=reply.inquiry_id)
    )
    locked = Reply.objects.select_for_update(of=("self",)).select_related("author").get(pk=reply.pk)
    locked.inquiry = inquiry
    return locked, inquiry


def _event(
    inquiry: Inquiry, event: str, *, actor: User, at: dt.datetime, text: str = "", **data: Any
) -> InquiryMessage:
    return InquiryMessage.objects.create(
        inquiry=inquiry,
        kind=MessageKind.EVENT,
        event=event,
        body=text,
        author=actor,
        data=data,
        created_at=at,
    )


def _set_status(inquiry: Inquiry, status: str) -> None:
    if inquiry.status != status:
        inquiry.status = status
        inquiry.save(update_fields=["status", "updated_at"])


def _reviewers(inquiry: Inquiry, author_id: int) -> list[User]:
    """Who is asked to review: the team's lead (inquiries.sla.supervisors_for), or every
    supervisor who may see the inquiry when the lead wrote the reply (nobody reviews their own)."""
    people = [p for p in supervisors_for(inquiry) if p.pk != author_id]
    if people:
        return people
    return reviewers_who_see(inquiry, exclude=author_id)


def _check_sendable(reply: Reply, inquiry: Inquiry) -> None:
    if reply.status == ReplyStatus.SENT:
        raise ValidationError(_("This reply has already been sent."))
    if reply.status == ReplyStatus.IN_REVIEW:
        raise ValidationError(_("The reply is waiting for a supervisor's review."))
    if inquiry.contentious and reply.status != ReplyStatus.APPROVED:
        raise ValidationError(
            _(
                "This inquiry is contentious: a supervisor must approve the reply before it is "
                "sent. Submit it for review."
            )
        )
    if inquiry.status not in OPEN_STATUSES:
        raise ValidationError(_("This inquiry is not open."))


# --- steps -------------------------------------------------------------------------------------


def reply_save(*, actor: User, inquiry: Inquiry, body: str, sign_as: str) -> Reply:
    """Create or update the inquiry's one unsent reply as a draft; the inquiry is then being
    drafted. Editing a returned or approved reply makes it a draft again (an approval covers
    the text the supervisor saw)."""
    _require_answer(actor, inquiry)
    text = _clean_body(body)
    if sign_as not in SignAs.values:
        raise ValidationError({"sign_as": _("Choose how the reply is signed.")})
    now = timezone.now()
    with transaction.atomic():
        inquiry = (
            Inquiry.objects.select_for_update(of=("self",))
            .select_related("customer")
            .get(pk=inquiry.pk)
        )
        if inquiry.status not in OPEN_STATUSES:
            raise ValidationError(_("This inquiry is not open."))
        reply = (
            Reply.objects.select_for_update(of=("self",))
            .filter(inquiry=inquiry)
            .exclude(status=ReplyStatus.SENT)
            .first()
        )
        if reply is not None and reply.status == ReplyStatus.IN_REVIEW:
            raise ValidationError(
                _("The reply is waiting for a supervisor's review: it cannot be changed now.")
            )
        if reply is None:
            reply = Reply.objects.create(
                inquiry=inquiry,
                author=actor,
                body=text,
                sign_as=sign_as,
                status=ReplyStatus.DRAFT,
                needs_review=inquiry.contentious,
            )
            _event(inquiry, "reply_drafted", actor=actor, at=now, reply=reply.pk)
            audit_record(
                actor=actor,
                action="reply.create",
                obj=reply,
                changes={"inquiry": inquiry.pk, "sign_as": sign_as},
            )
        elif reply.body != text or reply.sign_as != sign_as:
            # Saving the same text (e.g. before sending it) keeps its writer and its approval.
            before = {"body": reply.body, "sign_as": reply.sign_as, "status": reply.status}
            reply.body = text
            reply.sign_as = sign_as
            reply.author = actor
            reply.needs_review = inquiry.contentious
            if reply.status != ReplyStatus.DRAFT:
                # An approval or the reviewer's comments were about the text as it was.
                _event(
                    inquiry,
                    "reply_redrafted",
                    actor=actor,
                    at=now,
                    reply=reply.pk,
                    was=reply.status,
                )
                reply.status = ReplyStatus.DRAFT
            reply.save()
            after = {"body": reply.body, "sign_as": reply.sign_as, "status": reply.status}
            audit_record(
                actor=actor,
                action="reply.update",
                obj=reply,
                changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
            )
        _set_status(inquiry, InquiryStatus.DRAFTING)
    return reply


def reply_submit(*, actor: User, reply: Reply) -> Reply:
    """Send a contentious inquiry's reply to a supervisor for review."""
    _require_answer(actor, reply.inquiry)
    now = timezone.now()
    with transaction.atomic():
        reply, inquiry = _lock_reply(reply)
        if not inquiry.contentious:
            raise ValidationError(_("This inquiry is not contentious: send the reply directly."))
        if reply.status not in (ReplyStatus.DRAFT, ReplyStatus.RETURNED):
            raise ValidationError(
                _("Only a draft can be submitted for review (this reply is %(status)s).")
                % {"status": reply.get_status_display()}
            )
        reply.status = ReplyStatus.IN_REVIEW
        reply.needs_review = True
        reply.submitted_at = now
        reply.reviewer = None
        reply.reviewed_at = None
        reply.save()
        _set_status(inquiry, InquiryStatus.IN_REVIEW)
        _event(inquiry, "reply_submitted", actor=actor, at=now, reply=reply.pk)
        audit_record(actor=actor, action="reply.submit", obj=reply, changes={"inquiry": inquiry.pk})
        people = _reviewers(inquiry, reply.author_id)
        text = _("A reply to contentious inquiry %(number)s waits for your review: %(subject)s") % {
            "number": inquiry.number,
            "subject": inquiry.subject,
        }
        url = services.inquiry_url(inquiry)
        transaction.on_commit(
            lambda: notify(people, kind="inquiry_review", text=text, task=None, url=url)
        )
    return reply


def reply_review(
    *, actor: User, reply: Reply, decision: str, comment: str, body: str | None = None
) -> Reply:
    """A supervisor approves the reply (optionally editing its text: the change is recorded) or
    returns it to its author with comments. Nobody reviews their own reply."""
    if not actor.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(REVIEW_PERMISSION)
    if not inquiry_visible(actor, reply.inquiry):
        raise PermissionDenied("inquiry not visible")
    if decision not in ("approve", "return"):
        raise ValidationError({"decision": _("Approve the reply or return it.")})
    comment = _normalise(comment).strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError(
            {
                "comment": _("At most %(limit)d characters (this has %(n)d).")
                % {"limit": COMMENT_MAX, "n": len(comment)}
            }
        )
    if decision == "return" and not comment:
        raise ValidationError({"comment": _("Say what the author should change.")})
    edited = _clean_body(body) if decision == "approve" and body is not None else None
    now = timezone.now()
    with transaction.atomic():
        reply, inquiry = _lock_reply(reply)
        if reply.author_id == actor.pk:
            raise ValidationError(_("You wrote this reply: another supervisor must review it."))
        if reply.status != ReplyStatus.IN_REVIEW:
            raise ValidationError(_("This reply is not waiting for review."))
        changes: dict[str, Any] = {"comment": comment}
        data: dict[str, Any] = {"reply": reply.pk}
        if edited is not None and edited != reply.body:
            changes["body"] = [reply.body, edited]
            data.update(edited=True, before=reply.body, after=edited)
            reply.body = edited
        reply.status = ReplyStatus.APPROVED if decision == "approve" else ReplyStatus.RETURNED
        reply.reviewer = actor
        reply.reviewed_at = now
        reply.review_comment = comment
        reply.save()
        # Approved or returned, the reply is back with whoever answers the inquiry.
        _set_status(inquiry, InquiryStatus.DRAFTING)
        event = "reply_approved" if decision == "approve" else "reply_returned"
        _event(inquiry, event, actor=actor, at=now, text=comment, **data)
        audit_record(
            actor=actor,
            action="reply.approve" if decision == "approve" else "reply.return",
            obj=reply,
            changes=changes,
        )
        author = reply.author
        if decision == "approve":
            text = _("%(who)s approved your reply to %(number)s: it may be sent now.") % {
                "who": actor,
                "number": inquiry.number,
            }
            if "body" in changes:
                text += " " + _("The text was edited.")
        else:
            text = _("%(who)s returned your reply to %(number)s: %(comment)s") % {
                "who": actor,
                "number": inquiry.number,
                "comment": comment,
            }
        url = services.inquiry_url(inquiry)
        kind = "inquiry_reply_approved" if decision == "approve" else "inquiry_reply_returned"
        transaction.on_commit(lambda: notify([author], kind=kind, text=text, task=None, url=url))
    return reply


def _record_sent(
    *,
    actor: User,
    reply: Reply,
    inquiry: Inquiry,
    text: str,
    now: dt.datetime,
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    sender: str = "",
    data: dict[str, Any],
) -> InquiryMessage:
    message = InquiryMessage.objects.create(
        inquiry=inquiry,
        kind=MessageKind.REPLY,
        body=text,
        author=actor,
        sender=sender[:200],
        message_id=message_id or None,
        in_reply_to=in_reply_to[:250],
        references=references,
        data={"reply": reply.pk, "sign_as": reply.sign_as, **data},
        created_at=now,
    )
    reply.status = ReplyStatus.SENT
    reply.sent_by = actor
    reply.sent_at = now
    reply.message = message
    reply.save()
    services.inquiry_mark_replied(inquiry, now)
    return message


def reply_send(*, actor: User, reply: Reply) -> Reply:
    """E-mail the reply (e-mail and web-form inquiries) with the threading headers of the
    customer's message; the reply clock stops. A contentious inquiry's reply must have been
    approved."""
    from inquiries.mail import reply_email_send

    _require_answer(actor, reply.inquiry)
    if reply.inquiry.channel in POSTED_CHANNELS:
        raise ValidationError(
            _("This question was found on another site: post the reply there and record its URL.")
        )
    now = timezone.now()
    with transaction.atomic():
        reply, inquiry = _lock_reply(reply)
        _check_sendable(reply, inquiry)
        text = final_text(reply)
        mark = signature(reply.sign_as, reply.author)
        # Refused by the mail server: a ValidationError, and nothing here is recorded as sent.
        sent = reply_email_send(inquiry=inquiry, body=text, display_name=mark)
        recipients = sent.to
        _record_sent(
            actor=actor,
            reply=reply,
            inquiry=inquiry,
            text=text,
            now=now,
            message_id=sent.message_id,
            in_reply_to=sent.in_reply_to or "",
            references=sent.references or "",
            sender=mark,
            data={"to": recipients},
        )
        audit_record(
            actor=actor,
            action="reply.send",
            obj=reply,
            changes={
                "inquiry": inquiry.pk,
                "to_email": recipients,
                "message_id": sent.message_id,
                "sign_as": reply.sign_as,
            },
        )
    return reply


def reply_mark_posted(*, actor: User, reply: Reply, posted_url: str) -> Reply:
    """A reply to a question found on another site was posted there by hand: record where; the
    reply clock stops. A contentious inquiry's reply must have been approved."""
    _require_answer(actor, reply.inquiry)
    if reply.inquiry.channel not in POSTED_CHANNELS:
        raise ValidationError(_("This inquiry is answered by e-mail: send the reply."))
    url = (posted_url or "").strip()
    if not url:
        raise ValidationError({"posted_url": _("Give the URL of the posted reply.")})
    if len(url) > URL_MAX:
        raise ValidationError(
            {"posted_url": _("At most %(limit)d characters.") % {"limit": URL_MAX}}
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise ValidationError(
            {"posted_url": _("Enter the full web address (http:// or https://).")}
        ) from None
    now = timezone.now()
    with transaction.atomic():
        reply, inquiry = _lock_reply(reply)
        _check_sendable(reply, inquiry)
        text = final_text(reply)
        reply.posted_url = url
        _record_sent(
            actor=actor,
            reply=reply,
            inquiry=inquiry,
            text=text,
            now=now,
            sender=signature(reply.sign_as, reply.author),
            data={"posted_url": url},
        )
        audit_record(
            actor=actor,
            action="reply.posted",
            obj=reply,
            changes={"inquiry": inquiry.pk, "posted_url": url, "sign_as": reply.sign_as},
        )
    return reply
