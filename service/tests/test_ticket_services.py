"""What the ticket pages build on: attaching files, opening a ticket with a file (all or
nothing), the ticket reads (visibility, numbers, counts, timeline, who can take a ticket, the
customer card) and the administration of teams, SLA policies and revisit templates."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.models import AuditEntry
from customers.models import Customer, Document
from ruwang.testing import make_user
from service import ticket_attachments, ticket_selectors, tickets
from service.models import (
    EntryKind,
    RevisitTemplate,
    SlaPolicy,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TicketEntry,
    TicketKind,
    TicketStatus,
)
from service.tests import test_ticket_pages as world

PNG = world.PNG


class TicketAttachTests(world.TicketWorld):
    def attach(
        self, persona: str, name: str = "panel.png", content: bytes = PNG
    ) -> TicketAttachment:
        return ticket_attachments.ticket_attach(
            actor=self.users[persona],
            ticket=self.fault,
            file_name=name,
            fileobj=io.BytesIO(content),
            size=len(content),
        )

    def test_a_photo_becomes_a_photo_document_of_the_customer(self):
        attachment = self.attach("engineer")
        document = Document.objects.get(pk=attachment.document_id)
        assert document.customer == self.ours and document.kind == "photo"
        assert document.title == f"{self.fault.number} panel.png"
        entry = self.fault.entries.order_by("-id").first()
        assert entry is not None and entry.data["event"] == "attached"
        assert AuditEntry.objects.filter(action="ticket.attach", actor=self.users["engineer"])

    def test_other_files_are_kept_as_other_documents(self):
        attachment = self.attach("agent", "记录.txt", "现场记录".encode())
        document = Document.objects.get(pk=attachment.document_id)
        assert document.kind == "other"

    def test_a_refused_file_names_the_file_field_and_leaves_nothing(self):
        with pytest.raises(ValidationError) as caught:
            self.attach("engineer", "run.bat", b"@echo off")
        assert "file" in caught.value.message_dict
        assert not Document.objects.exists() and not TicketAttachment.objects.exists()

    def test_those_who_neither_work_nor_opened_the_ticket_may_not_attach(self):
        with pytest.raises(PermissionDenied):
            self.attach("market")

    def test_whoever_opened_the_ticket_may_attach_if_they_may_add_documents(self):
        mine = tickets.ticket_create(
            actor=self.users["market"], customer=self.ours, kind=TicketKind.OTHER, subject="续约"
        )
        ticket_attachments.ticket_attach(
            actor=self.users["market"],
            ticket=mine,
            file_name="合同.png",
            fileobj=io.BytesIO(PNG),
            size=len(PNG),
        )
        assert mine.attachments.count() == 1
        by_monitoring = tickets.ticket_create(
            actor=self.users["monitoring"], customer=self.ours, kind=TicketKind.FAULT, subject="x"
        )
        with pytest.raises(PermissionDenied):  # may not add customer documents
            ticket_attachments.ticket_attach(
                actor=self.users["monitoring"],
                ticket=by_monitoring,
                file_name="a.png",
                fileobj=io.BytesIO(PNG),
                size=len(PNG),
            )


class TicketOpenTests(world.TicketWorld):
    def test_a_refused_attachment_opens_no_ticket_and_tells_nobody(self):
        upload = SimpleUploadedFile("virus.exe", b"MZ\x90\x00")
        with self.captureOnCommitCallbacks(execute=True), pytest.raises(ValidationError):
            ticket_attachments.ticket_open(
                actor=self.users["engineer"],
                attachment=upload,
                customer=self.ours,
                kind=TicketKind.FAULT,
                subject="带病毒附件",
            )
        assert not Ticket.objects.filter(subject="带病毒附件").exists()
        assert mail.outbox == []

    def test_a_ticket_with_a_photo_is_routed_and_attached(self):
        upload = SimpleUploadedFile("a.png", PNG, content_type="image/png")
        ticket = ticket_attachments.ticket_open(
            actor=self.users["engineer"],
            attachment=upload,
            customer=self.ours,
            kind=TicketKind.FAULT,
            subject="现场拍照",
        )
        assert ticket.assignee == self.users["engineer"]
        assert ticket.attachments.count() == 1


class TicketNoteMailTests(world.TicketWorld):
    def test_only_a_message_reaches_the_customers_mailbox(self):
        engineer = self.users["engineer"]
        with self.captureOnCommitCallbacks(execute=True):
            tickets.ticket_note(actor=engineer, ticket=self.fault, text="内部：等备件")
        assert not [m for m in mail.outbox if "wang@example.com" in m.to]
        with self.captureOnCommitCallbacks(execute=True):
            tickets.ticket_note(
                actor=engineer, ticket=self.fault, text="备件明天到", to_customer=True
            )
        assert [m.body for m in mail.outbox if "wang@example.com" in m.to] == ["备件明天到"]


class TicketReadTests(world.TicketWorld):
    def test_tickets_of_a_merged_customer_leave_the_lists(self):
        Customer.objects.filter(pk=self.theirs.pk).update(merged_into=self.ours)
        visible = ticket_selectors.tickets_visible_to(self.users["engineer"])
        assert self.far not in visible and self.fault in visible

    def test_no_ticket_without_the_permission(self):
        assert not ticket_selectors.tickets_visible_to(self.users["technical"]).exists()
        with pytest.raises(Ticket.DoesNotExist):
            ticket_selectors.ticket_get(self.users["technical"], self.fault.pk)

    def test_a_number_finds_the_visible_ticket_it_names(self):
        engineer, market = self.users["engineer"], self.users["market"]
        assert ticket_selectors.ticket_by_number(engineer, self.far.number) == self.far
        assert ticket_selectors.ticket_by_number(engineer, self.far.number.lower()) == self.far
        assert ticket_selectors.ticket_by_number(engineer, str(self.far.pk)) == self.far
        assert ticket_selectors.ticket_by_number(market, self.far.number) is None
        assert ticket_selectors.ticket_by_number(engineer, "报警") is None

    def test_status_counts_add_up_the_open_statuses_and_stop_at_the_cap(self):
        Ticket.objects.filter(pk=self.question.pk).update(status=TicketStatus.CLOSED)
        filters = ticket_selectors.TicketFilters()
        counts = ticket_selectors.status_counts(self.users["engineer"], filters)
        assert counts["open"] == "2" and counts["closed"] == "1" and counts["all"] == "3"
        with mock.patch.object(ticket_selectors, "COUNT_CAP", 1):
            counts = ticket_selectors.status_counts(self.users["engineer"], filters)
        assert counts["open"] == "1+" and counts["closed"] == "1" and counts["all"] == "1+"

    def test_my_open_ticket_count_is_the_sidebar_badge(self):
        assert ticket_selectors.my_open_ticket_count(self.users["engineer"]) == 2
        assert ticket_selectors.my_open_ticket_count(self.users["agent"]) == 1
        assert ticket_selectors.my_open_ticket_count(self.users["technical"]) == 0

    def test_the_deadline_shown_is_the_first_responses_until_someone_responds(self):
        row = ticket_selectors.ticket_row(self.fault)
        assert row.first_response and row.due_at == self.fault.first_response_due_at
        tickets.ticket_note(
            actor=self.users["engineer"], ticket=self.fault, text="收到", to_customer=True
        )
        self.fault.refresh_from_db()
        row = ticket_selectors.ticket_row(self.fault)
        assert not row.first_response and row.due_at == self.fault.resolution_due_at

    def test_the_timeline_says_what_happened(self):
        engineer = self.users["engineer"]
        tickets.ticket_set_status(actor=engineer, ticket=self.fault, status=TicketStatus.WAITING)
        tickets.ticket_assign(
            actor=self.users["supervisor"],
            ticket=self.fault,
            assignee=self.users["agent"],
            reason="客服跟进",
        )
        tickets.ticket_link(actor=engineer, source=self.fault, target=self.question)
        rows = ticket_selectors.ticket_timeline(self.fault)
        said = [(row.heading, row.detail) for row in rows]
        assert said[0] == ("工单已创建", "")
        assert said[1] == (_("Assigned"), str(engineer))
        assert (
            "状态变更",
            f"{TicketStatus.ASSIGNED.label} → {TicketStatus.WAITING.label}",
        ) in said
        assert (_("Assigned"), f"{engineer} → {self.users['agent']}") in said
        assert ("关联了其他工单", self.question.number) in said
        assert not rows[0].shows_text  # the subject, already in the title

    def test_the_timeline_shows_what_other_parts_of_the_service_wrote(self):
        TicketEntry.objects.create(
            ticket=self.fault,
            kind=EntryKind.SYSTEM,
            text="解决时限已过，已通知组长",
            data={"event": "sla_breached"},
            created_at=timezone.now(),
        )
        row = ticket_selectors.ticket_timeline(self.fault)[-1]
        assert row.heading == "系统" and row.shows_text

    def test_a_ticket_goes_to_active_workers_who_see_the_customer(self):
        workers = list(ticket_selectors.ticket_workers(self.ours))
        assert {self.users[p] for p in ("engineer", "agent", "supervisor")} <= set(workers)
        assert self.users["market"] not in workers and self.users["director"] not in workers
        assert self.users["supervisor"] not in ticket_selectors.ticket_workers(self.theirs)
        User.objects.filter(pk=self.users["agent"].pk).update(is_active=False)
        assert self.users["agent"] not in ticket_selectors.ticket_workers(self.ours)

    def test_the_customer_card_shows_the_latest_tickets_and_the_open_count(self):
        for n in range(6):
            self.open(self.ours, TicketKind.OTHER, f"事项{n}")
        card = ticket_selectors.customer_tickets(self.users["market"], self.ours)
        assert card is not None
        assert [t.subject for t in card.recent] == [f"事项{n}" for n in (5, 4, 3, 2, 1)]
        assert card.more and card.open_count == 8 and card.can_add
        assert ticket_selectors.customer_tickets(self.users["account_manager"], self.ours) is None


class ServiceAdminTests(world.TicketWorld):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.lead = make_user("service_lead", "supervisor")
        User.objects.filter(pk=cls.lead.pk).update(is_staff=True)

    def setUp(self) -> None:
        self.client.force_login(self.lead)

    def test_an_sla_policy_with_a_duration_the_calendar_cannot_read_is_refused(self):
        response = self.client.post(
            reverse("admin:service_slapolicy_add"),
            {
                "name": "紧急故障",
                "kind": "fault",
                "priority": "urgent",
                "customer_category": "",
                "first_response": "半小时",
                "resolution": "4 work hours",
                "warn_before": "1 work hours",
                "is_active": "on",
            },
        )
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["first_response"]
        assert "无法识别的时长" in errors["first_response"][0]
        assert not SlaPolicy.objects.filter(name="紧急故障").exists()

    def test_a_valid_sla_policy_is_saved_and_audited(self):
        response = self.client.post(
            reverse("admin:service_slapolicy_add"),
            {
                "name": "紧急故障",
                "kind": "fault",
                "priority": "urgent",
                "customer_category": "key_unit",
                "first_response": " 30 minutes ",
                "resolution": "4 work hours",
                "warn_before": "",
                "is_active": "on",
            },
        )
        assert response.status_code == 302
        policy = SlaPolicy.objects.get(name="紧急故障")
        assert policy.first_response == "30 minutes" and policy.warn_before == ""
        assert AuditEntry.objects.filter(action="slapolicy.create", actor=self.lead).exists()

    def test_revisit_months_are_checked_and_tidied(self):
        url = reverse("admin:service_revisittemplate_add")
        response = self.client.post(url, {"name": "标准", "months": "1,三,6"})
        assert "months" in response.context["adminform"].form.errors
        response = self.client.post(url, {"name": "标准", "months": "12，6, 3,1,3"})
        assert response.status_code == 302
        assert RevisitTemplate.objects.get(name="标准").months == "1,3,6,12"

    def test_team_members_joining_are_audited_one_by_one(self):
        response = self.client.post(
            reverse("admin:service_team_add"),
            {
                "code": "night",
                "name": "夜班组",
                "rule": "round_robin",
                "is_active": "on",
                "members-TOTAL_FORMS": "1",
                "members-INITIAL_FORMS": "0",
                "members-MIN_NUM_FORMS": "0",
                "members-MAX_NUM_FORMS": "1000",
                "members-0-user": self.users["engineer"].pk,
                "members-0-takes_tickets": "on",
            },
        )
        assert response.status_code == 302
        team = Team.objects.get(code="night")
        assert list(TeamMember.objects.filter(team=team).values_list("user", flat=True)) == [
            self.users["engineer"].pk
        ]
        assert AuditEntry.objects.filter(action="teammember.create").exists()
        assert AuditEntry.objects.filter(action="team.create").exists()
