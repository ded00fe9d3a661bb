"""The record of questions and replies (网上客户问题及回复记录) and its statistics: every figure
equals a recomputation from the raw rows in this file, the filters narrow it, each user counts
only the inquiries they may see, the Excel record has its columns and one row per inquiry with
phone numbers masked, and the page costs a fixed number of queries.

Inquiries and replies are written directly with chosen times (the services stamp the current
time), shaped as the services leave them: due 24 hours after the clock start, first_replied_at
set when a reply was sent, review times on the Reply rows."""

from __future__ import annotations

import datetime as dt
import io
import math
import statistics
from collections import Counter
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.translation import override
from openpyxl import load_workbook

from accounts.models import User
from audit.models import AuditEntry
from customers.models import Customer
from customers.tests.factories import make_customer
from inquiries import stats
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    POSTED_CHANNELS,
    Inquiry,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Project,
    ProjectStage,
    Reply,
    ReplyStatus,
    SignAs,
    Topic,
)
from inquiries.tests.factories import project_make
from ruwang.testing import STRONG_PASSWORD, PersonaTestCase, make_regions, make_user
from service.models import Team

STATS_URL = reverse("inquiries:stats")
EXPORT_URL = reverse("inquiries:export")
ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZONE)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

CHANNELS = list(InquiryChannel)
TOPICS = list(Topic)
# Hours from the clock start to the first reply (None: not replied), the bucket edges included.
REPLY_HOURS: list[float | None] = [  # the first is still unanswered (due later)
    10, 1, 2, 4, 5, 8, 10, 20, 22, 24, 24.5, 30, 48, 60, None,
    0.2, 3, None, 23.9, 50, 6, None, 12, 1.5, 70, None, 0.75, 26, 9, 100,
]  # fmt: skip

_numbers = count(1)


def make_inquiry(
    customer: Customer,
    *,
    received: dt.datetime,
    channel: str = InquiryChannel.WEB,
    topic: str = Topic.GENERAL,
    team: Team | None = None,
    project: Project | None = None,
    posted_before: float | None = None,
    reply_hours: float | None = None,
    contentious: bool = False,
    closed: bool = False,
    **extra: Any,
) -> Inquiry:
    """An inquiry as the services leave it: the clock starts at receipt (or when posted, for a
    question found elsewhere), due 24 h later; replied and perhaps closed."""
    n = next(_numbers)
    posted = received - dt.timedelta(hours=posted_before) if posted_before is not None else None
    start = posted if channel in POSTED_CHANNELS and posted and posted < received else received
    first_reply = start + dt.timedelta(hours=reply_hours) if reply_hours is not None else None
    if first_reply is not None:
        status = InquiryStatus.CLOSED if closed else InquiryStatus.REPLIED
    else:
        status = InquiryStatus.CLOSED if closed else InquiryStatus.ASSIGNED
    posted_fields = (
        {"source_site": "业主论坛", "source_url": f"https://bbs.example.com/t/{n}"}
        if channel in POSTED_CHANNELS
        else {}
    )
    return Inquiry.objects.create(
        number=f"WZ-2026-{n:06d}",
        channel=channel,
        customer=customer,
        project=project,
        topic=topic,
        subject=extra.pop("subject", f"问题{n}"),
        body=extra.pop("body", f"请问第{n}个问题"),
        status=status,
        team=team,
        contentious=contentious,
        contentious_reason="关键词：投诉" if contentious else "",
        received_at=received,
        posted_at=posted,
        warn_at=start + dt.timedelta(hours=20),
        due_at=start + dt.timedelta(hours=24),
        replied_at=first_reply,
        first_replied_at=first_reply,
        closed_at=(first_reply or received) + HOUR if closed else None,
        **posted_fields,
        **extra,
    )


