"""The fire-monitoring demo: thirty cases spread over the SOP, with waiting, overdue, rejected,
failed and archived work, so every inbox of the process has something in it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db.models import F
from django.test import TestCase, override_settings
from django.utils import timezone

from accounts.models import User
from customers.models import Customer, CustomerStatus
from devices.demo import load_demo
from devices.models import Collector, CollectorStatus, DeviceEvent, Verdict
from onboarding.fire_demo import COLLECTOR_PREFIX, SPARE_COLLECTORS, load_cases
from onboarding.fire_steps import PROCESS_KEY
from onboarding.models import InstallationFile, PurchaseOrder
from ruwang.demo import load_organisation
from workflow.models import OPEN_TASK_STATUSES, Case, CaseStatus, Task, TaskStatus
from workflow.selectors import InboxFilters, inbox, inbox_counts

# The demo user of each role that works a step of the SOP.
WORKERS = {
    "market": "market_staff",
    "director": "operations_director",
    "engineer": "engineer",
    "tech": "technical_staff",
    "buyer": "procurement",
    "monitor": "monitoring_operator",
}


class FireDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # The demo organisation, as `ruwang demo` loads it (its logins file kept out of var/),
        # then the devices demo, which leaves a few collectors in stock.
        with tempfile.TemporaryDirectory() as var, override_settings(VAR_DIR=Path(var)):
            load_organisation()
        load_demo()
        cls.started = load_cases()
        cls.cases = Case.objects.filter(version__definition__key=PROCESS_KEY)

    def open_tasks(self):
        return Task.objects.filter(case__in=self.cases, status__in=OPEN_TASK_STATUSES)

    def test_thirty_cases_put_work_in_the_inbox_of_every_role_of_the_sop(self):
        assert self.started == 30
        assert self.cases.count() == 30
        assert set(WORKERS.values()) <= set(self.open_tasks().values_list("role", flat=True))
        for username in WORKERS:
            user = User.objects.get(username=username)
            counts = inbox_counts(user)
            assert counts.mine + counts.pool > 0, f"{username}'s inbox is empty"
        # the market staff owns the demo customers and holds the notices they started
        market = User.objects.get(username="market")
        customers = Customer.objects.filter(cases__in=self.cases)
        assert set(customers.values_list("owner", flat=True)) == {market.pk}
        notices = inbox(market, InboxFilters(view="mine"))
        assert {t.name for t in notices} == {"签合同、填写安装通知书（附件一）"}

    def test_some_work_is_overdue_and_the_timeline_is_consistent(self):
        now = timezone.now()
        overdue = self.open_tasks().filter(due_at__lt=now)
        assert overdue.count() >= 8
        assert self.open_tasks().filter(due_at__gte=now).count() >= 8
        # some of it is in people's own inboxes ("mine"), some still waits in the role's pool
        overdue_mine = {u: inbox_counts(User.objects.get(username=u)).overdue for u in WORKERS}
        assert sum(1 for n in overdue_mine.values() if n) >= 4, overdue_mine
        engineer = inbox_counts(User.objects.get(username="engineer"))
        assert engineer.mine and engineer.pool
        tasks = Task.objects.filter(case__in=self.cases)
        assert not tasks.filter(created_at__lt=F("case__started_at")).exists()
        assert not tasks.filter(due_at__lte=F("created_at")).exists()
        assert not tasks.filter(completed_at__lt=F("created_at")).exists()
        assert not tasks.filter(completed_at__gt=now).exists()
        # the cases started over the past weeks, not all at once
        starts = sorted(self.cases.values_list("started_at", flat=True))
        assert (now - starts[0]).days >= 14
        assert (now - starts[-1]).days <= 3

    def test_rejections_failures_and_partial_deliveries_are_among_the_cases(self):
        returned = Task.objects.filter(case__in=self.cases, status=TaskStatus.RETURNED)
        assert returned.filter(form_key="fire_notice_approval").count() >= 3
        # a notice sent back waits with market again, with the director's reason
        back = self.open_tasks().filter(form_key="fire_notice", case__tasks__in=returned)
        assert back.exists()
        assert returned.first().data["reason"]
        forms = set(self.open_tasks().values_list("form_key", flat=True))
        assert {
            "fire_notice_approval",
            "fire_intake",
            "fire_feasibility",
            "fire_procurement",
            "fire_drawings_update",
            "fire_digitisation",
            "fire_verification",
            "fire_install",
            "fire_joint_test",
            "fire_rectification",
            "fire_handover",
            "fire_archive",
        } <= forms
        partial = self.open_tasks().filter(form_key="fire_procurement", status=TaskStatus.CLAIMED)
        assert partial.exists()
        assert PurchaseOrder.objects.filter(case__in=self.cases, received_on=None).exists()
        assert Task.objects.filter(
            case__in=self.cases, form_key="fire_verification", data__verification_result="fail"
        ).exists()
        assert Task.objects.filter(
            case__in=self.cases, form_key="fire_survey", data__survey_result="differs"
        ).exists()

    def test_archived_cases_have_live_customers_and_their_joint_tests_handled(self):
        done = self.cases.filter(status=CaseStatus.COMPLETED)
        assert done.count() == 4
        assert not InstallationFile.objects.filter(case__in=done, archived_at=None).exists()
        assert set(Customer.objects.filter(cases__in=done).values_list("status", flat=True)) == {
            CustomerStatus.ACTIVE
        }
        for case in done:
            assert case.ended_at is not None and case.ended_at < timezone.now()
        # joint-test signals are acknowledged as tests, not left as open alarms on the board
        tested = DeviceEvent.objects.filter(collector__customer__cases__in=done)
        assert tested.exists()
        assert set(tested.values_list("verdict", flat=True)) == {Verdict.TEST}

    def test_a_few_demo_collectors_stay_in_stock(self):
        free = Collector.objects.filter(status=CollectorStatus.IN_STOCK, customer=None)
        assert free.count() >= SPARE_COLLECTORS
        assert Collector.objects.filter(serial_number__startswith=COLLECTOR_PREFIX).exists()

    def test_loading_twice_adds_nothing(self):
        counts = (Case.objects.count(), Customer.objects.count(), Collector.objects.count())
        assert load_cases() == 0
        assert (Case.objects.count(), Customer.objects.count(), Collector.objects.count()) == counts
