"""The tobacco new-retailer SOP (4.3.6 新入网客户信息管理) run end to end through the task pages."""

import io
import tempfile

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from customers import services as customer_services
from customers.models import Customer, CustomerKind, CustomerStatus, DocumentKind
from onboarding.forms import AssignForm, RegistrationForm, VerificationForm
from onboarding.models import RetailerProfile
from onboarding.services import TOBACCO_PROCESS_KEY, shipped_processes_sync
from onboarding.tests.factories import PNG, give_territory
from ruwang.testing import PersonaTestCase, make_regions
from workflow import services as workflow_services
from workflow.models import Case, CaseEvent, CaseStatus, Task, TaskStatus

REGISTRATION = {
    "licence_number": "360102100001",
    "shop_name": "东湖便民商店（八一店）",
    "operator_name": "王小明",
    "operator_mobile": "138 1234 5678",
    "business_address": "八一大道 1 号",
    "business_type": "convenience",
    "licence_issued_on": "2026-01-05",
    "licence_valid_until": "2031-01-04",
    "registration_notes": "新办证",
}
VERIFICATION = {
    "verified_on_site": "on",
    "business_status": "open",
    "order_day": "tue",
    "grade": "12",
    "delivery_route": "东湖 3 号线",
    "order_method": "online",
    "policy_explained": "on",
    "supply_introduced": "on",
    "ordering_explained": "on",
    "verification_notes": "门头与许可证一致",
}


