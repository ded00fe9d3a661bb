"""Joint tests (联调): start a session from a collector's point table, tick each point as its
signal arrives (called by frames_ingest in the transaction that stores the signal), finish with
a result and a PDF report kept with the customer's documents (so the onboarding case shows it).
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.models import DocumentKind
from customers.services import document_upload
from devices.gb26875.codes import component_type_name
from devices.models import (
    Collector,
    DeviceEvent,
    EventKind,
    ItemResult,
    JointTest,
    JointTestItem,
    JointTestStatus,
    Point,
)
from devices.selectors import collector_visible
from workflow.models import Case

# Signals a person in the building produces by triggering a point (resets are not matched).
_SIGNAL_KINDS = (
    EventKind.FIRE,
    EventKind.FAULT,
    EventKind.SUPERVISORY,
    EventKind.STARTED,
    EventKind.FEEDBACK,
)
# "3层", "3F", "3楼", "B1", "负1层", "地下1层" in a panel's description.
_FLOOR_TEXT = re.compile(r"(?:(B|负|地下)\s*(\d{1,3})|(\d{1,3})\s*(?:层|F|楼))", re.IGNORECASE)
# Below this similarity a panel's description and the point table's location are not the same.
_DESCRIPTION_SIMILARITY = 0.3


def floor_in_text(text: str) -> int | None:
    match = _FLOOR_TEXT.search(text)
    if match is None:
        return None
    if match.group(1):
        return -int(match.group(2))
    return int(match.group(3))


def _floor_label(number: int) -> str:
    return f"{number}F" if number > 0 else f"B{-number}"


def _check(actor: User | None, collector: Collector) -> None:
    require_perm(actor, "devices.run_joint_test")
    if actor is not None and not collector_visible(actor, collector):
        raise PermissionDenied("collector not visible")


def joint_test_start(
    *,
    actor: User | None,
    collector: Collector,
    case: Case | None = None,
    max_delay_seconds: int = 10,
) -> JointTest:
    """Open a session with one row per enabled point of the collector."""
    _check(actor, collector)
    if collector.customer_id is None:
        raise ValidationError(_("Install the collector at a customer's building first."))
    if case is not None and case.customer_id != collector.customer_id:
        raise ValidationError({"case": _("The case is not this customer's.")})
    if not 1 <= max_delay_seconds <= 600:
        raise ValidationError({"max_delay_seconds": _("Enter a delay from 1 to 600 seconds.")})
    points = list(
        Point.objects.filter(system__collector=collector, enabled=True).order_by(
            "system__system_type", "system__system_address", "component_address"
        )
    )
    if not points:
        raise ValidationError(_("The collector has no enabled points: import its point table."))
    try:
        with transaction.atomic():
            test = JointTest.objects.create(
                collector=collector,
                case=case,
                max_delay_seconds=max_delay_seconds,
                started_by=actor,
                started_at=timezone.now(),
            )
            JointTestItem.objects.bulk_create(JointTestItem(test=test, point=p) for p in points)
            audit_record(
                actor=actor,
                action="joint_test.start",
                obj=test,
                changes={"points": len(points), "case": case.number if case else None},
            )
    except IntegrityError:
        raise ValidationError(_("A joint test of this collector is already in progress.")) from None
    return test


def _problems(item: JointTestItem, event: DeviceEvent) -> list[str]:
    point = item.point
    assert point is not None
    problems: list[str] = []
    if event.component_type is not None and event.component_type != point.component_type:
        problems.append(
            _("Type differs: point table %(expected)s, signal %(got)s")
            % {
                "expected": component_type_name(point.component_type),
                "got": component_type_name(event.component_type),
            }
        )
    said = floor_in_text(event.description)
    if said is not None and point.floor is not None and said != point.floor.number:
        problems.append(
            _("Floor differs: point table %(expected)s, signal %(got)s")
            % {"expected": point.floor.name, "got": _floor_label(said)}
        )
    location = re.sub(r"\s+", "", point.location)
    text = re.sub(r"\s+", "", event.description)
    if location and text and location not in text and text not in location:
        ratio = difflib.SequenceMatcher(None, location, text).ratio()
        if ratio < _DESCRIPTION_SIMILARITY:
            problems.append(
                _("Description differs: point table “%(expected)s”, signal “%(got)s”")
                % {"expected": point.location, "got": event.description}
            )
    return problems


def joint_tests_match(events: Sequence[DeviceEvent]) -> int:
    """Tick the open sessions' rows with newly stored signals; returns the rows changed.

    Called by frames_ingest inside its transaction: usually no collector of the batch is
    under test and this is one query."""
    signals = [e for e in events if e.kind in _SIGNAL_KINDS and e.component_address is not None]
    if not signals:
        return 0
    tests = {
        t.collector_id: t
        for t in JointTest.objects.filter(
            status=JointTestStatus.OPEN, collector_id__in={e.collector_id for e in signals}
        )
    }
    if not tests:
        return 0
    items = {
        (item.test_id, item.point_id): item
        for item in JointTestItem.objects.filter(test__in=tests.values(), point__isnull=False)
        .select_related("point__floor")
        .order_by("id")
    }
    changed: list[JointTestItem] = []
    created: list[JointTestItem] = []
    for event in signals:
        test = tests.get(event.collector_id)
        if test is None or event.occurred_at < test.started_at.replace(microsecond=0):
            continue
        item = items.get((test.pk, event.point_id)) if event.point_id else None
        if item is None:
            created.append(
                JointTestItem(
                    test=test,
                    event=event,
                    result=ItemResult.UNEXPECTED,
                    delay_seconds=(event.received_at - event.occurred_at).total_seconds(),
                    problems=[_("Not in the point table")]
                    if event.unknown_point
                    else [_("Point not expected in this test (disabled)")],
                )
            )
            continue
        if item.result == ItemResult.PASSED:
            continue  # the point is done; later triggers change nothing
        delay = (event.received_at - event.occurred_at).total_seconds()
        problems = _problems(item, event)
        if problems:
            result = ItemResult.MISMATCH
        elif delay > test.max_delay_seconds:
            result = ItemResult.SLOW
            problems = [
                _("Delay %(delay).1f s is over %(limit)s s")
                % {"delay": delay, "limit": test.max_delay_seconds}
            ]
        else:
            result = ItemResult.PASSED
        item.result, item.event, item.delay_seconds, item.problems = (
            result,
            event,
            delay,
            problems,
        )
        changed.append(item)
    JointTestItem.objects.bulk_update(changed, ["result", "event", "delay_seconds", "problems"])
    JointTestItem.objects.bulk_create(created)
    return len(changed) + len(created)


def joint_test_finish(*, actor: User | None, test: JointTest, notes: str = "") -> JointTest:
    """Close the session: rows still waiting are missing; passed only when every expected
    point passed and nothing unexpected arrived. The PDF report joins the customer's documents."""
    _check(actor, test.collector)
    with transaction.atomic():
        test = JointTest.objects.select_for_update().select_related("collector").get(pk=test.pk)
        if test.status != JointTestStatus.OPEN:
            raise ValidationError(_("This joint test is already finished."))
        test.items.filter(result=ItemResult.PENDING).update(result=ItemResult.MISSING)
        failing = test.items.exclude(result=ItemResult.PASSED).exists()
        test.status = JointTestStatus.FAILED if failing else JointTestStatus.PASSED
        test.finished_at = timezone.now()
        test.finished_by = actor
        test.notes = notes.strip()
        pdf = joint_test_report_pdf(test)
        customer = test.collector.customer
        assert customer is not None
        version = document_upload(
            actor=None,  # the report is the system's record of the test, filed for the actor
            customer=customer,
            kind=DocumentKind.TEST_REPORT,
            title=f"联调报告 {test.collector.serial_number} {test.finished_at:%Y-%m-%d}",
            file_name=f"joint-test-{test.pk}.pdf",
            fileobj=io.BytesIO(pdf),
            size=len(pdf),
            site=test.collector.site,
        )
        test.report = version.document
        test.save()
        audit_record(
            actor=actor,
            action="joint_test.finish",
            obj=test,
            changes={"status": test.status, "report": version.document_id},
        )
    return test


