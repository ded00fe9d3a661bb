"""Demo collectors: ~40 in the demo customers' buildings, with point tables and recent events.

Most are installed and online, a few are offline (with the gateway's offline event and an open
fault), one is faulty and a few wait in stock; about thirty recent fire and fault events (some
already handled) give the board and the network pages something to show. Idempotent: nothing is
added once the demo collectors exist.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from customers.models import Customer, CustomerStatus, Floor, Site
from devices import gb26875 as gb
from devices import services
from devices.models import (
    Collector,
    CollectorStatus,
    CommunicationLine,
    DeviceEvent,
    EventKind,
    Fault,
    FaultKind,
    FaultStatus,
    FireSystem,
    OnlineSample,
    Point,
    Verdict,
)

SERIAL_PREFIX = "RWD26"
DEMO_COLLECTORS = 40
IN_STOCK = 4
OFFLINE = 4
EVENTS = 30
CENTRE_ADDRESS = 0

MODELS = [("洪都消防电子", "HD-UITD-200"), ("赣江智联", "GJ-TD4G-10")]
PANELS = [
    ("海湾", "JB-QB-GST200"),
    ("北大青鸟", "JB-QB-JBF5012"),
    ("利达华信", "JB-QB-LD128E"),
    ("泛海三江", "JB-QB-9000"),
]
SIDES = ["东侧", "西侧", "南侧", "北侧", "中部"]
# GB/T 26875.3-2011 表 5 component types, with where such a component usually is.
COMPONENTS = [
    (40, 0.45, ["走廊", "办公室", "会议室", "大堂", "库房", "配电间"]),  # 感烟火灾探测器
    (30, 0.15, ["厨房", "锅炉房", "地下车库", "茶水间"]),  # 感温火灾探测器
    (23, 0.15, ["楼梯口", "电梯前室", "安全出口"]),  # 手动火灾报警按钮
    (24, 0.10, ["消火栓箱"]),  # 消火栓按钮
    (85, 0.15, ["防火阀", "水流指示器", "信号蝶阀", "排烟口"]),  # 输入模块
]
FIRE_VERDICTS = (Verdict.FALSE, Verdict.TEST, Verdict.FALSE, Verdict.REAL)
HANDLED_NOTES: dict[str, str] = {
    Verdict.FALSE: "现场确认为误报（烹饪油烟），已复位",
    Verdict.TEST: "维保单位测试，已通知值班室",
    Verdict.REAL: "现场确认小范围起火，已扑灭，已通知业主",
}


def _component(rng: random.Random) -> tuple[int, str]:
    roll = rng.random()
    for code, share, places in COMPONENTS:
        if roll < share:
            return code, rng.choice(places)
        roll -= share
    code, _share, places = COMPONENTS[0]
    return code, rng.choice(places)


def _demo_customers(count: int) -> list[tuple[Customer, Site, list[Floor]]]:
    """Active and onboarding customers with a building that has floors, oldest first."""
    customers = (
        Customer.objects.filter(
            status__in=[CustomerStatus.ACTIVE, CustomerStatus.ONBOARDING],
            merged_into__isnull=True,
            sites__floors__isnull=False,
        )
        .distinct()
        .select_related("region")
        .order_by("id")[:count]
    )
    chosen: list[tuple[Customer, Site, list[Floor]]] = []
    for customer in customers:
        site = customer.sites.filter(floors__isnull=False).order_by("id").first()
        if site is None:
            continue
        floors = list(site.floors.filter(number__gt=0).order_by("number")[:3])
        if floors:
            chosen.append((customer, site, floors))
    return chosen


def _points(
    rng: random.Random, collector: Collector, system: FireSystem, floors: list[Floor]
) -> list[Point]:
    """10–30 points on each of 1–3 floors, spread over the plan. The point table is written in
    one insert (about 1,500 rows for the demo): the point service would audit each row."""
    points: list[Point] = []
    for floor in floors[: rng.randint(1, len(floors))]:
        loop = floor.number
        for n in range(1, rng.randint(10, 30) + 1):
            component_type, place = _component(rng)
            points.append(
                Point(
                    system=system,
                    component_address=(loop << 16) | n,
                    loop=loop,
                    number=n,
                    native_code=f"{loop}-{n:03d}",
                    component_type=component_type,
                    floor=floor,
                    location=f"{floor.number}层{rng.choice(SIDES)}{place}",
                    x=round(rng.uniform(0.05, 0.95), 4),
                    y=round(rng.uniform(0.05, 0.95), 4),
                )
            )
    return Point.objects.bulk_create(points)


def _heartbeats(collectors: list[Collector], now: datetime) -> None:
    """Each collector says it is alive, through the gateway's own ingest."""
    incoming = []
    for collector in collectors:
        raw = gb.heartbeat(source=collector.address, destination=CENTRE_ADDRESS, serial=1)
        incoming.append(
            services.Incoming(
                collector_id=collector.pk, frame=gb.decode_frame(raw), raw=raw, received_at=now
            )
        )
    if incoming:
        services.frames_ingest(incoming)


