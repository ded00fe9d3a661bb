"""Care task pages (我的关怀任务): who may open them and who gets 404, my tasks (overdue first),
the department pool, close / cancel / reassign / create by hand with their audit rows and
Chinese errors, the profile and dashboard cards, the care-rule settings page."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from accounts.roles import ROLES_BY_CODE
from audit.models import AuditEntry
from care import selectors, services
from care.models import CareKind, CareSettings, CareTask, CareTaskStatus
from customers.models import Customer, CustomerStatus, Segment
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)
TODAY = NOW.date()
LIST = reverse("care:tasks")
SETTINGS = reverse("care:settings")
CREATE = reverse("care:task_create")

# The permissions these tests expect accounts/roles.py to grant (see the report of issue 9).
ROLE_GRANTS = {
    "market_staff": ("view_caretask", "add_caretask"),
    "account_manager": ("view_caretask", "add_caretask"),
    "market_manager": (
        "view_caretask",
        "add_caretask",
        "change_caretask",
        "view_caresettings",
        "change_caresettings",
    ),
    "supervisor": (
        "view_caretask",
        "add_caretask",
        "change_caretask",
        "view_caresettings",
        "change_caresettings",
    ),
    "operations_director": (
        "view_caretask",
        "add_caretask",
        "change_caretask",
        "view_all_care_tasks",
        "view_caresettings",
        "change_caresettings",
    ),
}
WORKERS = ["market", "market_manager", "director", "account_manager", "supervisor"]
MANAGERS = ["market_manager", "director", "supervisor"]


def grant_role_permissions() -> None:
    for code, codenames in ROLE_GRANTS.items():
        group = Group.objects.get(name=ROLES_BY_CODE[code].name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="care", codename__in=codenames)
        )


_n = iter(range(1, 100_000))


def task(
    customer: Customer,
    assignee: User | None = None,
    due: dt.date = TODAY,
    *,
    kind: str = CareKind.NO_CONTACT,
    title: str = "",
) -> CareTask:
    return CareTask.objects.create(
        customer=customer,
        kind=kind,
        title=title or f"关怀{next(_n)}",
        assignee=assignee,
        due_on=due,
        occurrence=f"test:{next(_n)}",
        created_at=NOW,
    )


class CareTaskWorld(PersonaTestCase):
    """甲 belongs to the account manager (in the personas' department); 乙 has no owner and no
    department (seen only by those who see every customer)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        grant_role_permissions()
        regions = make_regions()
        am = cls.users["account_manager"]
        cls.mine = make_customer("甲公司", regions["360102"], owner=am)
        cls.other = make_customer("乙公司", regions["360402"])
        Customer.objects.update(status=CustomerStatus.ACTIVE)
        Customer.objects.filter(pk=cls.other.pk).update(department=None)
        cls.mine.refresh_from_db()
        cls.other.refresh_from_db()
        cls.overdue = task(cls.mine, am, TODAY - dt.timedelta(days=3), title="逾期的关怀")
        cls.later = task(cls.mine, am, TODAY + dt.timedelta(days=5), title="下周的关怀")
        cls.pooled = task(cls.mine, None, TODAY, title="部门池里的关怀", kind=CareKind.PLAN)
        cls.hidden = task(cls.other, None, TODAY, title="看不到的关怀")

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)


class AccessTests(CareTaskWorld):
    def test_the_list_is_for_those_who_work_care_tasks(self) -> None:
        self.assert_access(LIST, allowed=WORKERS)

    def test_the_department_pool_is_for_managers(self) -> None:
        self.assert_access(f"{LIST}?view=pool", allowed=MANAGERS)

    def test_a_task_is_404_for_those_who_may_not_see_its_customer(self) -> None:
        url = reverse("care:task", args=[self.overdue.pk])
        self.assert_access(
            url,
            allowed=["market_manager", "director", "account_manager", "supervisor"],
            not_found=["market"],
        )
        url = reverse("care:task", args=[self.hidden.pk])
        self.assert_access(
            url,
            allowed=["director"],
            not_found=["market", "market_manager", "account_manager", "supervisor"],
        )

    def test_the_settings_page_is_for_managers(self) -> None:
        self.assert_access(SETTINGS, allowed=MANAGERS)

    def test_a_new_task_page_is_for_those_who_may_add(self) -> None:
        self.assert_access(CREATE, allowed=WORKERS)
        self.assert_access(
            f"{CREATE}?customer={self.other.pk}",
            allowed=["director"],
            not_found=["market", "market_manager", "account_manager", "supervisor"],
        )


