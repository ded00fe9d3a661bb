"""The e-mail channel of the inquiry desk: customer e-mail fetched from IMAP mailboxes (the seed's
"行政部邮箱") becomes inquiries, or joins the inquiry it answers; replies go out over SMTP with
headers that let the customer's mail program, and our poller, thread the conversation.

Polling (`mailbox_poll`, every minute through `mailboxes_poll`) reads only; nothing is deleted
or flagged on the server. It fetches the UIDs above `Mailbox.last_uid` (RFC 3501 §2.3.1.1: UIDs
are only comparable within one UIDVALIDITY, so a new UIDVALIDITY starts again from 1) and skips
every message whose Message-ID is already stored, so neither a second poll, a lost `last_uid` nor
two workers polling at once files a question twice.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import imaplib
import io
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import formataddr, make_msgid, parseaddr
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.models import Contact
from inquiries import routing
from inquiries.models import (
    Inquiry,
    InquiryChannel,
    InquiryMessage,
    Mailbox,
    MailSecurity,
    MessageKind,
)
from inquiries.services import (
    BODY_MAX,
    SUBJECT_MAX,
    IncomingFile,
    inquiry_create,
    inquiry_followup,
)
from ruwang.lib import crypto, files

logger = logging.getLogger(__name__)

IMAP_TIMEOUT = 30  # seconds; a hung server must not hold the worker
BATCH = 100  # messages per poll; the rest wait for the next minute
# A larger message is filed from its headers alone (its text and files stay on the server):
# fetching it whole would hold it all in the worker's memory.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Messages without a Message-ID get one derived from their bytes, so they too are met once only.
SYNTHETIC_DOMAIN = "no-message-id.invalid"
NUMBER_TAG_RE = re.compile(r"\[(WZ-\d{4}-\d{6,})\]")
MSGID_RE = re.compile(r"<[^<>\s]+>")
REPLY_PREFIX_RE = re.compile(r"^\s*(?:re|fw|fwd|aw|回复|答复|转发)\s*[:：]\s*", re.IGNORECASE)
# Mail programs label GBK text "gb2312"; GB 18030 is the superset that decodes both.
CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "utf8": "utf-8",
}


# --- the mailbox password ----------------------------------------------------------------------


def mailbox_set_password(*, actor: User | None, mailbox: Mailbox, password: str) -> None:
    """Store the mailbox's IMAP password encrypted (ruwang.lib.crypto); the audit row says it
    changed, never what it is."""
    require_perm(actor, "inquiries.change_mailbox")
    if not password:
        raise ValidationError({"password": _("Enter the mailbox password.")})
    if len(password) > 200:
        raise ValidationError({"password": _("The password is too long.")})
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(
            password_encrypted=crypto.encrypt_text(password)
        )
        mailbox.refresh_from_db(fields=["password_encrypted"])
        audit_record(
            actor=actor, action="mailbox.password", obj=mailbox, changes={"password": "changed"}
        )


def mailbox_password(mailbox: Mailbox) -> str:
    """The mailbox's IMAP password ("" when none is set); ValueError when the stored value
    cannot be decrypted with the configured key."""
    if not mailbox.password_encrypted:
        return ""
    return crypto.decrypt_text(mailbox.password_encrypted)


# --- decoding what arrives ---------------------------------------------------------------------


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in its declared charset, else UTF-8, else GB 18030; never fails."""
    candidates = []
    if charset:
        name = charset.strip().strip('"').lower()
        candidates.append(CHARSET_ALIASES.get(name, name))
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_text(raw: str) -> str:
    """A header as text: RFC 2047 encoded words decoded with the GBK-tolerant charsets above, and
    raw 8-bit headers (common from Chinese mail programs) read as UTF-8 or GB 18030."""
    text = re.sub(r"\r?\n", "", raw or "")
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = _decode_bytes(text.encode("ascii", "surrogateescape"), None)
    try:
        parts = decode_header(text)
    except Exception:  # a malformed encoded word: show the header as it came
        return text.strip()
    decoded = [
        chunk if isinstance(chunk, str) else _decode_bytes(chunk, charset)
        for chunk, charset in parts
    ]
    return "".join(decoded).strip()


