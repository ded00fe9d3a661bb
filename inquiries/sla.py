"""The 24-hour reply deadline (the seed's 3.3.2 "24小时内回复"): a warning to whoever answers at
20 hours, an escalation to the supervisor at 24. `inquiry_sla_tick` runs every minute
(inquiries.tasks, enqueued by the scheduler). Each happens once per question: a follow-up from
the customer starts a new clock (inquiries.services.inquiry_followup)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from inquiries.models import OPEN_STATUSES, Inquiry, InquiryMessage, MessageKind
from inquiries.services import inquiry_url
from workflow.notifications import notify

BATCH = 500


def supervisors_for(inquiry: Inquiry) -> list[User]:
    """Who an overdue inquiry is escalated to: its team's lead, or else every active
    supervisor (inquiries.review_reply) who may see it."""
    if inquiry.team is not None and inquiry.team.lead is not None and inquiry.team.lead.is_active:
        return [inquiry.team.lead]
    return reviewers_who_see(inquiry)


def reviewers_who_see(inquiry: Inquiry, exclude: int | None = None) -> list[User]:
    """Every active supervisor (inquiries.review_reply) who may see the inquiry: the holders of
    the permission are found in one query, not by asking every user."""
    from inquiries.selectors import inquiry_visible

    holders = User.objects.with_perm(
        "inquiries.review_reply", backend="django.contrib.auth.backends.ModelBackend"
    ).filter(is_active=True)
    if exclude is not None:
        holders = holders.exclude(pk=exclude)
    return [u for u in holders.order_by("pk") if inquiry_visible(u, inquiry)]


def _local(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def inquiry_sla_tick(now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"warned": 0, "escalated": 0}
    open_q = Inquiry.objects.filter(status__in=OPEN_STATUSES).select_related(
        "team__lead", "assignee"
    )
    for inquiry in open_q.filter(warned_at__isnull=True, warn_at__lte=now, due_at__gt=now)[:BATCH]:
        with transaction.atomic():
            if not Inquiry.objects.filter(pk=inquiry.pk, warned_at__isnull=True).update(
                warned_at=now
            ):
                continue  # another tick got there first
            people = [inquiry.assignee] if inquiry.assignee else supervisors_for(inquiry)
            notify(
                people,
                kind="inquiry_warning",
                text=_("Inquiry %(number)s must be answered by %(due)s.")
                % {"number": inquiry.number, "due": _local(inquiry.due_at)},
                task=None,
                url=inquiry_url(inquiry),
            )
            InquiryMessage.objects.create(
                inquiry=inquiry, kind=MessageKind.EVENT, event="warned", created_at=now
            )
            counts["warned"] += 1
    for inquiry in open_q.filter(escalated_at__isnull=True, due_at__lte=now)[:BATCH]:
        with transaction.atomic():
            if not Inquiry.objects.filter(pk=inquiry.pk, escalated_at__isnull=True).update(
                escalated_at=now, warned_at=inquiry.warned_at or now
            ):
                continue
            people = supervisors_for(inquiry)
            notify(
                [*people, inquiry.assignee],
                kind="inquiry_overdue",
                text=_("Inquiry %(number)s was not answered within the deadline (%(due)s).")
                % {"number": inquiry.number, "due": _local(inquiry.due_at)},
                task=None,
                url=inquiry_url(inquiry),
                robots=True,
            )
            InquiryMessage.objects.create(
                inquiry=inquiry,
                kind=MessageKind.EVENT,
                event="escalated",
                data={"to": [str(p) for p in people]},
                created_at=now,
            )
            counts["escalated"] += 1
    return counts
