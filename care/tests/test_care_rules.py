"""Care rules fire once per occurrence at frozen times — never daily duplicates — and again for
a new occurrence; only customers in service; tasks go to the owner or the department pool; the
daily run is due once a day after 06:00; the run's query count does not grow with customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from accounts.models import Department, User
from audit.models import AuditEntry
from care.models import CareKind, CareSettings, CareTask, CareTaskStatus
from care.rules import care_rules_due, care_rules_run
from care.tasks import care_rules_task
from customers.models import Customer, CustomerStatus
from customers.tests.factories import make_customer
from devices.models import Collector, CollectorStatus, Fault, FaultKind
from onboarding.models import ServiceContract
from ruwang.testing import make_regions, make_user
from service.models import Survey

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)
LONG_AGO = dt.datetime(2025, 1, 1, 9, 0, tzinfo=ZONE)
_serial = count(1)


def survey(customer: Customer, answered: dt.datetime, csat: int) -> Survey:
    n = next(_serial)
    sent = answered - dt.timedelta(days=1)
    return Survey.objects.create(
        token=f"care-token-{n}",
        customer=customer,
        trigger="ticket",
        sent_at=sent,
        expires_at=sent + dt.timedelta(days=14),
        answered_at=answered,
        csat=csat,
    )


def collector(customer: Customer, warranty: dt.date | None = None, **extra: Any) -> Collector:
    n = next(_serial)
    return Collector.objects.create(
        address=370_000_000_000 + n,
        serial_number=f"SN-CARE-{n}",
        customer=customer,
        status=extra.pop("status", CollectorStatus.ONLINE),
        warranty_ends_on=warranty,
        **extra,
    )


def fault(on: Collector, at: dt.datetime) -> Fault:
    return Fault.objects.create(collector=on, kind=FaultKind.DEVICE, opened_at=at)


def contract(customer: Customer, signed: dt.date) -> ServiceContract:
    return ServiceContract.objects.create(
        customer=customer,
        number=f"HT-CARE-{next(_serial)}",
        signed_on=signed,
        starts_on=signed,
        ends_on=signed + dt.timedelta(days=365),
        term_months=12,
        annual_fee=Decimal("1000"),
    )


def run(at: dt.datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        result = care_rules_run()
    assert result is not None
    return result.created


def tasks(kind: str) -> list[CareTask]:
    return list(CareTask.objects.filter(kind=kind).order_by("id"))


class RuleWorld(TestCase):
    """Customers created on 2025-01-01, in service unless said otherwise; every rule but the
    one under test is switched off in each test."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.regions = make_regions()
        cls.department = Department.objects.create(code="care_dept", name="客户部")
        cls.owner = make_user("owner", "account_manager", department=cls.department)
        with time_machine.travel(LONG_AGO, tick=False):
            cls.c = {
                name: make_customer(name, cls.regions["360102"], owner=cls.owner)
                for name in ("甲", "乙", "丙", "丁")
            }
            cls.orphan = make_customer("无主", cls.regions["360102"])
            cls.prospect = make_customer("潜在", cls.regions["360102"], owner=cls.owner)
        Customer.objects.exclude(pk=cls.prospect.pk).update(status=CustomerStatus.ACTIVE)
        Customer.objects.filter(pk=cls.orphan.pk).update(department=cls.department)

    def only(self, **enabled: Any) -> None:
        cs = CareSettings.current()
        for name in ("anniversary", "warranty", "no_contact", "low_score", "faults"):
            setattr(cs, f"{name}_enabled", name in enabled)
        for name, value in enabled.items():
            if value is not True:
                setattr(cs, name, value)
        cs.save()