def _raw_header(message: Message, name: str) -> str:
    """The header's raw value as received (before the policy's parsing), "" when absent."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)
    return ""


def _message_ids(raw: str) -> list[str]:
    return MSGID_RE.findall(raw or "")


class _HtmlText(HTMLParser):
    """The readable text of an HTML mail: scripts, styles and markup dropped, blocks on their
    own lines. Only text comes out (shown escaped), so nothing of the HTML can run."""

    SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "object"})
    BLOCK = frozenset(
        {
            "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1",
            "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section",
            "table", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.chunks.append("\n")
            if tag == "li":
                self.chunks.append("- ")
            if tag == "pre":
                self.pre += 1
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in self.BLOCK and tag != "li":  # the next item starts its own line
            self.chunks.append("\n")
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.chunks.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.chunks).replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = _decode_bytes(payload, part.get_content_charset())
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def _leaves(part: Message, parent: str = "") -> Iterator[tuple[Message, str]]:
    """Every non-multipart part with its parent's content type; a forwarded message
    (message/rfc822) counts as multipart, so its text and files are read too."""
    if part.is_multipart():
        for child in part.get_payload():
            assert isinstance(child, Message)
            yield from _leaves(child, part.get_content_type())
    else:
        yield part, parent


def _filename(part: Message) -> str:
    """The part's file name (RFC 2231 or RFC 2047 encoded, GBK tolerated), without any path."""
    params = Message()  # the raw header, parsed as compat32 does: RFC 2231 values kept apart
    for header, key in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        raw = _raw_header(part, header)
        if not raw:
            continue
        params[header] = raw
        value = params.get_param(key, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            name = _decode_bytes(str(text).encode("raw-unicode-escape"), charset or None)
        else:
            name = decode_header_text(str(value).strip('"'))
        name = re.split(r"[\\/]", name)[-1]
        return "".join(ch for ch in name if ch.isprintable()).strip()
    return ""


@dataclass
class ParsedMail:
    subject: str
    body: str
    author_name: str
    author_email: str
    sender: str
    message_id: str
    in_reply_to: str
    references: str
    attachments: list[tuple[str, bytes]]
    auto: str  # why it is an automatic message ("" for a person's mail)


def _auto_reason(message: Message, address: str) -> str:
    """RFC 3834 §5: Auto-Submitted other than "no" marks mail no person wrote; Precedence
    bulk/junk/list and the null return path (bounces, RFC 5321 §4.5.5) likewise."""
    auto_submitted = _raw_header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    precedence = _raw_header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond"):
        if _raw_header(message, header):
            return header
    if _raw_header(message, "Return-Path").strip() == "<>":
        return "Return-Path: <>"
    if message.get_content_type() == "multipart/report":
        return "multipart/report"
    local = address.partition("@")[0].lower()
    if local in ("mailer-daemon", "mailerdaemon"):
        return address
    return ""


def parse_mail(raw: bytes, *, headers_only: bool = False) -> ParsedMail:
    """What the poller needs from one message's bytes."""
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=headers_only)
    display, address = parseaddr(_raw_header(message, "From"))
    author_name = decode_header_text(display)
    address = address.strip()
    try:
        validate_email(address)
    except ValidationError:
        author_name = author_name or address
        address = ""
    subject = decode_header_text(_raw_header(message, "Subject"))
    ids = _message_ids(_raw_header(message, "Message-ID"))
    message_id = ids[0] if ids else ""
    if not message_id or len(message_id) > 250:
        message_id = f"<{hashlib.sha256(raw).hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"
    in_reply_to = " ".join(_message_ids(_raw_header(message, "In-Reply-To")))
    references = " ".join(_message_ids(_raw_header(message, "References")))

    body = ""
    attachments: list[tuple[str, bytes]] = []
    if not headers_only:
        assert isinstance(message, EmailMessage)
        chosen = message.get_body(preferencelist=("plain",))
        body = _part_text(chosen) if chosen is not None else ""
        html = message.get_body(preferencelist=("html",))
        if not body and html is not None:
            chosen = html
            body = _part_text(html)
        extra_text = []
        for number, (part, parent) in enumerate(_leaves(message), start=1):
            if part is chosen or part is html:
                continue
            name = _filename(part)
            disposition = (part.get_content_disposition() or "").lower()
            if part.get_content_maintype() == "text" and not name and disposition != "attachment":
                # Apple Mail splits the text around pictures; alternatives repeat the body.
                if parent != "multipart/alternative" and part.get_content_subtype() == "plain":
                    extra_text.append(_part_text(part))
                continue
            embedded = parent == "multipart/related" and part.get("Content-ID")
            if embedded and disposition != "attachment":
                continue  # a picture embedded in the HTML (a logo in the signature)
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if not name:
                subtype = re.sub(r"[^a-z0-9]", "", part.get_content_subtype().lower())[:10]
                name = f"attachment-{number}.{subtype or 'bin'}"
            attachments.append((name, data))
        body = "\n\n".join(t for t in [body, *extra_text] if t)
    return ParsedMail(
        subject=subject,
        body=body,
        author_name=author_name,
        author_email=address,
        sender=(f"{author_name} <{address}>" if author_name else address) or author_name,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        attachments=attachments,
        auto=_auto_reason(message, address),
    )


