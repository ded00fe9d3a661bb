"""The fire SOP's step pages: each opens for its role with its own form, the archive page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from customers import services as customer_services
from customers.tests.factories import make_customer
from devices.tests.factories import make_collector
from onboarding import fire_services, fire_steps
from ruwang.testing import PersonaTestCase, make_regions
from workflow.business_calendar import current_calendar
from workflow.calendar import parse_duration
from workflow.models import Task, TaskStatus
from workflow.services import case_start

# Who, besides the step's own role, may open an open step: the managers who hand work over.
MANAGERS = ["market_manager", "director", "supervisor"]


class FireStepPagesTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer(
            "赣江大酒店",
            make_regions()["360102"],
            owner=cls.users["market"],
            address="东湖区沿江北大道 8 号",
            contacts=[{"name": "赵敏", "role": "contact", "mobile": "13907910002"}],
        )
        customer_services.site_save(
            actor=None, customer=cls.customer, data={"name": "主楼", "floors_above": 2}
        )
        fire_steps.attach_drawings(cls.customer)
        cls.collector = make_collector(360_102_200_001)

    def page(self, case, form_key: str, persona: str, marker: str) -> Task:
        task = fire_steps.open_task(case, form_key)
        url = reverse("workflow:task", args=[task.pk])
        response = self.client_as(persona).get(url)
        assert response.status_code == 200, (form_key, response.status_code)
        self.assertContains(response, marker)
        return task

    def test_every_step_page_shows_its_form_to_its_role(self):
        u = self.users
        case = case_start(actor=u["market"], customer=self.customer, key=fire_steps.PROCESS_KEY)
        notice = self.page(case, "fire_notice", "market", 'name="contract_number"')
        self.assert_access(
            reverse("workflow:task", args=[notice.pk]),
            allowed=["market", *MANAGERS],
            not_found=["account_manager"],
        )
        fire_steps.step_notice(case, u["market"], "HT-P-1")
        approval = self.page(case, "fire_notice_approval", "director", "HT-P-1")
        self.assert_access(
            reverse("workflow:task", args=[approval.pk]),
            allowed=MANAGERS,
            not_found=["account_manager"],
        )
        fire_steps.step_approve(case, u["director"], reject="请补充控制器说明书")
        self.page(case, "fire_notice", "market", "请补充控制器说明书")
        fire_steps.step_notice(case, u["market"], "HT-P-1")
        fire_steps.step_approve(case, u["director"])

        intake = self.page(case, "fire_intake", "technical", "rw-intake-floors")
        # the engineer sees the case, but technical's open step is not theirs
        response = self.client_as("engineer").get(reverse("workflow:task", args=[intake.pk]))
        assert response.status_code == 403
        fire_steps.floors_with_plans(case)
        fire_steps.step_intake(case, u["technical"])
        self.page(case, "fire_feasibility", "engineer", 'name="panel_brand"')
        fire_steps.step_feasibility(case, u["engineer"])

        self.page(case, "fire_material_plan", "engineer", 'name="line-1-item"')
        fire_steps.step_material_plan(case, u["engineer"])
        procurement = self.page(case, "fire_procurement", "procurement", "rw-procurement-lines")
        self.assertContains(
            self.client_as("procurement").get(reverse("workflow:task", args=[procurement.pk])),
            'name="save_progress"',
        )
        # saving progress through the page keeps the task open
        data = fire_steps.procurement_data(case, all_received=False)
        response = self.client_as("procurement").post(
            reverse("workflow:task", args=[procurement.pk]), {**data, "save_progress": "1"}
        )
        assert response.status_code == 302
        procurement.refresh_from_db()
        assert procurement.is_open and procurement.assignee == u["procurement"]
        # completing before everything arrived names what is missing
        response = self.client_as("procurement").post(
            reverse("workflow:task", args=[procurement.pk]), data, follow=True
        )
        self.assertContains(response, "尚未全部到货")
        fire_steps.step_procurement(case, u["procurement"])

        self.page(case, "fire_broadband_request", "engineer", 'name="reference_number"')
        fire_steps.step_broadband(case, u["engineer"])
        self.page(case, "fire_survey", "engineer", "核对二层新增房间的探测器")
        fire_steps.step_survey(case, u["engineer"], differences="一层消控室位置变更")
        self.page(case, "fire_drawings_update", "engineer", "一层消控室位置变更")
        fire_steps.step_update_drawings(case, u["engineer"])
        self.page(case, "fire_drawings_handover", "engineer", 'name="serial_number"')
        fire_steps.step_handover_drawings(case, u["engineer"], self.collector)

        self.page(case, "fire_digitisation", "technical", "rw-digitisation-state")
        fire_steps.digitise(case)
        fire_steps.step_digitisation(case, u["technical"])
        self.page(case, "fire_verification", "monitoring", "rw-digitisation-state")
        fire_steps.step_verification(case, u["monitoring"], problems="2F 点位缺少位置描述")
        self.page(case, "fire_digitisation", "technical", "2F 点位缺少位置描述")
        fire_steps.step_digitisation(case, u["technical"])
        fire_steps.step_verification(case, u["monitoring"])

        self.page(case, "fire_install", "engineer", 'name="photo_1"')
        fire_steps.step_install(case, u["engineer"])
        joint = self.page(case, "fire_joint_test", "engineer", "rw-start-joint-test")
        start = self.client_as("engineer").get(
            reverse("devices:joint_test_start", args=[self.collector.pk]), {"case": case.pk}
        )
        self.assertContains(start, f'<option value="{case.pk}" selected>')
        assert joint.is_open
        failed = fire_steps.run_joint_test(case, u["engineer"], skip=1)
        fire_steps.step_joint_test(case, u["engineer"], failed)
        self.page(case, "fire_rectification", "engineer", "rw-failures")
        fire_steps.step_rectification(case, u["engineer"])
        fire_steps.step_joint_test(case, u["engineer"], fire_steps.run_joint_test(case, None))
        self.page(case, "fire_handover", "monitoring", "rw-handover-collector")
        fire_steps.step_handover(case, u["monitoring"])
        archive = self.page(case, "fire_archive", "engineer", "rw-archive-documents")
        fire_steps.step_archive(case, u["engineer"])

        # done: the step's record is part of the case's history for everyone who sees the case
        archive.refresh_from_db()
        assert archive.status == TaskStatus.COMPLETED
        history = self.client_as("monitoring").get(reverse("workflow:task", args=[archive.pk]))
        self.assertContains(history, "BA-")

        # the archive page lists the case with its frozen documents
        url = reverse("onboarding:archive")
        viewers = [
            "market",
            "market_manager",
            "director",
            "engineer",
            "technical",
            "procurement",
            "monitoring",
            "account_manager",
            "agent",
            "supervisor",
            "sysadmin",
        ]
        self.assert_access(url, allowed=viewers)
        listing = self.client_as("engineer").get(url)
        self.assertContains(listing, case.number)
        self.assertContains(listing, "RW-JL-08")
        hidden = self.client_as("account_manager").get(url)
        self.assertNotContains(hidden, case.number)

    def test_installation_is_due_five_workdays_after_the_verification(self):
        u = self.users
        case = case_start(actor=u["market"], customer=self.customer, key=fire_steps.PROCESS_KEY)
        fire_steps.step_notice(case, u["market"], "HT-P-2")
        fire_steps.step_approve(case, u["director"])
        fire_steps.floors_with_plans(case)
        fire_steps.step_intake(case, u["technical"])
        fire_steps.step_feasibility(case, u["engineer"])
        fire_steps.step_survey(case, u["engineer"])
        fire_steps.step_handover_drawings(case, u["engineer"], self.collector)
        fire_steps.digitise(case)
        fire_steps.step_digitisation(case, u["technical"])
        fire_steps.step_verification(case, u["monitoring"])
        verified = fire_services.installation_file(case).verified_at
        assert verified is not None
        # materials and the line come days later: the install clock still counts from verification
        fire_steps.step_material_plan(case, u["engineer"])
        fire_steps.step_procurement(case, u["procurement"])
        fire_steps.step_broadband(case, u["engineer"])
        install = fire_steps.open_task(case, "fire_install")
        expected = current_calendar().add(verified, parse_duration("5 workdays"))
        assert install.due_at == expected
        assert isinstance(install.due_at, datetime)
        assert install.due_at - timezone.now() < timedelta(days=12)
