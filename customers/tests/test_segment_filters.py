"""Segments as list filters: the customer list, the ticket list and the inquiry queue offer the
segments their user may use and narrow to the segment's customers; visibility still applies, and
another user's private segment (or no segment permission) leaves the list unfiltered."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from customers.models import CustomerCategory, Segment, Tag
from customers.segments import segment_save
from customers.tests.factories import make_customer
from inquiries.models import Inquiry, InquiryChannel, Topic
from ruwang.testing import PersonaTestCase, make_regions
from service.models import Ticket, TicketKind


def by_category(category: str) -> dict[str, Any]:
    return {"op": "and", "items": [{"field": "category", "values": [category]}]}


class SegmentFilterWorld(PersonaTestCase):
    """东湖医院 (key unit, the market persona's, in Donghu) and 西湖学校 (general, Xihu), each with
    a ticket and an open inquiry; a shared segment "重点单位" (key units) and "普通单位" (general),
    and the agent's private segment "我的学校" (general)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.hospital = make_customer(
            "东湖医院",
            regions["360102"],
            owner=cls.users["market"],
            category=CustomerCategory.KEY_UNIT,
        )
        cls.school = make_customer("西湖学校", regions["360103"], category=CustomerCategory.GENERAL)
        supervisor, agent = cls.users["supervisor"], cls.users["agent"]
        cls.key_units = segment_save(
            actor=supervisor,
            segment=None,
            name="重点单位",
            description="",
            definition=by_category(CustomerCategory.KEY_UNIT),
            is_shared=True,
        )
        cls.general = segment_save(
            actor=supervisor,
            segment=None,
            name="普通单位",
            description="",
            definition=by_category(CustomerCategory.GENERAL),
            is_shared=True,
        )
        cls.private = segment_save(
            actor=agent,
            segment=None,
            name="我的学校",
            description="",
            definition=by_category(CustomerCategory.GENERAL),
            is_shared=False,
        )
        now = timezone.now()
        for n, customer in enumerate((cls.hospital, cls.school), start=1):
            Ticket.objects.create(
                number=f"GD-2026-{n:06d}",
                kind=TicketKind.FAULT,
                customer=customer,
                subject=f"{customer.name}报警",
                created_at=now - dt.timedelta(hours=n),
            )
            Inquiry.objects.create(
                number=f"WZ-2026-{n:06d}",
                channel=InquiryChannel.WEB,
                customer=customer,
                topic=Topic.GENERAL,
                subject=f"{customer.name}咨询",
                body="请问",
                received_at=now - dt.timedelta(hours=n),
                due_at=now + dt.timedelta(days=1),
            )

    def customers_listed(self, persona: str, **params: Any) -> list[str]:
        response = self.client_as(persona).get(reverse("customers:list"), params)
        assert response.status_code == 200
        return sorted(c.name for c in response.context["page"].rows)

    def tickets_listed(self, persona: str, **params: Any) -> list[str]:
        response = self.client_as(persona).get(
            reverse("service:tickets"), {"status": "all", **params}
        )
        assert response.status_code == 200
        return sorted(row.ticket.customer.name for row in response.context["rows"])

    def inquiries_listed(self, persona: str, **params: Any) -> list[str]:
        response = self.client_as(persona).get(reverse("inquiries:queue"), params)
        assert response.status_code == 200
        return sorted(row.inquiry.customer.name for row in response.context["rows"])


