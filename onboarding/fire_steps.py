"""Run the fire-monitoring onboarding SOP's steps with plausible values, as a person would.

Each step binds the step's own form (the same validation as the task page) and completes the
task through `task_complete`. Used by the demo data and by the tests that walk the process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from customers import services as customer_services
from customers.demo import _pdf, _png
from customers.models import Customer, DocumentKind, Site
from devices import services as device_services
from devices.joint_test_services import joint_test_finish, joint_test_start, joint_tests_match
from devices.models import Collector, DeviceEvent, EventKind, JointTest, Point
from onboarding import fire_services
from onboarding.models import MaterialLine
from workflow import registry
from workflow.models import Case, Task, TaskStatus
from workflow.services import task_complete

PROCESS_KEY = "fire-monitoring-onboarding"
REQUIRED_DRAWINGS = (
    (DocumentKind.FLOOR_PLAN, "大楼平面结构图", "pdf"),
    (DocumentKind.SYSTEM_DIAGRAM, "火灾自动报警系统图", "pdf"),
    (DocumentKind.PANEL_MANUAL, "报警控制器使用和操作说明书", "pdf"),
    (DocumentKind.CODING, "消防设施编码及代码说明", "pdf"),
)


def pdf_upload(name: str, title: str = "Ruwang") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _pdf(title), content_type="application/pdf")


def png_upload(name: str, seed: int = 1) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _png(160, 100, 3, seed), content_type="image/png")


def attach_drawings(customer: Customer, site: Site | None = None) -> None:
    """The four drawings the installation notice requires, among the customer's documents."""
    for kind, title, _ext in REQUIRED_DRAWINGS:
        data = _pdf(title)
        customer_services.document_upload(
            actor=None,
            customer=customer,
            kind=kind,
            title=title,
            file_name=f"{kind}.pdf",
            fileobj=SimpleUploadedFile(f"{kind}.pdf", data),
            size=len(data),
            site=site,
        )


def open_task(case: Case, form_key: str) -> Task:
    # Read afresh, as a request would: not through `case`, whose customer may be stale.
    task = (
        Task.objects.filter(
            case_id=case.pk, form_key=form_key, status__in=(TaskStatus.READY, TaskStatus.CLAIMED)
        )
        .select_related("case__customer")
        .order_by("-id")
        .first()
    )
    if task is None:
        raise LookupError(f"{case.number}: no open task {form_key}")
    return task


def complete(
    case: Case,
    form_key: str,
    actor: User,
    data: Mapping[str, Any],
    files: Mapping[str, Any] | None = None,
) -> list[Task]:
    """Fill the step's form as posted by `actor` and complete it; ValidationError on bad input."""
    task = open_task(case, form_key)
    spec = registry.FORMS[form_key]
    form = registry.bound_form(spec, task, {k: v for k, v in data.items()}, dict(files or {}))
    if not form.is_valid():
        messages = [f"{k}: {'; '.join(str(e) for e in v)}" for k, v in form.errors.items()]
        raise ValidationError(messages)
    return task_complete(actor=actor, task=task, data=form.cleaned_data)


def _day(days: int = 0) -> str:
    return (timezone.localdate() - dt.timedelta(days=days)).isoformat()


def notice_data(customer: Customer, number: str) -> dict[str, Any]:
    site = customer.sites.order_by("id").first()
    return {
        "contract_number": number,
        "signed_on": _day(3),
        "starts_on": _day(2),
        "ends_on": (timezone.localdate() + dt.timedelta(days=3 * 365)).isoformat(),
        "term_months": "36",
        "annual_fee": "4800.00",
        "warranty_months": "12",
        "site": str(site.pk) if site else "",
        "notice_notes": "控制室在一层东侧",
    }


def step_notice(case: Case, actor: User, number: str) -> list[Task]:
    return complete(
        case,
        "fire_notice",
        actor,
        notice_data(case.customer, number),
        {"contract_file": pdf_upload("contract.pdf", "Contract")},
    )


def step_approve(case: Case, actor: User, *, reject: str = "") -> list[Task]:
    data = {"decision": "reject", "reason": reject} if reject else {"decision": "approve"}
    return complete(case, "fire_notice_approval", actor, data)


