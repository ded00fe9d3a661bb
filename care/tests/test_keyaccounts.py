"""Key accounts (关键客户): flagging by hand and by rule (never re-flagging one unflagged by hand
unless asked), the care plan's tasks, the periodic review's one task per due date, the list's
figures, the export and who may open which page."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from accounts.models import User
from accounts.roles import ROLES_BY_CODE
from audit.models import AuditEntry
from care import keyaccounts as ka
from care.keyaccount_tasks import key_accounts_daily_task
from care.models import (
    CareKind,
    CarePlanItem,
    CareTask,
    CareTaskStatus,
    DecisionMaker,
    KeyAccount,
    KeyAccountEvent,
    KeyAccountRule,
    KeyAccountRuleKind,
    SatisfactionReview,
)
from customers.models import Customer, CustomerCategory, Segment
from customers.tests.factories import make_contact, make_customer
from insights.models import CustomerValue
from onboarding.models import ServiceContract
from ruwang.testing import PersonaTestCase, make_regions, make_user

NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TODAY = dt.date(2026, 6, 10)

# The permissions these tests expect accounts/roles.py to grant (see the final report).
ROLE_GRANTS = {
    "market_staff": ("view_keyaccount",),
    "market_manager": (
        "view_keyaccount",
        "change_keyaccount",
        "manage_keyaccount_rules",
        "export_keyaccounts",
    ),
    "operations_director": (
        "view_keyaccount",
        "change_keyaccount",
        "manage_all_keyaccounts",
        "manage_keyaccount_rules",
        "export_keyaccounts",
    ),
    "account_manager": ("view_keyaccount", "change_keyaccount"),
    "supervisor": (
        "view_keyaccount",
        "change_keyaccount",
        "manage_all_keyaccounts",
        "manage_keyaccount_rules",
        "export_keyaccounts",
    ),
}


def grant_role_permissions() -> None:
    for code, codenames in ROLE_GRANTS.items():
        group = Group.objects.get(name=ROLES_BY_CODE[code].name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="care", codename__in=codenames)
        )


def fresh(user: User) -> User:
    """The user loaded again (permission and visibility caches empty)."""
    return User.objects.get(pk=user.pk)


class KeyAccountCase(PersonaTestCase):
    """Customers: `mine` (owned by the account manager, so in the managers' department too),
    `other` (nobody's: only the roles that see every customer see it)."""

    am: User
    director: User
    supervisor: User
    mine: Customer
    other: Customer

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        grant_role_permissions()
        cls.regions = make_regions()
        cls.am = cls.users["account_manager"]
        cls.mine = make_customer("南昌重点大厦", cls.regions["360102"], owner=cls.am)
        cls.other = make_customer("九江商场", cls.regions["360402"])

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)
        self.am = fresh(self.am)
        self.director = fresh(self.users["director"])
        self.supervisor = fresh(self.users["supervisor"])

    def flag(self, customer: Customer | None = None, **kwargs: object) -> KeyAccount:
        return ka.key_account_flag(
            actor=kwargs.pop("actor", self.director),  # type: ignore[arg-type]
            customer=customer or self.mine,
            reason=str(kwargs.pop("reason", "年合同额最大")),
            **kwargs,  # type: ignore[arg-type]
        )


class FlaggingTests(KeyAccountCase):
    def test_flag_defaults_owner_to_account_manager_and_records_history(self) -> None:
        account = self.flag()
        self.assertTrue(account.is_active)
        self.assertEqual(account.owner, self.am)
        self.assertEqual(account.source, "manual")
        self.assertEqual(account.next_review_on, dt.date(2026, 9, 10))
        event = KeyAccountEvent.objects.get(key_account=account)
        self.assertEqual(
            (event.kind, event.reason, event.actor), ("flagged", "年合同额最大", self.director)
        )
        self.assertTrue(AuditEntry.objects.filter(action="key_account.flag").exists())

    def test_flag_with_named_owner(self) -> None:
        account = self.flag(owner=self.supervisor)
        self.assertEqual(account.owner, self.supervisor)

    def test_flag_needs_reason_in_chinese(self) -> None:
        with self.assertRaises(ValidationError) as caught:
            self.flag(reason="  ")
        self.assertEqual(caught.exception.message_dict["reason"], [_("Fill in the reason.")])
        self.assertFalse(KeyAccount.objects.exists())

    def test_flag_twice_is_refused(self) -> None:
        self.flag()
        with self.assertRaisesMessage(
            ValidationError, _("This customer is already a key account.")
        ):
            self.flag()

    def test_account_manager_flags_only_own_customers(self) -> None:
        self.flag(actor=self.am)
        with self.assertRaises(PermissionDenied):
            self.flag(self.other, actor=self.am)

    def test_unflag_keeps_history_and_cancels_open_tasks(self) -> None:
        account = self.flag()
        item = ka.plan_item_create(
            actor=self.am, account=account, kind="visit", planned_on=TODAY, title="拜访"
        )
        with self.assertRaises(ValidationError) as caught:
            ka.key_account_unflag(actor=self.am, account=account, reason="")
        self.assertIn("reason", caught.exception.message_dict)
        ka.key_account_unflag(actor=self.am, account=account, reason="合同终止")
        account.refresh_from_db()
        self.assertFalse(account.is_active)
        self.assertEqual(account.unflag_reason, "合同终止")
        self.assertEqual(CareTask.objects.get(plan_item=item).status, CareTaskStatus.CANCELLED)
        kinds = list(account.events.order_by("at", "id").values_list("kind", flat=True))
        self.assertEqual(kinds, ["flagged", "unflagged"])
        # Flagged again: the same row, profile and plan kept.
        again = self.flag(reason="重新签约")
        self.assertEqual(again.pk, account.pk)
        self.assertEqual(CarePlanItem.objects.filter(key_account=account).count(), 1)

    def test_owner_change_moves_open_tasks_and_only_managers_may_give_away(self) -> None:
        account = self.flag()
        item = ka.plan_item_create(
            actor=self.am, account=account, kind="gift", planned_on=TODAY, title="中秋礼品"
        )
        with self.assertRaises(ValidationError) as caught:
            ka.key_account_update(actor=self.am, account=account, owner=self.supervisor)
        self.assertIn("owner", caught.exception.message_dict)
        ka.key_account_update(
            actor=self.director, account=account, owner=self.supervisor, risks="竞争对手接触"
        )
        self.assertEqual(CareTask.objects.get(plan_item=item).assignee, self.supervisor)
        account.refresh_from_db()
        self.assertEqual(account.risks, "竞争对手接触")
        self.assertTrue(account.events.filter(kind="owner").exists())

    def test_decision_maker_from_contact_or_free_text(self) -> None:
        account = self.flag()
        contact = make_contact(self.mine, name="王总", mobile="13800138000")
        maker = ka.decision_maker_save(
            actor=self.am, account=account, contact=contact, position="总经理", attitude="supporter"
        )
        self.assertEqual((str(maker), maker.name), ("王总", ""))
        free = ka.decision_maker_save(
            actor=self.am, account=account, name="李工", attitude="neutral"
        )
        self.assertIsNone(free.contact)
        with self.assertRaises(ValidationError) as caught:
            ka.decision_maker_save(actor=self.am, account=account, name=" ")
        self.assertEqual(
            caught.exception.message_dict["name"], [_("Choose a contact or fill in the name.")]
        )
        stranger = make_contact(self.other, name="外人", mobile="13900139000")
        with self.assertRaises(ValidationError):
            ka.decision_maker_save(actor=self.am, account=account, contact=stranger)
        self.assertEqual(DecisionMaker.objects.count(), 2)
        # Deleting the contact keeps the row (nameless), it does not block the deletion.
        contact.delete()
        maker.refresh_from_db()
        self.assertEqual(str(maker), "—")


class PlanTests(KeyAccountCase):
    def test_plan_item_creates_task_for_owner_due_on_planned_date(self) -> None:
        account = self.flag()
        item = ka.plan_item_create(
            actor=self.am,
            account=account,
            kind="visit",
            planned_on=dt.date(2026, 7, 1),
            title="季度拜访",
            budget=Decimal("500"),
        )
        task = CareTask.objects.get(plan_item=item)
        self.assertEqual(
            (task.kind, task.assignee, task.due_on, task.occurrence, task.customer_id),
            (CareKind.PLAN, self.am, dt.date(2026, 7, 1), f"plan:{item.pk}", self.mine.pk),
        )

    def test_moving_the_date_moves_the_open_task_only(self) -> None:
        account = self.flag()
        item = ka.plan_item_create(
            actor=self.am, account=account, kind="contact", planned_on=TODAY, title="电话回访"
        )
        ka.plan_item_update(
            actor=self.am, item=item, kind="contact", planned_on=dt.date(2026, 6, 20), title="电话"
        )
        self.assertEqual(CareTask.objects.get(plan_item=item).due_on, dt.date(2026, 6, 20))
        CareTask.objects.filter(plan_item=item).update(
            status=CareTaskStatus.DONE, done_at=timezone.now()
        )
        ka.plan_item_update(
            actor=self.am, item=item, kind="contact", planned_on=dt.date(2026, 6, 25), title="电话"
        )
        self.assertEqual(CareTask.objects.get(plan_item=item).due_on, dt.date(2026, 6, 20))

    def test_deleting_an_item_cancels_its_task(self) -> None:
        account = self.flag()
        item = ka.plan_item_create(
            actor=self.am, account=account, kind="event", planned_on=TODAY, title="客户答谢会"
        )
        task_id = item.task_id
        assert task_id is not None
        ka.plan_item_delete(actor=self.am, item=item)
        self.assertFalse(CarePlanItem.objects.exists())
        self.assertEqual(CareTask.objects.get(pk=task_id).status, CareTaskStatus.CANCELLED)

    def test_bad_plan_input_names_the_field(self) -> None:
        account = self.flag()
        with self.assertRaises(ValidationError) as caught:
            ka.plan_item_create(
                actor=self.am, account=account, kind="visit", planned_on=TODAY, title=""
            )
        self.assertEqual(caught.exception.message_dict["title"], [_("Fill in the title.")])
        with self.assertRaises(ValidationError) as caught:
            ka.plan_item_create(
                actor=self.am,
                account=account,
                kind="visit",
                planned_on=TODAY,
                title="x",
                budget=Decimal("-1"),
            )
        self.assertIn("budget", caught.exception.message_dict)
        self.assertFalse(CareTask.objects.exists())

    def test_progress_counts_done_over_this_years_items_and_overdue(self) -> None:
        account = self.flag()
        make = ka.plan_item_create
        done = make(
            actor=self.am, account=account, kind="visit", planned_on=dt.date(2026, 3, 1), title="a"
        )
        make(
            actor=self.am, account=account, kind="visit", planned_on=dt.date(2026, 5, 1), title="b"
        )
        make(actor=self.am, account=account, kind="gift", planned_on=dt.date(2026, 9, 1), title="c")
        cancelled = make(
            actor=self.am, account=account, kind="gift", planned_on=dt.date(2026, 4, 1), title="d"
        )
        make(
            actor=self.am, account=account, kind="visit", planned_on=dt.date(2027, 1, 5), title="e"
        )
        CareTask.objects.filter(plan_item=done).update(status="done", done_at=timezone.now())
        CareTask.objects.filter(plan_item=cancelled).update(
            status="cancelled", done_at=timezone.now()
        )
        detail = ka.key_account_detail(self.am, account, today=TODAY)
        self.assertEqual(
            (detail.progress.done, detail.progress.total, detail.progress.overdue), (1, 3, 1)
        )
        row = ka.key_account_list(self.am, ka.KeyAccountFilters(), TODAY).get()
        self.assertEqual(
            (row.plan_done, row.plan_total, row.plan_overdue, row.next_planned_on),
            (1, 3, 1, dt.date(2026, 9, 1)),
        )
        self.assertEqual(row.next_planned_title, "c")


class ReviewTests(KeyAccountCase):
    def test_review_task_once_per_due_date_even_when_run_daily(self) -> None:
        account = self.flag()  # next review 2026-09-10; tasks open 14 days before
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 8, 26)), 0)
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 8, 27)), 1)
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 8, 27)), 0)
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 9, 20)), 0)
        task = CareTask.objects.get(kind=CareKind.REVIEW)
        self.assertEqual(
            (task.assignee, task.due_on, task.occurrence),
            (self.am, dt.date(2026, 9, 10), f"review:{account.pk}:2026-09-10"),
        )

    def test_recording_a_review_closes_the_task_and_sets_the_next_due(self) -> None:
        account = self.flag()
        KeyAccount.objects.filter(pk=account.pk).update(next_review_on=dt.date(2026, 6, 1))
        account.refresh_from_db()
        ka.review_tasks_create(TODAY)
        review = ka.review_record(
            actor=self.am,
            account=account,
            reviewed_on=dt.date(2026, 6, 8),
            satisfaction=4,
            summary="总体满意，希望缩短故障响应",
        )
        account.refresh_from_db()
        self.assertEqual(account.next_review_on, dt.date(2026, 9, 8))
        task = CareTask.objects.get(kind=CareKind.REVIEW)
        self.assertEqual((task.status, task.done_by), (CareTaskStatus.DONE, self.am))
        self.assertEqual(SatisfactionReview.objects.get().pk, review.pk)
        # The next due date gets its own task, once.
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 8, 30)), 1)
        self.assertEqual(ka.review_tasks_create(dt.date(2026, 8, 31)), 0)

    def test_review_input_errors(self) -> None:
        account = self.flag()
        with self.assertRaises(ValidationError) as caught:
            ka.review_record(
                actor=self.am,
                account=account,
                reviewed_on=TODAY + dt.timedelta(days=1),
                satisfaction=3,
                summary="x",
            )
        self.assertEqual(
            caught.exception.message_dict["reviewed_on"],
            [_("The review date cannot be in the future.")],
        )
        with self.assertRaises(ValidationError) as caught:
            ka.review_record(
                actor=self.am, account=account, reviewed_on=TODAY, satisfaction=6, summary="x"
            )
        self.assertIn("satisfaction", caught.exception.message_dict)

    def test_interval_change_moves_the_due_date_and_cancels_the_old_task(self) -> None:
        account = self.flag()
        KeyAccount.objects.filter(pk=account.pk).update(next_review_on=dt.date(2026, 6, 15))
        account.refresh_from_db()
        ka.review_tasks_create(TODAY)
        ka.key_account_update(actor=self.am, account=account, review_months=6)
        account.refresh_from_db()
        self.assertEqual(account.next_review_on, dt.date(2026, 12, 10))
        self.assertEqual(
            CareTask.objects.get(kind=CareKind.REVIEW).status, CareTaskStatus.CANCELLED
        )

    def test_add_months_clamps_to_month_end(self) -> None:
        self.assertEqual(ka.add_months(dt.date(2026, 1, 31), 1), dt.date(2026, 2, 28))
        self.assertEqual(ka.add_months(dt.date(2026, 11, 30), 3), dt.date(2027, 2, 28))


