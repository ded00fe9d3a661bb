"""Notices to customers (客户通知): compose, choose the audience, preview, schedule, send by
e-mail, SMS and WeCom, and keep a delivery log of every recipient × channel.

The audience is a set of criteria (`Notice.audience`): projects, districts (with what lies
below them), tags and statuses, each any-of, and a saved segment; every given criterion must
hold. It is evaluated on the customers the sender may see, never more.

Sending happens in two steps. `notice_send` fixes the recipients (one pending NoticeDelivery
per customer × channel, addresses resolved then: a customer added to the segment later does not
get the notice) and hands the delivery to a background task. `notice_deliver` sends the pending
rows in batches and marks each sent, failed (with the error) or leaves it pending when it never
got to it; running it again sends only what is still pending, so a crash or a second worker
never sends twice. A scheduled notice is sent by `notices_send_due`, enqueued every minute."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Count, Model, QuerySet, Sum
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django_tasks import task
from openpyxl import Workbook

from accounts.models import Region, User
from accounts.services import require_perm
from audit.services import audit_record, changes_between, field_values
from customers.models import Contact, Customer, CustomerStatus, Segment, Tag
from customers.segments import CONDITION_TYPES, segment_q, segments_visible_to
from customers.selectors import customers_visible_to
from inquiries import routing
from inquiries.gateways import MessageGateway, gateway_for
from inquiries.models import (
    DeliveryChannel,
    DeliveryStatus,
    Notice,
    NoticeAttachment,
    NoticeDelivery,
    NoticeStatus,
    Project,
)
from ruwang.lib import files
from ruwang.lib.excel import append_row
from ruwang.lib.masking import mask_phone
from workflow.notifications import notify

logger = logging.getLogger(__name__)

TITLE_MAX = 120
BODY_MAX = 20_000
SMS_TEXT_MAX = 300
# Every recipient gets the attachments by e-mail: mail servers refuse large messages.
ATTACHMENTS_MAX_BYTES = 10 * 1024 * 1024
PREVIEW_SIZE = 20
ID_CHUNK = 500  # customer ids per contact query (well below every database's parameter limit)
CREATE_BATCH = 1000
DELIVERY_BATCH = 100
LOCK_SECONDS = 15 * 60
EDITABLE = (NoticeStatus.DRAFT, NoticeStatus.SCHEDULED)
NOTICE_FIELDS = (
    "title",
    "body",
    "project",
    "audience",
    "channels",
    "is_public",
    "status",
    "scheduled_for",
)
AUDIENCE_LISTS = ("projects", "regions", "tags")


# Labels of the notice's states in pages and exports. With a context: "Sent", "Pending" … mean
# other things elsewhere in the catalogue (a ticket's "Pending" escalation, "Sent" at).
NOTICE_STATUS_LABELS: dict[str, str | Promise] = {
    NoticeStatus.DRAFT: pgettext_lazy("notice status", "Draft"),
    NoticeStatus.SCHEDULED: pgettext_lazy("notice status", "Scheduled"),
    NoticeStatus.SENDING: pgettext_lazy("notice status", "Sending"),
    NoticeStatus.SENT: pgettext_lazy("notice status", "Sent"),
    NoticeStatus.CANCELLED: pgettext_lazy("notice status", "Cancelled"),
}
DELIVERY_STATUS_LABELS: dict[str, str | Promise] = {
    DeliveryStatus.PENDING: pgettext_lazy("notice delivery", "Pending"),
    DeliveryStatus.SENT: pgettext_lazy("notice delivery", "Sent"),
    DeliveryStatus.FAILED: pgettext_lazy("notice delivery", "Failed"),
    DeliveryStatus.NO_ADDRESS: pgettext_lazy("notice delivery", "No address"),
}
CHANNEL_LABELS: dict[str, str | Promise] = {
    DeliveryChannel.EMAIL: pgettext_lazy("notice channel", "E-mail"),
    DeliveryChannel.SMS: pgettext_lazy("notice channel", "SMS"),
    DeliveryChannel.WECOM: pgettext_lazy("notice channel", "WeCom"),
}


# --- the audience ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    projects: tuple[int, ...] = ()
    regions: tuple[int, ...] = ()
    tags: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()
    segment: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "projects": list(self.projects),
            "regions": list(self.regions),
            "tags": list(self.tags),
            "statuses": list(self.statuses),
        }
        if self.segment is not None:
            data["segment"] = self.segment
        return {key: value for key, value in data.items() if value}

    @property
    def is_empty(self) -> bool:
        return not (self.projects or self.regions or self.tags or self.statuses or self.segment)


def _ids(raw: object) -> list[int] | None:
    values = raw if isinstance(raw, list | tuple) else [raw] if raw not in (None, "") else []
    ids = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit():
            return None
        ids.append(int(text))
    return sorted(set(ids))


def audience_clean(audience: Mapping[str, Any], user: User | None) -> Audience:
    """The audience with every criterion checked: the projects, districts, tags and the
    segment exist (the segment one `user` may use), the statuses are customer statuses, and
    at least one criterion is given. Errors are keyed by criterion."""
    errors: dict[str, str] = {}
    models: dict[str, type[Model]] = {"projects": Project, "regions": Region, "tags": Tag}
    lists: dict[str, tuple[int, ...]] = {}
    for key in AUDIENCE_LISTS:
        ids = _ids(audience.get(key))
        if ids is None or models[key]._default_manager.filter(pk__in=ids).count() != len(ids):
            errors[key] = _("Some of the chosen items no longer exist: choose again.")
            ids = []
        lists[key] = tuple(ids)
    raw_statuses = audience.get("statuses") or []
    if not isinstance(raw_statuses, list | tuple):
        raw_statuses = [raw_statuses]
    statuses = tuple(dict.fromkeys(str(s) for s in raw_statuses))
    if any(s not in CustomerStatus.values for s in statuses):
        errors["statuses"] = _("Choose customer statuses from the list.")
    segment_id: int | None = None
    raw_segment = audience.get("segment")
    if raw_segment not in (None, ""):
        ids = _ids(raw_segment)
        visible = segments_visible_to(user) if user is not None else Segment.objects.none()
        if not ids or len(ids) != 1 or not visible.filter(pk=ids[0]).exists():
            errors["segment"] = _("The saved segment no longer exists or is not yours to use.")
        else:
            segment_id = ids[0]
    if errors:
        raise ValidationError(errors)
    cleaned = Audience(
        projects=lists["projects"],
        regions=lists["regions"],
        tags=lists["tags"],
        statuses=statuses,
        segment=segment_id,
    )
    if cleaned.is_empty:
        raise ValidationError(
            {"audience": _("Choose the recipients: a project, district, tag, status or segment.")}
        )
    return cleaned


def audience_recipients(audience: Mapping[str, Any], user: User) -> QuerySet[Customer]:
    """The customers matching every given criterion, among those `user` may see. The
    criteria build the same conditions as a segment's (customers.segments)."""
    cleaned = audience_clean(audience, user)
    qs = customers_visible_to(user)
    if cleaned.projects:
        qs = qs.filter(CONDITION_TYPES["inquiry_project"].build(list(cleaned.projects)))
    if cleaned.regions:
        qs = qs.filter(CONDITION_TYPES["region"].build(list(cleaned.regions)))
    if cleaned.tags:
        qs = qs.filter(CONDITION_TYPES["tag"].build(list(cleaned.tags)))
    if cleaned.statuses:
        qs = qs.filter(CONDITION_TYPES["status"].build(list(cleaned.statuses)))
    if cleaned.segment is not None:
        segment = Segment.objects.get(pk=cleaned.segment)
        qs = qs.filter(segment_q(segment.definition))
    return qs


