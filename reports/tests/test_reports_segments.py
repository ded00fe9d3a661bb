"""Reports filtered by a saved segment read precomputed figures once the segment is reported on:
the first use counts live (and records the use), the next refresh computes the segment's rows,
after which every report — customers, value, satisfaction, SLA, funnel, workload — reads them,
its figures equal to a recount from the raw rows for the director and an account manager. A
segment whose definition changed is counted live until recomputed; a deleted segment, or one
not reported on lately, loses its rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer, Segment
from customers.segments import segment_delete, segment_q, segment_save
from reports import aggregates as agg
from reports import segment_figures as seg
from reports.funnel import funnel_refresh, funnel_report
from reports.models import (
    CustomerCountAggregate,
    SegmentFigures,
    SlaMonthAggregate,
    SurveyMonthAggregate,
)
from reports.tests.test_reports_customers import (
    MONTHS,
    NOW,
    CustomerReportWorld,
    _numbers,
    at,
)
from reports.tests.test_reports_process_funnel import NOW as FUNNEL_NOW
from reports.tests.test_reports_process_funnel import FunnelWorld
from reports.tests.test_reports_process_workload import NOW as WORKLOAD_NOW
from reports.tests.test_reports_process_workload import WorkloadWorld
from reports.workload import workload_refresh, workload_report
from service.models import Survey
from workflow.models import StepDailyStat, StepMonthlyStat, Task, TaskStatus, WorkloadDailyStat

RAW_TABLES = ("customers_customer", "service_survey", "service_ticket", "workflow_task")


def may_use_segments(*users: Any) -> None:
    """Segment permissions: filtering by one (view), changing and deleting one."""
    perms = Permission.objects.filter(
        content_type__app_label="customers",
        codename__in=["view_segment", "change_segment", "delete_segment"],
    )
    for user in users:
        user.user_permissions.add(*perms)


def region_segment(owner: Any, name: str, *region_ids: int) -> Segment:
    return Segment.objects.create(
        name=name,
        definition={"op": "and", "items": [{"field": "region", "values": sorted(region_ids)}]},
        owner=owner,
        is_shared=True,
    )


class CustomerSegmentTests(CustomerReportWorld):
    """The segment of 南昌市: c1 (the account manager's), c2 and c4; c3 is in 九江, c5 merged."""

    def setUp(self) -> None:
        super().setUp()
        may_use_segments(self.users["director"])
        self.nanchang = region_segment(
            self.users["director"], "南昌客户", self.regions["360100"].pk
        )

    def segment_ids(self, persona: str, segment: Segment | None = None) -> set[int]:
        """The segment's customers the persona sees, evaluated here from its conditions."""
        members = set(
            Customer.objects.filter(segment_q((segment or self.nanchang).definition)).values_list(
                "pk", flat=True
            )
        )
        return self.visible(persona) & members

    def page(self, persona: str, page: str, segment: Segment | None = None) -> Any:
        response = self.client_as(persona).get(
            reverse(f"reports:{page}"), {"segment": (segment or self.nanchang).pk}
        )
        assert response.status_code == 200, response.status_code
        return response

    def read_precomputed(self, persona: str, page: str, segment: Segment | None = None) -> bool:
        """Whether the page read the aggregate rows only (no source row)."""
        with CaptureQueriesContext(connection) as ctx:
            self.page(persona, page, segment)
        sqls = [q["sql"] for q in ctx.captured_queries]
        aggregate = any("aggregate" in sql and "segment_id" in sql for sql in sqls)
        raw = any(f'"{table}"' in sql and "GROUP BY" in sql for sql in sqls for table in RAW_TABLES)
        return aggregate and not raw

    def assert_figures(self, persona: str, segment: Segment | None = None) -> None:
        ids = self.segment_ids(persona, segment)
        assert ids, "the segment must select some customers the viewer sees"
        # customers
        data = self.page(persona, "customers", segment).context["data"]
        expected = self.expected_customers(ids)
        assert {u["name"]: u["total"] for u in data["units"]} == expected["cities"]
        assert {k: n for k, n in data["total"]["status"].items() if n} == expected["statuses"]
        assert {k: n for k, n in data["total"]["class"].items() if n} == expected["classes"]
        assert dict(data["new_by_month"]) == expected["new"]
        # value
        data = self.page(persona, "value", segment).context["data"]
        value = self.expected_value(ids)
        got = {
            c["key"]: {
                "customers": c["customers"],
                "contracts": c["contracts"],
                "value": c["value"],
                "monetary": c["monetary"],
            }
            for c in data["classes"]
            if c["customers"] or c["contracts"]
        }
        assert got == value
        assert data["total"]["value"] == sum((v["value"] for v in value.values()), Decimal(0))
        # satisfaction
        data = self.page(persona, "satisfaction", segment).context["data"]
        satisfaction = self.expected_satisfaction(ids)
        assert [r["month"] for r in data["months"]] == MONTHS
        for row in data["months"]:
            e = satisfaction[row["month"]]
            assert row["answered"] == e["answered"]
            assert row["csat"] == (
                round(e["csat_sum"] / e["csat_count"], 2) if e["csat_count"] else None
            )
        # SLA
        data = self.page(persona, "sla", segment).context["data"]
        sla = self.expected_sla(ids)
        got_sla = {
            (r["month"], cell["key"]): [cell["on_time"], cell["late"]]
            for r in data["months"]
            for cell in r["cells"]
            if cell["on_time"] or cell["late"]
        }
        assert got_sla == {k: v for k, v in sla.items() if any(v)}

    def test_first_use_counts_live_then_the_refresh_precomputes_the_segment(self) -> None:
        self.refresh()
        assert not self.read_precomputed("director", "sla")
        self.nanchang.refresh_from_db()
        assert self.nanchang.report_used_at == NOW  # the use is recorded
        self.assert_figures("director")  # live, and right
        freshness = self.page("director", "sla").context["freshness"]
        assert "2026-11-26 12:00" not in freshness
        self.refresh()
        assert SegmentFigures.objects.filter(
            segment=self.nanchang, figures=seg.CUSTOMER_REPORTS, full_at=NOW
        ).exists()
        for persona in ("director", "account_manager"):
            for page in ("customers", "value", "satisfaction", "sla"):
                with self.subTest(persona=persona, page=page):
                    assert self.read_precomputed(persona, page)
            with self.subTest(persona=persona):
                self.assert_figures(persona)
        assert "2026-11-26 12:00" in self.page("director", "sla").context["freshness"]

    def test_the_segment_rows_leave_the_figures_of_everyone_as_they_were(self) -> None:
        self.refresh()
        before = {page: self.data("director", page) for page in ("customers", "sla")}
        self.page("director", "customers")
        agg.reports_refresh(now=NOW, full=True)
        assert CustomerCountAggregate.objects.filter(segment_id=self.nanchang.pk).exists()
        after = {page: self.data("director", page) for page in ("customers", "sla")}
        assert after["customers"]["total"]["total"] == before["customers"]["total"]["total"] == 4
        assert after["sla"]["measures"] == before["sla"]["measures"]

    def test_a_changed_segment_is_counted_live_until_recomputed(self) -> None:
        self.page("director", "sla")
        self.refresh()
        assert self.read_precomputed("director", "sla")
        jiujiang = [self.regions["360400"].pk]
        segment_save(
            actor=self.users["director"],
            segment=self.nanchang,
            name=self.nanchang.name,
            description="",
            definition={"op": "and", "items": [{"field": "region", "values": jiujiang}]},
            is_shared=True,
        )
        self.nanchang.refresh_from_db()
        assert not SlaMonthAggregate.objects.filter(segment_id=self.nanchang.pk).exists()
        assert not self.read_precomputed("director", "sla")
        self.assert_figures("director")  # c3 only, counted live
        self.refresh()
        assert self.read_precomputed("director", "sla")
        self.assert_figures("director")

    def test_a_definition_changed_behind_the_services_back_is_not_read(self) -> None:
        # e.g. a data migration: the figures carry the fingerprint of the definition they
        # were computed from, and a page reads them only while it is the segment's own.
        self.page("director", "sla")
        self.refresh()
        definition = {
            "op": "and",
            "items": [{"field": "region", "values": [self.regions["360400"].pk]}],
        }
        Segment.objects.filter(pk=self.nanchang.pk).update(definition=definition)
        self.nanchang.refresh_from_db()
        assert not self.read_precomputed("director", "sla")
        self.assert_figures("director")
        self.refresh()
        assert self.read_precomputed("director", "sla")
        self.assert_figures("director")

    def test_recent_months_follow_every_refresh_older_ones_the_nightly_rebuild(self) -> None:
        self.page("director", "satisfaction")
        self.refresh()
        c1 = self.customers["c1"]
        for answered in (at(2026, 11, 25, 10), at(2026, 3, 5, 10)):
            Survey.objects.create(
                token=f"tok{next(_numbers)}",
                customer=c1,
                trigger="ticket",
                sent_at=at(2026, 3, 1, 9),
                expires_at=at(2026, 12, 31, 9),
                answered_at=answered,
                csat=4,
                nps=9,
            )
        later = NOW + dt.timedelta(minutes=10)
        with time_machine.travel(later, tick=False):
            assert not agg.reports_refresh(now=later).full
            months = {
                r["month"]: r["answered"]
                for r in self.page("director", "satisfaction").context["data"]["months"]
            }
            assert months[dt.date(2026, 11, 1)] == 1
            assert months[dt.date(2026, 3, 1)] == 0  # waits for the nightly rebuild
        tomorrow = NOW + dt.timedelta(days=1)
        with time_machine.travel(tomorrow, tick=False):
            assert agg.reports_refresh(now=tomorrow).full
            months = {
                r["month"]: r["answered"]
                for r in self.page("director", "satisfaction").context["data"]["months"]
            }
            assert months[dt.date(2026, 3, 1)] == 1

    def test_a_deleted_segment_takes_its_figures_with_it(self) -> None:
        self.page("director", "sla")
        self.refresh()
        segment_id = self.nanchang.pk
        assert SurveyMonthAggregate.objects.filter(segment_id=segment_id).exists()
        segment_delete(actor=self.users["director"], segment=self.nanchang)
        assert not SurveyMonthAggregate.objects.filter(segment_id=segment_id).exists()
        assert not SegmentFigures.objects.filter(segment_id=segment_id).exists()

    def test_segments_not_reported_on_for_a_month_are_no_longer_kept(self) -> None:
        self.page("director", "sla")
        self.refresh()
        assert SlaMonthAggregate.objects.filter(segment_id=self.nanchang.pk).exists()
        later = NOW + dt.timedelta(days=seg.REPORTED_DAYS + 1)
        agg.reports_refresh(now=later)
        assert not SlaMonthAggregate.objects.filter(segment_id=self.nanchang.pk).exists()
        assert not SegmentFigures.objects.filter(segment=self.nanchang).exists()

    def test_at_most_the_most_recently_used_segments_are_kept(self) -> None:
        segments = [
            region_segment(self.users["director"], f"细分{n}", self.regions["360100"].pk)
            for n in range(seg.MAX_SEGMENTS + 1)
        ]
        for n, segment in enumerate(segments):
            Segment.objects.filter(pk=segment.pk).update(
                report_used_at=NOW - dt.timedelta(minutes=len(segments) - n)
            )
        kept = {s.pk for s in seg.reported_segments(NOW)}
        assert kept == {s.pk for s in segments[1:]}

    def test_first_use_starts_the_refreshes_at_once_instead_of_at_the_next_tick(self) -> None:
        self.refresh()
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            self.page("director", "sla")  # the tasks run at once under tests
        assert len(callbacks) == 1
        for group in seg.GROUPS:
            assert seg.ready_figures(self.nanchang, group) is not None, group
        for page in ("customers", "value", "satisfaction", "sla"):
            assert self.read_precomputed("director", page), page
        self.assert_figures("director")
        # Once ready, a later use (the stamp renewed after an hour) queues nothing.
        later = time_machine.travel(NOW + dt.timedelta(hours=2), tick=False)
        with later, self.captureOnCommitCallbacks() as callbacks:
            self.page("director", "sla")
        assert callbacks == []

    def test_the_use_is_recorded_at_most_once_an_hour(self) -> None:
        self.page("director", "value")
        with time_machine.travel(NOW + dt.timedelta(minutes=30), tick=False):
            with CaptureQueriesContext(connection) as ctx:
                self.page("director", "value")
            assert not any(
                q["sql"].startswith("UPDATE") and "customers_segment" in q["sql"]
                for q in ctx.captured_queries
            )
        self.nanchang.refresh_from_db()
        assert self.nanchang.report_used_at == NOW
        later = NOW + dt.timedelta(hours=2)
        with time_machine.travel(later, tick=False):
            self.page("director", "value")
        self.nanchang.refresh_from_db()
        assert self.nanchang.report_used_at == later

    def test_who_may_open_a_report_filtered_by_a_segment(self) -> None:
        self.page("director", "sla")
        self.refresh()
        allowed = ("director", "market_manager", "supervisor", "account_manager", "agent")
        for page in ("customers", "sla"):
            url = f"{reverse(f'reports:{page}')}?segment={self.nanchang.pk}"
            self.assert_access(url, allowed=allowed)

    def test_the_export_of_a_segment_holds_the_precomputed_figures(self) -> None:
        import io

        from openpyxl import load_workbook

        self.page("director", "sla")
        self.refresh()
        response = self.client_as("director").get(
            reverse("reports:sla_export"), {"segment": self.nanchang.pk}
        )
        book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        sla = self.expected_sla(self.segment_ids("director"))
        on_time = sum(v[0] for (_m, k), v in sla.items() if k == "task")
        late = sum(v[1] for (_m, k), v in sla.items() if k == "task")
        total = next(r for r in rows if r and r[0] in ("Total", "合计", "总计"))
        assert total[1:3] == [on_time, late]
        assert any("2026-11-26 12:00" in str(cell) for row in rows for cell in row if cell)


@time_machine.travel(FUNNEL_NOW, tick=False)
class FunnelSegmentTests(FunnelWorld):
    """The segment of 南昌市 holds 东湖大厦 (the account manager's) and 西湖商场."""

    def setUp(self) -> None:
        super().setUp()
        may_use_segments(self.users["director"], self.users["account_manager"])
        self.segment = region_segment(self.users["director"], "南昌", self.regions["360100"].pk)

    def report(self, persona: str, first: dt.date, last: dt.date) -> Any:
        return funnel_report(
            self.users[persona],
            self.filters(first, last, segment=self.segment),
            self.definition,
            FUNNEL_NOW.date(),
        )

    def test_first_use_counts_live_then_the_refresh_precomputes_the_segment(self):
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
        response = self.client_as("director").get(
            reverse("reports:funnel"),
            {"segment": self.segment.pk, "date_from": first, "date_to": last},
        )
        assert response.status_code == 200
        assert not response.context["funnel"].precomputed
        self.assert_matches(
            response.context["funnel"], self.expected(first, last, self.customers[:2])
        )
        funnel_refresh(full=True)
        assert StepDailyStat.objects.filter(segment_id=self.segment.pk).exists()
        response = self.client_as("director").get(
            reverse("reports:funnel"),
            {"segment": self.segment.pk, "date_from": first, "date_to": last},
        )
        funnel = response.context["funnel"]
        assert funnel.precomputed and not funnel.live_days
        self.assert_matches(funnel, self.expected(first, last, self.customers[:2]))
        assert "2026-11-20 10:00" in response.context["freshness"]

    def test_segment_figures_equal_the_raw_cases_for_director_and_account_manager(self):
        seg.segment_report_use(self.segment)
        funnel_refresh(full=True)
        for first, last in (
            (dt.date(2026, 8, 1), dt.date(2026, 11, 20)),
            (dt.date(2026, 8, 9), dt.date(2026, 10, 3)),
        ):
            director = self.report("director", first, last)
            assert director.precomputed
            self.assert_matches(director, self.expected(first, last, self.customers[:2]))
            manager = self.report("account_manager", first, last)
            assert manager.precomputed
            self.assert_matches(manager, self.expected(first, last, self.customers[:1]))

    def test_the_ten_minute_refresh_recounts_the_touched_cases_of_the_segment(self):
        seg.segment_report_use(self.segment)
        funnel_refresh(full=True)
        task = (
            Task.objects.filter(status=TaskStatus.CLAIMED, customer=self.customers[0])
            .order_by("pk")
            .first()
        )
        assert task is not None
        later = FUNNEL_NOW + dt.timedelta(minutes=10)
        with time_machine.travel(later, tick=False):
            Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETED, completed_at=later)
            result = funnel_refresh()
            assert not result.full
            first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
            funnel = self.report("director", first, last)
            assert funnel.precomputed
            self.assert_matches(funnel, self.expected(first, last, self.customers[:2]))

    def test_a_changed_segment_is_counted_live_until_recomputed(self):
        seg.segment_report_use(self.segment)
        funnel_refresh(full=True)
        segment_save(
            actor=self.users["director"],
            segment=self.segment,
            name=self.segment.name,
            description="",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [self.regions["360400"].pk]}],
            },
            is_shared=True,
        )
        self.segment.refresh_from_db()
        assert not StepMonthlyStat.objects.filter(segment_id=self.segment.pk).exists()
        first, last = dt.date(2026, 8, 1), dt.date(2026, 11, 20)
        funnel = self.report("director", first, last)
        assert not funnel.precomputed
        self.assert_matches(funnel, self.expected(first, last, self.customers[2:]))
        funnel_refresh()  # not a full one: the segment's first refresh builds every month
        funnel = self.report("director", first, last)
        assert funnel.precomputed
        self.assert_matches(funnel, self.expected(first, last, self.customers[2:]))


