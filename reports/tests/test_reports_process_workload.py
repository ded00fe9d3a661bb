"""The workload and throughput report: every count equals a recomputation from the raw tasks,
ticket timelines, tickets and replies (precomputed rows and live counts), and a viewer sees
only themselves and the people they manage."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from io import BytesIO
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Department, User
from customers.models import Customer
from customers.tests.factories import make_customer
from inquiries.models import Inquiry, InquiryChannel, InquiryStatus, Reply, ReplyStatus, Topic
from reports.filters import ReportFilters
from reports.workload import FIELDS, Workload, workload_refresh, workload_report
from ruwang.testing import PersonaTestCase, make_regions
from service.models import EntryKind, Ticket, TicketEntry, TicketKind, TicketStatus
from service.tests.factories import publish_process
from workflow.models import (
    Case,
    CaseStatus,
    Task,
    TaskStatus,
    WorkloadDailyStat,
    WorkloadWeeklyStat,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=ZONE)
VIEWERS = ["director", "market_manager", "account_manager", "supervisor", "agent", "responder"]
EXPORTERS = ["director", "market_manager", "supervisor"]
WORKERS = ["supervisor", "agent", "responder", "account_manager", "market"]
_numbers = count(1)


def grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="reports", codename=codename)
        )


def make_inquiry(customer: Customer, *, received: dt.datetime, reply_hours: float) -> Inquiry:
    n = next(_numbers)
    replied = received + dt.timedelta(hours=reply_hours)
    return Inquiry.objects.create(
        number=f"WZ-T-{n:05d}",
        channel=InquiryChannel.WEB,
        customer=customer,
        topic=Topic.GENERAL,
        subject=f"问题{n}",
        body=f"请问第{n}个问题",
        status=InquiryStatus.REPLIED if replied < NOW else InquiryStatus.ASSIGNED,
        received_at=received,
        due_at=received + dt.timedelta(hours=24),
        replied_at=replied if replied < NOW else None,
        first_replied_at=replied if replied < NOW else None,
    )


def local(moment: dt.datetime) -> dt.date:
    return moment.astimezone(ZONE).date()


class WorkloadWorld(PersonaTestCase):
    """The supervisor supervises the agent and the responder; the director heads the
    department everyone is in. Between September and November 2026 five people receive and
    complete tasks, are assigned and resolve tickets and send inquiry replies, at customers
    in 东湖 and 濂溪."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        for persona in VIEWERS:
            grant(cls.users[persona], "view_reports")
        for persona in EXPORTERS:
            grant(cls.users[persona], "export_reports")
        users = cls.users
        User.objects.filter(pk__in=[users["agent"].pk, users["responder"].pk]).update(
            supervisor=users["supervisor"]
        )
        Department.objects.filter(code="test_dept").update(head=users["director"])
        cls.regions = make_regions()
        cls.customers = [
            make_customer("东湖大厦", cls.regions["360102"]),
            make_customer("濂溪医院", cls.regions["360402"]),
        ]
        version = publish_process()
        rng = random.Random(5)
        start = dt.datetime(2026, 9, 1, 8, tzinfo=ZONE)
        span = (NOW - start).total_seconds()

        def moment() -> dt.datetime:
            return start + dt.timedelta(seconds=rng.uniform(0, span))

        tasks = []
        for n in range(40):
            customer = cls.customers[n % 2]
            case = Case.objects.create(
                number=f"RW-W{n:04d}",
                version=version,
                customer=customer,
                status=CaseStatus.RUNNING,
                started_at=start,
            )
            for token in range(1, 4):
                person = users[rng.choice(WORKERS)]
                created = moment()
                claimed = created + dt.timedelta(hours=rng.uniform(0, 48)) if token != 2 else None
                done = rng.random() < 0.6
                completed = (claimed or created) + dt.timedelta(hours=rng.uniform(1, 90))
                if completed > NOW:
                    done = False
                tasks.append(
                    Task(
                        case=case,
                        customer=customer,
                        token=token,
                        node_id="Fill",
                        name="填写",
                        status=TaskStatus.COMPLETED if done else TaskStatus.CLAIMED,
                        assignee=person,
                        created_at=created,
                        claimed_at=claimed,
                        completed_at=completed if done else None,
                        completed_by=person if done else None,
                    )
                )
        Task.objects.bulk_create(tasks)
        for n in range(40):
            customer = cls.customers[n % 2]
            person = users[rng.choice(WORKERS)]
            created = moment()
            resolved = created + dt.timedelta(hours=rng.uniform(1, 200))
            resolved_at = resolved if resolved < NOW and n % 3 else None
            number = next(_numbers)
            ticket = Ticket.objects.create(
                number=f"GD-T-{number:05d}",
                kind=TicketKind.FAULT,
                customer=customer,
                subject=f"故障{number}",
                created_at=created,
                assignee=person,
                resolved_at=resolved_at,
                status=TicketStatus.RESOLVED if resolved_at else TicketStatus.IN_PROGRESS,
            )
            TicketEntry.objects.create(
                ticket=ticket, kind=EntryKind.ASSIGNMENT, data={"to": person.pk}, created_at=created
            )
            if n % 4 == 0:
                other = users[rng.choice(WORKERS)]
                TicketEntry.objects.create(
                    ticket=ticket,
                    kind=EntryKind.ASSIGNMENT,
                    data={"to": other.pk, "previous": person.pk},
                    created_at=created + dt.timedelta(hours=3),
                )
        for n in range(20):
            customer = cls.customers[n % 2]
            person = users[rng.choice(WORKERS)]
            inquiry = make_inquiry(customer, received=moment(), reply_hours=rng.uniform(1, 30))
            if inquiry.first_replied_at and inquiry.first_replied_at < NOW:
                Reply.objects.create(
                    inquiry=inquiry,
                    author=person,
                    body="您好，已处理。",
                    status=ReplyStatus.SENT,
                    sent_by=person,
                    sent_at=inquiry.first_replied_at,
                )
            else:
                Inquiry.objects.filter(pk=inquiry.pk).update(assignee=person)

    # --- an independent recomputation ---------------------------------------------------

    def expected(
        self, first: dt.date, last: dt.date, customers: list[Customer] | None = None
    ) -> dict[int, list[int]]:
        ids = {c.pk for c in (customers or self.customers)}
        counts: dict[int, list[int]] = defaultdict(lambda: [0] * len(FIELDS))

        def add(person: int | None, moment: dt.datetime | None, index: int) -> None:
            if person is not None and moment is not None and first <= local(moment) <= last:
                counts[person][index] += 1

        for task in Task.objects.filter(customer_id__in=ids):
            add(task.completed_by_id or task.assignee_id, task.claimed_at or task.created_at, 0)
            if task.status == TaskStatus.COMPLETED:
                add(task.completed_by_id, task.completed_at, 1)
        for entry in TicketEntry.objects.filter(
            kind=EntryKind.ASSIGNMENT, ticket__customer_id__in=ids
        ):
            add(entry.data.get("to"), entry.created_at, 2)
        for ticket in Ticket.objects.filter(customer_id__in=ids):
            add(ticket.assignee_id, ticket.resolved_at, 3)
        for reply in Reply.objects.filter(status=ReplyStatus.SENT, inquiry__customer_id__in=ids):
            add(reply.sent_by_id, reply.sent_at, 4)
        return counts

    def backlog(self, customers: list[Customer] | None = None) -> dict[int, int]:
        ids = {c.pk for c in (customers or self.customers)}
        found: dict[int, int] = defaultdict(int)
        for task in Task.objects.filter(customer_id__in=ids):
            if task.is_open and task.assignee_id:
                found[task.assignee_id] += 1
        for ticket in Ticket.objects.filter(customer_id__in=ids):
            if ticket.status == TicketStatus.IN_PROGRESS and ticket.assignee_id:
                found[ticket.assignee_id] += 1
        for inquiry in Inquiry.objects.filter(customer_id__in=ids, assignee__isnull=False):
            if inquiry.assignee_id and inquiry.status not in ("replied", "closed"):
                found[inquiry.assignee_id] += 1
        return found

    def assert_matches(
        self,
        workload: Workload,
        first: dt.date,
        last: dt.date,
        customers: list[Customer] | None = None,
    ) -> None:
        expected = self.expected(first, last, customers)
        backlog = self.backlog(customers)
        for row in workload.rows:
            want = [0] * len(FIELDS)
            for uid in row.subject.member_ids:
                want = [
                    a + b for a, b in zip(want, expected.get(uid, [0] * len(FIELDS)), strict=True)
                ]
            assert row.counts == want, row.subject.label
            assert row.backlog_total == sum(backlog.get(uid, 0) for uid in row.subject.member_ids)
        people = {row.subject.member_ids[0] for row in workload.people}
        weekly = [0] * len(FIELDS)
        for week in workload.weeks:
            weekly = [a + b for a, b in zip(weekly, week.counts, strict=True)]
        total = [0] * len(FIELDS)
        for uid in people:
            total = [
                a + b for a, b in zip(total, expected.get(uid, [0] * len(FIELDS)), strict=True)
            ]
        assert weekly == total
        assert sum(total) > 0

    def filters(self, first: dt.date, last: dt.date, **extra: Any) -> ReportFilters:
        return ReportFilters(first_day=first, last_day=last, **extra)


