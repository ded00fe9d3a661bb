"""The step forms of the fire-monitoring onboarding SOP (附件一…八 and the steps between them).

Each form checks its own inputs and what the step needs from the case (dates in order, the
customer's profile, the building's floors, the collector in stock …); its completion hook
writes the step's records and files the step's PDF in the same transaction as the completion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Contact, Customer, Document, DocumentKind, Site
from devices.models import (
    Collector,
    CollectorRegistration,
    CommunicationLine,
    JointTest,
    JointTestStatus,
    RegistrationAction,
)
from onboarding import fire_pdf, fire_services
from onboarding.models import (
    Annex,
    InstallationFile,
    MaterialLine,
    PurchaseOrder,
    ServiceContract,
)
from workflow.models import Case, Task
from workflow.registry import DATA_LABELS, ApprovalForm, TaskForm, register_form

YES_NO = [("yes", _("Yes")), ("no", _("No"))]
DATA_LABELS.update(
    {
        "joint_test_passed": _("Joint test passed"),
        "verified_at": _("Drawings verified at"),
        "handed_over_on": _("Handed over on"),
    }
)


def _today() -> dt.date:
    return timezone.localdate()


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _not_future(form: forms.Form, name: str) -> None:
    day = form.cleaned_data.get(name)
    if day and day > _today():
        form.add_error(name, _("This date is in the future."))


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _text(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class FireTaskForm(TaskForm):
    """A step of the fire SOP: knows the case's installation file."""

    @cached_property
    def record(self) -> InstallationFile:
        return fire_services.installation_file(self.case)

    @property
    def customer(self) -> Customer:
        return self.case.customer


# --- 附件一: contract and installation notice (market) --------------------------------------------


def profile_gaps(customer: Customer) -> list[str]:
    """What the customer profile form (客户基本情况表) still lacks in the customer record."""
    gaps = []
    if not customer.address:
        gaps.append(str(_("street address")))
    if customer.region_id is None:
        gaps.append(str(_("region")))
    contacts = list(customer.contacts.all())
    if not any(c.mobile or c.landline for c in contacts):
        gaps.append(str(_("a contact with a phone number")))
    if not customer.sites.exists():
        gaps.append(str(_("a building")))
    return gaps


class NoticeForm(FireTaskForm):
    contract_number = forms.CharField(label=_("Contract number"), max_length=40)
    signed_on = forms.DateField(label=_("Signed on"), widget=_date_input())
    starts_on = forms.DateField(label=_("Service starts on"), widget=_date_input())
    ends_on = forms.DateField(label=_("Service ends on"), widget=_date_input())
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, max_value=120)
    annual_fee = forms.DecimalField(
        label=_("Annual service fee (yuan)"), min_value=0, max_digits=12, decimal_places=2
    )
    warranty_months = forms.IntegerField(
        label=_("Collector warranty (months)"), min_value=1, max_value=60, initial=12
    )
    contract_file = forms.FileField(
        label=_("Signed contract (scan or PDF)"),
        required=False,
        help_text=_("Required the first time; upload again to replace it with a new version."),
    )
    site = forms.ModelChoiceField(label=_("Building to connect"), queryset=Site.objects.none())
    requested_install_on = forms.DateField(
        label=_("Requested installation date"), required=False, widget=_date_input()
    )
    notice_notes = forms.CharField(
        label=_("Notes for engineering and technical"), required=False, widget=_text()
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)
        site_field.queryset = Site.objects.filter(customer_id=self.case.customer_id).order_by("id")
        self.contract = ServiceContract.objects.filter(case=self.case).first()
        if self.contract is None:
            self.fields["contract_file"].required = True

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        contract = ServiceContract.objects.filter(case=case).first()
        record = fire_services.installation_file(case)
        initial: dict[str, Any] = {"warranty_months": 12}
        if record.site_id:
            initial["site"] = record.site_id
        else:
            first = Site.objects.filter(customer_id=case.customer_id).order_by("id").first()
            initial["site"] = first.pk if first else None
        if contract is not None:
            initial.update(
                contract_number=contract.number,
                signed_on=contract.signed_on,
                starts_on=contract.starts_on,
                ends_on=contract.ends_on,
                term_months=contract.term_months,
                annual_fee=contract.annual_fee,
                warranty_months=contract.warranty_months,
            )
        for name in ("requested_install_on", "notice_notes"):
            if case.data.get(name):
                initial[name] = case.data[name]
        return initial

    def rejection(self) -> str:
        last = fire_services.last_completed(self.case, "fire_notice_approval")
        if last is not None and last.outcome == "reject":
            return str(last.data.get("reason", ""))
        return ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        signed, starts, ends = data.get("signed_on"), data.get("starts_on"), data.get("ends_on")
        _not_future(self, "signed_on")
        if signed and starts and starts < signed:
            self.add_error(
                "starts_on", _("The service cannot start before the contract is signed.")
            )
        if starts and ends and ends <= starts:
            self.add_error("ends_on", _("The service must end after it starts."))
        wanted = data.get("requested_install_on")
        if wanted and signed and wanted < signed:
            self.add_error(
                "requested_install_on", _("The installation cannot be before the signing.")
            )
        gaps = profile_gaps(self.customer)
        if gaps:
            raise ValidationError(
                _(
                    "The customer profile form is incomplete: add %(gaps)s to the customer "
                    "record first."
                )
                % {"gaps": "、".join(gaps)}
            )
        return data


