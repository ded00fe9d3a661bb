"""Notices to customers (客户通知): the audience (a segment, projects, districts, tags, statuses)
counted as the preview shows it, a delivery row per recipient × channel, scheduled sending at
its time, no duplicate on a second run, failures kept and retried, and the pages."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AuditEntry
from customers.models import Contact, Customer, CustomerStatus, Tag
from customers.segments import segment_preview, segment_save
from customers.tests.factories import make_contact, make_customer
from inquiries.gateways import GatewayError, LoggingGateway, gateway_for
from inquiries.models import (
    DeliveryChannel,
    DeliveryStatus,
    Notice,
    NoticeAttachment,
    NoticeDelivery,
    NoticeStatus,
    Project,
)
from inquiries.notices import (
    notice_attach,
    notice_cancel,
    notice_preview,
    notice_retry_failed,
    notice_save,
    notice_schedule,
    notice_send,
    notices_send_due,
)
from ruwang.testing import STRONG_PASSWORD, PersonaTestCase, make_regions, make_user

VIEWERS = ["agent", "supervisor", "market_manager"]
SENDERS = ["agent", "supervisor"]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class RefusingGateway:
    """A provider that turns every message down."""

    def __init__(self, channel: str = "") -> None:
        self.channel = channel

    def send(self, to: str, text: str) -> str:
        raise GatewayError(f"账户余额不足 ({to})")


class NoticeWorld(PersonaTestCase):
    """In Nanchang: 甲业主 (primary contact with e-mail and mobile, tagged 业主, in project
    滨江一期, the market persona's, so the department's), 乙业主 (primary contact without e-mail
    or mobile, a second contact with an e-mail). In Jiujiang: 丙业主 (no contact at all) and
    丁商户 (active, mobile only). The segment 南昌客户 holds the Nanchang customers."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.owner_tag = Tag.objects.create(name="业主")
        cls.project = Project.objects.create(code="binjiang-1", name="滨江一期")
        cls.jia = make_customer("甲业主", cls.regions["360102"], owner=cls.users["market"])
        make_contact(
            cls.jia, name="甲先生", email="jia@example.com", mobile="13800001111", is_primary=True
        )
        cls.jia.tags.add(cls.owner_tag)
        cls.project.customers.add(cls.jia)
        cls.yi = make_customer("乙业主", cls.regions["360103"])
        make_contact(cls.yi, name="乙先生", is_primary=True, landline="0791-8888888")
        make_contact(cls.yi, name="乙太太", email="yi@example.com")
        cls.bing = make_customer("丙业主", cls.regions["360402"])
        cls.ding = make_customer("丁商户", cls.regions["360402"])
        make_contact(cls.ding, name="丁老板", mobile="13900002222", is_primary=True)
        Customer.objects.filter(pk=cls.ding.pk).update(status=CustomerStatus.ACTIVE)
        cls.segment = segment_save(
            actor=cls.users["agent"],
            segment=None,
            name="南昌客户",
            description="",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [cls.regions["360100"].pk]}],
            },
            is_shared=True,
        )

    def setUp(self) -> None:
        LoggingGateway.sent.clear()

    def draft(self, actor: str = "agent", **changes: Any) -> Notice:
        data: dict[str, Any] = {
            "title": "停水通知",
            "body": "3月5日 9:00-12:00 小区停水检修。",
            "project": None,
            "audience": {"segment": self.segment.pk},
            "channels": [DeliveryChannel.EMAIL, DeliveryChannel.SMS],
            "is_public": False,
            "scheduled_for": None,
        }
        data.update(changes)
        return notice_save(actor=self.users[actor], notice=None, **data)

    def attach(self, notice: Notice) -> NoticeAttachment:
        return notice_attach(
            actor=self.users["agent"],
            notice=notice,
            name="停水.pdf",
            fileobj=io.BytesIO(PDF),
            size=len(PDF),
        )

    def log(self, notice: Notice) -> dict[tuple[str, str], NoticeDelivery]:
        return {
            (d.customer.name, d.channel): d
            for d in NoticeDelivery.objects.filter(notice=notice).select_related("customer")
        }