@time_machine.travel(NOW, tick=False)
class WorkloadFiguresTests(WorkloadWorld):
    def test_precomputed_counts_equal_the_raw_rows(self):
        workload_refresh(full=True)
        assert WorkloadDailyStat.objects.exists()
        for first, last in (
            (dt.date(2026, 9, 1), dt.date(2026, 11, 20)),
            (dt.date(2026, 9, 15), dt.date(2026, 10, 20)),
        ):
            workload = workload_report(self.users["director"], self.filters(first, last))
            assert workload.precomputed
            self.assert_matches(workload, first, last)

    def test_region_and_department_filters_read_the_rows_of_their_customers(self):
        # 濂溪医院 is the department's customer; 东湖大厦 has no department.
        department = Department.objects.get(pk=self.users["director"].department_id)
        Customer.objects.filter(pk=self.customers[1].pk).update(department=department)
        workload_refresh(full=True)
        first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
        nanchang = self.regions["360100"]
        ids = (nanchang.pk, self.regions["360102"].pk, self.regions["360103"].pk)
        jiujiang = self.regions["360400"]
        lianxi = self.regions["360402"]
        for filters, customers in (
            (self.filters(first, last, region=nanchang, region_ids=ids), self.customers[:1]),
            (
                self.filters(
                    first,
                    last,
                    region=jiujiang,
                    region_ids=(jiujiang.pk, lianxi.pk),
                ),
                self.customers[1:],
            ),
            (self.filters(first, last, department=department), self.customers[1:]),
            (
                self.filters(
                    dt.date(2026, 10, 3), dt.date(2026, 10, 30), region=nanchang, region_ids=ids
                ),
                self.customers[:1],
            ),
        ):
            workload = workload_report(self.users["director"], filters)
            assert workload.precomputed
            self.assert_matches(workload, filters.first_day, filters.last_day, customers)
        # Weekly rows are kept per district and department, and add up to everyone's.
        weekly = WorkloadWeeklyStat.objects.aggregate(n=Sum("tasks_completed"))["n"]
        daily = WorkloadDailyStat.objects.filter(segment_id=None).aggregate(
            n=Sum("tasks_completed")
        )["n"]
        assert weekly == daily > 0
        assert WorkloadWeeklyStat.objects.filter(
            customer_region_id=self.regions["360102"].pk
        ).exists()
        everyone = workload_report(self.users["director"], self.filters(first, last))
        self.assert_matches(everyone, first, last)

    def test_the_upgrade_has_the_next_refresh_build_every_week(self):
        from importlib import import_module

        from django.apps import apps as global_apps

        from reports.models import ReportRefresh

        workload_refresh(full=True)
        migration = import_module("workflow.migrations.0009_workload_weekly_by_district")
        migration.rebuild_next(global_apps, None)
        state = ReportRefresh.objects.get(key="workload")
        assert state.finished_at is None and state.full_at is None
        assert workload_refresh().full  # the next refresh rebuilds every day and week

    def test_weeks_start_on_monday_and_cover_the_period(self):
        workload_refresh(full=True)
        workload = workload_report(
            self.users["director"], self.filters(dt.date(2026, 9, 2), dt.date(2026, 11, 20))
        )
        assert workload.weeks[0].monday == dt.date(2026, 8, 31)
        assert workload.weeks[-1].monday == dt.date(2026, 11, 16)
        assert all(week.monday.weekday() == 0 for week in workload.weeks)

    def test_incremental_refresh_adds_todays_work(self):
        workload_refresh(full=True)
        task = Task.objects.filter(status=TaskStatus.CLAIMED).order_by("id").first()
        assert task is not None
        later = NOW + dt.timedelta(minutes=10)
        with time_machine.travel(later, tick=False):
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.COMPLETED, completed_at=later, completed_by=task.assignee
            )
            result = workload_refresh()
            assert not result.full
            assert result.days == later.weekday() + 1  # from this week's Monday (weekly rows)
            first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
            workload = workload_report(self.users["director"], self.filters(first, last))
            assert workload.precomputed
            self.assert_matches(workload, first, last)


