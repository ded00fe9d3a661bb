"""Every write of the inquiry desk except replies (inquiries.replies) and notices
(inquiries.notices): intake from any channel, customer matching, routing by the responsibility
matrix, the reply deadline, comments, re-routing, contentious flags, closing."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Region, RegionLevel, User
from accounts.services import require_perm
from audit.services import audit_record
from customers import services as customer_services
from customers.models import Contact, Customer, CustomerKind, DocumentKind, SourceChannel
from customers.selectors import customer_visible
from inquiries import routing
from inquiries.models import (
    POSTED_CHANNELS,
    AttachmentKind,
    ContentiousKeyword,
    Inquiry,
    InquiryAttachment,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    Mailbox,
    MessageKind,
    Project,
    Topic,
)
from inquiries.selectors import inquiry_visible
from ruwang.lib import files
from service.models import Team
from workflow.business_calendar import current_calendar
from workflow.notifications import notify

SUBJECT_MAX = 200
BODY_MAX = 20_000
MOBILE_RE = re.compile(r"1[3-9]\d{9}")


@dataclass(frozen=True)
class IncomingFile:
    """A file arriving with an inquiry or a message (form upload, e-mail part, screenshot)."""

    name: str
    fileobj: IO[bytes]
    size: int
    kind: str = AttachmentKind.ATTACHMENT


def inquiry_url(inquiry: Inquiry) -> str:
    return reverse("inquiries:detail", args=[inquiry.pk])


# --- small rules -------------------------------------------------------------------------------


def contentious_keywords_in(*texts: str) -> list[str]:
    """The active contentious keywords found in the texts (case-insensitive), in keyword order."""
    haystack = "\n".join(texts).casefold()
    words = ContentiousKeyword.objects.filter(is_active=True).values_list("word", flat=True)
    return [w for w in words if w.strip() and w.strip().casefold() in haystack]


def deadlines(start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(warn at, reply due) for a question asked at `start`: calendar hours by default, work
    hours (nights, weekends and holidays paused) when the desk is set so."""
    desk = routing.desk_settings()
    if desk.work_hours:
        calendar = current_calendar()
        due = calendar.add_work_time(start, dt.timedelta(hours=desk.reply_hours))
        warn = calendar.add_work_time(start, dt.timedelta(hours=desk.warn_hours))
    else:
        due = start + dt.timedelta(hours=desk.reply_hours)
        warn = start + dt.timedelta(hours=desk.warn_hours)
    return min(warn, due), due


def _clock_start(channel: str, posted_at: dt.datetime | None, received: dt.datetime) -> dt.datetime:
    # A question found on a forum has waited since it was posted, not since we saw it.
    if channel in POSTED_CHANNELS and posted_at is not None and posted_at < received:
        return posted_at
    return received


def _normalise_phone(phone: str) -> str:
    return re.sub(r"[\s\-()（）+]", "", phone or "")


def customer_match(*, email: str = "", phone: str = "") -> Customer | None:
    """The one customer whose contact has this e-mail address or mobile number; None when no
    customer or more than one does (a guess would file the question under a stranger)."""
    conditions = Q()
    if email:
        conditions |= Q(email__iexact=email.strip())
    mobile = _normalise_phone(phone)[-11:]
    if mobile and MOBILE_RE.fullmatch(mobile):
        conditions |= Q(mobile=mobile)
    if not conditions:
        return None
    ids = set(
        Contact.objects.filter(conditions, customer__merged_into__isnull=True)
        .values_list("customer_id", flat=True)
        .distinct()[:2]
    )
    if len(ids) != 1:
        return None
    return Customer.objects.get(pk=ids.pop())


def _prospect_region(project: Project | None) -> Region:
    if project is not None and project.region_id is not None:
        assert project.region is not None
        return project.region
    desk = routing.desk_settings()
    if desk.default_region is not None:
        return desk.default_region
    region = (
        Region.objects.filter(level=RegionLevel.DISTRICT).order_by("code").first()
        or Region.objects.order_by("code").first()
    )
    if region is None:
        raise ValidationError(_("No district is set up for new customers."))
    return region