class AudienceTests(NoticeWorld):
    def test_notice_to_a_segment_reaches_exactly_the_segments_preview_customers(self):
        agent = self.users["agent"]
        preview = segment_preview(agent, self.segment.definition, size=100)
        notice = notice_send(actor=agent, notice=self.draft())
        delivered = set(notice.deliveries.values_list("customer_id", flat=True))
        assert delivered == {c.pk for c in preview.rows}
        assert delivered == {self.jia.pk, self.yi.pk}
        assert notice.recipient_count == preview.count == 2

    def test_preview_counts_every_criterion_together(self):
        agent = self.users["agent"]

        def count(**audience: Any) -> int:
            return notice_preview(user=agent, audience=audience).count

        assert count(regions=[self.regions["360400"].pk]) == 2
        assert count(regions=[self.regions["360000"].pk], statuses=["active"]) == 1
        assert count(tags=[self.owner_tag.pk]) == 1
        assert count(projects=[self.project.pk]) == 1
        assert count(segment=self.segment.pk, tags=[self.owner_tag.pk]) == 1
        assert count(statuses=["prospect", "active"]) == 4

    def test_recipients_are_only_customers_the_sender_may_see(self):
        # The supervisor sees the department's customers: 甲业主 alone.
        notice = notice_send(actor=self.users["supervisor"], notice=self.draft("supervisor"))
        assert set(notice.deliveries.values_list("customer__name", flat=True)) == {"甲业主"}

    def test_the_audience_must_be_given_and_exist(self):
        with self.assertRaises(ValidationError) as caught:
            self.draft(audience={})
        assert "请选择收件对象" in caught.exception.message_dict["audience"][0]
        with self.assertRaises(ValidationError) as caught:
            self.draft(audience={"tags": [999_999], "statuses": ["asleep"]})
        assert set(caught.exception.message_dict) == {"tags", "statuses"}

    def test_another_persons_private_segment_cannot_be_used(self):
        private = segment_save(
            actor=self.users["supervisor"],
            segment=None,
            name="我的私有细分",
            description="",
            definition={"op": "and", "items": [{"field": "status", "values": ["active"]}]},
            is_shared=False,
        )
        with self.assertRaises(ValidationError) as caught:
            self.draft(audience={"segment": private.pk})
        assert "无权使用" in caught.exception.message_dict["segment"][0]


class ComposeTests(NoticeWorld):
    def test_title_body_and_a_channel_are_required(self):
        with self.assertRaises(ValidationError) as caught:
            self.draft(title=" ", body="", channels=[])
        errors = caught.exception.message_dict
        assert errors["title"] == ["这个字段是必填项。"]
        assert errors["channels"] == ["请至少选择一种发送方式。"]
        assert not Notice.objects.exists()

    @time_machine.travel(NOW, tick=False)
    def test_scheduled_time_must_be_in_the_future(self):
        with self.assertRaises(ValidationError) as caught:
            self.draft(scheduled_for=NOW - dt.timedelta(minutes=1))
        assert caught.exception.message_dict["scheduled_for"] == ["发送时间必须晚于现在。"]
        notice = self.draft()
        with self.assertRaises(ValidationError):
            notice_schedule(actor=self.users["agent"], notice=notice, at=NOW)

    def test_public_notice_needs_a_project(self):
        with self.assertRaises(ValidationError) as caught:
            self.draft(is_public=True)
        assert "is_public" in caught.exception.message_dict
        assert self.draft(is_public=True, project=self.project).is_public

    def test_composing_is_audited_and_needs_the_permissions(self):
        notice = self.draft()
        assert AuditEntry.objects.filter(action="notice.create", object_id=str(notice.pk)).exists()
        with self.assertRaises(PermissionDenied):
            self.draft("market_manager")
        with self.assertRaises(PermissionDenied):
            notice_send(actor=self.users["market_manager"], notice=notice)

    def test_attachments_are_checked_and_limited(self):
        notice = self.draft()
        attached = notice_attach(
            actor=self.users["agent"],
            notice=notice,
            name="停水.pdf",
            fileobj=io.BytesIO(PDF),
            size=len(PDF),
        )
        assert attached.content_type == "application/pdf"
        with self.assertRaises(ValidationError) as caught:
            notice_attach(
                actor=self.users["agent"],
                notice=notice,
                name="virus.pdf",
                fileobj=io.BytesIO(b"MZ\x90\x00" + b"\x00" * 100),
                size=104,
            )
        assert "attachments" in caught.exception.message_dict
        assert notice.attachments.count() == 1


