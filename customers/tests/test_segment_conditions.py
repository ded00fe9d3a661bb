"""Segment conditions on customers' history (客户细分): contract value, onboarding date, ticket
counts, last contact, satisfaction and device facts each select exactly the customers that match,
"is not" selects the others, validation names the bad input, describe() reads in Chinese and the
builder offers the right inputs. Run on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers.models import Customer
from customers.segments import describe, segment_q, segment_queryset, segment_validate
from customers.tests.factories import make_customer
from devices.models import Collector, CollectorStatus, Fault, FaultKind
from inquiries.models import Inquiry, InquiryChannel, Topic
from onboarding.models import ServiceContract
from ruwang.testing import PersonaTestCase, make_regions
from service.models import (
    AfterSalesPlan,
    RevisitStatus,
    ScheduledRevisit,
    Survey,
    Ticket,
    TicketKind,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)
LONG_AGO = dt.datetime(2025, 1, 1, 9, 0, tzinfo=ZONE)
_serial = count(1)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def cond(field: str, *values: Any, negate: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "values": list(values)}
    if negate:
        node["negate"] = True
    return node


def one(condition: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "items": [condition]}


def ticket(customer: Customer, at: dt.datetime, kind: str = TicketKind.FAULT) -> Ticket:
    n = next(_serial)
    return Ticket.objects.create(
        number=f"GD-2026-{n:06d}", kind=kind, customer=customer, subject=f"工单{n}", created_at=at
    )


def survey(customer: Customer, answered: dt.datetime | None, csat: int | None) -> Survey:
    n = next(_serial)
    sent = (answered or NOW) - dt.timedelta(days=1)
    return Survey.objects.create(
        token=f"token-{n}",
        customer=customer,
        trigger="ticket",
        sent_at=sent,
        expires_at=sent + dt.timedelta(days=14),
        answered_at=answered,
        csat=csat,
    )


def collector(customer: Customer, status: str = CollectorStatus.ONLINE) -> Collector:
    n = next(_serial)
    return Collector.objects.create(
        address=360_000_000_000 + n, serial_number=f"SN-SEG-{n}", customer=customer, status=status
    )


def fault(on: Collector, at: dt.datetime, kind: str = FaultKind.OFFLINE) -> Fault:
    return Fault.objects.create(collector=on, kind=kind, opened_at=at)


def contract(customer: Customer, signed: dt.date, fee: str) -> ServiceContract:
    return ServiceContract.objects.create(
        customer=customer,
        number=f"HT-{next(_serial)}",
        signed_on=signed,
        starts_on=signed,
        ends_on=signed + dt.timedelta(days=365),
        term_months=12,
        annual_fee=Decimal(fee),
    )


class ConditionWorld(PersonaTestCase):
    """Seven customers created on 2025-01-01 (E on 2026-05-21), looked at on 2026-06-10:

    - 甲: contracts 3,000 (signed 2025-05-20) + 2,000 (2026-03-01); fault tickets 1, 5, 20 days
      ago and a complaint 200 days ago; surveys 5 and 4 (10, 20 days ago); two collectors in
      service and a retired one; faults 2, 9 (offline), 15 (device) and 100 days ago.
    - 乙: contract 1,000 (signed 2024-11-11); a consultation 10 days ago; surveys 2 (200 days
      ago) and 5 (5 days ago); only a retired collector.
    - 丙: an inquiry 30 days ago only; an unanswered survey.
    - 丁: five tickets 400 days ago, a revisit done 100 days ago, a survey 3 200 days ago; one
      collector with an offline fault 10 days ago.
    - 戊: created 20 days ago, nothing else.
    - 己: a revisit done 5 days ago (and a planned one).
    - 庚: a survey 1 answered 40 days ago."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        region = regions["360102"]
        with time_machine.travel(LONG_AGO, tick=False):
            cls.a, cls.b, cls.c, cls.d, cls.f, cls.g = (
                make_customer(name, region) for name in ("甲", "乙", "丙", "丁", "己", "庚")
            )
        with time_machine.travel(days_ago(20), tick=False):
            cls.e = make_customer("戊", region)
        cls.world = [cls.a, cls.b, cls.c, cls.d, cls.e, cls.f, cls.g]

        contract(cls.a, dt.date(2025, 5, 20), "3000")
        contract(cls.a, dt.date(2026, 3, 1), "2000")
        contract(cls.b, dt.date(2024, 11, 11), "1000")

        for days in (1, 5, 20):
            ticket(cls.a, days_ago(days))
        ticket(cls.a, days_ago(200), TicketKind.COMPLAINT)
        ticket(cls.b, days_ago(10), TicketKind.CONSULTATION)
        for _ in range(5):
            ticket(cls.d, days_ago(400))

        survey(cls.a, days_ago(10), 5)
        survey(cls.a, days_ago(20), 4)
        survey(cls.b, days_ago(200), 2)
        survey(cls.b, days_ago(5), 5)
        survey(cls.c, None, None)
        survey(cls.d, days_ago(200), 3)
        survey(cls.g, days_ago(40), 1)

        Inquiry.objects.create(
            number="WZ-2026-000001",
            channel=InquiryChannel.WEB,
            customer=cls.c,
            topic=Topic.GENERAL,
            subject="咨询",
            body="请问",
            received_at=days_ago(30),
        )
        for customer, done in ((cls.d, 100), (cls.f, 5)):
            plan = AfterSalesPlan.objects.create(
                customer=customer, starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2027, 1, 1)
            )
            ScheduledRevisit.objects.create(
                plan=plan,
                customer=customer,
                due_on=days_ago(done).date(),
                months_after=3,
                status=RevisitStatus.DONE,
                done_at=days_ago(done),
            )
            ScheduledRevisit.objects.create(
                plan=plan, customer=customer, due_on=dt.date(2026, 9, 1), months_after=12
            )

        first, second = collector(cls.a), collector(cls.a)
        collector(cls.a, CollectorStatus.RETIRED)
        collector(cls.b, CollectorStatus.RETIRED)
        fault(first, days_ago(2))
        fault(second, days_ago(9))
        fault(first, days_ago(15), FaultKind.DEVICE)
        fault(first, days_ago(100))
        fault(collector(cls.d), days_ago(10))

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def matched(self, condition: dict[str, Any]) -> set[str]:
        ids = [c.pk for c in self.world]
        qs = Customer.objects.filter(pk__in=ids).filter(segment_q(one(condition)))
        return set(qs.values_list("name", flat=True))

    def assert_selects(self, condition: dict[str, Any], expected: set[str]) -> None:
        assert self.matched(condition) == expected
        negated = {**condition, "negate": True}
        assert self.matched(negated) == {c.name for c in self.world} - expected


