"""Acceptance: the fire-monitoring onboarding SOP (客户入网作业指导书) walked through the UI.

Market staff, the operations director, technical staff, an engineer, procurement and a monitoring
operator each sign in with their own browser, find their step in the inbox, fill the form and
upload its attachments. Only what is outside the SOP is set up in Python: the users, the customer
with its building, a collector in stock, and the building's fire-alarm signals during the joint
test. It ends with an archived case, an active customer and the eight forms as PDFs.

A full-page screenshot of every step goes to var/screenshots/fire-sop/ (git-ignored).
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook
from PIL import Image, ImageDraw

from customers import services as customer_services
from customers.models import CustomerStatus, DocumentKind
from customers.tests.factories import make_customer
from devices.models import JointTest, JointTestStatus, Point
from devices.tests.factories import make_collector
from onboarding import fire_services, fire_steps
from onboarding.fire_steps import PROCESS_KEY
from onboarding.models import Annex, FormRecord, MaterialLine, PurchaseOrder
from ruwang.testing import make_regions, make_user
from ruwang.tests.test_browser_journeys import _sign_in
from workflow.models import (
    Case,
    CaseStatus,
    DefinitionVersion,
    Notification,
    Task,
    TaskStatus,
    VersionStatus,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(django_settings.VAR_DIR) / "screenshots" / "fire-sop"
CUSTOMER = "南昌万达广场"
REJECTION = "合同附件缺少系统图说明，请补充后重新提交"
PERSONAS = {
    "market": ("wangli", "market_staff", "王丽"),
    "director": ("lichen", "operations_director", "李晨"),
    "technical": ("wangfang", "technical_staff", "王芳"),
    "engineer": ("liuyang", "engineer", "刘洋"),
    "procurement": ("chenjing", "procurement", "陈静"),
    "monitoring": ("zhaolei", "monitoring_operator", "赵磊"),
}


# --- files a person would have on their computer --------------------------------------------


def _pdf(title: str) -> dict[str, Any]:
    buffer = io.BytesIO()
    image = Image.new("RGB", (420, 594), "white")
    ImageDraw.Draw(image).rectangle((20, 20, 400, 574), outline="black", width=3)
    image.save(buffer, format="PDF", title=title)
    return {"name": f"{title}.pdf", "mimeType": "application/pdf", "buffer": buffer.getvalue()}


def _png(name: str, rooms: int = 4) -> dict[str, Any]:
    """A floor plan (or a photo): outer walls, a corridor and a row of rooms."""
    width, height = 800, 500
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, width - 11, height - 11), outline=(40, 40, 40), width=4)
    draw.line((10, height // 2, width - 11, height // 2), fill=(40, 40, 40), width=3)
    for n in range(1, rooms):
        x = 10 + n * (width - 20) // rooms
        draw.line((x, 10, x, height // 2), fill=(40, 40, 40), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"name": name, "mimeType": "image/png", "buffer": buffer.getvalue()}


def _point_table(rows: list[tuple[int, int, str]]) -> dict[str, Any]:
    """The point table in the import template's columns (devices.point_import.COLUMNS)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "点位表"
    sheet.append(["系统类型", "系统地址", "回路", "点号", "部件类型", "楼层", "位置", "启用"])
    for number, floor, location in rows:
        sheet.append(["火灾报警系统", 1, 1, number, "感烟火灾探测器", floor, location, "是"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return {
        "name": "万达广场点位表.xlsx",
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "buffer": buffer.getvalue(),
    }


# --- browsers, one per persona --------------------------------------------------------------


class Team:
    """A signed-in browser per persona; records console errors and 4xx/5xx responses, and
    numbers the screenshots of the walk."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.pages: dict[str, Any] = {}
        self.errors: list[str] = []
        self.shots = 0

    def __call__(self, persona: str) -> Any:
        if persona not in self.pages:
            username = PERSONAS[persona][0]
            context = self.browser.new_context(
                viewport={"width": 1400, "height": 1000}, locale="zh-CN"
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on(
                "console",
                lambda m, who=persona: (
                    self.errors.append(f"{who}: console: {m.text}") if m.type == "error" else None
                ),
            )
            page.on(
                "response",
                lambda r, who=persona: (
                    self.errors.append(f"{who}: {r.status} {r.url}") if r.status >= 400 else None
                ),
            )
            _sign_in(page, self.base, username)
            page.wait_for_selector(f"text=您好，{PERSONAS[persona][2]}")
            self.pages[persona] = page
        return self.pages[persona]

    def shot(self, persona: str, what: str) -> None:
        self.shots += 1
        path = SHOTS / f"{self.shots:02d}-{persona}-{what}.png"
        self.pages[persona].screenshot(path=str(path), full_page=True)

    def close(self) -> None:
        for page in self.pages.values():
            try:
                page.wait_for_load_state("networkidle", timeout=5_000)
            finally:
                page.context.close()
        # The live server shares the test's SQLite connection: let every request finish
        # before the database is flushed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            "process_request_thread" in t.name for t in threading.enumerate()
        ):
            time.sleep(0.02)


@pytest.fixture
def team(browser, live_server, settings, tmp_path) -> Iterator[Team]:
    settings.MEDIA_ROOT = tmp_path
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    crew = Team(browser, live_server.url)
    yield crew
    crew.close()


# --- steps of a person at the screen --------------------------------------------------------


def _open_task(case: Case, form_key: str) -> Task:
    return Task.objects.get(
        case=case, form_key=form_key, status__in=(TaskStatus.READY, TaskStatus.CLAIMED)
    )


def _from_inbox(team: Team, persona: str, case: Case, form_key: str, *, pool: bool) -> Task:
    """Find the step in the inbox: claim it from the role's pool, or open one assigned to me."""
    page = team(persona)
    task = _open_task(case, form_key)
    page.goto(f"{team.base}{reverse('workflow:inbox')}?view={'pool' if pool else 'mine'}")
    url = reverse("workflow:task", args=[task.pk])
    row = page.locator("#rw-inbox-rows tr").filter(has=page.locator(f"a[href='{url}']"))
    assert row.count() == 1, f"{persona} does not see {task.name} in the inbox"
    assert CUSTOMER in row.inner_text()
    with page.expect_navigation():
        if pool:
            row.locator("button[formaction$='/claim/']").click()
        else:
            row.locator(f"a[href='{url}']").click()
    assert page.url.endswith(url)
    page.wait_for_selector("#rw-main form button[name=complete]")
    return task


def _submit(page: Any, button: str = "button[name=complete]") -> None:
    with page.expect_navigation():
        page.click(button)
    problems = page.locator("#rw-main .invalid-feedback, #rw-main .alert-danger")
    assert problems.count() == 0, problems.all_inner_texts()


def _complete(team: Team, persona: str, task: Task, what: str) -> None:
    """Screenshot the filled form, submit it, and check the task is done."""
    team.shot(persona, what)
    _submit(team(persona))
    task.refresh_from_db()
    assert not task.is_open, f"{task.name} is still open"
    assert "任务已完成" in team(persona).inner_text(".alert-success")


def _upload_missing_drawings(team: Team, task: Task) -> None:
    """Market follows the task's missing-attachments link once per drawing."""
    page = team("market")
    titles = {
        DocumentKind.FLOOR_PLAN: "大楼平面结构图",
        DocumentKind.SYSTEM_DIAGRAM: "火灾自动报警系统图",
        DocumentKind.PANEL_MANUAL: "报警控制器使用和操作说明书",
        DocumentKind.CODING: "消防设施编码及代码说明",
    }
    uploaded: set[str] = set()
    while page.locator("#rw-missing").count():
        page.click("#rw-upload-missing")
        page.wait_for_selector("#id_file")
        kind = page.input_value("#id_kind")
        assert kind in titles and kind not in uploaded
        page.fill("#id_title", titles[kind])
        page.set_input_files("#id_file", _pdf(titles[kind]))
        team.shot("market", f"upload-{kind}")
        with page.expect_navigation():
            page.click("#rw-main form button[type=submit]")
        assert page.url.endswith(reverse("workflow:task", args=[task.pk])), "not sent back"
        assert "文档已上传" in page.inner_text(".alert-success")
        uploaded.add(kind)
    assert uploaded == set(titles)


def _fill_notice(page: Any) -> None:
    today = timezone.localdate()
    page.fill("#id_contract_number", "HT-2026-001")
    page.fill("#id_signed_on", (today - timedelta(days=3)).isoformat())
    page.fill("#id_starts_on", (today - timedelta(days=2)).isoformat())
    page.fill("#id_ends_on", (today + timedelta(days=3 * 365)).isoformat())
    page.fill("#id_term_months", "36")
    page.fill("#id_annual_fee", "4800.00")
    page.set_input_files("#id_contract_file", _pdf("入网安装合同"))
    page.fill("#id_requested_install_on", (today + timedelta(days=10)).isoformat())
    page.fill("#id_notice_notes", "控制室在一层东侧；系统图说明见附件")


def _add_floor(team: Team, case: Case, number: int) -> None:
    page = team("technical")
    page.click("#rw-add-floor")
    page.wait_for_selector("#id_number")
    page.fill("#id_number", str(number))
    page.fill("#id_area_m2", "1200")
    page.set_input_files("#id_plan", _png(f"{number}F.png", rooms=3 + number))
    team.shot("technical", f"floor-{number}F")
    with page.expect_navigation():
        page.click("#rw-main form button[type=submit]")
    assert "楼层已保存" in page.inner_text(".alert-success")
    # Back to the step, which is now in "assigned to me".
    _from_inbox(team, "technical", case, "fire_intake", pool=False)


def _drag(page: Any, source: Any, x: float, y: float) -> None:
    """Press on `source` and release at the fractions (x, y) of the plan image."""
    box = source.bounding_box()
    plan = page.locator("#rw-plan-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(plan["x"] + plan["width"] * x, plan["y"] + plan["height"] * y, steps=8)
    page.mouse.up()


# --- the walk -------------------------------------------------------------------------------


def test_the_whole_fire_sop_is_walked_through_the_ui_by_six_roles(team: Team) -> None:
    users = {
        persona: make_user(username, role, display_name=name)
        for persona, (username, role, name) in PERSONAS.items()
    }
    customer = make_customer(
        CUSTOMER,
        make_regions()["360102"],
        owner=users["market"],
        address="红谷滩新区会展路 999 号",
        contacts=[{"name": "王建国", "role": "contact", "mobile": "13907910001"}],
    )
    customer_services.site_save(
        actor=None,
        customer=customer,
        data={"name": "A 座", "floors_above": 2, "control_room_location": "一层东侧消防控制室"},
    )
    collector = make_collector(360_102_100_001)  # in stock
    version = DefinitionVersion.objects.get(
        definition__key=PROCESS_KEY, status=VersionStatus.PUBLISHED
    )
    base = team.base

    # 1. market opens the customer profile and starts the process
    page = team("market")
    page.goto(f"{base}{reverse('customers:detail', args=[customer.pk])}")
    page.select_option("#rw-start-version", str(version.pk))
    team.shot("market", "customer-profile")
    with page.expect_navigation():
        page.click("#rw-cases button[type=submit]")
    case = Case.objects.get(customer=customer)
    assert page.url.endswith(reverse("workflow:case", args=[case.pk]))
    page.wait_for_selector("#case-diagram .djs-element")
    team.shot("market", "case-started")

    # the notice is market's own task: four drawings first, then the form with the contract
    notice = _from_inbox(team, "market", case, "fire_notice", pool=False)
    assert page.locator("#rw-missing").is_visible()
    _upload_missing_drawings(team, notice)
    _fill_notice(page)
    _complete(team, "market", notice, "notice")

    # 2. the operations director sends it back with a reason
    approval = _from_inbox(team, "director", case, "fire_notice_approval", pool=True)
    summary = team("director").inner_text("#rw-notice-summary")
    assert "HT-2026-001" in summary and "4800" in summary
    assert team("director").locator("#rw-notice-attachments li").count() == 5
    team("director").check("input[name=decision][value=reject]")
    team("director").fill("#id_reason", REJECTION)
    _complete(team, "director", approval, "notice-rejected")
    assert approval.status == TaskStatus.RETURNED

    # market sees the reason, corrects the notes and submits again (the contract is kept)
    notice = _from_inbox(team, "market", case, "fire_notice", pool=False)
    assert REJECTION in page.inner_text("#rw-rejection")
    assert page.input_value("#id_contract_number") == "HT-2026-001"
    page.fill("#id_notice_notes", "控制室在一层东侧；系统图说明已补充（第 3 页）")
    _complete(team, "market", notice, "notice-resubmitted")

    # the director approves: engineering and technical start at once
    approval = _from_inbox(team, "director", case, "fire_notice_approval", pool=True)
    team("director").check("input[name=decision][value=approve]")
    _complete(team, "director", approval, "notice-approved")
    assert {t.form_key for t in case.tasks.filter(status=TaskStatus.READY)} == {
        "fire_feasibility",
        "fire_intake",
    }

    # 3. technical sets up the floors with their plans from the intake step
    intake = _from_inbox(team, "technical", case, "fire_intake", pool=True)
    for number in (1, 2):
        _add_floor(team, case, number)
    floors_text = team("technical").inner_text("#rw-intake-floors")
    assert "1F" in floors_text and "2F" in floors_text and "无平面图" not in floors_text
    team("technical").check("#id_drawings_legible")
    team("technical").fill("#id_survey_points", "核对二层新增房间的探测器")
    _complete(team, "technical", intake, "intake")

    # 4. engineering: feasibility, broadband, material plan, survey, drawings handover
    eng = team("engineer")
    today = timezone.localdate().isoformat()
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    task = _from_inbox(team, "engineer", case, "fire_feasibility", pool=True)
    eng.fill("#id_panel_brand", "海湾")
    eng.fill("#id_panel_model", "GST200")
    eng.fill("#id_panel_count", "1")
    eng.select_option("#id_interface", "rs232")
    eng.check("input[name=direct_use][value=yes]")
    _complete(team, "engineer", task, "feasibility")

    task = _from_inbox(team, "engineer", case, "fire_broadband_request", pool=True)
    eng.fill("#id_requested_on", yesterday)
    eng.select_option("#id_carrier", "telecom")
    eng.select_option("#id_line_type", "fibre")
    eng.fill("#id_bandwidth", "100M")
    eng.fill("#id_reference_number", "DX2026-0001")
    eng.fill("#id_promised_on", today)
    _complete(team, "engineer", task, "broadband-request")

    task = _from_inbox(team, "engineer", case, "fire_broadband_ready", pool=True)
    eng.fill("#id_line_ready_on", today)
    eng.fill("#id_line_account", "0791-88880001")
    _complete(team, "engineer", task, "broadband-ready")

    task = _from_inbox(team, "engineer", case, "fire_material_plan", pool=True)
    assert eng.input_value("input[name=line-1-item]") == "信息采集机"
    eng.fill("input[name=line-1-model]", "RW-UITD-3")
    eng.fill("input[name=line-3-model]", "12V 2A")
    eng.fill("input[name=line-4-item]", "RS-232 转换模块")
    eng.fill("input[name=line-4-quantity]", "1")
    eng.fill("input[name=line-4-unit]", "个")
    eng.fill("#id_plan_notes", "请一周内到货")
    _complete(team, "engineer", task, "material-plan")
    lines = list(MaterialLine.objects.filter(case=case).order_by("position"))
    items = ["信息采集机", "通讯线缆", "电源适配器", "RS-232 转换模块"]
    assert [line.item for line in lines] == items

    task = _from_inbox(team, "engineer", case, "fire_survey", pool=True)
    assert "核对二层新增房间的探测器" in eng.inner_text("#rw-survey-points")
    eng.fill("#id_surveyed_on", today)
    eng.check("input[name=survey_result][value=matches]")
    eng.fill("#id_control_room", "220V 电源就近，有网络接入点")
    _complete(team, "engineer", task, "survey")

    task = _from_inbox(team, "engineer", case, "fire_drawings_handover", pool=True)
    eng.fill("#id_serial_number", collector.serial_number)
    eng.select_option("#id_handed_to", label=str(users["technical"]))
    _complete(team, "engineer", task, "drawings-handover")
    assert fire_services.installation_file(case).collector == collector

    # 5. procurement records a first delivery, then completes when everything is received
    buyer = team("procurement")
    task = _from_inbox(team, "procurement", case, "fire_procurement", pool=True)
    buyer.fill("#id_order_number", "CG-2026-0001")
    buyer.fill("#id_supplier", "南昌消防器材有限公司")
    buyer.fill("#id_ordered_on", yesterday)
    buyer.fill(f"#id_received_{lines[0].pk}", "1")
    team.shot("procurement", "procurement-partial")
    _submit(buyer, "button[name=save_progress]")
    assert "进度已保存" in buyer.inner_text(".alert-success")
    team.shot("procurement", "procurement-saved")
    task.refresh_from_db()
    assert task.is_open and PurchaseOrder.objects.get(case=case).received_on is None
    assert buyer.input_value(f"#id_received_{lines[0].pk}") == "1"
    for line in lines:
        buyer.fill(f"#id_received_{line.pk}", f"{line.quantity.normalize():f}")
    _complete(team, "procurement", task, "procurement-received")
    assert PurchaseOrder.objects.get(case=case).received_on == timezone.localdate()

    # 6. technical digitises: imports the point table, places the points on the plans
    tech = team("technical")
    task = _from_inbox(team, "technical", case, "fire_digitisation", pool=True)
    team.shot("technical", "digitisation-empty")
    tech.click(f"a[href='{reverse('devices:points_import', args=[collector.pk])}']")
    tech.set_input_files(
        "#id_file",
        _point_table(
            [
                (101, 1, "1F 东侧走廊 1 号感烟"),
                (102, 1, "1F 西侧走廊 2 号感烟"),
                (201, 2, "2F 东侧走廊 1 号感烟"),
                (202, 2, "2F 西侧办公室 2 号感烟"),
            ]
        ),
    )
    with tech.expect_navigation():
        tech.click("#rw-points-import-form button[type=submit]")
    tech.wait_for_selector("#rw-import-ok")
    team.shot("technical", "point-import-checked")
    with tech.expect_navigation():
        tech.click("#rw-import-commit")
    assert tech.url.endswith(reverse("devices:points", args=[collector.pk]))
    team.shot("technical", "point-table")
    points = list(Point.objects.filter(system__collector=collector).order_by("component_address"))
    assert len(points) == 4 and all(p.floor is not None for p in points)

    record = fire_services.installation_file(case)
    assert record.site is not None
    for floor in record.site.floors.order_by("number"):
        _from_inbox(team, "technical", case, "fire_digitisation", pool=False)
        tech.click(f"a[href='{reverse('devices:plan_editor', args=[floor.pk])}']")
        tech.wait_for_selector("#rw-plan-editor[data-ready='1']")
        tech.wait_for_function("document.getElementById('rw-plan-image').naturalWidth > 0")
        on_floor = [p for p in points if p.floor_id == floor.pk]
        for n, point in enumerate(on_floor, start=1):
            handle = tech.locator(f"#rw-plan-list [data-point-id='{point.pk}'] .rw-plan-handle")
            _drag(tech, handle, 0.25 * n, 0.3 if n % 2 else 0.7)
        assert tech.locator(".rw-marker[data-point-id]").count() == len(on_floor)
        tech.click("#rw-plan-save")
        tech.wait_for_selector("#rw-plan-status.alert-success")
        team.shot("technical", f"plan-{floor.name}")
    assert not Point.objects.filter(system__collector=collector, x__isnull=True).exists()

    task = _from_inbox(team, "technical", case, "fire_digitisation", pool=False)
    assert tech.locator("#rw-digitisation-state .text-danger").count() == 0
    tech.check("#id_digitised_confirmed")
    tech.fill("#id_digitisation_notes", "4 个点位已导入并标注在平面图上")
    _complete(team, "technical", task, "digitisation")

    # 7. the monitoring centre checks the digitised drawings and passes them
    watch = team("monitoring")
    task = _from_inbox(team, "monitoring", case, "fire_verification", pool=True)
    watch.check("input[name=verification_result][value=pass]")
    for name in ("floors_ok", "points_ok", "positions_ok"):
        watch.check(f"#id_{name}")
    _complete(team, "monitoring", task, "verification")

    # 8. engineering installs the collector (with a photo) and runs the joint test
    task = _from_inbox(team, "engineer", case, "fire_install", pool=True)
    assert eng.input_value("#id_serial_number") == collector.serial_number
    eng.fill("#id_firmware_version", "2.4.1")
    eng.select_option("#id_line", "broadband")
    eng.set_input_files("#id_photo_1", _png("采集机安装照片.png"))
    eng.fill("#id_install_notes", "RS-232 接主机打印口")
    _complete(team, "engineer", task, "install")
    collector.refresh_from_db()
    assert collector.customer_id == customer.pk

    task = _from_inbox(team, "engineer", case, "fire_joint_test", pool=True)
    team.shot("engineer", "joint-test-task")
    with eng.expect_navigation():
        eng.click("#rw-start-joint-test")
    assert eng.input_value("#id_case") == str(case.pk)
    team.shot("engineer", "joint-test-start")
    with eng.expect_navigation():
        eng.click("#rw-main form button[type=submit]")
    session = JointTest.objects.get(collector=collector, case=case)
    assert "联调已开始" in eng.inner_text(".alert-success")
    fire_steps.trigger_points(session)
    eng.locator("#rw-joint-rows tr.table-success").nth(3).wait_for()  # the page polls: no reload
    team.shot("engineer", "joint-test-signals")
    eng.fill("#id_notes", "四个点位均在 10 秒内报警到中心")
    finish = reverse("devices:joint_test_finish", args=[session.pk])
    with eng.expect_navigation():
        eng.click(f"form[action='{finish}'] button[type=submit]")
    assert "联调通过" in eng.inner_text(".alert-success")
    session.refresh_from_db()
    assert session.status == JointTestStatus.PASSED
    team.shot("engineer", "joint-test-passed")

    task = _from_inbox(team, "engineer", case, "fire_joint_test", pool=False)
    assert eng.input_value("#id_joint_test") == str(session.pk)
    _complete(team, "engineer", task, "joint-test")

    # 9. the monitoring centre takes the customer over; 10. engineering archives
    task = _from_inbox(team, "monitoring", case, "fire_handover", pool=True)
    assert collector.serial_number in watch.inner_text("#rw-handover-collector")
    for name in ("collector_confirmed", "points_confirmed", "customer_confirmed"):
        watch.check(f"#id_{name}")
    _complete(team, "monitoring", task, "handover")
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE

    task = _from_inbox(team, "engineer", case, "fire_archive", pool=True)
    eng.fill("#id_registration_number", "BA-2026-0001")
    eng.check("#id_classified_confirmed")
    _complete(team, "engineer", task, "archive-task")

    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert not case.tasks.filter(status__in=(TaskStatus.READY, TaskStatus.CLAIMED)).exists()
    records = {r.annex: r for r in FormRecord.objects.filter(case=case).select_related("document")}
    assert set(records) == set(Annex.values)  # 附件一…八 and the completion notice
    for form in records.values():
        with form.document.current.file.open("rb") as handle:
            assert handle.read(5) == b"%PDF-", form.annex
    documents = fire_services.case_documents(fire_services.installation_file(case))
    assert documents and all(d.is_frozen for d in documents)
    assert fire_services.installation_file(case).archived_at is not None

    # the archive lists the case with its frozen documents
    eng.click(f"#rw-sidebar a[href='{reverse('onboarding:archive')}']")
    archived = eng.locator(".rw-archived-case").filter(has_text=case.number)
    archived.wait_for()
    assert CUSTOMER in archived.inner_text()
    assert archived.locator(".bi-lock").count() == len(documents)
    team.shot("engineer", "archive-list")

    # market was told in writing that the installation is complete
    message = Notification.objects.get(recipient=users["market"], kind="notice")
    assert CUSTOMER in message.text
    page.goto(f"{base}{reverse('workflow:notifications')}")
    assert message.text in page.inner_text("#rw-main")
    team.shot("market", "completion-notice")

    assert team.errors == []
    assert len(list(SHOTS.glob("*.png"))) == team.shots >= 30
