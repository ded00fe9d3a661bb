"""Replies to inquiries: drafted, reviewed by a supervisor when the inquiry is contentious, sent
by e-mail in the company's or the staff member's name, or recorded as posted on another site;
every step audited; the reply clock stops when the reply goes out."""

from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from inquiries import replies, services
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    Inquiry,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Reply,
    ReplyStatus,
    ReplyTemplate,
    SignAs,
)
from ruwang.testing import PersonaTestCase, make_regions
from service.models import Team, TeamMember
from workflow.models import Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")
ASKED = dt.datetime(2026, 5, 11, 9, 0, tzinfo=SHANGHAI)
COMPANY = "营销部客户中心"


def sender_name(message: mail.EmailMessage) -> str:
    """The display name of the From: header, RFC 2047 decoded."""
    return str(make_header(decode_header(parseaddr(message.from_email)[0])))


class ReplyWorld(PersonaTestCase):
    """The customer centre (agent answers; the supervisor leads it and sees its inquiries)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        make_regions()
        inquiry_defaults_ensure()
        cls.centre = Team.objects.get(code="customer-centre")
        cls.centre.lead = cls.users["supervisor"]
        cls.centre.save(update_fields=["lead"])
        TeamMember.objects.create(team=cls.centre, user=cls.users["agent"])
        TeamMember.objects.create(
            team=cls.centre, user=cls.users["supervisor"], takes_tickets=False
        )

    def ask(self, body: str = "请问交房时间是什么时候？", **extra: object) -> Inquiry:
        data: dict[str, object] = {
            "channel": InquiryChannel.WEB,
            "subject": "交房时间",
            "author_name": "李女士",
            "author_email": "li@example.com",
        }
        data.update(extra)
        with time_machine.travel(ASKED, tick=False):
            return services.inquiry_create(actor=None, body=body, **data)  # type: ignore[arg-type]

    def draft(self, inquiry: Inquiry, persona: str = "agent", **extra: str) -> Reply:
        return replies.reply_save(
            actor=self.users[persona],
            inquiry=inquiry,
            body=extra.get("body", "您好，预计六月底交房。"),
            sign_as=extra.get("sign_as", SignAs.COMPANY),
        )

    def actions(self, reply: Reply) -> list[str]:
        return list(
            AuditEntry.objects.filter(object_type="inquiries.reply", object_id=str(reply.pk))
            .order_by("id")
            .values_list("action", flat=True)
        )

    def to_customer(self) -> list[mail.EmailMessage]:
        return [m for m in mail.outbox if "li@example.com" in m.to]


class PlainReplyTests(ReplyWorld):
    def test_a_reply_to_a_plain_inquiry_is_sent_directly_and_stops_the_clock(self):
        inquiry = self.ask()
        assert inquiry.assignee == self.users["agent"]
        reply = self.draft(inquiry)
        inquiry.refresh_from_db()
        assert inquiry.status == InquiryStatus.DRAFTING

        sent_at = ASKED + dt.timedelta(hours=3)
        with time_machine.travel(sent_at, tick=False):
            replies.reply_send(actor=self.users["agent"], reply=reply)

        [message] = self.to_customer()
        assert "预计六月底交房" in message.body
        assert message.body.rstrip().endswith(COMPANY)
        inquiry.refresh_from_db()
        assert inquiry.status == InquiryStatus.REPLIED
        assert inquiry.replied_at == sent_at
        assert inquiry.first_replied_at == sent_at
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.SENT
        assert reply.sent_by == self.users["agent"]
        entry = InquiryMessage.objects.get(inquiry=inquiry, kind=MessageKind.REPLY)
        assert entry.message_id == message.extra_headers["Message-ID"]
        assert entry.body == replies.final_text(reply)
        assert reply.message == entry

    def test_an_unchanged_save_of_a_draft_changes_nothing(self):
        inquiry = self.ask()
        reply = self.draft(inquiry)
        again = self.draft(inquiry)
        assert again.pk == reply.pk
        assert self.actions(reply) == ["reply.create"]

    def test_a_text_area_s_line_ends_are_stored_as_newlines(self):
        inquiry = self.ask()
        reply = self.draft(inquiry, body="第一行\r\n第二行")
        assert reply.body == "第一行\n第二行"

    def test_an_empty_reply_is_refused_on_the_body(self):
        inquiry = self.ask()
        with pytest.raises(ValidationError) as caught:
            self.draft(inquiry, body="   ")
        assert "body" in caught.value.message_dict

    def test_a_closed_inquiry_takes_no_reply(self):
        inquiry = self.ask()
        services.inquiry_close(actor=self.users["agent"], inquiry=inquiry, reason="重复提问")
        with pytest.raises(ValidationError):
            self.draft(inquiry)


class SignatureTests(ReplyWorld):
    def test_a_reply_signed_as_the_company_carries_the_company_signature(self):
        inquiry = self.ask()
        reply = self.draft(inquiry, sign_as=SignAs.COMPANY)
        replies.reply_send(actor=self.users["agent"], reply=reply)
        [message] = self.to_customer()
        assert message.body.rstrip().endswith(f"\n\n{COMPANY}")
        assert sender_name(message) == COMPANY

    def test_a_reply_signed_as_the_staff_member_carries_their_name_and_the_company(self):
        inquiry = self.ask()
        reply = self.draft(inquiry, sign_as=SignAs.STAFF)
        replies.reply_send(actor=self.users["agent"], reply=reply)
        [message] = self.to_customer()
        assert message.body.rstrip().endswith(f"agent（{COMPANY}）")
        assert sender_name(message) == f"agent（{COMPANY}）"
        entry = InquiryMessage.objects.get(inquiry=inquiry, kind=MessageKind.REPLY)
        assert entry.sender == f"agent（{COMPANY}）"

    def test_a_reply_is_never_signed_in_another_name(self):
        inquiry = self.ask()
        with pytest.raises(ValidationError) as caught:
            self.draft(inquiry, sign_as="customer")
        assert "sign_as" in caught.value.message_dict

    def test_a_template_fills_in_the_customer_the_number_and_the_signature_once(self):
        inquiry = self.ask()
        template = ReplyTemplate.objects.get(name="通用回复")
        text = replies.template_render(template, inquiry, self.users["agent"], SignAs.STAFF)
        assert text.startswith("李女士您好")
        assert inquiry.number in text
        assert text.endswith(f"agent（{COMPANY}）")
        reply = self.draft(inquiry, body=text, sign_as=SignAs.STAFF)
        assert replies.final_text(reply).count(f"agent（{COMPANY}）") == 1

    def test_a_snippet_goes_above_the_signature(self):
        agent = self.users["agent"]
        body = f"您好：\n\n{COMPANY}"
        assert replies.snippet_insert(body, "先关闭总阀。", SignAs.COMPANY, agent) == (
            f"您好：\n\n先关闭总阀。\n\n{COMPANY}"
        )
        assert replies.snippet_insert("您好：", "先关闭总阀。", SignAs.COMPANY, agent) == (
            "您好：\n\n先关闭总阀。"
        )


class ReviewTests(ReplyWorld):
    def contentious(self) -> Inquiry:
        inquiry = self.ask("房子漏水，我要投诉！")
        assert inquiry.contentious
        return inquiry

    def test_a_contentious_reply_cannot_be_sent_before_approval(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry)
        with pytest.raises(ValidationError) as caught:
            replies.reply_send(actor=self.users["agent"], reply=reply)
        assert "主管" in " ".join(caught.value.messages)
        assert self.to_customer() == []
        inquiry.refresh_from_db()
        assert inquiry.status == InquiryStatus.DRAFTING
        assert inquiry.replied_at is None

    def test_a_plain_inquiry_s_reply_is_not_submitted_for_review(self):
        reply = self.draft(self.ask())
        with pytest.raises(ValidationError):
            replies.reply_submit(actor=self.users["agent"], reply=reply)

    def test_submitted_approved_with_edits_then_sent(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry, body="我们会处理。")
        with self.captureOnCommitCallbacks(execute=True):
            replies.reply_submit(actor=self.users["agent"], reply=reply)
        reply.refresh_from_db()
        inquiry.refresh_from_db()
        assert reply.status == ReplyStatus.IN_REVIEW
        assert inquiry.status == InquiryStatus.IN_REVIEW
        asked = Notification.objects.get(kind="inquiry_review")
        assert asked.recipient == self.users["supervisor"]
        assert inquiry.number in asked.text

        # Nothing goes out while the supervisor has not decided.
        with pytest.raises(ValidationError):
            replies.reply_send(actor=self.users["agent"], reply=reply)
        with pytest.raises(ValidationError):
            self.draft(inquiry, body="改一下")

        edited = "非常抱歉给您带来不便，维修人员今天下午上门处理漏水。"
        with self.captureOnCommitCallbacks(execute=True):
            replies.reply_review(
                actor=self.users["supervisor"],
                reply=reply,
                decision="approve",
                comment="语气要诚恳",
                body=edited,
            )
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.APPROVED
        assert reply.reviewer == self.users["supervisor"]
        assert reply.body == edited
        approval = AuditEntry.objects.get(action="reply.approve", object_id=str(reply.pk))
        assert approval.changes["body"] == ["我们会处理。", edited]
        event = InquiryMessage.objects.get(inquiry=inquiry, event="reply_approved")
        assert event.data["edited"] is True
        assert event.data["before"] == "我们会处理。"
        assert Notification.objects.filter(
            kind="inquiry_reply_approved", recipient=self.users["agent"]
        ).exists()

        replies.reply_send(actor=self.users["agent"], reply=reply)
        [message] = self.to_customer()
        assert edited in message.body
        inquiry.refresh_from_db()
        assert inquiry.status == InquiryStatus.REPLIED
        assert self.actions(reply) == [
            "reply.create",
            "reply.submit",
            "reply.approve",
            "reply.send",
        ]

    def test_a_returned_reply_goes_back_to_its_author_with_the_comments(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry)
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        with pytest.raises(ValidationError) as caught:
            replies.reply_review(
                actor=self.users["supervisor"], reply=reply, decision="return", comment=" "
            )
        assert "comment" in caught.value.message_dict

        with self.captureOnCommitCallbacks(execute=True):
            replies.reply_review(
                actor=self.users["supervisor"],
                reply=reply,
                decision="return",
                comment="先核实维修记录再答复",
            )
        reply.refresh_from_db()
        inquiry.refresh_from_db()
        assert reply.status == ReplyStatus.RETURNED
        assert reply.review_comment == "先核实维修记录再答复"
        assert inquiry.status == InquiryStatus.DRAFTING
        told = Notification.objects.get(kind="inquiry_reply_returned")
        assert told.recipient == self.users["agent"]
        assert "先核实维修记录再答复" in told.text
        event = InquiryMessage.objects.get(inquiry=inquiry, event="reply_returned")
        assert event.body == "先核实维修记录再答复"
        with pytest.raises(ValidationError):
            replies.reply_send(actor=self.users["agent"], reply=reply)

        # The author edits it: a draft again, submitted again.
        reply = self.draft(inquiry, body="已核实：维修人员明天上门。")
        assert reply.status == ReplyStatus.DRAFT
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        assert self.actions(reply) == [
            "reply.create",
            "reply.submit",
            "reply.return",
            "reply.update",
            "reply.submit",
        ]

    def test_the_author_cannot_review_their_own_reply(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry, persona="supervisor")
        with self.captureOnCommitCallbacks(execute=True):
            replies.reply_submit(actor=self.users["supervisor"], reply=reply)
        with pytest.raises(ValidationError):
            replies.reply_review(
                actor=self.users["supervisor"], reply=reply, decision="approve", comment=""
            )
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.IN_REVIEW
        # The lead wrote it, so the request for review went to nobody else but other supervisors.
        assert not Notification.objects.filter(
            kind="inquiry_review", recipient=self.users["supervisor"]
        ).exists()

    def test_only_supervisors_review(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry)
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        for persona in ("agent", "responder", "market"):
            with pytest.raises(PermissionDenied):
                replies.reply_review(
                    actor=self.users[persona], reply=reply, decision="approve", comment=""
                )

    def test_editing_an_approved_reply_needs_a_new_approval(self):
        inquiry = self.contentious()
        reply = self.draft(inquiry)
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        replies.reply_review(
            actor=self.users["supervisor"], reply=reply, decision="approve", comment=""
        )
        reply = self.draft(inquiry, body="我改了批准后的文字。")
        assert reply.status == ReplyStatus.DRAFT
        with pytest.raises(ValidationError):
            replies.reply_send(actor=self.users["agent"], reply=reply)

    def test_an_inquiry_marked_contentious_after_drafting_needs_approval(self):
        inquiry = self.ask()
        reply = self.draft(inquiry)
        services.inquiry_set_contentious(
            actor=self.users["agent"], inquiry=inquiry, contentious=True, reason="涉及赔偿承诺"
        )
        with pytest.raises(ValidationError):
            replies.reply_send(actor=self.users["agent"], reply=reply)


class PermissionTests(ReplyWorld):
    def test_staff_without_the_reply_permission_can_neither_save_nor_send(self):
        inquiry = self.ask()
        for persona in ("market", "account_manager", "director", "market_manager"):
            with pytest.raises(PermissionDenied):
                self.draft(inquiry, persona=persona)
        reply = self.draft(inquiry)
        for persona in ("market", "account_manager", "director"):
            with pytest.raises(PermissionDenied):
                replies.reply_send(actor=self.users[persona], reply=reply)
        assert self.to_customer() == []

    def test_a_responder_outside_the_team_cannot_answer(self):
        inquiry = self.ask()
        with pytest.raises(PermissionDenied):
            self.draft(inquiry, persona="responder")


class PostedReplyTests(ReplyWorld):
    def forum_question(self) -> Inquiry:
        return self.ask(
            "小区停车位什么时候开始卖？",
            channel=InquiryChannel.FORUM,
            author_email="",
            source_site="业主论坛",
            author_handle="老王",
        )

    def test_a_posted_channel_reply_is_recorded_with_the_url_not_e_mailed(self):
        inquiry = self.forum_question()
        reply = self.draft(inquiry)
        with pytest.raises(ValidationError):
            replies.reply_send(actor=self.users["agent"], reply=reply)
        for bad in ("", "   ", "javascript:alert(1)", "论坛第3页"):
            with pytest.raises(ValidationError) as caught:
                replies.reply_mark_posted(actor=self.users["agent"], reply=reply, posted_url=bad)
            assert "posted_url" in caught.value.message_dict

        at = ASKED + dt.timedelta(hours=5)
        with time_machine.travel(at, tick=False):
            replies.reply_mark_posted(
                actor=self.users["agent"],
                reply=reply,
                posted_url="https://bbs.example.com/t/123#reply-9",
            )
        assert mail.outbox == []
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.SENT
        assert reply.posted_url == "https://bbs.example.com/t/123#reply-9"
        inquiry.refresh_from_db()
        assert inquiry.status == InquiryStatus.REPLIED
        assert inquiry.replied_at == at
        entry = InquiryMessage.objects.get(inquiry=inquiry, kind=MessageKind.REPLY)
        assert entry.data["posted_url"] == "https://bbs.example.com/t/123#reply-9"
        assert self.actions(reply) == ["reply.create", "reply.posted"]

    def test_a_contentious_posted_reply_also_waits_for_approval(self):
        inquiry = self.forum_question()
        services.inquiry_set_contentious(
            actor=self.users["agent"], inquiry=inquiry, contentious=True, reason="媒体关注"
        )
        reply = self.draft(inquiry)
        with pytest.raises(ValidationError):
            replies.reply_mark_posted(
                actor=self.users["agent"], reply=reply, posted_url="https://bbs.example.com/t/1"
            )

    def test_an_e_mail_inquiry_is_not_marked_posted(self):
        reply = self.draft(self.ask())
        with pytest.raises(ValidationError):
            replies.reply_mark_posted(
                actor=self.users["agent"], reply=reply, posted_url="https://example.com/"
            )
