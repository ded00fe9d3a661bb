"""The ticket pages (工单): who may see and work which tickets, the list's filters, tabs and
pages, opening a ticket, and the forms of a ticket's page."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from customers.models import Customer
from customers.tests.factories import make_contact, make_customer
from devices.models import Collector, CollectorStatus
from ruwang.testing import PersonaTestCase, make_regions
from service import ticket_selectors, tickets
from service.models import (
    AssignmentRule,
    EntryKind,
    SlaPolicy,
    SlaState,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TicketEntry,
    TicketKind,
    TicketStatus,
)

LIST = reverse("service:tickets")
MINE = reverse("service:my_tickets")
CREATE = reverse("service:ticket_create")
# Who holds service.view_ticket / add_ticket, work_ticket, assign_ticket.
VIEWERS = [
    "market",
    "market_manager",
    "director",
    "engineer",
    "monitoring",
    "account_manager",
    "agent",
    "supervisor",
]
WORKERS = ["engineer", "agent", "supervisor"]
# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class TicketWorld(PersonaTestCase):
    """甲方大厦 is the test department's customer (its owner, market, is in it); 乙方商场 is
    nobody's (seen only by roles that see every customer). Faults go to the after-sales team
    (engineer), other kinds to the customer centre (agent); the supervisor leads both."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.ours = make_customer("甲方大厦", regions["360102"], owner=cls.users["market"])
        make_contact(cls.ours, name="王经理", email="wang@example.com", is_primary=True)
        cls.theirs = make_customer("乙方商场", regions["360402"])
        cls.after_sales = Team.objects.create(
            code="after-sales",
            name="工程部售后组",
            lead=cls.users["supervisor"],
            rule=AssignmentRule.LEAST_OPEN,
        )
        TeamMember.objects.create(team=cls.after_sales, user=cls.users["engineer"])
        cls.centre = Team.objects.create(
            code="customer-centre", name="客服中心", lead=cls.users["supervisor"]
        )
        TeamMember.objects.create(team=cls.centre, user=cls.users["agent"])
        SlaPolicy.objects.create(name="标准", first_response="4 hours", resolution="24 hours")
        cls.fault = cls.open(cls.ours, TicketKind.FAULT, "报警主机离线")
        cls.question = cls.open(cls.ours, TicketKind.CONSULTATION, "咨询年费标准")
        cls.far = cls.open(cls.theirs, TicketKind.FAULT, "乙方探测器故障")

    @staticmethod
    def open(customer: Customer, kind: str, subject: str, **extra: Any) -> Ticket:
        return tickets.ticket_create(
            actor=None, customer=customer, kind=kind, subject=subject, **extra
        )

    def url(self, name: str, ticket: Ticket) -> str:
        return reverse(f"service:{name}", args=[ticket.pk])

    def listed(self, persona: str = "engineer", url: str = LIST, **params: str) -> list[str]:
        response = self.client_as(persona).get(url, params)
        assert response.status_code == 200
        return [row.ticket.subject for row in response.context["rows"]]


