"""Running cases: start, claim, complete, reject loop, hold/resume, permissions, pages."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user
from workflow import services
from workflow.models import Case, CaseStatus, Task, TaskStatus

BPMN = Path(__file__).parent / "bpmn"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def publish(name: str = "approval_loop.bpmn"):
    version = services.definition_upload(actor=None, xml=(BPMN / name).read_text())
    return services.version_publish(actor=None, version=version)


class CaseFlowTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.version = publish()
        cls.customer = make_customer(
            "流程测试客户", cls.regions["360102"], owner=cls.users["market"]
        )

    def start(self) -> Case:
        return services.case_start(
            actor=self.users["market"], customer=self.customer, version=self.version
        )

    def open_task(self, case: Case) -> Task:
        return case.tasks.get(status__in=[TaskStatus.READY, TaskStatus.CLAIMED])

    def test_a_started_case_offers_its_first_task_to_the_lanes_role(self):
        case = self.start()
        assert case.number.startswith("RW-") and case.number.endswith(f"{case.pk:06d}")
        task = self.open_task(case)
        assert (task.node_id, task.status, task.role, task.assignee) == (
            "Fill",
            TaskStatus.READY,
            "market_staff",
            None,
        )
        assert AuditEntry.objects.filter(action="case.start", object_id=str(case.pk)).exists()

    def test_rejection_returns_the_work_then_approval_activates_the_customer(self):
        case = self.start()
        market, manager = self.users["market"], self.users["market_manager"]
        fill = self.open_task(case)
        services.task_complete(actor=market, task=fill, data={"note": "资料已齐"})
        review = self.open_task(case)
        assert review.node_id == "Review" and review.role == "market_manager"
        with pytest.raises(PermissionDenied):
            services.task_complete(actor=market, task=review, data={"decision": "approve"})
        services.task_complete(
            actor=manager, task=review, data={"decision": "reject", "reason": "缺少平面图"}
        )
        review.refresh_from_db()
        assert review.status == TaskStatus.RETURNED
        again = self.open_task(case)
        assert again.node_id == "Fill" and again.pk != fill.pk
        services.task_complete(actor=market, task=again, data={"note": "已补充"})
        services.task_complete(
            actor=manager, task=self.open_task(case), data={"decision": "approve", "reason": ""}
        )
        case.refresh_from_db()
        self.customer.refresh_from_db()
        assert case.status == CaseStatus.COMPLETED
        assert self.customer.status == "active"
        assert case.tokens == []
        kinds = list(case.events.values_list("kind", flat=True))
        assert kinds.count("returned") == 1 and kinds[-1] == "completed"

    def test_a_task_completed_twice_is_refused_with_a_clear_message(self):
        case = self.start()
        task = self.open_task(case)
        services.task_complete(actor=self.users["market"], task=task, data={})
        with pytest.raises(services.TaskConflict, match="market"):
            services.task_complete(actor=self.users["market"], task=task, data={})
        assert case.tasks.filter(node_id="Review").count() == 1

    def test_claim_takes_the_task_out_of_the_pool(self):
        case = self.start()
        task = self.open_task(case)
        other = make_user("market2", "market_staff")
        other.regions.add(self.regions["360100"])
        services.task_claim(actor=self.users["market"], task=task)
        with pytest.raises(services.TaskConflict):
            services.task_claim(actor=other, task=task)
        with pytest.raises(PermissionDenied):
            services.task_complete(actor=other, task=task, data={})
        services.task_unclaim(actor=self.users["market"], task=task)
        services.task_claim(actor=other, task=task)
        task.refresh_from_db()
        assert task.assignee == other

    def test_delegation_needs_a_reason_and_is_audited(self):
        case = self.start()
        task = self.open_task(case)
        services.task_claim(actor=self.users["market"], task=task)
        colleague = make_user("market3", "market_staff")
        stranger = make_user("market4", "market_staff")
        with pytest.raises(ValidationError):  # may not see the customer
            services.task_delegate(actor=self.users["market"], task=task, to=stranger, reason="x")
        colleague.regions.add(self.regions["360100"])
        with pytest.raises(ValidationError):
            services.task_delegate(actor=self.users["market"], task=task, to=colleague, reason=" ")
        services.task_delegate(
            actor=self.users["market"], task=task, to=colleague, reason="出差，请代办"
        )
        task.refresh_from_db()
        assert task.assignee == colleague and task.delegated_by == self.users["market"]
        assert AuditEntry.objects.filter(action="task.delegate", object_id=str(task.pk)).exists()

    def test_a_running_case_keeps_its_version_after_a_new_one_is_published(self):
        case = self.start()
        copy = services.version_copy(actor=None, version=self.version)
        services.version_publish(actor=None, version=copy)
        case.refresh_from_db()
        assert case.version_id == self.version.pk
        services.task_complete(actor=self.users["market"], task=self.open_task(case), data={})
        assert self.open_task(case).node_id == "Review"
        newer = services.case_start(actor=None, customer=self.customer, key="test-approval")
        assert newer.version_id == copy.pk

    def test_a_user_who_may_not_see_the_customer_cannot_see_or_complete_its_tasks(self):
        case = self.start()
        task = self.open_task(case)
        stranger = make_user("am_far", "account_manager")  # no regions, owns nothing
        client = self.client_as_user(stranger)
        assert client.get(f"/work/tasks/{task.pk}/").status_code == 404
        assert client.get(f"/work/cases/{case.pk}/").status_code == 404
        assert client.post(f"/work/tasks/{task.pk}/", {"note": "x"}).status_code == 404
        with pytest.raises(PermissionDenied):
            services.task_complete(actor=stranger, task=task, data={})

    def client_as_user(self, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client


class HoldAndCalendarTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.version = publish()
        cls.customer = make_customer("日历客户", cls.regions["360102"], owner=cls.users["market"])

    def test_two_workdays_from_the_eve_of_national_day_end_after_the_holiday(self):
        with time_machine.travel(datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI), tick=False):
            case = services.case_start(actor=None, customer=self.customer, version=self.version)
        task = case.tasks.get()
        # 2026-10-01..07 are holidays; 10-08 and 10-09 working days (7.5 working hours each).
        assert task.due_at == datetime(2026, 10, 9, 16, 0, tzinfo=SHANGHAI)
        # reminder 4 work hours before: 10-09 09:00 + 3 h → back into 10-08 afternoon
        assert task.remind_at == datetime(2026, 10, 9, 10, 30, tzinfo=SHANGHAI)

    def test_holding_a_case_for_three_days_moves_its_deadlines_by_three_days(self):
        start = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
        with time_machine.travel(start, tick=False):
            case = services.case_start(actor=None, customer=self.customer, version=self.version)
        due = case.tasks.get().due_at
        director = self.users["director"]
        with time_machine.travel(datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI), tick=False):
            services.case_hold(actor=director, case=case, reason="客户装修，暂停")
        task = case.tasks.get()
        with pytest.raises(ValidationError):
            services.task_complete(actor=self.users["market"], task=task, data={})
        with time_machine.travel(datetime(2026, 11, 5, 10, 0, tzinfo=SHANGHAI), tick=False):
            services.case_resume(actor=director, case=case)
        task.refresh_from_db()
        assert task.due_at - due == (
            datetime(2026, 11, 5, 10, 0, tzinfo=SHANGHAI)
            - datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)
        )

    def test_only_managers_or_the_starter_may_hold_a_case(self):
        case = services.case_start(
            actor=self.users["market"], customer=self.customer, version=self.version
        )
        with pytest.raises(PermissionDenied):
            services.case_hold(actor=self.users["engineer"], case=case, reason="x")
        services.case_hold(actor=self.users["market"], case=case, reason="客户要求")

    def test_cancelling_closes_every_open_task(self):
        case = services.case_start(actor=None, customer=self.customer, version=self.version)
        services.case_cancel(actor=self.users["director"], case=case, reason="客户放弃")
        assert case.tasks.get().status == TaskStatus.CANCELLED
        case.refresh_from_db()
        assert case.status == CaseStatus.CANCELLED and case.tokens == []
