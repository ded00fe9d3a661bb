"""The e-mail channel against real servers: a private Dovecot holds the customers' mail, the
poller files it as inquiries (once), replies go out through an aiosmtpd server with threading
headers, and the customer's answer joins the same inquiry."""

from __future__ import annotations

import contextlib
import io
import itertools
import shutil
import tempfile
import unittest
from email.message import EmailMessage
from email.utils import make_msgid
from unittest import mock

from django.contrib.admin import AdminSite
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory, override_settings
from django.utils import timezone
from PIL import Image

from audit.models import AuditEntry
from customers.models import Customer, DocumentKind
from customers.tests.factories import make_customer
from inquiries import mail as mail_channel
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.mail import (
    mailbox_password,
    mailbox_poll,
    mailbox_set_password,
    mailboxes_poll,
    reply_email_send,
)
from inquiries.mail_admin import MailboxAdmin, MailboxAdminForm, poll_now
from inquiries.models import (
    Inquiry,
    InquiryAttachment,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    Mailbox,
    MailSecurity,
    MessageKind,
)
from inquiries.services import inquiry_create, inquiry_mark_replied
from inquiries.tests.mailservers import Dovecot, dovecot_server, free_port, smtp_server
from ruwang.testing import PersonaTestCase, make_regions

CUSTOMER = "wang.fang@customer.example"
DESK_PASSWORD = "desk-Secret-2026"
_accounts = itertools.count(1)


