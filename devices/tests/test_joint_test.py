"""Joint tests end to end: simulator → gateway → stored signals → the session's rows → report."""

from __future__ import annotations

import asyncio

import pytest
from django.core.exceptions import ValidationError

from customers.models import Document, DocumentKind
from devices.gateway import Gateway
from devices.joint_test_services import (
    floor_in_text,
    joint_test_cancel,
    joint_test_finish,
    joint_test_start,
)
from devices.models import ItemResult, JointTestStatus
from devices.simulator import FIRE, NORMAL, SimPoint, Simulator
from devices.tests.factories import make_building, make_collector, make_points, sim_collector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("text", "floor"),
    [("3层东侧走廊", 3), ("12F 电梯厅", 12), ("B1 车库", -1), ("负2层泵房", -2), ("门厅", None)],
)
def test_the_floor_is_read_from_a_panel_description(text, floor):
    assert floor_in_text(text) == floor


def test_a_joint_test_ticks_matching_signals_and_lists_the_missing_and_the_wrong():
    customer, site, floors = make_building()
    collector = make_collector(site=site)
    _system, points = make_points(collector, floors)  # 1F, 2F, 3F × 2 points
    test = joint_test_start(actor=None, collector=collector)
    assert test.items.count() == 6
    view = sim_collector(collector)
    by_address = {p.component_address: p for p in view.points}
    good, wrong_floor, missing = points[:4], points[4], points[5]

    async def scenario() -> list[bool]:
        gateway = Gateway(port=0, offline_check_seconds=0)
        await gateway.start()
        sim = Simulator([view], host="127.0.0.1", port=gateway.port, heartbeat_seconds=3600)
        await sim.start()
        try:
            sent = [
                await sim.trigger(collector.address, by_address[p.component_address]) for p in good
            ]
            # The panel says 2层 for a point the table has on 3F.
            sent.append(
                await sim.trigger(
                    collector.address,
                    by_address[wrong_floor.component_address],
                    FIRE | NORMAL,
                    description="2层 走廊 1 号感烟",
                )
            )
            stranger = SimPoint(1, 1, 40, (7 << 16) | 7, "7层 未登记")
            sent.append(await sim.trigger(collector.address, stranger))
            return sent
        finally:
            await sim.stop()
            await gateway.stop()

    assert asyncio.run(scenario()) == [True] * 6
    rows = {item.point_id: item for item in test.items.all() if item.point_id}
    assert all(rows[p.pk].result == ItemResult.PASSED for p in good)
    assert all(rows[p.pk].delay_seconds is not None for p in good)
    assert rows[wrong_floor.pk].result == ItemResult.MISMATCH
    assert "3F" in rows[wrong_floor.pk].problems[0] and "2F" in rows[wrong_floor.pk].problems[0]
    assert rows[missing.pk].result == ItemResult.PENDING
    unexpected = test.items.get(result=ItemResult.UNEXPECTED)
    assert unexpected.event.component_address == (7 << 16) | 7

    test = joint_test_finish(actor=None, test=test, notes="东侧楼梯间点位待复测")
    rows = {item.point_id: item for item in test.items.all() if item.point_id}
    assert rows[missing.pk].result == ItemResult.MISSING
    assert test.status == JointTestStatus.FAILED
    report = Document.objects.get(pk=test.report_id)
    assert report.kind == DocumentKind.TEST_REPORT and report.customer == customer
    with report.current.file.open("rb") as handle:
        assert handle.read(5) == b"%PDF-"


def test_a_clean_run_passes_and_only_one_session_runs_at_a_time():
    _customer, site, floors = make_building(floors=1)
    collector = make_collector(site=site)
    make_points(collector, floors, per_floor=1)
    test = joint_test_start(actor=None, collector=collector)
    with pytest.raises(ValidationError, match="正在进行的联调"):
        joint_test_start(actor=None, collector=collector)
    view = sim_collector(collector)

    async def scenario() -> bool:
        gateway = Gateway(port=0, offline_check_seconds=0)
        await gateway.start()
        sim = Simulator([view], host="127.0.0.1", port=gateway.port, heartbeat_seconds=3600)
        await sim.start()
        try:
            return await sim.trigger(collector.address, view.points[0])
        finally:
            await sim.stop()
            await gateway.stop()

    assert asyncio.run(scenario())
    test = joint_test_finish(actor=None, test=test)
    assert test.status == JointTestStatus.PASSED
    with pytest.raises(ValidationError, match="已经结束"):
        joint_test_cancel(actor=None, test=test, reason="重复")


def test_a_joint_test_needs_an_installed_collector_with_points():
    _customer, site, _floors = make_building(floors=1)
    in_stock = make_collector(360_000_000_009)
    with pytest.raises(ValidationError, match="请先将采集机安装"):
        joint_test_start(actor=None, collector=in_stock)
    installed = make_collector(360_000_000_010, site=site)
    with pytest.raises(ValidationError, match="没有启用的点位"):
        joint_test_start(actor=None, collector=installed)