def make_reply(
    inquiry: Inquiry,
    author: User,
    *,
    status: str = ReplyStatus.SENT,
    rounds: tuple[tuple[dt.datetime, float | None, str], ...] = (),
    reviewer: User | None = None,
    sign_as: str = SignAs.COMPANY,
) -> Reply:
    """A reply with its review rounds as inquiries.replies leaves them: each round a
    "reply_submitted" event and, once decided, a "reply_approved" or "reply_returned" event by
    the reviewer `hours` later; the Reply row keeps the last round (a resubmission clears the
    previous review)."""
    sent = status == ReplyStatus.SENT
    sent_at = inquiry.first_replied_at if sent else None
    submitted_at = reviewed_at = None
    for submitted_at, hours, decision in rounds:
        event(inquiry, "reply_submitted", author, submitted_at)
        reviewed_at = submitted_at + dt.timedelta(hours=hours) if hours is not None else None
        if reviewed_at is not None:
            event(inquiry, f"reply_{decision}", reviewer, reviewed_at)
    message = None
    if sent_at is not None:
        message = InquiryMessage.objects.create(
            inquiry=inquiry,
            kind=MessageKind.REPLY,
            body=f"您好，已为您处理。\n营销部客户中心 {inquiry.number}",
            author=author,
            created_at=sent_at,
        )
    return Reply.objects.create(
        inquiry=inquiry,
        author=author,
        body="您好，已为您处理。",
        sign_as=sign_as,
        status=status,
        needs_review=bool(rounds),
        submitted_at=submitted_at,
        reviewer=reviewer if reviewed_at else None,
        reviewed_at=reviewed_at,
        review_comment="请补充办理时间" if status == ReplyStatus.RETURNED else "",
        sent_by=author if sent else None,
        sent_at=sent_at,
        message=message,
    )


def event(inquiry: Inquiry, name: str, actor: User | None, at: dt.datetime) -> InquiryMessage:
    return InquiryMessage.objects.create(
        inquiry=inquiry, kind=MessageKind.EVENT, event=name, author=actor, created_at=at
    )


# --- the independent recomputation -------------------------------------------------------------


def clock_start(inquiry: Inquiry) -> dt.datetime:
    if inquiry.channel in POSTED_CHANNELS and inquiry.posted_at is not None:
        return min(inquiry.posted_at, inquiry.received_at)
    return inquiry.received_at


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def recompute(rows: list[Inquiry], now: dt.datetime = NOW) -> dict[str, Any]:
    """The figures, from the rows themselves (plain Python, none of inquiries.stats)."""
    hours = [
        (r.first_replied_at - clock_start(r)).total_seconds() / 3600
        for r in rows
        if r.first_replied_at is not None
    ]
    edges = [1, 4, 8, 20, 24, 48]
    buckets = [0] * 7
    for h in hours:
        buckets[next((i for i, e in enumerate(edges) if h <= e), 6)] += 1
    on_time = missed = 0
    for r in rows:
        assert r.due_at is not None  # every fixture inquiry has its deadline
        if r.first_replied_at is not None:
            if r.first_replied_at <= r.due_at:
                on_time += 1
            else:
                missed += 1
        elif r.status != InquiryStatus.CLOSED and r.due_at < now:
            missed += 1
    # Every decision, timed from the latest submission of the same inquiry before it.
    reviews = []
    for r in rows:
        thread = list(InquiryMessage.objects.filter(inquiry=r, kind=MessageKind.EVENT))
        for decision in thread:
            if decision.event not in ("reply_approved", "reply_returned"):
                continue
            submitted = max(
                m.created_at
                for m in thread
                if m.event == "reply_submitted" and m.created_at <= decision.created_at
            )
            reviews.append((decision.event, decision.created_at - submitted))
    turnaround = [took.total_seconds() / 3600 for _event, took in reviews]
    returned = [name for name, _took in reviews if name == "reply_returned"]
    return {
        "total": len(rows),
        "channel": Counter(r.channel for r in rows),
        "topic": Counter(r.topic for r in rows),
        "team": Counter(r.team_id for r in rows),
        "day": Counter(r.received_at.astimezone(ZONE).date() for r in rows),
        "replied": len(hours),
        "buckets": buckets,
        "median": statistics.median(hours) if hours else None,
        "p90": nearest_rank(hours, 0.9) if hours else None,
        "on_time": on_time,
        "missed": missed,
        "rate": on_time * 100 / (on_time + missed) if on_time + missed else None,
        "contentious": sum(1 for r in rows if r.contentious),
        "reviews": len(reviews),
        "in_review": sum(1 for r in rows if r.status == InquiryStatus.IN_REVIEW),
        "returned": len(returned),
        "review_median": statistics.median(turnaround) if turnaround else None,
        "review_p90": nearest_rank(turnaround, 0.9) if turnaround else None,
    }


