"""Network operations pages (网管): who may see and change them, forms that name the bad field,
constant query counts on the lists, and the online-rate chart's data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import BytesIO
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from devices import network_services as services
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
from devices.network_selectors import MAX_CHART_POINTS
from devices.tests.factories import make_building, make_collector
from ruwang.testing import PersonaTestCase

VIEWERS = ["netadmin", "director", "monitoring"]
MANAGERS = ["netadmin"]
NETWORK = reverse("devices:network")
FAULTS = reverse("devices:faults")
FAULT_NEW = reverse("devices:fault_create")
CAMPAIGNS = reverse("devices:campaigns")
CAMPAIGN_NEW = reverse("devices:campaign_create")
WORKLOG = reverse("devices:worklog")
ECHARTS = "vendor/echarts/echarts.min.js"


class NetworkViewTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, _floors = make_building(floors=1)
        cls.netadmin = cls.users["netadmin"]
        cls.device = cls.collector(1)

    @classmethod
    def collector(cls, n: int, status: str = CollectorStatus.ONLINE, **data: str) -> Collector:
        data = {"manufacturer": "海湾", "model": "GST-UITD", "firmware_version": "1.0", **data}
        collector = make_collector(360_102_000_000 + n, site=cls.site, **data)
        Collector.objects.filter(pk=collector.pk).update(status=status)
        collector.status = status
        return collector

    def client_as(self, persona: str) -> Client:
        # Messages are asserted in English, whatever the translations say.
        client = super().client_as(persona)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    def fault(self, collector: Collector | None = None) -> Fault:
        return services.fault_open(
            actor=None, collector=collector or self.device, kind=FaultKind.DEVICE, cause="电源"
        )

    def campaign(self, target_version: str = "2.0") -> FirmwareCampaign:
        return services.campaign_create(
            actor=None, name=f"升级 {target_version}", target_version=target_version
        )

    def queries(self, client: Client, url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)


class AccessTests(NetworkViewTestCase):
    def test_the_console_and_its_lists_are_for_network_admins_the_director_and_monitoring(
        self,
    ) -> None:
        fault = self.fault()
        campaign = self.campaign()
        for url in (
            NETWORK,
            f"{NETWORK}?period=30d",
            FAULTS,
            reverse("devices:fault", args=[fault.pk]),
            CAMPAIGNS,
            reverse("devices:campaign", args=[campaign.pk]),
            WORKLOG,
        ):
            self.assert_access(url, allowed=VIEWERS)

    def test_only_network_admins_open_the_forms_that_create(self) -> None:
        self.assert_access(FAULT_NEW, allowed=MANAGERS)
        self.assert_access(CAMPAIGN_NEW, allowed=MANAGERS)

    def test_only_network_admins_change_a_fault_or_write_the_log(self) -> None:
        fault = self.fault()
        url = reverse("devices:fault", args=[fault.pk])
        data = {"status": "handling", "cause": "", "handling": "", "analysis": ""}
        self.assert_access(url, allowed=MANAGERS, method="post", data=data, ok_status=(302,))
        assert Fault.objects.get(pk=fault.pk).status == FaultStatus.HANDLING
        for persona in ("director", "monitoring"):
            page = self.client_as(persona).get(url)
            assert 'id="rw-fault-form"' not in page.content.decode()
        data = {"day": timezone.localdate().isoformat(), "category": "other", "content": "巡检"}
        self.assert_access(WORKLOG, allowed=MANAGERS, method="post", data=data, ok_status=(302,))
        assert WorkLogEntry.objects.count() == 1

    def test_only_network_admins_start_cancel_and_record_targets(self) -> None:
        campaign = self.campaign()
        target = campaign.targets.get()
        self.assert_access(
            reverse("devices:campaign_target", args=[target.pk]),
            allowed=MANAGERS,
            method="post",
            data={"status": "in_progress", "note": "已下发"},
            ok_status=(302,),
        )
        self.assert_access(
            reverse("devices:campaign_start", args=[campaign.pk]),
            allowed=MANAGERS,
            method="post",
            ok_status=(302,),
        )
        self.assert_access(
            reverse("devices:campaign_cancel", args=[campaign.pk]),
            allowed=MANAGERS,
            method="post",
            ok_status=(302,),
        )
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CANCELLED
        assert CampaignTarget.objects.get(pk=target.pk).status == TargetStatus.IN_PROGRESS

    def test_the_export_is_for_every_viewer(self) -> None:
        today = timezone.localdate().isoformat()
        self.assert_access(
            reverse("devices:worklog_export"),
            allowed=VIEWERS,
            data={"start": today, "end": today},
        )

    def test_unknown_records_are_not_found(self) -> None:
        client = self.client_as("netadmin")
        assert client.get(reverse("devices:fault", args=[999])).status_code == 404
        assert client.get(reverse("devices:campaign", args=[999])).status_code == 404
        response = client.post(reverse("devices:campaign_target", args=[999]), {"status": "x"})
        assert response.status_code == 404


class ConsoleTests(NetworkViewTestCase):
    def chart(self, html: str) -> dict:
        match = re.search(
            r'<script id="rw-online-data" type="application/json">(.*?)</script>', html, re.S
        )
        assert match, "the chart's data script is missing"
        return json.loads(match.group(1))

    def test_the_chart_data_is_well_formed_json_with_the_samples(self) -> None:
        now = timezone.now().replace(second=0, microsecond=0)
        OnlineSample.objects.bulk_create(
            OnlineSample(at=now - timedelta(minutes=5 * n), in_service=4, online=3)
            for n in range(12 * 24)
        )
        for period in ("24h", "7d", "30d"):
            response = self.client_as("director").get(NETWORK, {"period": period})
            data = self.chart(response.content.decode())
            assert 0 < len(data["points"]) <= MAX_CHART_POINTS
            assert all(len(point) == 2 and isinstance(point[0], int) for point in data["points"])
            assert 75.0 in {rate for _t, rate in data["points"]}
            assert data["average"] == 75.0 and data["samples"] > 0

    def test_echarts_and_the_chart_code_load_only_on_the_console(self) -> None:
        client = self.client_as("netadmin")
        html = client.get(NETWORK).content.decode()
        assert ECHARTS in html and "devices/network.js" in html
        assert "http://" not in html and "https://" not in html
        for url in (FAULTS, CAMPAIGNS, WORKLOG):
            assert ECHARTS not in client.get(url).content.decode()

    def test_an_empty_period_says_so_and_still_has_a_chart(self) -> None:
        html = self.client_as("monitoring").get(NETWORK).content.decode()
        assert 'id="rw-online-empty"' in html
        assert self.chart(html)["samples"] == 0

    def test_status_counts_rate_gaps_and_firmware_are_shown(self) -> None:
        now = timezone.now()
        self.collector(2, status=CollectorStatus.OFFLINE, firmware_version="0.9")
        Collector.objects.filter(serial_number="SN360102000002").update(
            status_changed_at=now - timedelta(hours=2)
        )
        back = self.collector(3)
        for kind, hours in ((EventKind.OFFLINE, 5), (EventKind.ONLINE, 4)):
            at = now - timedelta(hours=hours)
            DeviceEvent.objects.create(collector=back, kind=kind, occurred_at=at, received_at=at)
        response = self.client_as("director").get(NETWORK)
        counts = response.context["counts"]
        assert (counts.online, counts.offline) == (2, 1)
        assert counts.rate == 66.67
        gaps = [row["gap"] for row in response.context["gaps"]]
        assert [g.serial_number for g in gaps] == ["SN360102000002", "SN360102000003"]
        assert response.context["gaps"][0]["duration"] == "2 h 0 min"
        assert response.context["gaps"][1]["duration"] == "1 h 0 min"
        html = response.content.decode()
        assert "66.7 %" in html
        assert {(r["firmware_version"], r["n"]) for r in response.context["firmware"]} == {
            ("1.0", 2),
            ("0.9", 1),
        }
        for link in (FAULTS, CAMPAIGNS, WORKLOG):
            assert f'href="{link}"' in html

    def test_an_unknown_period_falls_back_to_24_hours(self) -> None:
        response = self.client_as("netadmin").get(NETWORK, {"period": "1y"})
        assert response.context["period"] == "24h"

    def test_query_count_does_not_grow_with_collectors_gaps_or_faults(self) -> None:
        client = self.client_as("netadmin")
        client.get(NETWORK)
        one = self.queries(client, NETWORK)
        now = timezone.now()
        for n in range(2, 8):
            c = self.collector(n, status=CollectorStatus.OFFLINE, firmware_version=f"0.{n}")
            at = now - timedelta(days=2)
            DeviceEvent.objects.create(
                collector=c, kind=EventKind.OFFLINE, occurred_at=at, received_at=at
            )
            at = now - timedelta(hours=n)
            DeviceEvent.objects.create(
                collector=c, kind=EventKind.ONLINE, occurred_at=at, received_at=at
            )
            self.fault(c)
        # The offline events older than the period cost one grouped query, whatever their number.
        assert self.queries(client, NETWORK) == one + 1


class FaultPageTests(NetworkViewTestCase):
    def test_recording_a_fault_by_serial_number(self) -> None:
        client = self.client_as("netadmin")
        response = client.post(
            FAULT_NEW, {"collector": "sn360102000001", "kind": "line", "cause": "光纤中断"}
        )
        fault = Fault.objects.get()
        self.assertRedirects(response, reverse("devices:fault", args=[fault.pk]))
        assert (fault.collector, fault.kind, fault.cause) == (self.device, "line", "光纤中断")

    def test_recording_a_fault_by_protocol_address(self) -> None:
        client = self.client_as("netadmin")
        client.post(FAULT_NEW, {"collector": str(self.device.address), "kind": "device"})
        assert Fault.objects.get().collector == self.device

    def test_an_unknown_collector_is_a_clear_error_on_its_field(self) -> None:
        response = self.client_as("netadmin").post(
            FAULT_NEW, {"collector": "NOPE-1", "kind": "device"}
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert "NOPE-1" in errors["collector"][0]
        self.assertContains(response, "No collector has the serial number or address")
        assert not Fault.objects.exists()

    def test_a_serial_number_wins_over_another_collectors_address(self) -> None:
        twin = self.collector(2, serial_number=str(self.device.address))
        self.client_as("netadmin").post(
            FAULT_NEW, {"collector": str(self.device.address), "kind": "device"}
        )
        assert Fault.objects.get().collector == twin

    def test_a_text_that_reads_as_two_addresses_asks_for_the_serial_number(self) -> None:
        # Twelve digits read both as a decimal address and as six label hex bytes (address 1).
        make_collector(10_000_000_000, serial_number="DEC-1")
        make_collector(1, serial_number="HEX-1")
        response = self.client_as("netadmin").post(
            FAULT_NEW, {"collector": "010000000000", "kind": "device"}
        )
        error = response.context["form"].errors["collector"][0]
        assert "DEC-1" in error and "HEX-1" in error and "serial number" in error
        assert not Fault.objects.exists()

    def test_the_form_can_be_prefilled_from_a_collector(self) -> None:
        response = self.client_as("netadmin").get(FAULT_NEW, {"collector": self.device.pk})
        assert response.context["form"]["collector"].value() == self.device.serial_number

    def test_closing_without_cause_and_handling_names_both_fields(self) -> None:
        fault = services.fault_open(actor=None, collector=self.device, kind=FaultKind.LINE)
        url = reverse("devices:fault", args=[fault.pk])
        response = self.client_as("netadmin").post(
            url, {"status": "closed", "cause": "", "handling": "", "analysis": "x"}
        )
        errors = response.context["form"].errors
        assert "cause" in errors and "handling" in errors
        self.assertContains(response, "Give the cause before closing the fault.")
        assert Fault.objects.get(pk=fault.pk).status == FaultStatus.OPEN

    def test_closing_with_cause_and_handling_shows_the_history(self) -> None:
        fault = self.fault()
        url = reverse("devices:fault", args=[fault.pk])
        client = self.client_as("netadmin")
        response = client.post(
            url, {"status": "closed", "cause": "电源", "handling": "更换", "analysis": ""}
        )
        self.assertRedirects(response, url)
        page = client.get(url)
        self.assertContains(page, "fault.close")
        assert page.context["fault"].handled_by == self.netadmin

    def test_filters_by_status_and_kind(self) -> None:
        open_fault = self.fault()
        closed = services.fault_open(actor=None, collector=self.device, kind=FaultKind.LINE)
        services.fault_update(
            actor=None, fault=closed, status="closed", cause="a", handling="b", analysis=""
        )
        client = self.client_as("monitoring")
        assert list(client.get(FAULTS).context["faults"]) == [open_fault]  # not closed, default
        assert list(client.get(FAULTS, {"status": "closed"}).context["faults"]) == [closed]
        assert len(client.get(FAULTS, {"status": ""}).context["faults"]) == 2
        assert list(client.get(FAULTS, {"status": "", "kind": "line"}).context["faults"]) == [
            closed
        ]
        assert client.get(FAULTS, {"status": "bogus"}).context["status"] == ""

    def test_list_query_count_is_constant(self) -> None:
        client = self.client_as("monitoring")
        self.fault()
        client.get(FAULTS)
        one = self.queries(client, FAULTS)
        for n in range(2, 8):
            self.fault(self.collector(n))
        assert len(client.get(FAULTS).context["faults"]) == 7
        assert self.queries(client, FAULTS) == one


class CampaignPageTests(NetworkViewTestCase):
    def form(self, **data: str) -> dict[str, str]:
        return {
            "name": "海湾升级",
            "target_version": "2.0",
            "manufacturer": "海湾",
            "model": "",
            "from_versions": "",
            "serials": "",
            "note": "",
            **data,
        }

    def test_the_preview_counts_matching_collectors_without_creating(self) -> None:
        self.collector(2, firmware_version="0.9")
        self.collector(3, firmware_version="2.0")
        client = self.client_as("netadmin")
        partial = client.post(CAMPAIGN_NEW, self.form(), headers={"HX-Request": "true"})
        self.assertTemplateUsed(partial, "devices/network/_campaign_preview.html")
        assert partial.context["preview"]["count"] == 2
        self.assertContains(partial, 'data-count="2"')
        page = client.post(CAMPAIGN_NEW, self.form(from_versions="0.9", action="preview"))
        assert page.context["preview"]["count"] == 1
        self.assertContains(page, "SN360102000002")
        assert not FirmwareCampaign.objects.exists()

    def test_creating_makes_a_draft_with_its_targets(self) -> None:
        self.collector(2, firmware_version="0.9")
        response = self.client_as("netadmin").post(CAMPAIGN_NEW, self.form(action="create"))
        campaign = FirmwareCampaign.objects.get()
        self.assertRedirects(response, reverse("devices:campaign", args=[campaign.pk]))
        assert campaign.status == CampaignStatus.DRAFT and campaign.targets.count() == 2

    def test_no_match_and_unknown_serials_are_errors_on_the_form(self) -> None:
        client = self.client_as("netadmin")
        response = client.post(CAMPAIGN_NEW, self.form(manufacturer="无名", action="create"))
        self.assertContains(response, "No collector matches")
        response = client.post(
            CAMPAIGN_NEW, self.form(serials="SN360102000001\nGHOST-9", action="create")
        )
        assert "GHOST-9" in response.context["form"].errors["serials"][0]
        response = client.post(CAMPAIGN_NEW, self.form(target_version="", action="create"))
        assert "target_version" in response.context["form"].errors
        assert not FirmwareCampaign.objects.exists()

    def test_explicit_serials_choose_the_targets(self) -> None:
        other = self.collector(2, manufacturer="利达")
        self.client_as("netadmin").post(
            CAMPAIGN_NEW, self.form(manufacturer="", serials=f"{other.serial_number.lower()}")
        )
        assert list(FirmwareCampaign.objects.get().targets.values_list("collector", flat=True)) == [
            other.pk
        ]

    def test_a_target_row_is_updated_in_place_with_htmx(self) -> None:
        campaign = self.campaign()
        services.campaign_start(actor=None, campaign=campaign)
        self.collector(2)  # a second collector, not in the campaign
        target = campaign.targets.get()
        url = reverse("devices:campaign_target", args=[target.pk])
        client = self.client_as("netadmin")
        response = client.post(
            url, {"status": "failed", "note": "断电"}, headers={"HX-Request": "true"}
        )
        self.assertTemplateUsed(response, "devices/network/_target_row.html")
        self.assertContains(response, "断电")
        assert response.get("HX-Refresh") == "true"  # the last target: the campaign is done
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.DONE

    def test_a_bad_target_status_is_shown_on_the_row(self) -> None:
        target = self.campaign().targets.get()
        url = reverse("devices:campaign_target", args=[target.pk])
        response = self.client_as("netadmin").post(
            url, {"status": "done", "note": ""}, headers={"HX-Request": "true"}
        )
        assert "done" in response.context["error"]
        self.assertContains(response, 'role="alert"')

    def test_starting_an_already_finished_campaign_says_why(self) -> None:
        campaign = self.campaign()
        services.campaign_cancel(actor=None, campaign=campaign)
        response = self.client_as("netadmin").post(
            reverse("devices:campaign_start", args=[campaign.pk]), follow=True
        )
        self.assertContains(response, "Only a draft campaign can be started.")

    def test_detail_shows_versions_and_its_query_count_is_constant(self) -> None:
        client = self.client_as("director")
        campaign = self.campaign()
        url = reverse("devices:campaign", args=[campaign.pk])
        client.get(url)
        one = self.queries(client, url)
        campaign.delete()
        for n in range(2, 8):
            self.collector(n, firmware_version="1.1")
        campaign = self.campaign()
        url = reverse("devices:campaign", args=[campaign.pk])
        response = client.get(url)
        assert len(response.context["targets"]) == 7
        self.assertContains(response, "1.1")
        assert self.queries(client, url) == one
        assert client.get(url, {"status": "failed"}).context["targets"] == []
        assert len(client.get(url, {"status": "pending"}).context["targets"]) == 7

    def test_list_query_count_is_constant(self) -> None:
        client = self.client_as("monitoring")
        self.campaign()
        client.get(CAMPAIGNS)
        one = self.queries(client, CAMPAIGNS)
        for n in range(1, 6):
            self.campaign(f"3.{n}")
        assert len(client.get(CAMPAIGNS).context["campaigns"]) == 6
        assert self.queries(client, CAMPAIGNS) == one


class WorkLogPageTests(NetworkViewTestCase):
    def add(self, day: str, content: str = "巡检", **data: str) -> Any:
        return self.client_as("netadmin").post(
            WORKLOG, {"day": day, "category": "inspection", "content": content, **data}
        )

    def test_adding_an_entry_returns_to_its_day(self) -> None:
        yesterday = timezone.localdate() - timedelta(days=1)
        response = self.add(yesterday.isoformat(), collector="SN360102000001")
        self.assertRedirects(response, f"{WORKLOG}?day={yesterday.isoformat()}")
        entry = WorkLogEntry.objects.get()
        assert (entry.day, entry.collector) == (yesterday, self.device)

    def test_a_future_day_or_empty_content_is_refused_naming_the_field(self) -> None:
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        response = self.add(tomorrow)
        assert "day" in response.context["form"].errors
        response = self.add(timezone.localdate().isoformat(), content="   ")
        assert "content" in response.context["form"].errors
        response = self.add(timezone.localdate().isoformat(), collector="GHOST")
        assert "collector" in response.context["form"].errors
        assert not WorkLogEntry.objects.exists()

    def test_day_navigation_stops_at_today_and_a_bad_day_shows_today(self) -> None:
        client = self.client_as("monitoring")
        today = timezone.localdate()
        response = client.get(WORKLOG)
        assert response.context["next_day"] is None
        assert response.context["previous_day"] == today - timedelta(days=1)
        response = client.get(WORKLOG, {"day": (today - timedelta(days=3)).isoformat()})
        assert response.context["next_day"] == today - timedelta(days=2)
        self.assertContains(response, f"?day={(today - timedelta(days=2)).isoformat()}")
        response = client.get(WORKLOG, {"day": "yesterday"})
        assert response.context["day"] == today
        self.assertContains(response, "is not a date")
        assert response.context["form"] is None  # monitoring reads only

    def test_day_view_query_count_is_constant(self) -> None:
        client = self.client_as("netadmin")
        day = timezone.localdate()
        services.worklog_add(
            actor=self.netadmin, day=day, category=WorkLogCategory.OTHER, content="1"
        )
        client.get(WORKLOG)
        one = self.queries(client, WORKLOG)
        for n in range(2, 8):
            services.worklog_add(
                actor=self.netadmin,
                day=day,
                category=WorkLogCategory.FAULT,
                content=str(n),
                collector=self.collector(n),
            )
        assert len(client.get(WORKLOG).context["entries"]) == 7
        assert self.queries(client, WORKLOG) == one

    def test_the_export_is_a_workbook_of_the_range(self) -> None:
        today = timezone.localdate()
        services.worklog_add(
            actor=self.netadmin, day=today, category=WorkLogCategory.UPGRADE, content="升级 3 台"
        )
        services.worklog_add(
            actor=self.netadmin,
            day=today - timedelta(days=40),
            category=WorkLogCategory.OTHER,
            content="早前",
        )
        response = self.client_as("director").get(
            reverse("devices:worklog_export"),
            {"start": (today - timedelta(days=7)).isoformat(), "end": today.isoformat()},
        )
        sheet = load_workbook(BytesIO(response.content)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) == 2 and rows[1][2] == "升级 3 台"

    def test_a_bad_export_range_is_explained(self) -> None:
        response = self.client_as("netadmin").get(
            reverse("devices:worklog_export"),
            {"start": "2026-03-10", "end": "2026-03-01"},
            follow=True,
        )
        self.assertContains(response, "must not be after the last")