class ContractConditionTests(ConditionWorld):
    def test_contract_value_sums_the_annual_fees_of_every_contract(self):
        self.assert_selects(cond("contract_value", "4000", ""), {"甲"})
        self.assert_selects(cond("contract_value", "500", "2000"), {"乙"})
        self.assert_selects(cond("contract_value", "5000", "5000"), {"甲"})

    def test_a_customer_without_a_contract_counts_as_zero(self):
        self.assert_selects(
            cond("contract_value", "", "1000"), {"乙", "丙", "丁", "戊", "己", "庚"}
        )

    def test_onboarding_date_is_the_day_any_contract_was_signed(self):
        self.assert_selects(cond("onboarded", "2025-01-01", "2025-12-31"), {"甲"})
        self.assert_selects(cond("onboarded", "", "2024-12-31"), {"乙"})
        self.assert_selects(cond("onboarded", "2026-03-01", ""), {"甲"})


class TicketConditionTests(ConditionWorld):
    def test_at_least_n_tickets_in_the_last_days(self):
        self.assert_selects(cond("ticket_count", "3", "", "", "30"), {"甲"})
        self.assert_selects(cond("ticket_count", "1", "", "", "30"), {"甲", "乙"})

    def test_tickets_of_one_kind_at_any_time(self):
        self.assert_selects(cond("ticket_count", "1", "", "complaint", ""), {"甲"})
        self.assert_selects(cond("ticket_count", "1", "", "consultation", "30"), {"乙"})

    def test_at_most_counts_customers_without_tickets(self):
        self.assert_selects(cond("ticket_count", "", "0"), {"丙", "戊", "己", "庚"})
        self.assert_selects(cond("ticket_count", "2", "4"), {"甲"})
        self.assert_selects(cond("ticket_count", "1", "1"), {"乙"})