class TicketAccessTests(TicketWorld):
    def test_the_list_is_for_those_who_see_tickets(self):
        self.assert_access(LIST, allowed=VIEWERS)
        self.assert_access(MINE, allowed=VIEWERS)

    def test_the_list_shows_only_tickets_of_customers_the_user_may_see(self):
        assert sorted(self.listed("engineer")) == ["乙方探测器故障", "咨询年费标准", "报警主机离线"]
        assert sorted(self.listed("market")) == ["咨询年费标准", "报警主机离线"]
        assert sorted(self.listed("supervisor")) == ["咨询年费标准", "报警主机离线"]
        assert self.listed("account_manager") == []

    def test_a_ticket_page_needs_the_ticket_permission_and_the_customer(self):
        self.assert_access(
            self.url("ticket", self.fault),
            allowed=[p for p in VIEWERS if p != "account_manager"],
            not_found=["account_manager"],
        )
        self.assert_access(
            self.url("ticket", self.far),
            allowed=["director", "engineer", "monitoring", "agent"],
            not_found=["market", "market_manager", "account_manager", "supervisor"],
        )

    def test_an_unknown_ticket_is_not_found(self):
        response = self.client_as("engineer").get(reverse("service:ticket", args=[999999]))
        assert response.status_code == 404

    def test_everyone_who_sees_tickets_may_open_one(self):
        self.assert_access(CREATE, allowed=VIEWERS)
        self.assert_access(
            f"{CREATE}?customer={self.ours.pk}",
            allowed=[p for p in VIEWERS if p != "account_manager"],
            not_found=["account_manager"],
        )

    def test_only_workers_add_notes_to_tickets_they_see(self):
        data = {"kind": "note", "text": "已电话联系"}
        self.assert_access(
            self.url("ticket_note", self.fault),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data=data,
            ok_status=(302,),
        )
        self.assert_access(
            self.url("ticket_note", self.far),
            allowed=["engineer", "agent"],
            not_found=["supervisor", "account_manager"],
            method="post",
            data=data,
            ok_status=(302,),
        )

    def test_only_workers_change_the_status(self):
        self.assert_access(
            self.url("ticket_status", self.fault),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data={"status": TicketStatus.IN_PROGRESS},
            ok_status=(302,),
        )

    def test_leads_and_the_assignee_reassign(self):
        assert self.fault.assignee == self.users["engineer"]
        self.assert_access(
            self.url("ticket_assign", self.fault),
            allowed=["director", "engineer", "supervisor"],
            not_found=["account_manager"],
            method="post",
            data={"assignee": self.users["engineer"].pk, "reason": "仍由工程师处理"},
            ok_status=(302,),
        )

    def test_only_workers_link_tickets(self):
        self.assert_access(
            self.url("ticket_link", self.fault),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data={"number": self.question.number, "kind": "relates"},
            ok_status=(302,),
        )

    def test_only_workers_attach_files(self):
        self.assert_access(
            self.url("ticket_attach", self.fault),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data={},
            ok_status=(200,),  # no file: the form says so
        )

    def test_the_working_forms_show_only_to_those_who_may_use_them(self):
        page = self.client_as("market").get(self.url("ticket", self.fault))
        assert "note_form" not in page.context and "assign_form" not in page.context
        page = self.client_as("engineer").get(self.url("ticket", self.fault))
        assert {"note_form", "status_form", "assign_form", "link_form", "attach_form"} <= set(
            page.context.keys()
        )
        page = self.client_as("director").get(self.url("ticket", self.fault))
        assert "assign_form" in page.context and "note_form" not in page.context
        page = self.client_as("agent").get(self.url("ticket", self.fault))
        assert "note_form" in page.context and "assign_form" not in page.context