def approx(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-6


def assert_matches(figures: dict[str, Any], rows: list[Inquiry]) -> None:
    expected = recompute(rows)
    assert figures["total"] == expected["total"]
    assert {r["key"]: r["count"] for r in figures["by_channel"] if r["count"]} == dict(
        expected["channel"]
    )
    assert {r["key"]: r["count"] for r in figures["by_topic"] if r["count"]} == dict(
        expected["topic"]
    )
    assert {r["key"]: r["count"] for r in figures["by_team"]} == dict(expected["team"])
    days = {p["start"]: p["count"] for p in figures["trend"]["points"] if p["count"]}
    assert days == dict(expected["day"])
    reply_time = figures["reply_time"]
    assert reply_time["replied"] == expected["replied"]
    assert reply_time["not_replied"] == expected["total"] - expected["replied"]
    assert [b["count"] for b in reply_time["buckets"]] == expected["buckets"]
    assert approx(reply_time["median_hours"], expected["median"])
    assert approx(reply_time["p90_hours"], expected["p90"])
    deadline = figures["deadline"]
    assert (deadline["on_time"], deadline["missed"]) == (expected["on_time"], expected["missed"])
    assert approx(deadline["rate"], expected["rate"])
    assert figures["contentious"]["count"] == expected["contentious"]
    assert approx(
        figures["contentious"]["share"],
        expected["contentious"] * 100 / expected["total"] if expected["total"] else None,
    )
    review = figures["review"]
    assert (review["count"], review["returned"]) == (expected["reviews"], expected["returned"])
    assert review["in_review"] == expected["in_review"]
    assert approx(review["median_hours"], expected["review_median"])
    assert approx(review["p90_hours"], expected["review_p90"])


def grant(user: User, *codenames: str) -> User:
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def xlsx_rows(response: Any) -> list[tuple[Any, ...]]:
    content = b"".join(response.streaming_content)
    workbook = load_workbook(io.BytesIO(content))
    return list(workbook.worksheets[0].iter_rows(values_only=True))


@time_machine.travel(NOW, tick=False)
class InquiryStatsTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        inquiry_defaults_ensure()
        cls.teams = {t.code: t for t in Team.objects.all()}
        cls.on_sale = project_make("lake", ProjectStage.ON_SALE, cls.regions["360102"])
        cls.delivered = project_make("garden", ProjectStage.DELIVERED, cls.regions["360103"])
        # 东湖: the test department's (the market persona owns it); 西湖: the account
        # manager's own customer; 濂溪: nobody's.
        cls.east = make_customer("东湖业主", cls.regions["360102"], owner=cls.users["market"])
        cls.mine = make_customer(
            "西湖业主", cls.regions["360103"], owner=cls.users["account_manager"]
        )
        cls.north = make_customer("濂溪业主", cls.regions["360402"])
        customers = [cls.east, cls.mine, cls.north]
        teams = [cls.teams["customer-centre"], cls.teams["sales"], cls.teams["property"], None]
        projects = [cls.on_sale, cls.delivered, None]
        agent, supervisor = cls.users["agent"], cls.users["supervisor"]
        cls.inquiries = []
        for i, hours in enumerate(REPLY_HOURS):
            channel = CHANNELS[i % 5]
            received = NOW - dt.timedelta(hours=7 + i * 19)
            posted_before = float(i % 4) * 3 if channel in POSTED_CHANNELS else None
            start = received - dt.timedelta(hours=posted_before or 0)
            if hours is not None and start + dt.timedelta(hours=hours) > NOW:
                hours = None  # a reply cannot be sent in the future
            inquiry = make_inquiry(
                customers[(i // 3) % 3],
                received=received,
                channel=channel,
                topic=TOPICS[(i // 5) % 5],
                team=teams[i % 4],
                project=projects[i % 3],
                posted_before=posted_before,
                reply_hours=hours,
                contentious=i % 4 == 1,
                closed=i % 10 == 4 or i in (14, 25),
                author_name="业主",
                author_phone="13812345678" if i % 2 else "",
                author_email="owner@example.com" if i % 3 == 0 else "",
                body=f"第{i}个问题，我的电话13900001111，请回电",
            )
            cls.inquiries.append(inquiry)
            style = SignAs.STAFF if i % 2 else SignAs.COMPANY
            rounds: tuple[tuple[dt.datetime, float | None, str], ...]
            if inquiry.first_replied_at is not None and inquiry.contentious:
                # Approved (every third after being returned once), then sent.
                review = 0.25 + i % 5
                approved = (
                    inquiry.first_replied_at - dt.timedelta(hours=review + 0.5),
                    review,
                    "approved",
                )
                returned = (approved[0] - dt.timedelta(hours=5), 1.5, "returned")
                rounds = (returned, approved) if i % 3 == 0 else (approved,)
                make_reply(inquiry, agent, rounds=rounds, reviewer=supervisor, sign_as=style)
            elif inquiry.first_replied_at is not None:
                make_reply(inquiry, agent, sign_as=style)
            elif inquiry.contentious:
                # Waiting for review, or returned with comments (being revised, or not yet).
                submitted = inquiry.received_at + HOUR
                status = [ReplyStatus.IN_REVIEW, ReplyStatus.RETURNED, ReplyStatus.DRAFT][i % 3]
                if status == ReplyStatus.IN_REVIEW:
                    rounds = ((submitted, None, ""),)
                else:
                    rounds = ((submitted, 2.0 + i % 3, "returned"),)
                if inquiry.status != InquiryStatus.CLOSED:
                    inquiry.status = (
                        InquiryStatus.IN_REVIEW
                        if status == ReplyStatus.IN_REVIEW
                        else InquiryStatus.DRAFTING
                    )
                    inquiry.save(update_fields=["status"])
                make_reply(inquiry, agent, status=status, rounds=rounds, reviewer=supervisor)
        # Outside the period (31 and 45 days ago).
        cls.old = [
            make_inquiry(cls.east, received=NOW - 31 * DAY, reply_hours=3),
            make_inquiry(cls.north, received=NOW - 45 * DAY),
        ]

    def period_rows(self, **conditions: Any) -> list[Inquiry]:
        first = dt.datetime.combine(TODAY - 29 * DAY, dt.time.min, tzinfo=ZONE)
        return list(
            Inquiry.objects.filter(received_at__gte=first, **conditions).select_related("team")
        )

    def figures(self, persona: str = "director", **params: str) -> dict[str, Any]:
        response = self.client_as(persona).get(STATS_URL, params)
        assert response.status_code == 200, response.status_code
        return response.context["figures"]

    # --- access ----------------------------------------------------------------------------

    def test_supervisors_market_managers_and_the_director_open_the_statistics(self):
        self.assert_access(STATS_URL, allowed=["supervisor", "market_manager", "director"])

    def test_supervisors_and_market_managers_export_the_record(self):
        self.assert_access(EXPORT_URL, allowed=["supervisor", "market_manager"])

    # --- figures ---------------------------------------------------------------------------

    def test_every_figure_equals_a_recomputation_from_the_raw_rows(self):
        rows = self.period_rows()
        assert len(rows) == 30
        figures = self.figures()
        assert_matches(figures, rows)
        # The fixture covers what the figures distinguish.
        expected = recompute(rows)
        assert expected["missed"] > 0 and expected["returned"] > 0
        assert figures["deadline"]["closed_unanswered"] == 2
        assert figures["deadline"]["not_yet_due"] > 0
        assert figures["review"]["in_review"] > 0
        assert len(figures["trend"]["points"]) == 30

    def test_a_reply_at_exactly_a_bucket_edge_counts_in_the_lower_bucket_and_on_time(self):
        rows = [make_inquiry(self.north, received=NOW - 2 * DAY, reply_hours=24)]
        params = {
            "date_from": (TODAY - 2 * DAY).isoformat(),
            "date_to": (TODAY - 2 * DAY).isoformat(),
        }
        figures = self.figures(**params, channel=InquiryChannel.WEB, topic=Topic.GENERAL)
        buckets = {b["key"]: b["count"] for b in figures["reply_time"]["buckets"]}
        assert buckets["le24"] == 1 and buckets["le48"] == 0
        assert figures["deadline"]["on_time"] == 1 and figures["deadline"]["rate"] == 100
        assert_matches(figures, rows)

    def test_a_question_found_on_a_forum_is_timed_from_when_it_was_posted(self):
        day = TODAY - 3 * DAY
        make_inquiry(
            self.north,
            received=dt.datetime.combine(day, dt.time(12), tzinfo=ZONE),
            channel=InquiryChannel.FORUM,
            posted_before=20,  # posted 20 h before we saw it, answered 2 h after that
            reply_hours=2 + 20,
            topic=Topic.CLUB,
        )
        params = {"date_from": day.isoformat(), "date_to": day.isoformat()}
        figures = self.figures(**params, channel=InquiryChannel.FORUM, topic=Topic.CLUB)
        assert figures["reply_time"]["median_hours"] == 22
        buckets = {b["key"]: b["count"] for b in figures["reply_time"]["buckets"]}
        assert buckets["le24"] == 1

    def test_a_reply_returned_and_then_approved_counts_two_reviews(self):
        day = TODAY - 2 * DAY
        inquiry = make_inquiry(
            self.north,
            received=dt.datetime.combine(day, dt.time(8), tzinfo=ZONE),
            channel=InquiryChannel.SOCIAL,
            topic=Topic.PROMOTION,
            reply_hours=10,
            contentious=True,
        )
        submitted = inquiry.received_at + HOUR
        make_reply(
            inquiry,
            self.users["agent"],
            rounds=((submitted, 2, "returned"), (submitted + 3 * HOUR, 0.5, "approved")),
            reviewer=self.users["supervisor"],
        )
        params = {"date_from": day.isoformat(), "date_to": day.isoformat()}
        review = self.figures(**params, channel=InquiryChannel.SOCIAL, topic=Topic.PROMOTION)[
            "review"
        ]
        assert (review["count"], review["returned"], review["returned_share"]) == (2, 1, 50)
        assert review["median_hours"] == 1.25 and review["p90_hours"] == 2

    def test_the_period_is_of_local_days(self):
        first = TODAY - 5 * DAY
        before = make_inquiry(
            self.north, received=dt.datetime.combine(first - DAY, dt.time(23, 50), tzinfo=ZONE)
        )
        inside = make_inquiry(
            self.north, received=dt.datetime.combine(first, dt.time(0, 10), tzinfo=ZONE)
        )
        last = make_inquiry(
            self.north, received=dt.datetime.combine(first, dt.time(23, 59), tzinfo=ZONE)
        )
        figures = self.figures(date_from=first.isoformat(), date_to=first.isoformat())
        numbers = {
            i.number for i in self.period_rows() if i.received_at.astimezone(ZONE).date() == first
        }
        assert figures["total"] == len(numbers)
        assert inside.number in numbers and last.number in numbers
        assert before.number not in numbers
        assert figures["trend"]["points"] == [{"start": first, "count": len(numbers)}]

    def test_each_filter_narrows_every_figure(self):
        cases: list[tuple[dict[str, str], dict[str, Any]]] = [
            ({"project": str(self.on_sale.pk)}, {"project": self.on_sale}),
            ({"team": str(self.teams["sales"].pk)}, {"team": self.teams["sales"]}),
            ({"channel": InquiryChannel.FORUM}, {"channel": InquiryChannel.FORUM}),
            ({"topic": Topic.CONTRACT}, {"topic": Topic.CONTRACT}),
            (
                {"project": str(self.delivered.pk), "channel": InquiryChannel.EMAIL},
                {"project": self.delivered, "channel": InquiryChannel.EMAIL},
            ),
        ]
        for params, conditions in cases:
            rows = self.period_rows(**conditions)
            assert rows, params
            assert_matches(self.figures(**params), rows)
        # A period of its own: the last week.
        week = self.figures(date_from=(TODAY - 6 * DAY).isoformat(), date_to=TODAY.isoformat())
        first = dt.datetime.combine(TODAY - 6 * DAY, dt.time.min, tzinfo=ZONE)
        assert_matches(week, list(Inquiry.objects.filter(received_at__gte=first)))

    def test_a_period_of_more_than_a_year_shows_the_volume_per_month(self):
        figures = self.figures(date_from="2025-01-01", date_to="2026-06-30")
        trend = figures["trend"]
        assert trend["unit"] == "month" and len(trend["points"]) == 18
        by_month = {p["start"]: p["count"] for p in trend["points"] if p["count"]}
        months = Counter(
            i.received_at.astimezone(ZONE).date().replace(day=1) for i in Inquiry.objects.all()
        )
        assert by_month == dict(months) and len(months) == 3
        assert sum(by_month.values()) == figures["total"] == 32

    def test_an_account_manager_counts_only_the_inquiries_of_customers_they_may_see(self):
        manager = grant(self.users["account_manager"], "inquiries.view_inquiry_stats")
        figures = stats.inquiry_stats(manager, stats.StatsFilters.last_days(TODAY))
        rows = self.period_rows(customer=self.mine)
        assert 0 < len(rows) < 30
        assert_matches(figures, rows)
        response = self.client_as("account_manager")
        response.force_login(manager)
        assert response.get(STATS_URL).context["figures"]["total"] == len(rows)

    def test_a_market_manager_counts_their_department_and_their_teams(self):
        manager = self.users["market_manager"]
        figures = self.figures("market_manager")
        # 东湖 and 西湖 belong to the department (their owners are in it), 濂溪 to nobody.
        department = [self.east.pk, self.mine.pk]
        assert_matches(figures, self.period_rows(customer__in=department))
        self.teams["property"].members.create(user=manager)
        figures = self.figures("market_manager")
        rows = [
            r
            for r in self.period_rows()
            if r.customer_id in department or r.team_id == self.teams["property"].pk
        ]
        assert len(rows) > len(self.period_rows(customer__in=department))
        assert_matches(figures, rows)

    def test_the_customer_centre_counts_every_inquiry(self):
        assert_matches(self.figures("supervisor"), self.period_rows())

    def test_nobody_without_the_read_permission_gets_figures(self):
        outsider = grant(self.users["outsider"], "inquiries.view_inquiry_stats")
        figures = stats.inquiry_stats(outsider, stats.StatsFilters.last_days(TODAY))
        assert figures["total"] == 0 and figures["reply_time"]["median_hours"] is None
        assert figures["deadline"]["rate"] is None and figures["review"]["count"] == 0

    # --- the page --------------------------------------------------------------------------

    def test_the_page_shows_the_figures_their_charts_and_their_definitions(self):
        response = self.client_as("supervisor").get(STATS_URL)
        figures = response.context["figures"]
        html = response.content.decode()
        assert "网上" in html or "统计" in html
        assert f'id="rw-kpi-total">{figures["total"]}<' in html
        for chart in ("channel", "topic", "team", "buckets", "trend"):
            assert f'id="rw-chart-{chart}"' in html
        assert 'id="rw-stats-data"' in html and "echarts.min.js" in html
        assert 'id="rw-stats-definitions"' in html
        # The export link carries the same filters.
        assert response.context["export_url"].startswith(EXPORT_URL + "?date_from=")
        director = self.client_as("director").get(STATS_URL)
        assert director.context["export_url"] == ""
        assert 'id="rw-stats-export"' not in director.content.decode()

    def test_bad_dates_are_refused_with_chinese_errors_naming_the_field(self):
        response = self.client_as("director").get(
            STATS_URL, {"date_from": "2026-06-10", "date_to": "2026-06-01"}
        )
        form = response.context["form"]
        assert form.errors["date_to"] == ["截止日期不能早于起始日期。"]
        html = response.content.decode()
        assert "is-invalid" in html and "截止日期不能早于起始日期。" in html
        assert 'id="rw-stats-invalid"' in html
        # The figures fall back to the last 30 days.
        assert response.context["figures"]["total"] == 30
        garbled = self.client_as("director").get(STATS_URL, {"date_from": "2026-02-30"})
        assert garbled.context["form"].errors["date_from"] == ["输入一个有效的日期。"]
        ancient = self.client_as("director").get(STATS_URL, {"date_to": "1900-01-01"})
        assert "2000-01-01" in ancient.context["form"].errors["date_to"][0]

    def test_team_names_are_shown_escaped(self):
        team = Team.objects.create(code="evil", name="<script>alert(1)</script>组")
        make_inquiry(self.north, received=NOW - 2 * HOUR, team=team)
        html = self.client_as("director").get(STATS_URL).content.decode()
        assert "<script>alert(1)</script>组" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;组" in html

    def test_the_number_of_queries_does_not_grow_with_the_inquiries(self):
        client = self.client_as("supervisor")
        client.get(STATS_URL)  # warm the session
        with CaptureQueriesContext(connection) as few:
            client.get(STATS_URL)
        agent = self.users["agent"]
        for i in range(40):
            inquiry = make_inquiry(
                [self.east, self.north][i % 2],
                received=NOW - dt.timedelta(hours=30 + i * 11),
                channel=CHANNELS[i % 5],
                topic=TOPICS[i % 5],
                team=list(self.teams.values())[i % 5],
                reply_hours=i % 30 + 0.5,
                contentious=i % 3 == 0,
            )
            rounds = ((inquiry.received_at, 0.25 + i % 4 / 8, "approved"),) if i % 3 == 0 else ()
            make_reply(inquiry, agent, rounds=rounds, reviewer=self.users["supervisor"])
        with self.assertNumQueries(len(few)):
            response = client.get(STATS_URL)
        assert response.context["figures"]["total"] > 40
        # The figures themselves: the grouped aggregate, the trend, the median and p90, the
        # review aggregate and its median and p90.
        director = User.objects.get(pk=self.users["director"].pk)
        director.has_perm("inquiries.view_inquiry")  # the permission cache, as in a request
        with CaptureQueriesContext(connection) as reading:
            stats.inquiry_stats(director, stats.StatsFilters.last_days(TODAY))
        assert len(reading) == 7, "\n".join(q["sql"][:300] for q in reading)

    # --- the record --------------------------------------------------------------------------

    def test_the_record_has_its_columns_and_one_row_per_inquiry_with_phones_masked(self):
        director = grant(self.users["director"], "inquiries.export_inquiries")
        client = self.client_as("director")
        client.force_login(director)
        response = client.get(EXPORT_URL)
        assert response.status_code == 200
        assert response["Content-Type"] == stats.XLSX_TYPE
        assert "attachment" in response["Content-Disposition"]
        rows = xlsx_rows(response)
        header, body = rows[0], rows[1:]
        assert list(header) == [
            "编号", "渠道", "来源网站/URL", "项目", "项目阶段", "主题", "客户", "提问人",
            "问题标题", "问题内容", "收到时间", "回复期限", "首次回复时间", "回复用时（小时）",
            "是否按时", "有争议", "审核人", "审核结果", "回复内容（已发送的最后一条）",
            "回复方式（公司/员工）", "负责团队", "答复人", "状态", "关闭时间",
        ]  # fmt: skip
        expected = sorted(self.period_rows(), key=lambda r: (r.received_at, r.pk))
        assert [r[0] for r in body] == [i.number for i in expected]
        text = "\n".join(str(v) for row in body for v in row if v is not None)
        assert "13812345678" not in text and "13900001111" not in text
        assert "138****5678" in text and "139****1111" in text
        assert "owner@example.com" not in text and "o***@example.com" in text
        by_number = {r[0]: dict(zip(header, r, strict=True)) for r in body}
        for inquiry in expected:
            row = by_number[inquiry.number]
            assert row["收到时间"] == inquiry.received_at.astimezone(ZONE).replace(
                tzinfo=None, microsecond=0
            )
            hours = recompute([inquiry])["median"]
            assert row["回复用时（小时）"] == (round(hours, 1) if hours is not None else None)
            assert row["负责团队"] == (inquiry.team.name if inquiry.team else None)
        approved = [i for i in expected if i.contentious and i.first_replied_at is not None]
        results = {by_number[i.number]["审核结果"] for i in approved}
        assert results == {"已审核通过", "已审核通过（此前退回 1 次）"}
        row = by_number[approved[0].number]
        assert row["有争议"] == "是（关键词：投诉）"
        assert row["审核人"] == str(self.users["supervisor"])
        assert row["答复人"] == str(self.users["agent"])
        assert row["回复内容（已发送的最后一条）"].startswith("您好，已为您处理。")
        assert row["是否按时"] in ("是", "否")
        returned = next(
            i
            for i in expected
            if Reply.objects.filter(inquiry=i, status=ReplyStatus.RETURNED).exists()
        )
        assert by_number[returned.number]["审核结果"] == "已退回"
        waiting = next(i for i in expected if i.status == InquiryStatus.IN_REVIEW)
        assert by_number[waiting.number]["审核结果"] == "审核中"
        closed_unanswered = next(
            i for i in expected if i.status == "closed" and i.first_replied_at is None
        )
        assert by_number[closed_unanswered.number]["是否按时"] == "未回复即关闭"
        assert by_number[closed_unanswered.number]["关闭时间"] is not None
        forum = next(i for i in expected if i.channel == InquiryChannel.FORUM)
        assert "https://bbs.example.com/t/" in by_number[forum.number]["来源网站/URL"]

    def test_a_user_who_may_reveal_personal_data_exports_phones_in_full(self):
        rows = xlsx_rows(self.client_as("supervisor").get(EXPORT_URL))
        text = "\n".join(str(v) for row in rows[1:] for v in row if v is not None)
        assert "13812345678" in text and "13900001111" in text
        assert len(rows) - 1 == 30

    def test_every_export_is_audited_with_its_filters_and_row_count(self):
        before = AuditEntry.objects.filter(action="inquiry.export").count()
        response = self.client_as("market_manager").get(
            EXPORT_URL, {"channel": InquiryChannel.EMAIL, "date_from": "2026-05-20"}
        )
        rows = xlsx_rows(response)
        entries = AuditEntry.objects.filter(action="inquiry.export").order_by("-pk")
        assert entries.count() == before + 1
        entry = entries[0]
        assert entry.actor_id == self.users["market_manager"].pk
        assert entry.changes["rows"][1] == len(rows) - 1
        assert entry.changes["filters"][1]["from"] == "2026-05-20"
        with override("zh-hans"):
            assert entry.changes["filters"][1]["channel"] == str(InquiryChannel.EMAIL.label)
        assert entry.changes["unmasked"][1] is True

    def test_hostile_text_stays_text_in_the_record(self):
        make_inquiry(
            self.east,
            received=NOW - HOUR,
            subject='=HYPERLINK("http://evil.example","点我")',
            body="坏\x0b字符\x07和<script>alert(1)</script>",
        )
        rows = xlsx_rows(self.client_as("supervisor").get(EXPORT_URL))
        row = next(r for r in rows if r[8] and str(r[8]).startswith("=HYPERLINK"))
        assert row[8] == '=HYPERLINK("http://evil.example","点我")'
        assert row[9] == "坏字符和<script>alert(1)</script>"
        content = b"".join(self.client_as("supervisor").get(EXPORT_URL).streaming_content)
        formulas = load_workbook(io.BytesIO(content)).worksheets[0]
        assert all(cell.data_type != "f" for r in formulas.iter_rows() for cell in r)

    def test_an_export_with_bad_filters_goes_back_to_the_page_with_the_errors(self):
        response = self.client_as("supervisor").get(EXPORT_URL, {"date_from": "昨天"})
        assert response.status_code == 302
        assert response["Location"].startswith(STATS_URL + "?date_from=")
        assert not AuditEntry.objects.filter(action="inquiry.export").exists()

    def test_the_record_reads_a_fixed_number_of_queries(self):
        director = User.objects.get(pk=self.users["director"].pk)
        director.has_perm("inquiries.view_inquiry")  # the permission cache, as in a request
        filters = stats.StatsFilters.last_days(TODAY)
        with CaptureQueriesContext(connection) as reading:
            rows = stats.inquiry_record_rows(director, filters, chunk=7)
            _file, written = stats.inquiry_record_xlsx(
                rows, reveal=False, filters=filters, exported_by=director
            )
        assert written == 30
        # The inquiries (with customer, project, team); the replies and the reviews of every
        # 7 of them.
        assert len(reading) == 1 + 2 * math.ceil(30 / 7), "\n".join(q["sql"][:300] for q in reading)


# --- in a browser --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_charts_draw_and_a_click_on_a_bar_filters_the_page(page, live_server):
    regions = make_regions()
    customer = make_customer("东湖业主", regions["360102"])
    hostile = Team.objects.create(code="x", name='<img src=x onerror="window.xss=1">组')
    now = dt.datetime.now(tz=ZONE)
    for i in range(12):
        make_inquiry(
            customer,
            received=now - dt.timedelta(hours=30 + i * 20),
            channel=[InquiryChannel.EMAIL, InquiryChannel.EMAIL, InquiryChannel.FORUM][i % 3],
            topic=TOPICS[i % 5],
            team=hostile,
            reply_hours=[0.5, 3, 30, None][i % 4],
        )
    make_user("zhaomin", "operations_director", display_name="赵敏")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "zhaomin")
    page.fill("#id_password", STRONG_PASSWORD)
    page.click("#rw-main form button[type=submit]")
    page.wait_for_selector("#rw-user-menu")
    page.goto(f"{live_server.url}{STATS_URL}")
    for chart in ("channel", "topic", "team", "buckets", "trend"):
        page.wait_for_selector(f"#rw-chart-{chart} canvas")
    assert page.inner_text("#rw-kpi-total") == "12"
    assert page.inner_text("#rw-kpi-on-time") == "50%"  # 0.5 h and 3 h on time, 30 h late

    def bar(chart: str, value: int, index: int) -> tuple[float, float]:
        return page.evaluate(
            """([id, value, index]) => {
              const el = document.getElementById(id);
              const [px, py] = echarts.getInstanceByDom(el).convertToPixel(
                {seriesIndex: 0}, [value, index]);
              const box = el.getBoundingClientRect();
              return [box.left + px, box.top + py];
            }""",
            [f"rw-chart-{chart}", value, index],
        )

    # A team's name in the tooltip is text, never markup.
    page.mouse.move(*bar("team", 6, 0))
    tooltip = page.locator("#rw-chart-team div", has_text="onerror")
    tooltip.first.wait_for()
    assert 'onerror="window.xss=1"' in tooltip.first.inner_text()
    assert page.evaluate("window.xss") is None
    page.mouse.move(0, 0)  # the pointer leaves the chart: its tooltip goes
    tooltip.first.wait_for(state="hidden")
    # A click on the e-mail bar (the first channel) shows the e-mail inquiries only.
    page.mouse.click(*bar("channel", 1, 1))
    page.wait_for_url("**channel=email**")
    assert page.inner_text("#rw-kpi-total") == "8"
    assert page.locator("#id_channel").input_value() == "email"
    assert errors == []
