"""Writes of the fire-monitoring onboarding SOP (客户入网作业指导书): contract, material plan and
purchase order, the collector chosen for the building, the forms' PDFs, go-live and archive.

The step forms call these from their completion hooks, inside `task_complete`'s transaction:
a refusal anywhere undoes the whole step. The process itself (actor None) files the PDFs.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record
from customers.models import Customer, Document, DocumentKind, Site
from customers.services import document_upload, documents_freeze
from devices.models import Collector, CollectorStatus, FireSystem, Point
from devices.services import collector_install
from onboarding.models import (
    Annex,
    CompanyProfile,
    FormHeader,
    FormRecord,
    InstallationFile,
    MaterialLine,
    PurchaseOrder,
    ServiceContract,
)
from service.services import add_months
from workflow.models import Case, Task, TaskStatus

# Printed on the forms until the system administrator sets the company's own details.
DEFAULT_HEADERS: dict[str, tuple[str, str]] = {
    Annex.NOTICE: ("客户入网安装通知书", "RW-JL-01"),
    Annex.BROADBAND: ("宽带接入申请表", "RW-JL-02"),
    Annex.MATERIALS: ("设备安装材料计划表", "RW-JL-03"),
    Annex.FEASIBILITY: ("现场勘察及改造意见表", "RW-JL-04"),
    Annex.DIGITISATION: ("图纸录入整理记录表", "RW-JL-05"),
    Annex.VERIFICATION: ("图纸录入校对记录表", "RW-JL-06"),
    Annex.COMMISSIONING: ("安装调试及联调测试记录", "RW-JL-07"),
    Annex.HANDOVER: ("客户移交远程监控中心确认表", "RW-JL-08"),
    Annex.COMPLETION: ("售中服务完成通知书", "RW-JL-09"),
}
DEFAULT_COMPANY = "城市消防远程监控中心"


def company_profile() -> CompanyProfile:
    profile = CompanyProfile.objects.order_by("id").first()
    return profile or CompanyProfile(name=DEFAULT_COMPANY)


def form_header(annex: str) -> FormHeader:
    header = FormHeader.objects.filter(annex=annex).first()
    if header is not None:
        return header
    title, number = DEFAULT_HEADERS[annex]
    return FormHeader(annex=annex, title=title, doc_number=number)


def form_headers_ensure() -> int:
    """Create the editable header rows that are missing (after migrate)."""
    try:
        with connection.cursor() as cursor:
            if FormHeader._meta.db_table not in connection.introspection.table_names(cursor):
                return 0
    except DatabaseError:
        return 0
    have = set(FormHeader.objects.values_list("annex", flat=True))
    missing = [
        FormHeader(annex=annex, title=title, doc_number=number)
        for annex, (title, number) in DEFAULT_HEADERS.items()
        if annex not in have
    ]
    FormHeader.objects.bulk_create(missing)
    return len(missing)


def last_completed(case: Case, form_key: str) -> Task | None:
    """The latest completion (or return) of a step of the case, with who did it."""
    return (
        case.tasks.filter(form_key=form_key, status__in=(TaskStatus.COMPLETED, TaskStatus.RETURNED))
        .select_related("completed_by")
        .order_by("-completed_at", "-id")
        .first()
    )


# --- the installation file ---------------------------------------------------------------------


def installation_file(case: Case) -> InstallationFile:
    found = InstallationFile.objects.filter(case=case).select_related("site", "collector").first()
    if found is not None:
        return found
    return InstallationFile.objects.create(case=case, customer_id=case.customer_id)


def _upload(
    *,
    actor: User | None,
    customer: Customer,
    kind: str,
    title: str,
    upload: Any,
    site: Site | None = None,
    document: Document | None = None,
) -> Document:
    version = document_upload(
        actor=actor,
        customer=customer,
        kind=kind,
        title=title,
        file_name=upload.name,
        fileobj=upload,
        size=upload.size,
        site=site,
        document=document,
    )
    return version.document


def contract_save(
    *, actor: User, case: Case, data: Mapping[str, Any], upload: Any | None
) -> ServiceContract:
    """The onboarding contract of a case: created with the notice, corrected when it comes back."""
    require_perm(actor, "customers.change_customer")
    contract = ServiceContract.objects.filter(case=case).first()
    created = contract is None
    if contract is None:
        if upload is None:
            raise ValidationError({"contract_file": _("Upload the signed contract.")})
        contract = ServiceContract(case=case, customer=case.customer, created_by=actor)
    taken = ServiceContract.objects.filter(number=data["contract_number"]).exclude(pk=contract.pk)
    if taken.exists():
        raise ValidationError({"contract_number": _("This contract number is already used.")})
    contract.number = data["contract_number"]
    contract.signed_on = data["signed_on"]
    contract.starts_on = data["starts_on"]
    contract.ends_on = data["ends_on"]
    contract.term_months = data["term_months"]
    contract.annual_fee = data["annual_fee"]
    contract.warranty_months = data["warranty_months"]
    if upload is not None:
        contract.document = _upload(
            actor=actor,
            customer=case.customer,
            kind=DocumentKind.CONTRACT,
            title=_("Onboarding contract %(number)s") % {"number": contract.number},
            upload=upload,
            document=contract.document,
        )
    contract.full_clean()
    contract.save()
    audit_record(
        actor=actor,
        action="contract.create" if created else "contract.update",
        obj=contract,
        changes={"number": contract.number, "case": case.number},
    )
    return contract


def notice_site_set(*, case: Case, site: Site) -> InstallationFile:
    if site.customer_id != case.customer_id:
        raise ValidationError({"site": _("The building does not belong to this customer.")})
    record = installation_file(case)
    record.site = site
    record.save(update_fields=["site"])
    return record


# --- material plan and purchase order ---------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    item: str
    model: str
    quantity: Decimal
    unit: str
    notes: str


def material_plan_save(*, actor: User, case: Case, lines: Sequence[LineInput]) -> int:
    """Replace the case's material plan with `lines` (positions 1…n)."""
    if not lines:
        raise ValidationError(_("Enter at least one line of the material plan."))
    if PurchaseOrder.objects.filter(case=case, received_on__isnull=False).exists():
        raise ValidationError(_("The materials have already been received."))
    MaterialLine.objects.filter(case=case).delete()
    MaterialLine.objects.bulk_create(
        MaterialLine(
            case=case,
            position=n,
            item=line.item,
            model=line.model,
            quantity=line.quantity,
            unit=line.unit,
            notes=line.notes,
        )
        for n, line in enumerate(lines, start=1)
    )
    audit_record(actor=actor, action="material_plan.save", obj=case, changes={"lines": len(lines)})
    return len(lines)


