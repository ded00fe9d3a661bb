"""Staff performance (绩效评估): figures equal a recomputation from the raw rows, and only the
person and their managers see them."""

from __future__ import annotations

import datetime as dt
import io
import random
from itertools import count
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Department, User
from audit.models import AuditEntry
from customers.models import Customer
from customers.tests.factories import make_customer
from inquiries.models import Inquiry, InquiryChannel, InquiryStatus, Reply, ReplyStatus, Topic
from insights.performance import Figures, Period, performance_scope, scope_figures
from ruwang.testing import PERSONAS, PersonaTestCase, make_regions, make_user
from service.models import (
    RevisitStatus,
    ScheduledRevisit,
    Survey,
    Team,
    TeamMember,
    Ticket,
    TicketKind,
    TicketStatus,
)
from service.tests.factories import make_case, make_plan
from workflow.models import Case, Task, TaskStatus

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 20, 9, 0, tzinfo=ZONE)
JUNE = Period(first_day=dt.date(2026, 6, 1), last_day=dt.date(2026, 6, 30))
PAGE = reverse("insights:performance")
EXPORT = reverse("insights:performance_export")
JUNE_QUERY = {"date_from": "2026-06-01", "date_to": "2026-06-30"}

_numbers = count(1)


def at(day: int, hour: float, month: int = 6) -> dt.datetime:
    return dt.datetime(2026, month, day, tzinfo=ZONE) + dt.timedelta(hours=hour)


def make_task(case: Case, user: User, *, created: dt.datetime, **extra: Any) -> Task:
    return Task.objects.create(
        case=case,
        customer=case.customer,
        token=next(_numbers),
        node_id="survey",
        name="现场勘察",
        status=extra.pop("status", TaskStatus.COMPLETED),
        assignee=user,
        completed_by=extra.pop("completed_by", user),
        created_at=created,
        **extra,
    )


def make_ticket(
    customer: Customer, user: User | None, *, created: dt.datetime, **extra: Any
) -> Ticket:
    n = next(_numbers)
    return Ticket.objects.create(
        number=f"GD-2026-{n:06d}",
        kind=TicketKind.FAULT,
        customer=customer,
        subject=f"工单{n}",
        assignee=user,
        created_at=created,
        status=extra.pop("status", TicketStatus.IN_PROGRESS),
        **extra,
    )


def make_survey(ticket: Ticket, answered: dt.datetime | None, csat: int | None) -> Survey:
    n = next(_numbers)
    return Survey.objects.create(
        token=f"perf-{n}",
        customer=ticket.customer,
        trigger="ticket",
        ticket=ticket,
        sent_at=(answered or NOW) - dt.timedelta(days=1),
        expires_at=(answered or NOW) + dt.timedelta(days=13),
        answered_at=answered,
        csat=csat,
    )


def make_inquiry_reply(
    customer: Customer,
    user: User,
    *,
    received: dt.datetime,
    first_reply: dt.datetime,
    sent: dt.datetime | None = None,
    due_hours: float | None = 24,
) -> Reply:
    """An inquiry replied first at `first_reply`, and this person's reply sent at `sent`
    (the first reply unless given)."""
    n = next(_numbers)
    inquiry = Inquiry.objects.create(
        number=f"WZ-2026-{n:06d}",
        channel=InquiryChannel.WEB,
        customer=customer,
        topic=Topic.GENERAL,
        subject=f"问题{n}",
        body="请问",
        status=InquiryStatus.REPLIED,
        received_at=received,
        due_at=received + dt.timedelta(hours=due_hours) if due_hours is not None else None,
        first_due_at=received + dt.timedelta(hours=due_hours) if due_hours is not None else None,
        replied_at=sent or first_reply,
        first_replied_at=first_reply,
    )
    return Reply.objects.create(
        inquiry=inquiry,
        author=user,
        body="您好，已为您处理。",
        status=ReplyStatus.SENT,
        sent_by=user,
        sent_at=sent or first_reply,
    )