class ListTests(CareTaskWorld):
    def test_my_tasks_are_mine_and_open_overdue_first(self) -> None:
        response = self.client_as("account_manager").get(LIST)
        rows = list(response.context["page"].object_list)
        self.assertEqual(rows, [self.overdue, self.later])
        self.assertContains(response, "逾期的关怀")
        self.assertNotContains(response, "部门池里的关怀")

    def test_the_pool_shows_the_unassigned_tasks_of_the_department(self) -> None:
        rows = list(
            self.client_as("supervisor").get(f"{LIST}?view=pool").context["page"].object_list
        )
        self.assertEqual(rows, [self.pooled])
        rows = list(self.client_as("director").get(f"{LIST}?view=pool").context["page"].object_list)
        self.assertEqual(set(rows), {self.pooled, self.hidden})

    def test_all_shows_only_tasks_of_visible_customers(self) -> None:
        rows = self.client_as("market_manager").get(f"{LIST}?view=all").context["page"].object_list
        self.assertEqual(set(rows), {self.overdue, self.later, self.pooled})
        rows = self.client_as("market").get(f"{LIST}?view=all").context["page"].object_list
        self.assertEqual(list(rows), [])

    def test_filters_by_kind_status_customer_and_segment(self) -> None:
        client = self.client_as("director")
        rows = client.get(LIST, {"view": "all", "kind": "plan"}).context["page"].object_list
        self.assertEqual(list(rows), [self.pooled])
        rows = client.get(LIST, {"view": "all", "q": "乙"}).context["page"].object_list
        self.assertEqual(list(rows), [self.hidden])
        rows = client.get(LIST, {"view": "all", "status": "done"}).context["page"].object_list
        self.assertEqual(list(rows), [])
        segment = Segment.objects.create(
            name="东湖区",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [self.mine.region_id]}],
            },
            is_shared=True,
        )
        Group.objects.get(name=ROLES_BY_CODE["operations_director"].name).permissions.add(
            Permission.objects.get(content_type__app_label="customers", codename="view_segment")
        )
        client = self.client_as("director")
        rows = (
            client.get(LIST, {"view": "all", "segment": str(segment.pk)})
            .context["page"]
            .object_list
        )
        self.assertEqual(set(rows), {self.overdue, self.later, self.pooled})

    def test_the_query_count_does_not_grow_with_the_rows(self) -> None:
        client = self.client_as("account_manager")
        client.get(LIST)
        with CaptureQueriesContext(connection) as few:
            client.get(LIST)
        for i in range(10):
            task(self.mine, self.users["account_manager"], TODAY + dt.timedelta(days=i))
        with CaptureQueriesContext(connection) as many:
            client.get(LIST)
        self.assertEqual(len(many.captured_queries), len(few.captured_queries))