class SendTests(NoticeWorld):
    def test_delivery_log_has_a_row_per_recipient_and_channel(self):
        regions = [self.regions["360000"].pk]
        notice = notice_send(
            actor=self.users["agent"], notice=self.draft(audience={"regions": regions})
        )
        log = self.log(notice)
        assert len(log) == 4 * 2
        assert notice.status == NoticeStatus.SENT
        assert notice.sent_at is not None
        # E-mail: the primary contact's address, else another contact's; none: no_address.
        assert log[("甲业主", "email")].address == "jia@example.com"
        assert log[("乙业主", "email")].address == "yi@example.com"
        assert log[("乙业主", "email")].status == DeliveryStatus.SENT
        assert log[("丙业主", "email")].status == DeliveryStatus.NO_ADDRESS
        assert log[("丙业主", "email")].error == "没有联系人留有电子邮箱。"
        assert log[("丁商户", "email")].status == DeliveryStatus.NO_ADDRESS
        # SMS: the primary contact's mobile.
        assert log[("甲业主", "sms")].address == "13800001111"
        assert log[("丁商户", "sms")].status == DeliveryStatus.SENT
        assert log[("乙业主", "sms")].status == DeliveryStatus.NO_ADDRESS
        assert log[("乙业主", "sms")].contact.name == "乙先生"
        assert sorted(m.to[0] for m in mail.outbox) == ["jia@example.com", "yi@example.com"]
        assert sorted(m.to for m in LoggingGateway.sent) == ["13800001111", "13900002222"]
        assert all(m.channel == "sms" for m in LoggingGateway.sent)
        assert LoggingGateway.sent[0].text.startswith("【营销部客户中心】停水通知：")
        assert all(d.sent_at for d in log.values() if d.status == DeliveryStatus.SENT)

    def test_each_email_goes_to_one_recipient_with_the_attachments(self):
        notice = self.draft(channels=[DeliveryChannel.EMAIL])
        notice_attach(
            actor=self.users["agent"],
            notice=notice,
            name="停水.pdf",
            fileobj=io.BytesIO(PDF),
            size=len(PDF),
        )
        notice_send(actor=self.users["agent"], notice=notice)
        assert len(mail.outbox) == 2
        message = mail.outbox[0]
        assert message.subject == "停水通知"
        assert "小区停水检修" in message.body
        assert message.attachments[0][0] == "停水.pdf"
        assert message.attachments[0][1] == PDF

    def test_wecom_goes_to_the_mobile_too(self):
        notice_send(actor=self.users["agent"], notice=self.draft(channels=[DeliveryChannel.WECOM]))
        assert [(m.channel, m.to) for m in LoggingGateway.sent] == [("wecom", "13800001111")]

    def test_sending_twice_does_not_duplicate(self):
        notice = notice_send(actor=self.users["agent"], notice=self.draft())
        rows = NoticeDelivery.objects.count()
        with self.assertRaises(ValidationError):
            notice_send(actor=self.users["agent"], notice=notice)
        assert NoticeDelivery.objects.count() == rows
        assert len(mail.outbox) == 2

    def test_a_partly_sent_notice_resumes_with_its_pending_rows_only(self):
        notice = notice_send(actor=self.users["agent"], notice=self.draft())
        # As if the worker had stopped before the last e-mail: that row is still pending.
        last = notice.deliveries.filter(channel="email").order_by("pk").last()
        assert last is not None
        NoticeDelivery.objects.filter(pk=last.pk).update(
            status=DeliveryStatus.PENDING, sent_at=None
        )
        Notice.objects.filter(pk=notice.pk).update(status=NoticeStatus.SENDING)
        mail.outbox.clear()
        LoggingGateway.sent.clear()
        notices_send_due.call()
        assert [m.to for m in mail.outbox] == [[last.address]]
        assert LoggingGateway.sent == []
        notice.refresh_from_db()
        assert notice.status == NoticeStatus.SENT
        # Running it again finds nothing to send.
        notices_send_due.call()
        assert len(mail.outbox) == 1

    def test_recipients_are_fixed_when_sending_starts(self):
        notice = notice_send(actor=self.users["agent"], notice=self.draft())
        late = make_customer("戊业主", self.regions["360102"])
        make_contact(late, name="戊", email="wu@example.com", is_primary=True)
        notices_send_due.call()
        assert not notice.deliveries.filter(customer=late).exists()
        assert "wu@example.com" not in [m.to[0] for m in mail.outbox]

    def test_an_audience_matching_nobody_is_not_sent(self):
        notice = self.draft(audience={"tags": [self.owner_tag.pk], "statuses": ["terminated"]})
        with self.assertRaises(ValidationError):
            notice_send(actor=self.users["agent"], notice=notice)
        notice.refresh_from_db()
        assert notice.status == NoticeStatus.DRAFT
        assert not notice.deliveries.exists()

    @override_settings(INQUIRY_SMS_GATEWAY="inquiries.tests.test_notices.RefusingGateway")
    def test_failed_deliveries_keep_the_error_and_can_be_retried(self):
        notice = notice_send(actor=self.users["agent"], notice=self.draft())
        failed = notice.deliveries.get(status=DeliveryStatus.FAILED)
        assert failed.channel == "sms"
        assert "账户余额不足" in failed.error
        assert notice.status == NoticeStatus.SENT  # the rest went out
        with self.settings(INQUIRY_SMS_GATEWAY="inquiries.gateways.LoggingGateway"):
            assert notice_retry_failed(actor=self.users["agent"], notice=notice) == 1
        failed.refresh_from_db()
        assert failed.status == DeliveryStatus.SENT
        assert [m.to for m in LoggingGateway.sent] == ["13800001111"]
        assert len(mail.outbox) == 2  # the e-mails were not sent again

    def test_sending_is_audited(self):
        notice = notice_send(actor=self.users["agent"], notice=self.draft())
        actions = list(
            AuditEntry.objects.filter(object_type="inquiries.notice", object_id=str(notice.pk))
            .order_by("pk")
            .values_list("action", flat=True)
        )
        assert actions == ["notice.create", "notice.send", "notice.sent"]

    def test_cancelled_notice_cannot_be_sent(self):
        notice = notice_cancel(actor=self.users["agent"], notice=self.draft())
        with self.assertRaises(ValidationError):
            notice_send(actor=self.users["agent"], notice=notice)
        assert not NoticeDelivery.objects.exists()

    def test_ten_thousand_recipients_cost_a_bounded_number_of_queries(self):
        district = self.regions["360103"]
        customers = Customer.objects.bulk_create(
            Customer(name=f"批量客户{i}", region=district) for i in range(1200)
        )
        Contact.objects.bulk_create(
            Contact(customer=c, name="联系人", email=f"c{c.pk}@example.com", is_primary=True)
            for c in customers
        )
        notice = self.draft(channels=[DeliveryChannel.EMAIL])
        with CaptureQueriesContext(connection) as queries:
            notice_send(actor=self.users["agent"], notice=notice)
        assert notice.deliveries.count() == 1202
        assert notice.deliveries.filter(status=DeliveryStatus.SENT).count() == 1202
        # Chunks of contacts, batches of rows: far fewer queries than recipients.
        assert len(queries) < 120, len(queries)