def _notice_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    contract = fire_services.contract_save(
        actor=actor, case=task.case, data=data, upload=data.get("contract_file")
    )
    fire_services.notice_site_set(case=task.case, site=data["site"])
    return {"contract_id": contract.pk}


class NoticeApprovalForm(FireTaskForm, ApprovalForm):
    """运行总监 approves the notice (or sends it back to the market department with a reason)."""

    def contract(self) -> ServiceContract | None:
        return ServiceContract.objects.filter(case=self.case).select_related("document").first()

    def attachments(self) -> list[Document]:
        kinds = (
            DocumentKind.CONTRACT,
            DocumentKind.FLOOR_PLAN,
            DocumentKind.SYSTEM_DIAGRAM,
            DocumentKind.PANEL_MANUAL,
            DocumentKind.CODING,
        )
        return list(
            Document.objects.filter(
                customer_id=self.case.customer_id, kind__in=kinds, current__isnull=False
            )
            .select_related("current")
            .order_by("kind", "title")
        )


def _approval_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    if data.get("decision") == "approve":
        fire_pdf.file_annex(task.case, Annex.NOTICE, task=task, actor=actor, approver=actor)


# --- technical: receive the drawings, set up the floors --------------------------------------


class IntakeForm(FireTaskForm):
    drawings_legible = forms.BooleanField(
        label=_("The floor plans and the system diagram are legible and complete")
    )
    survey_points = forms.CharField(
        label=_("What engineering should check on site"),
        required=False,
        widget=_text(),
        help_text=_("Unclear areas of the drawings; shown to the engineer doing the site survey."),
    )

    def state(self) -> fire_services.DigitisationState:
        return fire_services.digitisation_state(self.record)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.completing:
            state = self.state()
            problems = []
            if state.floors == 0:
                problems.append(_t("The building has no floors yet."))
            if state.floors_without_plan:
                problems.append(
                    _t("Floors without a floor plan: %(floors)s")
                    % {"floors": "、".join(state.floors_without_plan)}
                )
            if problems:
                raise ValidationError(problems)
        return data


# --- 附件四: feasibility and retrofit advice (engineering) ----------------------------------------


class PanelInterface(forms.ChoiceField):
    CHOICES = [
        ("printer", _("Printer port")),
        ("crt", _("CRT port")),
        ("rs232", "RS-232"),
        ("rs485", "RS-485"),
        ("can", "CAN"),
        ("vendor", _("Vendor protocol")),
        ("other", _("Other")),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self.CHOICES, **kwargs)