def notice_recipients(notice: Notice, user: User) -> QuerySet[Customer]:
    return audience_recipients(notice.audience, user)


@dataclass(frozen=True)
class NoticePreview:
    count: int
    rows: list[Customer]


def notice_preview(
    *, user: User, audience: Mapping[str, Any], size: int = PREVIEW_SIZE
) -> NoticePreview:
    """How many customers would get the notice now, and the first of them."""
    qs = audience_recipients(audience, user)
    rows = list(qs.select_related("region").order_by("-id")[:size])
    count = len(rows) if len(rows) < size else qs.order_by().count()
    return NoticePreview(count=count, rows=rows)


# --- reads -----------------------------------------------------------------------------------


def notices_visible_to(user: User) -> QuerySet[Notice]:
    if not user.is_active or not user.has_perm("inquiries.view_notice"):
        return Notice.objects.none()
    return Notice.objects.select_related("project", "created_by")


def notice_get(user: User, pk: int) -> Notice:
    found = notices_visible_to(user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def deliveries_visible_to(user: User, notice: Notice) -> QuerySet[NoticeDelivery]:
    """The notice's delivery log rows of the customers `user` may see (the log names people
    and their addresses)."""
    return (
        NoticeDelivery.objects.filter(notice=notice)
        .filter(customer__in=customers_visible_to(user).values("pk"))
        .select_related("customer", "contact")
        .order_by("pk")
    )


def delivery_counts(notice: Notice) -> dict[str, int]:
    """Rows per delivery status (every status present, zero when none)."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    rows = (
        NoticeDelivery.objects.filter(notice=notice)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in rows:
        counts[status] = n
    return counts


def shown_address(delivery: NoticeDelivery, reveal: bool) -> str:
    """The address as a page or export shows it: phone numbers masked unless `reveal`."""
    if delivery.channel == DeliveryChannel.EMAIL or reveal or not delivery.address:
        return delivery.address
    return mask_phone(delivery.address)


# --- writes: composing -----------------------------------------------------------------------


def _clean_text(value: str, limit: int) -> tuple[str, str | None]:
    text = (value or "").replace("\x00", "").strip()
    if not text:
        return text, _("Fill in this field.")
    if len(text) > limit:
        return text, _("At most %(limit)d characters (this has %(n)d).") % {
            "limit": limit,
            "n": len(text),
        }
    return text, None


def may_edit(actor: User, notice: Notice) -> bool:
    if actor.has_perm("inquiries.change_notice"):
        return True
    return actor.has_perm("inquiries.add_notice") and notice.created_by_id == actor.pk


def _lock(notice: Notice) -> Notice:
    return Notice.objects.select_for_update().get(pk=notice.pk)


def _require_editable(notice: Notice) -> None:
    if notice.status not in EDITABLE:
        raise ValidationError(
            _("This notice is “%(status)s”: only a draft or a scheduled notice can be changed.")
            % {"status": NOTICE_STATUS_LABELS.get(notice.status, notice.status)}
        )


def notice_save(
    *,
    actor: User,
    notice: Notice | None,
    title: str,
    body: str,
    project: Project | None,
    audience: Mapping[str, Any],
    channels: Sequence[str],
    is_public: bool,
    scheduled_for: dt.datetime | None,
) -> Notice:
    """Create a draft (`notice` None) or change a draft or scheduled notice. A scheduled
    notice stays scheduled; moving its time needs the send permission and a future time."""
    if notice is None:
        require_perm(actor, "inquiries.add_notice")
    elif not may_edit(actor, notice):
        raise PermissionDenied("inquiries.change_notice")
    now = timezone.now()
    errors: dict[str, Any] = {}
    title, problem = _clean_text(title, TITLE_MAX)
    if problem:
        errors["title"] = problem
    body, problem = _clean_text(body, BODY_MAX)
    if problem:
        errors["body"] = problem
    chosen = list(dict.fromkeys(channels))
    if not chosen:
        errors["channels"] = _("Choose at least one way to send it.")
    elif any(c not in DeliveryChannel.values for c in chosen):
        errors["channels"] = _("Choose the channels from the list.")
    try:
        cleaned = audience_clean(audience, actor)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if project is not None and not project.is_active:
        errors["project"] = _("This project is no longer active.")
    if is_public and project is None:
        errors["is_public"] = _("Choose the project whose public notices page shows it.")
    stored = notice.scheduled_for if notice is not None else None
    if scheduled_for is not None and scheduled_for != stored and scheduled_for <= now:
        errors["scheduled_for"] = _("The time to send must be in the future.")
    if notice is not None and notice.status == NoticeStatus.SCHEDULED:
        if scheduled_for is None:
            errors["scheduled_for"] = _(
                "A scheduled notice needs its time: cancel the schedule to keep it as a draft."
            )
        elif scheduled_for != stored and not actor.has_perm("inquiries.send_notice"):
            raise PermissionDenied("inquiries.send_notice")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if notice is None:
            notice = Notice(created_by=actor, status=NoticeStatus.DRAFT)
            before: dict[str, Any] = {}
            action = "notice.create"
        else:
            notice = _lock(notice)
            _require_editable(notice)
            before = field_values(notice, NOTICE_FIELDS)
            action = "notice.update"
        notice.title = title
        notice.body = body
        notice.project = project
        notice.audience = cleaned.as_json()
        notice.channels = chosen
        notice.is_public = bool(is_public)
        notice.scheduled_for = scheduled_for
        notice.save()
        audit_record(
            actor=actor,
            action=action,
            obj=notice,
            changes=changes_between(before, field_values(notice, NOTICE_FIELDS)),
        )
    return notice


def notice_attach(
    *, actor: User, notice: Notice, name: str, fileobj: IO[bytes], size: int
) -> NoticeAttachment:
    """A file sent with the notice's e-mails (and offered on the public notices page)."""
    if not may_edit(actor, notice):
        raise PermissionDenied("inquiries.change_notice")
    try:
        info = files.check_upload(name, fileobj, size, settings.DOCUMENT_MAX_BYTES)
    except ValidationError as exc:
        raise ValidationError({"attachments": exc.messages}) from exc
    with transaction.atomic():
        notice = _lock(notice)
        _require_editable(notice)
        total = notice.attachments.aggregate(total=Sum("size"))["total"] or 0
        if total + info.size > ATTACHMENTS_MAX_BYTES:
            raise ValidationError(
                {
                    "attachments": _(
                        "The attachments of a notice may total at most %(limit)d MB: every "
                        "recipient gets them by e-mail."
                    )
                    % {"limit": ATTACHMENTS_MAX_BYTES // (1024 * 1024)}
                }
            )
        attachment = NoticeAttachment(
            notice=notice,
            name=files.safe_download_name(name),
            content_type=info.content_type,
            size=info.size,
            sha256=info.sha256,
        )
        attachment.file.save(f"{info.sha256}.{info.extension}", File(fileobj), save=False)
        attachment.save()
        audit_record(
            actor=actor,
            action="notice.attach",
            obj=notice,
            changes={"file": [None, attachment.name], "sha256": [None, info.sha256]},
        )
    return attachment


def notice_attachment_remove(*, actor: User, attachment: NoticeAttachment) -> None:
    notice = attachment.notice
    if not may_edit(actor, notice):
        raise PermissionDenied("inquiries.change_notice")
    with transaction.atomic():
        notice = _lock(notice)
        _require_editable(notice)
        audit_record(
            actor=actor,
            action="notice.detach",
            obj=notice,
            changes={"file": [attachment.name, None]},
        )
        attachment.delete()
        # The file goes once the row is gone for good (a rolled-back removal keeps it).
        name, storage = attachment.file.name, attachment.file.storage
        if name:
            transaction.on_commit(lambda: storage.delete(name))


# --- writes: scheduling, cancelling ----------------------------------------------------------


def _check_ready(notice: Notice, sender: User | None) -> Audience:
    """Everything a send needs, checked again at the time (a segment may have gone)."""
    if sender is None or not sender.is_active:
        raise ValidationError(_("The notice's author can no longer send it."))
    if not notice.channels:
        raise ValidationError({"channels": _("Choose at least one way to send it.")})
    return audience_clean(notice.audience, sender)


def notice_schedule(*, actor: User, notice: Notice, at: dt.datetime | None) -> Notice:
    """Send the notice at `at` (a future time); None takes a scheduled notice back to draft."""
    require_perm(actor, "inquiries.send_notice")
    now = timezone.now()
    if at is not None and at <= now:
        raise ValidationError({"scheduled_for": _("The time to send must be in the future.")})
    with transaction.atomic():
        notice = _lock(notice)
        _require_editable(notice)
        before = field_values(notice, ("status", "scheduled_for"))
        if at is None:
            if notice.status != NoticeStatus.SCHEDULED:
                raise ValidationError(_("This notice is not scheduled."))
            notice.status = NoticeStatus.DRAFT
            notice.scheduled_for = None
        else:
            _check_ready(notice, actor)
            notice.status = NoticeStatus.SCHEDULED
            notice.scheduled_for = at
        notice.save(update_fields=["status", "scheduled_for", "updated_at"])
        audit_record(
            actor=actor,
            action="notice.schedule" if at is not None else "notice.unschedule",
            obj=notice,
            changes=changes_between(before, field_values(notice, ("status", "scheduled_for"))),
        )
    return notice


def notice_cancel(*, actor: User, notice: Notice) -> Notice:
    """Drop a draft, or stop a scheduled notice before its time (kept, marked cancelled)."""
    with transaction.atomic():
        notice = _lock(notice)
        if notice.status == NoticeStatus.SCHEDULED:
            require_perm(actor, "inquiries.send_notice")
        elif notice.status == NoticeStatus.DRAFT:
            if not may_edit(actor, notice):
                raise PermissionDenied("inquiries.change_notice")
        else:
            raise ValidationError(
                _(
                    "This notice is “%(status)s”: only a draft or a scheduled notice can be "
                    "cancelled."
                )
                % {"status": NOTICE_STATUS_LABELS.get(notice.status, notice.status)}
            )
        before = notice.status
        notice.status = NoticeStatus.CANCELLED
        notice.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="notice.cancel",
            obj=notice,
            changes={"status": [before, NoticeStatus.CANCELLED]},
        )
    return notice


# --- writes: sending -------------------------------------------------------------------------


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class _ContactRow:
    pk: int
    email: str
    mobile: str
    is_primary: bool


def _address(contacts: list[_ContactRow], channel: str) -> tuple[int | None, str]:
    """(contact, address) for one channel: e-mail to the primary contact's address, else any
    contact's; SMS and WeCom to the primary contact's mobile."""
    primary = next((c for c in contacts if c.is_primary), None)
    if channel == DeliveryChannel.EMAIL:
        if primary is not None and primary.email:
            return primary.pk, primary.email
        other = next((c for c in contacts if c.email), None)
        return (other.pk, other.email) if other is not None else (None, "")
    if primary is not None and primary.mobile:
        return primary.pk, primary.mobile
    return (primary.pk if primary is not None else None), ""


def _no_address_text(channel: str) -> str:
    if channel == DeliveryChannel.EMAIL:
        return _("No contact has an e-mail address.")
    return _("The primary contact has no mobile number.")


def _fix_recipients(notice: Notice, sender: User, channels: Sequence[str]) -> int:
    """One delivery row per recipient × channel, the address resolved now; returns how many
    customers. Contacts are read a chunk of customers at a time and rows written in batches,
    so ten thousand recipients cost a few dozen queries."""
    ids = list(
        notice_recipients(notice, sender).order_by("pk").values_list("pk", flat=True).distinct()
    )
    pending: list[NoticeDelivery] = []
    for chunk in _chunks(ids, ID_CHUNK):
        contacts: dict[int, list[_ContactRow]] = defaultdict(list)
        rows = (
            Contact.objects.filter(customer_id__in=chunk, anonymised_at__isnull=True)
            .order_by("customer_id", "-is_primary", "pk")
            .values_list("pk", "customer_id", "email", "mobile", "is_primary")
        )
        for pk, customer_id, email, mobile, is_primary in rows:
            contacts[customer_id].append(_ContactRow(pk, email.strip(), mobile.strip(), is_primary))
        for customer_id in chunk:
            for channel in channels:
                contact_id, address = _address(contacts.get(customer_id, []), channel)
                pending.append(
                    NoticeDelivery(
                        notice=notice,
                        customer_id=customer_id,
                        contact_id=contact_id,
                        channel=channel,
                        address=address,
                        status=DeliveryStatus.PENDING if address else DeliveryStatus.NO_ADDRESS,
                        error="" if address else _no_address_text(channel),
                    )
                )
        if len(pending) >= CREATE_BATCH:
            NoticeDelivery.objects.bulk_create(pending, batch_size=CREATE_BATCH)
            pending = []
    NoticeDelivery.objects.bulk_create(pending, batch_size=CREATE_BATCH)
    return len(ids)


def notice_send(*, actor: User | None, notice: Notice) -> Notice:
    """Send now: fix the recipients (visible to `actor`, or to the author for a scheduled
    send by the system) and hand the delivery to the background. A notice already sending is
    resumed (only its pending rows go out)."""
    require_perm(actor, "inquiries.send_notice")
    with transaction.atomic():
        notice = _lock(notice)
        if notice.status == NoticeStatus.CANCELLED:
            raise ValidationError(_("A cancelled notice cannot be sent."))
        if notice.status == NoticeStatus.SENT:
            raise ValidationError(_("This notice was sent already."))
        if notice.status in EDITABLE:
            sender = actor if actor is not None else notice.created_by
            _check_ready(notice, sender)
            assert sender is not None
            before = notice.status
            count = _fix_recipients(notice, sender, list(notice.channels))
            if count == 0:
                raise ValidationError(
                    _("No customer matches the recipients: the notice would reach nobody.")
                )
            notice.status = NoticeStatus.SENDING
            notice.recipient_count = count
            notice.save(update_fields=["status", "recipient_count", "updated_at"])
            audit_record(
                actor=actor,
                action="notice.send",
                obj=notice,
                changes={
                    "status": [before, NoticeStatus.SENDING],
                    "recipients": [None, count],
                    "channels": [None, list(notice.channels)],
                    "sender": [None, sender.pk],
                },
            )
    notice_deliver_task.enqueue(notice.pk)
    notice.refresh_from_db()
    return notice


def notice_retry_failed(*, actor: User, notice: Notice) -> int:
    """Send the failed rows again (a mail server was down); returns how many."""
    require_perm(actor, "inquiries.send_notice")
    with transaction.atomic():
        notice = _lock(notice)
        if notice.status not in (NoticeStatus.SENDING, NoticeStatus.SENT):
            raise ValidationError(_("Only a notice that was sent can be retried."))
        count = NoticeDelivery.objects.filter(notice=notice, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.PENDING, error=""
        )
        if not count:
            raise ValidationError(_("No delivery of this notice failed."))
        before = notice.status
        notice.status = NoticeStatus.SENDING
        notice.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="notice.retry",
            obj=notice,
            changes={"status": [before, NoticeStatus.SENDING], "retried": [None, count]},
        )
    notice_deliver_task.enqueue(notice.pk)
    return count


