"""The revisit list and the customer profile's after-sales card: who may see and close which
revisits, the overdue / due-soon / planned / closed views, the customer filters, and a
constant number of queries."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import make_customer
from ruwang.navigation import visible_sections
from ruwang.testing import PersonaTestCase, make_regions
from service import selectors, services
from service.models import RevisitStatus, ScheduledRevisit
from service.tests.factories import make_plan

LIST = reverse("service:revisits")
VIEWERS = ["engineer", "supervisor", "market_manager", "director", "agent"]
CLOSERS = ["engineer", "supervisor"]
TODAY = dt.date(2026, 6, 10)


class RevisitPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        # 甲: the test department's customer (its owner is in it); 乙: nobody's.
        cls.ours = make_customer("甲方大厦", regions["360102"], owner=cls.users["market"])
        cls.theirs = make_customer("乙方商场", regions["360402"])
        # 甲 due 04-01, 06-01 (overdue), 09-01, 2027-03-01; 乙 due 06-20 (soon), 08-20, …
        cls.our_plan = make_plan(cls.ours, dt.date(2026, 3, 1))
        cls.their_plan = make_plan(cls.theirs, dt.date(2026, 5, 20))

    def setUp(self) -> None:
        traveller = time_machine.travel(
            dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
        )
        traveller.start()
        self.addCleanup(traveller.stop)

    def revisit(self, plan, months: int) -> ScheduledRevisit:
        return plan.revisits.select_related("customer").get(months_after=months)

    def listed(self, persona: str = "engineer", **params: str) -> list[tuple[str, dt.date]]:
        response = self.client_as(persona).get(LIST, params)
        assert response.status_code == 200
        return [(r.customer.name, r.due_on) for r in response.context["revisits"]]

    def test_only_engineering_customer_service_and_management_roles_see_the_list(self):
        self.assert_access(LIST, allowed=VIEWERS)

    def test_the_sidebar_offers_the_list_to_those_who_may_open_it(self):
        for persona in ("engineer", "agent", "outsider", "account_manager"):
            urls = [
                item["url"]
                for section in visible_sections(self.users[persona])
                for item in section["items"]
            ]
            assert (LIST in urls) == (persona in VIEWERS), persona

    def test_the_default_view_lists_every_planned_revisit_soonest_first(self):
        listed = self.listed()
        assert len(listed) == 8
        assert listed[0] == ("甲方大厦", dt.date(2026, 4, 1))
        assert [due for _name, due in listed] == sorted(due for _name, due in listed)

    def test_overdue_shows_planned_revisits_due_before_today(self):
        assert self.listed(show="overdue") == [
            ("甲方大厦", dt.date(2026, 4, 1)),
            ("甲方大厦", dt.date(2026, 6, 1)),
        ]

    def test_due_soon_shows_the_next_30_days(self):
        assert self.listed(show="due_soon") == [("乙方商场", dt.date(2026, 6, 20))]

    def test_closed_revisits_leave_the_planned_views_and_appear_under_their_status(self):
        services.revisit_complete(actor=None, revisit=self.revisit(self.our_plan, 1), note="好")
        services.revisit_cancel(actor=None, revisit=self.revisit(self.their_plan, 1), reason="停业")
        assert self.listed(show="overdue") == [("甲方大厦", dt.date(2026, 6, 1))]
        assert self.listed(show="due_soon") == []
        assert len(self.listed()) == 6
        assert self.listed(show="done") == [("甲方大厦", dt.date(2026, 4, 1))]
        assert self.listed(show="cancelled") == [("乙方商场", dt.date(2026, 6, 20))]
        assert len(self.listed(show="all")) == 8

    def test_the_tabs_count_overdue_and_due_soon_revisits(self):
        tabs = {
            key: count
            for key, _l, count, _u in self.client_as("engineer").get(LIST).context["tabs"]
        }
        assert (tabs["overdue"], tabs["due_soon"]) == (2, 1)

    def test_the_customer_filters_narrow_the_list(self):
        assert {name for name, _due in self.listed(customer="乙方")} == {"乙方商场"}
        assert {name for name, _due in self.listed(customer_id=str(self.ours.pk))} == {"甲方大厦"}

    def test_a_customer_the_user_may_not_see_is_not_found_as_a_filter(self):
        response = self.client_as("supervisor").get(LIST, {"customer_id": self.theirs.pk})
        assert response.status_code == 404

    def test_department_scoped_roles_see_only_their_departments_customers(self):
        for persona in ("supervisor", "market_manager"):
            assert {name for name, _due in self.listed(persona, show="all")} == {"甲方大厦"}
        assert {name for name, _due in self.listed("director", show="all")} == {
            "甲方大厦",
            "乙方商场",
        }

    def test_close_actions_are_offered_only_to_engineers_and_supervisors(self):
        action = reverse("service:revisit_complete", args=[self.revisit(self.our_plan, 1).pk])
        for persona in VIEWERS:
            response = self.client_as(persona).get(LIST)
            assert (action in response.content.decode()) == (persona in CLOSERS), persona

    def test_engineers_and_supervisors_may_complete_a_visible_revisit(self):
        revisit = self.revisit(self.our_plan, 1)
        url = reverse("service:revisit_complete", args=[revisit.pk])
        self.assert_access(
            url, allowed=CLOSERS, method="post", data={"note": "已电话回访"}, ok_status=(302,)
        )
        revisit.refresh_from_db()
        assert (revisit.status, revisit.note) == (RevisitStatus.DONE, "已电话回访")
        assert revisit.done_by == self.users["engineer"]  # the first allowed persona closed it

    def test_a_supervisor_may_not_find_a_revisit_of_another_departments_customer(self):
        url = reverse("service:revisit_cancel", args=[self.revisit(self.their_plan, 1).pk])
        self.assert_access(
            url,
            allowed=["engineer"],
            not_found=["supervisor"],
            method="post",
            data={"reason": "客户停业"},
            ok_status=(302,),
        )
        assert self.revisit(self.their_plan, 1).status == RevisitStatus.CANCELLED

    def test_completing_returns_to_the_list_the_user_came_from(self):
        revisit = self.revisit(self.our_plan, 1)
        back = f"{LIST}?show=overdue"
        response = self.client_as("engineer").post(
            reverse("service:revisit_complete", args=[revisit.pk]), {"note": "", "next": back}
        )
        self.assertRedirects(response, back, fetch_redirect_response=False)
        elsewhere = self.client_as("engineer").post(
            reverse("service:revisit_cancel", args=[self.revisit(self.our_plan, 3).pk]),
            {"reason": "重复", "next": "https://example.com/"},
        )
        self.assertRedirects(elsewhere, LIST, fetch_redirect_response=False)

    def test_cancelling_without_a_reason_is_refused_with_a_message_naming_the_field(self):
        revisit = self.revisit(self.our_plan, 1)
        response = self.client_as("engineer").post(
            reverse("service:revisit_cancel", args=[revisit.pk]), {"reason": " "}
        )
        text = " ".join(str(m) for m in get_messages(response.wsgi_request))
        assert "这个字段是必填项" in text
        assert self.revisit(self.our_plan, 1).status == RevisitStatus.PLANNED

    def test_closing_an_already_closed_revisit_says_so_and_changes_nothing(self):
        revisit = self.revisit(self.our_plan, 1)
        services.revisit_cancel(actor=None, revisit=revisit, reason="停业")
        response = self.client_as("engineer").post(
            reverse("service:revisit_complete", args=[revisit.pk]), {"note": "迟到的回访"}
        )
        assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["error"]
        revisit.refresh_from_db()
        assert (revisit.status, revisit.note) == (RevisitStatus.CANCELLED, "停业")

    def test_the_list_reads_a_constant_number_of_queries(self):
        client = self.client_as("supervisor")
        client.get(LIST)  # warm the session and permission caches
        with CaptureQueriesContext(connection) as few:
            client.get(LIST)
        regions = make_regions()
        for n in range(3):
            customer = make_customer(f"丙方{n}", regions["360102"], owner=self.users["market"])
            make_plan(customer, dt.date(2026, 4, n + 1))
        with self.assertNumQueries(len(few.captured_queries)):
            response = client.get(LIST)
        assert len(response.context["revisits"]) == 16


class CustomerCardTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("卡片客户", make_regions()["360102"])
        cls.plan = make_plan(cls.customer, dt.date(2026, 3, 1))

    def card(self, persona: str) -> str:
        user = self.users[persona]
        request = RequestFactory().get(reverse("customers:detail", args=[self.customer.pk]))
        request.user = user
        after_sales = selectors.customer_after_sales(user, self.customer)
        return render_to_string(
            "service/_customer_card.html", {"after_sales": after_sales}, request=request
        )

    def test_the_card_shows_the_plan_period_and_every_revisit(self):
        html = self.card("director")
        assert "2026-03-01 – 2027-03-01" in html
        for due in ("2026-04-01", "2026-06-01", "2026-09-01", "2027-03-01"):
            assert due in html
        assert reverse("service:revisit_complete", args=[self.plan.revisits.first().pk]) not in html

    def test_engineers_can_close_revisits_from_the_card(self):
        html = self.card("engineer")
        for revisit in self.plan.revisits.all():
            assert reverse("service:revisit_complete", args=[revisit.pk]) in html
            assert reverse("service:revisit_cancel", args=[revisit.pk]) in html
        assert f'name="next" value="{reverse("customers:detail", args=[self.customer.pk])}"' in html

    def test_users_without_the_permission_or_the_customer_get_no_card(self):
        for persona in ("account_manager", "outsider", "supervisor"):
            assert selectors.customer_after_sales(self.users[persona], self.customer) is None
            assert self.card(persona).strip() == ""

    def test_a_customer_without_a_plan_shows_no_card(self):
        other = make_customer("无计划客户", make_regions()["360102"])
        result = selectors.customer_after_sales(self.users["engineer"], other)
        assert result is not None and result.plans == []
        html = render_to_string("service/_customer_card.html", {"after_sales": result})
        assert html.strip() == ""