class RuleTests(KeyAccountCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        r = cls.regions["360103"]
        cls.key_unit = make_customer("重点单位甲", r, category=CustomerCategory.KEY_UNIT)
        cls.class_a = make_customer("A类客户", r)
        cls.rich = make_customer("大合同客户", r, owner=cls.users["account_manager"])
        cls.plain = make_customer("普通客户", r)
        CustomerValue.objects.create(customer=cls.class_a, abc_class="A", computed_at=NOW)
        CustomerValue.objects.create(customer=cls.plain, abc_class="C", computed_at=NOW)
        ServiceContract.objects.create(
            customer=cls.rich,
            number="RW-HT-90001",
            signed_on=dt.date(2026, 1, 1),
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 1, 1),
            term_months=12,
            annual_fee=Decimal("80000"),
        )

    def rule(self, name: str, kind: str, **conditions: object) -> KeyAccountRule:
        return ka.rule_save(actor=self.director, name=name, kind=kind, **conditions)  # type: ignore[arg-type]

    def test_each_rule_kind_flags_its_customers_with_the_rule_named(self) -> None:
        self.rule("重点单位", KeyAccountRuleKind.CATEGORY, category="key_unit")
        self.rule("A类", KeyAccountRuleKind.VALUE_CLASS, value_class="A")
        self.rule("大合同", KeyAccountRuleKind.CONTRACT_VALUE, min_contract_value=Decimal("50000"))
        result = ka.key_accounts_apply_rules(actor=self.director)
        self.assertEqual(result.flagged, 3)
        flagged = dict(KeyAccount.objects.values_list("customer_id", "reason"))
        self.assertEqual(
            flagged,
            {
                self.key_unit.pk: _("By rule: %(name)s") % {"name": "重点单位"},
                self.class_a.pk: _("By rule: %(name)s") % {"name": "A类"},
                self.rich.pk: _("By rule: %(name)s") % {"name": "大合同"},
            },
        )
        self.assertEqual(KeyAccount.objects.get(customer=self.rich).owner, self.am)
        self.assertEqual(KeyAccountEvent.objects.filter(kind="flagged").count(), 3)
        # A second run flags nobody new.
        self.assertEqual(ka.key_accounts_apply_rules(actor=None).flagged, 0)

    def test_segment_rule(self) -> None:
        segment = Segment.objects.create(
            name="西湖区",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [self.regions["360103"].pk]}],
            },
        )
        self.rule("西湖区客户", KeyAccountRuleKind.SEGMENT, segment=segment)
        ka.key_accounts_apply_rules(actor=None)
        self.assertEqual(
            set(KeyAccount.objects.values_list("customer_id", flat=True)),
            {self.key_unit.pk, self.class_a.pk, self.rich.pk, self.plain.pk},
        )

    def test_unflagged_by_hand_is_not_flagged_again_unless_asked(self) -> None:
        self.rule("重点单位", KeyAccountRuleKind.CATEGORY, category="key_unit")
        ka.key_accounts_apply_rules(actor=None)
        account = KeyAccount.objects.get(customer=self.key_unit)
        ka.key_account_unflag(actor=self.director, account=account, reason="已不合作")
        self.assertEqual(ka.key_accounts_apply_rules(actor=None).flagged, 0)
        key_accounts_daily_task.enqueue(only_if_due=False)
        account.refresh_from_db()
        self.assertFalse(account.is_active)
        self.assertEqual(
            ka.key_accounts_apply_rules(actor=self.director, reflag_removed=True).flagged, 1
        )
        account.refresh_from_db()
        self.assertTrue(account.is_active)
        self.assertEqual(account.source, "rule")

    def test_rule_needs_its_condition(self) -> None:
        with self.assertRaises(ValidationError) as caught:
            self.rule("空", KeyAccountRuleKind.CONTRACT_VALUE)
        self.assertEqual(
            caught.exception.message_dict["min_contract_value"],
            [_("Fill in a contract value above zero.")],
        )
        with self.assertRaises(PermissionDenied):
            ka.rule_save(actor=self.am, name="x", kind="category", category="key_unit")

    def test_daily_run_once_per_day(self) -> None:
        self.rule("重点单位", KeyAccountRuleKind.CATEGORY, category="key_unit")
        self.assertTrue(ka.key_accounts_daily(today=TODAY, only_if_due=True))
        self.assertFalse(ka.key_accounts_daily(today=TODAY, only_if_due=True))
        self.assertTrue(KeyAccount.objects.filter(customer=self.key_unit).exists())

    def test_daily_run_waits_for_the_nightly_value_classes(self) -> None:
        with time_machine.travel(dt.datetime(2026, 6, 11, 2, 30, tzinfo=NOW.tzinfo), tick=False):
            self.assertFalse(ka.key_accounts_daily(only_if_due=True))
        with time_machine.travel(dt.datetime(2026, 6, 11, 3, 5, tzinfo=NOW.tzinfo), tick=False):
            self.assertTrue(ka.key_accounts_daily(only_if_due=True))


