"""Every write of network operations (网管): online-rate samples, faults, firmware upgrade
campaigns and the work log.

Staff actions check `devices.manage_network` and leave an audit row. The two calls from the
gateway (`online_sample_take`, `campaign_versions_reported`) are device traffic, not a person's
action: they take no actor and write no audit row (as devices.services.frames_ingest).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import require_perm
from audit.services import audit_record, changes_between, field_values
from devices.models import (
    CampaignStatus,
    CampaignTarget,
    Collector,
    CollectorStatus,
    Fault,
    FaultKind,
    FaultStatus,
    FirmwareCampaign,
    OnlineSample,
    TargetStatus,
    WorkLogCategory,
    WorkLogEntry,
)
from devices.network_selectors import OPEN_TARGET_STATUSES, campaign_candidates
from devices.selectors import collector_visible

PERM = "devices.manage_network"
FAULT_TEXT_FIELDS = ("cause", "handling", "analysis")
# Long enough for a real analysis; a runaway paste is refused, not stored.
TEXT_MAX_LENGTH = 4000
NOTE_MAX_LENGTH = CampaignTarget._meta.get_field("note").max_length or 200


def _check_collector(actor: User | None, collector: Collector) -> None:
    if actor is not None and not collector_visible(actor, collector):
        raise PermissionDenied("collector not visible")


def _too_long(data: Mapping[str, str], limit: int) -> dict[str, str]:
    return {
        name: _("At most %(n)d characters.") % {"n": limit}
        for name, value in data.items()
        if len(value) > limit
    }


# --- online rate ----------------------------------------------------------------------------


def online_sample_take(now: datetime | None = None) -> OnlineSample | None:
    """Record the fleet's online rate at this minute: collectors online out of those online or
    offline (installed ones never heard from do not count). At most one sample per minute:
    None when this minute already has one."""
    now = now or timezone.now()
    at = now.replace(second=0, microsecond=0)
    if OnlineSample.objects.filter(at=at).exists():
        return None
    counts = Collector.objects.filter(
        status__in=(CollectorStatus.ONLINE, CollectorStatus.OFFLINE)
    ).aggregate(
        in_service=Count("id"),
        online=Count("id", filter=Q(status=CollectorStatus.ONLINE)),
    )
    try:
        # Two gateways may sample the same minute: the unique `at` keeps one.
        with transaction.atomic():
            return OnlineSample.objects.create(
                at=at, in_service=counts["in_service"], online=counts["online"]
            )
    except IntegrityError:
        return None


# --- faults ---------------------------------------------------------------------------------


def fault_open(*, actor: User | None, collector: Collector, kind: str, cause: str = "") -> Fault:
    """A fault found by staff (offline faults are opened by the gateway)."""
    require_perm(actor, PERM)
    _check_collector(actor, collector)
    if kind not in FaultKind.values:
        raise ValidationError({"kind": _("Choose the kind of fault.")})
    cause = cause.strip()
    if errors := _too_long({"cause": cause}, TEXT_MAX_LENGTH):
        raise ValidationError(errors)
    with transaction.atomic():
        fault = Fault.objects.create(
            collector=collector, kind=kind, cause=cause, opened_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="fault.open",
            obj=fault,
            changes={"collector": collector.serial_number, "kind": kind, "cause": cause},
        )
        from service.automation import fault_tickets_raise  # service builds on devices

        fault_tickets_raise([fault])
    return fault


def fault_update(
    *,
    actor: User | None,
    fault: Fault,
    status: str,
    cause: str,
    handling: str,
    analysis: str,
) -> Fault:
    """Record the cause, the handling and the analysis, and move the fault on. Closing needs
    the cause and the handling; a closed fault may be reopened (its closing time is cleared)."""
    require_perm(actor, PERM)
    _check_collector(actor, fault.collector)
    if status not in FaultStatus.values:
        raise ValidationError({"status": _("Choose a status.")})
    texts = {"cause": cause.strip(), "handling": handling.strip(), "analysis": analysis.strip()}
    errors = _too_long(texts, TEXT_MAX_LENGTH)
    if status == FaultStatus.CLOSED:
        if not texts["cause"]:
            errors.setdefault("cause", _("Give the cause before closing the fault."))
        if not texts["handling"]:
            errors.setdefault("handling", _("Say how it was handled before closing the fault."))
    if errors:
        raise ValidationError(errors)
    fields = (*FAULT_TEXT_FIELDS, "status", "closed_at", "handled_by")
    with transaction.atomic():
        fault = Fault.objects.select_for_update().select_related("collector").get(pk=fault.pk)
        before = field_values(fault, fields)
        now = timezone.now()
        if status == FaultStatus.CLOSED and fault.status != FaultStatus.CLOSED:
            fault.closed_at = now
            fault.handled_by = actor
        elif status != FaultStatus.CLOSED:
            fault.closed_at = None
            if status == FaultStatus.HANDLING and fault.handled_by_id is None:
                fault.handled_by = actor
        fault.status = status
        fault.cause, fault.handling, fault.analysis = (
            texts["cause"],
            texts["handling"],
            texts["analysis"],
        )
        changes = changes_between(before, field_values(fault, fields))
        if changes:
            fault.save()
            audit_record(
                actor=actor,
                action="fault.close"
                if "closed_at" in changes and fault.closed_at
                else "fault.update",
                obj=fault,
                changes=changes,
            )
            if "closed_at" in changes and fault.closed_at:
                from service.automation import fault_closed  # service builds on devices

                fault_closed(fault)
    return fault


# --- firmware campaigns ---------------------------------------------------------------------


def campaign_create(
    *,
    actor: User | None,
    name: str,
    target_version: str,
    manufacturer: str = "",
    model: str = "",
    from_versions: list[str] | None = None,
    collectors: Sequence[Collector] | None = None,
    note: str = "",
) -> FirmwareCampaign:
    """A draft campaign with one target per matching collector (see
    network_selectors.campaign_candidates), each recording the version it starts from."""
    require_perm(actor, PERM)
    name, target_version = name.strip(), target_version.strip()
    manufacturer, model, note = manufacturer.strip(), model.strip(), note.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the campaign a name.")
    if not target_version:
        errors["target_version"] = _("Give the firmware version to upgrade to.")
    for field, value in (
        ("name", name),
        ("target_version", target_version),
        ("manufacturer", manufacturer),
        ("model", model),
    ):
        limit: int = getattr(FirmwareCampaign._meta.get_field(field), "max_length", 0)
        if len(value) > limit:
            errors.setdefault(field, _("At most %(n)d characters.") % {"n": limit})
    errors.update(_too_long({"note": note}, TEXT_MAX_LENGTH))
    if errors:
        raise ValidationError(errors)
    if collectors is not None:
        for collector in collectors:
            _check_collector(actor, collector)
    versions = sorted({v.strip() for v in from_versions or () if v.strip()})
    with transaction.atomic():
        chosen = list(
            campaign_candidates(
                actor,
                target_version=target_version,
                manufacturer=manufacturer,
                model=model,
                from_versions=versions,
                collectors=collectors,
            )
            .order_by("id")
            .values_list("pk", "firmware_version")
        )
        if not chosen:
            raise ValidationError(
                _(
                    "No collector matches: every in-service collector of this manufacturer, "
                    "model and version is already on %(version)s, or none exists."
                )
                % {"version": target_version}
            )
        campaign = FirmwareCampaign.objects.create(
            name=name,
            target_version=target_version,
            manufacturer=manufacturer,
            model=model,
            note=note,
            created_by=actor,
        )
        CampaignTarget.objects.bulk_create(
            (
                CampaignTarget(campaign=campaign, collector_id=pk, from_version=version)
                for pk, version in chosen
            ),
            batch_size=500,
        )
        audit_record(
            actor=actor,
            action="firmware_campaign.create",
            obj=campaign,
            changes={
                "target_version": target_version,
                "manufacturer": manufacturer,
                "model": model,
                "from_versions": ", ".join(
                    sorted({v.strip() for v in from_versions or () if v.strip()})
                ),
                "collectors": len(chosen),
            },
        )
    return campaign


def _locked_campaign(campaign: FirmwareCampaign) -> FirmwareCampaign:
    return FirmwareCampaign.objects.select_for_update().get(pk=campaign.pk)


def _finish_if_complete(campaign_ids: Sequence[int], now: datetime) -> list[int]:
    """Running campaigns with no target left pending or upgrading are done."""
    unfinished = set(
        CampaignTarget.objects.filter(
            campaign_id__in=campaign_ids, status__in=OPEN_TARGET_STATUSES
        ).values_list("campaign_id", flat=True)
    )
    done = [pk for pk in campaign_ids if pk not in unfinished]
    if done:
        FirmwareCampaign.objects.filter(pk__in=done, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.DONE, finished_at=now
        )
    return done


def _mark_reported(campaign_id: int | None, versions: Mapping[int, str], now: datetime) -> int:
    """Open targets of running campaigns whose collector reports the target version are
    upgraded. Returns how many; finishes the campaigns left with nothing to do."""
    targets = CampaignTarget.objects.filter(
        campaign__status=CampaignStatus.RUNNING,
        status__in=OPEN_TARGET_STATUSES,
        collector_id__in=list(versions),
    )
    if campaign_id is not None:
        targets = targets.filter(campaign_id=campaign_id)
    upgraded: list[int] = []
    campaigns: set[int] = set()
    for pk, collector_id, campaign, target_version in targets.values_list(
        "pk", "collector_id", "campaign_id", "campaign__target_version"
    ):
        if versions.get(collector_id, "").strip() == target_version:
            upgraded.append(pk)
            campaigns.add(campaign)
    if upgraded:
        CampaignTarget.objects.filter(pk__in=upgraded).update(
            status=TargetStatus.UPGRADED, updated_at=now, updated_by=None
        )
        _finish_if_complete(sorted(campaigns), now)
        from service.automation import upgrade_targets_changed  # service builds on devices

        upgrade_targets_changed(upgraded, by_device=True)
    return len(upgraded)


def campaign_versions_reported(versions: dict[int, str]) -> int:
    """Collector id → the firmware version it just reported (GB/T 26875.3-2011 §8.2.1.25,
    information type 25), called by frames_ingest in the transaction that stores the report.
    Returns how many campaign targets became upgraded."""
    if not versions:
        return 0
    with transaction.atomic(savepoint=False):
        return _mark_reported(None, versions, timezone.now())


def campaign_start(*, actor: User | None, campaign: FirmwareCampaign) -> FirmwareCampaign:
    """Start a draft campaign. Collectors already on the target version count as upgraded at
    once; a collector still pending in another running campaign stops the start."""
    require_perm(actor, PERM)
    with transaction.atomic():
        campaign = _locked_campaign(campaign)
        if campaign.status != CampaignStatus.DRAFT:
            raise ValidationError(_("Only a draft campaign can be started."))
        busy = list(
            CampaignTarget.objects.filter(
                campaign__status=CampaignStatus.RUNNING,
                status__in=OPEN_TARGET_STATUSES,
                collector__campaign_targets__campaign=campaign,
                collector__campaign_targets__status__in=OPEN_TARGET_STATUSES,
            )
            .order_by("collector__serial_number")
            .values_list("collector__serial_number", "campaign__name")
            .distinct()[:10]
        )
        if busy:
            raise ValidationError(
                _("These collectors are still being upgraded by another campaign: %(list)s")
                % {"list": "; ".join(f"{serial} ({name})" for serial, name in busy)}
            )
        now = timezone.now()
        campaign.status = CampaignStatus.RUNNING
        campaign.started_at = now
        campaign.save(update_fields=["status", "started_at"])
        current = dict(
            campaign.targets.filter(status__in=OPEN_TARGET_STATUSES).values_list(
                "collector_id", "collector__firmware_version"
            )
        )
        already = _mark_reported(campaign.pk, current, now) if current else 0
        if not already:
            _finish_if_complete([campaign.pk], now)
        from service.automation import upgrade_tickets_raise  # service builds on devices

        upgrade_tickets_raise(campaign)
        audit_record(
            actor=actor,
            action="firmware_campaign.start",
            obj=campaign,
            changes={"already_upgraded": already},
        )
    campaign.refresh_from_db()
    return campaign


def campaign_cancel(*, actor: User | None, campaign: FirmwareCampaign) -> FirmwareCampaign:
    """Stop a draft or running campaign; its targets keep their status as a record."""
    require_perm(actor, PERM)
    with transaction.atomic():
        campaign = _locked_campaign(campaign)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.RUNNING):
            raise ValidationError(_("This campaign is already finished."))
        before = campaign.status
        campaign.status = CampaignStatus.CANCELLED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at"])
        audit_record(
            actor=actor,
            action="firmware_campaign.cancel",
            obj=campaign,
            changes={"status": [before, campaign.status]},
        )
        from service.automation import upgrade_campaign_cancelled  # service builds on devices

        upgrade_campaign_cancelled(campaign)
    return campaign


def target_update(
    *, actor: User | None, target: CampaignTarget, status: str, note: str
) -> CampaignTarget:
    """Record one collector's upgrade by hand (upgrading, failed, skipped, or upgraded when the
    collector does not report its version). A running campaign with nothing left is done."""
    require_perm(actor, PERM)
    if status not in TargetStatus.values:
        raise ValidationError({"status": _("Choose a status.")})
    note = note.strip()
    if errors := _too_long({"note": note}, NOTE_MAX_LENGTH):
        raise ValidationError(errors)
    with transaction.atomic():
        campaign = _locked_campaign(target.campaign)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.RUNNING):
            raise ValidationError(
                _("This campaign is finished: its collectors can no longer change.")
            )
        target = CampaignTarget.objects.select_related("collector").get(pk=target.pk)
        _check_collector(actor, target.collector)
        before = field_values(target, ("status", "note"))
        target.status, target.note, target.updated_by = status, note, actor
        target.save()
        audit_record(
            actor=actor,
            action="campaign_target.update",
            obj=target,
            changes={
                "collector": target.collector.serial_number,
                **changes_between(before, field_values(target, ("status", "note"))),
            },
        )
        if campaign.status == CampaignStatus.RUNNING:
            _finish_if_complete([campaign.pk], timezone.now())
        if "status" in changes_between(before, field_values(target, ("status", "note"))):
            from service.automation import upgrade_targets_changed  # service builds on devices

            upgrade_targets_changed([target.pk])
    target.campaign = FirmwareCampaign.objects.get(pk=campaign.pk)
    return target


# --- work log -------------------------------------------------------------------------------


def worklog_add(
    *,
    actor: User,
    day: dt.date,
    category: str,
    content: str,
    collector: Collector | None = None,
) -> WorkLogEntry:
    """One line of the day's work log, written by the person who did the work."""
    require_perm(actor, PERM)
    if collector is not None:
        _check_collector(actor, collector)
    content = content.strip()
    errors: dict[str, str] = {}
    if day > timezone.localdate():
        errors["day"] = _("The work log records work done: a future day is not allowed.")
    if category not in WorkLogCategory.values:
        errors["category"] = _("Choose a category.")
    if not content:
        errors["content"] = _("Write what was done.")
    errors.update(_too_long({"content": content}, TEXT_MAX_LENGTH))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        entry = WorkLogEntry.objects.create(
            day=day, author=actor, category=category, content=content, collector=collector
        )
        audit_record(
            actor=actor,
            action="worklog.add",
            obj=entry,
            changes={
                "day": day.isoformat(),
                "category": category,
                "collector": collector.serial_number if collector else "",
            },
        )
    return entry
