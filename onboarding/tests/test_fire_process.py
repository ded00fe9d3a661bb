"""The fire-monitoring onboarding SOP run through its services, step by step, by the right roles."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from pypdf import PdfReader

from customers import services as customer_services
from customers.tests.factories import make_customer
from devices.models import CollectorRegistration, JointTestStatus, RegistrationAction
from devices.tests.factories import make_collector
from onboarding import fire_services, fire_steps
from onboarding.models import Annex, FormRecord, MaterialLine, PurchaseOrder, ServiceContract
from onboarding.services import PROCESSES_DIR
from ruwang.testing import PersonaTestCase, make_regions
from service.models import AfterSalesPlan, Survey
from service.services import add_months
from workflow import services as workflow_services
from workflow.models import CaseStatus, TaskStatus
from workflow.services import case_start, definition_problems

FIRE = PROCESSES_DIR / "fire_monitoring.bpmn"


@pytest.mark.django_db
def test_the_fire_process_publishes_without_problems():
    assert definition_problems(FIRE.read_text(encoding="utf-8")) == []


def _pdf_text(document) -> str:
    with document.current.file.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return "".join(page.extract_text() for page in reader.pages)


class FireProcessTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer(
            "南昌万达广场",
            regions["360102"],
            owner=cls.users["market"],
            address="红谷滩新区会展路 999 号",
            contacts=[{"name": "王建国", "role": "contact", "mobile": "13907910001"}],
        )
        cls.site = customer_services.site_save(
            actor=None,
            customer=cls.customer,
            data={"name": "A 座", "floors_above": 3, "control_room_location": "一层东侧"},
        )
        fire_steps.attach_drawings(cls.customer)
        cls.collector = make_collector(360_102_100_001)

    def start(self):
        return case_start(
            actor=self.users["market"], customer=self.customer, key=fire_steps.PROCESS_KEY
        )

    def open_forms(self, case) -> set[str]:
        return set(
            case.tasks.filter(status__in=(TaskStatus.READY, TaskStatus.CLAIMED)).values_list(
                "form_key", flat=True
            )
        )

    def test_the_whole_sop_with_a_rejection_a_failed_verification_and_a_failed_point(self):
        u = self.users
        case = self.start()
        notice = case.tasks.get()
        assert notice.form_key == "fire_notice"
        assert notice.assignee == u["market"], "the notice goes to whoever started the case"

        # 1-2. market fills the notice; the director sends it back, then approves
        fire_steps.step_notice(case, u["market"], "HT-2026-001")
        assert self.open_forms(case) == {"fire_notice_approval"}
        fire_steps.step_approve(case, u["director"], reject="合同附件缺少系统图说明")
        assert self.open_forms(case) == {"fire_notice"}
        assert not FormRecord.objects.filter(case=case).exists()
        fire_steps.step_notice(case, u["market"], "HT-2026-001")
        fire_steps.step_approve(case, u["director"])
        assert ServiceContract.objects.get(case=case).number == "HT-2026-001"
        # approved: engineering and technical at once
        assert self.open_forms(case) == {"fire_feasibility", "fire_intake"}

        # technical sets up the floors; engineering analyses the panel
        fire_steps.floors_with_plans(case, floors=2)
        fire_steps.step_intake(case, u["technical"])
        fire_steps.step_feasibility(case, u["engineer"], direct=False)
        assert self.open_forms(case) == {
            "fire_broadband_request",
            "fire_material_plan",
            "fire_survey",
        }

        # 3. material plan → procurement, saved as goods arrive, done when all received
        fire_steps.step_material_plan(case, u["engineer"])
        assert MaterialLine.objects.filter(case=case).count() == 3
        task = fire_steps.open_task(case, "fire_procurement")
        from workflow import registry

        partial = fire_steps.procurement_data(case, all_received=False)
        form = registry.bound_form(
            registry.FORMS["fire_procurement"], task, partial, {}, completing=False
        )
        assert form.is_valid(), form.errors
        workflow_services.task_save_progress(
            actor=u["procurement"], task=task, data=form.cleaned_data
        )
        assert PurchaseOrder.objects.get(case=case).received_on is None
        with pytest.raises(ValidationError, match="尚未全部到货"):
            fire_steps.complete(case, "fire_procurement", u["procurement"], partial)
        fire_steps.step_procurement(case, u["procurement"])
        assert PurchaseOrder.objects.get(case=case).received_on == date.today()

        # broadband waits on the telecom without holding anyone up
        assert "fire_survey" in self.open_forms(case)
        fire_steps.step_broadband(case, u["engineer"])

        # survey finds differences: the drawings are updated before the handover
        fire_steps.step_survey(case, u["engineer"], differences="二层新增两间办公室")
        assert "fire_drawings_update" in self.open_forms(case)
        with pytest.raises(ValidationError):
            fire_steps.complete(
                case, "fire_drawings_update", u["engineer"], {"update_notes": "未上传"}
            )
        fire_steps.step_update_drawings(case, u["engineer"])
        fire_steps.step_handover_drawings(case, u["engineer"], self.collector)
        assert fire_services.installation_file(case).collector == self.collector

        # 4-5. digitisation must be complete before it can be submitted; verification fails once
        with pytest.raises(ValidationError, match="点位表为空"):
            fire_steps.step_digitisation(case, u["technical"])
        fire_steps.digitise(case)
        fire_steps.step_digitisation(case, u["technical"])
        fire_steps.step_verification(case, u["monitoring"], problems="三层点位位置偏移")
        assert "fire_digitisation" in self.open_forms(case)
        fire_steps.step_digitisation(case, u["technical"])
        fire_steps.step_verification(case, u["monitoring"])
        # the joins: installation opens only now, due 5 workdays after the verification
        assert self.open_forms(case) == {"fire_install"}
        install = fire_steps.open_task(case, "fire_install")
        assert install.due_at is not None

        # 6. installation registers the collector; the joint test fails one point first
        fire_steps.step_install(case, u["engineer"])
        self.collector.refresh_from_db()
        assert self.collector.customer == self.customer
        failed = fire_steps.run_joint_test(case, u["engineer"], skip=1)
        assert failed.status == JointTestStatus.FAILED
        fire_steps.step_joint_test(case, u["engineer"], failed)
        assert self.open_forms(case) == {"fire_rectification"}
        fire_steps.step_rectification(case, u["engineer"])
        passed = fire_steps.run_joint_test(case, u["monitoring"])
        assert passed.status == JointTestStatus.PASSED
        fire_steps.step_joint_test(case, u["engineer"], passed)

        # 7. the completion notice went to market; 8. handover to the centre
        assert self.open_forms(case) == {"fire_handover"}
        assert u["market"].notifications.filter(kind="notice").exists()
        fire_steps.step_handover(case, u["monitoring"])
        self.customer.refresh_from_db()
        assert self.customer.status == "active"
        self.collector.refresh_from_db()
        assert self.collector.warranty_ends_on == add_months(date.today(), 12)
        plan = AfterSalesPlan.objects.get(case=case)
        assert plan.revisits.count() == 4
        # and the customer is asked how the onboarding went
        assert Survey.objects.filter(case=case, trigger="handover").exists()

        # 9. archive: documents frozen, registration filed, case completed
        fire_steps.step_archive(case, u["engineer"])
        case.refresh_from_db()
        assert case.status == CaseStatus.COMPLETED
        record = fire_services.installation_file(case)
        assert record.archived_at is not None
        assert CollectorRegistration.objects.filter(
            collector=self.collector, action=RegistrationAction.FILED
        ).exists()
        documents = fire_services.case_documents(fire_services.installation_file(case))
        assert documents and all(d.is_frozen for d in documents)

        # eight forms and the completion notice, each a PDF naming the customer in Chinese
        records = {r.annex: r for r in FormRecord.objects.filter(case=case)}
        assert set(records) == set(Annex.values)
        for annex in (Annex.NOTICE, Annex.COMMISSIONING, Annex.HANDOVER):
            text = _pdf_text(records[annex].document)
            assert "南昌万达广场" in text
        assert "RW-JL-01" in _pdf_text(records[Annex.NOTICE].document)
        # the joint test ran twice: its record has two versions
        assert records[Annex.COMMISSIONING].document.versions.count() == 2

    def test_missing_attachments_and_an_incomplete_profile_block_the_notice(self):
        bare = make_customer("缺资料客户", make_regions()["360102"], owner=self.users["market"])
        case = case_start(actor=self.users["market"], customer=bare, key=fire_steps.PROCESS_KEY)
        with pytest.raises(ValidationError, match="客户基本情况表不完整"):
            fire_steps.complete(
                case,
                "fire_notice",
                self.users["market"],
                fire_steps.notice_data(bare, "HT-X-1"),
                {"contract_file": fire_steps.pdf_upload("c.pdf")},
            )
        customer_services.site_save(actor=None, customer=bare, data={"name": "主楼"})
        customer_services.customer_update(
            actor=None, customer=bare, data={"address": "东湖区八一大道 1 号"}
        )
        customer_services.contact_save(
            actor=None,
            customer=bare,
            data={"name": "李四", "role": "contact", "mobile": "13800000000"},
        )
        with pytest.raises(ValidationError, match="请先上传以下附件"):
            fire_steps.complete(
                case,
                "fire_notice",
                self.users["market"],
                fire_steps.notice_data(bare, "HT-X-1"),
                {"contract_file": fire_steps.pdf_upload("c.pdf")},
            )
        assert not ServiceContract.objects.filter(case=case).exists()

    def test_dates_out_of_order_are_refused_with_the_field_named(self):
        case = self.start()
        data = fire_steps.notice_data(self.customer, "HT-2026-002")
        data["ends_on"] = data["starts_on"]
        with pytest.raises(ValidationError, match="ends_on"):
            fire_steps.complete(
                case,
                "fire_notice",
                self.users["market"],
                data,
                {"contract_file": fire_steps.pdf_upload("c.pdf")},
            )

    def test_a_user_outside_the_step_role_cannot_complete_it(self):
        case = self.start()
        task = case.tasks.get()
        with pytest.raises(PermissionDenied):
            workflow_services.task_complete(actor=self.users["engineer"], task=task, data={})
        self.assert_access(
            reverse("workflow:task", args=[task.pk]),
            allowed=["market", "market_manager", "director", "supervisor"],
            not_found=["account_manager"],
        )
        fire_steps.step_notice(case, self.users["market"], "HT-2026-003")
        approval = fire_steps.open_task(case, "fire_notice_approval")
        for persona in ("market", "engineer", "technical", "monitoring", "procurement"):
            response = self.client_as(persona).post(
                reverse("workflow:task", args=[approval.pk]), {"decision": "approve"}
            )
            assert response.status_code == 403, persona
        approval.refresh_from_db()
        assert approval.is_open
