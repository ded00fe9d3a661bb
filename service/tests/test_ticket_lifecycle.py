"""A ticket's life: its number, the statuses it may move through (and the Chinese refusals),
reopening, the first response, the complaint close guard, and one open ticket per source."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from customers.models import Customer
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import tickets
from service.models import (
    EntryKind,
    SlaPolicy,
    SlaState,
    Team,
    TeamMember,
    Ticket,
    TicketKind,
    TicketLink,
    TicketStatus,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return list(exc.value.messages)


class LifecycleTestCase(PersonaTestCase):
    customer: Customer

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("工单客户", make_regions()["360102"])
        team = Team.objects.create(code="after-sales", name="售后组", lead=cls.users["supervisor"])
        TeamMember.objects.create(team=team, user=cls.users["engineer"])
        SlaPolicy.objects.create(
            name="通用", first_response="4 work hours", resolution="2 workdays"
        )

    def setUp(self) -> None:
        self.engineer = self.users["engineer"]
        self.traveller = time_machine.travel(at(2026, 11, 2, 9), tick=False)  # a Monday
        self.clock = self.traveller.start()
        self.addCleanup(self.traveller.stop)

    def move_to(self, when: datetime) -> None:
        self.clock.move_to(when)

    def open(self, kind: str = TicketKind.FAULT, **extra) -> Ticket:
        return tickets.ticket_create(
            actor=extra.pop("actor", None),
            customer=self.customer,
            kind=kind,
            subject=extra.pop("subject", "报警主机离线"),
            **extra,
        )

    def status(self, ticket: Ticket, status: str, actor=...) -> Ticket:
        return tickets.ticket_set_status(
            actor=self.engineer if actor is ... else actor, ticket=ticket, status=status
        )


class NumberingTests(LifecycleTestCase):
    def test_numbers_read_gd_year_and_six_digits(self):
        first, second = self.open(), self.open()
        assert re.fullmatch(r"GD-2026-\d{6}", first.number)
        assert first.number == f"GD-2026-{first.pk:06d}"
        assert second.number == f"GD-2026-{second.pk:06d}" != first.number
        assert Ticket.objects.get(pk=first.pk).number == first.number

    def test_the_year_is_the_local_year_of_opening(self):
        self.move_to(at(2026, 12, 31, 23, 59))  # 15:59 UTC
        assert self.open().number.startswith("GD-2026-")
        self.move_to(at(2027, 1, 1, 0, 1))  # still 2026 in UTC
        assert self.open().number.startswith("GD-2027-")

    def test_opening_records_who_when_and_the_team_then_audits(self):
        ticket = self.open(actor=self.users["agent"], description="  主机无心跳  ")
        assert (ticket.status, ticket.assignee) == (TicketStatus.ASSIGNED, self.engineer)
        assert ticket.created_at == at(2026, 11, 2, 9)
        assert ticket.description == "主机无心跳"
        assert ticket.created_by == self.users["agent"]
        entry = AuditEntry.objects.get(action="ticket.create")
        assert entry.object_id == str(ticket.pk) and entry.actor_username == "agent"

    def test_a_subject_is_required_and_nothing_is_written_without_it(self):
        with pytest.raises(ValidationError) as exc:
            self.open(subject="   ")
        assert exc.value.message_dict == {"subject": ["请填写主题。"]}
        assert not Ticket.objects.exists()

    def test_a_user_who_may_not_open_tickets_cannot(self):
        with pytest.raises(PermissionDenied):
            self.open(actor=self.users["procurement"])


class TransitionTests(LifecycleTestCase):
    def test_a_ticket_walks_from_new_to_closed_with_a_timeline_entry_per_step(self):
        ticket = self.open()
        steps = [
            TicketStatus.IN_PROGRESS,
            TicketStatus.WAITING,
            TicketStatus.IN_PROGRESS,
            TicketStatus.RESOLVED,
            TicketStatus.CLOSED,
        ]
        for minute, step in enumerate(steps, start=1):
            self.move_to(at(2026, 11, 2, 10, minute))
            ticket = self.status(ticket, step)
            assert ticket.status == step
        ticket.refresh_from_db()
        assert (ticket.resolved_at, ticket.closed_at) == (
            at(2026, 11, 2, 10, 4),
            at(2026, 11, 2, 10, 5),
        )
        assert ticket.sla_state == SlaState.MET
        changes = [
            (e.data["before"], e.data["after"])
            for e in ticket.entries.filter(kind=EntryKind.STATUS)
        ]
        assert changes == [
            ("assigned", "in_progress"),
            ("in_progress", "waiting"),
            ("waiting", "in_progress"),
            ("in_progress", "resolved"),
            ("resolved", "closed"),
        ]
        assert AuditEntry.objects.filter(action="ticket.status").count() == 5

    def test_a_new_ticket_is_assigned_only_with_someone_to_assign(self):
        Team.objects.update(rule="manual")
        ticket = self.open()
        assert ticket.status == TicketStatus.NEW
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.ASSIGNED)
        assert messages(exc) == ["请先指派处理人。"]

    def test_forbidden_moves_are_refused_in_chinese_and_change_nothing(self):
        Team.objects.update(rule="manual")
        ticket = self.open()
        forbidden = [
            (TicketStatus.NEW, TicketStatus.WAITING, "工单不能从“新建”变为“等待客户”。"),
            (TicketStatus.NEW, TicketStatus.CLOSED, "工单不能从“新建”变为“已关闭”。"),
        ]
        for _before, after, message in forbidden:
            with pytest.raises(ValidationError) as exc:
                self.status(ticket, after)
            assert messages(exc) == [message]
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS)
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["工单不能从“进行中”变为“已关闭”。"]
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.NEW)
        assert messages(exc) == ["工单不能从“进行中”变为“新建”。"]
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, "archived")
        assert messages(exc) == ["请选择有效的状态。"]
        assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.IN_PROGRESS
        assert ticket.entries.filter(kind=EntryKind.STATUS).count() == 1

    def test_every_status_allows_exactly_its_listed_successors(self):
        assert {
            "new": {"assigned", "in_progress", "resolved"},
            "assigned": {"in_progress", "waiting", "resolved"},
            "in_progress": {"waiting", "resolved"},
            "waiting": {"in_progress", "resolved"},
            "resolved": {"closed", "in_progress"},
            "closed": {"in_progress"},
        } == tickets.TRANSITIONS

    def test_only_people_who_work_tickets_change_their_status(self):
        ticket = self.open()
        for persona in ("market", "account_manager", "monitoring"):
            with pytest.raises(PermissionDenied):
                self.status(ticket, TicketStatus.IN_PROGRESS, actor=self.users[persona])
        assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.ASSIGNED


class ReopenTests(LifecycleTestCase):
    def test_reopening_counts_and_restarts_the_resolution_clock(self):
        ticket = self.open()
        assert ticket.resolution_due_at == at(2026, 11, 3, 18)
        self.move_to(at(2026, 11, 2, 15))
        self.status(ticket, TicketStatus.RESOLVED)
        self.move_to(at(2026, 11, 4, 10))  # Wednesday: the customer calls back
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS)
        assert ticket.reopened_count == 1
        assert (ticket.resolved_at, ticket.closed_at) == (None, None)
        # 15 working hours from Wednesday 10:00: 6.5 h Wednesday, 7.5 h Thursday, 1 h Friday.
        assert ticket.resolution_due_at == at(2026, 11, 6, 10)
        assert ticket.sla_state == SlaState.ON_TRACK

        self.status(ticket, TicketStatus.RESOLVED)
        self.status(ticket, TicketStatus.CLOSED)
        self.move_to(at(2026, 11, 9, 9))  # the next Monday, reopened after closing
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS)
        assert ticket.reopened_count == 2
        assert ticket.resolution_due_at == at(2026, 11, 10, 18)

    def test_a_reopened_breached_ticket_starts_again_on_track(self):
        from service.sla import ticket_sla_tick

        ticket = self.open()
        self.status(ticket, TicketStatus.IN_PROGRESS)
        assert ticket_sla_tick(now=at(2026, 11, 3, 18))["breached"] == 1
        self.move_to(at(2026, 11, 4, 9))
        self.status(ticket, TicketStatus.RESOLVED)
        ticket.refresh_from_db()
        assert ticket.sla_state == SlaState.BREACHED  # a missed target stays missed
        self.move_to(at(2026, 11, 4, 10))
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS)
        assert (ticket.sla_state, ticket.breached_at, ticket.escalation_level) == (
            SlaState.ON_TRACK,
            None,
            0,
        )
        assert ticket.next_escalation_at is None


class FirstResponseTests(LifecycleTestCase):
    def test_a_message_to_the_customer_is_the_first_response_an_internal_note_is_not(self):
        ticket = self.open()
        self.move_to(at(2026, 11, 2, 9, 20))
        tickets.ticket_note(actor=self.engineer, ticket=ticket, text="查看了心跳日志")
        assert Ticket.objects.get(pk=ticket.pk).first_responded_at is None
        self.move_to(at(2026, 11, 2, 9, 40))
        entry = tickets.ticket_note(
            actor=self.engineer, ticket=ticket, text="您好，已安排工程师上门", to_customer=True
        )
        assert entry.kind == EntryKind.MESSAGE
        self.move_to(at(2026, 11, 2, 10))
        tickets.ticket_note(actor=self.engineer, ticket=ticket, text="第二次回复", to_customer=True)
        assert Ticket.objects.get(pk=ticket.pk).first_responded_at == at(2026, 11, 2, 9, 40)

    def test_moving_to_in_progress_is_the_first_response(self):
        ticket = self.open()
        self.move_to(at(2026, 11, 2, 9, 15))
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS)
        assert ticket.first_responded_at == at(2026, 11, 2, 9, 15)

    def test_the_system_moving_a_ticket_is_no_response(self):
        ticket = self.open()
        ticket = self.status(ticket, TicketStatus.IN_PROGRESS, actor=None)
        assert ticket.first_responded_at is None

    def test_an_empty_note_is_refused(self):
        ticket = self.open()
        with pytest.raises(ValidationError) as exc:
            tickets.ticket_note(actor=self.engineer, ticket=ticket, text=" ")
        assert exc.value.message_dict == {"text": ["请先填写内容。"]}


class ComplaintCloseTests(LifecycleTestCase):
    def resolved_complaint(self) -> Ticket:
        ticket = self.open(kind=TicketKind.COMPLAINT, subject="工程师上门迟到")
        return self.status(ticket, TicketStatus.RESOLVED)

    def test_a_complaint_closes_only_with_root_cause_action_review_and_the_customer_told(self):
        ticket = self.resolved_complaint()
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["投诉须有根本原因、纠正措施、主管审核、告知客户处理结果才能关闭。"]

        Ticket.objects.filter(pk=ticket.pk).update(root_cause="排班冲突")
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["投诉须有纠正措施、主管审核、告知客户处理结果才能关闭。"]

        Ticket.objects.filter(pk=ticket.pk).update(corrective_action="上门前一小时电话确认")
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["投诉须有主管审核、告知客户处理结果才能关闭。"]

        Ticket.objects.filter(pk=ticket.pk).update(
            reviewed_by=self.users["supervisor"], reviewed_at=at(2026, 11, 2, 11)
        )
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["投诉须有告知客户处理结果才能关闭。"]
        assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED

        Ticket.objects.filter(pk=ticket.pk).update(outcome_sent_at=at(2026, 11, 2, 12))
        assert self.status(ticket, TicketStatus.CLOSED).status == TicketStatus.CLOSED
        assert tickets.complaint_problems(Ticket.objects.get(pk=ticket.pk)) == []

    def test_blank_text_does_not_count_as_a_root_cause(self):
        ticket = self.resolved_complaint()
        Ticket.objects.filter(pk=ticket.pk).update(
            root_cause="  ",
            corrective_action="复盘",
            reviewed_by=self.users["supervisor"],
            reviewed_at=at(2026, 11, 2, 11),
            outcome_sent_at=at(2026, 11, 2, 12),
        )
        with pytest.raises(ValidationError) as exc:
            self.status(ticket, TicketStatus.CLOSED)
        assert messages(exc) == ["投诉须有根本原因才能关闭。"]

    def test_other_kinds_close_without_them(self):
        ticket = self.status(self.open(), TicketStatus.RESOLVED)
        assert self.status(ticket, TicketStatus.CLOSED).status == TicketStatus.CLOSED


class SourceKeyTests(LifecycleTestCase):
    def test_one_open_ticket_per_source_and_a_new_one_once_it_is_resolved(self):
        first = self.open(source_key="collector:7:offline")
        with pytest.raises(ValidationError) as exc:
            self.open(source_key="collector:7:offline")
        assert messages(exc) == ["此事项已有未关闭的工单。"]
        assert Ticket.objects.count() == 1
        assert self.open(source_key="collector:8:offline").source_key == "collector:8:offline"

        self.status(first, TicketStatus.RESOLVED, actor=None)
        again = self.open(source_key="collector:7:offline")
        assert again.pk != first.pk
        assert Ticket.objects.filter(source_key="collector:7:offline").count() == 2

    def test_a_person_working_on_a_system_ticket_takes_it_over(self):
        ticket = self.open(source_key="collector:7:offline")
        assert not ticket.taken_over
        tickets.ticket_note(actor=self.engineer, ticket=ticket, text="已联系物业")
        assert Ticket.objects.get(pk=ticket.pk).taken_over


class LinkTests(LifecycleTestCase):
    def test_tickets_link_once_and_never_to_themselves(self):
        first, second = self.open(), self.open(subject="同一建筑再次离线")
        link = tickets.ticket_link(
            actor=self.engineer, source=second, target=first, kind="duplicate"
        )
        again = tickets.ticket_link(actor=self.engineer, source=second, target=first)
        assert link.pk == again.pk and link.kind == "duplicate"
        assert TicketLink.objects.count() == 1
        assert second.entries.filter(kind=EntryKind.SYSTEM, data__event="linked").count() == 1
        with pytest.raises(ValidationError) as exc:
            tickets.ticket_link(actor=self.engineer, source=first, target=first)
        assert exc.value.message_dict == {"target": ["工单不能关联自身。"]}
