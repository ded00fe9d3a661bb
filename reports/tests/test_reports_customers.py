"""The customer reports (customers by region/status/class, contract value by class,
satisfaction trend, SLA compliance): their figures equal a recount from the raw rows in this
test, from the aggregates and live (segment filter); who may open and export them; an account
manager's figures cover only their customers."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Region, User
from customers.models import Customer, Segment
from customers.tests.factories import make_customer
from inquiries.models import Inquiry
from insights.models import CustomerValue
from onboarding.models import ServiceContract
from reports import aggregates as agg
from reports.models import ReportRefresh, SurveyMonthAggregate
from ruwang.testing import PersonaTestCase, make_regions, make_user
from service.models import Survey, Ticket
from service.tests.factories import make_case, publish_process
from workflow.models import Task

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=ZONE)
MONTHS = [dt.date(2025, 12, 1)] + [dt.date(2026, m, 1) for m in range(1, 12)]
VIEWERS = ("director", "market_manager", "supervisor", "account_manager", "agent")
EXPORTERS = ("director", "market_manager", "supervisor")
PAGES = ("customers", "value", "satisfaction", "sla")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZONE)


def month_of(moment: dt.datetime | dt.date) -> dt.date:
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(ZONE).date()
    return moment.replace(day=1)


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="reports", codename__in=codenames)
    )


_numbers = itertools.count(1)


class CustomerReportWorld(PersonaTestCase):
    """Five customers (c5 merged into c1) with contracts, survey answers, tickets, tasks and
    inquiries over the last twelve months, and the recount of each report from those rows."""

    regions: ClassVar[dict[str, Region]]
    customers: ClassVar[dict[str, Customer]]
    segment: ClassVar[Segment]

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        for persona in VIEWERS:
            grant(cls.users[persona], "view_reports")
        for persona in EXPORTERS:
            grant(cls.users[persona], "export_reports")
        grant(cls.users["director"], "refresh_reports")
        cls.regions = r = make_regions()
        am = cls.users["account_manager"]
        other = make_user("other_am", "account_manager")
        spec = {
            # name: region, owner, status, class, monetary, created
            "c1": ("360102", am, "active", "A", "1000.00", at(2026, 3, 10, 9)),
            "c2": ("360103", other, "onboarding", "B", "500.00", at(2026, 5, 2, 9)),
            "c3": ("360402", other, "active", "C", "0", at(2025, 12, 20, 9)),
            "c4": ("360102", None, "prospect", None, None, at(2026, 10, 5, 9)),
            "c5": ("360102", am, "active", "A", "800.00", at(2026, 4, 1, 9)),
        }
        cls.customers = {}
        for name, (code, owner, status, klass, monetary, created) in spec.items():
            customer = make_customer(f"客户{name}", r[code], owner=owner)
            Customer.objects.filter(pk=customer.pk).update(status=status, created_at=created)
            if klass:
                CustomerValue.objects.create(
                    customer=customer,
                    abc_class=klass,
                    monetary=Decimal(monetary or "0"),
                    computed_at=NOW,
                )
            cls.customers[name] = customer
        c = cls.customers
        # c5 was merged into c1: none of its rows count
        Customer.objects.filter(pk=c["c5"].pk).update(merged_into=c["c1"])

        for customer, signed, fee, months in (
            (c["c1"], dt.date(2026, 2, 15), "12000", 12),
            (c["c1"], dt.date(2025, 8, 1), "6000", 24),  # before the period
            (c["c2"], dt.date(2026, 6, 30), "3000.50", 36),
            (c["c3"], dt.date(2026, 11, 20), "1000", 12),
            (c["c4"], dt.date(2026, 10, 1), "2400", 6),
            (c["c5"], dt.date(2026, 4, 1), "9000", 12),
        ):
            ServiceContract.objects.create(
                customer=customer,
                number=f"HT-{next(_numbers)}",
                signed_on=signed,
                starts_on=signed,
                ends_on=signed + dt.timedelta(days=30 * months),
                term_months=months,
                annual_fee=Decimal(fee),
            )

        for customer, answered, csat, nps in (
            (c["c1"], at(2026, 4, 10, 10), 5, 10),
            (c["c1"], at(2026, 4, 20, 10), 3, 6),
            (c["c2"], at(2026, 7, 1, 10), 4, None),
            (c["c3"], at(2026, 7, 31, 23, 30), 2, 8),  # 15:30 UTC: still July in local time
            (c["c1"], None, None, None),  # not answered
            (c["c5"], at(2026, 4, 1, 10), 1, 0),
        ):
            Survey.objects.create(
                token=f"tok{next(_numbers)}",
                customer=customer,
                trigger="ticket",
                sent_at=at(2026, 3, 1, 9),
                expires_at=at(2026, 12, 31, 9),
                answered_at=answered,
                csat=csat,
                nps=nps,
            )

        def ticket(customer: Customer, **fields: Any) -> None:
            Ticket.objects.create(
                number=f"GD{next(_numbers):05d}",
                kind="fault",
                customer=customer,
                subject="故障",
                created_at=at(2026, 4, 1, 8),
                **fields,
            )

        ticket(
            c["c1"],
            status="resolved",
            first_response_due_at=at(2026, 5, 1, 10),
            first_responded_at=at(2026, 5, 1, 9),
            resolution_due_at=at(2026, 5, 3, 10),
            resolved_at=at(2026, 5, 4, 10),
        )
        ticket(
            c["c2"],
            status="new",
            first_response_due_at=at(2026, 11, 20, 10),
            resolution_due_at=at(2026, 12, 1, 10),
        )
        ticket(
            c["c3"],
            status="waiting",
            first_response_due_at=at(2026, 9, 1, 10),
            first_responded_at=at(2026, 9, 1, 11),
            resolution_due_at=at(2026, 10, 1, 10),
        )
        ticket(
            c["c1"],
            status="closed",
            first_response_due_at=at(2026, 9, 1, 10),
            first_responded_at=at(2026, 9, 1, 10),
            resolution_due_at=at(2026, 9, 5, 10),
            closed_at=at(2026, 9, 1, 12),
        )
        ticket(c["c4"], status="in_progress", resolution_due_at=at(2026, 11, 2, 10))
        ticket(c["c5"], status="new", first_response_due_at=at(2026, 6, 1, 10))

        version = publish_process()
        cases = {name: make_case(c[name], version) for name in ("c1", "c2", "c3")}
        Task.objects.all().delete()  # the ones the process opened: the test sets its own
        tokens = itertools.count(100)
        for name, status, due, completed in (
            ("c1", "completed", at(2026, 6, 10, 18), at(2026, 6, 9, 18)),
            ("c1", "completed", at(2026, 6, 10, 18), at(2026, 6, 11, 9)),
            ("c2", "ready", at(2026, 11, 1, 18), None),
            ("c2", "claimed", at(2026, 12, 10, 18), None),
            ("c3", "cancelled", at(2026, 6, 1, 18), None),
            ("c3", "completed", None, at(2026, 6, 1, 18)),
            ("c3", "ready", at(2026, 8, 1, 0, 30), None),  # 31 July UTC: August locally
        ):
            case = cases[name]
            Task.objects.create(
                case=case,
                customer=c[name],
                token=next(tokens),
                node_id="step",
                name="步骤",
                status=status,
                created_at=at(2026, 1, 5, 9),
                due_at=due,
                completed_at=completed,
            )

        for customer, status, due, first_due, replied in (
            (c["c1"], "replied", at(2026, 8, 9, 10), at(2026, 8, 2, 10), at(2026, 8, 1, 10)),
            (c["c2"], "new", at(2026, 8, 5, 10), None, None),
            (c["c3"], "closed", at(2026, 8, 1, 10), at(2026, 8, 1, 10), None),
            (c["c3"], "replied", at(2026, 9, 1, 10), at(2026, 9, 1, 10), at(2026, 9, 2, 10)),
            (c["c4"], "assigned", at(2026, 12, 24, 10), at(2026, 12, 24, 10), None),
        ):
            Inquiry.objects.create(
                number=f"WZ{next(_numbers)}",
                channel="web",
                customer=customer,
                topic="property",
                subject="问题",
                body="问题",
                status=status,
                received_at=at(2026, 7, 30, 10),
                due_at=due,
                first_due_at=first_due,
                first_replied_at=replied,
            )

        province = r["360000"]
        cls.segment = Segment.objects.create(
            name="江西客户",
            definition={"op": "and", "items": [{"field": "region", "values": [province.pk]}]},
            owner=cls.users["director"],
            is_shared=True,
        )
        for persona in VIEWERS:
            cls.users[persona].user_permissions.add(
                Permission.objects.get(content_type__app_label="customers", codename="view_segment")
            )

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    # --- the recount ---------------------------------------------------------------------------

    def visible(self, persona: str) -> set[int]:
        live = Customer.objects.filter(merged_into__isnull=True)
        if persona == "account_manager":
            live = live.filter(owner=self.users[persona])
        return set(live.values_list("pk", flat=True))

    def data(self, persona: str, page: str, **params: Any) -> dict[str, Any]:
        response = self.client_as(persona).get(reverse(f"reports:{page}"), params)
        assert response.status_code == 200, response.status_code
        return response.context["data"]

    def paths(self) -> list[dict[str, Any]]:
        """Both ways a report is computed: from the aggregates, and live (a segment of every
        customer, never reported on before the refresh: counted live)."""
        return [{}, {"segment": str(self.segment.pk)}]

    def refresh(self) -> None:
        agg.reports_refresh(now=NOW)

    def expected_customers(self, ids: set[int]) -> dict[str, Any]:
        rows = Customer.objects.filter(pk__in=ids).select_related("region", "region__parent")
        by_city: dict[str, int] = {}
        statuses: dict[str, int] = {}
        classes: dict[str, int] = {}
        new = dict.fromkeys(MONTHS, 0)
        for customer in rows:
            by_city[customer.region.parent.name] = by_city.get(customer.region.parent.name, 0) + 1
            statuses[customer.status] = statuses.get(customer.status, 0) + 1
            value = CustomerValue.objects.filter(customer=customer).first()
            klass = value.abc_class if value else ""
            classes[klass] = classes.get(klass, 0) + 1
            month = month_of(customer.created_at)
            if month in new:
                new[month] += 1
        return {"cities": by_city, "statuses": statuses, "classes": classes, "new": new}

    def expected_value(self, ids: set[int]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for customer in Customer.objects.filter(pk__in=ids):
            value = CustomerValue.objects.filter(customer=customer).first()
            klass = value.abc_class if value else ""
            row = out.setdefault(
                klass,
                {"customers": 0, "contracts": 0, "fee_months": Decimal(0), "monetary": Decimal(0)},
            )
            row["customers"] += 1
            row["monetary"] += value.monetary if value else 0
            for contract in ServiceContract.objects.filter(customer=customer):
                if MONTHS[0] <= contract.signed_on <= dt.date(2026, 11, 30):
                    row["contracts"] += 1
                    row["fee_months"] += contract.annual_fee * contract.term_months
        for row in out.values():
            row["value"] = (row.pop("fee_months") / 12).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
        return out

    def expected_satisfaction(self, ids: set[int]) -> dict[dt.date, dict[str, int]]:
        out = {
            m: {"answered": 0, "csat_sum": 0, "csat_count": 0, "nps_count": 0, "p": 0, "d": 0}
            for m in MONTHS
        }
        for survey in Survey.objects.filter(customer__in=ids, answered_at__isnull=False):
            row = out.get(month_of(survey.answered_at))  # type: ignore[arg-type]
            if row is None:
                continue
            row["answered"] += 1
            if survey.csat is not None:
                row["csat_sum"] += survey.csat
                row["csat_count"] += 1
            if survey.nps is not None:
                row["nps_count"] += 1
                row["p"] += survey.nps >= 9
                row["d"] += survey.nps <= 6
        return out

    def expected_sla(self, ids: set[int]) -> dict[tuple[dt.date, str], list[int]]:
        out: dict[tuple[dt.date, str], list[int]] = {}

        def judge(key: str, due: dt.datetime | None, done: dt.datetime | None, open_: bool) -> None:
            if due is None:
                return
            cell = out.setdefault((month_of(due), key), [0, 0])
            if done is not None and done <= due:
                cell[0] += 1
            elif (done is not None and done > due) or (done is None and open_ and due <= NOW):
                cell[1] += 1

        for task in Task.objects.filter(customer__in=ids):
            if task.status in ("completed", "ready", "claimed"):
                done = task.completed_at if task.status == "completed" else None
                judge("task", task.due_at, done, task.status != "completed")
        for t in Ticket.objects.filter(customer__in=ids):
            judge("response", t.first_response_due_at, t.first_responded_at, True)
            judge(
                "resolution",
                t.resolution_due_at,
                t.resolved_at or t.closed_at,
                t.status != "waiting",
            )
        for i in Inquiry.objects.filter(customer__in=ids):
            judge("inquiry", i.first_due_at or i.due_at, i.first_replied_at, i.status != "closed")
        return {k: v for k, v in out.items() if k[0] in MONTHS}


class CustomerReportTests(CustomerReportWorld):
    # --- figures -------------------------------------------------------------------------------

    def test_customers_by_region_status_and_class_match_a_recount(self) -> None:
        self.refresh()
        for persona in ("director", "account_manager"):
            expected = self.expected_customers(self.visible(persona))
            for params in self.paths():
                with self.subTest(persona=persona, params=params):
                    data = self.data(persona, "customers", **params)
                    assert data["level"] == "city"
                    cities = {u["name"]: u["total"] for u in data["units"]}
                    assert cities == expected["cities"]
                    statuses = {k: n for k, n in data["total"]["status"].items() if n}
                    assert statuses == expected["statuses"]
                    classes = {k: n for k, n in data["total"]["class"].items() if n}
                    assert classes == expected["classes"]
                    assert dict(data["new_by_month"]) == expected["new"]

    def test_a_city_filter_ranks_its_districts(self) -> None:
        self.refresh()
        for params in self.paths():
            data = self.data("director", "customers", region=self.regions["360100"].pk, **params)
            assert data["level"] == "district"
            assert {u["name"]: u["total"] for u in data["units"]} == {"东湖区": 2, "西湖区": 1}

    def test_contract_value_by_class_matches_a_recount(self) -> None:
        self.refresh()
        for persona in ("director", "account_manager"):
            expected = self.expected_value(self.visible(persona))
            total = sum((row["value"] for row in expected.values()), Decimal(0))
            for params in self.paths():
                with self.subTest(persona=persona, params=params):
                    data = self.data(persona, "value", **params)
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
                    assert got == expected
                    assert data["total"]["value"] == total
                    for c in data["classes"]:
                        if c["customers"]:
                            assert c["average"] == (c["value"] / c["customers"]).quantize(
                                Decimal("0.01"), rounding=ROUND_HALF_UP
                            )
                        if total:
                            assert c["share"] == round(float(100 * c["value"] / total), 1)

    def test_satisfaction_trend_matches_a_recount(self) -> None:
        self.refresh()
        for persona in ("director", "account_manager"):
            expected = self.expected_satisfaction(self.visible(persona))
            for params in self.paths():
                with self.subTest(persona=persona, params=params):
                    data = self.data(persona, "satisfaction", **params)
                    assert [r["month"] for r in data["months"]] == MONTHS
                    for row in data["months"]:
                        e = expected[row["month"]]
                        assert row["answered"] == e["answered"]
                        assert row["csat"] == (
                            round(e["csat_sum"] / e["csat_count"], 2) if e["csat_count"] else None
                        )
                        assert row["nps"] == (
                            round(100.0 * (e["p"] - e["d"]) / e["nps_count"], 1)
                            if e["nps_count"]
                            else None
                        )
        july = next(
            r for r in self.data("director", "satisfaction")["months"] if r["month"].month == 7
        )
        assert july["answered"] == 2  # 23:30 on 31 July local time is July

    def test_sla_compliance_matches_a_recount(self) -> None:
        self.refresh()
        for persona in ("director", "account_manager"):
            expected = self.expected_sla(self.visible(persona))
            for params in self.paths():
                with self.subTest(persona=persona, params=params):
                    data = self.data(persona, "sla", **params)
                    got = {
                        (r["month"], cell["key"]): [cell["on_time"], cell["late"]]
                        for r in data["months"]
                        for cell in r["cells"]
                        if cell["on_time"] or cell["late"]
                    }
                    assert got == {k: v for k, v in expected.items() if any(v)}
                    for measure in data["measures"]:
                        on_time = sum(
                            v[0] for (_m, k), v in expected.items() if k == measure["key"]
                        )
                        late = sum(v[1] for (_m, k), v in expected.items() if k == measure["key"])
                        assert (measure["on_time"], measure["late"]) == (on_time, late)
        director = {
            m["key"]: (m["on_time"], m["late"]) for m in self.data("director", "sla")["measures"]
        }
        # by hand: tasks 1 on time, 2 late (one completed late, one open past due in August
        # locally); responses: on time twice, late once (c2, open past due); resolution: on time
        # once (closed before due), late once (resolved late; c4 open past due)…
        assert director["task"] == (1, 3)
        assert director["response"] == (2, 2)
        assert director["resolution"] == (1, 2)
        assert director["inquiry"] == (1, 2)

    def test_an_account_manager_counts_only_their_customers(self) -> None:
        self.refresh()
        data = self.data("account_manager", "customers")
        assert data["total"]["total"] == 1  # c1 only: c2, c3 are another's, c4 nobody's
        value = self.data("account_manager", "value")
        assert value["total"]["contracts"] == 1
        assert value["total"]["value"] == Decimal("12000.00")
        sat = self.data("account_manager", "satisfaction")
        assert sat["total"]["answered"] == 2
        sla = {
            m["key"]: (m["on_time"], m["late"])
            for m in self.data("account_manager", "sla")["measures"]
        }
        assert sla == {"task": (1, 1), "response": (2, 0), "resolution": (1, 1), "inquiry": (1, 0)}

    def test_without_a_refresh_the_figures_are_computed_live(self) -> None:
        ReportRefresh.objects.all().delete()
        response = self.client_as("director").get(reverse("reports:satisfaction"))
        assert response.context["data"]["total"]["answered"] == 4
        assert "not ready yet" in response.context["freshness"] or response.context["freshness"]
        assert not SurveyMonthAggregate.objects.exists()

    def test_the_page_says_how_fresh_its_figures_are(self) -> None:
        self.refresh()
        response = self.client_as("director").get(reverse("reports:sla"))
        assert "2026-11-26 12:00" in response.context["freshness"]
        segment = self.client_as("director").get(
            reverse("reports:sla"), {"segment": self.segment.pk}
        )
        assert "2026-11-26 12:00" not in segment.context["freshness"]

    # --- refresh -------------------------------------------------------------------------------

    def test_a_refresh_takes_in_recent_answers_and_the_nightly_one_everything(self) -> None:
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
        result = agg.reports_refresh(now=NOW + dt.timedelta(minutes=10))
        assert not result.full
        months = {
            r["month"]: r["answered"] for r in self.data("director", "satisfaction")["months"]
        }
        assert months[dt.date(2026, 11, 1)] == 1  # recent month refreshed
        assert months[dt.date(2026, 3, 1)] == 0  # older month waits for the nightly rebuild
        result = agg.reports_refresh(now=NOW + dt.timedelta(days=1))
        assert result.full
        months = {
            r["month"]: r["answered"] for r in self.data("director", "satisfaction")["months"]
        }
        assert months[dt.date(2026, 3, 1)] == 1

    def test_the_number_of_queries_does_not_grow_with_the_rows(self) -> None:
        self.refresh()
        client = self.client_as("account_manager")

        def queries() -> dict[str, int]:
            counts = {}
            for page in PAGES:
                with CaptureQueriesContext(connection) as ctx:
                    assert client.get(reverse(f"reports:{page}")).status_code == 200
                counts[page] = len(ctx.captured_queries)
            return counts

        queries()  # the first requests fill caches (content types, regions)
        before = queries()
        am = self.users["account_manager"]
        for n in range(5):
            customer = make_customer(f"新客户{n}", self.regions["360103"], owner=am)
            Survey.objects.create(
                token=f"tok{next(_numbers)}",
                customer=customer,
                trigger="ticket",
                sent_at=at(2026, 3, 1, 9),
                expires_at=at(2026, 12, 31, 9),
                answered_at=at(2026, 6, n + 1, 9),
                csat=4,
            )
        agg.reports_refresh(now=NOW, full=True)
        assert queries() == before

    # --- access and export ---------------------------------------------------------------------

    def test_who_may_open_the_reports(self) -> None:
        for page in PAGES:
            self.assert_access(reverse(f"reports:{page}"), allowed=VIEWERS)

    def test_who_may_export_the_reports(self) -> None:
        for page in PAGES:
            self.assert_access(reverse(f"reports:{page}_export"), allowed=EXPORTERS)

    def test_the_export_holds_the_figures_of_the_page(self) -> None:
        self.refresh()
        response = self.client_as("director").get(reverse("reports:sla_export"))
        book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
        sheet = book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        total = next(r for r in rows if r and r[0] in ("Total", "合计", "总计"))
        assert total[1:3] == [1, 3]
        response = self.client_as("director").get(reverse("reports:customers_export"))
        book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        assert any(r and r[0] == "南昌市" and r[-1] == 3 for r in rows)

    def test_refresh_now_is_for_those_who_may(self) -> None:
        url = reverse("reports:refresh_customers")
        assert self.client_as("account_manager").post(url).status_code == 403
        response = self.client_as("director").post(url, {"next": reverse("reports:sla")})
        assert response.status_code == 302
        assert response["Location"] == reverse("reports:sla")
        assert ReportRefresh.objects.filter(key="sla", finished_at__isnull=False).exists()
