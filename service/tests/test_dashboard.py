"""The service dashboard: who may open it, the live counts (open tickets, SLAs, revisits), the
precomputed times (median and p90 within the documented bucket precision) and satisfaction
(CSAT, NPS), the period and region filters, the refresh of the figures, and a constant number
of queries.

Fixture tickets and surveys are written directly with chosen times (the services stamp the
current time); one test goes through the ticket services to prove the incremental refresh.
"""

from __future__ import annotations

import datetime as dt
import math
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import dashboard as stats
from service import tickets as ticket_services
from service.models import (
    HOUR_BUCKET_EDGES,
    HOUR_BUCKETS,
    DashboardRefresh,
    SlaState,
    Survey,
    SurveyDailyStat,
    Team,
    Ticket,
    TicketDailyStat,
    TicketKind,
    TicketStatus,
)
from service.tests.factories import make_plan

URL = reverse("service:dashboard")
ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)  # a Wednesday
TODAY = NOW.date()
LEADS = ["director", "supervisor", "market_manager"]

_numbers = count(1)


def make_ticket(
    customer: Customer,
    *,
    created: dt.datetime,
    kind: str = TicketKind.FAULT,
    response_hours: float | None = None,
    resolution_hours: float | None = None,
    status: str | None = None,
    sla_state: str = SlaState.ON_TRACK,
    team: Team | None = None,
    resolution_due_at: dt.datetime | None = None,
) -> Ticket:
    resolved_at = created + dt.timedelta(hours=resolution_hours) if resolution_hours else None
    n = next(_numbers)
    return Ticket.objects.create(
        number=f"GD-2026-{n:06d}",
        kind=kind,
        customer=customer,
        subject=f"工单{n}",
        team=team,
        created_at=created,
        first_responded_at=(
            created + dt.timedelta(hours=response_hours) if response_hours is not None else None
        ),
        resolved_at=resolved_at,
        status=status or (TicketStatus.CLOSED if resolved_at else TicketStatus.IN_PROGRESS),
        sla_state=sla_state,
        resolution_due_at=resolution_due_at,
    )