@time_machine.travel(NOW, tick=False)
class WorkloadScopeTests(WorkloadWorld):
    def keys(self, persona: str) -> set[str]:
        workload = workload_report(
            self.users[persona], self.filters(dt.date(2026, 9, 1), dt.date(2026, 11, 20))
        )
        return {row.subject.key for row in workload.people}

    def test_a_person_sees_only_their_own_workload(self):
        workload_refresh(full=True)
        assert self.keys("agent") == {f"u{self.users['agent'].pk}"}
        assert self.keys("account_manager") == {f"u{self.users['account_manager'].pk}"}

    def test_a_supervisor_sees_the_people_they_supervise(self):
        workload_refresh(full=True)
        expected = {f"u{self.users[p].pk}" for p in ("supervisor", "agent", "responder")}
        assert self.keys("supervisor") == expected
        first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
        workload = workload_report(self.users["supervisor"], self.filters(first, last))
        self.assert_matches(workload, first, last)

    def test_the_head_of_the_department_sees_everyone_in_it(self):
        workload_refresh(full=True)
        assert self.keys("director") >= {f"u{self.users[p].pk}" for p in WORKERS}


@time_machine.travel(NOW, tick=False)
class WorkloadPageTests(WorkloadWorld):
    def test_who_may_open_the_workload_and_its_export(self):
        self.assert_access(reverse("reports:workload"), allowed=VIEWERS)
        self.assert_access(reverse("reports:workload_export"), allowed=EXPORTERS)

    def test_page_shows_the_viewers_rows_with_definitions(self):
        workload_refresh(full=True)
        response = self.client_as("supervisor").get(
            reverse("reports:workload"), {"date_from": "2026-09-01", "date_to": "2026-11-20"}
        )
        html = response.content.decode()
        assert 'id="rw-workload-table"' in html
        assert 'id="rw-workload-data"' in html
        assert f'data-subject="u{self.users["agent"].pk}"' in html
        assert f'data-subject="u{self.users["market"].pk}"' not in html
        assert html.count("data-column=") == 6

    def test_export_holds_the_same_counts(self):
        workload_refresh(full=True)
        response = self.client_as("supervisor").get(
            reverse("reports:workload_export"),
            {"date_from": "2026-09-01", "date_to": "2026-11-20"},
        )
        assert response.status_code == 200
        book = load_workbook(BytesIO(b"".join(response.streaming_content)))
        rows = list(book.worksheets[0].iter_rows(values_only=True))
        expected = self.expected(dt.date(2026, 9, 1), dt.date(2026, 11, 20))
        agent = self.users["agent"]
        row = next(r for r in rows if r and r[0] == agent.display_name)
        assert list(row[2 : 2 + len(FIELDS)]) == expected.get(agent.pk, [0] * len(FIELDS))


@time_machine.travel(NOW, tick=False)
class WorkloadQueryCountTests(WorkloadWorld):
    def test_the_page_runs_a_fixed_number_of_queries(self):
        workload_refresh(full=True)
        client = self.client_as("director")
        url = reverse("reports:workload")
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        # Session, user, navigation, the scope, the sums and the backlog: none per person.
        assert len(queries.captured_queries) <= 20, len(queries.captured_queries)
