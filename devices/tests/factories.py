from __future__ import annotations

from typing import Any

from customers import services as customer_services
from customers.models import Customer, Floor, Site
from customers.tests.factories import make_customer
from devices import services
from devices.models import Collector, FireSystem, Point
from devices.simulator import SimCollector, SimPoint
from ruwang.testing import make_regions


def make_building(name: str = "滕王阁大厦", floors: int = 3) -> tuple[Customer, Site, list[Floor]]:
    customer = make_customer(name, make_regions()["360102"])
    site = customer_services.site_save(
        actor=None, customer=customer, data={"name": "主楼", "floors_above": floors}
    )
    levels = [
        customer_services.floor_save(actor=None, site=site, number=n) for n in range(1, floors + 1)
    ]
    return customer, site, levels


def make_collector(
    address: int = 360_102_000_001, *, site: Site | None = None, **data: Any
) -> Collector:
    collector = services.collector_save(
        actor=None,
        data={"address": address, "serial_number": f"SN{address}", "heartbeat_seconds": 30, **data},
    )
    if site is not None:
        services.collector_install(
            actor=None,
            collector=collector,
            customer=site.customer,
            site=site,
            location="消防控制室",
        )
    return collector


def make_points(
    collector: Collector, floors: list[Floor], per_floor: int = 2, system_type: int = 1
) -> tuple[FireSystem, list[Point]]:
    system = services.fire_system_save(
        actor=None, collector=collector, data={"system_type": system_type, "system_address": 1}
    )
    points = []
    for floor in floors:
        for n in range(1, per_floor + 1):
            number = floor.number * 100 + n
            points.append(
                services.point_save(
                    actor=None,
                    system=system,
                    data={
                        "component_address": (1 << 16) | number,
                        "component_type": 40,
                        "floor": floor,
                        "location": f"{floor.name} 走廊 {n} 号感烟",
                    },
                )
            )
    return system, points


def sim_collector(collector: Collector) -> SimCollector:
    """The simulator's view of a registered collector and its point table."""
    points = [
        SimPoint(
            p.system.system_type,
            p.system.system_address,
            p.component_type,
            p.component_address,
            p.location,
        )
        for p in Point.objects.filter(system__collector=collector).select_related("system")
    ]
    return SimCollector(address=collector.address, points=points)