def floors_with_plans(case: Case, floors: int = 2) -> list[Any]:
    site = fire_services.installation_file(case).site
    assert site is not None
    levels = []
    for n in range(1, floors + 1):
        plan = _png(240, 160, 4, n)
        levels.append(
            customer_services.floor_save(
                actor=None,
                site=site,
                number=n,
                plan_upload=(f"{n}F.png", SimpleUploadedFile(f"{n}F.png", plan), len(plan)),
            )
        )
    return levels


def step_intake(case: Case, actor: User) -> list[Task]:
    return complete(
        case,
        "fire_intake",
        actor,
        {"drawings_legible": "on", "survey_points": "核对二层新增房间的探测器"},
    )


def step_feasibility(case: Case, actor: User, *, direct: bool = True) -> list[Task]:
    return complete(
        case,
        "fire_feasibility",
        actor,
        {
            "panel_brand": "海湾",
            "panel_model": "GST200",
            "panel_count": "1",
            "interface": "rs232",
            "direct_use": "yes" if direct else "no",
            "retrofit_advice": "" if direct else "加装 RS-232 转换模块",
        },
    )


def step_broadband(case: Case, actor: User) -> list[Task]:
    complete(
        case,
        "fire_broadband_request",
        actor,
        {
            "requested_on": _day(1),
            "carrier": "telecom",
            "line_type": "fibre",
            "reference_number": f"DX{case.pk:06d}",
            "promised_on": _day(0),
        },
    )
    return complete(
        case,
        "fire_broadband_ready",
        actor,
        {"line_ready_on": _day(0), "line_account": f"0791-{case.pk:08d}"},
    )


def step_material_plan(case: Case, actor: User) -> list[Task]:
    rows = [
        ("信息采集机", "RW-UITD-3", "1", "台"),
        ("通讯线缆", "RVVP 2×1.0", "50", "米"),
        ("电源适配器", "12V 2A", "1", "个"),
    ]
    data: dict[str, Any] = {"plan_notes": "请一周内到货"}
    for n, (item, model, qty, unit) in enumerate(rows, start=1):
        data.update(
            {
                f"line-{n}-item": item,
                f"line-{n}-model": model,
                f"line-{n}-quantity": qty,
                f"line-{n}-unit": unit,
            }
        )
    return complete(case, "fire_material_plan", actor, data)


def procurement_data(case: Case, *, all_received: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_number": f"CG-{case.pk:05d}",
        "supplier": "南昌消防器材有限公司",
        "ordered_on": _day(1),
    }
    for line in MaterialLine.objects.filter(case=case):
        data[f"received_{line.pk}"] = str(line.quantity if all_received else 0)
    return data


def step_procurement(case: Case, actor: User) -> list[Task]:
    return complete(case, "fire_procurement", actor, procurement_data(case))


def step_survey(case: Case, actor: User, *, differences: str = "") -> list[Task]:
    return complete(
        case,
        "fire_survey",
        actor,
        {
            "surveyed_on": _day(0),
            "survey_result": "differs" if differences else "matches",
            "differences": differences,
            "control_room": "220V 电源就近，有网络接入点",
        },
    )


def step_update_drawings(case: Case, actor: User) -> list[Task]:
    customer = case.customer
    plan = customer.documents.filter(kind=DocumentKind.FLOOR_PLAN).order_by("id").first()
    data = _pdf("updated plan")
    customer_services.document_upload(
        actor=actor,
        customer=customer,
        kind=DocumentKind.FLOOR_PLAN,
        title=plan.title if plan else "大楼平面结构图",
        file_name="plan-v2.pdf",
        fileobj=SimpleUploadedFile("plan-v2.pdf", data),
        size=len(data),
        document=plan,
    )
    return complete(case, "fire_drawings_update", actor, {"update_notes": "按现场更新二层平面图"})


def step_handover_drawings(case: Case, actor: User, collector: Collector) -> list[Task]:
    return complete(
        case, "fire_drawings_handover", actor, {"serial_number": collector.serial_number}
    )