def purchase_order_save(
    *,
    actor: User,
    case: Case,
    order_number: str,
    supplier: str,
    ordered_on: dt.date,
    received: Mapping[int, Decimal],
    complete: bool,
) -> PurchaseOrder:
    """Record the order and what has arrived per line; `complete` needs every line received."""
    lines = {line.pk: line for line in MaterialLine.objects.filter(case=case)}
    unknown = set(received) - set(lines)
    if unknown:
        raise ValidationError(_("A line of this material plan no longer exists; reload the page."))
    for pk, quantity in received.items():
        line = lines[pk]
        if quantity < 0 or quantity > line.quantity:
            raise ValidationError(
                _("Line %(n)s (%(item)s): received quantity must be from 0 to %(qty)s.")
                % {"n": line.position, "item": line.item, "qty": line.quantity}
            )
        line.received = quantity
    MaterialLine.objects.bulk_update(lines.values(), ["received"])
    outstanding = [line for line in lines.values() if line.received < line.quantity]
    if complete and outstanding:
        raise ValidationError(
            _("Not everything has been received yet: %(items)s")
            % {
                "items": "、".join(
                    f"{line.item} {line.outstanding.normalize():f}{line.unit}"
                    for line in sorted(outstanding, key=lambda x: x.position)
                )
            }
        )
    order, _created = PurchaseOrder.objects.update_or_create(
        case=case,
        defaults={
            "order_number": order_number,
            "supplier": supplier,
            "ordered_on": ordered_on,
            "received_on": timezone.localdate() if not outstanding else None,
        },
    )
    audit_record(
        actor=actor,
        action="purchase_order.save",
        obj=order,
        changes={
            "outstanding_lines": len(outstanding),
            "received": {str(lines[pk].position): str(q) for pk, q in received.items()},
        },
    )
    return order


# --- the collector of the building --------------------------------------------------------------


