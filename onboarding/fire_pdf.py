"""The printable forms of the fire-monitoring onboarding SOP (附件一…八 and the completion notice).

Each form is rendered from the case (its data, records, customer, collector) with the company's
letterhead and the form's document number, and filed with the case as a PDF document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.forms import FileInput
from django.utils import timezone

from accounts.models import User
from customers.models import Customer, Document, DocumentKind, Site
from devices.gb26875.codes import component_type_name
from devices.models import ItemResult, JointTest, JointTestStatus, Point
from onboarding import fire_services
from onboarding.models import Annex, FormRecord, MaterialLine, PurchaseOrder, ServiceContract
from onboarding.pdf import (
    FieldRows,
    Letterhead,
    Paragraphs,
    Section,
    Signature,
    TableSection,
    form_pdf,
)
from workflow.models import Case, Task
from workflow.registry import FORMS
from workflow.selectors import display_value
from workflow.services import to_json


def _day(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d")


def _rows(
    form_key: str, data: Mapping[str, Any], skip: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """(label, value) for the fields of a step form, labelled as the form labels them."""
    spec = FORMS[form_key]
    rows = []
    for name, field in spec.form_class.base_fields.items():
        if name in skip or isinstance(field.widget, FileInput):
            continue
        rows.append((str(field.label), display_value(field, data.get(name))))
    return rows


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return str(getattr(user, "display_name", "") or user.get_username())


# --- sections ------------------------------------------------------------------------------------


def _customer_section(customer: Customer, site: Site | None) -> list[Section]:
    rows = [
        ("客户名称", customer.name),
        ("统一社会信用代码", customer.credit_code or ""),
        ("单位类别", customer.get_category_display() if customer.category else ""),
        ("行业", customer.industry or ""),
        ("所在地区", customer.region.full_name if customer.region else ""),
        ("地址", customer.address or ""),
    ]
    sections: list[Section] = [FieldRows("客户基本情况", rows)]
    contacts = [
        [c.name, c.get_role_display() if c.role else "", c.mobile or c.landline or "", c.email]
        for c in customer.contacts.order_by("-is_primary", "id")
    ]
    sections.append(
        TableSection("联系人", ["姓名", "职责", "电话", "电子邮件"], contacts, [2, 3, 2, 3])
    )
    if site is not None:
        sections.append(
            FieldRows(
                "建筑情况",
                [
                    ("建筑名称", site.name),
                    ("地址", site.address),
                    ("使用性质", site.use),
                    ("结构", site.get_structure_display() if site.structure else ""),
                    (
                        "耐火等级",
                        site.get_fire_resistance_display() if site.fire_resistance else "",
                    ),
                    ("建筑高度（米）", str(site.height_m or "")),
                    ("地上层数", str(site.floors_above)),
                    ("地下层数", str(site.floors_below)),
                    ("建筑面积（平方米）", str(site.floor_area_m2 or "")),
                    ("建成年份", str(site.construction_year or "")),
                    ("消防控制室位置", site.control_room_location),
                    ("消防控制室电话", site.control_room_phone),
                ],
            )
        )
    return sections


def _documents_table(heading: str, documents: list[Document]) -> TableSection:
    rows = [
        [
            d.get_kind_display(),
            d.title,
            f"v{d.current.number}" if d.current else "",
            _day(d.current.uploaded_at) if d.current else "",
        ]
        for d in documents
    ]
    return TableSection(heading, ["类别", "名称", "版本", "上传日期"], rows, [2, 5, 1, 2])


def _collector_rows(record: Any) -> FieldRows:
    collector = record.collector
    if collector is None:
        return FieldRows("信息采集机", [("序列号", "")])
    return FieldRows(
        "信息采集机",
        [
            ("序列号", collector.serial_number),
            ("协议地址", f"{collector.address}（{collector.address_hex}）"),
            ("厂家 / 型号", f"{collector.manufacturer} {collector.model}".strip()),
            ("固件版本", collector.firmware_version),
            ("通讯线路", collector.get_line_display()),
            ("ICCID", collector.iccid),
            ("安装建筑", collector.site.name if collector.site else ""),
            ("安装位置", collector.location),
            ("安装日期", _day(collector.installed_on)),
            ("质保截止", _day(collector.warranty_ends_on)),
        ],
    )


def _points_table(record: Any) -> TableSection:
    points = (
        Point.objects.filter(system__collector=record.collector)
        .select_related("system", "floor")
        .order_by("system__system_type", "system__system_address", "component_address")
        if record.collector
        else Point.objects.none()
    )
    rows = [
        [
            str(p),
            p.native_code,
            component_type_name(p.component_type),
            p.floor.name if p.floor else "",
            p.location,
            "是" if p.x is not None and p.y is not None else "否",
            "是" if p.enabled else "否",
        ]
        for p in points
    ]
    return TableSection(
        "点位表",
        ["部件地址", "控制器编码", "部件类型", "楼层", "位置", "已标注", "启用"],
        rows,
        [2, 2, 2.5, 1.2, 4, 1.2, 1],
    )


def _floors_table(record: Any) -> TableSection:
    floors = (
        list(record.site.floors.select_related("plan").order_by("number")) if record.site else []
    )
    counts: dict[int, int] = {}
    if record.collector is not None:
        for floor_id in Point.objects.filter(
            system__collector=record.collector, floor__isnull=False
        ).values_list("floor_id", flat=True):
            counts[floor_id] = counts.get(floor_id, 0) + 1
    rows = [
        [str(f.number), f.name, f.plan.title if f.plan else "（无）", str(counts.get(f.pk, 0))]
        for f in floors
    ]
    return TableSection("楼层及平面图", ["层号", "楼层", "平面图", "点位数"], rows, [1, 2, 5, 1.5])


def _joint_test_sections(test: JointTest | None) -> list[Section]:
    if test is None:
        return [Paragraphs("联调测试", "尚无联调测试记录。")]
    items = list(test.items.select_related("point__floor", "event").order_by("id"))
    counts = {r: sum(1 for i in items if i.result == r) for r in ItemResult.values}
    summary = FieldRows(
        "联调测试",
        [
            ("开始时间", timezone.localtime(test.started_at).strftime("%Y-%m-%d %H:%M")),
            (
                "结束时间",
                timezone.localtime(test.finished_at).strftime("%Y-%m-%d %H:%M")
                if test.finished_at
                else "",
            ),
            ("结论", str(JointTestStatus(test.status).label)),
            ("允许延时", f"{test.max_delay_seconds} 秒"),
            (
                "统计",
                f"共 {len(items)} 点：通过 {counts['passed']}，不符 {counts['mismatch']}，"
                f"超时 {counts['slow']}，未收到 {counts['missing']}，"
                f"意外信号 {counts['unexpected']}",
            ),
            ("备注", test.notes),
        ],
    )
    failing = [
        [
            str(i.point) if i.point else str(i.event.component_address if i.event else ""),
            i.point.floor.name if i.point and i.point.floor else "",
            i.point.location if i.point else (i.event.description if i.event else ""),
            str(ItemResult(i.result).label),
            "；".join(i.problems),
        ]
        for i in items
        if i.result != ItemResult.PASSED
    ]
    table = TableSection(
        "未通过的点位", ["部件地址", "楼层", "位置", "结果", "问题"], failing, [2, 1.2, 4, 1.5, 4]
    )
    return [summary, table]


# --- the forms -----------------------------------------------------------------------------------


def _sections(
    case: Case, annex: str, data: Mapping[str, Any], extra: Mapping[str, Any]
) -> list[Section]:
    record = fire_services.installation_file(case)
    customer = case.customer
    if annex == Annex.NOTICE:
        contract = ServiceContract.objects.filter(case=case).first()
        contract_rows = _rows("fire_notice", data, skip=("contract_file",))
        if contract is not None and contract.document is not None:
            contract_rows.append(("合同文件", contract.document.title))
        kinds = (
            DocumentKind.FLOOR_PLAN,
            DocumentKind.SYSTEM_DIAGRAM,
            DocumentKind.PANEL_MANUAL,
            DocumentKind.CODING,
        )
        attachments = list(
            Document.objects.filter(customer=customer, kind__in=kinds, current__isnull=False)
            .select_related("current")
            .order_by("kind", "title")
        )
        return [
            FieldRows("合同及安装要求", contract_rows),
            *_customer_section(customer, record.site),
            _documents_table("随附资料", attachments),
        ]
    if annex == Annex.BROADBAND:
        return [
            FieldRows("宽带申请", _rows("fire_broadband_request", data)),
            FieldRows("开通情况", _rows("fire_broadband_ready", data)),
        ]
    if annex == Annex.MATERIALS:
        lines = MaterialLine.objects.filter(case=case).order_by("position")
        rows = [
            [
                str(line.position),
                line.item,
                line.model,
                f"{line.quantity.normalize():f}",
                line.unit,
                f"{line.received.normalize():f}",
                line.notes,
            ]
            for line in lines
        ]
        sections: list[Section] = [
            TableSection(
                "材料清单",
                ["序号", "名称", "型号", "数量", "单位", "已到货", "备注"],
                rows,
                [0.8, 3, 3, 1.2, 1, 1.2, 3],
            ),
            Paragraphs("说明", str(data.get("plan_notes") or "")),
        ]
        order = PurchaseOrder.objects.filter(case=case).first()
        if order is not None:
            sections.append(
                FieldRows(
                    "采购",
                    [
                        ("采购单号", order.order_number),
                        ("供应商", order.supplier),
                        ("下单日期", _day(order.ordered_on)),
                        ("全部到货日期", _day(order.received_on)),
                    ],
                )
            )
        return sections
    if annex == Annex.FEASIBILITY:
        return [
            FieldRows("报警控制器及接口", _rows("fire_feasibility", data)),
            FieldRows("现场勘察", _rows("fire_survey", data)),
            Paragraphs("技术部提示的勘察要点", str(data.get("survey_points") or "")),
        ]
    if annex == Annex.DIGITISATION:
        state = fire_services.digitisation_state(record)
        return [
            FieldRows(
                "录入情况",
                [
                    ("建筑", record.site.name if record.site else ""),
                    ("信息采集机", record.collector.serial_number if record.collector else ""),
                    ("楼层数", str(state.floors)),
                    ("启用点位数", str(state.points)),
                    ("未标注位置的点位", str(state.unplaced)),
                    *_rows("fire_digitisation", data),
                ],
            ),
            _floors_table(record),
            _points_table(record),
        ]
    if annex == Annex.VERIFICATION:
        state = fire_services.digitisation_state(record)
        return [
            FieldRows(
                "校对对象",
                [
                    ("建筑", record.site.name if record.site else ""),
                    ("楼层数", str(state.floors)),
                    ("启用点位数", str(state.points)),
                    ("未标注位置的点位", str(state.unplaced)),
                ],
            ),
            FieldRows("校对结果", _rows("fire_verification", data)),
        ]
    if annex == Annex.COMMISSIONING:
        test = extra.get("joint_test")
        return [
            _collector_rows(record),
            FieldRows("安装调试", _rows("fire_install", data, skip=("serial_number", "site"))),
            *_joint_test_sections(test if isinstance(test, JointTest) else None),
        ]
    if annex == Annex.HANDOVER:
        contract = ServiceContract.objects.filter(case=case).first()
        return [
            *_customer_section(customer, record.site),
            _collector_rows(record),
            FieldRows("移交确认", _rows("fire_handover", data)),
            FieldRows(
                "售后服务",
                [
                    ("质保期（月）", str(contract.warranty_months if contract else 12)),
                    ("售后服务", "工程部负责一年售后：定期回访、采集机升级、故障处理"),
                ],
            ),
        ]
    # the completion notice
    collector = record.collector
    install = fire_services.last_completed(case, "fire_install")
    test = extra.get("joint_test")
    text = (
        f"市场部：\n　　客户“{customer.name}”"
        f"{('（' + record.site.name + '）') if record.site else ''}的信息采集机"
        f"{collector.serial_number if collector else ''}已于 "
        f"{_day(collector.installed_on) if collector else ''} 安装调试完成，"
        f"并与远程监控中心联调测试全部通过"
        f"{('（' + _day(test.finished_at) + '）') if isinstance(test, JointTest) else ''}。"
        "客户信息采集机安装调试的售中服务已基本完成，特此通知。"
    )
    return [
        Paragraphs("", text),
        _collector_rows(record),
        FieldRows(
            "安装人员",
            [("安装调试", _person(install.completed_by) if install else "")],
        ),
    ]


def _signatures(
    case: Case, annex: str, actor: User | None, approver: User | None
) -> list[Signature]:
    today = _day(timezone.now())
    if annex == Annex.NOTICE:
        notice = fire_services.last_completed(case, "fire_notice")
        header = fire_services.form_header(annex)
        return [
            Signature(
                "填表人",
                _person(notice.completed_by) if notice else "",
                _day(notice.completed_at) if notice else "",
            ),
            Signature("审批人", header.approver or _person(approver), today),
        ]
    if annex == Annex.MATERIALS:
        plan = fire_services.last_completed(case, "fire_material_plan")
        if plan is not None and plan.completed_by is not None:
            signatures = [
                Signature("编制人", _person(plan.completed_by), _day(plan.completed_at)),
                Signature("采购", _person(actor), today),
            ]
        else:
            signatures = [Signature("编制人", _person(actor), today)]
        return signatures
    labels: dict[str, str] = {
        Annex.BROADBAND: "申请人",
        Annex.FEASIBILITY: "勘察人",
        Annex.DIGITISATION: "录入人",
        Annex.VERIFICATION: "校对人",
        Annex.COMMISSIONING: "工程部",
        Annex.HANDOVER: "接收人",
        Annex.COMPLETION: "工程部",
    }
    signatures = [Signature(labels.get(annex, "填表人"), _person(actor), today)]
    header = fire_services.form_header(annex)
    if header.approver:
        signatures.append(Signature("审核", header.approver, ""))
    if annex == Annex.COMMISSIONING:
        signatures.append(Signature("远程监控中心", "", ""))
    if annex == Annex.HANDOVER:
        install = fire_services.last_completed(case, "fire_install")
        signatures.insert(
            0, Signature("移交人", _person(install.completed_by) if install else "", "")
        )
    return signatures


def annex_pdf(
    case: Case,
    annex: str,
    *,
    actor: User | None = None,
    approver: User | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    extra = dict(extra or {})
    plain = {k: v for k, v in extra.items() if not k.startswith("_")}
    data = {**case.data, **to_json({k: v for k, v in plain.items() if k != "joint_test"})}
    header = fire_services.form_header(annex)
    company = fire_services.company_profile()
    return form_pdf(
        letterhead=Letterhead(company.name, company.address, company.phone),
        title=header.title,
        doc_number=header.doc_number,
        version=header.version,
        case_number=case.number,
        customer_name=case.customer.name,
        sections=_sections(case, annex, data, plain),
        signatures=_signatures(case, annex, actor, approver),
        generated_at=timezone.now(),
    )


def file_annex(
    case: Case,
    annex: str,
    *,
    task: Task | None = None,
    actor: User | None = None,
    approver: User | None = None,
    extra: Mapping[str, Any] | None = None,
) -> FormRecord:
    pdf = annex_pdf(case, annex, actor=actor, approver=approver, extra=extra)
    return fire_services.form_record_file(
        case=case, annex=annex, pdf=pdf, task_id=task.pk if task else None
    )