# --- filing one message ------------------------------------------------------------------------


def _thread_of(mail: ParsedMail) -> Inquiry | None:
    """The inquiry this message answers: by In-Reply-To, then References (newest first), then
    our number tag in the subject — the last only when the sender is the inquiry's own (numbers
    are easy to guess; a stranger's mail must not land in someone else's thread)."""
    wanted = _message_ids(mail.in_reply_to) + list(reversed(_message_ids(mail.references)))
    if wanted:
        known = dict(
            InquiryMessage.objects.filter(message_id__in=wanted).values_list(
                "message_id", "inquiry_id"
            )
        )
        for message_id in wanted:
            if message_id in known:
                return Inquiry.objects.get(pk=known[message_id])
    tag = NUMBER_TAG_RE.search(mail.subject)
    if tag and mail.author_email:
        inquiry = Inquiry.objects.filter(number=tag.group(1)).first()
        if inquiry is not None and (
            inquiry.author_email.lower() == mail.author_email.lower()
            or Contact.objects.filter(
                customer_id=inquiry.customer_id, email__iexact=mail.author_email
            ).exists()
        ):
            return inquiry
    return None


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str


def _screen(attachments: Sequence[tuple[str, bytes]]) -> tuple[list[IncomingFile], list[Refused]]:
    """The files the document store accepts, and those it refuses with the reason."""
    accepted: list[IncomingFile] = []
    refused: list[Refused] = []
    for name, data in attachments:
        try:
            files.check_upload(name, io.BytesIO(data), len(data), settings.DOCUMENT_MAX_BYTES)
        except ValidationError as exc:
            refused.append(Refused(name, "；".join(exc.messages)))
            continue
        accepted.append(IncomingFile(name=name, fileobj=io.BytesIO(data), size=len(data)))
    return accepted, refused


def _note_refused(inquiry: Inquiry, refused: Sequence[Refused], at: dt.datetime) -> None:
    """An event in the thread naming the files not kept: the question is filed without them
    and staff can ask the customer for another format."""
    text = _("Attachments not kept (the e-mail is still in the mailbox): %(files)s") % {
        "files": "；".join(f"{r.name}（{r.reason}）" for r in refused)
    }
    InquiryMessage.objects.create(
        inquiry=inquiry,
        kind=MessageKind.EVENT,
        event="attachment_refused",
        body=text,
        data={"files": [{"name": r.name, "reason": r.reason} for r in refused]},
        created_at=at,
    )
    audit_record(
        actor=None,
        action="inquiry.attachment_refused",
        obj=inquiry,
        changes={"files": [r.name for r in refused]},
    )


def _fit(mail: ParsedMail) -> tuple[str, str, list[tuple[str, bytes]]]:
    """Subject, body and files within the desk's limits; a text too long for the thread is
    kept whole as a text file beside the shortened body."""
    subject = mail.subject[:SUBJECT_MAX]
    body = mail.body.replace("\x00", "").strip()
    attachments = list(mail.attachments)
    if not body:
        body = subject or _("(The e-mail has no text.)")
    if len(body) > BODY_MAX:
        attachments.append((_("full text") + ".txt", body.encode("utf-8")))
        note = _("…(shortened; the full text is attached)")
        body = body[: BODY_MAX - len(note) - 1] + "\n" + note
    return subject, body, attachments