class CustomerListFilterTests(SegmentFilterWorld):
    def test_the_list_narrows_to_the_segments_customers(self):
        assert self.customers_listed("agent") == ["东湖医院", "西湖学校"]
        assert self.customers_listed("agent", segment=self.key_units.pk) == ["东湖医院"]
        assert self.customers_listed("agent", segment=self.private.pk) == ["西湖学校"]

    def test_the_select_offers_the_users_own_and_shared_segments_only(self):
        agent = self.client_as("agent").get(reverse("customers:list"))
        self.assertContains(agent, 'name="segment"')
        self.assertContains(agent, f'<option value="{self.private.pk}">我的学校</option>')
        supervisor = self.client_as("supervisor").get(
            reverse("customers:list"), {"segment": self.key_units.pk}
        )
        self.assertContains(
            supervisor, f'<option value="{self.key_units.pk}" selected>重点单位</option>'
        )
        self.assertNotContains(supervisor, "我的学校")

    def test_another_users_private_segment_is_ignored(self):
        everything = self.customers_listed("supervisor")
        assert self.customers_listed("supervisor", segment=self.private.pk) == everything

    def test_without_the_segment_permission_there_is_no_filter(self):
        response = self.client_as("market").get(
            reverse("customers:list"), {"segment": self.key_units.pk}
        )
        self.assertNotContains(response, 'name="segment"')
        assert sorted(c.name for c in response.context["page"].rows) == self.customers_listed(
            "market"
        )

    def test_visibility_still_applies(self):
        # The market manager sees the department's customers: 东湖医院 only.
        assert self.customers_listed("market_manager") == ["东湖医院"]
        assert self.customers_listed("market_manager", segment=self.general.pk) == []
        assert self.customers_listed("market_manager", segment=self.key_units.pk) == ["东湖医院"]

    def test_nonsense_values_are_ignored(self):
        assert self.customers_listed("agent", segment="abc") == ["东湖医院", "西湖学校"]
        assert self.customers_listed("agent", segment="999999") == ["东湖医院", "西湖学校"]

    def test_a_segment_whose_tag_was_deleted_matches_nothing(self):
        tag = Tag.objects.create(name="临时")
        segment = segment_save(
            actor=self.users["agent"],
            segment=None,
            name="临时标签",
            description="",
            definition={"op": "and", "items": [{"field": "tag", "values": [tag.pk]}]},
            is_shared=False,
        )
        tag.delete()
        assert self.customers_listed("agent", segment=segment.pk) == []

    def test_the_export_follows_the_segment(self):
        response = self.client_as("supervisor").get(
            reverse("customers:export"), {"segment": self.key_units.pk}
        )
        assert response.status_code == 200
        rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
        assert [r[0] for r in rows[1:]] == ["东湖医院"]


class TicketListFilterTests(SegmentFilterWorld):
    def test_the_ticket_list_narrows_to_the_segments_customers(self):
        assert self.tickets_listed("agent") == ["东湖医院", "西湖学校"]
        assert self.tickets_listed("agent", segment=self.key_units.pk) == ["东湖医院"]
        assert self.tickets_listed("agent", segment=self.private.pk) == ["西湖学校"]

    def test_the_ticket_list_offers_the_select_and_ignores_others_private_segments(self):
        response = self.client_as("supervisor").get(reverse("service:tickets"))
        self.assertContains(response, f'<option value="{self.general.pk}">普通单位</option>')
        self.assertNotContains(response, "我的学校")
        everything = self.tickets_listed("supervisor")
        assert self.tickets_listed("supervisor", segment=self.private.pk) == everything

    def test_the_status_tabs_count_within_the_segment(self):
        response = self.client_as("agent").get(
            reverse("service:tickets"), {"segment": self.key_units.pk}
        )
        counts = {key: n for key, _label, n, _url in response.context["tabs"]}
        assert counts["all"] == "1"


class InquiryQueueFilterTests(SegmentFilterWorld):
    def test_the_queue_narrows_to_the_segments_customers(self):
        assert self.inquiries_listed("agent") == ["东湖医院", "西湖学校"]
        assert self.inquiries_listed("agent", segment=self.key_units.pk) == ["东湖医院"]
        assert self.inquiries_listed("agent", segment=self.private.pk) == ["西湖学校"]

    def test_the_queue_offers_the_select_and_ignores_others_private_segments(self):
        response = self.client_as("supervisor").get(reverse("inquiries:queue"))
        self.assertContains(response, 'name="segment"')
        self.assertNotContains(response, "我的学校")
        everything = self.inquiries_listed("supervisor")
        assert self.inquiries_listed("supervisor", segment=self.private.pk) == everything

    def test_other_filters_still_work_with_a_stale_segment(self):
        Segment.objects.filter(pk=self.general.pk).delete()
        assert self.inquiries_listed("agent", segment=self.general.pk, q="东湖") == ["东湖医院"]