def recompute(user: User, period: Period) -> Figures:
    """The figures from the raw rows, the slow way, in Python."""
    start, end = period.bounds()

    def inside(value: dt.datetime | None) -> bool:
        return value is not None and start <= value < end

    figures = Figures()
    for task in Task.objects.all():
        if task.status != TaskStatus.COMPLETED or task.completed_by_id != user.pk:
            continue
        if not inside(task.completed_at):
            continue
        assert task.completed_at is not None
        figures.tasks_completed += 1
        if task.due_at is not None:
            figures.tasks_with_due += 1
            figures.tasks_on_time += task.completed_at <= task.due_at
        began = task.claimed_at or task.created_at
        figures.handling_seconds += (task.completed_at - began).total_seconds()
    for ticket in Ticket.objects.all():
        if ticket.assignee_id != user.pk:
            continue
        figures.tickets_resolved += inside(ticket.resolved_at)
        if inside(ticket.first_responded_at):
            assert ticket.first_responded_at is not None
            figures.tickets_responded += 1
            figures.response_seconds += (
                ticket.first_responded_at - ticket.created_at
            ).total_seconds()
    for survey in Survey.objects.select_related("ticket"):
        if survey.ticket is None or survey.ticket.assignee_id != user.pk:
            continue
        if inside(survey.answered_at) and survey.csat is not None:
            figures.csat_count += 1
            figures.csat_sum += survey.csat
    for revisit in ScheduledRevisit.objects.all():
        if revisit.status == RevisitStatus.DONE and revisit.done_by_id == user.pk:
            figures.revisits_done += inside(revisit.done_at)
    for reply in Reply.objects.select_related("inquiry"):
        if reply.status != ReplyStatus.SENT or reply.sent_by_id != user.pk:
            continue
        if not inside(reply.sent_at):
            continue
        figures.replies_sent += 1
        inquiry = reply.inquiry
        if reply.sent_at == inquiry.first_replied_at:
            figures.first_replies += 1
            deadline = inquiry.first_due_at or inquiry.due_at
            assert reply.sent_at is not None
            figures.first_replies_on_time += deadline is None or reply.sent_at <= deadline
    return figures


class PerformanceTestCase(PersonaTestCase):
    """engineer → technical → director on the supervisor chain; engineer and technical work in
    工程部, headed by the market manager; the 售后组 team is engineer and technical, the 客服组
    team engineer and agent."""

    customer: ClassVar[Customer]
    case: ClassVar[Case]
    works: ClassVar[Department]
    after_sales: ClassVar[Team]
    mixed: ClassVar[Team]

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer("东湖大厦", regions["360102"])
        cls.case = make_case(cls.customer)
        users = cls.users
        cls.works = Department.objects.create(
            code="works", name="工程部", head=users["market_manager"]
        )
        User.objects.filter(pk=users["technical"].pk).update(
            supervisor=users["director"], department=cls.works
        )
        User.objects.filter(pk=users["engineer"].pk).update(
            supervisor=users["technical"], department=cls.works
        )
        for name in ("technical", "engineer"):
            users[name].refresh_from_db()
        cls.after_sales = Team.objects.create(code="after-sales", name="售后组")
        cls.mixed = Team.objects.create(code="desk", name="客服组")
        for team, members in (
            (cls.after_sales, ("engineer", "technical")),
            (cls.mixed, ("engineer", "agent")),
        ):
            for name in members:
                TeamMember.objects.create(team=team, user=users[name])


