"""Churn risk (流失风险): hand-checked features and rule points, deterministic training and
scoring on fixed seeds, the fallback below the data threshold, factors shown, visibility and
who may open each page; the at-risk list's pages, order, counts and filters compared with a
recomputation from the raw rows on both of its read paths."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import numpy as np
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.loader import render_to_string
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import User
from accounts.roles import ROLES_BY_CODE
from audit.models import AuditEntry
from customers.models import Customer, Segment
from customers.tests.factories import make_customer
from devices.models import Collector, Fault
from insights import churn
from insights.churn_demo import churn_history_generate
from insights.churn_tasks import churn_recompute_task
from insights.models import ChurnMethod, ChurnModel, ChurnScore, ChurnSettings
from onboarding.models import ServiceContract
from ruwang.testing import PersonaTestCase, make_regions
from service.models import Survey, Ticket

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)
LIST = reverse("insights:churn")
EXPORT = reverse("insights:churn_export")
MODEL = reverse("insights:churn_model")
RECOMPUTE = reverse("insights:churn_recompute")
QUERIES = 14  # session, user, permissions, scope, settings, model, owners, regions, rows, …

# The permissions these tests expect accounts/roles.py to grant (see the report of issue 9).
ROLE_GRANTS = {
    "market_staff": ("view_churn",),
    "market_manager": ("view_churn", "recompute_churn"),
    "operations_director": ("view_churn", "recompute_churn"),
    "account_manager": ("view_churn",),
    "supervisor": ("view_churn",),
}
VIEWERS = ("market", "market_manager", "director", "account_manager", "supervisor")
RECOMPUTERS = ("market_manager", "director")
F = {name: i for i, name in enumerate(churn.FEATURES)}


def grant_role_permissions() -> None:
    for code, codenames in ROLE_GRANTS.items():
        group = Group.objects.get(name=ROLES_BY_CODE[code].name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="insights", codename__in=codenames)
        )


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


_numbers = iter(range(1, 100_000))


def ticket(customer: Customer, kind: str, created: dt.datetime, **extra: object) -> Ticket:
    return Ticket.objects.create(
        number=f"CT{next(_numbers):06d}",
        kind=kind,
        customer=customer,
        subject="test",
        created_at=created,
        **extra,
    )


def survey(customer: Customer, answered: dt.datetime, csat: int) -> Survey:
    return Survey.objects.create(
        token=f"tok{next(_numbers)}",
        customer=customer,
        trigger="ticket",
        sent_at=answered - dt.timedelta(days=1),
        expires_at=answered + dt.timedelta(days=7),
        answered_at=answered,
        csat=csat,
    )


def fault(collector: Collector, opened: dt.datetime) -> Fault:
    return Fault.objects.create(collector=collector, kind="offline", opened_at=opened)


def collector(customer: Customer) -> Collector:
    n = next(_numbers)
    return Collector.objects.create(address=n, serial_number=f"SN{n}", customer=customer)


def set_state(customer: Customer, status: str, created: dt.datetime, changed: dt.datetime) -> None:
    Customer.objects.filter(pk=customer.pk).update(
        status=status, created_at=created, status_changed_at=changed
    )


def utc_days(moment: dt.datetime) -> float:
    return moment.timestamp() / 86_400


class HandCheckedData(PersonaTestCase):
    """A (active, the account manager's), B (active, nobody's) and T (terminated 100 days ago,
    seen as of 190 days ago). By hand, for A as of NOW:

    faults 10 and 89 days ago count (91 days does not)             → faults_90d 2
    complaints 100 days ago counts, 200 days ago does not          → complaints_180d 1
    surveys: csat 2 twenty days ago (low), csat 4 five days ago    → low_scores_180d 1
    a consultation breached its SLA 49 days ago                    → overdue_180d 1
    the last contact is the survey five days ago                   → no_contact_days 5
    contract 2024-07-01 – 2026-07-01 (ends in 21 days)             → renewal_due 1
    created 2025-01-01 but served since 2024-07-01                 → tenure from 2024-07-01
    Rule points: 2×5 + 12 + 8 + 5 + 0 + 10 + 0 = 45 (medium); top: complaints 12, faults 10,
    renewal 10 (ties keep the features' order).
    B, created 400 days ago, nothing since: no contact 400 days → 10 points (low).
    T: a fault 200 days ago (10 days before its moment) counts, one 150 days ago does not."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        grant_role_permissions()
        regions = make_regions()
        cls.regions = regions
        mine = cls.users["account_manager"]
        with time_machine.travel(NOW, tick=False):
            a = make_customer("甲商场", regions["360102"], owner=mine)
            b = make_customer("乙酒店", regions["360402"])
            t = make_customer("丙大厦", regions["360102"], owner=mine)
        set_state(a, "active", dt.datetime(2025, 1, 1, tzinfo=ZONE), ago(300))
        set_state(b, "active", ago(400), ago(400))
        set_state(t, "terminated", ago(900), ago(100))
        ca = collector(a)
        for days in (10, 89, 91):
            fault(ca, ago(days))
        ticket(a, "complaint", ago(100))
        ticket(a, "complaint", ago(200))
        ticket(a, "consultation", ago(50), breached_at=ago(49), sla_state="breached")
        survey(a, ago(20), 2)
        survey(a, ago(5), 4)
        ServiceContract.objects.create(
            customer=a,
            number="HT-A-1",
            signed_on=dt.date(2024, 6, 20),
            starts_on=dt.date(2024, 7, 1),
            ends_on=dt.date(2026, 7, 1),
            term_months=24,
            annual_fee=Decimal("6000"),
        )
        ct = collector(t)
        fault(ct, ago(200))
        fault(ct, ago(150))
        cls.a, cls.b, cls.t = a, b, t

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)