class TicketListTests(TicketWorld):
    def test_open_tickets_are_listed_newest_first_by_default(self):
        tickets.ticket_set_status(actor=None, ticket=self.question, status=TicketStatus.RESOLVED)
        assert self.listed() == ["乙方探测器故障", "报警主机离线"]

    def test_a_status_tab_lists_that_status_and_all_lists_every_ticket(self):
        tickets.ticket_set_status(actor=None, ticket=self.question, status=TicketStatus.RESOLVED)
        assert self.listed(status="resolved") == ["咨询年费标准"]
        assert self.listed(status="new") == []
        assert len(self.listed(status="all")) == 3

    def test_the_tabs_count_each_status_under_the_other_filters(self):
        tickets.ticket_set_status(actor=None, ticket=self.question, status=TicketStatus.RESOLVED)
        response = self.client_as("engineer").get(LIST, {"kind": "fault"})
        tabs = {key: count for key, _label, count, _url in response.context["tabs"]}
        assert tabs["open"] == "2" and tabs["assigned"] == "2"
        assert tabs["resolved"] == "0" and tabs["all"] == "2"
        assert "未处理" in response.content.decode()

    def test_counts_stop_at_the_cap(self):
        with mock.patch.object(ticket_selectors, "COUNT_CAP", 2):
            response = self.client_as("engineer").get(LIST)
        tabs = {key: count for key, _label, count, _url in response.context["tabs"]}
        assert tabs["open"] == "2+"
        assert tabs["assigned"] == "2+"

    def test_filters_by_kind_priority_team_and_assignee(self):
        urgent = self.open(self.ours, TicketKind.COMPLAINT, "投诉响应慢", priority="urgent")
        assert self.listed(kind="consultation") == ["咨询年费标准"]
        assert self.listed(priority="urgent") == [urgent.subject]
        assert self.listed(team=str(self.centre.pk)) == [urgent.subject, "咨询年费标准"]
        assert self.listed("agent", assignee="me") == [urgent.subject, "咨询年费标准"]
        Ticket.objects.filter(pk=urgent.pk).update(assignee=None)
        assert self.listed(assignee="nobody") == [urgent.subject]

    def test_filters_by_sla_state(self):
        Ticket.objects.filter(pk=self.fault.pk).update(sla_state=SlaState.BREACHED)
        Ticket.objects.filter(pk=self.question.pk).update(sla_state=SlaState.AT_RISK)
        assert self.listed(sla="breached") == ["报警主机离线"]
        assert self.listed(sla="at_risk") == ["咨询年费标准"]
        assert self.listed(sla="on_track") == ["乙方探测器故障"]

    def test_the_sla_badges_are_green_amber_and_red_with_the_due_time(self):
        Ticket.objects.filter(pk=self.fault.pk).update(sla_state=SlaState.BREACHED)
        Ticket.objects.filter(pk=self.question.pk).update(sla_state=SlaState.AT_RISK)
        html = self.client_as("engineer").get(LIST).content.decode()
        assert 'text-bg-danger" data-sla="breached"' in html
        assert 'text-bg-warning" data-sla="at_risk"' in html
        assert 'text-bg-success" data-sla="on_track"' in html
        due = self.fault.first_response_due_at
        assert due is not None
        assert "响应时限" in html

    def test_search_by_number_subject_and_customer(self):
        assert self.listed(q=self.fault.number) == ["报警主机离线"]
        assert self.listed(q=str(self.fault.pk)) == ["报警主机离线"]
        assert self.listed(q="年费") == ["咨询年费标准"]
        assert self.listed(customer="乙方") == ["乙方探测器故障"]
        assert self.listed(customer_id=str(self.theirs.pk)) == ["乙方探测器故障"]

    def test_a_customer_the_user_may_not_see_is_not_found(self):
        response = self.client_as("market").get(LIST, {"customer_id": self.theirs.pk})
        assert response.status_code == 404

    def test_my_tickets_are_the_open_ones_assigned_to_me(self):
        assert self.listed("engineer", MINE) == ["乙方探测器故障", "报警主机离线"]
        assert self.listed("agent", MINE) == ["咨询年费标准"]
        tickets.ticket_set_status(actor=None, ticket=self.question, status=TicketStatus.RESOLVED)
        assert self.listed("agent", MINE) == []
        assert self.listed("agent", MINE, assignee="") == []

    def test_warranty_shows_for_tickets_with_a_collector(self):
        collector = Collector.objects.create(
            address=123456,
            serial_number="CJ-0001",
            customer=self.ours,
            status=CollectorStatus.ONLINE,
        )
        Ticket.objects.filter(pk=self.fault.pk).update(collector=collector, in_warranty=True)
        Ticket.objects.filter(pk=self.question.pk).update(collector=collector, in_warranty=False)
        html = self.client_as("engineer").get(LIST).content.decode()
        assert html.count('data-warranty="in"') == 1
        assert html.count('data-warranty="out"') == 1
        assert "保内" in html and "保外" in html

    def test_more_pages_follow_newest_first_without_repeats(self):
        for n in range(4):
            self.open(self.ours, TicketKind.OTHER, f"其他事项{n}")
        client = self.client_as("engineer")
        seen: list[str] = []
        params: dict[str, str] = {}
        with mock.patch.object(ticket_selectors, "PAGE_SIZE", 3):
            for _page in range(3):
                response = client.get(LIST, params)
                seen += [row.ticket.subject for row in response.context["rows"]]
                cursor = response.context["next_cursor"]
                if not cursor:
                    break
                params = {"after": cursor}
        assert seen == [f"其他事项{n}" for n in (3, 2, 1, 0)] + [
            "乙方探测器故障",
            "咨询年费标准",
            "报警主机离线",
        ]

    def test_the_more_button_returns_rows_only_to_htmx(self):
        with mock.patch.object(ticket_selectors, "PAGE_SIZE", 1):
            first = self.client_as("engineer").get(LIST)
            more = self.client_as("engineer").get(
                LIST, {"after": first.context["next_cursor"]}, HTTP_HX_REQUEST="true"
            )
        assert "<table" not in more.content.decode()
        assert [row.ticket.subject for row in more.context["rows"]] == ["咨询年费标准"]

    def test_the_list_reads_a_constant_number_of_queries(self):
        engineer, supervisor = self.client_as("engineer"), self.client_as("supervisor")
        engineer.get(LIST)  # warm the session and permission caches
        supervisor.get(LIST)
        with CaptureQueriesContext(connection) as everyone:
            assert len(engineer.get(LIST).context["rows"]) == 3
        with CaptureQueriesContext(connection) as department:
            assert len(supervisor.get(LIST).context["rows"]) == 2
        regions = make_regions()
        for n in range(27):
            customer = make_customer(f"丙方{n}", regions["360102"], owner=self.users["market"])
            kind = TicketKind.FAULT if n % 2 else TicketKind.COMPLAINT
            self.open(customer, kind, f"事项{n}", priority="high" if n % 3 else "low")
        with self.assertNumQueries(len(everyone.captured_queries)):
            assert len(engineer.get(LIST).context["rows"]) == 30
        with self.assertNumQueries(len(department.captured_queries)):
            assert len(supervisor.get(LIST).context["rows"]) == 29