class FiguresTest(PerformanceTestCase):
    def make_history(self, user: User, seed: int) -> None:
        """Random work in May, June and July: only June's may count."""
        rng = random.Random(seed)
        for _ in range(12):
            month = rng.choice([5, 6, 6, 6, 7])
            created = at(rng.randint(1, 28), rng.uniform(0, 20), month)
            done = created + dt.timedelta(hours=rng.uniform(0.1, 80))
            claimed = (
                created + dt.timedelta(hours=rng.uniform(0, 0.09)) if rng.random() < 0.5 else None
            )
            due = created + dt.timedelta(hours=rng.uniform(1, 60)) if rng.random() < 0.7 else None
            status = rng.choice([TaskStatus.COMPLETED] * 4 + [TaskStatus.CANCELLED])
            make_task(
                self.case,
                user,
                created=created,
                claimed_at=claimed,
                completed_at=done,
                due_at=due,
                status=status,
            )
            ticket = make_ticket(
                self.customer,
                user,
                created=created,
                first_responded_at=created + dt.timedelta(hours=rng.uniform(0.05, 30))
                if rng.random() < 0.8
                else None,
                resolved_at=done if rng.random() < 0.6 else None,
            )
            if rng.random() < 0.6:
                make_survey(ticket, done + dt.timedelta(days=1), rng.choice([1, 2, 3, 4, 5, None]))
            first = created + dt.timedelta(hours=rng.uniform(1, 40))
            later = first + dt.timedelta(hours=5) if rng.random() < 0.3 else None
            make_inquiry_reply(
                self.customer,
                user,
                received=created,
                first_reply=first,
                sent=later,
                due_hours=rng.choice([24, 24, None]),
            )
        plan = make_plan(self.customer, dt.date(2026, 1, 1))
        for revisit in plan.revisits.all():
            ScheduledRevisit.objects.filter(pk=revisit.pk).update(
                status=rng.choice(
                    [RevisitStatus.DONE, RevisitStatus.DONE, RevisitStatus.CANCELLED]
                ),
                done_by=user,
                done_at=at(rng.randint(1, 28), 10, rng.choice([5, 6, 7])),
            )

    def test_each_persons_figures_equal_a_recomputation_from_the_raw_rows(self) -> None:
        engineer, technical = self.users["engineer"], self.users["technical"]
        self.make_history(engineer, seed=1)
        self.make_history(technical, seed=2)
        # Work of someone else on the same customer never counts for them.
        self.make_history(self.users["agent"], seed=3)

        scope = scope_figures(performance_scope(self.users["director"]), JUNE)

        for user in (engineer, technical):
            subject = scope.get(f"u{user.pk}")
            assert subject is not None
            expected = recompute(user, JUNE)
            assert expected.tasks_completed > 0 and expected.tickets_resolved > 0
            assert expected.replies_sent > 0
            got = subject.figures
            for name in ("tasks_completed", "tasks_with_due", "tasks_on_time", "tickets_resolved",
                         "tickets_responded", "csat_count", "csat_sum", "revisits_done",
                         "replies_sent", "first_replies", "first_replies_on_time"):  # fmt: skip
                assert getattr(got, name) == getattr(expected, name), name
            assert abs(got.handling_seconds - expected.handling_seconds) < 1
            assert abs(got.response_seconds - expected.response_seconds) < 1

    def test_a_team_adds_up_its_members_figures(self) -> None:
        self.make_history(self.users["engineer"], seed=4)
        self.make_history(self.users["technical"], seed=5)
        scope = scope_figures(performance_scope(self.users["director"]), JUNE)
        team = scope.get(f"t{self.after_sales.pk}")
        assert team is not None
        expected = recompute(self.users["engineer"], JUNE)
        expected.add(recompute(self.users["technical"], JUNE))
        assert team.figures.tasks_completed == expected.tasks_completed
        assert team.figures.tasks_on_time == expected.tasks_on_time
        assert team.figures.csat_sum == expected.csat_sum
        assert team.figures.replies_sent == expected.replies_sent
        assert team.figures.task_on_time_rate == expected.task_on_time_rate

    def test_rates_and_averages_follow_their_definitions_on_a_hand_made_month(self) -> None:
        engineer = self.users["engineer"]
        # Two tasks with a due time (one late), one without: handling 2 h, 4 h and 6 h.
        make_task(
            self.case,
            engineer,
            created=at(2, 8),
            claimed_at=at(2, 9),
            completed_at=at(2, 11),
            due_at=at(2, 12),
        )
        make_task(self.case, engineer, created=at(3, 8), completed_at=at(3, 12), due_at=at(3, 10))
        make_task(self.case, engineer, created=at(4, 8), completed_at=at(4, 14))
        # First responses after 30 min and 90 min; one resolved.
        first = make_ticket(
            self.customer,
            engineer,
            created=at(5, 8),
            first_responded_at=at(5, 8.5),
            resolved_at=at(5, 12),
        )
        make_ticket(self.customer, engineer, created=at(6, 8), first_responded_at=at(6, 9.5))
        make_survey(first, at(7, 10), 4)
        make_survey(first, at(8, 10), 5)
        make_survey(first, at(9, 10), None)  # answered without a score: not in CSAT
        # Two first replies, one within the 24-hour deadline; and a later reply.
        make_inquiry_reply(self.customer, engineer, received=at(10, 8), first_reply=at(10, 20))
        make_inquiry_reply(self.customer, engineer, received=at(11, 8), first_reply=at(12, 9))
        make_inquiry_reply(
            self.customer, engineer, received=at(13, 8), first_reply=at(13, 9), sent=at(14, 9)
        )

        figures = scope_figures(performance_scope(engineer), JUNE).people[0].figures

        assert figures.tasks_completed == 3
        assert figures.task_on_time_rate == 50.0
        assert figures.avg_handling_hours == 4.0
        assert figures.tickets_resolved == 1
        assert figures.avg_first_response_hours == 1.0
        assert figures.csat == 4.5
        assert figures.replies_sent == 3
        assert figures.reply_on_time_rate == 50.0

    def test_the_figures_take_the_same_handful_of_queries_for_two_or_twenty_people(self) -> None:
        director = self.users["director"]

        def queries() -> tuple[int, int]:
            with CaptureQueriesContext(connection) as captured:
                scope = scope_figures(performance_scope(director), JUNE)
            return len(captured), len(scope.people)

        few, people_before = queries()
        for n in range(18):
            make_user(f"staff{n}", "engineer", supervisor=self.users["engineer"])
        many, people_after = queries()
        assert people_after == people_before + 18
        assert few == many
        assert many == 9  # staff, departments, team members, teams; five figure queries