class FeatureTests(HandCheckedData):
    def test_active_customers_get_the_hand_computed_features(self) -> None:
        settings = churn.churn_settings()
        cohort = churn.active_cohort(NOW)
        self.assertEqual(cohort.ids.tolist(), sorted([self.a.pk, self.b.pk]))
        x = churn.churn_features(cohort, settings)
        row = x[cohort.ids.tolist().index(self.a.pk)]
        self.assertEqual(row[F["faults_90d"]], 2)
        self.assertEqual(row[F["complaints_180d"]], 1)
        self.assertEqual(row[F["low_scores_180d"]], 1)
        self.assertEqual(row[F["overdue_180d"]], 1)
        self.assertAlmostEqual(row[F["no_contact_days"]], 5)
        self.assertEqual(row[F["renewal_due"]], 1)
        served_since = (dt.date(2024, 7, 1) - dt.date(1970, 1, 1)).days
        self.assertAlmostEqual(row[F["tenure_years"]], (utc_days(NOW) - served_since) / 365.25)
        other = x[cohort.ids.tolist().index(self.b.pk)]
        self.assertAlmostEqual(other[F["no_contact_days"]], 400)
        self.assertEqual(other[F["faults_90d"]] + other[F["renewal_due"]], 0)

    def test_a_terminated_customer_is_seen_as_of_lead_days_before_it_left(self) -> None:
        settings = churn.churn_settings()
        cohort = churn.terminated_cohort(NOW, settings)
        self.assertEqual(cohort.ids.tolist(), [self.t.pk])
        self.assertAlmostEqual(cohort.as_of[0], utc_days(ago(190)))
        x = churn.churn_features(cohort, settings)
        self.assertEqual(x[0][F["faults_90d"]], 1)

    def test_the_termination_date_comes_from_the_audited_status_change(self) -> None:
        from customers.services import customer_change_status

        Customer.objects.filter(pk=self.b.pk).update(status="active")
        b = Customer.objects.get(pk=self.b.pk)
        customer_change_status(actor=None, customer=b, status="terminated", reason="搬迁")
        # A record from before the stamp: only the audit entry knows the day.
        Customer.objects.filter(pk=self.b.pk).update(status_changed_at=None)
        cohort = churn.terminated_cohort(NOW, churn.churn_settings())
        self.assertIn(self.b.pk, cohort.ids.tolist())

    def test_the_rules_give_the_hand_computed_points_and_factors(self) -> None:
        result = churn.churn_recompute()
        assert result is not None
        self.assertEqual(result.model.method, ChurnMethod.RULES)
        a = ChurnScore.objects.get(customer=self.a)
        self.assertEqual((a.score, a.band), (45, "medium"))
        self.assertEqual(
            [(f["factor"], f["value"], f["contribution"]) for f in a.factors],
            [("complaints_180d", 1, 12.0), ("faults_90d", 2, 10.0), ("renewal_due", 1, 10.0)],
        )
        b = ChurnScore.objects.get(customer=self.b)
        self.assertEqual((b.score, b.band), (10, "low"))
        self.assertFalse(ChurnScore.objects.filter(customer=self.t).exists())

    def test_the_rules_are_used_below_the_data_threshold_with_their_auc(self) -> None:
        result = churn.churn_recompute()
        assert result is not None
        model = result.model
        self.assertEqual((model.method, model.terminations, model.actives), ("rules", 1, 2))
        # T as of 190 days ago: a fault (5) and 710 days without contact (10) = 15 points,
        # between A (45) and B (10): one pair of two ranked right.
        self.assertEqual(model.holdout_auc, 0.5)


