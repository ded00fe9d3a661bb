"""Starting a customer's after-sales service at handover: the plan's period, its revisits' due
dates (month ends clamped), one plan per case, the configured offsets, and who may start it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from accounts.models import Department
from audit.models import AuditEntry
from customers.tests.factories import make_customer
from devices.tests.factories import make_building, make_collector
from ruwang.testing import PersonaTestCase, make_regions
from service import services
from service.models import AfterSalesPlan, RevisitStatus, ScheduledRevisit
from service.tests.factories import make_case, make_plan, publish_process


def due_dates(plan: AfterSalesPlan) -> list[tuple[int, dt.date]]:
    return [(r.months_after, r.due_on) for r in plan.revisits.order_by("due_on")]


class AfterSalesPlanStartTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.customer = make_customer("售后客户", cls.regions["360102"])
        cls.version = publish_process()

    def test_default_plan_lasts_a_year_with_revisits_after_1_3_6_and_12_months(self):
        plan = make_plan(self.customer, dt.date(2026, 3, 15))
        assert (plan.starts_on, plan.ends_on) == (dt.date(2026, 3, 15), dt.date(2027, 3, 15))
        assert due_dates(plan) == [
            (1, dt.date(2026, 4, 15)),
            (3, dt.date(2026, 6, 15)),
            (6, dt.date(2026, 9, 15)),
            (12, dt.date(2027, 3, 15)),
        ]
        revisits = list(plan.revisits.all())
        assert all(r.status == RevisitStatus.PLANNED and r.done_at is None for r in revisits)
        assert all(r.customer_id == self.customer.pk for r in revisits)

    def test_handover_on_31_january_is_revisited_at_the_end_of_february(self):
        plan = make_plan(self.customer, dt.date(2027, 1, 31))
        assert due_dates(plan) == [
            (1, dt.date(2027, 2, 28)),
            (3, dt.date(2027, 4, 30)),
            (6, dt.date(2027, 7, 31)),
            (12, dt.date(2028, 1, 31)),
        ]

    def test_in_a_leap_year_the_february_revisit_falls_on_the_29th(self):
        plan = make_plan(self.customer, dt.date(2028, 1, 31), revisit_months=[1])
        assert due_dates(plan) == [(1, dt.date(2028, 2, 29))]

    def test_a_plan_started_on_29_february_ends_on_28_february(self):
        plan = make_plan(self.customer, dt.date(2028, 2, 29))
        assert plan.ends_on == dt.date(2029, 2, 28)

    def test_month_arithmetic_crosses_the_year_and_clamps_every_month_end(self):
        assert services.add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)
        assert services.add_months(dt.date(2026, 8, 31), 1) == dt.date(2026, 9, 30)
        assert services.add_months(dt.date(2026, 12, 31), 12) == dt.date(2027, 12, 31)
        assert services.add_months(dt.date(2026, 5, 31), 0) == dt.date(2026, 5, 31)

    def test_revisit_months_come_from_the_setting(self):
        with override_settings(RUWANG_REVISIT_MONTHS=(2, 4)):
            plan = make_plan(self.customer, dt.date(2026, 1, 10))
        assert due_dates(plan) == [(2, dt.date(2026, 3, 10)), (4, dt.date(2026, 5, 10))]

    def test_given_revisit_months_win_over_the_setting_and_repeat_once(self):
        plan = make_plan(self.customer, dt.date(2026, 1, 10), months=24, revisit_months=[18, 6, 6])
        assert plan.ends_on == dt.date(2028, 1, 10)
        assert [m for m, _due in due_dates(plan)] == [6, 18]

    def test_the_same_case_gets_one_plan_however_often_handover_runs(self):
        case = make_case(self.customer, self.version)
        first = make_plan(self.customer, dt.date(2026, 3, 1), case=case)
        again = make_plan(self.customer, dt.date(2026, 3, 2), case=case)
        assert again.pk == first.pk and again.starts_on == dt.date(2026, 3, 1)
        assert AfterSalesPlan.objects.filter(case=case).count() == 1
        assert ScheduledRevisit.objects.filter(plan=first).count() == 4
        assert AuditEntry.objects.filter(action="after_sales_plan.start").count() == 1

    def test_another_case_of_the_customer_gets_its_own_plan(self):
        make_plan(self.customer, dt.date(2026, 3, 1), case=make_case(self.customer, self.version))
        make_plan(self.customer, dt.date(2026, 4, 1), case=make_case(self.customer, self.version))
        make_plan(self.customer, dt.date(2026, 5, 1))
        assert self.customer.after_sales_plans.count() == 3

    def test_the_start_is_audited_with_its_period_and_revisits(self):
        case = make_case(self.customer, self.version)
        plan = make_plan(self.customer, dt.date(2026, 3, 1), case=case)
        entry = AuditEntry.objects.get(action="after_sales_plan.start")
        assert entry.object_id == str(plan.pk)
        assert entry.changes["ends_on"] == [None, "2027-03-01"]
        assert entry.changes["revisit_months"] == [None, [1, 3, 6, 12]]
        assert entry.changes["case"] == [None, case.number]

    def test_the_engineering_department_serves_the_plan_unless_another_is_named(self):
        engineering = Department.objects.create(code="engineering", name="工程部")
        other = Department.objects.create(code="property", name="物业部")
        assert make_plan(self.customer, dt.date(2026, 3, 1)).department == engineering
        plan = make_plan(self.customer, dt.date(2026, 3, 1), department=other)
        assert plan.department == other

    def test_the_collector_is_recorded_when_it_is_installed_at_the_customer(self):
        customer, site, _floors = make_building()
        collector = make_collector(site=site)
        plan = make_plan(customer, dt.date(2026, 3, 1), collector=collector)
        assert plan.collector == collector
        stock = make_collector(360_102_000_099)
        with pytest.raises(ValidationError) as exc:
            make_plan(customer, dt.date(2026, 3, 1), collector=stock)
        assert "collector" in exc.value.message_dict

    def test_a_case_of_another_customer_is_refused(self):
        other = make_customer("别家客户", self.regions["360102"])
        with pytest.raises(ValidationError) as exc:
            make_plan(self.customer, dt.date(2026, 3, 1), case=make_case(other, self.version))
        assert "case" in exc.value.message_dict
        assert not AfterSalesPlan.objects.exists()

    def test_revisits_outside_the_plan_or_a_bad_length_are_refused_whole(self):
        for extra, field in [
            ({"revisit_months": [6, 13]}, "revisit_months"),
            ({"revisit_months": [0]}, "revisit_months"),
            ({"months": 0}, "months"),
        ]:
            with pytest.raises(ValidationError) as exc:
                make_plan(self.customer, dt.date(2026, 3, 1), **extra)
            assert field in exc.value.message_dict
        assert not AfterSalesPlan.objects.exists()
        assert not ScheduledRevisit.objects.exists()

    def test_only_users_with_the_permission_may_start_a_plan(self):
        with pytest.raises(PermissionDenied):
            services.after_sales_plan_start(
                actor=self.users["engineer"], customer=self.customer, starts_on=dt.date(2026, 3, 1)
            )
        assert not AfterSalesPlan.objects.exists()

    def test_a_user_granted_the_permission_starts_plans_of_customers_they_see(self):
        from django.contrib.auth.models import Permission

        supervisor = self.users["supervisor"]
        supervisor.user_permissions.add(Permission.objects.get(codename="add_aftersalesplan"))
        supervisor = type(supervisor).objects.get(pk=supervisor.pk)  # fresh permission cache
        own = make_customer("本部门客户", self.regions["360102"], owner=self.users["market"])
        plan = services.after_sales_plan_start(
            actor=supervisor, customer=own, starts_on=dt.date(2026, 3, 1)
        )
        assert plan.created_by == supervisor
        with pytest.raises(PermissionDenied):
            services.after_sales_plan_start(
                actor=supervisor, customer=self.customer, starts_on=dt.date(2026, 3, 1)
            )
