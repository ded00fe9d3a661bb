"""The onboarding funnel report: every figure equals a recomputation from the raw cases and
tasks (precomputed rows, live counts, and both mixed), scoped to what the viewer may see."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

import onboarding
from customers.models import Customer, Segment
from customers.tests.factories import make_customer
from reports.filters import ReportFilters
from reports.funnel import (
    CASE_ROW,
    Funnel,
    funnel_refresh,
    funnel_report,
    sop_order,
    whole_months,
)
from reports.models import ReportRefresh
from reports.process_tasks import process_reports_refresh
from ruwang.testing import PersonaTestCase, make_regions
from service.dashboard import histogram_quantile, hour_bucket
from service.models import HOUR_BUCKETS
from workflow import bpmn
from workflow import services as workflow_services
from workflow.models import (
    Case,
    CaseStatus,
    DefinitionVersion,
    StepCellStat,
    StepDailyStat,
    StepMonthlyStat,
    Task,
    TaskStatus,
    WorkloadDailyStat,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=ZONE)
BPMN = Path(onboarding.__file__).parent / "processes" / "fire_monitoring.bpmn"
VIEWERS = ["director", "market_manager", "account_manager", "supervisor", "agent"]
EXPORTERS = ["director", "market_manager", "supervisor"]


def grant(user: Any, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="reports", codename=codename)
        )


def publish_fire() -> DefinitionVersion:
    version = workflow_services.definition_upload(actor=None, xml=BPMN.read_text())
    return workflow_services.version_publish(actor=None, version=version)


class FunnelWorld(PersonaTestCase):
    """Cases of the fire-monitoring process started from August to November 2026 at three
    customers (东湖, the account manager's; 西湖, the market persona's; 濂溪, nobody's), each
    walking the first steps of the SOP with random step times; some completed, some cancelled,
    some still open; one repeats its approval."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        for persona in VIEWERS:
            grant(cls.users[persona], "view_reports")
        for persona in EXPORTERS:
            grant(cls.users[persona], "export_reports")
        cls.regions = make_regions()
        cls.version = publish_fire()
        cls.definition = cls.version.definition
        graph = bpmn.parse(cls.version.xml)
        cls.order = [step.node_id for step in sop_order(graph)]
        cls.names = {step.node_id: step.name for step in sop_order(graph)}
        cls.customers = [
            make_customer("东湖大厦", cls.regions["360102"], owner=cls.users["account_manager"]),
            make_customer("西湖商场", cls.regions["360103"], owner=cls.users["market"]),
            make_customer("濂溪医院", cls.regions["360402"]),
        ]
        rng = random.Random(11)
        tasks: list[Task] = []
        for n in range(60):
            customer = cls.customers[n % 3]
            started = dt.datetime(2026, 8, 1, 9, tzinfo=ZONE) + dt.timedelta(
                hours=rng.uniform(0, 110 * 24)
            )
            fate = rng.choice(["completed", "cancelled", "running", "running"])
            steps = cls.order if fate == "completed" else cls.order[: rng.randint(1, 8)]
            if n == 5:
                steps = [steps[0], steps[1] if len(steps) > 1 else steps[0], *steps[1:]]
            case = Case.objects.create(
                number=f"RW-T{n:04d}",
                version=cls.version,
                customer=customer,
                status={
                    "completed": CaseStatus.COMPLETED,
                    "cancelled": CaseStatus.CANCELLED,
                    "running": CaseStatus.RUNNING,
                }[fate],
                started_at=started,
            )
            moment = started
            for index, node_id in enumerate(steps):
                last = index == len(steps) - 1
                hours = rng.choice([0.2, 1.3, 5, 20, 30, 70, 200, 900]) * rng.uniform(0.8, 1.2)
                done = moment + dt.timedelta(hours=hours)
                status = TaskStatus.COMPLETED
                if last and fate == "cancelled":
                    status = TaskStatus.CANCELLED
                elif (last and fate == "running") or done > NOW:
                    status = TaskStatus.CLAIMED
                tasks.append(
                    Task(
                        case=case,
                        customer=customer,
                        customer_owner_id=customer.owner_id,
                        customer_region_id=customer.region_id,
                        customer_department_id=customer.department_id,
                        token=index + 1,
                        node_id=node_id,
                        name=cls.names[node_id],
                        status=status,
                        assignee=cls.users["market"],
                        created_at=moment,
                        completed_at=done if status == TaskStatus.COMPLETED else None,
                    )
                )
                if status != TaskStatus.COMPLETED:
                    break
                moment = done
            if fate != "running":
                Case.objects.filter(pk=case.pk).update(ended_at=moment)
        Task.objects.bulk_create(tasks)

    # --- an independent recomputation ---------------------------------------------------

    def expected(self, first: dt.date, last: dt.date, customers: list[Customer]) -> dict[str, Any]:
        start = dt.datetime.combine(first, dt.time(), tzinfo=ZONE)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=ZONE)
        ids = {c.pk for c in customers}
        cases = {
            c.pk: c for c in Case.objects.filter(customer_id__in=ids) if start <= c.started_at < end
        }
        reached: dict[str, set[int]] = defaultdict(set)
        waiting: dict[str, set[int]] = defaultdict(set)
        stopped: dict[str, set[int]] = defaultdict(set)
        completed: dict[str, int] = defaultdict(int)
        cycles: dict[str, list[int]] = defaultdict(lambda: [0] * HOUR_BUCKETS)
        for task in Task.objects.filter(case_id__in=list(cases)):
            case = cases[task.case_id]
            reached[task.node_id].add(case.pk)
            if task.status == TaskStatus.COMPLETED:
                assert task.completed_at is not None
                completed[task.node_id] += 1
                hours = (task.completed_at - task.created_at).total_seconds() / 3600
                cycles[task.node_id][hour_bucket(hours)] += 1
            if task.status in (TaskStatus.READY, TaskStatus.CLAIMED) and case.is_open:
                waiting[task.node_id].add(case.pk)
            if task.status == TaskStatus.CANCELLED and case.status == CaseStatus.CANCELLED:
                stopped[task.node_id].add(case.pk)
        statuses = [c.status for c in cases.values()]
        return {
            "started": len(cases),
            "completed": statuses.count(CaseStatus.COMPLETED),
            "cancelled": statuses.count(CaseStatus.CANCELLED),
            "open": sum(1 for c in cases.values() if c.is_open),
            "steps": {
                node: (
                    len(reached[node]),
                    completed[node],
                    len(waiting[node]),
                    len(stopped[node]),
                    tuple(cycles[node]),
                )
                for node in self.order
            },
        }

    def assert_matches(self, funnel: Funnel, expected: dict[str, Any]) -> None:
        assert funnel.started == expected["started"]
        assert funnel.completed == expected["completed"]
        assert funnel.cancelled == expected["cancelled"]
        assert funnel.open == expected["open"]
        shown = {f.step.node_id: f for f in funnel.steps}
        assert [f.step.node_id for f in funnel.steps][: len(self.order)] == self.order
        for node, (reached, completed, waiting, stopped, cycles) in expected["steps"].items():
            figures = shown[node]
            assert (
                figures.reached,
                figures.completed,
                figures.waiting,
                figures.stopped,
                tuple(figures.cycles),
            ) == (reached, completed, waiting, stopped, cycles), node
            assert figures.median == histogram_quantile(cycles, 0.5)
            assert figures.p90 == histogram_quantile(cycles, 0.9)
        timed = [f for f in funnel.steps if f.median is not None]
        if timed:
            top = max(timed, key=lambda f: (f.median.hours, f.p90.hours))
            assert funnel.bottleneck is not None
            assert funnel.bottleneck.step == top.step
            assert [f.step for f in funnel.steps if f.bottleneck] == [top.step]

    def filters(self, first: dt.date, last: dt.date, **extra: Any) -> ReportFilters:
        return ReportFilters(first_day=first, last_day=last, **extra)


