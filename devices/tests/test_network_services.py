"""Network operations (网管) writes and reads: online-rate samples, faults, firmware campaigns,
the work log, heartbeat gaps and the chart's downsampling."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from audit.models import AuditEntry
from devices import network_selectors as sel
from devices import network_services as services
from devices import services as device_services
from devices.models import (
    CampaignStatus,
    CampaignTarget,
    Collector,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    FaultKind,
    FaultStatus,
    FirmwareCampaign,
    OnlineSample,
    TargetStatus,
    WorkLogCategory,
    WorkLogEntry,
)
from devices.tests.factories import make_building, make_collector
from ruwang.testing import PersonaTestCase

AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def set_status(collector: Collector, status: str) -> None:
    Collector.objects.filter(pk=collector.pk).update(status=status)
    collector.status = status


def offline_event(collector: Collector, kind: str, at: dt.datetime) -> None:
    DeviceEvent.objects.create(collector=collector, kind=kind, occurred_at=at, received_at=at)


class NetworkTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, _floors = make_building(floors=1)
        cls.netadmin = cls.users["netadmin"]

    def collector(self, n: int, *, status: str = CollectorStatus.ONLINE, **data: str) -> Collector:
        data = {"manufacturer": "海湾", "model": "GST-UITD", "firmware_version": "1.0", **data}
        collector = make_collector(360_102_000_000 + n, site=self.site, **data)
        set_status(collector, status)
        return collector


class OnlineSampleTests(NetworkTestCase):
    def test_a_sample_counts_online_collectors_out_of_those_online_or_offline(self) -> None:
        self.collector(1)
        self.collector(2)
        self.collector(3, status=CollectorStatus.OFFLINE)
        self.collector(4, status=CollectorStatus.INSTALLED)  # never heard from: not counted
        make_collector(360_102_000_099)  # in stock
        sample = services.online_sample_take(AT.replace(second=42, microsecond=7))
        assert sample is not None
        assert (sample.in_service, sample.online) == (3, 2)
        assert sample.at == AT
        assert round(sample.rate or 0, 3) == 0.667

    def test_only_one_sample_is_kept_per_minute(self) -> None:
        self.collector(1)
        assert services.online_sample_take(AT.replace(second=5)) is not None
        set_status(self.collector(2), CollectorStatus.OFFLINE)
        assert services.online_sample_take(AT.replace(second=55)) is None
        assert OnlineSample.objects.get().in_service == 1
        later = services.online_sample_take(AT + timedelta(minutes=1))
        assert later is not None and later.in_service == 2
        assert OnlineSample.objects.count() == 2

    def test_a_fleet_with_no_collector_talking_has_no_rate(self) -> None:
        self.collector(1, status=CollectorStatus.INSTALLED)
        sample = services.online_sample_take(AT)
        assert sample is not None and sample.in_service == 0 and sample.rate is None

    def test_the_sample_uses_the_current_minute_when_no_time_is_given(self) -> None:
        with time_machine.travel(AT + timedelta(seconds=30), tick=False):
            sample = services.online_sample_take()
        assert sample is not None and sample.at == AT


class OnlineSeriesTests(NetworkTestCase):
    def test_every_period_is_downsampled_to_at_most_300_points(self) -> None:
        now = AT
        OnlineSample.objects.bulk_create(
            OnlineSample(at=now - timedelta(minutes=10 * n), in_service=10, online=9)
            for n in range(30 * 24 * 6)
        )
        for period in sel.Period:
            series = sel.online_rate_series(period, now=now)
            assert len(series.points) <= sel.MAX_CHART_POINTS, period
            assert series.average == 90.0
            assert {rate for _t, rate in series.points} <= {90.0, None}
        week = sel.online_rate_series(sel.Period.WEEK, now=now)
        assert week.samples == 7 * 24 * 6 + 1
        assert len(week.points) == 169  # one per hour

    def test_buckets_average_their_samples_and_empty_buckets_are_gaps(self) -> None:
        now = AT + timedelta(minutes=4)
        OnlineSample.objects.bulk_create(
            [
                OnlineSample(at=AT, in_service=10, online=10),
                OnlineSample(at=AT + timedelta(minutes=1), in_service=10, online=8),
                OnlineSample(at=AT - timedelta(hours=2), in_service=4, online=1),
                OnlineSample(at=AT - timedelta(days=2), in_service=4, online=0),  # outside
            ]
        )
        series = sel.online_rate_series(sel.Period.DAY, now=now)
        points = dict(series.points)
        assert points[int(AT.timestamp()) * 1000] == 90.0
        assert points[int((AT - timedelta(hours=2)).timestamp()) * 1000] == 25.0
        assert points[int((AT - timedelta(hours=1)).timestamp()) * 1000] is None
        assert series.lowest == 25.0
        assert series.average == round(100 * 19 / 24, 2)
        assert series.samples == 3

    def test_no_samples_give_an_empty_chart_not_an_error(self) -> None:
        series = sel.online_rate_series(sel.Period.MONTH, now=AT)
        assert series.samples == 0 and series.average is None and series.lowest is None
        assert all(rate is None for _t, rate in series.points)


class HeartbeatGapTests(NetworkTestCase):
    def test_offline_then_online_is_a_gap_and_a_silent_collector_is_still_offline(self) -> None:
        now = timezone.now()
        back = self.collector(1)
        offline_event(back, EventKind.OFFLINE, now - timedelta(hours=3))
        offline_event(back, EventKind.ONLINE, now - timedelta(hours=1))
        silent = self.collector(2, status=CollectorStatus.OFFLINE)
        Collector.objects.filter(pk=silent.pk).update(status_changed_at=now - timedelta(hours=5))
        offline_event(silent, EventKind.OFFLINE, now - timedelta(hours=5))
        report = sel.heartbeat_gaps(self.netadmin, period=sel.Period.DAY, now=now)
        assert report.total == 2 and report.still_offline == 1
        first, second = report.rows
        assert first.serial_number == silent.serial_number and first.still_offline
        assert first.seconds == 5 * 3600
        assert second.serial_number == back.serial_number
        assert (second.started_at, second.ended_at) == (
            now - timedelta(hours=3),
            now - timedelta(hours=1),
        )
        assert second.seconds == 2 * 3600 and second.customer == self.customer.name

    def test_a_gap_that_began_before_the_period_starts_at_its_offline_event(self) -> None:
        now = timezone.now()
        back = self.collector(1)
        offline_event(back, EventKind.OFFLINE, now - timedelta(days=2))
        offline_event(back, EventKind.ONLINE, now - timedelta(hours=2))
        (gap,) = sel.heartbeat_gaps(self.netadmin, period=sel.Period.DAY, now=now).rows
        assert gap.started_at == now - timedelta(days=2)
        assert gap.seconds == 46 * 3600

    def test_gaps_take_the_same_queries_for_one_or_many_collectors(self) -> None:
        now = timezone.now()
        for n in range(1, 6):
            c = self.collector(n)
            offline_event(c, EventKind.OFFLINE, now - timedelta(days=2))
            offline_event(c, EventKind.ONLINE, now - timedelta(hours=n))
            offline_event(c, EventKind.OFFLINE, now - timedelta(minutes=50))
            offline_event(c, EventKind.ONLINE, now - timedelta(minutes=40))
        self.netadmin.has_perm("devices.manage_network")  # permissions cached
        # Events, the offline events older than the period, the collectors offline now.
        with self.assertNumQueries(3):
            report = sel.heartbeat_gaps(self.netadmin, period=sel.Period.DAY, now=now)
        assert report.total == 10


class FaultTests(NetworkTestCase):
    def setUp(self) -> None:
        self.device = self.collector(1)

    def test_network_admin_records_a_fault_and_it_is_audited(self) -> None:
        fault = services.fault_open(
            actor=self.netadmin, collector=self.device, kind=FaultKind.LINE, cause="光猫掉电"
        )
        assert fault.status == FaultStatus.OPEN and fault.cause == "光猫掉电"
        assert AuditEntry.objects.filter(action="fault.open", object_id=str(fault.pk)).exists()

    def test_other_roles_may_not_record_or_update_faults(self) -> None:
        for persona in ("monitoring", "director", "engineer"):
            with self.assertRaises(PermissionDenied):
                services.fault_open(
                    actor=self.users[persona], collector=self.device, kind=FaultKind.DEVICE
                )
        fault = services.fault_open(actor=None, collector=self.device, kind=FaultKind.DEVICE)
        with self.assertRaises(PermissionDenied):
            services.fault_update(
                actor=self.users["monitoring"],
                fault=fault,
                status=FaultStatus.CLOSED,
                cause="x",
                handling="y",
                analysis="",
            )

    def test_an_unknown_kind_is_refused_naming_the_field(self) -> None:
        with self.assertRaises(ValidationError) as ctx:
            services.fault_open(actor=self.netadmin, collector=self.device, kind="weather")
        assert "kind" in ctx.exception.message_dict

    def test_closing_needs_the_cause_and_the_handling_and_saves_nothing_without(self) -> None:
        fault = services.fault_open(actor=None, collector=self.device, kind=FaultKind.DEVICE)
        with self.assertRaises(ValidationError) as ctx:
            services.fault_update(
                actor=self.netadmin,
                fault=fault,
                status=FaultStatus.CLOSED,
                cause="  ",
                handling="",
                analysis="电源老化",
            )
        assert set(ctx.exception.message_dict) == {"cause", "handling"}
        fault.refresh_from_db()
        assert fault.status == FaultStatus.OPEN and fault.analysis == "" and fault.closed_at is None

    def test_closing_records_when_and_by_whom(self) -> None:
        fault = services.fault_open(actor=None, collector=self.device, kind=FaultKind.DEVICE)
        fault = services.fault_update(
            actor=self.netadmin,
            fault=fault,
            status=FaultStatus.CLOSED,
            cause=" 电源模块损坏 ",
            handling="更换电源模块",
            analysis="",
        )
        fault.refresh_from_db()
        assert fault.status == FaultStatus.CLOSED and fault.closed_at is not None
        assert fault.handled_by == self.netadmin and fault.cause == "电源模块损坏"
        assert AuditEntry.objects.filter(action="fault.close", object_id=str(fault.pk)).exists()

    def test_taking_a_fault_names_the_handler_and_reopening_clears_the_closing(self) -> None:
        fault = services.fault_open(actor=None, collector=self.device, kind=FaultKind.DEVICE)
        fault = services.fault_update(
            actor=self.netadmin,
            fault=fault,
            status=FaultStatus.HANDLING,
            cause="",
            handling="",
            analysis="",
        )
        assert fault.handled_by == self.netadmin and fault.closed_at is None
        services.fault_update(
            actor=self.netadmin,
            fault=fault,
            status=FaultStatus.CLOSED,
            cause="a",
            handling="b",
            analysis="",
        )
        fault = services.fault_update(
            actor=self.netadmin,
            fault=fault,
            status=FaultStatus.OPEN,
            cause="a",
            handling="b",
            analysis="复发",
        )
        fault.refresh_from_db()
        assert fault.status == FaultStatus.OPEN and fault.closed_at is None
        assert fault.analysis == "复发"

    def test_an_offline_fault_opened_by_the_gateway_can_be_closed_after_recovery(self) -> None:
        Collector.objects.filter(pk=self.device.pk).update(
            last_seen_at=timezone.now() - timedelta(hours=1)
        )
        device_services.collectors_mark_offline()
        fault = Fault.objects.get(collector=self.device)
        assert fault.kind == FaultKind.OFFLINE and fault.event is not None
        services.fault_update(
            actor=self.netadmin,
            fault=fault,
            status=FaultStatus.CLOSED,
            cause="停电",
            handling="来电后自动恢复",
            analysis="",
        )
        assert Fault.objects.get(pk=fault.pk).status == FaultStatus.CLOSED


class CampaignTests(NetworkTestCase):
    def setUp(self) -> None:
        self.old = self.collector(1, firmware_version="1.0")
        self.older = self.collector(2, firmware_version="0.9", status=CollectorStatus.OFFLINE)
        self.current = self.collector(3, firmware_version="2.0")
        self.other_model = self.collector(4, model="GST-X", firmware_version="1.0")
        self.other_maker = self.collector(5, manufacturer="利达", firmware_version="1.0")
        self.stock = make_collector(360_102_000_098, manufacturer="海湾", model="GST-UITD")
        self.retired = self.collector(6, status=CollectorStatus.RETIRED)

    def create(self, **kwargs: Any) -> FirmwareCampaign:
        data: dict[str, Any] = {
            "actor": self.netadmin,
            "name": "海湾 2.0",
            "target_version": "2.0",
            "manufacturer": "海湾",
            "model": "GST-UITD",
            **kwargs,
        }
        return services.campaign_create(**data)

    def targets(self, campaign: FirmwareCampaign) -> dict[int, CampaignTarget]:
        return {t.collector_id: t for t in CampaignTarget.objects.filter(campaign=campaign)}

    def test_targets_are_in_service_collectors_of_the_model_not_yet_on_the_version(self) -> None:
        campaign = self.create()
        targets = self.targets(campaign)
        assert set(targets) == {self.old.pk, self.older.pk}
        assert targets[self.older.pk].from_version == "0.9"
        assert {t.status for t in targets.values()} == {TargetStatus.PENDING}
        assert campaign.status == CampaignStatus.DRAFT
        assert AuditEntry.objects.filter(action="firmware_campaign.create").exists()

    def test_the_version_filter_and_case_insensitive_model(self) -> None:
        campaign = self.create(model="gst-uitd", from_versions=["0.9", " "])
        assert set(self.targets(campaign)) == {self.older.pk}

    def test_explicit_collectors_skip_retired_ones_and_those_already_upgraded(self) -> None:
        campaign = self.create(
            manufacturer="",
            model="",
            collectors=[self.stock, self.current, self.retired, self.other_maker],
        )
        assert set(self.targets(campaign)) == {self.stock.pk, self.other_maker.pk}

    def test_an_empty_target_set_is_refused_and_nothing_is_created(self) -> None:
        with self.assertRaises(ValidationError) as ctx, translation.override("en"):
            self.create(manufacturer="无名")
        assert "No collector matches" in " ".join(ctx.exception.messages)
        assert not CampaignTarget.objects.exists()

    def test_name_and_target_version_are_required_naming_the_fields(self) -> None:
        with self.assertRaises(ValidationError) as ctx:
            self.create(name=" ", target_version="")
        assert set(ctx.exception.message_dict) == {"name", "target_version"}

    def test_only_network_admins_create_campaigns(self) -> None:
        with self.assertRaises(PermissionDenied):
            self.create(actor=self.users["director"])

    def test_reported_versions_upgrade_targets_of_running_campaigns_and_finish_them(self) -> None:
        campaign = self.create()
        draft = self.create(name="草稿", model="GST-X")
        services.campaign_start(actor=self.netadmin, campaign=campaign)
        assert services.campaign_versions_reported({self.old.pk: "2.0", self.older.pk: "1.5"}) == 1
        targets = self.targets(campaign)
        assert targets[self.old.pk].status == TargetStatus.UPGRADED
        assert targets[self.older.pk].status == TargetStatus.PENDING
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.RUNNING
        # A draft campaign is not ticked off.
        assert services.campaign_versions_reported({self.other_model.pk: "2.0"}) == 0
        assert self.targets(draft)[self.other_model.pk].status == TargetStatus.PENDING
        assert services.campaign_versions_reported({self.older.pk: "2.0"}) == 1
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.DONE
        assert campaign.finished_at is not None
        assert services.campaign_versions_reported({}) == 0

    def test_starting_ticks_off_collectors_upgraded_since_the_campaign_was_drafted(self) -> None:
        campaign = self.create()
        Collector.objects.filter(pk=self.old.pk).update(firmware_version="2.0")
        campaign = services.campaign_start(actor=self.netadmin, campaign=campaign)
        assert campaign.status == CampaignStatus.RUNNING and campaign.started_at is not None
        assert self.targets(campaign)[self.old.pk].status == TargetStatus.UPGRADED
        with self.assertRaises(ValidationError):
            services.campaign_start(actor=self.netadmin, campaign=campaign)

    def test_a_collector_cannot_be_in_two_running_campaigns(self) -> None:
        first = self.create()
        second = self.create(name="重复", target_version="2.1")
        services.campaign_start(actor=self.netadmin, campaign=first)
        with self.assertRaises(ValidationError) as ctx:
            services.campaign_start(actor=self.netadmin, campaign=second)
        assert self.old.serial_number in " ".join(ctx.exception.messages)

    def test_marking_the_last_target_by_hand_finishes_the_campaign(self) -> None:
        campaign = self.create()
        services.campaign_start(actor=self.netadmin, campaign=campaign)
        targets = self.targets(campaign)
        services.target_update(
            actor=self.netadmin,
            target=targets[self.old.pk],
            status=TargetStatus.FAILED,
            note="升级包校验失败",
        )
        target = services.target_update(
            actor=self.netadmin,
            target=targets[self.older.pk],
            status=TargetStatus.SKIPPED,
            note="客户停业",
        )
        assert target.updated_by == self.netadmin and target.note == "客户停业"
        assert target.campaign.status == CampaignStatus.DONE
        with self.assertRaises(ValidationError):
            services.target_update(
                actor=self.netadmin, target=target, status=TargetStatus.PENDING, note=""
            )

    def test_a_bad_target_status_or_long_note_is_refused_naming_the_field(self) -> None:
        target = next(iter(self.targets(self.create()).values()))
        with self.assertRaises(ValidationError) as ctx:
            services.target_update(actor=self.netadmin, target=target, status="done", note="")
        assert "status" in ctx.exception.message_dict
        with self.assertRaises(ValidationError) as ctx:
            services.target_update(
                actor=self.netadmin, target=target, status=TargetStatus.FAILED, note="长" * 201
            )
        assert "note" in ctx.exception.message_dict

    def test_cancelling_keeps_the_targets_and_a_finished_campaign_stays_finished(self) -> None:
        campaign = self.create()
        campaign = services.campaign_cancel(actor=self.netadmin, campaign=campaign)
        assert campaign.status == CampaignStatus.CANCELLED and campaign.finished_at is not None
        assert len(self.targets(campaign)) == 2
        with self.assertRaises(ValidationError):
            services.campaign_cancel(actor=self.netadmin, campaign=campaign)
        with self.assertRaises(ValidationError):
            services.campaign_start(actor=self.netadmin, campaign=campaign)


class WorkLogTests(NetworkTestCase):
    def test_an_entry_is_written_by_its_author_and_audited(self) -> None:
        device = self.collector(1)
        entry = services.worklog_add(
            actor=self.netadmin,
            day=timezone.localdate(),
            category=WorkLogCategory.INSPECTION,
            content=" 巡检 36 台采集机 ",
            collector=device,
        )
        assert entry.author == self.netadmin and entry.content == "巡检 36 台采集机"
        assert entry.collector == device
        assert AuditEntry.objects.filter(action="worklog.add").exists()

    def test_future_days_and_empty_content_are_refused_naming_the_fields(self) -> None:
        with self.assertRaises(ValidationError) as ctx:
            services.worklog_add(
                actor=self.netadmin,
                day=timezone.localdate() + timedelta(days=1),
                category=WorkLogCategory.OTHER,
                content="  ",
            )
        assert set(ctx.exception.message_dict) == {"day", "content"}
        with self.assertRaises(ValidationError) as ctx:
            services.worklog_add(
                actor=self.netadmin, day=timezone.localdate(), category="party", content="x"
            )
        assert "category" in ctx.exception.message_dict
        assert not WorkLogEntry.objects.exists()

    def test_only_network_admins_write_the_work_log(self) -> None:
        with self.assertRaises(PermissionDenied):
            services.worklog_add(
                actor=self.users["monitoring"],
                day=timezone.localdate(),
                category=WorkLogCategory.OTHER,
                content="x",
            )