class AnniversaryRuleTests(RuleWorld):
    def test_fires_once_in_the_days_before_each_anniversary_of_the_first_contract(self) -> None:
        self.only(anniversary=True)
        contract(self.c["甲"], dt.date(2024, 6, 15))
        contract(self.c["甲"], dt.date(2025, 6, 12))  # a renewal: the first signing counts
        contract(self.c["乙"], dt.date(2024, 6, 30))  # outside the 7 days
        contract(self.c["丙"], dt.date(2026, 6, 12))  # signed this year: no anniversary yet
        contract(self.prospect, dt.date(2024, 6, 14))  # not in service

        self.assertEqual(run(NOW), {"anniversary": 1})
        self.assertEqual(run(NOW), {"anniversary": 0})
        self.assertEqual(run(NOW + dt.timedelta(days=3)), {"anniversary": 0})
        [task] = tasks(CareKind.ANNIVERSARY)
        self.assertEqual(task.customer, self.c["甲"])
        self.assertEqual(task.due_on, dt.date(2026, 6, 15))
        self.assertEqual(task.assignee, self.owner)
        self.assertEqual(task.occurrence, f"anniversary:{self.c['甲'].pk}:2026")
        self.assertIn("2", task.title)

        # A year later: a new occurrence for 甲, and 丙's first anniversary.
        self.assertEqual(run(NOW.replace(year=2027)), {"anniversary": 2})
        self.assertEqual(run(NOW.replace(year=2027)), {"anniversary": 0})
        self.assertEqual(
            {(t.customer_id, t.due_on) for t in tasks(CareKind.ANNIVERSARY)},
            {
                (self.c["甲"].pk, dt.date(2026, 6, 15)),
                (self.c["甲"].pk, dt.date(2027, 6, 15)),
                (self.c["丙"].pk, dt.date(2027, 6, 12)),
            },
        )

    def test_a_29_february_signing_is_celebrated_on_the_28th_in_other_years(self) -> None:
        self.only(anniversary=True, anniversary_days_before=3)
        contract(self.c["乙"], dt.date(2024, 2, 29))
        at = dt.datetime(2027, 2, 26, 9, 0, tzinfo=ZONE)
        self.assertEqual(run(at), {"anniversary": 1})
        [task] = tasks(CareKind.ANNIVERSARY)
        self.assertEqual(task.due_on, dt.date(2027, 2, 28))


class WarrantyRuleTests(RuleWorld):
    def test_fires_once_per_collector_and_warranty_end(self) -> None:
        self.only(warranty=True)
        ending = collector(self.c["甲"], dt.date(2026, 7, 20))
        collector(self.c["甲"], dt.date(2026, 8, 20))  # 71 days: later
        collector(self.c["乙"], dt.date(2026, 6, 1))  # ended already
        collector(self.c["丙"], dt.date(2026, 7, 1), status=CollectorStatus.RETIRED)
        collector(self.prospect, dt.date(2026, 7, 1))
        pooled = collector(self.orphan, dt.date(2026, 7, 1))

        self.assertEqual(run(NOW), {"warranty": 2})
        self.assertEqual(run(NOW), {"warranty": 0})
        self.assertEqual(run(NOW + dt.timedelta(days=1)), {"warranty": 0})
        by_customer = {t.customer_id: t for t in tasks(CareKind.WARRANTY)}
        self.assertEqual(by_customer[self.c["甲"].pk].assignee, self.owner)
        self.assertIn(ending.serial_number, by_customer[self.c["甲"].pk].title)
        self.assertEqual(by_customer[self.c["甲"].pk].due_on, dt.date(2026, 6, 17))
        self.assertIsNone(by_customer[self.orphan.pk].assignee)  # the department pool
        self.assertEqual(by_customer[self.orphan.pk].occurrence, f"warranty:{pooled.pk}:2026-07-01")

        # The warranty is extended: its new end is a new occurrence when it comes near.
        Collector.objects.filter(pk=ending.pk).update(warranty_ends_on=dt.date(2027, 7, 20))
        self.assertEqual(run(NOW.replace(year=2027)), {"warranty": 1})