@time_machine.travel(NOW, tick=False)
class FunnelFiguresTests(FunnelWorld):
    def test_whole_months_are_read_from_the_precomputed_rows(self):
        funnel_refresh(full=True)
        assert StepMonthlyStat.objects.exists()
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
        funnel = funnel_report(
            self.users["director"], self.filters(first, last), self.definition, NOW.date()
        )
        assert funnel.precomputed
        assert funnel.started > 30
        self.assert_matches(funnel, self.expected(first, last, self.customers))

    def test_whole_months_show_the_last_refresh_until_the_next_one(self):
        # The precomputed rows hold what the live count finds: change a task after the
        # refresh and only the live count of a partial month sees it.
        funnel_refresh(full=True)
        first, last = dt.date(2026, 9, 1), dt.date(2026, 10, 31)
        before = funnel_report(
            self.users["director"], self.filters(first, last), self.definition, NOW.date()
        )
        Task.objects.filter(case__started_at__month=9).delete()
        stale = funnel_report(
            self.users["director"], self.filters(first, last), self.definition, NOW.date()
        )
        assert stale.steps == before.steps
        funnel_refresh(full=True)
        fresh = funnel_report(
            self.users["director"], self.filters(first, last), self.definition, NOW.date()
        )
        self.assert_matches(fresh, self.expected(first, last, self.customers))

    def test_a_viewer_of_every_customer_reads_the_daily_rows_for_any_days(self):
        funnel_refresh(full=True)
        assert StepDailyStat.objects.exists()
        first, last = dt.date(2026, 8, 17), dt.date(2026, 10, 12)
        with CaptureQueriesContext(connection) as queries:
            funnel = funnel_report(
                self.users["director"], self.filters(first, last), self.definition, NOW.date()
            )
        assert funnel.precomputed
        assert not any("workflow_task" in q["sql"] for q in queries.captured_queries)
        self.assert_matches(funnel, self.expected(first, last, self.customers))

    def test_partial_months_of_a_region_are_counted_live_at_either_end(self):
        funnel_refresh(full=True)
        first, last = dt.date(2026, 8, 17), dt.date(2026, 10, 12)
        months, edges = whole_months(self.filters(first, last), NOW.date())
        assert months == [dt.date(2026, 9, 1)]
        assert edges == [
            (dt.date(2026, 8, 17), dt.date(2026, 8, 31)),
            (dt.date(2026, 10, 1), dt.date(2026, 10, 12)),
        ]
        region = self.regions["360000"]
        ids = tuple(r.pk for r in self.regions.values())
        funnel = funnel_report(
            self.users["director"],
            self.filters(first, last, region=region, region_ids=ids),
            self.definition,
            NOW.date(),
        )
        assert funnel.precomputed
        self.assert_matches(funnel, self.expected(first, last, self.customers))

    def test_segment_filter_counts_live_from_the_cases(self):
        segment = Segment.objects.create(
            owner=self.users["director"],
            name="南昌",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [str(self.regions["360100"].pk)]}],
            },
            is_shared=True,
        )
        funnel_refresh(full=True)
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
        funnel = funnel_report(
            self.users["director"],
            self.filters(first, last, segment=segment),
            self.definition,
            NOW.date(),
        )
        assert not funnel.precomputed
        self.assert_matches(funnel, self.expected(first, last, self.customers[:2]))

    def test_region_filter_reads_the_rows_of_the_region_subtree(self):
        funnel_refresh(full=True)
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 30)
        region = self.regions["360100"]
        ids = (region.pk, self.regions["360102"].pk, self.regions["360103"].pk)
        funnel = funnel_report(
            self.users["director"],
            self.filters(first, last, region=region, region_ids=ids),
            self.definition,
            NOW.date(),
        )
        assert funnel.precomputed
        self.assert_matches(funnel, self.expected(first, last, self.customers[:2]))

    def test_account_manager_counts_only_their_customers_cases(self):
        funnel_refresh(full=True)
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
        for days in ((first, last), (dt.date(2026, 8, 9), dt.date(2026, 10, 3))):
            funnel = funnel_report(
                self.users["account_manager"], self.filters(*days), self.definition, NOW.date()
            )
            self.assert_matches(funnel, self.expected(*days, self.customers[:1]))

    def test_a_repeated_step_counts_its_case_once_and_each_pass_in_the_times(self):
        funnel_refresh(full=True)
        case = Case.objects.get(number="RW-T0005")
        node = self.order[1]
        passes = Task.objects.filter(case=case, node_id=node).count()
        assert passes == 2
        month = case.started_at.astimezone(ZONE).date().replace(day=1)
        last = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        funnel = funnel_report(
            self.users["director"], self.filters(month, last), self.definition, NOW.date()
        )
        self.assert_matches(funnel, self.expected(month, last, self.customers))

    def test_incremental_refresh_recomputes_only_the_touched_months(self):
        funnel_refresh(full=True)
        august = StepMonthlyStat.objects.filter(month=dt.date(2026, 8, 1))
        august_ids = set(august.values_list("pk", flat=True))
        task = (
            Task.objects.filter(status=TaskStatus.CLAIMED, case__started_at__month=11)
            .order_by("id")
            .first()
        )
        assert task is not None
        with time_machine.travel(NOW + dt.timedelta(minutes=10), tick=False):
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.COMPLETED, completed_at=NOW + dt.timedelta(minutes=5)
            )
            result = funnel_refresh()
            assert not result.full
            assert result.months == 1
            assert set(august.values_list("pk", flat=True)) == august_ids
            first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
            funnel = funnel_report(
                self.users["director"], self.filters(first, last), self.definition, NOW.date()
            )
            assert funnel.precomputed
            self.assert_matches(funnel, self.expected(first, last, self.customers))

    def test_steps_follow_the_sop_order_of_the_diagram(self):
        assert self.order[:3] == ["Activity_Notice", "Activity_Approve", "Activity_Feasibility"]
        assert self.order[-2:] == ["Activity_Handover", "Activity_Archive"]
        assert set(self.order) == {
            node.id for node in bpmn.parse(self.version.xml).nodes.values() if node.task
        }

    def test_case_row_is_not_a_step(self):
        funnel_refresh(full=True)
        assert StepMonthlyStat.objects.filter(node_id=CASE_ROW).exists()
        funnel = funnel_report(
            self.users["director"],
            self.filters(dt.date(2026, 8, 1), dt.date(2026, 11, 20)),
            self.definition,
            NOW.date(),
        )
        assert CASE_ROW not in {f.step.node_id for f in funnel.steps}