def joint_test_cancel(*, actor: User | None, test: JointTest, reason: str) -> JointTest:
    _check(actor, test.collector)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for cancelling.")})
    with transaction.atomic():
        test = JointTest.objects.select_for_update().get(pk=test.pk)
        if test.status != JointTestStatus.OPEN:
            raise ValidationError(_("This joint test is already finished."))
        test.status = JointTestStatus.CANCELLED
        test.finished_at = timezone.now()
        test.finished_by = actor
        test.notes = reason.strip()
        test.save()
        audit_record(actor=actor, action="joint_test.cancel", obj=test, changes={"reason": reason})
    return test


# --- the report ----------------------------------------------------------------------------


def joint_test_report_pdf(test: JointTest) -> bytes:
    """The session as an A4 PDF in Chinese (reportlab's built-in STSong-Light CID font, so no
    font file has to be shipped)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    collector = test.collector
    customer = collector.customer
    site = collector.site
    items = list(test.items.select_related("point__floor", "point__system", "event").order_by("id"))
    counts = {r: sum(1 for i in items if i.result == r) for r in ItemResult.values}
    local = timezone.localtime
    summary = [
        ["客户", customer.name if customer else "", "建筑", site.name if site else ""],
        [
            "采集机",
            f"{collector.serial_number}（地址 {collector.address}）",
            "位置",
            collector.location,
        ],
        [
            "开始",
            f"{local(test.started_at):%Y-%m-%d %H:%M:%S}",
            "结束",
            f"{local(test.finished_at):%Y-%m-%d %H:%M:%S}" if test.finished_at else "",
        ],
        [
            "结论",
            str(JointTestStatus(test.status).label),
            "允许延时",
            f"{test.max_delay_seconds} 秒",
        ],
        [
            "统计",
            f"通过 {counts['passed']}，不符 {counts['mismatch']}，超时 {counts['slow']}，"
            f"未收到 {counts['missing']}，意外信号 {counts['unexpected']}",
            "测试人",
            str(test.started_by or ""),
        ],
    ]
    rows = [["#", "控制器编码", "部件类型", "楼层", "位置", "结果", "延时(秒)", "问题"]]
    for n, item in enumerate(items, start=1):
        point, event = item.point, item.event
        type_code: int | None
        if point is not None:
            code, type_code, location = str(point), point.component_type, point.location
        elif event is not None:
            code, type_code, location = (
                str(event.component_address or ""),
                event.component_type,
                event.description,
            )
        else:
            code, type_code, location = "", None, ""
        rows.append(
            [
                str(n),
                code,
                component_type_name(type_code) if type_code is not None else "",
                point.floor.name if point and point.floor else "",
                Paragraph(escape(location), body),
                str(ItemResult(item.result).label),
                f"{item.delay_seconds:.1f}" if item.delay_seconds is not None else "",
                Paragraph(escape("；".join(item.problems)), body),
            ]
        )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"联调报告 {collector.serial_number}",
    )
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), font, 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    header = TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef"))])
    table = Table(
        rows,
        repeatRows=1,
        colWidths=[10 * mm, 28 * mm, 38 * mm, 16 * mm, 60 * mm, 22 * mm, 18 * mm, 80 * mm],
    )
    table.setStyle(grid)
    table.setStyle(header)
    info = Table(summary, colWidths=[20 * mm, 110 * mm, 22 * mm, 110 * mm])
    info.setStyle(grid)
    story = [
        Paragraph("城市消防远程监控系统 联调测试报告", title),
        info,
        Spacer(1, 6 * mm),
        table,
    ]
    if test.notes:
        story += [Spacer(1, 4 * mm), Paragraph(f"备注：{escape(test.notes)}", body)]
    doc.build(story)
    return buffer.getvalue()