class NoContactRuleTests(RuleWorld):
    def test_fires_once_per_silence_and_again_after_a_new_contact(self) -> None:
        self.only(no_contact=True)
        survey(self.c["甲"], dt.datetime(2026, 2, 1, 10, 0, tzinfo=ZONE), 5)  # 129 days ago
        survey(self.c["乙"], NOW - dt.timedelta(days=10), 5)  # in touch
        survey(self.c["丙"], NOW - dt.timedelta(days=10), 5)
        survey(self.c["丁"], NOW - dt.timedelta(days=10), 5)
        # 无主: created 2025-01-01, never contacted → silent since its creation.

        self.assertEqual(run(NOW), {"no_contact": 2})
        self.assertEqual(run(NOW + dt.timedelta(days=1)), {"no_contact": 0})
        occurrences = {t.occurrence for t in tasks(CareKind.NO_CONTACT)}
        self.assertEqual(
            occurrences,
            {f"no_contact:{self.c['甲'].pk}:2026-02-01", f"no_contact:{self.orphan.pk}:2025-01-01"},
        )

        # 甲 answers a survey on 2026-06-20; 90 days of silence later it fires again.
        survey(self.c["甲"], dt.datetime(2026, 6, 20, 10, 0, tzinfo=ZONE), 5)
        # 乙, 丙 and 丁 fall silent too (last contact 2026-05-31); 无主 is the same silence.
        self.assertEqual(run(dt.datetime(2026, 9, 25, 9, 0, tzinfo=ZONE)), {"no_contact": 4})
        self.assertIn(
            f"no_contact:{self.c['甲'].pk}:2026-06-20",
            {t.occurrence for t in tasks(CareKind.NO_CONTACT)},
        )

    def test_uses_the_days_of_the_settings(self) -> None:
        self.only(no_contact=True, no_contact_days=200)
        survey(self.c["甲"], dt.datetime(2026, 2, 1, 10, 0, tzinfo=ZONE), 5)
        for name in ("乙", "丙", "丁"):
            survey(self.c[name], NOW - dt.timedelta(days=10), 5)
        self.assertEqual(run(NOW), {"no_contact": 1})  # only 无主 (since 2025-01-01)


class LowScoreRuleTests(RuleWorld):
    def test_fires_once_per_low_survey(self) -> None:
        self.only(low_score=True)
        low = survey(self.c["甲"], NOW - dt.timedelta(days=2), 2)
        survey(self.c["乙"], NOW - dt.timedelta(days=2), 3)  # not low
        survey(self.c["丙"], NOW - dt.timedelta(days=45), 1)  # before the look-back
        survey(self.prospect, NOW - dt.timedelta(days=2), 1)  # not in service

        self.assertEqual(run(NOW), {"low_score": 1})
        self.assertEqual(run(NOW + dt.timedelta(days=1)), {"low_score": 0})
        [task] = tasks(CareKind.LOW_SCORE)
        self.assertEqual(task.occurrence, f"low_score:{low.pk}")
        self.assertEqual(task.due_on, dt.date(2026, 6, 17))

        survey(self.c["甲"], NOW + dt.timedelta(days=3), 1)
        self.assertEqual(run(NOW + dt.timedelta(days=4)), {"low_score": 1})

    def test_the_highest_low_score_comes_from_the_settings(self) -> None:
        self.only(low_score=True, low_score_max=3)
        survey(self.c["乙"], NOW - dt.timedelta(days=2), 3)
        self.assertEqual(run(NOW), {"low_score": 1})