@time_machine.travel(NOW, tick=False)
class FunnelPageTests(FunnelWorld):
    def test_who_may_open_the_funnel_and_its_export(self):
        self.assert_access(reverse("reports:funnel"), allowed=VIEWERS)
        self.assert_access(reverse("reports:funnel_export"), allowed=EXPORTERS)

    def test_page_shows_the_steps_the_bottleneck_and_the_definitions(self):
        funnel_refresh(full=True)
        response = self.client_as("director").get(
            reverse("reports:funnel"), {"date_from": "2026-08-01", "date_to": "2026-11-20"}
        )
        html = response.content.decode()
        assert 'id="rw-funnel-table"' in html
        assert html.count('data-cell="bottleneck"') == 1
        assert 'id="rw-funnel-data"' in html
        assert 'id="rw-funnel-definitions"' in html
        funnel = response.context["funnel"]
        assert (
            funnel.started
            == self.expected(dt.date(2026, 8, 1), dt.date(2026, 11, 20), self.customers)["started"]
        )

    def test_export_lists_every_step_with_its_figures(self):
        funnel_refresh(full=True)
        response = self.client_as("director").get(
            reverse("reports:funnel_export"), {"date_from": "2026-08-01", "date_to": "2026-11-20"}
        )
        assert response.status_code == 200
        book = load_workbook(BytesIO(b"".join(response.streaming_content)))
        steps = book.worksheets[1]
        values = [row for row in steps.iter_rows(values_only=True)]
        first = self.names[self.order[0]]
        start = next(i for i, row in enumerate(values) if len(row) > 1 and row[1] == first)
        rows = values[start:]
        assert [row[1] for row in rows][: len(self.order)] == [
            self.names[node] for node in self.order
        ]
        expected = self.expected(dt.date(2026, 8, 1), dt.date(2026, 11, 20), self.customers)
        assert [row[2] for row in rows][: len(self.order)] == [
            expected["steps"][node][0] for node in self.order
        ]