def digitise(case: Case, per_floor: int = 2) -> list[Point]:
    """The technical department's work: the point table on the collector, placed on the plans."""
    record = fire_services.installation_file(case)
    assert record.collector is not None and record.site is not None
    system = device_services.fire_system_save(
        actor=None, collector=record.collector, data={"system_type": 1, "system_address": 1}
    )
    points = []
    for floor in record.site.floors.order_by("number"):
        for n in range(1, per_floor + 1):
            number = floor.number * 100 + n
            points.append(
                device_services.point_save(
                    actor=None,
                    system=system,
                    data={
                        "component_address": (1 << 16) | number,
                        "component_type": 40,
                        "floor": floor,
                        "location": f"{floor.name} 走廊 {n} 号感烟",
                        "x": 0.2 * n,
                        "y": 0.5,
                    },
                )
            )
    return points


def step_digitisation(case: Case, actor: User) -> list[Task]:
    return complete(case, "fire_digitisation", actor, {"digitised_confirmed": "on"})


def step_verification(case: Case, actor: User, *, problems: str = "") -> list[Task]:
    if problems:
        data = {"verification_result": "fail", "problems": problems}
    else:
        data = {
            "verification_result": "pass",
            "floors_ok": "on",
            "points_ok": "on",
            "positions_ok": "on",
        }
    return complete(case, "fire_verification", actor, data)


def step_install(case: Case, actor: User) -> list[Task]:
    record = fire_services.installation_file(case)
    assert record.collector is not None and record.site is not None
    return complete(
        case,
        "fire_install",
        actor,
        {
            "serial_number": record.collector.serial_number,
            "site": str(record.site.pk),
            "location": "一层消防控制室",
            "installed_on": _day(0),
            "firmware_version": "2.4.1",
            "line": "broadband",
        },
        {"photo_1": png_upload("install.png")},
    )


def trigger_points(test: JointTest, *, skip: int = 0) -> int:
    """The building's side of a joint test: every point of the session but the last `skip`
    raises a fire alarm that reaches the centre (stored and matched as the gateway would)."""
    items = list(test.items.select_related("point").order_by("id"))
    now = timezone.now()
    events = []
    for item in items[: len(items) - skip]:
        point = item.point
        assert point is not None
        events.append(
            DeviceEvent.objects.create(
                collector=test.collector,
                kind=EventKind.FIRE,
                info_type=2,
                system_type=1,
                system_address=1,
                component_type=point.component_type,
                component_address=point.component_address,
                point=point,
                description=point.location,
                occurred_at=now,
                received_at=now,
            )
        )
    return joint_tests_match(events)


def run_joint_test(case: Case, actor: User | None, *, skip: int = 0) -> JointTest:
    """A joint test where every point but the last `skip` reports a fire alarm."""
    record = fire_services.installation_file(case)
    assert record.collector is not None
    test = joint_test_start(actor=actor, collector=record.collector, case=case)
    trigger_points(test, skip=skip)
    return joint_test_finish(actor=actor, test=test)


def step_joint_test(case: Case, actor: User, test: JointTest) -> list[Task]:
    return complete(case, "fire_joint_test", actor, {"joint_test": str(test.pk)})


def step_rectification(case: Case, actor: User) -> list[Task]:
    return complete(
        case,
        "fire_rectification",
        actor,
        {"rectified_on": _day(0), "actions": "更换三层 2 号探测器底座接线"},
    )


def step_handover(case: Case, actor: User) -> list[Task]:
    contact = case.customer.contacts.order_by("-is_primary", "id").first()
    return complete(
        case,
        "fire_handover",
        actor,
        {
            "monitoring_starts_on": _day(0),
            "collector_confirmed": "on",
            "points_confirmed": "on",
            "customer_confirmed": "on",
            "duty_contact": str(contact.pk) if contact else "",
        },
    )


def step_archive(case: Case, actor: User) -> list[Task]:
    return complete(
        case,
        "fire_archive",
        actor,
        {"registration_number": f"BA-{case.pk:05d}", "classified_confirmed": "on"},
    )
