"""Network operations console (网管): the fleet's online rate and heartbeat gaps, faults,
firmware upgrade campaigns and the daily work log.

Network administrators, the operations director and monitoring operators read every page
(`devices.manage_network` or `devices.view_board`); only network administrators change anything.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from audit.selectors import object_history
from audit.services import audit_record
from devices import network_selectors as sel
from devices import network_services as services
from devices.forms import address_candidates
from devices.models import (
    CampaignStatus,
    CampaignTarget,
    Collector,
    CollectorStatus,
    Fault,
    FaultKind,
    FaultStatus,
    FirmwareCampaign,
    TargetStatus,
    WorkLogCategory,
)
from devices.network_services import NOTE_MAX_LENGTH, TEXT_MAX_LENGTH
from devices.selectors import collectors_visible_to
from ruwang.lib.excel import append_row
from ruwang.lib.views import apply_errors

VIEW_PERMS = ("devices.manage_network", "devices.view_board")
MANAGE_PERM = "devices.manage_network"
PAGE_SIZE = 50
PREVIEW_SERIALS = 20
OPEN_FAULTS_SHOWN = 10
EXPORT_MAX_DAYS = 366
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PERIOD_LABELS = {
    sel.Period.DAY: gettext_lazy("24 hours"),
    sel.Period.WEEK: gettext_lazy("7 days"),
    sel.Period.MONTH: gettext_lazy("30 days"),
}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require_view(request: HttpRequest) -> User:
    user = _user(request)
    if not any(user.has_perm(perm) for perm in VIEW_PERMS):
        raise PermissionDenied(" or ".join(VIEW_PERMS))
    return user


def _require_manage(request: HttpRequest) -> User:
    user = _user(request)
    if not user.has_perm(MANAGE_PERM):
        raise PermissionDenied(MANAGE_PERM)
    return user


def _history(object_type: str, pk: int) -> list[dict[str, Any]]:
    """The record's audit rows, newest first, each change as "before → after" or its value."""
    rows = []
    for entry in object_history(object_type, str(pk), limit=50):
        changes = []
        for key, value in (entry.changes or {}).items():
            if isinstance(value, list) and len(value) == 2:
                before, after = ("∅" if v in (None, "") else v for v in value)
                changes.append((key, f"{before} → {after}"))
            else:
                changes.append((key, str(value)))
        rows.append({"entry": entry, "changes": changes})
    return rows


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def duration_text(seconds: int) -> str:
    """A silence as people say it: "2 d 3 h", "3 h 5 min", "5 min", "40 s"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min") % {"m": minutes}
    return _("%(s)d s") % {"s": secs}


def find_collector(user: User, text: str) -> Collector:
    """The one visible collector whose serial number or protocol address is `text`, or a
    ValidationError saying why not."""
    text = text.strip()
    if not text:
        raise ValidationError(_("Enter the collector's serial number or protocol address."))
    condition = Q(serial_number__iexact=text)
    candidates = address_candidates(text)
    if candidates:
        condition |= Q(address__in=sorted(candidates))
    found = list(collectors_visible_to(user).filter(condition).order_by("id")[:5])
    if not found:
        raise ValidationError(
            _("No collector has the serial number or address “%(text)s”.") % {"text": text}
        )
    exact = [c for c in found if c.serial_number.lower() == text.lower()]
    if len(found) > 1 and len(exact) == 1:
        return exact[0]  # a serial number that also reads as another collector's address
    if len(found) > 1:
        raise ValidationError(
            _("“%(text)s” matches several collectors (%(list)s): enter the serial number.")
            % {"text": text, "list": ", ".join(c.serial_number for c in found)}
        )
    return found[0]


class CollectorField(forms.CharField):
    """A collector typed as its serial number or protocol address; cleaned to the Collector.
    The form sets `user` before validation."""

    user: User | None = None

    def clean(self, value: Any) -> Collector | None:
        text = super().clean(value)
        if not text:
            return None
        assert self.user is not None
        return find_collector(self.user, text)


def _collector_field(required: bool) -> CollectorField:
    return CollectorField(
        label=gettext_lazy("Collector"),
        required=required,
        max_length=60,
        help_text=gettext_lazy("Serial number, or protocol address (decimal or label hex)."),
    )


class _UserForm(forms.Form):
    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, CollectorField):
                field.user = user


# --- the console ---------------------------------------------------------------------------


def _gap_rows(report: sel.GapReport) -> list[dict[str, Any]]:
    return [{"gap": gap, "duration": duration_text(gap.seconds)} for gap in report.rows]


@login_required
def network(request: HttpRequest) -> HttpResponse:
    user = _require_view(request)
    period = sel.period_parse(request.GET.get("period"))
    series = sel.online_rate_series(period)
    counts = sel.collector_status_counts(user)
    gaps = sel.heartbeat_gaps(user, period=period)
    context = {
        "section": "overview",
        "period": period,
        "periods": [(value, label) for value, label in PERIOD_LABELS.items()],
        "counts": counts,
        "statuses": [
            (value, label, counts.by_status[value]) for value, label in CollectorStatus.choices
        ],
        "series": series,
        "chart": {
            "points": series.points,
            "samples": series.samples,
            "name": _("Online rate"),
            "average": series.average,
        },
        "gaps": _gap_rows(gaps),
        "gap_total": gaps.total,
        "gap_limit": sel.GAPS_LIMIT,
        "gap_offline": gaps.still_offline,
        "firmware": sel.firmware_distribution(user),
        "fault_counts": sel.fault_open_counts(user),
        "open_faults": sel.open_faults(user, limit=OPEN_FAULTS_SHOWN),
        "can_manage": user.has_perm(MANAGE_PERM),
    }
    return render(request, "devices/network/index.html", context)


# --- faults -----------------------------------------------------------------------------------


class FaultUpdateForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=FaultStatus.choices)
    cause = forms.CharField(
        label=gettext_lazy("Cause"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    handling = forms.CharField(
        label=gettext_lazy("Handling"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What was done. Cause and handling are required to close."),
    )
    analysis = forms.CharField(
        label=gettext_lazy("Analysis"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Why it happened and how to prevent it."),
    )


class FaultCreateForm(_UserForm):
    collector = _collector_field(required=True)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=FaultKind.choices)
    cause = forms.CharField(
        label=gettext_lazy("Cause"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What is known so far (may be completed later)."),
    )


def _fault_or_404(user: User, pk: int) -> Fault:
    try:
        return sel.fault_get(user, pk)
    except Fault.DoesNotExist as exc:
        raise Http404 from exc


def _choice(value: str, choices: list[str]) -> str:
    return value if value in choices else ""


@login_required
def fault_list(request: HttpRequest) -> HttpResponse:
    user = _require_view(request)
    status = _choice(request.GET.get("status", "unclosed"), ["unclosed", *FaultStatus.values])
    kind = _choice(request.GET.get("kind", ""), FaultKind.values)
    raw_page = request.GET.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    offset = (page - 1) * PAGE_SIZE
    rows = list(sel.fault_list(user, status=status, kind=kind)[offset : offset + PAGE_SIZE + 1])
    query: dict[str, str | int] = {"status": status, **({"kind": kind} if kind else {})}
    context = {
        "section": "faults",
        "faults": rows[:PAGE_SIZE],
        "status": status,
        "kind": kind,
        "statuses": [("unclosed", _("Not closed")), *FaultStatus.choices, ("", _("All"))],
        "kinds": FaultKind.choices,
        "page": page,
        "previous_url": f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
        "next_url": (f"?{urlencode({**query, 'page': page + 1})}" if len(rows) > PAGE_SIZE else ""),
        "can_manage": user.has_perm(MANAGE_PERM),
    }
    return render(request, "devices/network/fault_list.html", context)


@login_required
def fault_create(request: HttpRequest) -> HttpResponse:
    user = _require_manage(request)
    initial: dict[str, Any] = {}
    raw = request.GET.get("collector", "")
    if raw.isdigit():
        known = collectors_visible_to(user).filter(pk=int(raw)).first()
        if known is not None:
            initial["collector"] = known.serial_number
    form = FaultCreateForm(request.POST or None, initial=initial, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            fault = services.fault_open(
                actor=user,
                collector=form.cleaned_data["collector"],
                kind=form.cleaned_data["kind"],
                cause=form.cleaned_data["cause"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Fault recorded."))
            return redirect("devices:fault", pk=fault.pk)
    return render(request, "devices/network/fault_form.html", {"section": "faults", "form": form})


@login_required
def fault_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _require_view(request)
    fault = _fault_or_404(user, pk)
    can_manage = user.has_perm(MANAGE_PERM)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied(MANAGE_PERM)
    initial = {
        "status": fault.status,
        "cause": fault.cause,
        "handling": fault.handling,
        "analysis": fault.analysis,
    }
    form = FaultUpdateForm(request.POST or None, initial=initial) if can_manage else None
    if form is not None and request.method == "POST" and form.is_valid():
        try:
            services.fault_update(actor=user, fault=fault, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Fault saved."))
            return redirect("devices:fault", pk=fault.pk)
    open_until = fault.closed_at or fault.recovered_at or timezone.now()
    context = {
        "section": "faults",
        "fault": fault,
        "form": form,
        "duration": duration_text(int((open_until - fault.opened_at).total_seconds())),
        "history": _history("devices.fault", fault.pk),
        "can_see_event": user.has_perm("devices.view_board"),
    }
    return render(request, "devices/network/fault_detail.html", context)


# --- firmware campaigns -------------------------------------------------------------------------

_LIST_SPLIT = re.compile(r"[\s,，;；、]+")


class CampaignForm(_UserForm):
    name = forms.CharField(label=gettext_lazy("Campaign name"), max_length=80)
    target_version = forms.CharField(
        label=gettext_lazy("Target version"),
        max_length=20,
        help_text=gettext_lazy("As the collector reports it (information type 25), e.g. 2.1."),
        widget=forms.TextInput(attrs={"list": "rw-versions"}),
    )
    manufacturer = forms.CharField(
        label=gettext_lazy("Manufacturer"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"list": "rw-manufacturers"}),
        help_text=gettext_lazy("Empty: any manufacturer."),
    )
    model = forms.CharField(
        label=gettext_lazy("Model"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"list": "rw-models"}),
        help_text=gettext_lazy("Empty: any model."),
    )
    from_versions = forms.CharField(
        label=gettext_lazy("Only from versions"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"list": "rw-versions"}),
        help_text=gettext_lazy("Separated by commas or spaces; empty: any version."),
    )
    serials = forms.CharField(
        label=gettext_lazy("Only these collectors"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Serial numbers, one per line or separated by commas; empty: every in-service "
            "collector that matches."
        ),
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.user = user

    def clean_from_versions(self) -> list[str]:
        return [v for v in _LIST_SPLIT.split(self.cleaned_data["from_versions"]) if v]

    def clean_serials(self) -> list[Collector] | None:
        serials = list(
            dict.fromkeys(s for s in _LIST_SPLIT.split(self.cleaned_data["serials"]) if s)
        )
        if not serials:
            return None
        found = {
            c.serial_number.lower(): c
            for c in collectors_visible_to(self.user).filter(
                serial_number__in={
                    *serials,
                    *(s.upper() for s in serials),
                    *(s.lower() for s in serials),
                }
            )
        }
        missing = [s for s in serials if s.lower() not in found]
        if missing:
            raise ValidationError(
                _("Unknown serial numbers: %(list)s") % {"list": ", ".join(missing[:20])}
            )
        return [found[s.lower()] for s in serials]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "target_version": data["target_version"],
            "manufacturer": data["manufacturer"],
            "model": data["model"],
            "from_versions": data["from_versions"] or None,
            "collectors": data["serials"],
            "note": data["note"],
        }


def _preview(user: User, form: CampaignForm) -> dict[str, Any]:
    if not form.is_valid():
        return {"ready": False}
    data = form.service_data()
    qs = sel.campaign_candidates(
        user,
        target_version=data["target_version"],
        manufacturer=data["manufacturer"],
        model=data["model"],
        from_versions=data["from_versions"],
        collectors=data["collectors"],
    )
    versions = sel.candidates_by_version(qs)
    return {
        "ready": True,
        "count": sum(row["n"] for row in versions),
        "versions": versions,
        "serials": list(
            qs.order_by("serial_number").values_list("serial_number", flat=True)[:PREVIEW_SERIALS]
        ),
        "target_version": data["target_version"],
    }


def _firmware_options(user: User) -> dict[str, list[str]]:
    rows = sel.firmware_distribution(user)
    return {
        "manufacturers": sorted({r["manufacturer"] for r in rows if r["manufacturer"]}),
        "models": sorted({r["model"] for r in rows if r["model"]}),
        "versions": sorted({r["firmware_version"] for r in rows if r["firmware_version"]}),
    }


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    user = _require_view(request)
    context = {
        "section": "campaigns",
        "campaigns": sel.campaigns_with_progress(),
        "can_manage": user.has_perm(MANAGE_PERM),
    }
    return render(request, "devices/network/campaign_list.html", context)


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    """A two-step form: "Preview" (or any change, through htmx) shows how many collectors match
    and on which versions they are; "Create" creates the draft."""
    user = _require_manage(request)
    form = CampaignForm(request.POST or None, user=user)
    if request.method == "POST" and _htmx(request):
        return render(
            request, "devices/network/_campaign_preview.html", {"preview": _preview(user, form)}
        )
    preview: dict[str, Any] | None = None
    if request.method == "POST" and request.POST.get("action") == "preview":
        preview = _preview(user, form)
    elif request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(actor=user, **form.service_data())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Campaign created with %(n)d collectors. Start it when the firmware is ready.")
                % {"n": campaign.targets.count()},
            )
            return redirect("devices:campaign", pk=campaign.pk)
    context = {
        "section": "campaigns",
        "form": form,
        "preview": preview,
        "options": _firmware_options(user),
    }
    return render(request, "devices/network/campaign_form.html", context)


def _campaign_or_404(pk: int) -> FirmwareCampaign:
    try:
        return sel.campaign_get(pk)
    except FirmwareCampaign.DoesNotExist as exc:
        raise Http404 from exc


class TargetForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=TargetStatus.choices)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=NOTE_MAX_LENGTH)


def _editable(campaign: FirmwareCampaign) -> bool:
    return campaign.status in (CampaignStatus.DRAFT, CampaignStatus.RUNNING)


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _require_view(request)
    campaign = _campaign_or_404(pk)
    can_manage = user.has_perm(MANAGE_PERM)
    counts = sel.campaign_target_counts(campaign)
    status = _choice(request.GET.get("status", ""), TargetStatus.values)
    targets = sel.campaign_targets(user, campaign)
    context = {
        "section": "campaigns",
        "campaign": campaign,
        "status": status,
        "targets": list(targets.filter(status=status) if status else targets),
        "counts": [(value, label, counts[value]) for value, label in TargetStatus.choices],
        "target_statuses": TargetStatus.choices,
        "can_manage": can_manage,
        "can_edit_targets": can_manage and _editable(campaign),
        "history": _history("devices.firmwarecampaign", campaign.pk),
    }
    return render(request, "devices/network/campaign_detail.html", context)


@login_required
@require_POST
def campaign_start(request: HttpRequest, pk: int) -> HttpResponse:
    user = _require_manage(request)
    campaign = _campaign_or_404(pk)
    try:
        campaign = services.campaign_start(actor=user, campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if campaign.status == CampaignStatus.DONE:
            messages.success(request, _("Every collector is already on the target version."))
        else:
            messages.success(
                request,
                _("Campaign started: collectors reporting %(version)s are ticked off as they do.")
                % {"version": campaign.target_version},
            )
    return redirect("devices:campaign", pk=pk)


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = _require_manage(request)
    campaign = _campaign_or_404(pk)
    try:
        services.campaign_cancel(actor=user, campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Campaign cancelled."))
    return redirect("devices:campaign", pk=pk)


@login_required
@require_POST
def target_update(request: HttpRequest, pk: int) -> HttpResponse:
    user = _require_manage(request)
    target = (
        CampaignTarget.objects.select_related("campaign", "collector__customer", "updated_by")
        .filter(pk=pk, collector__in=collectors_visible_to(user))
        .first()
    )
    if target is None:
        raise Http404
    form = TargetForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            target = services.target_update(actor=user, target=target, **form.cleaned_data)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(
            f"{form.fields[name].label}: {' '.join(str(e) for e in errs)}"
            for name, errs in form.errors.items()
        )
    if _htmx(request):
        target = CampaignTarget.objects.select_related(
            "campaign", "collector__customer", "updated_by"
        ).get(pk=target.pk)
        context = {
            "t": target,
            "error": error,
            "target_statuses": TargetStatus.choices,
            "can_edit_targets": _editable(target.campaign),
        }
        response = render(request, "devices/network/_target_row.html", context)
        if target.campaign.status == CampaignStatus.DONE:
            response["HX-Refresh"] = "true"  # the campaign finished: show its new state
        return response
    if error:
        messages.error(request, f"{target.collector.serial_number}: {error}")
    else:
        messages.success(
            request, _("%(serial)s saved.") % {"serial": target.collector.serial_number}
        )
    return redirect("devices:campaign", pk=target.campaign_id)


# --- work log -------------------------------------------------------------------------------


class WorkLogForm(_UserForm):
    day = forms.DateField(
        label=gettext_lazy("Day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    category = forms.ChoiceField(
        label=gettext_lazy("Kind of work"), choices=WorkLogCategory.choices
    )
    content = forms.CharField(
        label=gettext_lazy("Content"),
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    collector = _collector_field(required=False)


def _parse_day(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


@login_required
def worklog(request: HttpRequest) -> HttpResponse:
    user = _require_view(request)
    today = timezone.localdate()
    raw = request.GET.get("day", "")
    day = _parse_day(raw) if raw else today
    bad_day = raw if day is None else ""
    day = day or today
    can_manage = user.has_perm(MANAGE_PERM)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied(MANAGE_PERM)
    form = (
        WorkLogForm(request.POST or None, initial={"day": min(day, today)}, user=user)
        if can_manage
        else None
    )
    if form is not None and request.method == "POST" and form.is_valid():
        try:
            entry = services.worklog_add(actor=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Added to the work log."))
            return redirect(
                f"{reverse('devices:worklog')}?{urlencode({'day': entry.day.isoformat()})}"
            )
    one = dt.timedelta(days=1)
    context = {
        "section": "worklog",
        "day": day,
        "today": today,
        "bad_day": bad_day,
        "previous_day": day - one,
        "next_day": day + one if day < today else None,
        "entries": list(sel.worklog_entries(day, day)),
        "form": form,
        "export_start": day - dt.timedelta(days=30),
        "export_end": day,
    }
    return render(request, "devices/network/worklog.html", context)


@login_required
def worklog_export(request: HttpRequest) -> HttpResponse:
    """The work log of a date range (at most EXPORT_MAX_DAYS) as an .xlsx workbook."""
    from openpyxl import Workbook

    user = _require_view(request)
    start = _parse_day(request.GET.get("start", ""))
    end = _parse_day(request.GET.get("end", ""))
    back = reverse("devices:worklog")
    if start is None or end is None:
        messages.error(request, _("Export: enter the first and the last day as dates."))
        return redirect(back)
    if start > end or (end - start).days >= EXPORT_MAX_DAYS:
        messages.error(
            request,
            _("Export: the first day must not be after the last, and at most %(n)d days.")
            % {"n": EXPORT_MAX_DAYS},
        )
        return redirect(f"{back}?{urlencode({'day': end.isoformat()})}")
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _("Work log")
    sheet.append(
        [
            _("Day"),
            _("Kind of work"),
            _("Content"),
            _("Collector"),
            _("Customer"),
            _("Author"),
            _("Written at"),
        ]
    )
    rows = 0
    for entry in sel.worklog_entries(start, end):
        collector = entry.collector
        append_row(
            sheet,
            [
                entry.day,
                entry.get_category_display(),
                entry.content,
                collector.serial_number if collector else "",
                collector.customer.name if collector and collector.customer else "",
                str(entry.author),
                timezone.localtime(entry.created_at).replace(tzinfo=None),
            ],
        )
        rows += 1
    for column, width in zip("ABCDEFG", (12, 14, 60, 18, 24, 14, 20), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit_record(
        actor=user,
        action="worklog.export",
        object_type="devices.worklogentry",
        changes={"start": start.isoformat(), "end": end.isoformat(), "rows": rows},
    )
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="worklog-{start}-{end}.xlsx"'
    return response


urlpatterns: list[URLPattern] = [
    path("network/", network, name="network"),
    path("network/faults/", fault_list, name="faults"),
    path("network/faults/new/", fault_create, name="fault_create"),
    path("network/faults/<int:pk>/", fault_detail, name="fault"),
    path("network/campaigns/", campaign_list, name="campaigns"),
    path("network/campaigns/new/", campaign_create, name="campaign_create"),
    path("network/campaigns/<int:pk>/", campaign_detail, name="campaign"),
    path("network/campaigns/<int:pk>/start/", campaign_start, name="campaign_start"),
    path("network/campaigns/<int:pk>/cancel/", campaign_cancel, name="campaign_cancel"),
    path("network/campaign-targets/<int:pk>/", target_update, name="campaign_target"),
    path("network/worklog/", worklog, name="worklog"),
    path("network/worklog/export.xlsx", worklog_export, name="worklog_export"),
]