class RepeatedFaultRuleTests(RuleWorld):
    def test_fires_once_per_episode_and_again_for_new_faults(self) -> None:
        self.only(faults=True)
        one, two = collector(self.c["甲"]), collector(self.c["甲"])
        fault(one, NOW - dt.timedelta(days=20))
        fault(two, NOW - dt.timedelta(days=10))
        fault(one, NOW - dt.timedelta(days=1))
        other = collector(self.c["乙"])
        fault(other, NOW - dt.timedelta(days=40))  # outside the 30 days
        fault(other, NOW - dt.timedelta(days=5))
        fault(other, NOW - dt.timedelta(days=4))

        self.assertEqual(run(NOW), {"repeated_faults": 1})
        self.assertEqual(run(NOW), {"repeated_faults": 0})
        # The window slides on; the same faults are the same episode.
        self.assertEqual(run(NOW + dt.timedelta(days=5)), {"repeated_faults": 0})
        [task] = tasks(CareKind.REPEATED_FAULTS)
        self.assertEqual(task.customer, self.c["甲"])

        # Two more faults after the task: not yet three.
        fault(one, NOW + dt.timedelta(days=6))
        fault(two, NOW + dt.timedelta(days=7))
        self.assertEqual(run(NOW + dt.timedelta(days=8)), {"repeated_faults": 0})
        fault(two, NOW + dt.timedelta(days=9))
        self.assertEqual(run(NOW + dt.timedelta(days=10)), {"repeated_faults": 1})
        self.assertEqual(len(tasks(CareKind.REPEATED_FAULTS)), 2)


class RunTests(RuleWorld):
    def test_an_inactive_owner_leaves_the_task_in_the_pool(self) -> None:
        self.only(low_score=True)
        User.objects.filter(pk=self.owner.pk).update(is_active=False)
        survey(self.c["甲"], NOW - dt.timedelta(days=2), 1)
        run(NOW)
        [task] = tasks(CareKind.LOW_SCORE)
        self.assertIsNone(task.assignee)
        self.assertEqual(task.status, CareTaskStatus.OPEN)

    def test_a_closed_task_is_not_created_again(self) -> None:
        self.only(low_score=True)
        survey(self.c["甲"], NOW - dt.timedelta(days=2), 1)
        run(NOW)
        CareTask.objects.update(status=CareTaskStatus.DONE, done_at=NOW)
        self.assertEqual(run(NOW + dt.timedelta(days=1)), {"low_score": 0})

    def test_the_daily_run_is_due_once_after_six(self) -> None:
        early = dt.datetime(2026, 6, 10, 5, 30, tzinfo=ZONE)
        self.assertFalse(care_rules_due(early))
        with time_machine.travel(early, tick=False):
            self.assertIsNone(care_rules_task.enqueue(only_if_due=True).return_value)
        with time_machine.travel(NOW, tick=False):
            self.assertTrue(care_rules_due(NOW))
            self.assertIsNotNone(care_rules_run(only_if_due=True))
            self.assertIsNone(care_rules_run(only_if_due=True))
        self.assertEqual(AuditEntry.objects.filter(action="care.rules_run").count(), 1)
        self.assertTrue(care_rules_due(NOW + dt.timedelta(days=1)))

    def test_the_run_is_audited_with_its_counts(self) -> None:
        self.only(low_score=True)
        survey(self.c["甲"], NOW - dt.timedelta(days=2), 1)
        run(NOW)
        entry = AuditEntry.objects.filter(action="care.rules_run").get()
        self.assertEqual(entry.changes["created"][1], {"low_score": 1})

    def test_the_query_count_does_not_grow_with_the_firing_customers(self) -> None:
        self.only(anniversary=True, warranty=True, no_contact=True, low_score=True, faults=True)

        def fire(customers: list[Customer]) -> None:
            for c in customers:
                contract(c, dt.date(2024, 6, 12))
                collector(c, dt.date(2026, 7, 1))
                survey(c, NOW - dt.timedelta(days=100), 1)
                faulty = collector(c)
                for days in (1, 2, 3):
                    fault(faulty, NOW - dt.timedelta(days=days))

        fire([self.c["甲"]])
        with CaptureQueriesContext(connection) as few:
            created = run(NOW)
        self.assertEqual(created["anniversary"], 1)
        CareTask.objects.all().delete()
        fire([self.c["乙"], self.c["丙"], self.c["丁"]])
        with CaptureQueriesContext(connection) as many:
            created = run(NOW)
        self.assertEqual(created["anniversary"], 4)
        self.assertEqual(created["repeated_faults"], 4)
        self.assertEqual(len(many.captured_queries), len(few.captured_queries))