def make_answer(
    customer: Customer, answered: dt.datetime, *, csat: int | None, nps: int | None
) -> Survey:
    n = next(_numbers)
    return Survey.objects.create(
        token=f"token-{n}",
        customer=customer,
        trigger="ticket",
        sent_at=answered - dt.timedelta(days=1),
        expires_at=answered + dt.timedelta(days=13),
        answered_at=answered,
        csat=csat,
        nps=nps,
    )


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def days_ago(days: float, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(TODAY - dt.timedelta(days=days), dt.time(hour), tzinfo=ZONE)


# Fault tickets in 东湖区 (南昌) over the last 30 days: first response and resolution hours.
EAST_RESPONSE = [0.25, 1.2, 2.5, 5.0, 10.0, 0.75, 3.5]
EAST_RESOLUTION = [3.0, 7.0, 20.0, 50.0, 100.0, 1.5, 30.0]


class DashboardTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        # 东湖: the test department's customer (its owner is in it); 濂溪: nobody's.
        cls.east = make_customer("东湖大厦", cls.regions["360102"], owner=cls.users["market"])
        cls.north = make_customer("濂溪商场", cls.regions["360402"])
        cls.after_sales = Team.objects.create(code="after-sales", name="售后组")
        cls.centre = Team.objects.create(code="customer-centre", name="客户中心")
        for i, (response, resolution) in enumerate(
            zip(EAST_RESPONSE, EAST_RESOLUTION, strict=True)
        ):
            make_ticket(
                cls.east,
                created=days_ago(2 + 3 * i),
                response_hours=response,
                resolution_hours=resolution,
                team=cls.after_sales,
            )
        # Open tickets now: in 东湖 one breached complaint (responded after 30 h) and one at
        # risk; in 濂溪 one breached fault, one new without a team, one waiting.
        cls.breached_east = make_ticket(
            cls.east,
            created=days_ago(4),
            kind=TicketKind.COMPLAINT,
            response_hours=30,
            sla_state=SlaState.BREACHED,
            team=cls.centre,
            resolution_due_at=days_ago(1),
        )
        cls.at_risk_east = make_ticket(
            cls.east,
            created=days_ago(1),
            status=TicketStatus.ASSIGNED,
            sla_state=SlaState.AT_RISK,
            team=cls.after_sales,
            resolution_due_at=NOW + dt.timedelta(hours=1),
        )
        cls.breached_north = make_ticket(
            cls.north,
            created=days_ago(3),
            response_hours=1,
            sla_state=SlaState.BREACHED,
            team=cls.after_sales,
            resolution_due_at=days_ago(2),
        )
        make_ticket(cls.north, created=days_ago(0, hour=8), status=TicketStatus.NEW)
        make_ticket(
            cls.north,
            created=days_ago(5),
            response_hours=2,
            status=TicketStatus.WAITING,
            team=cls.centre,
        )
        # 濂溪, 60 days ago: only in the 90-day period.
        make_ticket(cls.north, created=days_ago(60), response_hours=4, resolution_hours=240)
        # Survey answers: 东湖 this week and last week, 濂溪 50 days ago.
        for csat, nps in [(5, 10), (4, 9), (3, 7), (1, 0)]:
            make_answer(cls.east, days_ago(1), csat=csat, nps=nps)
        for csat, nps in [(5, 10), (2, 6)]:
            make_answer(cls.east, days_ago(8), csat=csat, nps=nps)
        make_answer(cls.east, days_ago(8), csat=None, nps=None)  # answered, comment only
        make_answer(cls.north, days_ago(50), csat=2, nps=3)
        # Revisits (planned): 东湖 due 04-01 and 06-01 (overdue) and 09-01; 濂溪 due 06-15
        # (within 7 days) and 07-15.
        make_plan(cls.east, dt.date(2026, 3, 1), revisit_months=[1, 3, 6])
        make_plan(cls.north, dt.date(2026, 5, 15), revisit_months=[1, 2])

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)
        cache.delete(stats.REFRESH_CACHE_KEY)
        stats.stats_refresh()

    def board(self, persona: str = "director", **params: str) -> stats.Dashboard:
        response = self.client_as(persona).get(URL, params)
        assert response.status_code == 200
        return response.context["board"]

    # --- access ----------------------------------------------------------------------------

    def test_service_leads_the_director_and_market_managers_open_the_dashboard(self):
        self.assert_access(URL, allowed=LEADS)

    # --- live counts -----------------------------------------------------------------------

    def test_open_tickets_are_counted_by_status_and_by_team(self):
        board = self.board()
        assert board.open.total == 5
        assert {value: n for value, _label, n in board.open.by_status} == {
            "new": 1,
            "assigned": 1,
            "in_progress": 2,
            "waiting": 1,
        }
        assert [(name, n) for _id, name, n in board.open.by_team] == [
            ("售后组", 2),
            ("客户中心", 2),
            (None, 1),
        ]

    def test_sla_counts_and_the_most_urgent_tickets_breached_first(self):
        board = self.board()
        assert board.sla == {"at_risk": 1, "breached": 2}
        # Breached first, the most overdue deadline first; then at risk.
        assert board.urgent == [self.breached_north, self.breached_east, self.at_risk_east]

    def test_urgent_rows_link_to_their_tickets(self):
        response = self.client_as("director").get(URL)
        html = response.content.decode()
        for ticket in (self.breached_north, self.breached_east, self.at_risk_east):
            assert reverse("service:ticket", args=[ticket.pk]) in html

    def test_the_urgent_list_names_only_customers_the_user_may_see(self):
        # The supervisor sees the department's customers (东湖), not 濂溪; counts stay
        # company-wide, as they name no customer.
        board = self.board("supervisor")
        assert board.urgent == [self.breached_east, self.at_risk_east]
        assert board.sla == {"at_risk": 1, "breached": 2}

    def test_revisits_due_within_a_week_and_overdue(self):
        assert self.board().revisits == {"due": 1, "overdue": 2}

    # --- times -----------------------------------------------------------------------------

    def test_median_and_p90_lie_in_the_bucket_of_the_true_value(self):
        times = self.board().times  # last 30 days, every region
        # The 7 closed faults, the breached complaint (responded), the breached fault and the
        # waiting ticket (responded); 12 created in the period.
        assert (times.created, times.responded, times.resolved) == (12, 10, 7)
        responses = [*EAST_RESPONSE, 30.0, 1.0, 2.0]
        for estimate, q, values in [
            (times.response_median, 0.5, responses),
            (times.response_p90, 0.9, responses),
            (times.resolution_median, 0.5, EAST_RESOLUTION),
            (times.resolution_p90, 0.9, EAST_RESOLUTION),
        ]:
            assert estimate is not None
            true = nearest_rank(values, q)
            assert estimate.high is not None
            assert estimate.low <= true < estimate.high, (q, true, estimate)
            assert estimate.low <= estimate.hours <= estimate.high
            # The documented precision: half an hour up to 2 hours, then at most 1.5 times.
            assert estimate.high - estimate.low <= max(0.5, estimate.low * 0.5)

    def test_times_are_shown_for_each_kind(self):
        board = self.board()
        by_kind = {t.kind: t for t in board.times_by_kind}
        assert set(by_kind) == {"fault", "complaint"}
        complaint = by_kind["complaint"]
        assert (complaint.created, complaint.responded, complaint.resolved) == (1, 1, 0)
        assert complaint.response_median is not None
        assert (complaint.response_median.low, complaint.response_median.high) == (24.0, 36.0)
        assert complaint.resolution_median is None

    def test_the_page_shows_the_estimate_with_its_bucket_and_the_precision_note(self):
        html = self.client_as("director").get(URL).content.decode()
        assert 'id="rw-times-precision"' in html
        assert ", ".join(f"{e:g}" for e in HOUR_BUCKET_EDGES) in html
        # The complaint's first response (30 h) lies in 24–36.
        assert "24–36" in html

    # --- satisfaction ----------------------------------------------------------------------

    def test_csat_average_and_nps_of_the_answers_in_the_period(self):
        s = self.board().satisfaction
        assert s.answered == 7
        assert s.csat_count == 6
        assert s.csat is not None and abs(s.csat - 20 / 6) < 1e-9
        # NPS answers 10, 9, 7, 0, 10, 6: 3 promoters, 2 detractors of 6 → 16.7.
        assert (s.promoters, s.detractors, s.nps_count) == (3, 2, 6)
        assert s.nps is not None and abs(s.nps - 100 * (3 - 2) / 6) < 1e-9

    def test_nps_is_promoters_minus_detractors_in_percent(self):
        assert stats.nps_score(promoters=3, detractors=1, answers=4) == 50.0
        assert stats.nps_score(promoters=0, detractors=2, answers=2) == -100.0
        assert stats.nps_score(promoters=0, detractors=0, answers=0) is None

    def test_csat_and_nps_trend_week_by_week(self):
        weeks = {w.week: w for w in self.board(period="7").satisfaction.weeks}
        # 06-04 … 06-10: the weeks starting Monday 06-01 and 06-08.
        assert list(weeks) == [dt.date(2026, 6, 1), dt.date(2026, 6, 8)]
        this_week = weeks[dt.date(2026, 6, 8)]
        assert this_week.answered == 4
        assert this_week.csat == 13 / 4
        assert this_week.nps == 100 * (2 - 1) / 4
        assert weeks[dt.date(2026, 6, 1)].answered == 0
        assert weeks[dt.date(2026, 6, 1)].csat is None

    # --- filters ---------------------------------------------------------------------------

    def test_the_period_chooses_the_tickets_created_and_answers_received(self):
        assert self.board(period="7").times.created == 7  # created 06-04 … 06-10
        assert self.board(period="90").times.created == 13
        assert self.board(period="90").satisfaction.answered == 8
        ranged = self.board(period="range", date_from="2026-04-01", date_to="2026-04-30")
        assert ranged.times.created == 1  # the ticket of 04-11
        assert ranged.satisfaction.answered == 1  # 04-21
        assert (ranged.filters.first_day, ranged.filters.last_day) == (
            dt.date(2026, 4, 1),
            dt.date(2026, 4, 30),
        )

    def test_a_bad_range_names_the_field_and_shows_the_default_period(self):
        client = self.client_as("director")
        response = client.get(URL, {"period": "range", "date_from": "2026-05-01"})
        assert set(response.context["form"].errors) == {"date_to"}
        assert response.context["board"].filters.first_day == TODAY - dt.timedelta(days=29)
        response = client.get(
            URL, {"period": "range", "date_from": "2026-05-10", "date_to": "2026-05-01"}
        )
        assert set(response.context["form"].errors) == {"date_to"}
        response = client.get(URL, {"period": "range", "date_from": "2026-13-01"})
        assert "date_from" in response.context["form"].errors
        response = client.get(URL, {"region": "999999"})
        assert set(response.context["form"].errors) == {"region"}

    def test_a_region_filter_covers_its_whole_subtree(self):
        city = self.board(region=str(self.regions["360100"].pk))  # 南昌市 ⊃ 东湖区
        assert city.open.total == 2
        assert city.sla == {"at_risk": 1, "breached": 1}
        assert city.urgent == [self.breached_east, self.at_risk_east]
        assert city.revisits == {"due": 0, "overdue": 2}
        assert city.times.created == 9
        assert city.satisfaction.answered == 7
        district = self.board(region=str(self.regions["360402"].pk), period="90")  # 濂溪区
        assert district.open.total == 3
        assert district.revisits == {"due": 1, "overdue": 0}
        assert district.times.created == 4
        assert district.satisfaction.answered == 1
        province = self.board(region=str(self.regions["360000"].pk))  # 江西省: everything
        assert province.open.total == 5
        assert province.times == self.board().times
        assert province.satisfaction == self.board().satisfaction

    # --- refresh ---------------------------------------------------------------------------

    def test_changes_made_through_the_services_reach_the_figures_at_the_next_refresh(self):
        ticket = ticket_services.ticket_create(
            actor=None,
            customer=self.north,
            kind=TicketKind.CONSULTATION,
            subject="咨询",
            team=self.centre,
        )
        with time_machine.travel(NOW + dt.timedelta(minutes=11), tick=False):
            result = stats.stats_refresh()
        assert not result.full
        assert result.ticket_days == 1  # only today's row is recomputed
        with time_machine.travel(NOW + dt.timedelta(hours=2, minutes=30), tick=False):
            ticket_services.ticket_set_status(
                actor=self.users["agent"], ticket=ticket, status=TicketStatus.RESOLVED
            )
        with time_machine.travel(NOW + dt.timedelta(hours=3), tick=False):
            stats.stats_refresh()
            board = self.board()
        consultation = {t.kind: t for t in board.times_by_kind}["consultation"]
        assert (consultation.created, consultation.responded, consultation.resolved) == (1, 1, 1)
        assert consultation.resolution_median is not None
        assert (consultation.resolution_median.low, consultation.resolution_median.high) == (
            2.0,
            3.0,
        )

    def test_the_first_refresh_of_a_day_rebuilds_every_day(self):
        # A change without a timeline entry (here: written directly) waits for the nightly
        # rebuild; the first refresh after midnight is that rebuild.
        Ticket.objects.filter(pk=self.breached_east.pk).update(first_responded_at=None)
        with time_machine.travel(NOW + dt.timedelta(minutes=20), tick=False):
            assert not stats.stats_refresh().full
            assert self.board().times.responded == 10
        with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
            assert stats.stats_refresh().full
            assert self.board().times.responded == 9

    def test_opening_the_dashboard_with_stale_figures_starts_a_refresh(self):
        DashboardRefresh.objects.all().delete()
        TicketDailyStat.objects.all().delete()
        SurveyDailyStat.objects.all().delete()
        cache.delete(stats.REFRESH_CACHE_KEY)
        # Tests run tasks immediately: the enqueued refresh has run before the figures are read.
        board = self.board()
        assert board.refreshed_at == NOW
        assert board.times.created == 12

    def test_a_stale_dashboard_asks_for_one_refresh_only(self):
        later = NOW + dt.timedelta(minutes=11)
        with time_machine.travel(later, tick=False):
            state = stats.refresh_state()
            assert stats.stats_request_refresh(state=state, now=later) is True
            # The worker has not run yet: the next view does not ask again.
            assert stats.stats_request_refresh(state=state, now=later) is False

    # --- queries ---------------------------------------------------------------------------

    def test_the_number_of_queries_does_not_grow_with_the_tickets(self):
        client = self.client_as("supervisor")
        params = {"region": str(self.regions["360000"].pk), "period": "90"}
        client.get(URL, params)  # warm the session and the region options
        with CaptureQueriesContext(connection) as few:
            client.get(URL, params)
        for i in range(40):
            make_ticket(
                self.east if i % 2 else self.north,
                created=days_ago(i % 80),
                kind=list(TicketKind)[i % 6],
                response_hours=i / 3,
                resolution_hours=i * 2 + 1 if i % 3 else None,
                sla_state=[SlaState.BREACHED, SlaState.AT_RISK, SlaState.ON_TRACK][i % 3],
                team=[self.after_sales, self.centre, None][i % 3],
                resolution_due_at=days_ago(i % 5),
            )
            make_answer(self.east, days_ago(i % 60), csat=1 + i % 5, nps=i % 11)
        stats.stats_refresh(full=True)
        with self.assertNumQueries(len(few)):
            response = client.get(URL, params)
        board = response.context["board"]
        assert board.sla["at_risk"] + board.sla["breached"] > stats.URGENT_LIMIT
        assert 2 < len(board.urgent) <= stats.URGENT_LIMIT


class HistogramTests(PersonaTestCase):
    def test_buckets_are_half_open_and_the_last_is_unbounded(self):
        assert stats.hour_bucket(0) == 0
        assert stats.hour_bucket(0.49) == 0
        assert stats.hour_bucket(0.5) == 1
        assert stats.hour_bucket(-3) == 0  # clock skew counts as no time
        assert stats.hour_bucket(10_000) == HOUR_BUCKETS - 1
        assert stats.bucket_bounds(HOUR_BUCKETS - 1) == (720.0, None)

    def test_every_bucket_is_at_most_half_an_hour_or_one_and_a_half_times_the_previous(self):
        for index in range(1, HOUR_BUCKETS - 1):
            low, high = stats.bucket_bounds(index)
            assert high is not None
            assert high - low <= 0.5 or high <= 1.5 * low

    def test_a_quantile_in_the_open_bucket_is_at_least_its_lower_edge(self):
        counts: list[Any] = [0] * HOUR_BUCKETS
        counts[-1] = 3
        estimate = stats.histogram_quantile(counts, 0.9)
        assert estimate is not None and estimate.open_ended and estimate.hours == 720.0
        assert stats.histogram_quantile([0] * HOUR_BUCKETS, 0.5) is None