class ScheduleTests(NoticeWorld):
    def test_scheduled_notice_is_sent_by_the_task_at_its_time_and_not_before(self):
        at = NOW + dt.timedelta(hours=2)
        with time_machine.travel(NOW, tick=False):
            notice = self.draft(scheduled_for=at)
            notice = notice_schedule(actor=self.users["agent"], notice=notice, at=at)
            assert notice.status == NoticeStatus.SCHEDULED
        with time_machine.travel(at - dt.timedelta(minutes=1), tick=False):
            notices_send_due.call()
            notice.refresh_from_db()
            assert notice.status == NoticeStatus.SCHEDULED
            assert not notice.deliveries.exists()
            assert mail.outbox == []
        with time_machine.travel(at, tick=False):
            counts = notices_send_due.call()
        notice.refresh_from_db()
        assert counts["sent"] == 1
        assert notice.status == NoticeStatus.SENT
        assert notice.sent_at == at
        assert notice.deliveries.count() == 4
        assert len(mail.outbox) == 2

    def test_a_scheduled_notice_can_be_unscheduled_or_cancelled(self):
        at = timezone.now() + dt.timedelta(days=1)
        notice = notice_schedule(actor=self.users["agent"], notice=self.draft(), at=at)
        notice = notice_schedule(actor=self.users["agent"], notice=notice, at=None)
        assert notice.status == NoticeStatus.DRAFT
        notice = notice_schedule(actor=self.users["agent"], notice=notice, at=at)
        notice = notice_cancel(actor=self.users["supervisor"], notice=notice)
        assert notice.status == NoticeStatus.CANCELLED
        with time_machine.travel(at + dt.timedelta(minutes=1), tick=False):
            notices_send_due.call()
        assert not NoticeDelivery.objects.exists()

    def test_a_scheduled_notice_whose_author_left_returns_to_draft(self):
        at = timezone.now() + dt.timedelta(hours=1)
        notice = notice_schedule(actor=self.users["agent"], notice=self.draft(), at=at)
        author = self.users["agent"]
        author.is_active = False
        author.save(update_fields=["is_active"])
        with time_machine.travel(at, tick=False):
            counts = notices_send_due.call()
        notice.refresh_from_db()
        assert counts == {"failed": 1}
        assert notice.status == NoticeStatus.DRAFT
        assert AuditEntry.objects.filter(action="notice.schedule_failed").exists()