class FeasibilityForm(FireTaskForm):
    panel_brand = forms.CharField(label=_("Panel brand"), max_length=60)
    panel_model = forms.CharField(label=_("Panel model"), max_length=60)
    panel_count = forms.IntegerField(label=_("Number of panels"), min_value=1, initial=1)
    interface = PanelInterface(label=_("Interface to the collector"))
    protocol_notes = forms.CharField(
        label=_("Protocol / port details"), required=False, max_length=200
    )
    direct_use = forms.ChoiceField(
        label=_("Can our collector be connected directly?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
    )
    retrofit_advice = forms.CharField(label=_("Retrofit advice"), required=False, widget=_text(4))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("direct_use") == "no" and not (data.get("retrofit_advice") or "").strip():
            self.add_error(
                "retrofit_advice",
                _("Describe the retrofit needed, since the collector cannot connect directly."),
            )
        return data


# --- 附件二: broadband (engineering, waits on the telecom) ---------------------------------------


class BroadbandRequestForm(FireTaskForm):
    CARRIERS = [
        ("telecom", _("China Telecom")),
        ("unicom", _("China Unicom")),
        ("mobile", _("China Mobile")),
        ("broadcast", _("China Broadnet")),
        ("other", _("Other")),
    ]
    LINE_TYPES = [
        ("fibre", _("Fibre broadband")),
        ("leased", _("Leased line")),
        ("cellular", _("4G IoT card")),
    ]
    requested_on = forms.DateField(label=_("Requested on"), widget=_date_input())
    carrier = forms.ChoiceField(label=_("Carrier"), choices=CARRIERS)
    line_type = forms.ChoiceField(label=_("Line type"), choices=LINE_TYPES)
    bandwidth = forms.CharField(label=_("Bandwidth"), required=False, max_length=20)
    reference_number = forms.CharField(label=_("Carrier's reference number"), max_length=40)
    promised_on = forms.DateField(label=_("Promised by the carrier for"), widget=_date_input())
    carrier_contact = forms.CharField(
        label=_("Carrier contact and phone"), required=False, max_length=60
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "requested_on")
        requested, promised = data.get("requested_on"), data.get("promised_on")
        if requested and promised and promised < requested:
            self.add_error("promised_on", _("The promised date cannot be before the request."))
        return data


class BroadbandReadyForm(FireTaskForm):
    line_ready_on = forms.DateField(label=_("Line ready on"), widget=_date_input())
    line_account = forms.CharField(label=_("Line account / circuit number"), max_length=60)
    line_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "line_ready_on")
        ready, requested = data.get("line_ready_on"), _date(self.case.data.get("requested_on"))
        if ready and requested and ready < requested:
            self.add_error(
                "line_ready_on",
                _("The line cannot be ready before it was requested (%(day)s).")
                % {"day": requested.isoformat()},
            )
        return data


def _broadband_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    fire_pdf.file_annex(task.case, Annex.BROADBAND, task=task, actor=actor, extra=data)


# --- 附件三: material plan (engineering) and procurement (采购部) ---------------------------

MAX_LINES = 30
MIN_ROWS = 20  # rows offered on the page: a collector install rarely needs more
DEFAULT_LINES = [
    ("信息采集机", "", "1", "台", ""),
    ("通讯线缆", "RVVP 2×1.0", "50", "米", ""),
    ("电源适配器", "", "1", "个", ""),
]


