"""Tickets the system raises: a collector offline or a device fault opens one fault ticket for
engineering (a repeat updates it, recovery closes it unless a person took it over); revisits
become tickets on their dates and are recorded on them; firmware campaigns open one upgrade
ticket per collector, tracked to completion."""

from __future__ import annotations

import datetime as dt
import itertools
from datetime import timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import make_contact, make_customer
from devices import gb26875 as gb
from devices import network_services
from devices import services as device_services
from devices.models import (
    CampaignStatus,
    CampaignTarget,
    Collector,
    CollectorStatus,
    Fault,
    FaultKind,
    FaultStatus,
    TargetStatus,
)
from devices.tests.factories import make_building, make_collector
from ruwang.testing import PersonaTestCase, make_regions
from service import automation, services, tickets
from service.models import (
    Channel,
    EntryKind,
    LinkKind,
    Priority,
    RevisitStatus,
    RevisitTemplate,
    ScheduledRevisit,
    Survey,
    Team,
    TeamMember,
    Ticket,
    TicketKind,
    TicketStatus,
)
from service.tests.factories import make_plan

SHANGHAI = ZoneInfo("Asia/Shanghai")
_serials = itertools.count(1)


def heartbeat(collector: Collector) -> None:
    """A keep-alive frame from the collector, stored as the gateway stores it."""
    raw = gb.heartbeat(
        source=collector.address,
        destination=0,
        serial=next(_serials) % 65536,
        sent_at=timezone.localtime().replace(tzinfo=None, microsecond=0),
    )
    device_services.frames_ingest(
        [device_services.Incoming(collector.pk, gb.decode_frame(raw), raw, timezone.now())]
    )


def revisit_of(ticket: Ticket) -> ScheduledRevisit:
    return ScheduledRevisit.objects.get(tickets=ticket)


def system_events(ticket: Ticket) -> list[str]:
    return [
        e.data.get("event", "")
        for e in ticket.entries.filter(kind=EntryKind.SYSTEM).order_by("created_at", "id")
    ]