# --- delivery --------------------------------------------------------------------------------


def _email_text(notice: Notice, signature: str) -> str:
    return f"{notice.body}\n\n{signature}"


def _short_text(notice: Notice, signature: str, limit: int) -> str:
    text = f"【{signature}】{notice.title}：{notice.body}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Payload:
    subject: str
    email_text: str
    sms_text: str
    wecom_text: str
    attachments: list[tuple[str, bytes, str]]


def _payload(notice: Notice) -> _Payload:
    signature = routing.desk_settings().company_signature
    attachments = []
    for item in notice.attachments.order_by("pk"):
        with item.file.open("rb") as handle:
            attachments.append((item.name, handle.read(), item.content_type))
    return _Payload(
        subject=notice.title,
        email_text=_email_text(notice, signature),
        sms_text=_short_text(notice, signature, SMS_TEXT_MAX),
        wecom_text=f"{notice.title}\n\n{notice.body}\n\n{signature}",
        attachments=attachments,
    )


def _error_text(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


class _Senders:
    """One SMTP connection and one gateway per channel for a batch, opened when first needed."""

    def __init__(self, payload: _Payload) -> None:
        self.payload = payload
        self.mail: Any = None
        self.gateways: dict[str, MessageGateway] = {}

    def send(self, delivery: NoticeDelivery) -> None:
        if delivery.channel == DeliveryChannel.EMAIL:
            if self.mail is None:
                self.mail = get_connection()
                self.mail.open()
            message = EmailMessage(
                subject=self.payload.subject,
                body=self.payload.email_text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[delivery.address],
                connection=self.mail,
            )
            for name, content, content_type in self.payload.attachments:
                message.attach(name, content, content_type)
            message.send()
            return
        gateway = self.gateways.get(delivery.channel)
        if gateway is None:
            gateway = self.gateways[delivery.channel] = gateway_for(delivery.channel)
        text = (
            self.payload.sms_text
            if delivery.channel == DeliveryChannel.SMS
            else self.payload.wecom_text
        )
        gateway.send(delivery.address, text)

    def close(self) -> None:
        if self.mail is not None:
            with contextlib.suppress(Exception):
                self.mail.close()


def _batch_scope() -> contextlib.AbstractContextManager[Any]:
    # PostgreSQL: the batch's rows stay locked while they are sent, and a second worker skips
    # them (no message twice). SQLite has no row locks; a transaction there would hold the
    # whole database's write lock during the sends, so the batch runs outside one (the cache
    # lock in notice_deliver keeps a second worker away).
    if connection.features.has_select_for_update_skip_locked:
        return transaction.atomic()
    return contextlib.nullcontext()


def _deliver_batch(notice: Notice, payload: _Payload, counts: Counter[str]) -> bool:
    with _batch_scope():
        qs = NoticeDelivery.objects.filter(notice=notice, status=DeliveryStatus.PENDING)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        batch = list(qs.order_by("pk")[:DELIVERY_BATCH])
        if not batch:
            return False
        senders = _Senders(payload)
        try:
            for delivery in batch:
                try:
                    senders.send(delivery)
                # Whatever the server or provider says (GatewayError, SMTP errors, timeouts)
                # belongs to this row only: the rest of the batch still goes out.
                except Exception as exc:
                    delivery.status = DeliveryStatus.FAILED
                    delivery.error = _error_text(exc)
                    logger.warning("notice %s delivery %s failed: %s", notice.pk, delivery.pk, exc)
                else:
                    delivery.status = DeliveryStatus.SENT
                    delivery.error = ""
                    delivery.sent_at = timezone.now()
                counts[delivery.status] += 1
        finally:
            senders.close()
        NoticeDelivery.objects.bulk_update(batch, ["status", "error", "sent_at"])
    return True


def _finish(notice: Notice) -> None:
    with transaction.atomic():
        notice = _lock(notice)
        if notice.status != NoticeStatus.SENDING:
            return
        if NoticeDelivery.objects.filter(notice=notice, status=DeliveryStatus.PENDING).exists():
            return
        notice.status = NoticeStatus.SENT
        notice.sent_at = timezone.now()
        notice.save(update_fields=["status", "sent_at", "updated_at"])
        audit_record(
            actor=None,
            action="notice.sent",
            obj=notice,
            changes={
                "status": [NoticeStatus.SENDING, NoticeStatus.SENT],
                **{f"{status}": [None, n] for status, n in delivery_counts(notice).items()},
            },
        )


def notice_deliver(*, notice: Notice) -> dict[str, int]:
    """Send the notice's pending deliveries in batches, then mark it sent. Another run busy
    with the same notice makes this one return at once ({"busy": 1})."""
    key = f"inquiries:notice-deliver:{notice.pk}"
    if not cache.add(key, 1, LOCK_SECONDS):
        return {"busy": 1}
    counts: Counter[str] = Counter()
    try:
        payload = _payload(notice)
        while _deliver_batch(notice, payload, counts):
            cache.touch(key, LOCK_SECONDS)
        _finish(notice)
    finally:
        cache.delete(key)
    return dict(counts)


@task()
def notice_deliver_task(notice_id: int) -> dict[str, int]:
    notice = Notice.objects.filter(pk=notice_id).first()
    if notice is None or notice.status != NoticeStatus.SENDING:
        return {}
    return notice_deliver(notice=notice)


def _schedule_failed(notice: Notice, reason: str) -> None:
    """A scheduled notice that cannot go out returns to draft, and its author is told."""
    with transaction.atomic():
        notice = _lock(notice)
        if notice.status != NoticeStatus.SCHEDULED:
            return
        notice.status = NoticeStatus.DRAFT
        notice.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=None,
            action="notice.schedule_failed",
            obj=notice,
            changes={"status": [NoticeStatus.SCHEDULED, NoticeStatus.DRAFT], "reason": reason},
        )
        author = notice.created_by
        transaction.on_commit(
            lambda: notify(
                [author],
                kind="notice_schedule_failed",
                text=_("Notice “%(title)s” could not be sent at its time: %(reason)s")
                % {"title": notice.title, "reason": reason},
                task=None,
                url=reverse("inquiries:notice", args=[notice.pk]),
            )
        )