class MaterialPlanForm(FireTaskForm):
    """Lines of the material plan, posted as line-N-item/model/quantity/unit/notes."""

    plan_notes = forms.CharField(label=_("Notes for procurement"), required=False, widget=_text(2))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[fire_services.LineInput] = []

    def rows(self) -> list[dict[str, str]]:
        """The rows to show: what was posted, else the saved plan, else a usual starting plan,
        followed by empty rows (at least MIN_ROWS in all, up to MAX_LINES)."""
        if self.is_bound:
            rows = [
                r for r in (self._posted(n) for n in range(1, MAX_LINES + 1)) if any(r.values())
            ]
        else:
            saved = list(MaterialLine.objects.filter(case=self.case).order_by("position"))
            keys = ("item", "model", "quantity", "unit", "notes")
            rows = [
                {
                    "item": line.item,
                    "model": line.model,
                    "quantity": f"{line.quantity.normalize():f}",
                    "unit": line.unit,
                    "notes": line.notes,
                }
                for line in saved
            ] or [dict(zip(keys, values, strict=True)) for values in DEFAULT_LINES]
        blanks = max(MIN_ROWS - len(rows), 3)
        return (rows + [self._blank() for _ in range(blanks)])[:MAX_LINES]

    @staticmethod
    def _blank() -> dict[str, str]:
        return {"item": "", "model": "", "quantity": "", "unit": "", "notes": ""}

    def _posted(self, n: int) -> dict[str, str]:
        return {
            key: str(self.data.get(f"line-{n}-{key}", "")).strip()
            for key in ("item", "model", "quantity", "unit", "notes")
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        errors: list[str] = []
        lines: list[fire_services.LineInput] = []
        for n in range(1, MAX_LINES + 1):
            row = self._posted(n)
            if not any(row.values()):
                continue
            label = _t("Line %(n)s") % {"n": n}
            if not row["item"]:
                errors.append(_t("%(line)s: enter the item.") % {"line": label})
                continue
            try:
                quantity = Decimal(row["quantity"])
            except InvalidOperation:
                errors.append(_t("%(line)s: the quantity must be a number.") % {"line": label})
                continue
            if not quantity.is_finite() or quantity <= 0:
                errors.append(_t("%(line)s: the quantity must be positive.") % {"line": label})
                continue
            if quantity.as_tuple().exponent < -2 or quantity >= Decimal("1e8"):  # type: ignore[operator]
                errors.append(_t("%(line)s: at most two decimals and 8 digits.") % {"line": label})
                continue
            if not row["unit"]:
                errors.append(_t("%(line)s: enter the unit.") % {"line": label})
                continue
            too_long = [
                k
                for k, limit in (("item", 80), ("model", 80), ("unit", 10), ("notes", 200))
                if len(row[k]) > limit
            ]
            if too_long:
                errors.append(_t("%(line)s: the text is too long.") % {"line": label})
                continue
            lines.append(
                fire_services.LineInput(
                    item=row["item"],
                    model=row["model"],
                    quantity=quantity,
                    unit=row["unit"],
                    notes=row["notes"],
                )
            )
        if not lines and not errors:
            errors.append(_t("Enter at least one line of the material plan."))
        if errors:
            raise ValidationError(errors)
        self.lines = lines
        data["_form"] = self
        return data


def _material_plan_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    form = data.get("_form")
    assert isinstance(form, MaterialPlanForm)
    count = fire_services.material_plan_save(actor=actor, case=task.case, lines=form.lines)
    fire_pdf.file_annex(task.case, Annex.MATERIALS, task=task, actor=actor)
    return {"material_lines": count}


class ProcurementForm(FireTaskForm):
    order_number = forms.CharField(label=_("Purchase order number"), max_length=40)
    supplier = forms.CharField(label=_("Supplier"), max_length=100)
    ordered_on = forms.DateField(label=_("Ordered on"), widget=_date_input())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.material_lines = list(MaterialLine.objects.filter(case=self.case).order_by("position"))
        for line in self.material_lines:
            self.fields[f"received_{line.pk}"] = forms.DecimalField(
                label=f"{line.position}. {line.item} {line.model}".strip(),
                min_value=0,
                max_value=line.quantity,
                decimal_places=2,
                required=False,
                help_text=_t("of %(qty)s %(unit)s")
                % {"qty": line.quantity.normalize(), "unit": line.unit},
            )
        order = PurchaseOrder.objects.filter(case=self.case).first()
        if not self.is_bound:
            if order is not None:
                self.initial.update(
                    order_number=order.order_number,
                    supplier=order.supplier,
                    ordered_on=order.ordered_on,
                )
            for line in self.material_lines:
                self.initial[f"received_{line.pk}"] = line.received.normalize()

    def line_fields(self) -> list[tuple[MaterialLine, forms.BoundField]]:
        return [(line, self[f"received_{line.pk}"]) for line in self.material_lines]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "ordered_on")
        # Per-line quantities go to the material lines, not into the case data.
        self.received = {
            line.pk: data.pop(f"received_{line.pk}", None) or Decimal(0)
            for line in self.material_lines
        }
        data["_form"] = self
        return data


def _procurement(task: Task, data: Mapping[str, Any], actor: User, *, complete: bool) -> None:
    form = data.get("_form")
    assert isinstance(form, ProcurementForm)
    fire_services.purchase_order_save(
        actor=actor,
        case=task.case,
        order_number=data["order_number"],
        supplier=data["supplier"],
        ordered_on=data["ordered_on"],
        received=form.received,
        complete=complete,
    )


def _procurement_save(task: Task, data: Mapping[str, Any], actor: User) -> None:
    _procurement(task, data, actor, complete=False)