class GatewayTests(NoticeWorld):
    def test_gateways_come_from_the_settings(self):
        assert isinstance(gateway_for("sms"), LoggingGateway)
        with self.settings(INQUIRY_WECOM_GATEWAY="inquiries.tests.test_notices.RefusingGateway"):
            assert isinstance(gateway_for("wecom"), RefusingGateway)
        with (
            self.settings(INQUIRY_SMS_GATEWAY="nowhere.Gateway"),
            self.assertRaises(ImproperlyConfigured),
        ):
            gateway_for("sms")

    def test_logging_gateway_keeps_what_it_sent(self):
        message_id = gateway_for("sms").send("13800001111", "你好")
        assert LoggingGateway.sent[-1].message_id == message_id
        with self.assertRaises(GatewayError):
            gateway_for("sms").send(" ", "你好")


class PageTests(NoticeWorld):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.notice = notice_save(
            actor=cls.users["agent"],
            notice=None,
            title="交房通知",
            body="<script>alert(1)</script>请按时办理交房。",
            project=cls.project,
            audience={"regions": [cls.regions["360000"].pk]},
            channels=[DeliveryChannel.EMAIL, DeliveryChannel.SMS],
            is_public=True,
            scheduled_for=None,
        )
        notice_attach(
            actor=cls.users["agent"],
            notice=cls.notice,
            name="交房须知.pdf",
            fileobj=io.BytesIO(PDF),
            size=len(PDF),
        )

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"inquiries:{name}", args=args)

    def test_who_may_open_the_notice_pages(self):
        pk = self.notice.pk
        file_pk = self.notice.attachments.get().pk
        self.assert_access(self.url("notices"), allowed=VIEWERS)
        self.assert_access(self.url("notice", pk), allowed=VIEWERS)
        self.assert_access(self.url("notice_deliveries_export", pk), allowed=VIEWERS)
        self.assert_access(self.url("notice_file", pk, file_pk), allowed=VIEWERS)
        self.assert_access(self.url("notice_create"), allowed=SENDERS)
        self.assert_access(self.url("notice_edit", pk), allowed=SENDERS)
        self.assert_access(
            self.url("notice_audience"), allowed=SENDERS, data={"statuses": ["active"]}
        )
        for action in ("notice_schedule", "notice_retry"):
            self.assert_access(
                self.url(action, pk),
                allowed=SENDERS,
                method="post",
                data={"scheduled_for": "2099-01-01T09:00"},
                ok_status=(302,),
            )

    def test_who_may_send_and_cancel(self):
        draft = self.draft()
        self.assert_access(
            self.url("notice_cancel", draft.pk), allowed=SENDERS, method="post", ok_status=(302,)
        )
        draft.refresh_from_db()
        assert draft.status == NoticeStatus.CANCELLED
        self.assert_access(
            self.url("notice_send", self.notice.pk),
            allowed=SENDERS,
            method="post",
            ok_status=(302,),
        )
        assert NoticeDelivery.objects.filter(notice=self.notice).count() == 8

    def test_list_shows_notices_with_their_status(self):
        response = self.client_as("market_manager").get(self.url("notices"))
        self.assertContains(response, "交房通知")
        self.assertContains(response, 'data-status="draft"')
        self.assertContains(response, "草稿")
        self.assertNotContains(response, self.url("notice_create"))

    def test_composing_and_sending_from_the_page(self):
        client = self.client_as("agent")
        upload = SimpleUploadedFile("须知.pdf", PDF, content_type="application/pdf")
        response = client.post(
            self.url("notice_create"),
            {
                "title": "物业费通知",
                "body": "请于月底前缴纳物业费。",
                "channels": ["email"],
                "segment": str(self.segment.pk),
                "attachments": [upload],
                "action": "send",
            },
        )
        notice = Notice.objects.get(title="物业费通知")
        self.assertRedirects(response, self.url("notice", notice.pk))
        assert notice.status == NoticeStatus.SENT
        assert notice.attachments.count() == 1
        assert len(mail.outbox) == 2
        page = client.get(self.url("notice", notice.pk))
        self.assertContains(page, 'data-delivery-status="sent" data-count="2"')

    def test_compose_errors_are_shown_in_chinese_and_nothing_is_saved(self):
        response = self.client_as("agent").post(
            self.url("notice_create"),
            {"title": "标题", "body": "正文", "channels": [], "action": "save"},
        )
        assert response.status_code == 200
        self.assertContains(response, "请至少选择一种发送方式。")
        self.assertContains(response, "请选择收件对象")
        assert not Notice.objects.filter(body="正文").exists()

    def test_a_refused_attachment_saves_nothing(self):
        upload = SimpleUploadedFile("setup.pdf", b"MZ\x90\x00" + b"\x00" * 100)
        response = self.client_as("agent").post(
            self.url("notice_create"),
            {
                "title": "带病毒",
                "body": "正文",
                "channels": ["email"],
                "statuses": ["active"],
                "attachments": [upload],
                "action": "save",
            },
        )
        assert response.status_code == 200
        self.assertContains(response, "is-invalid")
        assert not Notice.objects.filter(title="带病毒").exists()

    def test_live_recipient_count_follows_the_audience(self):
        client = self.client_as("agent")
        response = client.get(
            self.url("notice_audience"),
            {"regions": [str(self.regions["360400"].pk)], "statuses": ["active"]},
            HTTP_HX_REQUEST="true",
        )
        self.assertContains(response, 'data-count="1"')
        self.assertContains(response, "丁商户")
        empty = client.get(self.url("notice_audience"), HTTP_HX_REQUEST="true")
        self.assertContains(empty, "请选择收件对象")

    def test_scheduling_from_the_notice_page(self):
        response = self.client_as("supervisor").post(
            self.url("notice_schedule", self.notice.pk), {"scheduled_for": "2099-01-01T09:00"}
        )
        self.assertRedirects(response, self.url("notice", self.notice.pk))
        self.notice.refresh_from_db()
        assert self.notice.status == NoticeStatus.SCHEDULED
        assert timezone.localtime(self.notice.scheduled_for).hour == 9

    def test_delivery_log_masks_phones_unless_the_viewer_may_reveal(self):
        notice_send(actor=self.users["agent"], notice=self.notice)
        masked = self.client_as("agent").get(self.url("notice", self.notice.pk))
        self.assertContains(masked, "138****1111")
        self.assertNotContains(masked, "13800001111")
        # The body is shown as text, never run.
        self.assertContains(masked, "&lt;script&gt;alert(1)&lt;/script&gt;")
        clear = self.client_as("supervisor").get(self.url("notice", self.notice.pk))
        self.assertContains(clear, "13800001111")
        # The supervisor sees 甲业主 only; the other three customers' rows are left out.
        self.assertNotContains(clear, "丁商户")
        self.assertContains(clear, "另有 6 条发给您无权查看的客户的记录未列出。")

    def test_delivery_log_filters_by_status(self):
        notice_send(actor=self.users["agent"], notice=self.notice)
        response = self.client_as("agent").get(
            self.url("notice", self.notice.pk), {"status": "no_address"}
        )
        rows = response.context["rows"]
        assert {d.status for d, *_rest in rows} == {DeliveryStatus.NO_ADDRESS}
        assert len(rows) == 4

    def test_delivery_log_export(self):
        notice_send(actor=self.users["agent"], notice=self.notice)
        response = self.client_as("agent").get(self.url("notice_deliveries_export", self.notice.pk))
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) == 1 + 8
        assert rows_for(rows, "甲业主", "短信") == (
            "甲业主",
            "短信",
            "甲先生",
            "138****1111",
            "已发送",
        )
        assert AuditEntry.objects.filter(action="notice.export_deliveries").exists()

    def test_removing_an_attachment(self):
        attachment = self.notice.attachments.get()
        url = self.url("notice_file_remove", self.notice.pk, attachment.pk)
        assert self.client_as("market_manager").post(url).status_code == 403
        response = self.client_as("agent").post(url)
        self.assertRedirects(response, self.url("notice_edit", self.notice.pk))
        assert not self.notice.attachments.exists()

    def test_list_and_log_pages_cost_the_same_queries_whatever_their_length(self):
        client = self.client_as("agent")

        def queries(url: str) -> int:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            return len(captured)

        notice_send(actor=self.users["agent"], notice=self.notice)
        client.get(self.url("notices"))  # the session is saved on the first request only
        few = queries(self.url("notices")), queries(self.url("notice", self.notice.pk))
        for n in range(5):
            self.draft(title=f"通知{n}")
        extra = make_customer("庚业主", self.regions["360102"])
        make_contact(extra, name="庚", email="geng@example.com", mobile="13700003333")
        more = notice_send(
            actor=self.users["agent"],
            notice=self.draft(audience={"regions": [self.regions["360000"].pk]}),
        )
        many = queries(self.url("notices")), queries(self.url("notice", more.pk))
        assert many == few

    def test_a_sent_notice_cannot_be_edited(self):
        notice_send(actor=self.users["agent"], notice=self.notice)
        response = self.client_as("agent").get(self.url("notice_edit", self.notice.pk))
        self.assertRedirects(response, self.url("notice", self.notice.pk))