class WriteTests(CareTaskWorld):
    def test_closing_needs_an_outcome_in_chinese(self) -> None:
        url = reverse("care:task_close", args=[self.overdue.pk])
        response = self.client_as("account_manager").post(url, {"outcome": "  "})
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "这个字段是必填项。", status_code=400)
        self.overdue.refresh_from_db()
        self.assertEqual(self.overdue.status, CareTaskStatus.OPEN)

    def test_the_assignee_closes_with_the_outcome_audited(self) -> None:
        url = reverse("care:task_close", args=[self.overdue.pk])
        response = self.client_as("account_manager").post(url, {"outcome": "已电话回访，客户满意"})
        self.assertRedirects(response, reverse("care:task", args=[self.overdue.pk]))
        self.overdue.refresh_from_db()
        self.assertEqual(self.overdue.status, CareTaskStatus.DONE)
        self.assertEqual(self.overdue.outcome, "已电话回访，客户满意")
        self.assertEqual(self.overdue.done_by, self.users["account_manager"])
        self.assertEqual(self.overdue.done_at, NOW)
        entry = AuditEntry.objects.get(action="care_task.close", object_id=str(self.overdue.pk))
        self.assertEqual(entry.actor, self.users["account_manager"])
        # Closed once: a second close says so.
        response = self.client_as("account_manager").post(url, {"outcome": "再来一次"})
        self.assertEqual(response.status_code, 400)

    def test_someone_elses_task_may_not_be_closed_by_a_worker(self) -> None:
        other = task(self.mine, self.users["supervisor"])
        url = reverse("care:task_close", args=[other.pk])
        response = self.client_as("account_manager").post(url, {"outcome": "做了"})
        self.assertEqual(response.status_code, 403)

    def test_cancel_needs_a_reason(self) -> None:
        url = reverse("care:task_cancel", args=[self.later.pk])
        response = self.client_as("account_manager").post(url, {"reason": ""})
        self.assertEqual(response.status_code, 400)
        response = self.client_as("account_manager").post(url, {"reason": "客户已退网"})
        self.assertEqual(response.status_code, 302)
        self.later.refresh_from_db()
        self.assertEqual(self.later.status, CareTaskStatus.CANCELLED)
        self.assertTrue(AuditEntry.objects.filter(action="care_task.cancel").exists())

    def test_a_manager_assigns_a_pool_task_to_someone_who_sees_the_customer(self) -> None:
        url = reverse("care:task_reassign", args=[self.pooled.pk])
        self.assertEqual(
            self.client_as("account_manager")
            .post(url, {"assignee": self.users["account_manager"].pk})
            .status_code,
            403,
        )
        response = self.client_as("supervisor").post(
            url, {"assignee": self.users["account_manager"].pk}
        )
        self.assertEqual(response.status_code, 302)
        self.pooled.refresh_from_db()
        self.assertEqual(self.pooled.assignee, self.users["account_manager"])
        entry = AuditEntry.objects.get(action="care_task.reassign")
        self.assertEqual(entry.changes["assignee"], [None, self.users["account_manager"].pk])
        # The market staff may not see 甲: not offered, refused.
        response = self.client_as("supervisor").post(url, {"assignee": self.users["market"].pk})
        self.assertEqual(response.status_code, 400)
        self.pooled.refresh_from_db()
        self.assertEqual(self.pooled.assignee, self.users["account_manager"])

    def test_a_task_created_by_hand_goes_to_its_creator(self) -> None:
        client = self.client_as("account_manager")
        response = client.post(
            CREATE,
            {
                "customer": self.mine.pk,
                "kind": "plan",
                "title": "中秋拜访",
                "detail": "带月饼",
                "due_on": "2026-09-20",
            },
        )
        created = CareTask.objects.get(title="中秋拜访")
        self.assertRedirects(response, reverse("care:task", args=[created.pk]))
        self.assertEqual(created.assignee, self.users["account_manager"])
        self.assertEqual(created.created_by, self.users["account_manager"])
        self.assertTrue(created.occurrence.startswith("manual:"))
        self.assertTrue(AuditEntry.objects.filter(action="care_task.create").exists())

    def test_a_task_by_hand_names_the_missing_and_wrong_fields(self) -> None:
        response = self.client_as("account_manager").post(
            CREATE, {"customer": self.mine.pk, "kind": "plan", "title": "", "due_on": "2026-01-01"}
        )
        self.assertEqual(response.status_code, 400)
        form = response.context["form"]
        self.assertEqual(form.errors["title"], ["这个字段是必填项。"])
        self.assertIn("due_on", form.errors)
        self.assertFalse(CareTask.objects.filter(created_by__isnull=False).exists())

    def test_a_task_by_hand_for_an_invisible_customer_is_404(self) -> None:
        response = self.client_as("account_manager").post(
            CREATE,
            {"customer": self.other.pk, "kind": "plan", "title": "x", "due_on": "2026-07-01"},
        )
        self.assertEqual(response.status_code, 404)

    def test_a_key_account_task_closes_through_the_hook(self) -> None:
        seen: list[int] = []
        services.care_task_close_hook_register(
            "review", lambda *, task, actor: seen.append(task.pk)
        )
        self.addCleanup(services.CLOSE_HOOKS.pop, "review", None)
        review = task(self.mine, self.users["account_manager"], kind=CareKind.REVIEW)
        services.care_task_close(
            actor=self.users["account_manager"], task=review, outcome="满意度评审完成"
        )
        self.assertEqual(seen, [review.pk])