def _file_message(
    mailbox: Mailbox, mail: ParsedMail, received: dt.datetime, now: dt.datetime
) -> str:
    """File one parsed message; returns what happened: created, followup, duplicate, auto."""
    if InquiryMessage.objects.filter(message_id=mail.message_id).exists():
        return "duplicate"
    if mail.auto:
        logger.info("mailbox %s: skipped %s (%s)", mailbox.pk, mail.message_id, mail.auto)
        return "auto"
    if mail.author_email and mail.author_email.lower() == mailbox.address.lower():
        return "auto"  # our own mail copied back into the box: answering it would loop
    subject, body, attachments = _fit(mail)
    accepted, refused = _screen(attachments)
    try:
        return _file_screened(mailbox, mail, subject, body, accepted, refused, received, now)
    except ValidationError as exc:
        if not (hasattr(exc, "error_dict") and "attachment" in exc.error_dict) or not accepted:
            raise
        # The document store refused a file the screening let through: file the question
        # without any file rather than lose it.
        reason = "；".join(exc.messages)
        refused = [*refused, *(Refused(f.name, reason) for f in accepted)]
        return _file_screened(mailbox, mail, subject, body, [], refused, received, now)


def _file_screened(
    mailbox: Mailbox,
    mail: ParsedMail,
    subject: str,
    body: str,
    accepted: Sequence[IncomingFile],
    refused: Sequence[Refused],
    received: dt.datetime,
    now: dt.datetime,
) -> str:
    in_reply_to = _message_ids(mail.in_reply_to)
    try:
        with transaction.atomic():
            inquiry = _thread_of(mail)
            if inquiry is not None:
                inquiry_followup(
                    inquiry=inquiry,
                    body=body,
                    sender=mail.sender,
                    message_id=mail.message_id,
                    in_reply_to=in_reply_to[0] if in_reply_to else "",
                    references=mail.references,
                    attachments=accepted,
                    now=received,
                )
                outcome = "followup"
            else:
                inquiry = inquiry_create(
                    actor=None,
                    channel=InquiryChannel.EMAIL,
                    mailbox=mailbox,
                    project=mailbox.project,
                    author_name=mail.author_name[:60],
                    author_email=mail.author_email,
                    subject=subject,
                    body=body,
                    message_id=mail.message_id,
                    in_reply_to=in_reply_to[0] if in_reply_to else "",
                    references=mail.references,
                    attachments=accepted,
                    now=received,
                )
                outcome = "created"
            if refused:
                _note_refused(inquiry, refused, now)
    except IntegrityError:
        # Another poller filed the same Message-ID a moment ago.
        if InquiryMessage.objects.filter(message_id=mail.message_id).exists():
            return "duplicate"
        raise
    return outcome


# --- polling -----------------------------------------------------------------------------------


@dataclass
class PollResult:
    fetched: int = 0
    created: int = 0
    followups: int = 0
    duplicates: int = 0
    skipped: int = 0  # auto-replies, bounces, our own mail
    failed: int = 0
    error: str = ""

    def as_dict(self) -> dict[str, int]:
        return {
            "fetched": self.fetched,
            "created": self.created,
            "followups": self.followups,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "failed": self.failed,
        }


class PollError(Exception):
    """The mailbox cannot be read at all (connection, sign-in, folder); the message is shown to
    the administrator as the mailbox's last error."""


