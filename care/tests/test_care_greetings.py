"""Holiday greetings (节日问候): the coming holidays (published arrangement, else the festival
day), a greeting scheduled as a notice at 09:00 on the first day whose recipients equal the
segment's preview, who may use the page, and bad input named in Chinese."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.test import SimpleTestCase
from django.urls import reverse

from care import greetings
from customers.models import Customer, CustomerStatus, Segment
from customers.segments import segment_queryset
from customers.tests.factories import make_contact, make_customer
from inquiries import notices
from inquiries.models import Notice, NoticeDelivery, NoticeStatus
from ruwang.testing import PersonaTestCase, make_regions

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=ZONE)
PAGE = reverse("care:greetings")


class HolidayTests(SimpleTestCase):
    def test_after_the_published_years_the_festival_days_are_estimated(self) -> None:
        found = greetings.upcoming_holidays(dt.date(2026, 11, 26))
        self.assertEqual(
            [(h.spec.key, h.first_day, h.official) for h in found[:7]],
            [
                ("new_years_day", dt.date(2027, 1, 1), False),
                ("spring_festival", dt.date(2027, 2, 6), False),
                ("tomb_sweeping_day", dt.date(2027, 4, 5), False),
                ("labour_day", dt.date(2027, 5, 1), False),
                ("dragon_boat_festival", dt.date(2027, 6, 9), False),
                ("mid_autumn_festival", dt.date(2027, 9, 15), False),
                ("national_day", dt.date(2027, 10, 1), False),
            ],
        )

    def test_a_published_year_gives_the_first_and_last_day_of_the_break(self) -> None:
        found = greetings.upcoming_holidays(dt.date(2026, 5, 20), days=150)
        self.assertEqual(
            [(h.spec.key, h.first_day, h.last_day, h.official) for h in found],
            [
                ("dragon_boat_festival", dt.date(2026, 6, 19), dt.date(2026, 6, 21), True),
                ("mid_autumn_festival", dt.date(2026, 9, 25), dt.date(2026, 9, 27), True),
                ("national_day", dt.date(2026, 10, 1), dt.date(2026, 10, 7), True),
            ],
        )

    def test_a_holiday_under_way_is_still_offered(self) -> None:
        found = greetings.upcoming_holidays(dt.date(2026, 10, 3), days=30)
        self.assertEqual([h.spec.key for h in found], ["national_day"])


class GreetingTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        with time_machine.travel(NOW - dt.timedelta(days=400), tick=False):
            cls.inside = [
                make_customer(
                    f"东湖{i}",
                    regions["360102"],
                    contacts=[
                        {
                            "name": "王",
                            "role": "contact",
                            "mobile": f"1380000000{i}",
                            "is_primary": True,
                        }
                    ],
                )
                for i in range(3)
            ]
            cls.outside = make_customer("九江", regions["360402"])
        Customer.objects.update(status=CustomerStatus.ACTIVE)
        make_contact(cls.outside, mobile="13900000000", is_primary=True)
        cls.segment = Segment.objects.create(
            name="东湖区客户",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [regions["360102"].pk]}],
            },
            is_shared=True,
        )

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def test_only_senders_of_notices_may_open_the_page(self) -> None:
        self.assert_access(PAGE, allowed=["agent", "supervisor"])

    def test_choosing_a_holiday_fills_in_the_greeting_and_9_oclock(self) -> None:
        response = self.client_as("agent").get(
            PAGE, {"holiday": "new_years_day:2027-01-01", "segment": self.segment.pk}
        )
        form = response.context["form"]
        self.assertEqual(
            form.initial["title"], str(greetings.HOLIDAYS_BY_KEY["new_years_day"].title)
        )
        self.assertEqual(form.initial["scheduled_for"], dt.datetime(2027, 1, 1, 9, 0, tzinfo=ZONE))
        self.assertTrue(form.initial["body"])
        self.assertEqual(response.context["preview"].count, 3)

    def test_the_greeting_is_a_scheduled_notice_for_the_segment_preview(self) -> None:
        sender = self.users["agent"]
        response = self.client_as("agent").post(
            PAGE,
            {
                "holiday": "spring_festival:2027-02-06",
                "segment": self.segment.pk,
                "channels": ["sms"],
                "title": "新春快乐",
                "body": "祝您新春快乐，阖家幸福！",
                "scheduled_for": "2027-02-06T09:00",
            },
        )
        notice = Notice.objects.get()
        self.assertRedirects(response, reverse("inquiries:notice", args=[notice.pk]))
        self.assertEqual(notice.status, NoticeStatus.SCHEDULED)
        self.assertEqual(notice.scheduled_for, dt.datetime(2027, 2, 6, 9, 0, tzinfo=ZONE))
        self.assertEqual(notice.audience, {"segment": self.segment.pk})
        self.assertEqual(notice.created_by, sender)
        preview = notices.notice_preview(user=sender, audience={"segment": self.segment.pk})
        expected = set(
            segment_queryset(sender, self.segment.definition).values_list("pk", flat=True)
        )
        self.assertEqual({c.pk for c in preview.rows}, expected)

        with time_machine.travel(dt.datetime(2027, 2, 6, 9, 1, tzinfo=ZONE), tick=False):
            self.assertEqual(notices.notices_due(), {"sent": 1})
        notice.refresh_from_db()
        recipients = set(
            NoticeDelivery.objects.filter(notice=notice).values_list("customer_id", flat=True)
        )
        self.assertEqual(recipients, expected)
        self.assertEqual(notice.recipient_count, preview.count)
        self.assertNotIn(self.outside.pk, recipients)

    def test_bad_input_is_named_in_chinese_and_nothing_is_saved(self) -> None:
        response = self.client_as("agent").post(
            PAGE,
            {
                "holiday": "",
                "segment": "",
                "channels": [],
                "title": "新春快乐",
                "body": "",
                "scheduled_for": "",
            },
        )
        self.assertEqual(response.status_code, 400)
        errors = response.context["form"].errors
        self.assertIn("holiday", errors)
        self.assertIn("segment", errors)
        self.assertIn("scheduled_for", errors)
        response = self.client_as("agent").post(
            PAGE,
            {
                "holiday": "spring_festival:2027-02-06",
                "segment": self.segment.pk,
                "channels": [],
                "title": "新春快乐",
                "body": "",
                "scheduled_for": "2026-11-01T09:00",
            },
        )
        self.assertEqual(response.status_code, 400)
        errors = response.context["form"].errors
        self.assertEqual(errors["channels"], ["请至少选择一种发送方式。"])
        self.assertEqual(errors["scheduled_for"], ["发送时间必须晚于现在。"])
        self.assertEqual(errors["body"], ["这个字段是必填项。"])
        self.assertFalse(Notice.objects.exists())

    def test_the_recipient_count_answers_for_the_chosen_segment(self) -> None:
        response = self.client_as("agent").get(
            reverse("care:greeting_audience"), {"segment": self.segment.pk}
        )
        self.assertContains(response, 'data-count="3"')