class EngineeringTeamMixin(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.team = Team.objects.create(
            code="after-sales", name="售后组", lead=cls.users["supervisor"]
        )
        TeamMember.objects.create(team=cls.team, user=cls.users["engineer"])


class FaultTicketTests(EngineeringTeamMixin):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, _floors = make_building(floors=1)

    def setUp(self) -> None:
        self.collector = make_collector(site=self.site)
        self.went_silent()

    def went_silent(self) -> None:
        Collector.objects.filter(pk=self.collector.pk).update(
            status=CollectorStatus.ONLINE, last_seen_at=timezone.now() - timedelta(hours=1)
        )

    def offline_tickets(self) -> Any:
        return Ticket.objects.filter(source_key=f"collector:{self.collector.pk}:offline")

    def test_an_offline_collector_opens_exactly_one_fault_ticket_for_engineering(self) -> None:
        assert device_services.collectors_mark_offline() == [self.collector.pk]
        (ticket,) = self.offline_tickets()
        fault = Fault.objects.get(collector=self.collector)
        assert (ticket.kind, ticket.channel, ticket.priority) == (
            TicketKind.FAULT,
            Channel.SYSTEM,
            Priority.HIGH,
        )
        assert ticket.customer == self.customer and ticket.site == self.site
        assert ticket.collector == self.collector and ticket.fault == fault
        assert ticket.team == self.team and ticket.assignee == self.users["engineer"]
        assert ticket.status == TicketStatus.ASSIGNED and not ticket.taken_over
        assert ticket.in_warranty is True
        assert self.collector.serial_number in ticket.subject
        # The same check a minute later finds the collector already offline: nothing new.
        assert device_services.collectors_mark_offline() == []
        assert self.offline_tickets().count() == 1

    def test_a_repeated_offline_updates_the_open_ticket_instead_of_opening_another(self) -> None:
        device_services.collectors_mark_offline()
        second = Fault.objects.create(
            collector=self.collector, kind=FaultKind.OFFLINE, opened_at=timezone.now()
        )
        (again,) = automation.fault_tickets_raise([second])
        (ticket,) = self.offline_tickets()
        assert again == ticket and ticket.is_open
        assert system_events(ticket) == ["created", "fault_again"]
        assert ticket.entries.get(data__event="fault_again").data["fault"] == second.pk

    def test_recovery_resolves_and_closes_the_ticket_with_an_entry(self) -> None:
        device_services.collectors_mark_offline()
        heartbeat(self.collector)
        ticket = self.offline_tickets().get()
        assert ticket.status == TicketStatus.CLOSED and ticket.reopened_count == 0
        assert ticket.resolved_at is not None and ticket.closed_at is not None
        statuses = [
            e.data["after"] for e in ticket.entries.filter(kind=EntryKind.STATUS).order_by("id")
        ]
        assert statuses == [TicketStatus.RESOLVED, TicketStatus.CLOSED]
        assert not Survey.objects.exists()  # nobody worked on it: nothing to rate
        # Offline again later: a new ticket, the closed one stays closed.
        self.went_silent()
        device_services.collectors_mark_offline()
        assert self.offline_tickets().count() == 2
        assert (
            self.offline_tickets().filter(status=TicketStatus.NEW).count()
            + (self.offline_tickets().filter(status=TicketStatus.ASSIGNED).count())
            == 1
        )

    def test_a_ticket_a_person_took_over_stays_open_with_a_note_that_the_collector_recovered(
        self,
    ) -> None:
        device_services.collectors_mark_offline()
        ticket = self.offline_tickets().get()
        tickets.ticket_note(actor=self.users["engineer"], ticket=ticket, text="已电话联系物业")
        heartbeat(self.collector)
        ticket.refresh_from_db()
        assert ticket.taken_over and ticket.status == TicketStatus.ASSIGNED
        assert system_events(ticket)[-1] == "recovered"
        # It goes offline again while the person still works on it: the same ticket is updated.
        self.went_silent()
        device_services.collectors_mark_offline()
        assert self.offline_tickets().count() == 1
        assert system_events(ticket)[-1] == "fault_again"

    def test_a_collector_of_no_customer_is_skipped(self) -> None:
        spare = make_collector(360_102_000_777)
        Collector.objects.filter(pk=spare.pk).update(
            status=CollectorStatus.ONLINE, last_seen_at=timezone.now() - timedelta(hours=1)
        )
        offline = device_services.collectors_mark_offline()
        assert set(offline) == {self.collector.pk, spare.pk}
        assert not Ticket.objects.filter(collector=spare).exists()
        assert Ticket.objects.count() == 1

    def test_a_fault_recorded_on_the_network_pages_opens_a_ticket_and_closing_it_closes_it(
        self,
    ) -> None:
        netadmin = self.users["netadmin"]
        fault = network_services.fault_open(
            actor=netadmin, collector=self.collector, kind=FaultKind.LINE, cause="4G 信号弱"
        )
        ticket = Ticket.objects.get(source_key=f"collector:{self.collector.pk}:line")
        assert ticket.fault == fault and "4G 信号弱" in ticket.description
        network_services.fault_update(
            actor=netadmin,
            fault=fault,
            status=FaultStatus.CLOSED,
            cause="天线松动",
            handling="重新固定天线",
            analysis="",
        )
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.CLOSED
        assert "重新固定天线" in ticket.entries.get(data__after=TicketStatus.RESOLVED).text

    def test_trouble_with_a_ticket_never_loses_the_device_fault(self) -> None:
        trouble = mock.patch.object(tickets, "ticket_create", side_effect=RuntimeError("db"))
        with trouble, self.assertLogs("service.automation", level="ERROR"):
            assert device_services.collectors_mark_offline() == [self.collector.pk]
        assert not Ticket.objects.exists()
        assert Fault.objects.filter(collector=self.collector).count() == 1
        assert Collector.objects.get(pk=self.collector.pk).status == CollectorStatus.OFFLINE


class RevisitTicketTests(EngineeringTeamMixin):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer("回访大厦", regions["360102"], owner=cls.users["market"])
        make_contact(cls.customer, email="wuye@example.com", is_primary=True)
        cls.other = make_customer("别家商场", regions["360402"])

    def travel(self, day: dt.date, hour: int = 8) -> None:
        traveller = time_machine.travel(
            dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI), tick=False
        )
        traveller.start()
        self.addCleanup(traveller.stop)

    def plan(self, starts_on: dt.date = dt.date(2026, 3, 15), **extra: Any) -> Any:
        return make_plan(self.customer, starts_on, **extra)

    def revisit_tickets(self) -> list[tuple[int, str]]:
        return list(
            Ticket.objects.filter(kind=TicketKind.REVISIT)
            .order_by("revisit__due_on")
            .values_list("revisit__months_after", "status")
        )

    def test_handover_plans_revisits_and_each_becomes_a_ticket_on_its_date_not_before(
        self,
    ) -> None:
        plan = self.plan()
        assert [r.due_on for r in plan.revisits.order_by("due_on")] == [
            dt.date(2026, 4, 15),
            dt.date(2026, 6, 15),
            dt.date(2026, 9, 15),
            dt.date(2027, 3, 15),
        ]
        with time_machine.travel(dt.datetime(2026, 4, 14, 23, 59, tzinfo=SHANGHAI), tick=False):
            assert automation.revisit_tickets_open() == []
        with time_machine.travel(dt.datetime(2026, 4, 15, 0, 5, tzinfo=SHANGHAI), tick=False):
            (ticket,) = automation.revisit_tickets_open()
            assert automation.revisit_tickets_open() == []  # one ticket per revisit, ever
        assert ticket.revisit == plan.revisits.get(months_after=1)
        assert ticket.source_key == f"revisit:{ticket.revisit_id}"
        assert (ticket.channel, ticket.team, ticket.assignee) == (
            Channel.SYSTEM,
            self.team,
            self.users["engineer"],
        )
        assert self.revisit_tickets() == [(1, TicketStatus.ASSIGNED)]
        with time_machine.travel(dt.datetime(2026, 6, 14, 12, tzinfo=SHANGHAI), tick=False):
            assert automation.revisit_tickets_open() == []
        # A tick missed for days catches up with everything due by then, once.
        assert len(automation.revisit_tickets_open(today=dt.date(2026, 9, 20))) == 2
        assert [m for m, _s in self.revisit_tickets()] == [1, 3, 6]

    def test_the_default_revisit_template_sets_the_months_of_a_new_plan(self) -> None:
        RevisitTemplate.objects.create(name="标准", months="2，4, 8", is_default=True)
        plan = self.plan(months=6)
        assert sorted(plan.revisits.values_list("months_after", flat=True)) == [2, 4]
        given = self.plan(dt.date(2026, 5, 1), revisit_months=[5])
        assert list(given.revisits.values_list("months_after", flat=True)) == [5]

    def test_without_a_template_the_setting_applies_and_a_shorter_plan_drops_later_months(
        self,
    ) -> None:
        with override_settings(RUWANG_REVISIT_MONTHS=(1, 3, 6, 12)):
            plan = self.plan(months=6)
        assert sorted(plan.revisits.values_list("months_after", flat=True)) == [1, 3, 6]

    def test_a_template_with_bad_months_is_named_in_the_error(self) -> None:
        RevisitTemplate.objects.create(name="坏模板", months="1,三", is_default=True)
        with pytest.raises(ValidationError) as exc:
            self.plan()
        assert "坏模板" in " ".join(exc.value.message_dict["revisit_months"])

    def due_ticket(self) -> Ticket:
        self.plan()
        (ticket,) = automation.revisit_tickets_open(today=dt.date(2026, 4, 15))
        return Ticket.objects.select_related("customer", "revisit").get(pk=ticket.pk)

    def test_the_revisit_form_records_method_findings_and_issues_and_sends_a_survey(
        self,
    ) -> None:
        ticket = self.due_ticket()
        engineer = self.users["engineer"]
        recorded = automation.revisit_record(
            actor=engineer,
            ticket=ticket,
            method="visit",
            findings=" 设备运行正常，值班记录完整 ",
            issues="三楼烟感误报\n\n  值班员不会复位主机  \n",
            issue_kind=TicketKind.FAULT,
        )
        revisit = revisit_of(ticket)
        assert revisit.status == RevisitStatus.DONE and revisit.done_by == engineer
        assert (revisit.method, revisit.findings) == ("visit", "设备运行正常，值班记录完整")
        follow_ups = list(
            Ticket.objects.filter(links_out__target=ticket, links_out__kind=LinkKind.FOLLOW_UP)
            .order_by("id")
            .values_list("subject", "kind", "channel")
        )
        assert follow_ups == [
            ("三楼烟感误报", TicketKind.FAULT, Channel.VISIT),
            ("值班员不会复位主机", TicketKind.FAULT, Channel.VISIT),
        ]
        assert [t.subject for t in recorded.follow_ups] == ["三楼烟感误报", "值班员不会复位主机"]
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.RESOLVED
        survey = Survey.objects.get(revisit=revisit)
        assert survey.trigger == "revisit" and survey.email == "wuye@example.com"
        assert recorded.survey == survey and recorded.survey_problem == ""
        # Resolving the revisit ticket sends no second, ticket survey.
        assert Survey.objects.count() == 1

    def test_the_method_and_the_findings_are_required_and_nothing_is_written_without(
        self,
    ) -> None:
        ticket = self.due_ticket()
        with pytest.raises(ValidationError) as exc:
            automation.revisit_record(
                actor=self.users["engineer"], ticket=ticket, method="fax", findings="  "
            )
        assert set(exc.value.message_dict) == {"method", "findings"}
        with pytest.raises(ValidationError) as exc:
            automation.revisit_record(
                actor=self.users["engineer"],
                ticket=ticket,
                method="phone",
                findings="正常",
                issues="问" * 121,
            )
        assert set(exc.value.message_dict) == {"issues"}
        assert revisit_of(ticket).status == RevisitStatus.PLANNED
        assert Ticket.objects.count() == 1 and not Survey.objects.exists()

    def test_only_those_who_close_revisits_record_them(self) -> None:
        ticket = self.due_ticket()
        with pytest.raises(PermissionDenied):
            automation.revisit_record(
                actor=self.users["agent"], ticket=ticket, method="phone", findings="正常"
            )
        assert revisit_of(ticket).status == RevisitStatus.PLANNED

    def test_a_revisit_recorded_on_the_revisit_list_closes_its_ticket_at_the_next_tick(
        self,
    ) -> None:
        ticket = self.due_ticket()
        services.revisit_complete(
            actor=self.users["engineer"], revisit=revisit_of(ticket), note="好"
        )
        automation.revisit_tickets_open(today=dt.date(2026, 4, 16))
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.CLOSED

    # --- the form on the ticket page ---------------------------------------------------------

    def test_the_ticket_page_offers_the_form_to_those_who_record_revisits(self) -> None:
        ticket = self.due_ticket()
        url = reverse("service:ticket", args=[ticket.pk])
        for persona, sees_form in (("engineer", True), ("supervisor", True), ("market", False)):
            body = self.client_as(persona).get(url).content.decode()
            assert 'id="rw-ticket-revisit"' in body, persona
            assert ('id="rw-revisit-form"' in body) == sees_form, persona

    def test_posting_the_form_records_the_revisit_and_shows_the_outcome(self) -> None:
        ticket = self.due_ticket()
        url = reverse("service:ticket_revisit_record", args=[ticket.pk])
        client = self.client_as("engineer")
        response = client.post(
            url,
            {
                "method": "phone",
                "findings": "一切正常",
                "issues": "想加装一台",
                "issue_kind": "other",
            },
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("service:ticket", args=[ticket.pk])
        assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]
        page = client.get(response["Location"]).content.decode()
        assert 'id="rw-revisit-outcome"' in page and "一切正常" in page
        follow_up = Ticket.objects.get(kind=TicketKind.OTHER)
        assert follow_up.number in page

    def test_a_form_with_errors_names_the_fields_and_changes_nothing(self) -> None:
        ticket = self.due_ticket()
        url = reverse("service:ticket_revisit_record", args=[ticket.pk])
        response = self.client_as("engineer").post(url, {"method": "phone", "findings": ""})
        (message,) = get_messages(response.wsgi_request)
        assert message.level_tag == "error" and "回访情况" in str(message)
        assert revisit_of(ticket).status == RevisitStatus.PLANNED

    def test_who_may_post_the_revisit_form(self) -> None:
        ticket = self.due_ticket()
        self.assert_access(
            reverse("service:ticket_revisit_record", args=[ticket.pk]),
            allowed=["engineer", "supervisor"],
            method="post",
            data={"method": "phone", "findings": "正常"},
            ok_status=(302,),
        )

    def test_a_ticket_of_a_customer_the_user_may_not_see_is_not_found(self) -> None:
        make_plan(self.other, dt.date(2026, 3, 15))
        (ticket,) = automation.revisit_tickets_open(today=dt.date(2026, 4, 15))
        self.assert_access(
            reverse("service:ticket_revisit_record", args=[ticket.pk]),
            allowed=["engineer"],
            not_found=["supervisor"],
            method="post",
            data={"method": "phone", "findings": "正常"},
            ok_status=(302,),
        )


