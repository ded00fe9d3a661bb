"""Value classification (RFM / ABC): a hand-computed small data set, class changes, the segment
condition, the profile card and who may open the pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.loader import render_to_string
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import ROLES_BY_CODE
from audit.models import AuditEntry
from customers.models import Customer
from customers.segments import segment_queryset, segment_validate
from customers.selectors import customers_visible_to
from customers.tests.factories import make_customer
from insights import value
from insights.models import CustomerValue, ValueClassChange
from insights.tasks import value_recompute_task
from onboarding.models import ServiceContract
from ruwang.testing import PersonaTestCase, make_regions

NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PAGE = reverse("insights:value")
RECOMPUTE = reverse("insights:value_recompute")
QUERIES = 12  # session, user, permissions, settings, changes, template context

# The permissions these tests expect accounts/roles.py to grant (see the report of issue 9).
ROLE_GRANTS = {
    "market_staff": ("view_value",),
    "market_manager": ("view_value", "recompute_value"),
    "operations_director": ("view_value", "recompute_value"),
    "account_manager": ("view_value",),
    "supervisor": ("view_value",),
}
VIEWERS = ("market", "market_manager", "director", "account_manager", "supervisor")
RECOMPUTERS = ("market_manager", "director")


def grant_role_permissions() -> None:
    for code, codenames in ROLE_GRANTS.items():
        group = Group.objects.get(name=ROLES_BY_CODE[code].name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="insights", codename__in=codenames)
        )


_numbers = iter(range(1, 10_000))


def contract(customer: Customer, signed_on: dt.date, fee: str, months: int = 12) -> None:
    ServiceContract.objects.create(
        customer=customer,
        number=f"RW-HT-{next(_numbers):05d}",
        signed_on=signed_on,
        starts_on=signed_on,
        ends_on=signed_on + dt.timedelta(days=30 * months),
        term_months=months,
        annual_fee=Decimal(fee),
    )


class ValueData(PersonaTestCase):
    """Ten customers (one more merged away). Frozen today 2026-06-10; windows of 1,095 days
    start on 2023-06-11. By hand, contract value = annual fee × months / 12:

    c1  2026-05-01 12000×24          → M 24000, F 1, 40 days
    c2  2024-01-10 6000, 2025-12-01 6000 → M 12000, F 2
    c3  2025-06-10 3600×36           → M 10800, F 1, 365 days
    c4  2023-09-01, 2024-09-01, 2025-09-01 at 1200 → M 3600, F 3
    c5  2022-01-01 50000 (outside both windows) → M 0, F 0
    c6  2026-01-15 2400, and one signed in the future (ignored) → M 2400, F 1
    c7–c10 no contract.

    A = 20 % of 10 = 2 customers (c1, c2), B = next 30 % = 3 (c3, c4, c6), C the rest.
    R (worst first c5, c3, c4, c2, c6, c1; n 6): 1, 1, 2, 3, 4, 5.
    F (c1, c3, c6 tie at 1; c2 2; c4 3; n 5): 1, 1, 1, 4, 5.
    M (c6, c4, c3, c2, c1; n 5): 1, 2, 3, 4, 5.
    """

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        grant_role_permissions()
        regions = make_regions()
        mine = cls.users["account_manager"]
        c = {
            i: make_customer(f"客户{i}", regions["360102"], owner=mine if i in (1, 3) else None)
            for i in range(1, 11)
        }
        cls.c = c
        contract(c[1], dt.date(2026, 5, 1), "12000", 24)
        contract(c[2], dt.date(2024, 1, 10), "6000")
        contract(c[2], dt.date(2025, 12, 1), "6000")
        contract(c[3], dt.date(2025, 6, 10), "3600", 36)
        for year in (2023, 2024, 2025):
            contract(c[4], dt.date(year, 9, 1), "1200")
        contract(c[5], dt.date(2022, 1, 1), "50000")
        contract(c[6], dt.date(2026, 1, 15), "2400")
        contract(c[6], dt.date(2026, 7, 1), "900000")  # signed after today: ignored
        merged = make_customer("已合并", regions["360102"])
        contract(merged, dt.date(2026, 6, 1), "990000")
        Customer.objects.filter(pk=merged.pk).update(merged_into=c[10])

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def classes(self) -> dict[int, str]:
        by_pk = dict(CustomerValue.objects.values_list("customer_id", "abc_class"))
        return {i: by_pk[c.pk] for i, c in self.c.items()}

    def figures(self, i: int) -> CustomerValue:
        return CustomerValue.objects.get(customer=self.c[i])


class ValueClassificationTests(ValueData):
    def test_the_hand_computed_data_set_gets_the_expected_classes(self) -> None:
        result = value.value_recompute()
        assert result is not None
        self.assertEqual(result.customers, 10)
        self.assertEqual(
            self.classes(),
            {1: "A", 2: "A", 3: "B", 4: "B", 5: "C", 6: "B", 7: "C", 8: "C", 9: "C", 10: "C"},
        )

    def test_the_hand_computed_data_set_gets_the_expected_rfm_figures_and_scores(self) -> None:
        value.value_recompute()
        expected = {  # R, F, M scores, score, frequency, monetary
            1: (5, 1, 5, "3.67", 1, "24000.00"),
            2: (3, 4, 4, "3.67", 2, "12000.00"),
            3: (1, 1, 3, "1.67", 1, "10800.00"),
            4: (2, 5, 2, "3.00", 3, "3600.00"),
            5: (1, 1, 1, "1.00", 0, "0.00"),
            6: (4, 1, 1, "2.00", 1, "2400.00"),
            7: (1, 1, 1, "1.00", 0, "0.00"),
        }
        for i, (r, f, m, score, frequency, monetary) in expected.items():
            v = self.figures(i)
            self.assertEqual(
                (v.recency_score, v.frequency_score, v.monetary_score, v.score),
                (r, f, m, Decimal(score)),
                f"customer {i}",
            )
            self.assertEqual((v.frequency, v.monetary), (frequency, Decimal(monetary)))
        self.assertEqual(self.figures(1).recency_days, 40)
        self.assertEqual(self.figures(3).recency_days, 365)
        self.assertIsNone(self.figures(7).recency_days)

    def test_a_contract_of_odd_months_is_worth_its_share_of_the_annual_fee(self) -> None:
        contract(self.c[7], dt.date(2026, 3, 1), "1000", 7)
        value.value_recompute()
        self.assertEqual(self.figures(7).monetary, Decimal("583.33"))

    def test_merged_customers_are_not_classified(self) -> None:
        value.value_recompute()
        self.assertFalse(CustomerValue.objects.filter(customer__merged_into__isnull=False).exists())

    def test_the_class_shares_follow_the_settings(self) -> None:
        settings = value.value_settings()
        settings.a_share, settings.b_share = 10, 10
        settings.save()
        value.value_recompute()
        classes = self.classes()
        self.assertEqual([i for i, k in classes.items() if k == "A"], [1])
        self.assertEqual([i for i, k in classes.items() if k == "B"], [2])

    def test_the_first_classification_records_no_change(self) -> None:
        value.value_recompute()
        self.assertFalse(ValueClassChange.objects.exists())

    def test_a_recomputation_records_each_class_change_with_its_date(self) -> None:
        value.value_recompute()
        contract(self.c[6], dt.date(2026, 6, 1), "100000")
        with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
            result = value.value_recompute()
        assert result is not None
        self.assertEqual(result.changes, 2)
        changes = {
            (ch.customer_id, ch.from_class, ch.to_class, ch.changed_on)
            for ch in ValueClassChange.objects.all()
        }
        day = dt.date(2026, 6, 11)
        self.assertEqual(changes, {(self.c[6].pk, "B", "A", day), (self.c[2].pk, "A", "B", day)})

    def test_a_recomputation_without_new_contracts_records_no_change(self) -> None:
        value.value_recompute()
        result = value.value_recompute()
        assert result is not None
        self.assertEqual(result.changes, 0)
        self.assertFalse(ValueClassChange.objects.exists())

    def test_the_run_is_recorded_with_its_distribution_and_audited(self) -> None:
        value.value_recompute()
        settings = value.value_settings()
        self.assertEqual(settings.computed_at, NOW)
        self.assertEqual(settings.summary["A"]["customers"], 2)
        self.assertEqual(Decimal(settings.summary["A"]["value"]), Decimal("36000"))
        self.assertEqual(Decimal(settings.summary["B"]["value"]), Decimal("16800"))
        self.assertEqual(settings.summary["C"]["customers"], 5)
        self.assertTrue(AuditEntry.objects.filter(action="value.recompute").exists())

    def test_the_nightly_run_happens_once_a_day_after_two_oclock(self) -> None:
        early = dt.datetime(2026, 6, 10, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        self.assertIsNone(value.value_recompute(now=early, only_if_due=True))
        self.assertFalse(CustomerValue.objects.exists())
        self.assertIsNotNone(value.value_recompute(only_if_due=True))
        later = NOW + dt.timedelta(hours=5)
        self.assertIsNone(value.value_recompute(now=later, only_if_due=True))
        next_night = dt.datetime(2026, 6, 11, 2, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
        self.assertIsNotNone(value.value_recompute(now=next_night, only_if_due=True))

    def test_someone_without_the_permission_may_not_recompute(self) -> None:
        with self.assertRaises(PermissionDenied):
            value.value_recompute(actor=self.users["account_manager"])


class ValueSegmentTests(ValueData):
    def test_a_value_class_condition_selects_the_customers_of_that_class(self) -> None:
        value.value_recompute()
        director = self.users["director"]
        only_a = {"op": "and", "items": [{"field": "value_class", "values": ["A"]}]}
        self.assertEqual(set(segment_queryset(director, only_a)), {self.c[1], self.c[2]})
        a_or_b = {"op": "or", "items": [{"field": "value_class", "values": ["A", "B"]}]}
        self.assertEqual(
            set(segment_queryset(director, a_or_b)),
            {self.c[i] for i in (1, 2, 3, 4, 6)},
        )
        not_c = {
            "op": "and",
            "items": [{"field": "value_class", "values": ["C"], "negate": True}],
        }
        self.assertEqual(
            set(segment_queryset(director, not_c)), set(segment_queryset(director, a_or_b))
        )

    def test_an_unknown_class_is_refused_naming_the_condition(self) -> None:
        from django.core.exceptions import ValidationError

        with self.assertRaises(ValidationError) as caught:
            segment_validate({"op": "and", "items": [{"field": "value_class", "values": ["D"]}]})
        self.assertIn("1", caught.exception.messages[0])


class ValueCardTests(ValueData):
    def test_the_profile_card_shows_the_class_and_its_changes(self) -> None:
        value.value_recompute()
        contract(self.c[6], dt.date(2026, 6, 1), "100000")
        value.value_recompute()
        card = value.customer_value_card(self.users["market"], self.c[6])
        assert card is not None and card.value is not None
        self.assertEqual(card.value.abc_class, "A")
        html = render_to_string("insights/_value_card.html", {"value_card": card})
        self.assertIn('data-value-class="A"', html)
        self.assertIn("2026-06-10", html)
        self.assertEqual(len(card.changes), 1)

    def test_the_card_is_hidden_from_those_without_the_permission(self) -> None:
        value.value_recompute()
        self.assertIsNone(value.customer_value_card(self.users["engineer"], self.c[1]))

    def test_a_customer_not_yet_classified_says_so(self) -> None:
        card = value.customer_value_card(self.users["market"], self.c[1])
        html = render_to_string("insights/_value_card.html", {"value_card": card})
        self.assertIn('id="rw-value-card"', html)
        self.assertNotIn("data-value-class", html)


class ValuePageTests(ValueData):
    def test_who_may_open_the_value_page(self) -> None:
        self.assert_access(PAGE, allowed=VIEWERS)

    def test_who_may_recompute(self) -> None:
        self.assert_access(RECOMPUTE, allowed=RECOMPUTERS, method="post", ok_status=(302,))

    def test_the_button_recomputes_and_the_page_shows_the_distribution(self) -> None:
        client = self.client_as("director")
        response = client.post(RECOMPUTE, follow=True)
        self.assertEqual(response.status_code, 200)
        overview = response.context["overview"]
        rows = {row.code: row for row in overview.rows}
        self.assertEqual((rows["A"].customers, rows["A"].value), (2, Decimal("36000")))
        self.assertEqual((rows["B"].customers, rows["B"].value), (3, Decimal("16800")))
        self.assertEqual(rows["C"].customers, 5)
        self.assertEqual(rows["A"].value_share, round(100 * 36000 / 52800, 1))
        self.assertContains(response, 'id="rw-value-recompute"')
        entry = AuditEntry.objects.get(action="value.recompute")
        self.assertEqual(entry.actor_username, "director")

    def test_the_page_reads_a_fixed_number_of_queries_however_many_changes(self) -> None:
        value.value_recompute()
        contract(self.c[6], dt.date(2026, 6, 1), "100000")
        value.value_recompute()
        client = self.client_as("director")
        client.get(PAGE)  # warms the session and permission caches
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(PAGE)
        self.assertEqual(len(response.context["overview"].recent_changes), 2)
        self.assertLessEqual(len(ctx.captured_queries), QUERIES)

    def test_viewers_who_may_not_recompute_get_no_button(self) -> None:
        response = self.client_as("market").get(PAGE)
        self.assertNotContains(response, 'id="rw-value-recompute"')

    def test_a_scoped_viewer_sees_figures_of_their_own_customers_only(self) -> None:
        value.value_recompute()
        manager = self.users["account_manager"]
        response = self.client_as("account_manager").get(PAGE)
        rows = {row.code: row.customers for row in response.context["overview"].rows}
        visible = set(customers_visible_to(manager).values_list("pk", flat=True))
        expected = {k: 0 for k in "ABC"}
        for customer_id, klass in CustomerValue.objects.values_list("customer_id", "abc_class"):
            if customer_id in visible:
                expected[klass] += 1
        self.assertEqual(rows, expected)
        self.assertLess(sum(rows.values()), 10)


class ValueTaskTests(ValueData):
    def test_the_nightly_task_classifies_once_per_night(self) -> None:
        value_recompute_task.enqueue(only_if_due=True)
        self.assertEqual(CustomerValue.objects.count(), 10)
        first = value.value_settings().computed_at
        with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
            value_recompute_task.enqueue(only_if_due=True)
        self.assertEqual(value.value_settings().computed_at, first)


class ScoringTests(TestCase):
    def test_ties_share_the_lower_quintile(self) -> None:
        scores = value.quintile_scores(
            [5, 5, 7, 9, 0], [True, True, True, True, False], higher_is_better=True
        )
        self.assertEqual(scores, [1, 1, 3, 4, 1])

    def test_class_counts_round_to_the_nearest_customer(self) -> None:
        self.assertEqual(value.class_counts(10, 20, 30), (2, 5))
        self.assertEqual(value.class_counts(7, 20, 30), (1, 4))  # 1.4 → 1, 3.5 → 4
        self.assertEqual(value.class_counts(0, 20, 30), (0, 0))