class ContactConditionTests(ConditionWorld):
    def test_no_contact_looks_at_tickets_revisits_inquiries_and_surveys(self):
        # 丁's revisit (100 days) and survey (200) are older than 90 days; 丙 asked 30 days ago,
        # 己 had a revisit, 庚 answered a survey; 戊 is new.
        self.assert_selects(cond("no_contact", "90"), {"丁"})

    def test_a_shorter_window_finds_more_customers(self):
        # In the last 25 days: 甲 (tickets), 乙 (ticket, survey), 己 (revisit) were contacted.
        self.assert_selects(cond("no_contact", "25"), {"丙", "丁", "庚"})

    def test_a_planned_revisit_is_not_a_contact(self):
        # 己's revisit was done 5 days ago; its planned one does not count. 戊 is 20 days old.
        self.assert_selects(cond("no_contact", "4"), {"乙", "丙", "丁", "戊", "己", "庚"})


class SatisfactionConditionTests(ConditionWorld):
    def test_an_answered_survey_with_a_low_score(self):
        self.assert_selects(cond("low_survey", "2", ""), {"乙", "庚"})
        self.assert_selects(cond("low_survey", "2", "90"), {"庚"})
        self.assert_selects(cond("low_survey", "3", ""), {"乙", "丁", "庚"})

    def test_average_satisfaction_below_a_value(self):
        # 甲 4.5, 乙 3.5, 丁 3, 庚 1; 丙 never answered.
        self.assert_selects(cond("average_satisfaction", "4", ""), {"乙", "丁", "庚"})
        self.assert_selects(cond("average_satisfaction", "3.5", ""), {"丁", "庚"})
        # In the last 90 days 乙 answered only a 5.
        self.assert_selects(cond("average_satisfaction", "4", "90"), {"庚"})


class DeviceConditionTests(ConditionWorld):
    def test_number_of_collectors_leaves_retired_ones_out(self):
        self.assert_selects(cond("collector_count", "2", ""), {"甲"})
        self.assert_selects(cond("collector_count", "1", "1"), {"丁"})
        self.assert_selects(cond("collector_count", "", "0"), {"乙", "丙", "戊", "己", "庚"})

    def test_faults_in_the_last_days(self):
        self.assert_selects(cond("fault_count", "3", "30", ""), {"甲"})
        self.assert_selects(cond("fault_count", "1", "30", ""), {"甲", "丁"})
        self.assert_selects(cond("fault_count", "4", "365", ""), {"甲"})

    def test_faults_of_one_kind(self):
        self.assert_selects(cond("fault_count", "2", "30", "offline"), {"甲"})
        self.assert_selects(cond("fault_count", "1", "30", "line"), set())


class CombinedConditionTests(ConditionWorld):
    def test_conditions_combine_with_and_or_and_respect_visibility(self):
        definition = {
            "op": "or",
            "items": [
                cond("no_contact", "90"),
                {
                    "op": "and",
                    "items": [cond("contract_value", "4000", ""), cond("fault_count", "3", "30")],
                },
            ],
        }
        seen = segment_queryset(self.users["agent"], definition).filter(
            pk__in=[c.pk for c in self.world]
        )
        assert set(seen.values_list("name", flat=True)) == {"甲", "丁"}
        # The outsider sees no customer, so no segment shows them any.
        assert not segment_queryset(self.users["outsider"], definition).exists()