def _check_available(collector: Collector, case: Case, field: str) -> None:
    """In stock, and not set aside for (or installed at) another customer."""
    if collector.customer_id not in (None, case.customer_id) or (
        collector.status != CollectorStatus.IN_STOCK and collector.customer_id is None
    ):
        raise ValidationError(
            {
                field: _("Collector %(serial)s is not in stock.")
                % {"serial": collector.serial_number}
            }
        )
    elsewhere = (
        InstallationFile.objects.filter(
            collector=collector, case__status__in=("running", "on_hold")
        )
        .exclude(case=case)
        .exists()
    )
    if elsewhere:
        raise ValidationError(
            {
                field: _("Collector %(serial)s is already set aside for another case.")
                % {"serial": collector.serial_number}
            }
        )


def _switch_collector(record: InstallationFile, collector: Collector) -> None:
    """A different unit than the one set aside: its point table follows, the old one is freed."""
    previous = record.collector
    if previous is None or previous.pk == collector.pk:
        return
    _move_point_table(previous, collector)
    if previous.status == CollectorStatus.IN_STOCK:
        previous.customer = previous.site = None
        previous.location = ""
        previous.save(update_fields=["customer", "site", "location", "updated_at"])


def collector_reserve(*, actor: User, case: Case, collector: Collector) -> InstallationFile:
    """The collector engineering will install, set aside for the building (still in stock):
    the technical department digitises the point table onto it."""
    require_perm(actor, "devices.change_collector")
    record = installation_file(case)
    if record.site is None:
        raise ValidationError(_("Choose the building in the installation notice first."))
    _check_available(collector, case, "serial_number")
    _switch_collector(record, collector)
    collector.customer, collector.site = case.customer, record.site
    collector.location = collector.location or record.site.control_room_location
    collector.save(update_fields=["customer", "site", "location", "updated_at"])
    record.collector = collector
    record.save(update_fields=["collector"])
    audit_record(
        actor=actor,
        action="collector.reserve",
        obj=collector,
        changes={"case": case.number, "customer": case.customer.name},
    )
    return record


def _move_point_table(source: Collector, target: Collector) -> None:
    if FireSystem.objects.filter(collector=target).exists():
        if FireSystem.objects.filter(collector=source).exists():
            raise ValidationError(
                {
                    "serial_number": _(
                        "Collector %(serial)s already has its own point table; choose another."
                    )
                    % {"serial": target.serial_number}
                }
            )
        return
    FireSystem.objects.filter(collector=source).update(collector=target)


def installation_record(
    *,
    actor: User,
    case: Case,
    collector: Collector,
    site: Site,
    location: str,
    installed_on: dt.date,
    firmware_version: str,
    line: str,
    iccid: str,
    photos: Iterable[Any],
) -> Collector:
    """安装调试: the chosen unit is registered (备案) at the building, with its line and photos."""
    record = installation_file(case)
    if record.collector is None or record.collector.pk != collector.pk:
        _check_available(collector, case, "serial_number")
        _switch_collector(record, collector)
    collector_install(
        actor=actor,
        collector=collector,
        customer=case.customer,
        site=site,
        location=location,
        installed_on=installed_on,
        note=case.number,
    )
    collector.firmware_version = firmware_version
    collector.line = line
    collector.iccid = iccid
    collector.full_clean(exclude=["customer", "site"])
    collector.save(update_fields=["firmware_version", "line", "iccid", "updated_at"])
    for n, photo in enumerate(photos, start=1):
        _upload(
            actor=actor,
            customer=case.customer,
            kind=DocumentKind.PHOTO,
            title=_("Installation photo %(n)s, %(serial)s")
            % {"n": n, "serial": collector.serial_number},
            upload=photo,
            site=site,
        )
    record.collector = collector
    record.site = site
    record.save(update_fields=["collector", "site"])
    return collector


# --- digitisation facts ------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitisationState:
    floors: int
    floors_without_plan: list[str]
    points: int
    unplaced: int
    without_floor: int

    def problems(self) -> list[str]:
        found = []
        if self.floors == 0:
            found.append(_("The building has no floors yet."))
        if self.floors_without_plan:
            found.append(
                _("Floors without a floor plan: %(floors)s")
                % {"floors": "、".join(self.floors_without_plan)}
            )
        if self.points == 0:
            found.append(_("The point table is empty: import or enter it."))
        if self.without_floor:
            found.append(_("%(n)s points have no floor.") % {"n": self.without_floor})
        if self.unplaced:
            found.append(
                _("%(n)s points are not placed on their floor plan yet.") % {"n": self.unplaced}
            )
        return found