def imap_folder_name(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3) for Chinese names,
    quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    encoded_name = "".join(out)
    return '"' + encoded_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    try:
        if mailbox.security == MailSecurity.SSL:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                mailbox.host, mailbox.port, ssl_context=context, timeout=IMAP_TIMEOUT
            )
        else:
            conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=IMAP_TIMEOUT)
            if mailbox.security == MailSecurity.STARTTLS:
                conn.starttls(ssl_context=context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise PollError(
            _("Cannot connect to %(host)s:%(port)s: %(error)s")
            % {"host": mailbox.host, "port": mailbox.port, "error": exc}
        ) from exc
    try:
        password = mailbox_password(mailbox)
    except ValueError as exc:
        conn.shutdown()
        raise PollError(
            _("The stored password cannot be decrypted: set the mailbox password again.")
        ) from exc
    try:
        conn.login(mailbox.username, password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise PollError(
            _("The mail server refused the user name or password: %(error)s") % {"error": exc}
        ) from exc
    return conn


def _ok(response: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what}: {status} {data!r}")
    return data


_FETCH_RE = re.compile(rb"UID (\d+)")
_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")


def _fetch_info(conn: imaplib.IMAP4, uids: list[int]) -> dict[int, tuple[int, dt.datetime | None]]:
    """uid → (size, arrival time on the server)."""
    data = _ok(
        conn.uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE INTERNALDATE)"), "FETCH"
    )
    info: dict[int, tuple[int, dt.datetime | None]] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid = _FETCH_RE.search(line)
        size = _SIZE_RE.search(line)
        if uid is None:
            continue
        arrived = imaplib.Internaldate2tuple(line)
        when = dt.datetime.fromtimestamp(time.mktime(arrived), tz=dt.UTC) if arrived else None
        info[int(uid.group(1))] = (int(size.group(1)) if size else 0, when)
    return info


def _fetch(conn: imaplib.IMAP4, uid: int, section: str) -> bytes:
    data = _ok(conn.uid("FETCH", str(uid), f"(BODY.PEEK[{section}])"), "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    raise imaplib.IMAP4.error(f"FETCH {uid}: no message data")


def mailbox_poll(mailbox: Mailbox, now: dt.datetime | None = None) -> PollResult:
    """Fetch the mailbox's new messages and file each (see the module's docstring). Problems
    reaching the mailbox end up in `last_error` (and the result), never as an exception; a
    message that cannot be filed is logged, the others still are, and `last_uid` stays below it
    so it is tried again."""
    now = now or timezone.now()
    result = PollResult()
    last_uid = mailbox.last_uid
    uid_validity = mailbox.uid_validity
    failures: list[str] = []
    conn: imaplib.IMAP4 | None = None
    try:
        conn = _connect(mailbox)
        try:
            _ok(conn.select(imap_folder_name(mailbox.folder), readonly=True), "SELECT")
        except imaplib.IMAP4.error as exc:
            raise PollError(
                _("The folder “%(folder)s” cannot be opened: %(error)s")
                % {"folder": mailbox.folder, "error": exc}
            ) from exc
        validity = conn.response("UIDVALIDITY")[1]
        current = int(validity[0]) if validity and validity[0] else None
        if current != uid_validity:
            # RFC 3501 §2.3.1.1: the old UIDs mean nothing now; Message-IDs prevent duplicates.
            uid_validity, last_uid = current, 0
        found = _ok(conn.uid("SEARCH", "UID", f"{last_uid + 1}:*"), "SEARCH")
        raw_uids = found[0] if found and isinstance(found[0], bytes) else b""
        # "n:*" also matches the highest UID when it is below n (RFC 3501 §6.4.8).
        uids = sorted(u for u in map(int, raw_uids.split()) if u > last_uid)[:BATCH]
        info = _fetch_info(conn, uids) if uids else {}
        advancing = True
        for uid in uids:
            size, arrived = info.get(uid, (0, None))
            received = arrived if arrived is not None and arrived <= now else now
            # A failure to fetch ends the poll (the connection is gone); the rest waits.
            raw = _fetch(conn, uid, "HEADER" if size > MAX_MESSAGE_BYTES else "")
            result.fetched += 1
            try:
                if size > MAX_MESSAGE_BYTES:
                    mail = parse_mail(raw, headers_only=True)
                    mail.body = _(
                        "(The e-mail is too large to fetch (%(mb)d MB): read it in the mailbox.)"
                    ) % {"mb": size // (1024 * 1024)}
                else:
                    mail = parse_mail(raw)
                outcome = _file_message(mailbox, mail, received, now)
            except Exception as exc:
                logger.exception("mailbox %s: message UID %s could not be filed", mailbox.pk, uid)
                result.failed += 1
                failures.append(f"UID {uid}: {'；'.join(_messages(exc))}")
                advancing = False
                continue
            if outcome == "created":
                result.created += 1
            elif outcome == "followup":
                result.followups += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            else:
                result.skipped += 1
            if advancing:
                last_uid = uid
    except PollError as exc:
        result.error = str(exc)
    except (imaplib.IMAP4.error, OSError) as exc:
        result.error = _("Reading the mailbox failed: %(error)s") % {"error": exc}
    finally:
        if conn is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()
    if failures and not result.error:
        result.error = _("%(count)d message(s) could not be filed: %(detail)s") % {
            "count": len(failures),
            "detail": "; ".join(failures)[:1000],
        }
    if result.error:
        logger.warning("mailbox %s: %s", mailbox.pk, result.error)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        uid_validity=uid_validity, last_uid=last_uid, last_polled_at=now, last_error=result.error
    )
    mailbox.uid_validity, mailbox.last_uid = uid_validity, last_uid
    mailbox.last_polled_at, mailbox.last_error = now, result.error
    return result


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return exc.messages
    return [str(exc) or type(exc).__name__]


@task()
def mailboxes_poll() -> dict[str, int]:
    """Poll every active mailbox; enqueued every minute by the scheduler. One mailbox's trouble
    never stops the others."""
    totals = {**PollResult().as_dict(), "mailboxes": 0, "mailbox_errors": 0}
    for mailbox in Mailbox.objects.filter(is_active=True).select_related("project"):
        totals["mailboxes"] += 1
        try:
            result = mailbox_poll(mailbox)
        except Exception as exc:
            logger.exception("mailbox %s: poll failed", mailbox.pk)
            Mailbox.objects.filter(pk=mailbox.pk).update(
                last_polled_at=timezone.now(), last_error=str(exc)[:1000] or type(exc).__name__
            )
            totals["mailbox_errors"] += 1
            continue
        if result.error:
            totals["mailbox_errors"] += 1
        for key, value in result.as_dict().items():
            totals[key] += value
    if totals["fetched"]:
        logger.info("mailboxes poll: %s", totals)
    return totals


# --- replies out -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentMail:
    message_id: str
    in_reply_to: str
    references: str
    to: str


def _reply_subject(inquiry: Inquiry) -> str:
    subject = inquiry.subject.strip()
    while True:
        shorter = REPLY_PREFIX_RE.sub("", subject, count=1)
        if shorter == subject:
            break
        subject = shorter
    tag = f"[{inquiry.number}]"
    subject = subject.replace(tag, "").strip()
    return f"Re: {subject} {tag}" if subject else f"Re: {tag}"


def _reply_from(inquiry: Inquiry) -> str:
    mailbox = inquiry.mailbox or Mailbox.objects.filter(is_active=True).order_by("pk").first()
    if mailbox is not None:
        return mailbox.address
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL


def _recipient(inquiry: Inquiry) -> str:
    if inquiry.author_email:
        return inquiry.author_email
    email = (
        Contact.objects.filter(customer_id=inquiry.customer_id)
        .exclude(email="")
        .order_by("-is_primary", "pk")
        .values_list("email", flat=True)
        .first()
    )
    if not email:
        raise ValidationError(_("The customer has no e-mail address."))
    return email


def _threading(inquiry: Inquiry) -> tuple[str, str]:
    """RFC 5322 §3.6.4: In-Reply-To names the customer's latest message; References is that
    message's References followed by its Message-ID (the oldest kept when it grows long)."""
    latest = (
        inquiry.messages.filter(kind=MessageKind.QUESTION, message_id__isnull=False)
        .exclude(message_id__endswith=f"@{SYNTHETIC_DOMAIN}>")
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest is None or not latest.message_id:
        return "", ""
    chain = [i for i in _message_ids(latest.references) if i != latest.message_id]
    chain.append(latest.message_id)
    if len(chain) > 20:
        chain = [chain[0], *chain[-19:]]
    return latest.message_id, " ".join(chain)


def reply_email_send(*, inquiry: Inquiry, body: str, display_name: str = "") -> SentMail:
    """Send a reply to the customer now, through Django's mail connection, from the inquiry's
    mailbox in the desk's name (`display_name` overrides it, e.g. "张三（营销部客户中心）"
    when a reply is signed by the staff member). Raises ValidationError (in Chinese) when there
    is no address or the mail server refuses. The caller stores `message_id` with the reply so
    the customer's answer threads back onto the inquiry."""
    if not body.strip():
        raise ValidationError({"body": _("The reply is empty.")})
    to = _recipient(inquiry)
    address = _reply_from(inquiry)
    name = display_name.strip() or routing.desk_settings().company_signature
    domain = address.rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=domain)
    in_reply_to, references = _threading(inquiry)
    headers = {"Message-ID": message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = references
    email = DjangoEmailMessage(
        subject=_reply_subject(inquiry),
        body=body,
        from_email=formataddr((name, address)),
        to=[to],
        headers=headers,
    )
    try:
        email.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("inquiry %s: reply not sent: %s", inquiry.pk, exc)
        raise ValidationError(
            _("The e-mail could not be sent: %(error)s") % {"error": exc}
        ) from exc
    return SentMail(message_id=message_id, in_reply_to=in_reply_to, references=references, to=to)