class PagesTests(HandCheckedData):
    def setUp(self) -> None:
        super().setUp()
        churn.churn_recompute()

    def test_who_may_open_the_at_risk_list(self) -> None:
        self.assert_access(LIST, allowed=VIEWERS)

    def test_who_may_open_the_model_card(self) -> None:
        self.assert_access(MODEL, allowed=VIEWERS)

    def test_who_may_export(self) -> None:
        self.assert_access(EXPORT, allowed=VIEWERS)

    def test_who_may_recompute(self) -> None:
        self.assert_access(RECOMPUTE, allowed=RECOMPUTERS, method="post", ok_status=(302,))

    def test_the_list_shows_the_factors_of_at_risk_customers_only(self) -> None:
        response = self.client_as("director").get(LIST)
        html = response.content.decode()
        self.assertIn(f'data-customer="{self.a.pk}"', html)
        self.assertNotIn(f'data-customer="{self.b.pk}"', html)  # 10 < 40
        for name in ("complaints_180d", "faults_90d", "renewal_due"):
            self.assertIn(f'data-factor="{name}"', html)
        self.assertIn(str(churn.LABELS["complaints_180d"]), html)

    def test_the_list_runs_a_fixed_number_of_queries(self) -> None:
        client = self.client_as("director")
        client.get(LIST, {"min_score": 0})
        with CaptureQueriesContext(connection) as few:
            client.get(LIST, {"min_score": 0})
        for i in range(5):
            extra = make_customer(f"丁{i}", self.regions["360102"])
            set_state(extra, "active", ago(30), ago(30))
        churn.churn_recompute()
        with CaptureQueriesContext(connection) as more:
            html = client.get(LIST, {"min_score": 0}).content.decode()
        self.assertEqual(html.count("data-customer="), 7)
        self.assertEqual(len(more), len(few))
        self.assertLessEqual(len(few), QUERIES)

    def test_filters_narrow_the_list(self) -> None:
        client = self.client_as("director")
        low = client.get(LIST, {"band": "low"}).content.decode()
        self.assertIn(f'data-customer="{self.b.pk}"', low)
        self.assertNotIn(f'data-customer="{self.a.pk}"', low)
        region = client.get(LIST, {"min_score": 0, "region": self.regions["360400"].pk})
        self.assertIn(f'data-customer="{self.b.pk}"', region.content.decode())
        self.assertNotIn(f'data-customer="{self.a.pk}"', region.content.decode())
        owner = client.get(LIST, {"min_score": 0, "owner": self.users["account_manager"].pk})
        self.assertNotIn(f'data-customer="{self.b.pk}"', owner.content.decode())

    def test_an_account_manager_sees_only_their_customers(self) -> None:
        manager = self.users["account_manager"]
        rows = churn.churn_at_risk(manager, churn.RiskFilters(min_score=0))
        self.assertEqual([r.customer_id for r in rows], [self.a.pk])
        html = self.client_as("account_manager").get(LIST, {"min_score": 0}).content.decode()
        self.assertNotIn(f'data-customer="{self.b.pk}"', html)
        # The other customer's profile (where the card lives) is not found for them.
        other = self.client_as("account_manager").get(reverse("customers:detail", args=[self.b.pk]))
        self.assertEqual(other.status_code, 404)

    def test_the_export_has_the_visible_rows_and_is_audited(self) -> None:
        response = self.client_as("account_manager").get(EXPORT, {"min_score": 0})
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        values = [row for row in sheet.iter_rows(values_only=True)]
        self.assertEqual(len(values), 2)
        self.assertEqual(values[1][0], "甲商场")
        self.assertEqual(values[1][3], 45)
        entry = AuditEntry.objects.filter(action="churn.export").latest("id")
        self.assertEqual(entry.changes["rows"], [None, 1])

    def test_the_model_card_explains_the_fallback(self) -> None:
        html = self.client_as("director").get(MODEL).content.decode()
        self.assertIn('data-method="rules"', html)
        self.assertIn('id="rw-churn-fallback"', html)
        self.assertIn('data-feature="complaints_180d"', html)

    def test_the_profile_card_shows_score_and_factors(self) -> None:
        card = churn.churn_card_context(self.users["account_manager"], self.a)
        html = render_to_string("insights/churn/_card.html", card)
        self.assertIn("data-score>45<", html)
        self.assertIn('data-factor="complaints_180d"', html)
        self.assertIsNone(churn.customer_churn_card(self.users["engineer"], self.a))

    def test_recompute_needs_the_permission_and_is_audited(self) -> None:
        with self.assertRaises(PermissionDenied):
            churn.churn_recompute(actor=self.users["account_manager"])
        self.client_as("director").post(RECOMPUTE)
        entry = AuditEntry.objects.filter(action="churn.recompute").latest("id")
        self.assertEqual(entry.actor_id, self.users["director"].pk)
        self.assertEqual(entry.changes["method"], [None, "rules"])