@time_machine.travel(NOW, tick=False)
class RefreshTaskTests(FunnelWorld):
    def test_the_background_task_refreshes_both_reports_and_records_when(self):
        result = process_reports_refresh.enqueue()
        assert result.return_value["funnel"]["full"] is True
        assert result.return_value["workload"]["full"] is True
        refreshed = dict(ReportRefresh.objects.values_list("key", "finished_at"))
        assert refreshed.keys() >= {"funnel", "workload"}
        assert StepMonthlyStat.objects.exists() and WorkloadDailyStat.objects.exists()
        again = process_reports_refresh.enqueue()
        assert again.return_value["funnel"]["full"] is False


@time_machine.travel(NOW, tick=False)
class FunnelQueryCountTests(FunnelWorld):
    def test_the_page_runs_a_fixed_number_of_queries(self):
        funnel_refresh(full=True)
        client = self.client_as("account_manager")
        url = reverse("reports:funnel")
        params = {"date_from": "2026-08-09", "date_to": "2026-11-20"}
        client.get(url, params)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, params).status_code == 200
        # Session, user, navigation and filter choices, then the report: none per step or case.
        assert len(queries.captured_queries) <= 20, len(queries.captured_queries)


STAT_FIELDS = {
    model: [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
    for model in (StepMonthlyStat, StepDailyStat, StepCellStat)
}


def snapshot(day: dt.date | None = None) -> dict[Any, list[tuple[Any, ...]]]:
    """Every precomputed row (of the cases started on `day`), without its id."""
    where: dict[Any, dict[str, Any]] = {model: {} for model in STAT_FIELDS}
    if day is not None:
        where = {StepCellStat: {"day": day}, StepDailyStat: {"day": day}}
    return {
        model: sorted(
            model.objects.filter(**where[model]).order_by().values_list(*fields),
            key=lambda row: tuple(str(v) for v in row),
        )
        for model, fields in STAT_FIELDS.items()
        if model in where
    }


@time_machine.travel(NOW, tick=False)
class FunnelIncrementalTests(FunnelWorld):
    """The ten-minute refresh recounts only the groups and days of the cases touched since the
    previous one, and leaves the same rows a full rebuild writes."""

    LATER = NOW + dt.timedelta(minutes=10)

    def complete_one(self, month: int) -> Task:
        task = (
            Task.objects.filter(status=TaskStatus.CLAIMED, case__started_at__month=month)
            .order_by("id")
            .first()
        )
        assert task is not None, month
        Task.objects.filter(pk=task.pk).update(
            status=TaskStatus.COMPLETED, completed_at=self.LATER - dt.timedelta(minutes=2)
        )
        return task

    def assert_same_as_full_rebuild(self) -> None:
        incremental = snapshot()
        funnel_refresh(full=True)
        assert snapshot() == incremental

    def test_incremental_refresh_writes_what_a_full_rebuild_writes(self):
        funnel_refresh(full=True)
        with time_machine.travel(self.LATER, tick=False):
            for month in (8, 9, 10, 11):
                if Task.objects.filter(
                    status=TaskStatus.CLAIMED, case__started_at__month=month
                ).exists():
                    self.complete_one(month)
            # A case cancelled at its open step, a case started today, a step opened.
            running = Case.objects.filter(status=CaseStatus.RUNNING).order_by("id")
            cancelled = running.first()
            assert cancelled is not None
            Case.objects.filter(pk=cancelled.pk).update(
                status=CaseStatus.CANCELLED, ended_at=self.LATER
            )
            Task.objects.filter(case=cancelled, status=TaskStatus.CLAIMED).update(
                status=TaskStatus.CANCELLED
            )
            customer = self.customers[1]
            fresh = Case.objects.create(
                number="RW-T9000",
                version=self.version,
                customer=customer,
                status=CaseStatus.RUNNING,
                started_at=self.LATER - dt.timedelta(minutes=1),
            )
            for case, token in ((fresh, 1), (running.last(), 99)):
                assert case is not None
                Task.objects.create(
                    case=case,
                    customer=case.customer,
                    customer_owner_id=case.customer.owner_id,
                    customer_region_id=case.customer.region_id,
                    customer_department_id=case.customer.department_id,
                    token=token,
                    node_id=self.order[1],
                    name=self.names[self.order[1]],
                    status=TaskStatus.READY,
                    created_at=self.LATER - dt.timedelta(minutes=1),
                )
            result = funnel_refresh()
            assert not result.full
            assert result.rows > 0
            self.assert_same_as_full_rebuild()

    def test_only_the_groups_of_the_touched_cases_are_rewritten(self):
        funnel_refresh(full=True)
        november = StepMonthlyStat.objects.filter(month=dt.date(2026, 11, 1))
        mine = self.users["account_manager"].pk
        others = set(november.exclude(customer_owner_id=mine).values_list("pk", flat=True))
        rewritten = set(november.filter(customer_owner_id=mine).values_list("pk", flat=True))
        assert others and rewritten
        task = (
            Task.objects.filter(
                status=TaskStatus.CLAIMED,
                case__started_at__month=11,
                case__customer=self.customers[0],
            )
            .order_by("id")
            .first()
        )
        assert task is not None
        with time_machine.travel(self.LATER, tick=False):
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.COMPLETED, completed_at=self.LATER
            )
            result = funnel_refresh()
            assert result.months == 1
            ids = set(november.values_list("pk", flat=True))
            assert others <= ids
            assert not rewritten & ids
            self.assert_same_as_full_rebuild()

    def test_a_case_of_a_customer_moved_to_another_owner_counts_once(self):
        funnel_refresh(full=True)
        moved = self.customers[2]
        task = (
            Task.objects.filter(status=TaskStatus.CLAIMED, case__customer=moved)
            .order_by("id")
            .first()
        )
        assert task is not None
        with time_machine.travel(self.LATER, tick=False):
            # Moved the way the customer services move the copied keys (no case or task
            # timestamp changes), then one of its cases moves on.
            owner = self.users["account_manager"]
            Customer.objects.filter(pk=moved.pk).update(owner=owner)
            Task.objects.filter(customer=moved).update(customer_owner=owner)
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.COMPLETED, completed_at=self.LATER
            )
            funnel_refresh()
            day = task.case.started_at.astimezone(ZONE).date()
            month = day.replace(day=1)
            rows = StepMonthlyStat.objects.filter(month=month, node_id=CASE_ROW)
            start = dt.datetime.combine(month, dt.time(), tzinfo=ZONE)
            end = dt.datetime.combine(
                (month + dt.timedelta(days=32)).replace(day=1), dt.time(), tzinfo=ZONE
            )
            started = Case.objects.filter(started_at__gte=start, started_at__lt=end).count()
            # Every case of the month counted once: the moved case in its new group only.
            assert sum(rows.values_list("cases", flat=True)) == started
            cells = StepCellStat.objects.filter(day=day, customer_region=moved.region)
            assert set(cells.values_list("customer_owner_id", flat=True)) == {owner.pk}
            # Its untouched cases keep their former owner until the nightly rebuild; the day
            # of the touched one is what a rebuild writes.
            daily = snapshot(day)
            funnel_refresh(full=True)
            assert snapshot(day) == daily

    def test_nothing_touched_writes_nothing(self):
        funnel_refresh(full=True)
        before = set(StepMonthlyStat.objects.values_list("pk", flat=True))
        with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
            result = funnel_refresh()
        assert (result.full, result.months, result.rows) == (False, 0, 0)
        assert set(StepMonthlyStat.objects.values_list("pk", flat=True)) == before