class AccessTest(PerformanceTestCase):
    def test_everyone_signed_in_sees_their_own_figures(self) -> None:
        self.assert_access(PAGE, allowed=PERSONAS)

    def test_a_persons_figures_are_seen_by_them_their_supervisors_and_department_head(self) -> None:
        url = f"{PAGE}?subject=u{self.users['engineer'].pk}"
        allowed = ["engineer", "technical", "director", "market_manager"]
        self.assert_access(url, allowed=allowed, not_found=set(PERSONAS) - set(allowed))

    def test_a_team_is_shown_only_to_those_who_see_every_member(self) -> None:
        url = f"{PAGE}?subject=t{self.after_sales.pk}"
        allowed = ["technical", "director", "market_manager"]
        self.assert_access(url, allowed=allowed, not_found=set(PERSONAS) - set(allowed))
        # 客服组 has the agent in it, whom none of them manages.
        mixed = f"{PAGE}?subject=t{self.mixed.pk}"
        self.assert_access(mixed, allowed=[], not_found=PERSONAS)

    def test_a_department_is_shown_to_its_head_and_whoever_manages_all_its_members(self) -> None:
        url = f"{PAGE}?subject=d{self.works.pk}"
        # The technical lead and the director see both members on the supervisor chain too.
        allowed = ["market_manager", "director", "technical"]
        self.assert_access(url, allowed=allowed, not_found=set(PERSONAS) - set(allowed))

    def test_the_export_holds_only_the_figures_the_viewer_may_see(self) -> None:
        self.assert_access(EXPORT, allowed=PERSONAS)
        make_task(self.case, self.users["engineer"], created=at(2, 8), completed_at=at(2, 10))

        def names(persona: str) -> list[str]:
            response = self.client_as(persona).get(EXPORT, JUNE_QUERY)
            assert response.status_code == 200
            book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
            rows = list(book.worksheets[0].iter_rows(values_only=True))
            return [str(row[1]) for row in rows[1:]]

        assert names("engineer") == ["engineer"]
        assert set(names("technical")) == {"technical", "engineer", "售后组", "工程部"}
        assert "agent" not in names("market_manager")
        assert AuditEntry.objects.filter(action="insights.performance_export").exists()


class PageTest(PerformanceTestCase):
    @time_machine.travel(NOW, tick=False)
    def test_the_page_shows_each_figure_with_its_definition(self) -> None:
        engineer = self.users["engineer"]
        make_task(self.case, engineer, created=at(2, 8), completed_at=at(2, 10), due_at=at(2, 12))
        response = self.client_as("engineer").get(PAGE)
        assert response.status_code == 200
        page = response.content.decode()
        assert response.context["period"] == Period(dt.date(2026, 6, 1), dt.date(2026, 6, 20))
        cards = {card["key"]: card for card in response.context["cards"]}
        assert cards["tasks_completed"]["value"] == "1"
        assert cards["task_on_time_rate"]["value"] == "100%"
        assert cards["avg_handling_hours"]["value"] == "2 小时"
        for card in cards.values():
            assert str(card["definition"]) in page
        assert "已完成任务" in page and "按时完成率" in page
        # Nobody is managed: no table of people.
        assert 'id="rw-perf-table"' not in page

    def test_a_manager_sees_a_row_per_person_and_team_in_the_period(self) -> None:
        make_task(self.case, self.users["engineer"], created=at(2, 8), completed_at=at(2, 10))
        make_task(self.case, self.users["engineer"], created=at(2, 8), completed_at=at(2, 10, 5))
        response = self.client_as("technical").get(PAGE, JUNE_QUERY)
        rows = {row["subject"].key: row for row in response.context["rows"]}
        assert set(rows) == {
            f"u{self.users['technical'].pk}",
            f"u{self.users['engineer'].pk}",
            f"t{self.after_sales.pk}",
            f"d{self.works.pk}",
        }
        assert rows[f"u{self.users['engineer'].pk}"]["values"][0] == "1"
        assert rows[f"t{self.after_sales.pk}"]["values"][0] == "1"

    def test_a_period_ending_before_it_starts_is_refused_with_a_message(self) -> None:
        response = self.client_as("engineer").get(
            PAGE, {"date_from": "2026-06-10", "date_to": "2026-06-01"}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["date_to"]
        assert 'id="rw-perf-invalid"' in response.content.decode()
        bad = self.client_as("engineer").get(
            EXPORT, {"date_from": "2026-06-10", "date_to": "2026-06-01"}
        )
        assert bad.status_code == 400