class TicketCreateTests(TicketWorld):
    def test_the_lookup_finds_customers_the_user_may_see(self):
        response = self.client_as("market").get(CREATE, {"q": "方"})
        assert [c.name for c in response.context["matches"]] == ["甲方大厦"]
        response = self.client_as("engineer").get(CREATE, {"q": "方"}, HTTP_HX_REQUEST="true")
        assert sorted(c.name for c in response.context["matches"]) == ["乙方商场", "甲方大厦"]

    def test_the_form_offers_only_the_customers_buildings_and_collectors(self):
        Collector.objects.create(address=1, serial_number="OURS-1", customer=self.ours)
        Collector.objects.create(address=2, serial_number="THEIRS-1", customer=self.theirs)
        form = self.client_as("engineer").get(CREATE, {"customer": self.ours.pk}).context["form"]
        assert [c.serial_number for c in form.fields["collector"].queryset] == ["OURS-1"]
        assert list(form.fields["site"].queryset) == list(self.ours.sites.all())

    def test_only_leads_choose_the_assignee(self):
        market = self.client_as("market").get(CREATE, {"customer": self.ours.pk})
        assert "assignee" not in market.context["form"].fields
        lead = self.client_as("supervisor").get(CREATE, {"customer": self.ours.pk})
        choices = list(lead.context["form"].fields["assignee"].queryset)
        assert self.users["engineer"] in choices and self.users["agent"] in choices
        assert self.users["market"] not in choices  # does not work tickets

    def test_a_new_fault_is_routed_to_the_after_sales_team(self):
        response = self.client_as("monitoring").post(
            CREATE,
            {
                "customer": self.ours.pk,
                "kind": "fault",
                "priority": "high",
                "channel": "monitoring",
                "subject": "  3号楼主机通讯故障 ",
                "description": "监控中心发现连续离线",
            },
        )
        ticket = Ticket.objects.get(subject="3号楼主机通讯故障")
        assert response.status_code == 302
        assert response["Location"] == reverse("service:ticket", args=[ticket.pk])
        assert ticket.team == self.after_sales
        assert ticket.assignee == self.users["engineer"]
        assert ticket.status == TicketStatus.ASSIGNED
        assert ticket.created_by == self.users["monitoring"]
        assert [str(m) for m in get_messages(response.wsgi_request)] == [
            f"工单 {ticket.number} 已创建，已指派给 {self.users['engineer']}。"
        ]

    def test_a_lead_may_name_the_assignee(self):
        self.client_as("supervisor").post(
            CREATE,
            {
                "customer": self.ours.pk,
                "kind": "fault",
                "priority": "normal",
                "channel": "phone",
                "subject": "交给客服",
                "assignee": self.users["agent"].pk,
            },
        )
        assert Ticket.objects.get(subject="交给客服").assignee == self.users["agent"]

    def test_a_missing_subject_is_refused_with_the_field_named(self):
        response = self.client_as("engineer").post(
            CREATE, {"customer": self.ours.pk, "kind": "fault", "priority": "normal"}
        )
        assert response.status_code == 200
        assert "subject" in response.context["form"].errors
        assert "channel" in response.context["form"].errors
        assert Ticket.objects.count() == 3

    def test_an_attachment_of_a_refused_type_opens_no_ticket(self):
        response = self.client_as("engineer").post(
            CREATE,
            {
                "customer": self.ours.pk,
                "kind": "fault",
                "priority": "normal",
                "channel": "phone",
                "subject": "带附件",
                "file": SimpleUploadedFile("setup.exe", b"MZ\x90\x00binary"),
            },
        )
        assert response.status_code == 200
        errors = response.context["form"].errors["file"]
        assert errors and "setup.exe" in errors[0]
        html = response.content.decode()
        assert "附件" in html and "setup.exe" in html
        assert not Ticket.objects.filter(subject="带附件").exists()

    def test_a_photo_is_kept_with_the_customers_documents_and_attached(self):
        self.client_as("engineer").post(
            CREATE,
            {
                "customer": self.ours.pk,
                "kind": "fault",
                "priority": "normal",
                "channel": "visit",
                "subject": "现场照片",
                "file": SimpleUploadedFile("panel.png", PNG, content_type="image/png"),
            },
        )
        ticket = Ticket.objects.get(subject="现场照片")
        attachment = TicketAttachment.objects.select_related("document").get(ticket=ticket)
        assert attachment.document.customer == self.ours
        assert attachment.document.kind == "photo"

    def test_those_who_may_not_add_documents_get_no_attachment_field(self):
        form = self.client_as("monitoring").get(CREATE, {"customer": self.ours.pk}).context["form"]
        assert "file" not in form.fields