class ViewTests(KeyAccountCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        director = cls.users["director"]
        cls.account = ka.key_account_flag(actor=director, customer=cls.mine, reason="标杆客户")
        cls.hidden = ka.key_account_flag(actor=director, customer=cls.other, reason="区域龙头")

    def test_list_access(self) -> None:
        self.assert_access(
            reverse("care:keyaccounts"),
            allowed=["market", "market_manager", "director", "account_manager", "supervisor"],
        )

    def test_list_shows_only_visible_customers_in_constant_queries(self) -> None:
        response = self.client_as("account_manager").get(reverse("care:keyaccounts"))
        self.assertContains(response, "南昌重点大厦")
        self.assertNotContains(response, "九江商场")
        for i in range(5):
            customer = make_customer(f"更多客户{i}", self.regions["360102"])
            ka.key_account_flag(actor=self.director, customer=customer, reason="r")
        client = self.client_as("director")
        client.get(reverse("care:keyaccounts"))  # fills the region-options cache
        with CaptureQueriesContext(connection) as few:
            client.get(reverse("care:keyaccounts"))
        for i in range(5, 15):
            customer = make_customer(f"更多客户{i}", self.regions["360102"])
            ka.key_account_flag(actor=self.director, customer=customer, reason="r")
        with CaptureQueriesContext(connection) as many:
            response = client.get(reverse("care:keyaccounts"))
        self.assertContains(response, "更多客户14")
        self.assertEqual(len(few), len(many))

    def test_list_filters(self) -> None:
        ka.plan_item_create(
            actor=self.director,
            account=self.hidden,
            kind="visit",
            planned_on=dt.date(2026, 6, 1),
            title="逾期拜访",
        )
        client = self.client_as("director")
        response = client.get(reverse("care:keyaccounts"), {"plan_overdue": "on"})
        self.assertContains(response, "九江商场")
        self.assertNotContains(response, "南昌重点大厦")
        response = client.get(reverse("care:keyaccounts"), {"region": self.regions["360100"].pk})
        self.assertContains(response, "南昌重点大厦")
        self.assertNotContains(response, "九江商场")
        response = client.get(reverse("care:keyaccounts"), {"owner": self.am.pk})
        self.assertContains(response, "南昌重点大厦")
        self.assertNotContains(response, "九江商场")

    def test_detail_access_and_404_for_invisible_customers(self) -> None:
        self.assert_access(
            reverse("care:keyaccount_detail", args=[self.account.pk]),
            allowed=["market_manager", "director", "account_manager", "supervisor"],
            not_found=["market"],
        )
        self.assert_access(
            reverse("care:keyaccount_detail", args=[self.hidden.pk]),
            allowed=["director"],
            not_found=["market", "market_manager", "account_manager", "supervisor"],
        )

    def test_edit_pages_for_owner_and_managers_only(self) -> None:
        self.assert_access(
            reverse("care:keyaccount_plan_create", args=[self.account.pk]),
            allowed=["director", "account_manager", "supervisor"],
            not_found=["market"],
        )
        # The market manager sees the customer but neither owns it nor manages all.
        response = self.client_as("market_manager").get(
            reverse("care:keyaccount_edit", args=[self.account.pk])
        )
        self.assertEqual(response.status_code, 403)

    def test_plan_form_errors_in_chinese(self) -> None:
        response = self.client_as("account_manager").post(
            reverse("care:keyaccount_plan_create", args=[self.account.pk]),
            {"kind": "visit", "planned_on": "", "title": ""},
        )
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "这个字段是必填项。", status_code=400)
        self.assertFalse(CarePlanItem.objects.exists())
        response = self.client_as("account_manager").post(
            reverse("care:keyaccount_plan_create", args=[self.account.pk]),
            {"kind": "visit", "planned_on": "2026-07-01", "title": "拜访王总"},
        )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(CareTask.objects.get(kind="plan").due_on, dt.date(2026, 7, 1))

    def test_flag_page_picks_a_customer_and_flags_it(self) -> None:
        customer = make_customer("新关键客户", self.regions["360102"], owner=self.am)
        client = self.client_as("account_manager")
        response = client.get(reverse("care:keyaccount_flag"), {"q": "新关键"})
        self.assertContains(response, "新关键客户")
        response = client.post(
            reverse("care:keyaccount_flag"),
            {"customer": customer.pk, "reason": "", "review_months": 3},
        )
        self.assertContains(response, "这个字段是必填项。", status_code=400)
        response = client.post(
            reverse("care:keyaccount_flag"),
            {"customer": customer.pk, "reason": "战略合作", "review_months": 3},
        )
        self.assertEqual(response.status_code, 302)
        self.assertTrue(KeyAccount.objects.get(customer=customer).is_active)
        # A customer the account manager may not see: 404.
        response = client.get(reverse("care:keyaccount_flag"), {"customer": self.other.pk})
        self.assertEqual(response.status_code, 404)

    def test_review_and_unflag_through_pages(self) -> None:
        client = self.client_as("account_manager")
        response = client.post(
            reverse("care:keyaccount_review_create", args=[self.account.pk]),
            {"reviewed_on": "2026-06-09", "satisfaction": "5", "summary": "非常满意"},
        )
        self.assertEqual(response.status_code, 302)
        page = client.get(reverse("care:keyaccount_detail", args=[self.account.pk]))
        self.assertContains(page, "非常满意")
        self.assertContains(page, "2026-09-09")
        response = client.post(
            reverse("care:keyaccount_unflag", args=[self.account.pk]), {"reason": "客户转移"}
        )
        self.assertEqual(response.status_code, 302)
        self.assertFalse(KeyAccount.objects.get(pk=self.account.pk).is_active)

    def test_export_is_audited_and_limited(self) -> None:
        url = reverse("care:keyaccounts_export")
        self.assert_access(url, allowed=["market_manager", "director", "supervisor"])
        response = self.client_as("market_manager").get(url)
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
        self.assertEqual(names, ["南昌重点大厦"])
        self.assertTrue(AuditEntry.objects.filter(action="key_account.export").exists())

    def test_rules_pages(self) -> None:
        self.assert_access(
            reverse("care:keyaccount_rules"),
            allowed=["market_manager", "director", "supervisor"],
        )
        client = self.client_as("director")
        response = client.post(
            reverse("care:keyaccount_rule_create"),
            {"name": "A类", "kind": "value_class", "value_class": "", "is_active": "on"},
        )
        self.assertContains(response, _("Choose a value class."), status_code=400)
        response = client.post(
            reverse("care:keyaccount_rule_create"),
            {"name": "重点单位", "kind": "category", "category": "key_unit", "is_active": "on"},
        )
        self.assertEqual(response.status_code, 302)
        response = client.post(reverse("care:keyaccount_rules_apply"), {})
        self.assertEqual(response.status_code, 302)

    def test_profile_card(self) -> None:
        card = ka.key_account_card(self.am, self.mine)
        assert card is not None
        html = render_to_string("care/keyaccounts/_profile_card.html", {"key_account_card": card})
        self.assertIn("标杆客户", html)
        self.assertIsNone(ka.key_account_card(fresh(self.users["engineer"]), self.mine))