def _procurement_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    _procurement(task, data, actor, complete=True)
    fire_pdf.file_annex(task.case, Annex.MATERIALS, task=task, actor=actor)


# --- site survey, drawings update and handover (engineering) -----------------------------------


class SurveyForm(FireTaskForm):
    surveyed_on = forms.DateField(label=_("Surveyed on"), widget=_date_input())
    survey_result = forms.ChoiceField(
        label=_("Does the building match the drawings?"),
        choices=[("matches", _("Yes, it matches")), ("differs", _("No, there are differences"))],
        widget=forms.RadioSelect,
    )
    differences = forms.CharField(label=_("Differences found"), required=False, widget=_text(4))
    control_room = forms.CharField(
        label=_("Fire control room: power, space, network access"),
        required=False,
        widget=_text(2),
    )

    def intake_notes(self) -> str:
        return str(self.case.data.get("survey_points") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "surveyed_on")
        if data.get("survey_result") == "differs" and not (data.get("differences") or "").strip():
            self.add_error("differences", _("List the differences found on site."))
        return data


def _survey_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    fire_pdf.file_annex(task.case, Annex.FEASIBILITY, task=task, actor=actor, extra=data)


DRAWING_KINDS = (
    DocumentKind.FLOOR_PLAN,
    DocumentKind.SYSTEM_DIAGRAM,
    DocumentKind.PANEL_MANUAL,
    DocumentKind.CODING,
)


class DrawingsUpdateForm(FireTaskForm):
    update_notes = forms.CharField(label=_("What was corrected"), widget=_text(3))

    def differences(self) -> str:
        return str(self.case.data.get("differences") or "")

    def updated_documents(self) -> list[Document]:
        survey = fire_services.last_completed(self.case, "fire_survey")
        since = survey.completed_at if survey else self.task.created_at
        return list(
            Document.objects.filter(
                customer_id=self.case.customer_id,
                kind__in=DRAWING_KINDS,
                versions__uploaded_at__gte=since,
            )
            .distinct()
            .order_by("kind", "title")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.completing and not self.updated_documents():
            raise ValidationError(
                _(
                    "Upload the corrected drawings first (a new version of a floor plan, system "
                    "diagram, panel manual or coding description)."
                )
            )
        return data


class CollectorSerialField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=40, **kwargs)


def _collector_by_serial(form: forms.Form, name: str) -> Collector | None:
    serial = (form.cleaned_data.get(name) or "").strip()
    if not serial:
        return None
    collector = Collector.objects.filter(serial_number=serial).first()
    if collector is None:
        form.add_error(name, _("No collector has serial number %(serial)s.") % {"serial": serial})
    return collector


