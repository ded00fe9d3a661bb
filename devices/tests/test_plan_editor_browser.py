"""The floor-plan editor in a real browser: technical staff drag points onto the plan, move and
remove them and save; the monitoring centre sees the markers read-only with one highlighted."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from customers import services as customer_services
from devices.models import Point
from devices.tests.factories import make_building, make_collector, make_points
from ruwang.testing import make_user
from ruwang.tests.test_browser_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def plan_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 500), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def floor_with_points(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _customer, site, floors = make_building()
    content = plan_png()
    floor = customer_services.floor_save(
        actor=None,
        site=site,
        number=1,
        plan_upload=("1F.png", SimpleUploadedFile("1F.png", content), len(content)),
    )
    collector = make_collector(site=site)
    _system, points = make_points(collector, floors)
    return floor, [p for p in points if p.floor_id == floor.pk]


def drag(page, source, x: float, y: float) -> None:
    """Press on `source` and release at the fractions (x, y) of the plan image."""
    box = source.bounding_box()
    plan = page.locator("#rw-plan-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(plan["x"] + plan["width"] * x, plan["y"] + plan["height"] * y, steps=8)
    page.mouse.up()


def test_technical_staff_place_move_and_remove_points_on_the_plan(
    page, live_server, floor_with_points
):
    floor, (first, second) = floor_with_points
    make_user("wangfang", "technical_staff", display_name="王芳")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, live_server.url, "wangfang")
    page.wait_for_selector("#rw-main")
    page.goto(f"{live_server.url}/devices/floors/{floor.pk}/plan/")
    page.wait_for_selector("#rw-plan-editor[data-ready='1']")
    page.wait_for_function("document.getElementById('rw-plan-image').naturalWidth > 0")
    page.set_viewport_size({"width": 1400, "height": 1000})

    drag(
        page, page.locator(f"#rw-plan-list [data-point-id='{first.pk}'] .rw-plan-handle"), 0.3, 0.4
    )
    drag(
        page, page.locator(f"#rw-plan-list [data-point-id='{second.pk}'] .rw-plan-handle"), 0.7, 0.2
    )
    assert page.locator(".rw-marker[data-point-id]").count() == 2
    page.click("#rw-plan-save")
    page.wait_for_selector("#rw-plan-status.alert-success")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.x == pytest.approx(0.3, abs=0.02) and first.y == pytest.approx(0.4, abs=0.02)
    assert second.x == pytest.approx(0.7, abs=0.02) and second.y == pytest.approx(0.2, abs=0.02)

    drag(page, page.locator(f".rw-marker[data-point-id='{first.pk}']"), 0.5, 0.5)
    page.click(f"#rw-plan-list [data-point-id='{second.pk}'] .rw-plan-remove")
    assert page.locator(".rw-marker[data-point-id]").count() == 1
    page.click("#rw-plan-save")
    page.wait_for_selector("#rw-plan-status.alert-success")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.x == pytest.approx(0.5, abs=0.02) and first.y == pytest.approx(0.5, abs=0.02)
    assert (second.x, second.y) == (None, None)
    assert errors == []


def test_the_monitoring_centre_locates_a_highlighted_point_read_only(
    page, live_server, floor_with_points
):
    floor, (first, _second) = floor_with_points
    Point.objects.filter(pk=first.pk).update(x=0.25, y=0.75)
    make_user("zhaolei", "monitoring_operator", display_name="赵磊")
    _sign_in(page, live_server.url, "zhaolei")
    page.wait_for_selector("#rw-main")
    page.goto(f"{live_server.url}/devices/floors/{floor.pk}/plan/?highlight={first.pk}")
    page.wait_for_selector("#rw-plan-editor[data-ready='1']")
    marker = page.locator(f".rw-marker[data-point-id='{first.pk}']")
    assert "rw-marker-highlight" in marker.get_attribute("class")
    assert "感烟火灾探测器" in marker.get_attribute("title")
    assert page.locator("#rw-plan-save").count() == 0
    assert page.locator(".rw-plan-handle").count() == 0
    drag(page, marker, 0.9, 0.1)  # nothing moves for a read-only user
    first.refresh_from_db()
    assert (first.x, first.y) == (0.25, 0.75)
    style = marker.get_attribute("style")
    assert "left: 25%" in style and "top: 75%" in style