class AddMonthsTest(TestCase):
    def test_leap_year(self) -> None:
        self.assertEqual(ka.add_months(dt.date(2027, 11, 29), 3), dt.date(2028, 2, 29))

    def test_user_helper(self) -> None:
        user = make_user("nobody")
        self.assertFalse(ka.can_flag(user, Customer(owner_id=user.pk)))


class PageRenderTests(KeyAccountCase):
    def test_every_page_renders_with_content(self) -> None:
        account = self.flag()
        contact = make_contact(self.mine, name="王总", mobile="13800138001")
        maker = ka.decision_maker_save(
            actor=self.am, account=account, contact=contact, attitude="supporter", notes="签字人"
        )
        item = ka.plan_item_create(
            actor=self.am,
            account=account,
            kind="gift",
            planned_on=dt.date(2026, 6, 1),
            title="端午礼品",
            budget=Decimal("300"),
        )
        ka.review_record(
            actor=self.am, account=account, reviewed_on=TODAY, satisfaction=2, summary="响应慢"
        )
        ka.review_record(
            actor=self.am,
            account=account,
            reviewed_on=dt.date(2026, 3, 1),
            satisfaction=4,
            summary="满意",
        )
        rule = ka.rule_save(
            actor=self.director, name="重点单位", kind="category", category="key_unit"
        )
        client = self.client_as("account_manager")
        page = client.get(reverse("care:keyaccount_detail", args=[account.pk]))
        self.assertContains(page, "端午礼品")
        self.assertContains(page, 'data-state="overdue"')
        self.assertContains(page, "王总")
        self.assertContains(page, "响应慢")
        self.assertContains(page, '"scores": [4, 2]')
        for url in (
            reverse("care:keyaccount_edit", args=[account.pk]),
            reverse("care:keyaccount_unflag", args=[account.pk]),
            reverse("care:keyaccount_maker_edit", args=[account.pk, maker.pk]),
            reverse("care:keyaccount_plan_edit", args=[account.pk, item.pk]),
            reverse("care:keyaccount_review_create", args=[account.pk]),
            reverse("care:keyaccount_flag"),
        ):
            self.assertEqual(client.get(url).status_code, 200, url)
        director = self.client_as("director")
        for url in (
            reverse("care:keyaccount_rules"),
            reverse("care:keyaccount_rule_edit", args=[rule.pk]),
            reverse("care:keyaccount_rule_create"),
            reverse("care:keyaccounts") + "?removed=on",
        ):
            self.assertEqual(director.get(url).status_code, 200, url)
        response = client.post(
            reverse("care:keyaccount_edit", args=[account.pk]),
            {"owner": self.am.pk, "review_months": "0", "strategy": "x"},
        )
        self.assertEqual(response.status_code, 400)
        response = client.post(
            reverse("care:keyaccount_edit", args=[account.pk]),
            {"owner": self.am.pk, "review_months": "6", "strategy": "深耕总部"},
        )
        self.assertEqual(response.status_code, 302)
        card = ka.key_account_card(
            self.am, make_customer("未标记", self.regions["360102"], owner=self.am)
        )
        assert card is not None
        html = render_to_string("care/keyaccounts/_profile_card.html", {"key_account_card": card})
        self.assertIn("rw-keyaccount-flag-link", html)