class TrainingTests(TestCase):
    """A generated history (seed 9, 400 customers): enough terminations for the logistic
    model."""

    @classmethod
    def setUpTestData(cls) -> None:
        regions = make_regions()
        cls.history = churn_history_generate(
            customers=400, seed=9, now=NOW, region=regions["360102"]
        )

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def test_the_generator_writes_terminated_and_active_histories(self) -> None:
        h = self.history
        self.assertEqual(h.customers, 400)
        self.assertGreaterEqual(h.terminated, 30)
        self.assertGreaterEqual(h.customers - h.terminated, 30)
        self.assertGreater(min(h.tickets, h.faults, h.surveys, h.revisits, h.contracts), 0)
        self.assertEqual(Customer.objects.filter(status="terminated").count(), h.terminated)

    def test_enough_history_trains_the_logistic_model_deterministically(self) -> None:
        first = churn.churn_recompute()
        second = churn.churn_recompute()
        assert first is not None and second is not None
        self.assertEqual(first.model.method, ChurnMethod.LOGISTIC)
        self.assertEqual(first.model.parameters, second.model.parameters)
        self.assertEqual(first.model.holdout_auc, second.model.holdout_auc)
        assert first.model.holdout_auc is not None
        self.assertGreater(first.model.holdout_auc, 0.6)  # the generator's signal is found
        p = first.model.parameters
        self.assertEqual(p["features"], list(churn.FEATURES))
        self.assertEqual(len(p["coefs"]), len(churn.FEATURES))
        # complaints and faults raise the risk in the generated history
        self.assertGreater(p["coefs"][F["complaints_180d"]], 0)
        self.assertGreater(p["coefs"][F["faults_90d"]], 0)
        scores = dict(ChurnScore.objects.values_list("customer_id", "score"))
        self.assertEqual(len(scores), Customer.objects.filter(status="active").count())

    def test_scores_are_the_same_on_a_second_run(self) -> None:
        churn.churn_recompute()
        before = list(ChurnScore.objects.order_by("pk").values_list("pk", "score", "factors"))
        churn.churn_recompute()
        after = list(ChurnScore.objects.order_by("pk").values_list("pk", "score", "factors"))
        self.assertEqual(before, after)
        self.assertEqual(ChurnModel.objects.count(), 2)

    def test_a_higher_threshold_falls_back_to_the_rules(self) -> None:
        ChurnSettings.objects.update_or_create(pk=1, defaults={"min_terminations": 100_000})
        churn.churn_settings()
        ChurnSettings.objects.all().update(min_terminations=100_000)
        result = churn.churn_recompute()
        assert result is not None
        self.assertEqual(result.model.method, ChurnMethod.RULES)
        self.assertNotIn("coefs", result.model.parameters)

    def test_the_scores_follow_the_stored_parameters(self) -> None:
        result = churn.churn_recompute()
        assert result is not None
        settings = churn.churn_settings()
        cohort = churn.active_cohort(NOW)
        x = churn.churn_features(cohort, settings)
        expected = np.rint(100 * churn.logistic_probability(result.model.parameters, x))
        stored = dict(ChurnScore.objects.values_list("customer_id", "score"))
        self.assertEqual([stored[pk] for pk in cohort.ids.tolist()], expected.astype(int).tolist())

    def test_the_model_card_explains_the_coefficients_in_words(self) -> None:
        churn.churn_recompute()
        admin = User.objects.create_superuser("root", password="x-Churn-Test-2026")
        self.client.force_login(admin)
        html = self.client.get(MODEL).content.decode()
        self.assertIn('data-method="logistic"', html)
        for name in churn.FEATURES:
            self.assertIn(f'data-feature="{name}"', html)
        self.assertIn("× ", html)  # "odds of leaving × 1.80 (raises the risk)"
        self.assertNotIn('id="rw-churn-fallback"', html)
        listing = self.client.get(LIST).content.decode()
        self.assertIn("data-factor=", listing)

    def test_the_nightly_task_runs_once_a_day_after_three(self) -> None:
        self.assertIsNone(
            churn.churn_recompute(
                now=dt.datetime(2026, 6, 10, 2, 30, tzinfo=ZONE), only_if_due=True
            )
        )
        churn_recompute_task.enqueue(only_if_due=True)
        self.assertEqual(ChurnModel.objects.count(), 1)
        churn_recompute_task.enqueue(only_if_due=True)
        self.assertEqual(ChurnModel.objects.count(), 1)
        entry = AuditEntry.objects.get(action="churn.recompute")
        self.assertIsNone(entry.actor_id)