@time_machine.travel(WORKLOAD_NOW, tick=False)
class WorkloadSegmentTests(WorkloadWorld):
    """The segment of 南昌市 holds 东湖大厦, not 濂溪医院."""

    def setUp(self) -> None:
        super().setUp()
        may_use_segments(self.users["director"], self.users["account_manager"])
        self.segment = region_segment(self.users["director"], "南昌", self.regions["360100"].pk)

    def test_first_use_counts_live_then_the_refresh_precomputes_the_segment(self):
        workload_refresh(full=True)
        params = {"segment": self.segment.pk, "date_from": "2026-09-01", "date_to": "2026-11-20"}
        response = self.client_as("director").get(reverse("reports:workload"), params)
        assert not response.context["workload"].precomputed
        first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
        self.assert_matches(response.context["workload"], first, last, self.customers[:1])
        workload_refresh()
        assert WorkloadDailyStat.objects.filter(segment_id=self.segment.pk).exists()
        response = self.client_as("director").get(reverse("reports:workload"), params)
        assert response.context["workload"].precomputed
        self.assert_matches(response.context["workload"], first, last, self.customers[:1])
        assert "2026-11-20 10:00" in response.context["freshness"]

    def test_segment_figures_equal_the_raw_rows_for_director_and_account_manager(self):
        seg.segment_report_use(self.segment)
        workload_refresh(full=True)
        for persona in ("director", "account_manager", "supervisor"):
            for first, last in (
                (dt.date(2026, 9, 1), dt.date(2026, 11, 20)),
                (dt.date(2026, 9, 15), dt.date(2026, 10, 20)),
            ):
                with self.subTest(persona=persona, first=first):
                    workload = workload_report(
                        self.users[persona], self.filters(first, last, segment=self.segment)
                    )
                    assert workload.precomputed
                    self.assert_matches(workload, first, last, self.customers[:1])

    def test_a_segment_with_a_region_besides_is_counted_live(self):
        seg.segment_report_use(self.segment)
        workload_refresh(full=True)
        first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
        region = self.regions["360100"]
        ids = (region.pk, self.regions["360102"].pk, self.regions["360103"].pk)
        workload = workload_report(
            self.users["director"],
            self.filters(first, last, segment=self.segment, region=region, region_ids=ids),
        )
        assert not workload.precomputed
        self.assert_matches(workload, first, last, self.customers[:1])

    def test_the_ten_minute_refresh_adds_todays_work_on_the_segment(self):
        seg.segment_report_use(self.segment)
        workload_refresh(full=True)
        task = (
            Task.objects.filter(status=TaskStatus.CLAIMED, customer=self.customers[0])
            .order_by("id")
            .first()
        )
        assert task is not None
        later = WORKLOAD_NOW + dt.timedelta(minutes=10)
        with time_machine.travel(later, tick=False):
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.COMPLETED, completed_at=later, completed_by=task.assignee
            )
            assert not workload_refresh().full
            first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
            workload = workload_report(
                self.users["director"], self.filters(first, last, segment=self.segment)
            )
            assert workload.precomputed
            self.assert_matches(workload, first, last, self.customers[:1])

    def test_a_changed_segment_is_counted_live_until_recomputed(self):
        seg.segment_report_use(self.segment)
        workload_refresh(full=True)
        segment_save(
            actor=self.users["director"],
            segment=self.segment,
            name=self.segment.name,
            description="",
            definition={
                "op": "and",
                "items": [{"field": "region", "values": [self.regions["360400"].pk]}],
            },
            is_shared=True,
        )
        self.segment.refresh_from_db()
        first, last = dt.date(2026, 9, 1), dt.date(2026, 11, 20)
        filters = self.filters(first, last, segment=self.segment)
        workload = workload_report(self.users["director"], filters)
        assert not workload.precomputed
        self.assert_matches(workload, first, last, self.customers[1:])
        workload_refresh()
        workload = workload_report(self.users["director"], filters)
        assert workload.precomputed
        self.assert_matches(workload, first, last, self.customers[1:])
