"""The inquiry desk demo: a month of questions, replies, reviews and notices, so every desk page
shows something on a fresh `make run`, with times that hold together."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.test import TestCase, override_settings
from django.utils import timezone

from inquiries.demo import load_demo
from inquiries.models import (
    POSTED_CHANNELS,
    Inquiry,
    InquiryChannel,
    InquiryStatus,
    Notice,
    NoticeDelivery,
    NoticeStatus,
    Project,
    ProjectStage,
    Reply,
    ReplyStatus,
)
from ruwang.demo import load_organisation


class InquiryDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as var, override_settings(VAR_DIR=Path(var)):
            load_organisation()
        cls.loaded = load_demo()
        cls.now = timezone.now()

    def test_a_project_in_every_stage_and_questions_from_every_channel(self) -> None:
        self.assertEqual(
            set(Project.objects.values_list("stage", flat=True)), set(ProjectStage.values)
        )
        inquiries = Inquiry.objects.all()
        self.assertEqual(self.loaded, inquiries.count())
        self.assertGreaterEqual(self.loaded, 35)
        self.assertEqual(set(inquiries.values_list("channel", flat=True)), set(InquiryChannel))
        statuses = set(inquiries.values_list("status", flat=True))
        self.assertTrue(
            {InquiryStatus.REPLIED, InquiryStatus.CLOSED, InquiryStatus.DRAFTING} <= statuses
        )
        self.assertIn(InquiryStatus.IN_REVIEW, statuses)
        self.assertTrue(statuses & {InquiryStatus.NEW, InquiryStatus.ASSIGNED})

    def test_replies_come_after_their_questions_and_never_in_the_future(self) -> None:
        for inquiry in Inquiry.objects.filter(first_replied_at__isnull=False):
            assert inquiry.first_replied_at is not None
            self.assertGreaterEqual(inquiry.first_replied_at, inquiry.received_at)
            self.assertLessEqual(inquiry.first_replied_at, self.now)
        late = [
            i
            for i in Inquiry.objects.filter(first_replied_at__isnull=False)
            if i.due_at is not None
            and i.first_replied_at is not None
            and i.first_replied_at > i.due_at
        ]
        self.assertTrue(late, "some answers are late, so the record shows misses")

    def test_contentious_replies_were_approved_returned_or_wait_for_review(self) -> None:
        reviewed = Reply.objects.filter(needs_review=True)
        self.assertEqual(
            set(reviewed.values_list("status", flat=True)),
            {ReplyStatus.SENT, ReplyStatus.RETURNED, ReplyStatus.IN_REVIEW},
        )
        returned = reviewed.get(status=ReplyStatus.RETURNED)
        self.assertTrue(returned.review_comment)
        sent = reviewed.get(status=ReplyStatus.SENT)
        assert sent.reviewed_at is not None and sent.sent_at is not None
        self.assertLess(sent.reviewed_at, sent.sent_at)

    def test_posted_replies_have_their_url(self) -> None:
        posted = Reply.objects.filter(status=ReplyStatus.SENT, inquiry__channel__in=POSTED_CHANNELS)
        self.assertTrue(posted.exists())
        self.assertFalse(posted.filter(posted_url="").exists())

    def test_an_overdue_question_was_escalated(self) -> None:
        self.assertTrue(Inquiry.objects.filter(escalated_at__isnull=False).exists())

    def test_a_public_notice_was_sent_one_is_scheduled_and_one_is_a_draft(self) -> None:
        self.assertEqual(
            set(Notice.objects.values_list("status", flat=True)),
            {NoticeStatus.SENT, NoticeStatus.SCHEDULED, NoticeStatus.DRAFT},
        )
        sent = Notice.objects.get(status=NoticeStatus.SENT)
        self.assertTrue(sent.is_public)
        self.assertEqual(
            NoticeDelivery.objects.filter(notice=sent).values("customer").distinct().count(),
            sent.recipient_count,
        )

    def test_loading_again_adds_nothing(self) -> None:
        self.assertEqual(load_demo(), 0)