class ModelMathTests(TestCase):
    def test_training_on_a_fixed_matrix_gives_the_same_coefficients_twice(self) -> None:
        rng = np.random.default_rng(1)
        positives = rng.poisson(2.0, size=(60, len(churn.FEATURES))).astype(float)
        negatives = rng.poisson(1.0, size=(90, len(churn.FEATURES))).astype(float)
        settings = ChurnSettings(min_terminations=30, min_actives=30)
        one = churn.churn_train(positives, negatives, settings)
        two = churn.churn_train(positives, negatives, settings)
        self.assertEqual(one.method, "logistic")
        self.assertEqual(one.parameters, two.parameters)
        self.assertEqual(one.holdout_size, 38)  # 25 % of 150, stratified

    def test_below_the_threshold_the_rules_score(self) -> None:
        x = np.zeros((29, len(churn.FEATURES)))
        settings = ChurnSettings(min_terminations=30, min_actives=30)
        self.assertEqual(churn.churn_train(x, x, settings).method, "rules")


class ListPagingTests(PersonaTestCase):
    """Scored customers with ties, in two districts, some the account manager's, one
    terminated since the scores were computed; the list is recomputed here from the raw score
    and customer rows and compared page by page, on both ways the page is read (from the
    customers' side and by walking the score index)."""

    SCORES = (
        ("甲商场", "360102", True, 90),
        ("乙酒店", "360102", True, 75),
        ("丙大厦", "360402", False, 75),
        ("丁酒店", "360402", False, 75),
        ("戊商场", "360102", False, 60),
        ("己酒店", "360102", True, 60),
        ("庚大厦", "360402", True, 45),
        ("辛商场", "360102", True, 40),
        ("壬酒店", "360402", False, 39),
        ("癸大厦", "360102", True, 20),
        ("子商场", "360402", False, 5),
    )

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        grant_role_permissions()
        regions = make_regions()
        cls.regions = regions
        manager = cls.users["account_manager"]
        settings = churn.churn_settings()
        model = ChurnModel.objects.create(trained_at=NOW, method=ChurnMethod.RULES)
        for name, region, mine, score in cls.SCORES:
            customer = make_customer(name, regions[region], owner=manager if mine else None)
            set_state(customer, "active", ago(400), ago(400))
            ChurnScore.objects.create(
                customer=customer,
                model=model,
                score=score,
                band=churn.band_of(score, settings),
                computed_at=NOW,
            )
        gone = make_customer("丑酒店", regions["360102"], owner=manager)
        ChurnScore.objects.create(
            customer=gone, model=model, score=80, band="high", computed_at=NOW
        )
        set_state(gone, "terminated", ago(400), ago(1))

    def expected(
        self, user: User, *, threshold: int = 40, band: str = "", region: str = "", q: str = ""
    ) -> list[int]:
        """The list recomputed from the raw rows: active customers the user may see, at or
        above the threshold, highest score first, ties by customer number."""
        manager = self.users["account_manager"]
        mine_or_territory = {
            c.pk
            for c in Customer.objects.all()
            if c.owner_id == manager.pk or c.region_id in self.territory_regions(manager)
        }
        rows = []
        for row in ChurnScore.objects.select_related("customer", "customer__region"):
            customer = row.customer
            if customer.status != "active" or row.score < threshold:
                continue
            if band and row.band != band:
                continue
            if region and customer.region.code != region:
                continue
            if q and q not in customer.name:
                continue
            if user == manager and customer.pk not in mine_or_territory:
                continue
            rows.append((-row.score, customer.pk))
        return [pk for _score, pk in sorted(rows)]

    def territory_regions(self, user: User) -> set[int]:
        served = set(user.regions.values_list("pk", flat=True))
        territories = set(user.territories.values_list("districts__pk", flat=True))
        return {pk for pk in served | territories if pk is not None}

    def walk(self, user: User, filters: churn.RiskFilters, size: int) -> tuple[list[int], str]:
        ids: list[int] = []
        cursor = ""
        first = churn.churn_page(user, filters, size=size)
        page = first
        for _n in range(20):
            self.assertLessEqual(len(page.rows), size)
            ids += [row.customer_id for row in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            page = churn.churn_page(user, filters, cursor, size=size)
            self.assertEqual(page.total_label, "")  # later pages are not counted
        return ids, first.total_label

    def test_pages_follow_the_score_order_without_gaps_or_repeats(self) -> None:
        cases: list[tuple[str, churn.RiskFilters, dict[str, Any]]] = [
            ("director", churn.RiskFilters(), {}),
            ("director", churn.RiskFilters(min_score=0), {"threshold": 0}),
            ("director", churn.RiskFilters(band="high"), {"band": "high"}),
            (
                "director",
                churn.RiskFilters(region=self.regions["360402"], min_score=0),
                {"threshold": 0, "region": "360402"},
            ),
            ("account_manager", churn.RiskFilters(min_score=0), {"threshold": 0}),
            ("account_manager", churn.RiskFilters(band="medium"), {"band": "medium"}),
        ]
        for persona, filters, recompute in cases:
            user = self.users[persona]
            expected = self.expected(user, **recompute)
            self.assertTrue(expected)
            for cap in (churn.CANDIDATE_CAP, 0):  # from the customers' side; walking the scores
                for size in (1, 2, 3, 50):
                    with self.subTest(persona=persona, filters=filters, cap=cap, size=size):
                        with mock.patch.object(churn, "CANDIDATE_CAP", cap):
                            ids, label = self.walk(user, filters, size)
                            lowest, _label = self.walk(
                                user, dataclasses.replace(filters, sort="score"), size
                            )
                        self.assertEqual(ids, expected)
                        self.assertEqual(label, f"{len(expected):,}")
                        self.assertEqual(lowest, expected[::-1])

    def test_a_large_list_is_counted_no_further_than_the_cap(self) -> None:
        director = self.users["director"]
        expected = self.expected(director, threshold=0)
        with mock.patch.object(churn, "LIST_CAP", 4):
            page = churn.churn_page(director, churn.RiskFilters(min_score=0), size=2)
        self.assertEqual(page.total_label, "4+")
        self.assertEqual([r.customer_id for r in page.rows], expected[:2])
        # Read from the customers' side, the count is exact whatever its size.
        manager = self.users["account_manager"]
        with mock.patch.object(churn, "LIST_CAP", 1):
            page = churn.churn_page(manager, churn.RiskFilters(min_score=0), size=2)
        self.assertEqual(page.total_label, f"{len(self.expected(manager, threshold=0)):,}")

    def test_the_search_narrows_the_list_to_matching_customers(self) -> None:
        # By name (one bigram; two, checked against the name) and by pinyin.
        for q, name in (("酒店", "酒店"), ("丁酒店", "丁酒店"), ("jiudian", "酒店")):
            for persona in ("director", "account_manager"):
                user = self.users[persona]
                expected = self.expected(user, threshold=0, q=name)
                self.assertTrue(expected or persona == "account_manager")
                for cap in (churn.CANDIDATE_CAP, 0):
                    with (
                        self.subTest(q=q, persona=persona, cap=cap),
                        mock.patch.object(churn, "CANDIDATE_CAP", cap),
                    ):
                        ids, label = self.walk(user, churn.RiskFilters(min_score=0, q=q), 2)
                        self.assertEqual(ids, expected)
                        self.assertEqual(label, f"{len(expected):,}")

    def test_the_page_links_to_the_next_page_and_back(self) -> None:
        client = self.client_as("director")
        expected = self.expected(self.users["director"], threshold=0)
        with mock.patch.object(churn, "PAGE_SIZE", 4):
            first = client.get(LIST, {"min_score": 0}).content.decode()
            found = re.search(r'href="[^"]*[?;]after=([^"&]+)" id="rw-churn-next"', first)
            assert found is not None
            cursor = unquote(found.group(1))
            second = client.get(LIST, {"min_score": "0", "after": cursor}).content.decode()
        self.assertEqual(
            re.findall(r'data-customer="(\d+)"', first), [str(i) for i in expected[:4]]
        )
        self.assertEqual(
            re.findall(r'data-customer="(\d+)"', second), [str(i) for i in expected[4:8]]
        )
        self.assertIn('id="rw-churn-count"', first)
        self.assertIn(f"{len(expected):,}", first.split('id="rw-churn-count"')[1][:80])
        self.assertNotIn('id="rw-churn-count"', second)
        self.assertIn('id="rw-churn-first"', second)

    def test_a_page_runs_a_bounded_number_of_queries_on_either_side(self) -> None:
        client = self.client_as("account_manager")
        client.get(LIST)
        with CaptureQueriesContext(connection) as customers_side:
            client.get(LIST, {"min_score": 0})
        with (
            mock.patch.object(churn, "CANDIDATE_CAP", 0),
            CaptureQueriesContext(connection) as walked,
        ):
            client.get(LIST, {"min_score": 0})
        self.assertLessEqual(len(customers_side), QUERIES)
        # Both count the account manager's customers (index only, capped); then one query
        # from the customers' side, or the capped count and the ids walking the scores.
        self.assertEqual(len(walked), len(customers_side) + 1)

    def test_a_segment_narrows_the_list_on_either_side(self) -> None:
        segment = Segment.objects.create(
            name="九江客户",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [self.regions["360400"].pk]}],
            },
            owner=self.users["director"],
            is_shared=True,
        )
        for persona in ("director", "account_manager"):
            user = self.users[persona]
            expected = self.expected(user, threshold=0, region="360402")
            for cap in (churn.CANDIDATE_CAP, 0):
                with (
                    self.subTest(persona=persona, cap=cap),
                    mock.patch.object(churn, "CANDIDATE_CAP", cap),
                ):
                    filters = churn.RiskFilters(min_score=0, segment=segment)
                    ids, label = self.walk(user, filters, 2)
                    self.assertEqual(ids, expected)
                    self.assertEqual(label, f"{len(expected):,}")

    def test_the_page_sorts_lowest_first_and_searches(self) -> None:
        client = self.client_as("director")
        director = self.users["director"]
        lowest = client.get(LIST, {"min_score": "0", "sort": "score"}).content.decode()
        expected = self.expected(director, threshold=0)[::-1]
        self.assertEqual(re.findall(r'data-customer="(\d+)"', lowest), [str(i) for i in expected])
        found = client.get(LIST, {"min_score": "0", "q": "酒店"}).content.decode()
        expected = self.expected(director, threshold=0, q="酒店")
        self.assertEqual(re.findall(r'data-customer="(\d+)"', found), [str(i) for i in expected])
