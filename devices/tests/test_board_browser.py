"""The alarm board in a real browser: a fire alarm stored by the gateway's ingest appears without
a reload, and the operator on duty records it as a false alarm from the modal."""

from __future__ import annotations

import pytest
from django.utils import timezone

from devices import gb26875 as gb
from devices.models import DeviceEvent, Verdict
from devices.services import Incoming, frames_ingest
from devices.simulator import FIRE, NORMAL, SimCollector, Simulator
from devices.tests.factories import make_building, make_collector, make_points, sim_collector
from ruwang.testing import make_user
from ruwang.tests.test_browser_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def store_fire(collector_pk: int, view: SimCollector) -> None:
    sim = Simulator([view], host="127.0.0.1", port=1)
    raw = sim.component_frame(view.address, view.points[0], FIRE | NORMAL)
    frames_ingest([Incoming(collector_pk, gb.decode_frame(raw), raw, timezone.now())])


def test_a_new_fire_alarm_appears_live_and_is_handled_as_false(page, live_server):
    _customer, site, floors = make_building()
    collector = make_collector(site=site)
    make_points(collector, floors, per_floor=1)
    make_user("zhaolei", "monitoring_operator", display_name="赵磊")
    _sign_in(page, live_server.url, "zhaolei")
    page.goto(f"{live_server.url}/devices/board/")
    page.wait_for_selector("#rw-board-live")
    assert page.locator(".rw-board-row").count() == 0

    store_fire(collector.pk, sim_collector(collector))  # the gateway stored an alarm
    row = page.locator(".rw-board-row.rw-board-fire")
    row.wait_for(timeout=10_000)  # the board polls every 2 s: no reload
    assert "滕王阁大厦" in row.inner_text()

    row.locator(".rw-board-handle").click()
    page.wait_for_selector("#rw-handle-form", state="visible")
    page.check(f"input[name=verdict][value={Verdict.FALSE}]")
    page.click("#rw-handle-form button[type=submit]")
    page.wait_for_selector("#rw-handle-form .invalid-feedback, #rw-handle-form .is-invalid")
    page.fill("#rw-handle-form textarea[name=notes]", "烟感误报：厨房油烟，已复位")
    page.click("#rw-handle-form button[type=submit]")
    page.wait_for_selector("#rw-handle-done")
    page.locator(".rw-board-row.rw-board-fire").wait_for(state="detached", timeout=10_000)

    event = DeviceEvent.objects.get(kind="fire")
    assert event.verdict == Verdict.FALSE and event.handled_by.username == "zhaolei"
    assert event.notes.startswith("烟感误报")