class TicketDetailTests(TicketWorld):
    def page(self, persona: str = "engineer", ticket: Ticket | None = None) -> str:
        response = self.client_as(persona).get(self.url("ticket", ticket or self.fault))
        assert response.status_code == 200
        return response.content.decode()

    def test_the_summary_shows_customer_team_assignee_and_deadlines(self):
        html = self.page()
        assert self.fault.number in html and "甲方大厦" in html
        assert "工程部售后组" in html and str(self.users["engineer"]) in html
        assert "首次响应" in html and "标准" in html

    def test_internal_notes_look_different_from_messages_to_the_customer(self):
        tickets.ticket_note(actor=self.users["engineer"], ticket=self.fault, text="内部：先查线路")
        tickets.ticket_note(
            actor=self.users["engineer"],
            ticket=self.fault,
            text="您好，已安排上门",
            to_customer=True,
        )
        html = self.page("market")
        assert 'rw-entry-note bg-warning-subtle" data-entry="note"' in html
        assert 'rw-entry-message bg-primary-subtle" data-entry="message"' in html
        assert "内部备注" in html and _("Message to the customer") in html

    def test_an_internal_note_is_not_emailed_but_a_message_is(self):
        client = self.client_as("engineer")
        with self.captureOnCommitCallbacks(execute=True):
            client.post(self.url("ticket_note", self.fault), {"kind": "note", "text": "内部讨论"})
        assert [m for m in mail.outbox if "wang@example.com" in m.to] == []
        with self.captureOnCommitCallbacks(execute=True):
            response = client.post(
                self.url("ticket_note", self.fault), {"kind": "message", "text": "已派工程师"}
            )
        sent = [m for m in mail.outbox if "wang@example.com" in m.to]
        assert len(sent) == 1
        assert self.fault.number in sent[0].subject and sent[0].body == "已派工程师"
        assert [str(m) for m in get_messages(response.wsgi_request)] == [
            "内部备注已添加。",
            "回复已记录，并已发邮件至 wang@example.com。",
        ]
        kinds = list(
            TicketEntry.objects.filter(ticket=self.fault)
            .filter(kind__in=[EntryKind.NOTE, EntryKind.MESSAGE])
            .values_list("kind", flat=True)
        )
        assert kinds == [EntryKind.NOTE, EntryKind.MESSAGE]

    def test_an_empty_note_is_refused_with_the_field_named(self):
        response = self.client_as("engineer").post(
            self.url("ticket_note", self.fault), {"kind": "note", "text": " "}
        )
        assert response.status_code == 200
        assert "text" in response.context["note_form"].errors

    def test_the_status_form_offers_only_the_statuses_that_may_follow(self):
        form = self.client_as("engineer").get(self.url("ticket", self.fault)).context["status_form"]
        offered = [value for value, _label in form.fields["status"].widget.choices]
        assert offered == ["in_progress", "waiting", "resolved"]

    def test_a_status_that_may_not_follow_is_refused_in_chinese(self):
        response = self.client_as("engineer").post(
            self.url("ticket_status", self.fault), {"status": "closed"}
        )
        assert response.status_code == 200
        expected = _("A ticket cannot go from %(a)s to %(b)s.") % {
            "a": TicketStatus.ASSIGNED.label,
            "b": TicketStatus.CLOSED.label,
        }
        assert response.context["status_form"].errors["status"] == [expected]
        assert "新状态" in response.content.decode()
        self.fault.refresh_from_db()
        assert self.fault.status == TicketStatus.ASSIGNED

    def test_waiting_on_the_customer_pauses_the_clock(self):
        response = self.client_as("engineer").post(
            self.url("ticket_status", self.fault), {"status": "waiting", "text": "等客户确认"}
        )
        assert response.status_code == 302
        self.fault.refresh_from_db()
        assert self.fault.status == TicketStatus.WAITING and self.fault.paused_at is not None
        html = self.page()
        assert "已暂停" in html and "等客户确认" in html

    def test_a_reassignment_needs_a_reason(self):
        url = self.url("ticket_assign", self.fault)
        response = self.client_as("supervisor").post(url, {"assignee": self.users["agent"].pk})
        assert response.status_code == 200
        assert response.context["assign_form"].errors["reason"] == ["请填写转办原因。"]
        self.fault.refresh_from_db()
        assert self.fault.assignee == self.users["engineer"]
        response = self.client_as("supervisor").post(
            url, {"assignee": self.users["agent"].pk, "reason": "客户要求客服跟进"}
        )
        assert response.status_code == 302
        self.fault.refresh_from_db()
        assert self.fault.assignee == self.users["agent"]
        html = self.page()
        assert "客户要求客服跟进" in html

    def test_the_assignee_may_hand_over_but_another_worker_may_not(self):
        url = self.url("ticket_assign", self.fault)
        data = {"assignee": self.users["supervisor"].pk, "reason": "休假交接"}
        assert self.client_as("agent").post(url, data).status_code == 403
        assert self.client_as("engineer").post(url, data).status_code == 302
        self.fault.refresh_from_db()
        assert self.fault.assignee == self.users["supervisor"]

    def test_a_ticket_is_linked_by_number(self):
        response = self.client_as("engineer").post(
            self.url("ticket_link", self.fault), {"number": self.question.number, "kind": "relates"}
        )
        assert response.status_code == 302
        html = self.page()
        assert self.question.number in html and "咨询年费标准" in html

    def test_a_number_the_user_may_not_see_is_refused_with_the_field_named(self):
        response = self.client_as("supervisor").post(
            self.url("ticket_link", self.fault), {"number": self.far.number, "kind": "relates"}
        )
        assert response.status_code == 200
        assert response.context["link_form"].errors["number"] == [
            f"没有您可查看的工单 {self.far.number}。"
        ]
        response = self.client_as("engineer").post(
            self.url("ticket_link", self.fault), {"number": self.fault.number, "kind": "relates"}
        )
        assert "number" in response.context["link_form"].errors

    def test_an_attachment_of_a_refused_type_is_refused_with_the_field_named(self):
        response = self.client_as("engineer").post(
            self.url("ticket_attach", self.fault),
            {"file": SimpleUploadedFile("macro.exe", b"MZ\x90\x00")},
        )
        assert response.status_code == 200
        assert "macro.exe" in response.context["attach_form"].errors["file"][0]
        assert "附件" in response.content.decode()
        assert not TicketAttachment.objects.exists()

    def test_an_attached_photo_is_listed_and_in_the_timeline(self):
        response = self.client_as("agent").post(
            self.url("ticket_attach", self.fault),
            {"file": SimpleUploadedFile("panel.png", PNG, content_type="image/png")},
        )
        assert response.status_code == 302
        html = self.page()
        assert "panel.png" in html and "上传了附件" in html

    def test_the_page_reads_a_constant_number_of_queries(self):
        client = self.client_as("engineer")
        client.get(self.url("ticket", self.fault))
        with CaptureQueriesContext(connection) as few:
            client.get(self.url("ticket", self.fault))
        for n in range(5):
            tickets.ticket_note(actor=self.users["engineer"], ticket=self.fault, text=f"备注{n}")
        tickets.ticket_set_status(
            actor=self.users["engineer"], ticket=self.fault, status=TicketStatus.IN_PROGRESS
        )
        tickets.ticket_link(actor=self.users["engineer"], source=self.fault, target=self.question)
        with self.assertNumQueries(len(few.captured_queries)):
            client.get(self.url("ticket", self.fault))


class CustomerTicketCardTests(TicketWorld):
    def card(self, persona: str, customer: Customer | None = None) -> str:
        customer = customer or self.ours
        user: User = self.users[persona]
        request = RequestFactory().get(reverse("customers:detail", args=[customer.pk]))
        request.user = user
        context = {"ticket_card": ticket_selectors.customer_tickets(user, customer)}
        return render_to_string("service/_ticket_card.html", context, request=request)

    def test_the_card_lists_the_customers_recent_tickets_and_offers_a_new_one(self):
        html = self.card("market")
        assert self.fault.number in html and self.question.number in html
        assert self.far.number not in html
        assert f"{CREATE}?customer={self.ours.pk}" in html
        assert "未处理：2" in html

    def test_no_card_for_those_who_may_not_see_tickets(self):
        assert self.card("technical").strip() == ""
        assert ticket_selectors.customer_tickets(self.users["market"], self.theirs) is None
