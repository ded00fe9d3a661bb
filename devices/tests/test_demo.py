"""The devices demo: collectors in the demo customers' buildings, point tables, recent events."""

from __future__ import annotations

import io
import re

from django.test import TestCase

from customers import services as customer_services
from customers.models import Customer, CustomerStatus
from customers.tests.factories import make_customer
from devices.demo import SERIAL_PREFIX, load_demo
from devices.models import (
    Collector,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    FaultKind,
    FaultStatus,
    FireSystem,
    Point,
)
from ruwang.testing import make_regions


def demo_customer(name: str, status: str, floors: int = 3) -> Customer:
    customer = make_customer(name, make_regions()["360102"])
    site = customer_services.site_save(
        actor=None,
        customer=customer,
        data={
            "name": "主楼",
            "floors_above": floors,
            "control_room_location": "一层东侧消防控制室",
        },
    )
    for number in range(1, floors + 1):
        customer_services.floor_save(actor=None, site=site, number=number)
    path = {
        "prospect": [],
        "onboarding": [CustomerStatus.ONBOARDING],
        "active": [CustomerStatus.ONBOARDING, CustomerStatus.ACTIVE],
    }[status]
    for step in path:
        customer_services.customer_change_status(
            actor=None, customer=customer, status=step, reason="演示"
        )
    return customer


class DevicesDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.active = [demo_customer(f"南昌演示大厦{n}号", "active") for n in range(8)]
        cls.onboarding = [demo_customer(f"南昌入网中心{n}号", "onboarding") for n in range(2)]
        cls.prospect = demo_customer("南昌潜在客户", "prospect")

    def test_demo_installs_collectors_with_point_tables_and_some_in_stock(self):
        out = io.StringIO()
        load_demo(stdout=out)
        demo = Collector.objects.filter(serial_number__startswith=SERIAL_PREFIX)
        assert demo.count() == 10 + 4
        assert demo.filter(status=CollectorStatus.IN_STOCK, customer=None).count() == 4
        assert not demo.filter(customer=self.prospect).exists()
        installed = demo.exclude(customer=None)
        assert {c.customer_id for c in installed} == {c.pk for c in self.active + self.onboarding}
        assert all(c.registrations.count() == 1 for c in installed)
        for system in FireSystem.objects.filter(collector__in=installed):
            assert system.system_type == 1
            per_floor = {}
            for point in system.points.all():
                per_floor[point.floor_id] = per_floor.get(point.floor_id, 0) + 1
            assert 1 <= len(per_floor) <= 3
            assert all(10 <= n <= 30 for n in per_floor.values())
        points = Point.objects.filter(system__collector__in=installed)
        assert set(points.values_list("component_type", flat=True)) <= {40, 30, 23, 24, 85}
        assert len(set(points.values_list("component_type", flat=True))) >= 4
        for point in points:
            assert 0.05 <= point.x <= 0.95 and 0.05 <= point.y <= 0.95
            assert re.match(r"^\d+层(东侧|西侧|南侧|北侧|中部)", point.location), point.location
        assert "14 collectors" in out.getvalue()

    def test_statuses_are_mixed_with_offline_faults_and_recent_events(self):
        load_demo()
        statuses = set(Collector.objects.values_list("status", flat=True))
        assert {
            CollectorStatus.ONLINE,
            CollectorStatus.OFFLINE,
            CollectorStatus.FAULTY,
            CollectorStatus.IN_STOCK,
        } <= statuses
        for collector in Collector.objects.filter(status=CollectorStatus.ONLINE):
            assert collector.last_seen_at is not None
        offline = list(Collector.objects.filter(status=CollectorStatus.OFFLINE))
        assert len(offline) == 4
        for collector in offline:
            assert collector.events.filter(kind=EventKind.OFFLINE).count() == 1
            assert (
                collector.faults.filter(kind=FaultKind.OFFLINE, status=FaultStatus.OPEN).count()
                == 1
            )
        assert Fault.objects.filter(kind=FaultKind.DEVICE).count() == 1
        events = DeviceEvent.objects.exclude(kind=EventKind.OFFLINE)
        assert 20 <= events.count() <= 30
        assert events.filter(kind=EventKind.FIRE).exists()
        assert events.filter(kind=EventKind.FAULT).exists()
        assert not events.filter(point=None).exists()
        handled = events.exclude(handled_at=None)
        assert handled.exists() and not handled.filter(verdict="").exists()
        assert events.filter(handled_at=None).exists()

    def test_loading_twice_adds_nothing(self):
        load_demo()
        counts = (Collector.objects.count(), Point.objects.count(), DeviceEvent.objects.count())
        load_demo()
        assert (
            Collector.objects.count(),
            Point.objects.count(),
            DeviceEvent.objects.count(),
        ) == counts
