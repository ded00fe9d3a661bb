"""The warranty page (质保到期): collectors whose warranty ends in the next 30/60/90 days, with
customer, building and onboarding contract — limited to the customers the user sees — and its
Excel export."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from audit.models import AuditEntry
from customers import services as customer_services
from customers.models import Customer, Site
from customers.tests.factories import make_customer
from devices.models import Collector, CollectorStatus
from devices.tests.factories import make_collector
from onboarding.models import InstallationFile, ServiceContract
from ruwang.testing import PersonaTestCase, make_regions
from service.tests.factories import make_case, publish_process

LIST = reverse("service:warranties")
EXPORT = reverse("service:warranties_export")
TODAY = dt.date(2026, 6, 10)
# Everyone who sees tickets: market, managers, engineering, the customer centre, monitoring.
VIEWERS = [
    "market",
    "market_manager",
    "director",
    "engineer",
    "monitoring",
    "account_manager",
    "agent",
    "supervisor",
]

_addresses = iter(range(360_102_100_000, 360_102_200_000))


def site_of(customer: Customer) -> Site:
    return customer_services.site_save(
        actor=None, customer=customer, data={"name": f"{customer.name}主楼", "floors_above": 3}
    )


def collector_ending(site: Site, days: int, **extra: str) -> Collector:
    collector = make_collector(next(_addresses), site=site)
    Collector.objects.filter(pk=collector.pk).update(
        warranty_ends_on=TODAY + dt.timedelta(days=days), **extra
    )
    collector.refresh_from_db()
    return collector


class WarrantyPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        # 甲: the test department's customer (its owner is in it); 乙: nobody's.
        cls.ours = make_customer("甲方大厦", regions["360102"], owner=cls.users["market"])
        cls.theirs = make_customer("乙方商场", regions["360402"])
        ours, theirs = site_of(cls.ours), site_of(cls.theirs)
        cls.in10 = collector_ending(ours, 10)
        cls.in45 = collector_ending(ours, 45)
        cls.in90 = collector_ending(ours, 90)
        collector_ending(ours, 91)  # beyond every window
        collector_ending(ours, -1)  # ended yesterday
        collector_ending(ours, 5, status=CollectorStatus.RETIRED)
        cls.theirs_in20 = collector_ending(theirs, 20)
        case = make_case(cls.ours, publish_process())
        InstallationFile.objects.create(case=case, customer=cls.ours, site=ours, collector=cls.in10)
        ServiceContract.objects.create(
            customer=cls.ours,
            case=case,
            number="RW-HT-2025-0107",
            signed_on=dt.date(2025, 5, 20),
            starts_on=dt.date(2025, 6, 10),
            ends_on=dt.date(2026, 6, 10),
            term_months=12,
            annual_fee=Decimal("3600.00"),
        )

    def setUp(self) -> None:
        traveller = time_machine.travel(
            dt.datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
        )
        traveller.start()
        self.addCleanup(traveller.stop)

    def listed(self, persona: str, days: int | None = None) -> list[str]:
        response = self.client_as(persona).get(LIST, {"days": days} if days else {})
        assert response.status_code == 200
        return [c.serial_number for c in response.context["collectors"]]

    def test_those_who_see_tickets_open_the_page(self) -> None:
        self.assert_access(LIST, allowed=VIEWERS)

    def test_the_tabs_widen_the_window_soonest_first(self) -> None:
        assert self.listed("market") == [self.in10.serial_number]
        assert self.listed("market", 60) == [self.in10.serial_number, self.in45.serial_number]
        assert self.listed("market", 90) == [
            self.in10.serial_number,
            self.in45.serial_number,
            self.in90.serial_number,
        ]

    def test_an_unknown_window_falls_back_to_30_days(self) -> None:
        assert self.listed("market", 365) == self.listed("market", 30)

    def test_only_customers_the_user_sees_are_listed(self) -> None:
        assert self.listed("engineer") == [
            self.in10.serial_number,
            self.theirs_in20.serial_number,
        ]
        assert self.theirs_in20.serial_number not in self.listed("market_manager", 90)

    def test_each_row_shows_customer_building_end_date_and_contract(self) -> None:
        response = self.client_as("market").get(LIST)
        body = response.content.decode()
        assert "甲方大厦" in body and "甲方大厦主楼" in body
        assert "2026-06-20" in body and "RW-HT-2025-0107" in body
        assert "剩 10 天" in body
        tabs = [(d, n) for d, n, _url in response.context["tabs"]]
        assert tabs == [(30, 1), (60, 2), (90, 3)]

    def test_the_page_takes_the_same_queries_for_one_row_or_many(self) -> None:
        client = self.client_as("market")
        client.get(LIST)  # session and permission caches warmed

        def queries(days: int) -> int:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(LIST, {"days": days}).status_code == 200
            return len(ctx.captured_queries)

        assert queries(30) == queries(90)

    def test_managers_export_the_window_to_excel_and_it_is_audited(self) -> None:
        self.assert_access(
            f"{EXPORT}?days=60", allowed=["market_manager", "director", "supervisor"]
        )
        response = self.client_as("market_manager").get(EXPORT, {"days": 60})
        assert response["Content-Type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert [(r[2], r[4], r[6]) for r in rows] == [
            ("甲方大厦", self.in10.serial_number, "RW-HT-2025-0107"),
            ("甲方大厦", self.in45.serial_number, None),
        ]
        assert rows[0][1] == 10
        entry = AuditEntry.objects.filter(action="warranty.export").latest("id")
        assert entry.actor_username == "market_manager"

    def test_the_export_link_is_shown_only_to_those_who_may_export(self) -> None:
        assert "rw-warranty-export" not in self.client_as("market").get(LIST).content.decode()
        assert "rw-warranty-export" in self.client_as("director").get(LIST).content.decode()