def rows_for(rows: list[tuple[Any, ...]], customer: str, channel: str) -> tuple[Any, ...]:
    found = [r for r in rows if r[0] == customer and r[1] == channel]
    assert len(found) == 1, found
    return found[0][:5]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_agent_composes_a_notice_watching_the_recipient_count(page, live_server):
    regions = make_regions()
    make_user("composer", "customer_centre_agent")
    hospital = make_customer("东湖医院", regions["360102"])
    make_contact(hospital, name="李主任", email="li@example.com", is_primary=True)
    make_customer("九江商场", regions["360402"])
    Customer.objects.filter(pk=hospital.pk).update(status=CustomerStatus.ACTIVE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "composer")
    page.fill("#id_password", STRONG_PASSWORD)
    page.click("#rw-main form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}{reverse('inquiries:notice_create')}")
    page.fill("#id_title", "消防演练通知")
    page.fill("#id_body", "本周五下午三点进行消防演练。")
    page.check("input[name=statuses][value=prospect]")
    page.wait_for_selector("#rw-notice-recipients[data-count='1']")
    page.check("input[name=statuses][value=active]")
    page.wait_for_selector("#rw-notice-recipients[data-count='2']")
    page.select_option("#id_regions", str(regions["360100"].pk))
    page.wait_for_selector("#rw-notice-recipients[data-count='1']")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#rw-notice-send")
    page.wait_for_selector("#rw-delivery-table")
    assert "li@example.com" in page.inner_text("#rw-delivery-table")
    assert page.get_attribute("[data-delivery-status=sent]", "data-count") == "1"
    assert [m.to for m in mail.outbox] == [["li@example.com"]]