@override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-onboarding-"))
class TobaccoRetailerProcessTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        shipped_processes_sync()
        cls.regions = make_regions()
        give_territory(cls.users["account_manager"], cls.regions["360102"])

    def _start(self, district: str, name: str = "东湖便民商店") -> Case:
        customer = customer_services.customer_create(
            actor=self.users["market_manager"],
            data={
                "kind": CustomerKind.RETAILER,
                "name": name,
                "region": self.regions[district],
                "licence_number": "360102100001",
            },
        )
        return workflow_services.case_start(
            actor=self.users["market_manager"], customer=customer, key=TOBACCO_PROCESS_KEY
        )

    def _open_task(self, case: Case) -> Task:
        return case.tasks.get(status__in=(TaskStatus.READY, TaskStatus.CLAIMED))

    def _post(self, persona: str, task: Task, data: dict[str, str]):
        return self.client_as(persona).post(f"/work/tasks/{task.pk}/", data)

    def _upload_licence(self, customer: Customer) -> None:
        customer_services.document_upload(
            actor=self.users["account_manager"],
            customer=customer,
            kind=DocumentKind.LICENCE,
            title="烟草专卖零售许可证",
            file_name="licence.png",
            fileobj=io.BytesIO(PNG),
            size=len(PNG),
        )

    def test_a_retailer_in_a_territory_goes_from_licence_to_active_with_one_rejection(self):
        case = self._start("360102")
        customer = case.customer
        customer.refresh_from_db()
        assert customer.owner == self.users["account_manager"]
        assert case.data["auto_assigned"] is True
        assert case.data["account_manager"] == self.users["account_manager"].pk

        # 系统管理员 fills in the registration form from the pool of the role
        register = self._open_task(case)
        assert (register.node_id, register.role, register.assignee) == (
            "Activity_Register",
            "system_admin",
            None,
        )
        assert self._post("sysadmin", register, REGISTRATION).status_code == 302
        customer.refresh_from_db()
        assert customer.name == "东湖便民商店（八一店）"
        assert customer.licence_number == "360102100001"
        assert customer.address == "八一大道 1 号"
        operator = customer.contacts.get()
        assert (operator.name, operator.mobile, operator.is_primary) == (
            "王小明",
            "13812345678",
            True,
        )
        profile = RetailerProfile.objects.get(customer=customer)
        assert profile.operator == operator
        assert profile.business_type == "convenience"
        assert str(profile.licence_valid_until) == "2031-01-04"
        assert profile.archived_at is None

        # 客户经理: the owner gets the verification, which needs the licence scan first
        verify = self._open_task(case)
        assert verify.node_id == "Activity_Verify"
        assert verify.assignee == self.users["account_manager"]
        with pytest.raises(ValidationError) as refused:
            workflow_services.task_complete(
                actor=self.users["account_manager"], task=verify, data=VERIFICATION
            )
        assert str(DocumentKind.LICENCE.label) in refused.value.messages[0]
        self._upload_licence(customer)
        unticked = self._post("account_manager", verify, {**VERIFICATION, "supply_introduced": ""})
        assert unticked.status_code == 200
        assert unticked.context["form"].errors["supply_introduced"] == [
            str(VerificationForm.base_fields["supply_introduced"].error_messages["required"])
        ]
        assert self._post("account_manager", verify, VERIFICATION).status_code == 302

        # 市场经理 rejects with a reason: the work goes back to the account manager
        review = self._open_task(case)
        assert (review.node_id, review.role) == ("Activity_Review", "market_manager")
        assert review.remind_at is not None and review.remind_at < review.due_at
        reason = "档位偏高，请按实际销量重新核定"
        rejected = self._post("market_manager", review, {"decision": "reject", "reason": reason})
        assert rejected.status_code == 302
        review.refresh_from_db()
        assert review.status == TaskStatus.RETURNED
        again = self._open_task(case)
        assert again.node_id == "Activity_Verify"
        assert again.assignee == self.users["account_manager"]
        case.refresh_from_db()
        assert case.data["reason"] == reason
        assert CaseEvent.objects.filter(case=case, kind="returned", text=reason).exists()
        assert VerificationForm.initial_for(case)["grade"] == 12  # starts from what was sent
        assert (
            self._post("account_manager", again, {**VERIFICATION, "grade": "8"}).status_code == 302
        )

        # 市场经理 approves: archived, the customer is active, the case is complete
        final_review = self._open_task(case)
        approved = self._post("market_manager", final_review, {"decision": "approve"})
        assert approved.status_code == 302
        case.refresh_from_db()
        customer.refresh_from_db()
        profile.refresh_from_db()
        assert case.status == CaseStatus.COMPLETED
        assert customer.status == CustomerStatus.ACTIVE
        assert profile.archived_at is not None
        assert profile.archived_by == self.users["market_manager"]
        assert profile.verified_by == self.users["account_manager"]
        assert (profile.grade, profile.order_day, profile.order_method) == (8, "tue", "online")
        assert profile.policy_explained and profile.supply_introduced and profile.ordering_explained
        page = self.client_as("account_manager").get(f"/customers/{customer.pk}/")
        assert 'id="rw-retailer-profile"' in page.content.decode()
        assert "东湖 3 号线" in page.content.decode()

    def test_without_a_territory_manager_the_market_manager_picks_the_account_manager(self):
        # the account manager who already serves 西湖区 is the suggestion
        customer_services.customer_create(
            actor=None,
            data={
                "name": "西湖老客户",
                "region": self.regions["360103"],
                "owner": self.users["account_manager"],
            },
        )
        case = self._start("360103", name="西湖便民商店")
        assert case.data["auto_assigned"] is False
        assign = self._open_task(case)
        assert (assign.node_id, assign.role) == ("Activity_Assign", "market_manager")
        assert AssignForm.initial_for(case) == {"account_manager": self.users["account_manager"].pk}
        # the system administrator sees every customer but is not a market manager
        refused = self._post(
            "sysadmin", assign, {"account_manager": self.users["account_manager"].pk}
        )
        assert refused.status_code == 403
        chosen = self._post(
            "market_manager", assign, {"account_manager": self.users["account_manager"].pk}
        )
        assert chosen.status_code == 302
        case.customer.refresh_from_db()
        assert case.customer.owner == self.users["account_manager"]
        register = self._open_task(case)
        assert register.node_id == "Activity_Register"

    def test_the_registration_form_refuses_a_licence_that_ends_before_it_starts(self):
        form = RegistrationForm(
            data={
                **REGISTRATION,
                "licence_issued_on": "2026-01-05",
                "licence_valid_until": "2026-01-05",
            }
        )
        assert not form.is_valid()
        assert list(form.errors) == ["licence_valid_until"]

    def test_the_registration_form_refuses_a_bad_mobile_and_a_missing_licence_number(self):
        form = RegistrationForm(
            data={**REGISTRATION, "licence_number": " ", "operator_mobile": "1381234"}
        )
        assert not form.is_valid()
        assert set(form.errors) == {"licence_number", "operator_mobile"}

    def test_the_verification_form_needs_a_grade_from_1_to_30(self):
        assert not VerificationForm(data={**VERIFICATION, "grade": "31"}).is_valid()
        assert not VerificationForm(data={**VERIFICATION, "grade": "0"}).is_valid()
        assert VerificationForm(data={**VERIFICATION, "grade": "30"}).is_valid()

    def test_each_unticked_explanation_gets_its_own_message(self):
        form = VerificationForm(
            data={
                **VERIFICATION,
                "verified_on_site": "",
                "policy_explained": "",
                "ordering_explained": "",
            }
        )
        assert not form.is_valid()
        messages = {name: errors[0] for name, errors in form.errors.items()}
        assert set(messages) == {"verified_on_site", "policy_explained", "ordering_explained"}
        assert len(set(messages.values())) == 3