def digitisation_state(record: InstallationFile) -> DigitisationState:
    floors = list(record.site.floors.order_by("number")) if record.site else []
    points = (
        Point.objects.filter(system__collector=record.collector, enabled=True)
        if record.collector
        else Point.objects.none()
    )
    return DigitisationState(
        floors=len(floors),
        floors_without_plan=[f.name for f in floors if f.plan_id is None],
        points=points.count(),
        unplaced=points.filter(Q(x__isnull=True) | Q(y__isnull=True)).count(),
        without_floor=points.filter(floor__isnull=True).count(),
    )


# --- the forms' PDFs ----------------------------------------------------------------------------


def form_record_file(
    *, case: Case, annex: str, pdf: bytes, task_id: int | None = None
) -> FormRecord:
    """File a form's PDF with the case: the first time as a document, later as a new version."""
    record = FormRecord.objects.filter(case=case, annex=annex).select_related("document").first()
    header = form_header(annex)
    kind = DocumentKind.NOTICE if annex == Annex.COMPLETION else DocumentKind.FORM_RECORD
    version = document_upload(
        actor=None,  # the process files its own records
        customer=case.customer,
        kind=kind,
        title=f"{header.doc_number} {header.title}（{case.number}）",
        file_name=f"{case.number}-{header.doc_number}.pdf",
        fileobj=io.BytesIO(pdf),
        size=len(pdf),
        site=installation_file(case).site,
        document=record.document if record else None,
    )
    if record is None:
        record = FormRecord.objects.create(
            case=case, annex=annex, document=version.document, task_id=task_id
        )
    else:
        record.task_id = task_id
        record.save(update_fields=["task", "updated_at"])
    return record


# --- go-live and archive ----------------------------------------------------------------------


def warranty_start(*, case: Case, handed_over_on: dt.date) -> dt.date | None:
    """The collector's warranty runs from the handover for the contract's warranty months."""
    record = installation_file(case)
    contract = ServiceContract.objects.filter(case=case).first()
    months = contract.warranty_months if contract else 12
    record.handed_over_on = handed_over_on
    record.save(update_fields=["handed_over_on"])
    collector = record.collector
    if collector is None:
        return None
    ends = add_months(handed_over_on, months)
    before = collector.warranty_ends_on
    collector.warranty_ends_on = ends
    collector.save(update_fields=["warranty_ends_on", "updated_at"])
    audit_record(
        actor=None,
        action="collector.warranty",
        obj=collector,
        changes={"warranty_ends_on": [str(before) if before else None, str(ends)]},
    )
    return ends


def case_documents(record: InstallationFile) -> list[Document]:
    """The documents of a case (its installation file): the customer's onboarding documents of
    the case's building and the case's own form records."""
    kinds = (
        DocumentKind.CONTRACT,
        DocumentKind.FLOOR_PLAN,
        DocumentKind.SYSTEM_DIAGRAM,
        DocumentKind.PANEL_MANUAL,
        DocumentKind.CODING,
        DocumentKind.PHOTO,
        DocumentKind.TEST_REPORT,
    )
    own = FormRecord.objects.filter(case_id=record.case_id).values("document_id")
    documents = Document.objects.filter(customer_id=record.customer_id).filter(
        Q(kind__in=kinds, current__isnull=False) | Q(pk__in=own)
    )
    if record.site_id:
        documents = documents.filter(
            Q(site__isnull=True) | Q(site_id=record.site_id) | Q(pk__in=own)
        )
    return list(documents.select_related("current").order_by("kind", "title"))


def case_archive(*, actor: User | None, case: Case) -> InstallationFile:
    """归档: the case's documents are frozen (versions kept) and the file is marked archived."""
    record = installation_file(case)
    if record.archived_at is not None:
        return record
    with transaction.atomic():
        documents_freeze(
            actor=None,
            documents=case_documents(record),
            reason=_("Onboarding case %(number)s archived") % {"number": case.number},
        )
        record.archived_at = timezone.now()
        record.archived_by = actor
        record.save(update_fields=["archived_at", "archived_by"])
        audit_record(actor=actor, action="case.archive", obj=case)
    return record
