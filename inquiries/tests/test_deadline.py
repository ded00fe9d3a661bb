"""The reply deadline (the seed's "24小时内回复"): warning at 20 hours to whoever answers,
escalation to the supervisor at 24, once each; the clock stops when the reply is sent and starts
again when the customer writes back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.core import mail
from django.test import TestCase, override_settings

from accounts.models import User
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import DeskSettings, Inquiry, InquiryChannel, InquiryStatus
from inquiries.services import inquiry_create, inquiry_followup, inquiry_mark_replied
from inquiries.sla import inquiry_sla_tick
from inquiries.tests.factories import desk_region, team_join
from ruwang.testing import make_regions, make_user
from service.models import Team
from workflow.models import Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 9, day, hour, minute, tzinfo=SHANGHAI)


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
class DeadlineTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        regions = make_regions()
        inquiry_defaults_ensure()
        desk_region(regions["360102"])
        cls.agent = make_user("agent_d", "customer_centre_agent", email="agent@example.com")
        cls.lead = make_user("lead_d", "supervisor", email="lead@example.com")
        team_join(Team.objects.get(code="customer-centre"), cls.agent, lead=cls.lead)

    def ask(self, when: dt.datetime) -> Inquiry:
        with time_machine.travel(when, tick=False):
            return inquiry_create(
                actor=None, channel=InquiryChannel.WEB, body="什么时候交房？", author_name="业主"
            )

    def kinds(self, user: User) -> list[str]:
        return list(
            Notification.objects.filter(recipient=user)
            .order_by("pk")
            .values_list("kind", flat=True)
        )

    def test_the_deadline_is_24_calendar_hours_with_a_warning_at_20(self) -> None:
        # Friday evening: calendar hours run through the weekend by default.
        inquiry = self.ask(at(4, 18))
        self.assertEqual(inquiry.due_at, at(5, 18))
        self.assertEqual(inquiry.warn_at, at(5, 14))

    def test_warning_at_20_hours_and_escalation_at_24_each_once(self) -> None:
        inquiry = self.ask(at(7, 9))
        self.assertEqual(inquiry_sla_tick(now=at(8, 4, 59)), {"warned": 0, "escalated": 0})
        self.assertEqual(inquiry_sla_tick(now=at(8, 5)), {"warned": 1, "escalated": 0})
        self.assertEqual(inquiry_sla_tick(now=at(8, 6)), {"warned": 0, "escalated": 0})
        self.assertEqual(self.kinds(self.agent), ["inquiry_assigned", "inquiry_warning"])
        self.assertEqual(self.kinds(self.lead), [])
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(inquiry_sla_tick(now=at(8, 9)), {"warned": 0, "escalated": 1})
        self.assertEqual(inquiry_sla_tick(now=at(8, 10)), {"warned": 0, "escalated": 0})
        self.assertEqual(self.kinds(self.lead), ["inquiry_overdue"])
        self.assertIn("inquiry_overdue", self.kinds(self.agent))
        self.assertTrue(any("lead@example.com" in m.to for m in mail.outbox))
        events = list(inquiry.messages.filter(kind="event").values_list("event", flat=True))
        self.assertEqual(events, ["routed", "warned", "escalated"])

    def test_without_a_team_lead_every_supervisor_is_told(self) -> None:
        Team.objects.filter(code="customer-centre").update(lead=None)
        other = make_user("sup2", "supervisor")
        self.ask(at(7, 9))
        inquiry_sla_tick(now=at(8, 9))
        self.assertEqual(self.kinds(other), ["inquiry_overdue"])
        self.assertEqual(self.kinds(self.lead), ["inquiry_overdue"])

    def test_the_clock_stops_when_the_reply_is_sent(self) -> None:
        inquiry = self.ask(at(7, 9))
        inquiry_mark_replied(inquiry, at(7, 15))
        self.assertEqual(inquiry_sla_tick(now=at(9, 9)), {"warned": 0, "escalated": 0})
        inquiry.refresh_from_db()
        self.assertEqual(inquiry.status, InquiryStatus.REPLIED)
        self.assertEqual(inquiry.first_replied_at, at(7, 15))

    def test_a_follow_up_from_the_customer_starts_a_new_clock(self) -> None:
        inquiry = self.ask(at(7, 9))
        inquiry_mark_replied(inquiry, at(7, 15))
        inquiry_followup(inquiry=inquiry, body="还是没明白", now=at(10, 8))
        inquiry.refresh_from_db()
        self.assertEqual(inquiry.status, InquiryStatus.ASSIGNED)
        self.assertEqual(inquiry.due_at, at(11, 8))
        self.assertIsNone(inquiry.replied_at)
        self.assertEqual(inquiry.first_replied_at, at(7, 15))
        self.assertEqual(inquiry_sla_tick(now=at(11, 8)), {"warned": 0, "escalated": 1})

    def test_work_hours_when_the_desk_is_set_so(self) -> None:
        DeskSettings.objects.update(work_hours=True, reply_hours=8, warn_hours=6)
        # Friday 16:00 → 8 work hours later is Monday afternoon, not Saturday.
        inquiry = self.ask(at(4, 16))
        assert inquiry.due_at is not None
        self.assertEqual(inquiry.due_at.astimezone(SHANGHAI).date(), dt.date(2026, 9, 7))

    def test_the_scheduler_runs_the_inquiry_tick_every_minute(self) -> None:
        from django.core.management import call_command

        inquiry = self.ask(at(7, 9))
        with time_machine.travel(at(8, 9, 1), tick=False):
            call_command("scheduler", "--once")
        inquiry.refresh_from_db()
        self.assertEqual(inquiry.escalated_at, at(8, 9, 1))
        self.assertEqual(self.kinds(self.lead), ["inquiry_overdue"])