def notices_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Send the scheduled notices whose time has come, and finish those a stopped worker left
    half sent."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    due = Notice.objects.filter(status=NoticeStatus.SCHEDULED, scheduled_for__lte=now)
    for notice in due.select_related("created_by").order_by("scheduled_for", "pk"):
        try:
            notice_send(actor=None, notice=notice)
        except ValidationError as exc:
            _schedule_failed(notice, " ".join(exc.messages))
            counts["failed"] += 1
        else:
            counts["sent"] += 1
    stalled = Notice.objects.filter(
        status=NoticeStatus.SENDING, deliveries__status=DeliveryStatus.PENDING
    ).distinct()
    for notice in stalled:
        if notice_deliver(notice=notice).get("busy"):
            continue
        counts["resumed"] += 1
    return dict(counts)


@task()
def notices_send_due() -> dict[str, int]:
    """Scheduled notices due now; enqueued every minute by the scheduler."""
    counts = notices_due()
    if counts:
        logger.info("notices due: %s", counts)
    return counts


# --- the delivery log as a spreadsheet -------------------------------------------------------


def _local(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def deliveries_xlsx(rows: Iterable[NoticeDelivery], *, reveal: bool) -> tuple[bytes, int]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Delivery log"))
    sheet.append(
        [
            _("Customer"),
            _("Channel"),
            _("Contact"),
            _("Address"),
            _("Delivery status"),
            _("Error"),
            _("Sent at"),
        ]
    )
    count = 0
    for row in rows:
        append_row(
            sheet,
            [
                row.customer.name,
                str(CHANNEL_LABELS.get(row.channel, row.channel)),
                row.contact.name if row.contact else "",
                shown_address(row, reveal),
                str(DELIVERY_STATUS_LABELS.get(row.status, row.status)),
                row.error,
                timezone.localtime(row.sent_at).strftime("%Y-%m-%d %H:%M:%S")
                if row.sent_at
                else "",
            ],
        )
        count += 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), count