class CardTests(CareTaskWorld):
    def test_the_customer_card_shows_open_and_recent_tasks(self) -> None:
        services.care_task_close(
            actor=self.users["account_manager"], task=self.later, outcome="已处理"
        )
        card = selectors.customer_care_card(self.users["account_manager"], self.mine)
        assert card is not None
        self.assertEqual(card.open, [self.overdue, self.pooled])
        self.assertEqual([t.pk for t in card.recent], [self.later.pk])
        html = render_to_string("care/tasks/_customer_card.html", {"care_card": card})
        self.assertIn("逾期的关怀", html)
        self.assertIn("已处理", html)
        self.assertIsNone(selectors.customer_care_card(self.users["engineer"], self.mine))

    def test_the_dashboard_card_counts_open_overdue_and_pool(self) -> None:
        counts = selectors.my_task_counts(self.users["account_manager"])
        assert counts is not None
        self.assertEqual((counts.open, counts.overdue, counts.pool), (2, 1, None))
        counts = selectors.my_task_counts(self.users["supervisor"])
        assert counts is not None
        self.assertEqual((counts.open, counts.overdue, counts.pool), (0, 0, 1))
        html = render_to_string("care/tasks/_dashboard_card.html", {"care_counts": counts})
        self.assertIn("data-pool", html)
        self.assertIsNone(selectors.my_task_counts(self.users["engineer"]))


class SettingsTests(CareTaskWorld):
    def post(self, **changes: str) -> Any:
        data = {
            "anniversary_enabled": "on",
            "anniversary_days_before": "10",
            "warranty_enabled": "on",
            "warranty_days_before": "60",
            "no_contact_days": "120",
            "low_score_enabled": "on",
            "low_score_max": "2",
            "faults_enabled": "on",
            "faults_count": "3",
            "faults_days": "30",
            "task_due_days": "5",
            **changes,
        }
        return self.client_as("supervisor").post(SETTINGS, data)

    def test_settings_are_saved_and_audited(self) -> None:
        response = self.post()
        self.assertRedirects(response, SETTINGS)
        cs = CareSettings.current()
        self.assertEqual(cs.anniversary_days_before, 10)
        self.assertFalse(cs.no_contact_enabled)
        self.assertEqual(cs.no_contact_days, 120)
        self.assertEqual(cs.task_due_days, 5)
        self.assertEqual(cs.updated_by, self.users["supervisor"])
        entry = AuditEntry.objects.get(action="care_settings.update")
        self.assertEqual(entry.changes["no_contact_enabled"], [True, False])

    def test_bad_numbers_are_named_and_nothing_is_saved(self) -> None:
        response = self.post(low_score_max="")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.context["form"].errors["low_score_max"], ["这个字段是必填项。"])
        response = self.post(faults_days="abc")
        self.assertEqual(response.status_code, 400)
        self.assertIn("faults_days", response.context["form"].errors)
        self.assertEqual(CareSettings.current().anniversary_days_before, 7)
        self.assertFalse(AuditEntry.objects.filter(action="care_settings.update").exists())

    def test_a_number_out_of_range_is_refused_by_the_service(self) -> None:
        from django.core.exceptions import ValidationError

        with self.assertRaises(ValidationError) as caught:
            services.care_settings_update(
                actor=self.users["supervisor"],
                data={
                    "low_score_max": 9,
                    **{f: 3 for f in services.SETTINGS_RANGES if f != "low_score_max"},
                },
            )
        self.assertIn("low_score_max", caught.exception.message_dict)