def compose(
    subject: str = "咨询车位价格",
    body: str = "您好，请问地下车位现在的售价是多少？",
    *,
    sender: str = f"王芳 <{CUSTOMER}>",
    to: str = "kefu@developer.example",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> tuple[bytes, str]:
    """A customer's e-mail as bytes, and its Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message_id = message_id or make_msgid(domain="customer.example")
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(), message_id


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


_servers = contextlib.ExitStack()
_dovecot: list[Dovecot] = []


def setUpModule() -> None:
    """One private Dovecot for the module (stopping one takes its master a few seconds)."""
    try:
        _dovecot.append(_servers.enter_context(dovecot_server()))
    except LookupError as exc:
        raise unittest.SkipTest(str(exc)) from exc


def tearDownModule() -> None:
    _servers.close()
    _dovecot.clear()


class MailTestCase(PersonaTestCase):
    """Each test gets its own mail account on the module's Dovecot, and a mailbox reading it."""

    dovecot: Dovecot

    @classmethod
    def setUpClass(cls) -> None:
        cls.dovecot = _dovecot[0]
        media = tempfile.mkdtemp(prefix="ruwang-mail-")
        cls.addClassCleanup(shutil.rmtree, media, ignore_errors=True)
        cls.enterClassContext(override_settings(MEDIA_ROOT=media))
        super().setUpClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        inquiry_defaults_ensure()

    def setUp(self) -> None:
        self.account = f"desk{next(_accounts)}@developer.example"
        self.dovecot.add_user(self.account, DESK_PASSWORD)
        self.mailbox = self.make_mailbox(self.account)

    def make_mailbox(self, account: str, *, folder: str = "INBOX", password: str = DESK_PASSWORD):
        mailbox = Mailbox.objects.create(
            name="行政部邮箱",
            address=account,
            host=self.dovecot.host,
            port=self.dovecot.port,
            security=MailSecurity.NONE,
            username=account,
            folder=folder,
        )
        mailbox_set_password(actor=None, mailbox=mailbox, password=password)
        return mailbox

    def deliver(self, raw: bytes, folder: str = "INBOX") -> int:
        return self.dovecot.deliver(self.account, raw, folder)

    def poll(self, mailbox: Mailbox | None = None):
        mailbox = mailbox or self.mailbox
        mailbox.refresh_from_db()
        return mailbox_poll(mailbox)

    def use_smtp(self):
        inbox, port = self.enterContext(smtp_server())
        self.enterContext(
            override_settings(
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=port,
            )
        )
        return inbox


class PollingTests(MailTestCase):
    def test_a_message_in_the_mailbox_becomes_one_inquiry_and_later_polls_do_not_repeat_it(self):
        raw, message_id = compose()
        self.deliver(raw)

        first = self.poll()
        assert (first.fetched, first.created, first.error) == (1, 1, "")
        inquiry = Inquiry.objects.get()
        assert inquiry.channel == InquiryChannel.EMAIL
        assert inquiry.mailbox == self.mailbox
        assert (inquiry.subject, inquiry.author_name, inquiry.author_email) == (
            "咨询车位价格",
            "王芳",
            CUSTOMER,
        )
        assert inquiry.body == "您好，请问地下车位现在的售价是多少？"
        question = inquiry.messages.get(kind=MessageKind.QUESTION)
        assert question.message_id == message_id
        assert question.sender == f"王芳 <{CUSTOMER}>"
        self.mailbox.refresh_from_db()
        assert self.mailbox.last_uid == 1
        assert self.mailbox.uid_validity == self.dovecot.uid_validity(self.account)
        assert self.mailbox.last_polled_at is not None
        assert self.mailbox.last_error == ""

        second = self.poll()
        assert (second.fetched, second.created) == (0, 0)
        # Even when the position is lost, the Message-ID keeps the question from being filed
        # twice.
        Mailbox.objects.filter(pk=self.mailbox.pk).update(last_uid=0)
        third = self.poll()
        assert (third.fetched, third.created, third.duplicates) == (1, 0, 1)
        assert Inquiry.objects.count() == 1
        # Reading leaves the mail on the server.
        assert self.dovecot.message_count(self.account) == 1

    def test_an_unknown_sender_becomes_a_prospect_with_their_address(self):
        self.deliver(compose(sender="赵先生 <zhao@new.example>")[0])

        self.poll()

        inquiry = Inquiry.objects.get()
        assert inquiry.customer.name == "赵先生"
        assert list(inquiry.customer.contacts.values_list("email", flat=True)) == [
            "zhao@new.example"
        ]

    def test_the_sender_is_matched_to_the_customer_whose_contact_has_that_address(self):
        known = make_customer(
            "王芳",
            self.regions["360102"],
            contacts=[{"name": "王芳", "role": "contact", "email": CUSTOMER.upper()}],
        )
        customers_before = Customer.objects.count()
        self.deliver(compose()[0])

        self.poll()

        assert Inquiry.objects.get().customer == known
        assert Customer.objects.count() == customers_before

    def test_a_gb2312_subject_sender_and_body_are_decoded(self):
        # Mail programs label GBK text "gb2312"; 镕 is only in GBK.
        subject = "关于交房时间的咨询"
        body = "您好：请问三期什么时候交房？李镕"
        raw = (
            b"From: =?gb2312?B?" + _b64("李镕".encode("gbk")) + b"?= <li.rong@customer.example>\r\n"
            b"To: kefu@developer.example\r\n"
            b"Subject: =?gb2312?B?" + _b64(subject.encode("gb2312")) + b"?=\r\n"
            b"Message-ID: <gb2312-1@customer.example>\r\n"
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: text/plain; charset="gb2312"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(body.encode("gbk")) + b"\r\n"
        )
        self.deliver(raw)

        self.poll()

        inquiry = Inquiry.objects.get()
        assert (inquiry.subject, inquiry.body, inquiry.author_name) == (subject, body, "李镕")

    def test_an_html_only_message_is_kept_as_plain_text_with_its_markup_inert(self):
        message = EmailMessage()
        message["From"] = f"王芳 <{CUSTOMER}>"
        message["Subject"] = "网页邮件"
        message["Message-ID"] = "<html-1@customer.example>"
        message.set_content(
            "<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
            "<body><p>请问&lt;b&gt;样板间&lt;/b&gt;几点开放？</p><ul><li>周六</li><li>周日</li>"
            "</ul><img src=x onerror=alert(1)></body></html>",
            subtype="html",
        )
        self.deliver(message.as_bytes())

        self.poll()

        body = Inquiry.objects.get().body
        assert body == "请问<b>样板间</b>几点开放？\n\n- 周六\n- 周日"
        assert "alert" not in body and "color" not in body and "onerror" not in body

    def test_an_attachment_is_kept_as_one_of_the_customers_documents(self):
        picture = png_bytes()
        self.deliver(compose(attachments=(("户型图.png", picture, "image/png"),))[0])

        self.poll()

        inquiry = Inquiry.objects.get()
        attachment = InquiryAttachment.objects.get(inquiry=inquiry)
        assert attachment.message == inquiry.messages.get(kind=MessageKind.QUESTION)
        document = attachment.document
        assert document.customer == inquiry.customer
        assert document.kind == DocumentKind.PHOTO
        assert document.current.original_name == "户型图.png"
        assert document.current.size == len(picture)

    def test_a_refused_attachment_leaves_the_question_filed_with_a_note_naming_it(self):
        program = b"MZ\x90\x00" + b"\x00" * 200
        raw, _ = compose(
            attachments=(
                ("报价.exe", program, "application/octet-stream"),
                ("户型图.png", png_bytes(), "image/png"),
            )
        )
        self.deliver(raw)

        result = self.poll()

        assert (result.created, result.failed) == (1, 0)
        inquiry = Inquiry.objects.get()
        names = [a.document.current.original_name for a in inquiry.attachments.all()]
        assert names == ["户型图.png"]
        note = inquiry.messages.get(kind=MessageKind.EVENT, event="attachment_refused")
        assert "报价.exe" in note.body
        assert note.body.startswith("附件未保存")
        assert [f["name"] for f in note.data["files"]] == ["报价.exe"]
        assert AuditEntry.objects.filter(action="inquiry.attachment_refused").exists()

    def test_a_file_the_document_store_refuses_late_still_leaves_the_question_filed(self):
        self.deliver(compose(attachments=(("户型图.png", png_bytes(), "image/png"),))[0])

        with mock.patch(
            "customers.services.document_upload",
            side_effect=ValidationError("存储空间已满"),
        ):
            result = self.poll()

        assert (result.created, result.failed) == (1, 0)
        inquiry = Inquiry.objects.get()
        assert not inquiry.attachments.exists()
        note = inquiry.messages.get(event="attachment_refused")
        assert "户型图.png" in note.body and "存储空间已满" in note.body

    def test_a_very_long_message_is_shortened_and_kept_whole_as_a_text_file(self):
        long_text = "车位" * 12_000
        self.deliver(compose(body=long_text)[0])

        self.poll()

        inquiry = Inquiry.objects.get()
        assert len(inquiry.body) <= 20_000
        assert inquiry.body.endswith("（已截断，全文见附件）")
        [attachment] = inquiry.attachments.all()
        version = attachment.document.current
        assert version.original_name == "邮件全文.txt"
        with version.file.open("rb") as stored:
            assert stored.read().decode("utf-8").strip() == long_text

    def test_a_message_without_a_message_id_is_also_filed_only_once(self):
        raw = (
            f"From: {CUSTOMER}\r\nSubject: no id\r\nContent-Type: text/plain; charset=utf-8"
            "\r\n\r\n请问物业费多少钱？\r\n"
        ).encode()
        self.deliver(raw)

        assert self.poll().created == 1
        Mailbox.objects.filter(pk=self.mailbox.pk).update(last_uid=0)
        assert self.poll().duplicates == 1

        assert Inquiry.objects.get().body == "请问物业费多少钱？"

    def test_auto_replies_and_bounces_are_skipped_and_counted(self):
        self.deliver(compose("自动回复：休假中", headers={"Auto-Submitted": "auto-replied"})[0])
        self.deliver(compose("促销", headers={"Precedence": "bulk"})[0])
        self.deliver(
            compose("Undelivered Mail", sender="MAILER-DAEMON@developer.example", body="x")[0]
        )
        self.deliver(compose("真的问题", headers={"Auto-Submitted": "no"})[0])

        result = self.poll()

        assert (result.fetched, result.skipped, result.created) == (4, 3, 1)
        assert list(Inquiry.objects.values_list("subject", flat=True)) == ["真的问题"]
        self.mailbox.refresh_from_db()
        assert self.mailbox.last_uid == 4  # skipped messages are done with too

    def test_a_new_uidvalidity_starts_from_the_first_uid_without_filing_twice(self):
        folder = "客户来信"  # a Chinese folder name travels as modified UTF-7
        self.dovecot.create_folder(self.account, folder)
        mailbox = self.make_mailbox(self.account, folder=folder)
        first, _ = compose("第一封")
        self.deliver(first, folder)
        assert self.poll(mailbox).created == 1
        mailbox.refresh_from_db()
        old_validity = mailbox.uid_validity

        # The server renumbers the folder (restored from a backup, moved to a new server…).
        self.dovecot.recreate_folder(self.account, folder)
        self.deliver(first, folder)
        self.deliver(compose("第二封")[0], folder)
        result = self.poll(mailbox)

        mailbox.refresh_from_db()
        assert mailbox.uid_validity != old_validity
        assert mailbox.uid_validity == self.dovecot.uid_validity(self.account, folder)
        assert (result.fetched, result.created, result.duplicates) == (2, 1, 1)
        assert mailbox.last_uid == 2
        assert sorted(Inquiry.objects.values_list("subject", flat=True)) == ["第一封", "第二封"]

    def test_a_message_that_cannot_be_filed_does_not_stop_the_others_and_is_tried_again(self):
        for subject in ("第一封", "出错的邮件", "第三封"):
            self.deliver(compose(subject)[0])
        real_create = mail_channel.inquiry_create

        def flaky(**kwargs):
            if kwargs["subject"] == "出错的邮件":
                raise RuntimeError("database is locked")
            return real_create(**kwargs)

        with mock.patch.object(mail_channel, "inquiry_create", side_effect=flaky):
            result = self.poll()

        assert (result.created, result.failed) == (2, 1)
        self.mailbox.refresh_from_db()
        assert self.mailbox.last_uid == 1  # not past the message that failed
        assert "UID 2" in self.mailbox.last_error
        assert "database is locked" in self.mailbox.last_error

        again = self.poll()

        assert (again.created, again.duplicates, again.failed) == (1, 1, 0)
        self.mailbox.refresh_from_db()
        assert (self.mailbox.last_uid, self.mailbox.last_error) == (3, "")
        assert Inquiry.objects.count() == 3

    def test_a_wrong_password_is_kept_as_the_last_error_and_the_other_mailboxes_are_polled(self):
        wrong = self.make_mailbox(self.account, password="not-the-password")
        self.deliver(compose()[0])

        totals = mailboxes_poll.call()

        wrong.refresh_from_db()
        assert "邮件服务器拒绝了用户名或密码" in wrong.last_error
        assert wrong.last_polled_at is not None
        assert (wrong.last_uid, wrong.uid_validity) == (0, None)
        self.mailbox.refresh_from_db()
        assert self.mailbox.last_error == ""
        assert (totals["created"], totals["mailboxes"], totals["mailbox_errors"]) == (1, 2, 1)
        assert Inquiry.objects.get().mailbox == self.mailbox

    def test_an_unreachable_server_is_kept_as_the_last_error(self):
        Mailbox.objects.filter(pk=self.mailbox.pk).update(port=free_port())

        result = self.poll()

        self.mailbox.refresh_from_db()
        assert result.error == self.mailbox.last_error
        assert self.mailbox.last_error.startswith("无法连接")

    def test_inactive_mailboxes_are_not_polled(self):
        Mailbox.objects.filter(pk=self.mailbox.pk).update(is_active=False)
        self.deliver(compose()[0])

        totals = mailboxes_poll.call()

        assert totals["mailboxes"] == 0
        assert not Inquiry.objects.exists()


class ThreadingTests(MailTestCase):
    def test_a_reply_goes_out_threaded_and_the_customers_answer_joins_the_same_inquiry(self):
        smtp = self.use_smtp()
        raw, question_id = compose()
        self.deliver(raw)
        self.poll()
        inquiry = Inquiry.objects.get()

        sent = reply_email_send(inquiry=inquiry, body="王女士您好：地下车位售价为每个 15 万元。")

        [received] = smtp.messages
        message = received.message
        assert received.rcpt_tos == [CUSTOMER]
        assert str(message["Subject"]) == f"Re: 咨询车位价格 [{inquiry.number}]"
        assert message["From"].addresses[0].addr_spec == self.account
        assert message["From"].addresses[0].display_name == "营销部客户中心"
        assert str(message["Message-ID"]) == sent.message_id
        assert sent.message_id.endswith("@developer.example>")
        assert str(message["In-Reply-To"]) == question_id == sent.in_reply_to
        assert str(message["References"]) == question_id
        assert message.get_content().strip() == "王女士您好：地下车位售价为每个 15 万元。"
        # What inquiries.replies.reply_send records when the mail has gone.
        now = timezone.now()
        InquiryMessage.objects.create(
            inquiry=inquiry,
            kind=MessageKind.REPLY,
            body="王女士您好：地下车位售价为每个 15 万元。",
            message_id=sent.message_id,
            in_reply_to=sent.in_reply_to,
            references=sent.references,
            created_at=now,
        )
        inquiry_mark_replied(inquiry, now)

        # The customer answers our reply from their mail program.
        answer, answer_id = compose(
            subject=f"Re: {message['Subject']}",
            body="谢谢。请问可以分期付款吗？",
            in_reply_to=str(message["Message-ID"]),
            references=f"{message['References']} {message['Message-ID']}",
        )
        self.deliver(answer)
        result = self.poll()

        assert (result.created, result.followups) == (0, 1)
        inquiry.refresh_from_db()
        questions = inquiry.messages.filter(kind=MessageKind.QUESTION).order_by("created_at", "pk")
        assert [q.body for q in questions] == [
            "您好，请问地下车位现在的售价是多少？",
            "谢谢。请问可以分期付款吗？",
        ]
        assert questions[1].in_reply_to == sent.message_id
        assert inquiry.status in (InquiryStatus.NEW, InquiryStatus.ASSIGNED)  # open again
        assert inquiry.replied_at is None
        assert inquiry.due_at is not None and inquiry.due_at > now

        # The next reply answers the customer's latest message and carries the whole chain.
        second = reply_email_send(inquiry=inquiry, body="可以，首付三成。")
        assert second.in_reply_to == answer_id
        assert second.references == f"{question_id} {sent.message_id} {answer_id}"
        assert str(smtp.messages[1].message["References"]) == second.references
        assert str(smtp.messages[1].message["Subject"]) == f"Re: 咨询车位价格 [{inquiry.number}]"

    def test_our_number_in_the_subject_threads_mail_from_the_same_sender_only(self):
        self.deliver(compose()[0])
        self.poll()
        inquiry = Inquiry.objects.get()
        tagged = f"补充 [{inquiry.number}]"

        self.deliver(compose(tagged, "补充：我想要两个车位。")[0])
        self.deliver(compose(tagged, "我不是这位客户。", sender="stranger@else.example")[0])
        result = self.poll()

        assert (result.followups, result.created) == (1, 1)
        assert list(
            inquiry.messages.filter(kind=MessageKind.QUESTION).values_list("body", flat=True)
        ) == ["您好，请问地下车位现在的售价是多少？", "补充：我想要两个车位。"]
        assert Inquiry.objects.exclude(pk=inquiry.pk).get().author_email == "stranger@else.example"


class ReplySendTests(MailTestCase):
    """Replies through Django's test mail outbox (locmem) unless a test needs a real server."""

    def web_inquiry(self, **extra) -> Inquiry:
        return inquiry_create(
            actor=None,
            channel=InquiryChannel.WEB,
            subject=extra.pop("subject", "Re: 关于车位"),
            body="车位还有吗？",
            author_name="钱先生",
            **extra,
        )

    def test_the_reply_goes_to_the_customers_primary_contact_when_the_question_had_no_address(
        self,
    ):
        from django.core import mail

        inquiry = self.web_inquiry(author_phone="13907910001")
        inquiry.customer.contacts.update(email="qian@customer.example")

        sent = reply_email_send(inquiry=inquiry, body="还有少量车位。")

        [message] = mail.outbox
        assert message.to == ["qian@customer.example"] == [sent.to]
        assert message.subject == f"Re: 关于车位 [{inquiry.number}]"  # no "Re: Re:"
        assert (sent.in_reply_to, sent.references) == ("", "")
        assert "In-Reply-To" not in message.extra_headers
        # No mailbox serves a web inquiry: the first active one sends.
        assert message.from_email.endswith(f"<{self.account}>")

    def test_a_customer_without_an_address_cannot_be_mailed(self):
        inquiry = self.web_inquiry(author_phone="13907910002")

        with self.assertRaises(ValidationError) as caught:
            reply_email_send(inquiry=inquiry, body="您好")

        assert caught.exception.messages == ["没有客户的电子邮箱"]

    def test_a_mail_server_that_cannot_be_reached_gives_a_chinese_error(self):
        inquiry = self.web_inquiry(author_email="qian@customer.example")

        with (
            override_settings(
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=free_port(),
            ),
            self.assertRaises(ValidationError) as caught,
        ):
            reply_email_send(inquiry=inquiry, body="您好")

        assert caught.exception.messages[0].startswith("邮件发送失败")

    def test_a_staff_member_may_sign_the_reply_in_their_own_name(self):
        smtp = self.use_smtp()
        inquiry = self.web_inquiry(author_email="qian@customer.example")

        reply_email_send(inquiry=inquiry, body="您好", display_name="张丽（营销部客户中心）")

        sender = smtp.messages[0].message["From"].addresses[0]
        assert (sender.display_name, sender.addr_spec) == ("张丽（营销部客户中心）", self.account)


class MailboxPasswordTests(MailTestCase):
    def test_the_password_is_stored_encrypted_and_its_change_audited_without_it(self):
        mailbox_set_password(
            actor=self.users["supervisor"], mailbox=self.mailbox, password="New-Secret-1"
        )

        self.mailbox.refresh_from_db()
        assert "New-Secret-1" not in self.mailbox.password_encrypted
        assert mailbox_password(self.mailbox) == "New-Secret-1"
        entry = AuditEntry.objects.filter(action="mailbox.password").latest("pk")
        assert entry.actor_id == self.users["supervisor"].pk
        assert "New-Secret-1" not in str(entry.changes)

    def test_only_who_may_change_mailboxes_sets_the_password(self):
        for persona in ("agent", "responder", "market_manager", "outsider"):
            with self.assertRaises(PermissionDenied):
                mailbox_set_password(
                    actor=self.users[persona], mailbox=self.mailbox, password="x-Secret-2"
                )
        assert mailbox_password(self.mailbox) == DESK_PASSWORD


class MailboxAdminTests(MailTestCase):
    def request(self, persona: str = "supervisor"):
        request = RequestFactory().post("/admin/inquiries/mailbox/")
        request.user = self.users[persona]
        request._messages = CookieStorage(request)
        return request

    def form_data(self, **changes):
        return {
            "name": "客服邮箱",
            "address": self.account,
            "host": self.dovecot.host,
            "port": self.dovecot.port,
            "security": MailSecurity.NONE,
            "username": self.account,
            "password": "",
            "folder": "INBOX",
            "project": "",
            "is_active": "on",
            **changes,
        }

    def test_a_new_mailbox_needs_a_password_which_is_stored_encrypted_and_never_shown(self):
        missing = MailboxAdminForm(data=self.form_data())
        assert not missing.is_valid()
        assert missing.errors["password"] == ["请输入邮箱密码。"]

        form = MailboxAdminForm(data=self.form_data(password=DESK_PASSWORD))
        assert form.is_valid(), form.errors
        admin = MailboxAdmin(Mailbox, AdminSite())
        request = self.request()
        mailbox = form.save(commit=False)
        admin.save_model(request, mailbox, form, change=False)
        admin.save_related(request, form, [], change=False)

        mailbox.refresh_from_db()
        assert mailbox_password(mailbox) == DESK_PASSWORD
        edit = MailboxAdminForm(instance=mailbox)
        assert DESK_PASSWORD not in edit.as_p()
        # Editing other fields keeps the password.
        keep = MailboxAdminForm(data=self.form_data(name="改名"), instance=mailbox)
        assert keep.is_valid(), keep.errors
        admin.save_model(request, keep.save(commit=False), keep, change=True)
        admin.save_related(request, keep, [], change=True)
        mailbox.refresh_from_db()
        assert (mailbox.name, mailbox_password(mailbox)) == ("改名", DESK_PASSWORD)
        audited = AuditEntry.objects.filter(object_id=str(mailbox.pk))
        assert set(audited.values_list("action", flat=True)) >= {
            "mailbox.create",
            "mailbox.update",
            "mailbox.password",
        }
        assert DESK_PASSWORD not in str(list(audited.values_list("changes", flat=True)))

    def test_poll_now_reads_the_mailbox_and_says_what_it_found(self):
        self.deliver(compose()[0])
        broken = self.make_mailbox(self.account, password="wrong-password")
        admin = MailboxAdmin(Mailbox, AdminSite())
        request = self.request()

        poll_now(admin, request, Mailbox.objects.filter(pk__in=[self.mailbox.pk, broken.pk]))

        texts = sorted(str(m) for m in get_messages(request))
        assert any("收取 1 封邮件，新建 1 个问题" in t for t in texts), texts
        assert any("邮件服务器拒绝了用户名或密码" in t for t in texts), texts
        assert Inquiry.objects.count() == 1

    def test_the_list_shows_when_each_mailbox_was_last_polled_and_its_last_error(self):
        admin = MailboxAdmin(Mailbox, AdminSite())
        assert admin.list_display == (
            "name",
            "address",
            "project",
            "is_active",
            "last_polled_at",
            "last_error",
        )
        assert poll_now in admin.actions


def _b64(data: bytes) -> bytes:
    import base64

    return base64.b64encode(data)