def _event(
    rng: random.Random,
    point: Point,
    kind: str,
    now: datetime,
    monitor: User | None,
    verdict: str = "",
) -> DeviceEvent:
    """A component's fire or fault, handled by the monitoring centre when given a verdict."""
    system = point.system
    occurred = now - timedelta(minutes=rng.randint(5, 48 * 60))
    status = gb.ComponentStatus(
        system_type=system.system_type,
        system_address=system.system_address,
        component_type=point.component_type,
        component_address=point.component_address,
        status=0b11 if kind == EventKind.FIRE else 0b101,  # fire or fault, plus "normal"
        description=point.location[:10],
        occurred_at=timezone.localtime(occurred).replace(tzinfo=None, microsecond=0),
    )
    event = DeviceEvent(
        collector_id=system.collector_id,
        kind=kind,
        info_type=gb.InfoType.COMPONENT_STATUS,
        system_type=system.system_type,
        system_address=system.system_address,
        component_type=point.component_type,
        component_address=point.component_address,
        point=point,
        status=status.status,
        data=status.as_dict(),
        description=status.description,
        occurred_at=occurred,
        received_at=occurred + timedelta(seconds=rng.randint(1, 3)),
    )
    if verdict:
        event.verdict = verdict
        event.handled_by = monitor
        event.handled_at = event.received_at + timedelta(minutes=rng.randint(1, 15))
        event.notes = HANDLED_NOTES[verdict] if kind == EventKind.FIRE else "已通知维保单位上门检修"
    return event


def _online_history(rng: random.Random, now: datetime, in_service: int, offline: int) -> None:
    """A week of online-rate samples every 10 minutes (what the gateway would have taken), with
    a night-time line outage on one day, so the network page's chart has a history."""
    start = now.replace(second=0, microsecond=0) - timedelta(days=7)
    samples = []
    for n in range(7 * 24 * 6):
        at = start + timedelta(minutes=10 * n)
        down = rng.randint(0, max(offline, 1))
        if at.day == (start + timedelta(days=3)).day and 1 <= at.hour < 3:
            down += in_service // 4  # an operator's line outage
        samples.append(OnlineSample(at=at, in_service=in_service, online=max(in_service - down, 0)))
    OnlineSample.objects.bulk_create(samples, ignore_conflicts=True)