class DrawingsHandoverForm(FireTaskForm):
    serial_number = CollectorSerialField(
        label=_("Collector to install (serial number)"),
        help_text=_("A collector in stock: technical digitises the point table onto it."),
    )
    handed_to = forms.ModelChoiceField(
        label=_("Handed to (technical staff)"), queryset=User.objects.none(), required=False
    )
    handover_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["handed_to"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = User.objects.filter(
            is_active=True, groups__role__code="technical_staff"
        ).order_by("username")
        reserved = self.record.collector
        if reserved is not None and not self.is_bound:
            self.initial["serial_number"] = reserved.serial_number

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        collector = _collector_by_serial(self, "serial_number")
        if collector is not None:
            data["collector"] = collector
        return data


def _handover_drawings_complete(
    task: Task, data: Mapping[str, Any], actor: User
) -> Mapping[str, Any]:
    record = fire_services.collector_reserve(
        actor=actor, case=task.case, collector=data["collector"]
    )
    return {"collector_id": record.collector_id}


# --- 附件五: digitisation (technical), 附件六: verification (monitoring centre) ---------------


class DigitisationForm(FireTaskForm):
    digitised_confirmed = forms.BooleanField(
        label=_("Floors, point table and point positions are entered and checked")
    )
    digitisation_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def state(self) -> fire_services.DigitisationState:
        return fire_services.digitisation_state(self.record)

    def verification_problems(self) -> str:
        last = fire_services.last_completed(self.case, "fire_verification")
        if last is not None and last.data.get("verification_result") == "fail":
            return str(last.data.get("problems", ""))
        return ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.completing:
            if self.record.collector is None:
                raise ValidationError(_("No collector has been set aside for this building."))
            problems = self.state().problems()
            if problems:
                raise ValidationError(problems)
        return data


def _digitisation_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    fire_pdf.file_annex(task.case, Annex.DIGITISATION, task=task, actor=actor, extra=data)


class VerificationForm(FireTaskForm):
    verification_result = forms.ChoiceField(
        label=_("Result"),
        choices=[("pass", _("Passed")), ("fail", _("Failed: back to technical"))],
        widget=forms.RadioSelect,
    )
    floors_ok = forms.BooleanField(label=_("Floors and plans match the drawings"), required=False)
    points_ok = forms.BooleanField(
        label=_("Point table complete (codes, types, locations)"), required=False
    )
    positions_ok = forms.BooleanField(
        label=_("Points are at the right places on the plans"), required=False
    )
    problems = forms.CharField(label=_("Problems found"), required=False, widget=_text(4))

    def state(self) -> fire_services.DigitisationState:
        return fire_services.digitisation_state(self.record)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        checks = ("floors_ok", "points_ok", "positions_ok")
        if data.get("verification_result") == "pass":
            unticked = [str(self.fields[c].label) for c in checks if not data.get(c)]
            if unticked:
                raise ValidationError(
                    _("To pass the drawings, confirm every check: %(checks)s")
                    % {"checks": "、".join(unticked)}
                )
        elif data.get("verification_result") == "fail" and not (data.get("problems") or "").strip():
            self.add_error("problems", _("List the problems for the technical department."))
        return data


def _verification_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    fire_pdf.file_annex(task.case, Annex.VERIFICATION, task=task, actor=actor, extra=data)
    if data.get("verification_result") != "pass":
        return {}
    now = timezone.now()
    record = fire_services.installation_file(task.case)
    record.verified_at = now
    record.save(update_fields=["verified_at"])
    return {"verified_at": now.isoformat()}


# --- installation, joint test (附件七) and rectification (engineering) ---------------------------


class InstallForm(FireTaskForm):
    serial_number = CollectorSerialField(label=_("Collector serial number"))
    site = forms.ModelChoiceField(label=_("Building"), queryset=Site.objects.none())
    location = forms.CharField(label=_("Installed at (location)"), max_length=120)
    installed_on = forms.DateField(label=_("Installed on"), widget=_date_input())
    firmware_version = forms.CharField(label=_("Firmware version"), max_length=20)
    line = forms.ChoiceField(label=_("Communication line"), choices=CommunicationLine.choices)
    iccid = forms.CharField(
        label=_("ICCID (4G)"),
        required=False,
        validators=[RegexValidator(r"^89\d{17,18}$", _("An ICCID is 19 or 20 digits from 89."))],
    )
    photo_1 = forms.FileField(label=_("Photo of the installed collector"))
    photo_2 = forms.FileField(label=_("Photo of the wiring to the panel"), required=False)
    photo_3 = forms.FileField(label=_("Another photo"), required=False)
    install_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["site"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Site.objects.filter(customer_id=self.case.customer_id).order_by("id")
        if not self.is_bound:
            record = self.record
            if record.collector is not None:
                self.initial.setdefault("serial_number", record.collector.serial_number)
                self.initial.setdefault("firmware_version", record.collector.firmware_version)
            if record.site is not None:
                self.initial.setdefault("site", record.site_id)
                self.initial.setdefault("location", record.site.control_room_location)
            self.initial.setdefault("installed_on", _today())
            if self.case.data.get("line_type") == "cellular":
                self.initial.setdefault("line", CommunicationLine.CELLULAR)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "installed_on")
        verified = self.record.verified_at
        installed = data.get("installed_on")
        if installed and verified and installed < timezone.localtime(verified).date():
            self.add_error(
                "installed_on", _("The installation cannot be before the drawing verification.")
            )
        if data.get("line") == CommunicationLine.CELLULAR and not data.get("iccid"):
            self.add_error("iccid", _("Enter the SIM card's ICCID for a 4G line."))
        collector = _collector_by_serial(self, "serial_number")
        if collector is not None:
            data["collector"] = collector
        return data


def _install_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    collector = fire_services.installation_record(
        actor=actor,
        case=task.case,
        collector=data["collector"],
        site=data["site"],
        location=data["location"],
        installed_on=data["installed_on"],
        firmware_version=data["firmware_version"],
        line=data["line"],
        iccid=data.get("iccid") or "",
        photos=[data[n] for n in ("photo_1", "photo_2", "photo_3") if data.get(n)],
    )
    return {"collector_id": collector.pk}


def _case_joint_tests(case: Case) -> QuerySet[JointTest]:
    record = fire_services.installation_file(case)
    return (
        JointTest.objects.filter(collector_id=record.collector_id or 0, case=case)
        .select_related("collector")
        .order_by("-started_at")
    )


class JointTestChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        started = timezone.localtime(obj.started_at).strftime("%Y-%m-%d %H:%M")
        return f"{started} · {obj.get_status_display()}"


class JointTestForm(FireTaskForm):
    joint_test = JointTestChoice(label=_("Joint test session"), queryset=JointTest.objects.none())
    joint_test_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["joint_test"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = _case_joint_tests(self.case)
        latest = field.queryset.exclude(status=JointTestStatus.CANCELLED).first()
        if latest is not None and not self.is_bound:
            self.initial["joint_test"] = latest.pk

    def collector(self) -> Collector | None:
        return self.record.collector

    def sessions(self) -> list[JointTest]:
        return list(_case_joint_tests(self.case)[:5])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        test = data.get("joint_test")
        if test is not None and test.status not in (JointTestStatus.PASSED, JointTestStatus.FAILED):
            self.add_error("joint_test", _("Finish the joint test session first."))
        return data


def _joint_test_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    test = data["joint_test"]
    passed = test.status == JointTestStatus.PASSED
    fire_pdf.file_annex(
        task.case, Annex.COMMISSIONING, task=task, actor=actor, extra={"joint_test": test}
    )
    return {"joint_test_passed": passed}


class RectificationForm(FireTaskForm):
    rectified_on = forms.DateField(label=_("Rectified on"), widget=_date_input())
    actions = forms.CharField(label=_("What was fixed"), widget=_text(4))

    def failures(self) -> list[Any]:
        test = _case_joint_tests(self.case).exclude(status=JointTestStatus.CANCELLED).first()
        if test is None:
            return []
        return list(
            test.items.exclude(result="passed").select_related("point__floor").order_by("id")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _not_future(self, "rectified_on")
        return data


# --- 附件八: handover to the monitoring centre; archive -------------------------------------------


class HandoverForm(FireTaskForm):
    monitoring_starts_on = forms.DateField(label=_("Monitored from"), widget=_date_input())
    collector_confirmed = forms.BooleanField(
        label=_("The collector is installed and reports to the centre")
    )
    points_confirmed = forms.BooleanField(label=_("The joint test passed for every point"))
    customer_confirmed = forms.BooleanField(
        label=_("Customer information and duty contacts are confirmed")
    )
    duty_contact = forms.ModelChoiceField(
        label=_("Duty contact of the customer"), queryset=Contact.objects.none()
    )
    handover_remarks = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["duty_contact"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Contact.objects.filter(customer_id=self.case.customer_id).order_by(
            "-is_primary", "id"
        )
        if not self.is_bound:
            self.initial.setdefault("monitoring_starts_on", _today())
            first = field.queryset.first()
            if first is not None:
                self.initial.setdefault("duty_contact", first.pk)

    def collector(self) -> Collector | None:
        return self.record.collector

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts = data.get("monitoring_starts_on")
        if starts and starts > _today() + dt.timedelta(days=30):
            self.add_error("monitoring_starts_on", _("Choose a date within the next 30 days."))
        collector = self.record.collector
        if collector is None or collector.customer_id != self.case.customer_id:
            raise ValidationError(_("No collector is installed for this case."))
        return data


def _handover_complete(task: Task, data: Mapping[str, Any], actor: User) -> Mapping[str, Any]:
    fire_pdf.file_annex(task.case, Annex.HANDOVER, task=task, actor=actor, extra=data)
    return {"handed_over_on": data["monitoring_starts_on"]}


class ArchiveForm(FireTaskForm):
    registration_number = forms.CharField(
        label=_("Registration (filing) number"), required=False, max_length=40
    )
    classified_confirmed = forms.BooleanField(
        label=_("The documents are complete and classified by kind")
    )
    archive_notes = forms.CharField(label=_("Notes"), required=False, widget=_text(2))

    def documents(self) -> list[Document]:
        return fire_services.case_documents(self.record)


def _archive_complete(task: Task, data: Mapping[str, Any], actor: User) -> None:
    collector = fire_services.installation_file(task.case).collector
    if collector is None or collector.customer_id is None:
        raise ValidationError(_("No collector is installed for this case."))
    number = (data.get("registration_number") or "").strip()
    CollectorRegistration.objects.create(
        collector=collector,
        action=RegistrationAction.FILED,
        customer_id=collector.customer_id,
        site_id=collector.site_id,
        location=collector.location,
        note="；".join(
            part
            for part in (
                _t("Registration number %(number)s") % {"number": number} if number else "",
                task.case.number,
            )
            if part
        ),
        by=actor,
    )


register_form(
    "fire_notice",
    _("Contract and installation notice (Annex 1)"),
    NoticeForm,
    on_complete=_notice_complete,
    template="onboarding/fire/notice_form.html",
    provides=("contract_id",),
)
register_form(
    "fire_notice_approval",
    _("Approve the installation notice"),
    NoticeApprovalForm,
    approval=True,
    on_complete=_approval_complete,
    template="onboarding/fire/approval_form.html",
)
register_form(
    "fire_intake",
    _("Receive the drawings and set up the floors"),
    IntakeForm,
    template="onboarding/fire/intake_form.html",
)
register_form("fire_feasibility", _("Feasibility and retrofit advice (Annex 4)"), FeasibilityForm)
register_form("fire_broadband_request", _("Broadband request (Annex 2)"), BroadbandRequestForm)
register_form(
    "fire_broadband_ready",
    _("Broadband line ready"),
    BroadbandReadyForm,
    on_complete=_broadband_complete,
)
register_form(
    "fire_material_plan",
    _("Material plan (Annex 3)"),
    MaterialPlanForm,
    on_complete=_material_plan_complete,
    template="onboarding/fire/material_plan_form.html",
    provides=("material_lines",),
)
register_form(
    "fire_procurement",
    _("Procurement of the materials"),
    ProcurementForm,
    on_complete=_procurement_complete,
    on_save=_procurement_save,
    template="onboarding/fire/procurement_form.html",
)
register_form(
    "fire_survey",
    _("Site survey (Annex 4)"),
    SurveyForm,
    on_complete=_survey_complete,
    template="onboarding/fire/survey_form.html",
)
register_form(
    "fire_drawings_update",
    _("Update the drawings to match the site"),
    DrawingsUpdateForm,
    template="onboarding/fire/drawings_update_form.html",
)
register_form(
    "fire_drawings_handover",
    _("Hand the drawings to technical"),
    DrawingsHandoverForm,
    on_complete=_handover_drawings_complete,
    provides=("collector_id",),
)
register_form(
    "fire_digitisation",
    _("Drawing digitisation (Annex 5)"),
    DigitisationForm,
    on_complete=_digitisation_complete,
    template="onboarding/fire/digitisation_form.html",
)
register_form(
    "fire_verification",
    _("Drawing verification (Annex 6)"),
    VerificationForm,
    on_complete=_verification_complete,
    template="onboarding/fire/verification_form.html",
    provides=("verified_at",),
)
register_form(
    "fire_install",
    _("Install and commission the collector"),
    InstallForm,
    on_complete=_install_complete,
    provides=("collector_id",),
)
register_form(
    "fire_joint_test",
    _("Joint test with the monitoring centre (Annex 7)"),
    JointTestForm,
    on_complete=_joint_test_complete,
    template="onboarding/fire/joint_test_form.html",
    provides=("joint_test_passed",),
)
register_form(
    "fire_rectification",
    _("Rectify the joint test failures"),
    RectificationForm,
    template="onboarding/fire/rectification_form.html",
)
register_form(
    "fire_handover",
    _("Handover to the monitoring centre (Annex 8)"),
    HandoverForm,
    on_complete=_handover_complete,
    template="onboarding/fire/handover_form.html",
    provides=("handed_over_on",),
)
register_form(
    "fire_archive",
    _("Archive the documents and file the collector's registration"),
    ArchiveForm,
    on_complete=_archive_complete,
    template="onboarding/fire/archive_form.html",
)