def prospect_create(*, name: str, email: str, phone: str, project: Project | None) -> Customer:
    """A new prospect (意向客户) for someone who asked but is not yet a customer, with a contact
    holding how to reach them."""
    mobile = _normalise_phone(phone)[-11:]
    mobile = mobile if MOBILE_RE.fullmatch(mobile) else ""
    label = name.strip() or email.strip() or mobile or _("Online visitor")
    customer = customer_services.customer_create(
        actor=None,
        data={
            "kind": CustomerKind.PERSON,
            "name": label[:120],
            "region": _prospect_region(project),
            "source_channel": SourceChannel.WEB,
            "notes": _("Created from an online inquiry."),
        },
    )
    customer_services.contact_save(
        actor=None,
        customer=customer,
        data={
            "name": (name.strip() or label)[:60],
            "mobile": mobile,
            "landline": "" if mobile else _normalise_phone(phone)[:30],
            "email": email.strip(),
            "is_primary": True,
        },
    )
    return customer


def _event(
    inquiry: Inquiry,
    event: str,
    *,
    actor: User | None,
    at: dt.datetime,
    text: str = "",
    **data: Any,
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


def _attach(
    inquiry: Inquiry, message: InquiryMessage | None, incoming: Sequence[IncomingFile]
) -> list[InquiryAttachment]:
    """Each file kept as one of the customer's documents (checked, hashed), linked here."""
    attached = []
    for item in incoming:
        extension = item.name.rsplit(".", 1)[-1].lower() if "." in item.name else ""
        kind = DocumentKind.PHOTO if extension in files.IMAGE_EXTENSIONS else DocumentKind.OTHER
        try:
            version = customer_services.document_upload(
                actor=None,
                customer=inquiry.customer,
                kind=kind,
                title=f"{inquiry.number} {item.name.strip()}"[:120],
                file_name=item.name,
                fileobj=item.fileobj,
                size=item.size,
            )
        except ValidationError as exc:
            raise ValidationError({"attachment": exc.messages}) from exc
        attached.append(
            InquiryAttachment.objects.create(
                inquiry=inquiry, message=message, kind=item.kind, document=version.document
            )
        )
    return attached


def _assign_notice(inquiry: Inquiry) -> None:
    url = inquiry_url(inquiry)
    if inquiry.assignee is not None:
        notify(
            [inquiry.assignee],
            kind="inquiry_assigned",
            text=_("Inquiry %(number)s is yours to answer: %(subject)s")
            % {"number": inquiry.number, "subject": inquiry.subject},
            task=None,
            url=url,
        )
    elif inquiry.team is not None and inquiry.team.lead is not None:
        notify(
            [inquiry.team.lead],
            kind="inquiry_unassigned",
            text=_("Inquiry %(number)s for %(team)s has nobody to answer it: assign it.")
            % {"number": inquiry.number, "team": inquiry.team},
            task=None,
            url=url,
        )


def _route(inquiry: Inquiry, team: Team | None) -> None:
    inquiry.team = team
    # The assignee must see the inquiry (routing.may_answer reads the database), and members
    # see their team's inquiries: store the team first (the callers hold the transaction).
    Inquiry.objects.filter(pk=inquiry.pk).update(team=team)
    inquiry.assignee = routing.assignee_for(inquiry, team) if team is not None else None
    inquiry.status = InquiryStatus.ASSIGNED if inquiry.assignee else InquiryStatus.NEW


def _clean_text(value: str, field: str, limit: int, required: bool = True) -> str:
    text = (value or "").replace("\x00", "").strip()
    if required and not text:
        raise ValidationError({field: _("Fill in this field.")})
    if len(text) > limit:
        raise ValidationError(
            {
                field: _("At most %(limit)d characters (this has %(n)d).")
                % {"limit": limit, "n": len(text)}
            }
        )
    return text


# --- intake ------------------------------------------------------------------------------------


def inquiry_create(
    *,
    actor: User | None,
    channel: str,
    body: str,
    subject: str = "",
    topic: str = Topic.GENERAL,
    project: Project | None = None,
    customer: Customer | None = None,
    author_name: str = "",
    author_email: str = "",
    author_phone: str = "",
    source_site: str = "",
    source_url: str = "",
    author_handle: str = "",
    posted_at: dt.datetime | None = None,
    mailbox: Mailbox | None = None,
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    contentious: bool = False,
    contentious_reason: str = "",
    attachments: Sequence[IncomingFile] = (),
    now: dt.datetime | None = None,
) -> Inquiry:
    """A new inquiry from any channel: matched to a customer (or a new prospect), routed by
    the responsibility matrix, its reply deadline set, flagged contentious when it contains a
    configured keyword. `actor` None is the system (the public form, the mailbox poller);
    staff entering a question found elsewhere need inquiries.add_inquiry.

    All or nothing: a refused attachment leaves no inquiry and no new customer behind."""
    require_perm(actor, "inquiries.add_inquiry")
    now = now or timezone.now()
    if channel not in InquiryChannel.values:
        raise ValidationError({"channel": _("Choose a channel.")})
    if topic not in Topic.values:
        raise ValidationError({"topic": _("Choose a topic.")})
    body = _clean_text(body, "body", BODY_MAX)
    subject = _clean_text(subject, "subject", SUBJECT_MAX, required=False)
    if not subject:
        first_line = body.splitlines()[0] if body.splitlines() else body
        subject = first_line[:40] + ("…" if len(first_line) > 40 else "")
    author_name = _clean_text(author_name, "author_name", 60, required=False)
    author_email = (author_email or "").strip()
    if author_email:
        try:
            validate_email(author_email)
        except ValidationError:
            raise ValidationError({"author_email": _("Enter a valid e-mail address.")}) from None
    author_phone = _clean_text(author_phone, "author_phone", 20, required=False)
    if channel in POSTED_CHANNELS:
        if not (source_site.strip() or source_url.strip()):
            raise ValidationError({"source_site": _("Name the website or give the URL.")})
        if posted_at is not None and posted_at > now + dt.timedelta(minutes=5):
            raise ValidationError({"posted_at": _("The time posted is in the future.")})
    if project is not None and not project.is_active:
        raise ValidationError({"project": _("This project is no longer active.")})
    if customer is not None and actor is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")
    matched = contentious_keywords_in(subject, body)
    if matched and not contentious:
        contentious = True
        contentious_reason = _("Keywords: %(words)s") % {"words": "、".join(matched)}
    elif contentious and not contentious_reason.strip():
        raise ValidationError({"contentious_reason": _("Say why the question is contentious.")})

    warn_at, due_at = deadlines(_clock_start(channel, posted_at, now))
    with transaction.atomic():
        if customer is None:
            customer = customer_match(email=author_email, phone=author_phone)
        if customer is None:
            customer = prospect_create(
                name=author_name or author_handle,
                email=author_email,
                phone=author_phone,
                project=project,
            )
        inquiry = Inquiry(
            number=f"tmp-{uuid.uuid4().hex[:16]}",
            channel=channel,
            customer=customer,
            project=project,
            topic=topic,
            subject=subject,
            body=body,
            author_name=author_name,
            author_email=author_email,
            author_phone=author_phone,
            source_site=source_site.strip()[:80],
            source_url=source_url.strip(),
            author_handle=author_handle.strip()[:80],
            posted_at=posted_at,
            mailbox=mailbox,
            contentious=contentious,
            contentious_reason=contentious_reason.strip()[:200],
            received_at=now,
            warn_at=warn_at,
            due_at=due_at,
            first_due_at=due_at,
            created_by=actor,
        )
        inquiry.full_clean(exclude=["number", "customer"], validate_constraints=False)
        inquiry.save()
        inquiry.number = f"WZ-{timezone.localtime(now).year}-{inquiry.pk:06d}"
        _route(inquiry, routing.team_for(project, topic))
        inquiry.save(update_fields=["number", "team", "assignee", "status"])
        if project is not None:
            project.customers.add(customer)
        question = InquiryMessage.objects.create(
            inquiry=inquiry,
            kind=MessageKind.QUESTION,
            body=body,
            author=None,
            sender=_sender_label(author_name, author_email, author_handle),
            message_id=message_id or None,
            in_reply_to=in_reply_to,
            references=references,
            created_at=posted_at if channel in POSTED_CHANNELS and posted_at else now,
        )
        _attach(inquiry, question, attachments)
        _event(
            inquiry,
            "routed",
            actor=actor,
            at=now,
            team=inquiry.team.name if inquiry.team else "",
            assignee=str(inquiry.assignee) if inquiry.assignee else "",
        )
        if contentious:
            _event(inquiry, "contentious", actor=actor, at=now, text=inquiry.contentious_reason)
        audit_record(
            actor=actor,
            action="inquiry.create",
            obj=inquiry,
            changes={
                "channel": channel,
                "customer": customer.pk,
                "team": inquiry.team_id,
                "assignee": inquiry.assignee_id,
                "contentious": contentious,
            },
        )
        _assign_notice(inquiry)
    return inquiry


def _sender_label(name: str, email: str, handle: str) -> str:
    if email:
        return f"{name} <{email}>" if name else email
    return name or handle


def inquiry_followup(
    *,
    inquiry: Inquiry,
    body: str,
    sender: str = "",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    attachments: Sequence[IncomingFile] = (),
    now: dt.datetime | None = None,
) -> InquiryMessage:
    """The customer wrote again about the same inquiry (an e-mail answering our reply): the
    message joins the thread and, if the inquiry was answered or closed, it opens again with a
    new reply deadline."""
    now = now or timezone.now()
    body = _clean_text(body, "body", BODY_MAX)
    with transaction.atomic():
        inquiry = Inquiry.objects.select_for_update(of=("self",)).get(pk=inquiry.pk)
        message = InquiryMessage.objects.create(
            inquiry=inquiry,
            kind=MessageKind.QUESTION,
            body=body,
            sender=sender[:200],
            message_id=message_id or None,
            in_reply_to=in_reply_to[:250],
            references=references,
            created_at=now,
        )
        _attach(inquiry, message, attachments)
        if inquiry.status in (InquiryStatus.REPLIED, InquiryStatus.CLOSED):
            inquiry.warn_at, inquiry.due_at = deadlines(now)
            inquiry.warned_at = inquiry.escalated_at = inquiry.replied_at = None
            inquiry.closed_at = None
            inquiry.status = InquiryStatus.ASSIGNED if inquiry.assignee else InquiryStatus.NEW
            inquiry.save(
                update_fields=[
                    "warn_at",
                    "due_at",
                    "warned_at",
                    "escalated_at",
                    "replied_at",
                    "closed_at",
                    "status",
                    "updated_at",
                ]
            )
            _event(inquiry, "reopened", actor=None, at=now)
        audit_record(
            actor=None, action="inquiry.followup", obj=inquiry, changes={"message": message.pk}
        )
        if inquiry.assignee is not None:
            notify(
                [inquiry.assignee],
                kind="inquiry_followup",
                text=_("The customer wrote again about %(number)s.") % {"number": inquiry.number},
                task=None,
                url=inquiry_url(inquiry),
            )
    return message


def inquiry_attach(
    *, actor: User, inquiry: Inquiry, attachments: Sequence[IncomingFile]
) -> list[InquiryAttachment]:
    """Staff add files (a screenshot of the forum post) to an inquiry they may answer."""
    if not routing.may_answer(actor, inquiry):
        raise PermissionDenied("inquiries.reply_inquiry")
    with transaction.atomic():
        attached = _attach(inquiry, None, attachments)
        audit_record(
            actor=actor,
            action="inquiry.attach",
            obj=inquiry,
            changes={"documents": [a.document_id for a in attached]},
        )
    return attached


# --- working on an inquiry ---------------------------------------------------------------------


def _lock(inquiry: Inquiry) -> Inquiry:
    return (
        Inquiry.objects.select_for_update(of=("self",))
        .select_related("customer", "team", "assignee")
        .get(pk=inquiry.pk)
    )


def _require_visible(actor: User, inquiry: Inquiry, perm: str = "inquiries.view_inquiry") -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(perm)
    if not inquiry_visible(actor, inquiry):
        raise PermissionDenied("inquiry not visible")


def inquiry_comment(*, actor: User, inquiry: Inquiry, text: str) -> InquiryMessage:
    """An internal comment (never sent to the customer); anyone who may read the inquiry."""
    _require_visible(actor, inquiry)
    text = _clean_text(text, "text", 5000)
    with transaction.atomic():
        comment = InquiryMessage.objects.create(
            inquiry=inquiry,
            kind=MessageKind.COMMENT,
            body=text,
            author=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor, action="inquiry.comment", obj=inquiry, changes={"comment": comment.pk}
        )
    return comment


def may_reroute(actor: User, inquiry: Inquiry) -> bool:
    """Leads re-route any inquiry they see; the assignee hands on one that is not theirs."""
    if actor.has_perm("inquiries.assign_inquiry"):
        return inquiry_visible(actor, inquiry)
    return inquiry.assignee_id == actor.pk and actor.has_perm("inquiries.reply_inquiry")


def inquiry_reroute(
    *,
    actor: User,
    inquiry: Inquiry,
    reason: str,
    team: Team | None = None,
    topic: str | None = None,
    project: Project | None = None,
    assignee: User | None = None,
) -> Inquiry:
    """Move the inquiry to another team (or change its topic or project and let the matrix
    choose), with a reason. A named assignee must be able to answer it."""
    if not may_reroute(actor, inquiry):
        raise PermissionDenied("inquiries.assign_inquiry")
    reason = _clean_text(reason, "reason", 300)
    if topic is not None and topic not in Topic.values:
        raise ValidationError({"topic": _("Choose a topic.")})
    now = timezone.now()
    with transaction.atomic():
        inquiry = _lock(inquiry)
        if not inquiry.is_open:
            raise ValidationError(_("Only an open inquiry can be re-routed."))
        before = {
            "team": inquiry.team_id,
            "assignee": inquiry.assignee_id,
            "topic": inquiry.topic,
            "project": inquiry.project_id,
        }
        if topic is not None:
            inquiry.topic = topic
        if project is not None:
            inquiry.project = project
        target = team if team is not None else routing.team_for(inquiry.project, inquiry.topic)
        if assignee is not None:
            if not routing.may_answer(assignee, inquiry):
                raise ValidationError(
                    {"assignee": _("%(who)s may not answer this inquiry.") % {"who": assignee}}
                )
            inquiry.team = target
            inquiry.assignee = assignee
            if inquiry.status == InquiryStatus.NEW:
                inquiry.status = InquiryStatus.ASSIGNED
        else:
            keep_status = inquiry.status in (InquiryStatus.DRAFTING, InquiryStatus.IN_REVIEW)
            status = inquiry.status
            _route(inquiry, target)
            if keep_status and inquiry.assignee is not None:
                inquiry.status = status
        inquiry.save(update_fields=["team", "assignee", "status", "topic", "project", "updated_at"])
        if inquiry.project is not None:
            inquiry.project.customers.add(inquiry.customer)
        after = {
            "team": inquiry.team_id,
            "assignee": inquiry.assignee_id,
            "topic": inquiry.topic,
            "project": inquiry.project_id,
        }
        _event(
            inquiry,
            "rerouted",
            actor=actor,
            at=now,
            text=reason,
            team=inquiry.team.name if inquiry.team else "",
            assignee=str(inquiry.assignee) if inquiry.assignee else "",
        )
        audit_record(
            actor=actor,
            action="inquiry.reroute",
            obj=inquiry,
            changes={k: [before[k], after[k]] for k in after if before[k] != after[k]}
            | {"reason": reason},
        )
        _assign_notice(inquiry)
    return inquiry


def inquiry_claim(*, actor: User, inquiry: Inquiry) -> Inquiry:
    """Take an unassigned inquiry one may answer."""
    if not routing.may_answer(actor, inquiry):
        raise PermissionDenied("inquiries.reply_inquiry")
    with transaction.atomic():
        inquiry = _lock(inquiry)
        if inquiry.assignee_id is not None and inquiry.assignee_id != actor.pk:
            raise ValidationError(
                _("%(who)s already answers this inquiry.") % {"who": inquiry.assignee}
            )
        if not inquiry.is_open:
            raise ValidationError(_("This inquiry is not open."))
        inquiry.assignee = actor
        if inquiry.status == InquiryStatus.NEW:
            inquiry.status = InquiryStatus.ASSIGNED
        inquiry.save(update_fields=["assignee", "status", "updated_at"])
        _event(inquiry, "claimed", actor=actor, at=timezone.now(), assignee=str(actor))
        audit_record(actor=actor, action="inquiry.claim", obj=inquiry)
    return inquiry


def inquiry_set_contentious(
    *, actor: User, inquiry: Inquiry, contentious: bool, reason: str
) -> Inquiry:
    """Mark an inquiry contentious (its replies then need a supervisor's approval) — anyone
    who may answer it; clearing the mark is for a supervisor."""
    perm = "inquiries.reply_inquiry" if contentious else "inquiries.review_reply"
    _require_visible(actor, inquiry, perm)
    reason = _clean_text(reason, "reason", 200)
    with transaction.atomic():
        inquiry = _lock(inquiry)
        if inquiry.contentious == contentious:
            return inquiry
        if inquiry.status == InquiryStatus.IN_REVIEW and not contentious:
            raise ValidationError(_("A reply is in review: approve or return it first."))
        inquiry.contentious = contentious
        inquiry.contentious_reason = reason if contentious else ""
        inquiry.save(update_fields=["contentious", "contentious_reason", "updated_at"])
        _event(
            inquiry,
            "contentious" if contentious else "not_contentious",
            actor=actor,
            at=timezone.now(),
            text=reason,
        )
        audit_record(
            actor=actor,
            action="inquiry.contentious",
            obj=inquiry,
            changes={"contentious": [not contentious, contentious], "reason": reason},
        )
    return inquiry


def inquiry_close(*, actor: User, inquiry: Inquiry, reason: str = "") -> Inquiry:
    """Close an answered inquiry; closing one that was never answered (spam, a duplicate)
    needs a reason."""
    if not (routing.may_answer(actor, inquiry) or may_reroute(actor, inquiry)):
        raise PermissionDenied("inquiries.reply_inquiry")
    with transaction.atomic():
        inquiry = _lock(inquiry)
        if inquiry.status == InquiryStatus.CLOSED:
            return inquiry
        if inquiry.status == InquiryStatus.IN_REVIEW:
            raise ValidationError(_("A reply is in review: approve or return it first."))
        if inquiry.status != InquiryStatus.REPLIED and not reason.strip():
            raise ValidationError({"reason": _("Say why an unanswered inquiry is closed.")})
        now = timezone.now()
        inquiry.status = InquiryStatus.CLOSED
        inquiry.closed_at = now
        inquiry.save(update_fields=["status", "closed_at", "updated_at"])
        _event(inquiry, "closed", actor=actor, at=now, text=reason.strip())
        audit_record(actor=actor, action="inquiry.close", obj=inquiry, changes={"reason": reason})
    return inquiry


def inquiry_mark_replied(inquiry: Inquiry, at: dt.datetime) -> None:
    """The reply went out (called by inquiries.replies inside its transaction): the clock
    stops."""
    inquiry.status = InquiryStatus.REPLIED
    inquiry.replied_at = at
    if inquiry.first_replied_at is None:
        inquiry.first_replied_at = at
    inquiry.save(update_fields=["status", "replied_at", "first_replied_at", "updated_at"])


# --- projects ------------------------------------------------------------------------------------


def project_stage_changed(*, actor: User | None, project: Project, before: str) -> int:
    """Responsibility moves with the stage (the seed's 3.2): open inquiries of the project that
    nobody has started answering (new or assigned, no draft) go to the team now responsible.
    Called after the project was saved with its new stage; returns how many moved."""
    if project.stage == before:
        return 0
    now = timezone.now()
    moved = 0
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(stage_changed_at=now)
        waiting = Inquiry.objects.select_for_update(of=("self",)).filter(
            project=project, status__in=(InquiryStatus.NEW, InquiryStatus.ASSIGNED)
        )
        for inquiry in waiting.select_related("customer", "team"):
            target = routing.team_for(project, inquiry.topic)
            if target == inquiry.team:
                continue
            previous = inquiry.team_id
            _route(inquiry, target)
            inquiry.save(update_fields=["team", "assignee", "status", "updated_at"])
            _event(
                inquiry,
                "rerouted",
                actor=actor,
                at=now,
                text=_("The project moved to the stage “%(stage)s”.")
                % {"stage": project.get_stage_display()},
                team=target.name if target else "",
                assignee=str(inquiry.assignee) if inquiry.assignee else "",
            )
            audit_record(
                actor=actor,
                action="inquiry.reroute",
                obj=inquiry,
                changes={"team": [previous, inquiry.team_id], "reason": "project stage"},
            )
            _assign_notice(inquiry)
            moved += 1
    return moved