def load_demo(*, stdout: TextIO | None = None) -> None:
    """Add the demo collectors unless they exist; prints one summary line to `stdout`."""
    if Collector.objects.filter(serial_number__startswith=SERIAL_PREFIX).exists():
        return
    rng = random.Random(20261126)  # noqa: S311 - repeatable demo data
    now = timezone.now()
    today = timezone.localdate()
    buildings = _demo_customers(DEMO_COLLECTORS - IN_STOCK)
    monitor = User.objects.filter(groups__role__code="monitoring_operator", is_demo=True).first()
    with transaction.atomic():
        installed: list[tuple[Collector, Customer]] = []
        points: list[Point] = []
        total = len(buildings) + IN_STOCK
        for i in range(total):
            manufacturer, model = MODELS[i % len(MODELS)]
            cellular = i % 3 == 0
            region_code = buildings[i][0].region.code if i < len(buildings) else "360100"
            collector = services.collector_save(
                actor=None,
                data={
                    "address": int(f"{region_code}{i + 1:06d}"),
                    "serial_number": f"{SERIAL_PREFIX}{i + 1:05d}",
                    "manufacturer": manufacturer,
                    "model": model,
                    "firmware_version": "2.3",
                    "line": CommunicationLine.CELLULAR if cellular else CommunicationLine.BROADBAND,
                    "iccid": f"898604{rng.randint(0, 10**13 - 1):013d}" if cellular else "",
                    "heartbeat_seconds": 60,
                },
            )
            if i >= len(buildings):
                continue  # in stock
            customer, site, floors = buildings[i]
            day: date = today - timedelta(days=rng.randint(3, 400))
            services.collector_install(
                actor=None,
                collector=collector,
                customer=customer,
                site=site,
                location=site.control_room_location or "一层消防控制室",
                installed_on=day,
                note="入网安装",
            )
            brand, panel = PANELS[i % len(PANELS)]
            system = services.fire_system_save(
                actor=None,
                collector=collector,
                data={
                    "system_type": 1,
                    "system_address": 1,
                    "brand": brand,
                    "panel_model": panel,
                },
            )
            points += _points(rng, collector, system, floors)
            installed.append((collector, customer))
        # Active customers' collectors report; of the onboarding ones, some are not yet talking.
        reporting = [
            c
            for n, (c, customer) in enumerate(installed)
            if customer.status == CustomerStatus.ACTIVE or n % 2 == 0
        ]
        silent = reporting[-OFFLINE - 1 : -1]
        for collector in silent:
            # Heard from once, silent since: the gateway's offline check opens the fault. One
            # at a time, while no other collector is online, so the check sees just this one.
            _heartbeats([collector], now)
            Collector.objects.filter(pk=collector.pk).update(last_seen_at=now - timedelta(hours=2))
            services.collectors_mark_offline(now)
        _heartbeats([c for c in reporting if c not in silent], now)
        if reporting:
            faulty = reporting[-1]
            Collector.objects.filter(pk=faulty.pk).update(
                status=CollectorStatus.FAULTY, status_changed_at=now - timedelta(hours=5)
            )
            Fault.objects.create(
                collector=faulty,
                kind=FaultKind.DEVICE,
                status=FaultStatus.HANDLING,
                opened_at=now - timedelta(hours=5),
                cause="主机电源模块故障，备电欠压",
                handled_by=User.objects.filter(
                    groups__role__code="network_admin", is_demo=True
                ).first(),
            )
        on_air = {c.pk for c in reporting[: -OFFLINE - 1] or reporting}
        candidates = [p for p in points if p.system.collector_id in on_air]
        events = []
        for n, point in enumerate(rng.sample(candidates, min(EVENTS, len(candidates)))):
            kind = EventKind.FIRE if n % 3 == 0 else EventKind.FAULT
            # About a third handled: fires with each verdict, faults confirmed real.
            verdict = ""
            if n % 3 == 0 and n % 2 == 0:
                verdict = FIRE_VERDICTS[(n // 6) % len(FIRE_VERDICTS)]
            elif n % 5 == 1:
                verdict = Verdict.REAL
            events.append(_event(rng, point, kind, now, monitor, verdict))
        DeviceEvent.objects.bulk_create(sorted(events, key=lambda e: e.received_at))
        _online_history(rng, now, len(reporting), len(silent))
    if stdout is not None:
        stdout.write(
            f"Demo devices: {total} collectors ({len(installed)} installed), "
            f"{len(points)} points, {len(events)} events\n"
        )