class UpgradeTicketTests(EngineeringTeamMixin):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, _floors = make_building(floors=1)
        cls.netadmin = cls.users["netadmin"]

    def setUp(self) -> None:
        model: dict[str, Any] = {"manufacturer": "海湾", "model": "GST-UITD"}
        self.first = make_collector(
            360_102_000_001, site=self.site, firmware_version="1.0", **model
        )
        self.second = make_collector(
            360_102_000_002, site=self.site, firmware_version="1.0", **model
        )
        self.spare = make_collector(360_102_000_003, firmware_version="1.0", **model)
        Collector.objects.filter(pk__in=[self.first.pk, self.second.pk]).update(
            status=CollectorStatus.ONLINE
        )
        self.campaign = network_services.campaign_create(
            actor=self.netadmin,
            name="海湾 2.0",
            target_version="2.0",
            manufacturer="海湾",
            model="GST-UITD",
        )

    def ticket_of(self, collector: Collector) -> Ticket:
        return Ticket.objects.get(kind=TicketKind.UPGRADE, collector=collector)

    def target(self, collector: Collector) -> CampaignTarget:
        return CampaignTarget.objects.get(campaign=self.campaign, collector=collector)

    def test_starting_a_campaign_opens_one_upgrade_ticket_per_collector_of_a_customer(self) -> None:
        assert not Ticket.objects.exists()  # a draft raises nothing
        network_services.campaign_start(actor=self.netadmin, campaign=self.campaign)
        assert Ticket.objects.filter(kind=TicketKind.UPGRADE).count() == 2
        ticket = self.ticket_of(self.first)
        target = self.target(self.first)
        assert ticket.campaign_target == target and ticket.customer == self.customer
        assert ticket.source_key == f"campaign-target:{target.pk}"
        assert ticket.team == self.team and "2.0" in ticket.subject

    def test_a_target_marked_upgraded_resolves_its_ticket_and_a_failure_adds_a_note(
        self,
    ) -> None:
        network_services.campaign_start(actor=self.netadmin, campaign=self.campaign)
        network_services.target_update(
            actor=self.netadmin,
            target=self.target(self.first),
            status=TargetStatus.UPGRADED,
            note="现场升级",
        )
        assert self.ticket_of(self.first).status == TicketStatus.CLOSED
        network_services.target_update(
            actor=self.netadmin,
            target=self.target(self.second),
            status=TargetStatus.FAILED,
            note="升级包校验失败",
        )
        failed = self.ticket_of(self.second)
        assert failed.is_open and system_events(failed)[-1] == "target"
        latest = failed.entries.order_by("-id").first()
        assert latest is not None and "升级包校验失败" in latest.text
        # Failed counts as finished for the campaign; the ticket stays until engineering acts.
        self.campaign.refresh_from_db()
        assert self.campaign.status == CampaignStatus.DONE

    def test_a_collector_reporting_the_target_version_closes_its_ticket(self) -> None:
        network_services.campaign_start(actor=self.netadmin, campaign=self.campaign)
        assert network_services.campaign_versions_reported({self.first.pk: "2.0"}) == 1
        assert self.ticket_of(self.first).status == TicketStatus.CLOSED
        assert self.ticket_of(self.second).is_open

    def test_cancelling_the_campaign_closes_its_open_upgrade_tickets(self) -> None:
        network_services.campaign_start(actor=self.netadmin, campaign=self.campaign)
        network_services.campaign_cancel(actor=self.netadmin, campaign=self.campaign)
        assert set(
            Ticket.objects.filter(kind=TicketKind.UPGRADE).values_list("status", flat=True)
        ) == {TicketStatus.CLOSED}