class ValidationTests(PersonaTestCase):
    def problem(self, condition: dict[str, Any]) -> str:
        with pytest.raises(ValidationError) as caught:
            segment_validate(one(condition))
        return " ".join(caught.value.messages)

    def test_a_range_needs_a_minimum_or_a_maximum_in_order(self):
        assert self.problem(cond("contract_value", "", "")) == (
            "条件 1（合同金额）：请填写最小值、最大值或两者。"
        )
        assert (
            self.problem(cond("ticket_count", "5", "2")) == "条件 1（工单数）：最小值大于最大值。"
        )

    def test_numbers_are_checked_against_their_bounds(self):
        assert (
            self.problem(cond("ticket_count", "abc", "")) == "条件 1（工单数）：“至少”必须是数字。"
        )
        assert self.problem(cond("average_satisfaction", "6", "")) == (
            "条件 1（平均满意度）：“低于”不能大于 5。"
        )
        assert self.problem(cond("no_contact", "0")) == "条件 1（未联系天数）：“天数”不能小于 1。"

    def test_required_inputs_and_choices_are_named(self):
        assert self.problem(cond("no_contact", "")) == "条件 1（未联系天数）：请填写“天数”。"
        assert self.problem(cond("fault_count", "1", "30", "meteor")) == (
            "条件 1（设备故障）：“meteor”不是可选的值。"
        )

    def test_values_are_stored_cleaned(self):
        cleaned = segment_validate(one(cond("contract_value", " 1000 ", "2000.5")))
        assert cleaned["items"][0]["values"] == ["1000.00", "2000.50"]
        cleaned = segment_validate(one(cond("ticket_count", "3", "", "", "")))
        assert cleaned["items"][0]["values"] == ["3", "", "", ""]


class DescribeTests(PersonaTestCase):
    def test_each_condition_reads_in_chinese(self):
        definition = {
            "op": "and",
            "items": [
                cond("contract_value", "1000", "5000"),
                cond("onboarded", "2025-01-01", ""),
                cond("ticket_count", "3", "", "fault", "30"),
                cond("no_contact", "90", negate=True),
                cond("low_survey", "2", ""),
                cond("average_satisfaction", "3.5", "180"),
                cond("collector_count", "2", ""),
                cond("fault_count", "3", "30", "offline"),
            ],
        }
        assert describe(segment_validate(definition)) == " 且 ".join(
            [
                "合同金额 1000.00–5000.00 元",
                "入网日期 是 2025-01-01 – …",
                "工单数 ≥ 3（故障，近 30 天）",
                "非（90 天未联系）",
                "满意度调查评分 ≤ 2",
                "平均满意度低于 3.50（近 180 天）",
                "传输装置数 ≥ 2",
                "设备故障 ≥ 3 次（近 30 天，采集机离线）",
            ]
        )


class BuilderTests(ConditionWorld):
    def builder_data(self, field: str, *params: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "新细分",
            "description": "",
            "is_shared": "on",
            "node": ["n", "n-0"],
            "type-n": "group",
            "op-n": "and",
            "type-n-0": "condition",
            "field-n-0": field,
            "was-n-0": field,
        }
        data.update({f"p{i}-n-0": value for i, value in enumerate(params)})
        return data

    def test_the_builder_offers_number_inputs_and_previews_the_matches(self):
        client = self.client_as("agent")
        response = client.post(
            reverse("customers:segment_builder"),
            self.builder_data("ticket_count", "3", "", "fault", "30"),
        )
        self.assertContains(response, 'type="number"')
        self.assertContains(response, 'name="p3-n-0" id="p3-n-0" value="30" min="1" max="3650"')
        self.assertContains(response, '<option value="fault" selected>故障</option>')
        self.assertContains(response, 'data-count="1"')
        self.assertContains(response, "甲")

    def test_a_new_condition_type_starts_blank_and_errors_name_the_input(self):
        data = self.builder_data("no_contact", "")
        data["was-n-0"] = "status"
        response = self.client_as("agent").post(reverse("customers:segment_builder"), data)
        self.assertContains(response, 'name="p0-n-0" id="p0-n-0" value=""')
        self.assertContains(response, "条件 1（未联系天数）：请填写“天数”。")

    def test_a_saved_segment_keeps_its_values(self):
        client = self.client_as("agent")
        response = client.post(
            reverse("customers:segment_create"), self.builder_data("collector_count", "2", "")
        )
        assert response.status_code == 302
        from customers.models import Segment

        saved = Segment.objects.get(name="新细分")
        assert saved.definition["items"][0] == {"field": "collector_count", "values": ["2", ""]}
