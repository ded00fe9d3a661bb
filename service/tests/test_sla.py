"""The ticket SLA clock: warnings, breaches and escalations at the right frozen times, e-mailed
through a real SMTP server; the clock pausing while the ticket waits on the customer, counted
in working time over nights, weekends and the 2026 National Day holiday, or in wall time."""

from __future__ import annotations

import threading
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.db import connection, connections
from django.test import TransactionTestCase, override_settings

from accounts.models import User
from accounts.services import roles_sync
from customers.models import Customer
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user
from service import sla, tickets
from service.models import (
    AssignmentRule,
    SlaPolicy,
    SlaState,
    Team,
    TeamMember,
    Ticket,
    TicketKind,
    TicketStatus,
)
from workflow.models import Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = {"warned": 0, "breached": 0, "escalated": 0}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(message["Subject"])))
        self.messages.append((list(envelope.rcpt_tos), subject))
        return "250 OK"


def make_policies() -> tuple[SlaPolicy, SlaPolicy]:
    """Faults in working time (paused overnight and on holidays); consultations in wall time."""
    work = SlaPolicy.objects.create(
        name="故障（工作时间）",
        kind=TicketKind.FAULT,
        first_response="4 work hours",
        resolution="2 workdays",
        warn_before="2 work hours",
    )
    wall = SlaPolicy.objects.create(
        name="咨询（自然时间）",
        kind=TicketKind.CONSULTATION,
        first_response="4 hours",
        resolution="72 hours",
        warn_before="6 hours",
    )
    return work, wall


class TicketSlaTestCase(PersonaTestCase):
    """An after-sales team: the engineer takes tickets, the supervisor leads, and the
    director is the lead's supervisor (escalation level 2)."""

    customer: Customer
    team: Team

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        director, lead, engineer = (cls.users[p] for p in ("director", "supervisor", "engineer"))
        director.email = "director@example.test"
        director.save()
        lead.email, lead.supervisor = "lead@example.test", director
        lead.save()
        engineer.email = "engineer@example.test"
        engineer.save()
        cls.customer = make_customer("时限客户", make_regions()["360102"])
        cls.team = Team.objects.create(
            code="after-sales", name="售后组", lead=lead, rule=AssignmentRule.LEAST_OPEN
        )
        TeamMember.objects.create(team=cls.team, user=engineer)
        make_policies()

    def open_ticket(self, when: datetime, kind: str = TicketKind.FAULT) -> Ticket:
        with time_machine.travel(when, tick=False), self.captureOnCommitCallbacks(execute=True):
            return tickets.ticket_create(
                actor=None,
                customer=self.customer,
                kind=kind,
                subject="报警主机离线",
                team=self.team,
            )

    def set_status(self, ticket: Ticket, status: str, when: datetime, actor: User | None) -> Ticket:
        with time_machine.travel(when, tick=False), self.captureOnCommitCallbacks(execute=True):
            return tickets.ticket_set_status(actor=actor, ticket=ticket, status=status)

    def tick(self, when: datetime) -> dict[str, int]:
        with time_machine.travel(when, tick=False), self.captureOnCommitCallbacks(execute=True):
            return sla.ticket_sla_tick()

    def bell(self, persona: str) -> list[tuple[str, str]]:
        return list(
            Notification.objects.filter(recipient=self.users[persona])
            .order_by("id")
            .values_list("kind", "text")
        )


class SlaTickTests(TicketSlaTestCase):
    def setUp(self) -> None:
        self.smtp = Inbox()
        port = free_port()
        self.controller = Controller(self.smtp, hostname="127.0.0.1", port=port)
        self.controller.start()
        self.addCleanup(self.controller.stop)
        mail = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
        )
        mail.enable()
        self.addCleanup(mail.disable)

    def recipients(self) -> list[list[str]]:
        return [sorted(tos) for tos, _subject in self.smtp.messages]

    def test_warning_breach_and_escalation_mail_the_assignee_the_lead_and_the_leads_supervisor(
        self,
    ):
        ticket = self.open_ticket(at(2026, 11, 2, 9))  # a Monday
        # 4 work hours: 09:00–12:00 and 13:30–14:30; 2 workdays = 15 working hours → Tuesday
        # 18:00; the warning 2 work hours before → Tuesday 16:00.
        assert ticket.first_response_due_at == at(2026, 11, 2, 14, 30)
        assert ticket.resolution_due_at == at(2026, 11, 3, 18)
        assert ticket.assignee == self.users["engineer"]
        self.set_status(
            ticket, TicketStatus.IN_PROGRESS, at(2026, 11, 2, 10), self.users["engineer"]
        )
        assert self.recipients() == [["engineer@example.test"]]  # the assignment

        assert self.tick(at(2026, 11, 3, 15, 59)) == QUIET
        assert self.tick(at(2026, 11, 3, 16)) == {**QUIET, "warned": 1}
        ticket.refresh_from_db()
        assert (ticket.sla_state, ticket.warned_at) == (SlaState.AT_RISK, at(2026, 11, 3, 16))
        assert self.recipients()[1:] == [["engineer@example.test"]]
        assert self.tick(at(2026, 11, 3, 16, 1)) == QUIET  # warned once

        assert self.tick(at(2026, 11, 3, 17, 59)) == QUIET
        assert self.tick(at(2026, 11, 3, 18)) == {**QUIET, "breached": 1}
        ticket.refresh_from_db()
        assert ticket.sla_state == SlaState.BREACHED
        assert ticket.breached_at == at(2026, 11, 3, 18)
        # The lead, told with the breach, is level 1; level 2 one resolution period later.
        assert ticket.escalation_level == 1
        assert ticket.next_escalation_at == at(2026, 11, 5, 18)
        assert self.recipients()[2:] == [["engineer@example.test", "lead@example.test"]]

        assert self.tick(at(2026, 11, 5, 17, 59)) == QUIET
        assert self.tick(at(2026, 11, 5, 18)) == {**QUIET, "escalated": 1}
        assert self.recipients()[3:] == [["director@example.test"]]
        ticket.refresh_from_db()
        assert (ticket.escalation_level, ticket.next_escalation_at) == (2, None)
        assert self.tick(at(2026, 11, 20, 9)) == QUIET  # the chain has ended

        number = ticket.number
        assert all(number in subject for _tos, subject in self.smtp.messages)
        assert self.bell("engineer") == [
            ("ticket", f"工单 {number} 已指派给您：报警主机离线"),
            ("ticket_at_risk", f"工单 {number} 须在 2026-11-03 18:00 前解决：报警主机离线"),
            ("ticket_breached", f"工单 {number} 已超过解决时限（2026-11-03 18:00）：报警主机离线"),
        ]
        assert self.bell("supervisor") == [
            ("ticket_breached", f"工单 {number} 已超过解决时限（2026-11-03 18:00）：报警主机离线"),
        ]
        escalation = f"升级（第 2 级）：工单 {number} 已于 2026-11-03 18:00 超时，仍未解决："
        assert self.bell("director") == [("ticket_escalated", f"{escalation}报警主机离线")]
        events = [e.data.get("event") for e in ticket.entries.filter(kind="system")]
        assert events == ["created", "sla_warned", "sla_breached", "sla_escalated"]

    def test_an_unanswered_ticket_is_warned_and_breached_on_its_first_response_deadline(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        assert self.tick(at(2026, 11, 2, 10, 59)) == QUIET
        # First response due 14:30; 2 work hours before, over the lunch break → 11:00.
        assert self.tick(at(2026, 11, 2, 11)) == {**QUIET, "warned": 1}
        assert self.tick(at(2026, 11, 2, 14, 29)) == QUIET
        assert self.tick(at(2026, 11, 2, 14, 30)) == {**QUIET, "breached": 1}
        ticket.refresh_from_db()
        assert (ticket.sla_state, ticket.breached_at) == (
            SlaState.BREACHED,
            at(2026, 11, 2, 14, 30),
        )
        # Level 2 falls due one resolution period (15 working hours) after the missed deadline.
        assert ticket.next_escalation_at == at(2026, 11, 4, 14, 30)
        number = ticket.number
        assert self.bell("engineer")[1:] == [
            ("ticket_at_risk", f"工单 {number} 须在 2026-11-02 14:30 前首次响应：报警主机离线"),
            (
                "ticket_breached",
                f"工单 {number} 已超过首次响应时限（2026-11-02 14:30）：报警主机离线",
            ),
        ]
        assert self.recipients()[1:] == [
            ["engineer@example.test"],
            ["engineer@example.test", "lead@example.test"],
        ]
        assert self.tick(at(2026, 11, 4, 14, 30)) == {**QUIET, "escalated": 1}
        assert self.recipients()[-1] == ["director@example.test"]

    def test_the_chain_ends_with_the_lead_when_the_lead_has_no_supervisor(self):
        User.objects.filter(pk=self.users["supervisor"].pk).update(supervisor=None)
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        assert self.tick(at(2026, 11, 2, 14, 30))["breached"] == 1
        assert self.tick(at(2026, 11, 4, 14, 30)) == QUIET
        ticket.refresh_from_db()
        assert (ticket.escalation_level, ticket.next_escalation_at) == (1, None)
        assert not Notification.objects.filter(kind="ticket_escalated").exists()

    def test_a_first_response_puts_a_ticket_at_risk_for_it_back_on_track(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        assert self.tick(at(2026, 11, 2, 11))["warned"] == 1
        with time_machine.travel(at(2026, 11, 2, 11, 30), tick=False):
            tickets.ticket_note(
                actor=self.users["engineer"], ticket=ticket, text="已远程复位", to_customer=True
            )
        ticket.refresh_from_db()
        assert ticket.first_responded_at == at(2026, 11, 2, 11, 30)
        assert (ticket.sla_state, ticket.warned_at) == (SlaState.ON_TRACK, None)
        assert self.tick(at(2026, 11, 2, 14, 30)) == QUIET  # answered: no first-response breach
        assert self.tick(at(2026, 11, 3, 16)) == {**QUIET, "warned": 1}  # now the resolution

    def test_an_unassigned_ticket_at_risk_is_brought_to_the_team_lead(self):
        Team.objects.filter(pk=self.team.pk).update(rule=AssignmentRule.MANUAL)
        self.team.refresh_from_db()
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        assert ticket.assignee is None
        assert self.tick(at(2026, 11, 2, 11)) == {**QUIET, "warned": 1}
        assert self.bell("supervisor")[-1] == (
            "ticket_at_risk",
            f"工单 {ticket.number} 须在 2026-11-02 14:30 前首次响应：报警主机离线",
        )
        assert self.recipients()[-1] == ["lead@example.test"]

    def test_a_ticket_waiting_on_the_customer_is_neither_warned_nor_breached(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        self.set_status(
            ticket, TicketStatus.WAITING, at(2026, 11, 2, 9, 30), self.users["engineer"]
        )
        assert self.tick(at(2026, 11, 30, 9)) == QUIET
        ticket.refresh_from_db()
        assert (ticket.sla_state, ticket.breached_at, ticket.warned_at) == (
            SlaState.ON_TRACK,
            None,
            None,
        )
        assert self.recipients() == [["engineer@example.test"]]  # only the assignment

    def test_a_resolved_ticket_meets_its_sla_and_is_left_alone(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        self.set_status(ticket, TicketStatus.RESOLVED, at(2026, 11, 2, 15), self.users["engineer"])
        ticket.refresh_from_db()
        assert ticket.sla_state == SlaState.MET
        assert self.tick(at(2026, 11, 30, 9)) == QUIET

    def test_a_tick_that_lost_the_race_tells_nobody_twice(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        stale = Ticket.objects.select_related("policy", "team__lead").get(pk=ticket.pk)
        assert self.tick(at(2026, 11, 2, 14, 30))["breached"] == 1
        mails = len(self.smtp.messages)
        # A second tick that read the ticket before the first one claimed it.
        with self.captureOnCommitCallbacks(execute=True):
            assert sla._breach(stale, at(2026, 11, 2, 14, 31)) is False
            assert sla._warn(stale, at(2026, 11, 2, 14, 31)) is False
        assert len(self.smtp.messages) == mails
        assert Notification.objects.filter(kind="ticket_breached").count() == 2  # assignee, lead

    def test_the_scheduler_runs_the_ticket_tick_with_the_process_tick(self):
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        with (
            time_machine.travel(at(2026, 11, 3, 18), tick=False),
            self.captureOnCommitCallbacks(execute=True),
        ):
            call_command("scheduler", "--once")
        ticket.refresh_from_db()
        assert ticket.sla_state == SlaState.BREACHED
        assert ticket.breached_at == at(2026, 11, 3, 18)


class PauseResumeTests(TicketSlaTestCase):
    """Waiting on the customer stops the clock; resuming moves the deadlines by the time paused,
    counted on the deadline's own clock."""

    def test_work_hour_deadlines_move_by_the_working_time_paused_over_a_night_and_a_weekend(self):
        engineer = self.users["engineer"]
        ticket = self.open_ticket(at(2026, 11, 6, 9))  # a Friday
        assert ticket.resolution_due_at == at(2026, 11, 9, 18)  # 7.5 h Friday + 7.5 h Monday
        self.set_status(ticket, TicketStatus.IN_PROGRESS, at(2026, 11, 6, 9, 30), engineer)
        ticket = self.set_status(ticket, TicketStatus.WAITING, at(2026, 11, 6, 17), engineer)
        assert ticket.paused_at == at(2026, 11, 6, 17)
        assert self.tick(at(2026, 11, 9, 9, 59)) == QUIET  # waiting: no warning
        ticket = self.set_status(ticket, TicketStatus.IN_PROGRESS, at(2026, 11, 9, 10), engineer)
        # Paused Friday 17:00 → Monday 10:00 is 1 h + 1 h of working time (65 h on the wall).
        assert ticket.resolution_due_at == at(2026, 11, 10, 11)
        assert ticket.paused_at is None
        assert self.tick(at(2026, 11, 9, 18)) == QUIET  # the old deadline passes quietly
        assert self.tick(at(2026, 11, 10, 8, 59)) == QUIET
        assert self.tick(at(2026, 11, 10, 9)) == {**QUIET, "warned": 1}  # 2 work hours before
        assert self.tick(at(2026, 11, 10, 11)) == {**QUIET, "breached": 1}

    def test_work_hour_deadlines_skip_the_national_day_holiday_2026_while_paused(self):
        ticket = self.open_ticket(at(2026, 9, 30, 16))  # the eve of National Day
        # 10-01..10-07 are holidays: first response 2 h on 09-30 + 2 h on 10-08 → 10-08 11:00;
        # resolution 15 working hours → 10-09 16:00.
        assert ticket.first_response_due_at == at(2026, 10, 8, 11)
        assert ticket.resolution_due_at == at(2026, 10, 9, 16)
        self.set_status(ticket, TicketStatus.WAITING, at(2026, 9, 30, 17), self.users["engineer"])
        assert self.tick(at(2026, 10, 5, 12)) == QUIET  # mid-holiday, waiting
        assert self.tick(at(2026, 10, 8, 9, 59)) == QUIET  # would be at risk (since 09:00)
        ticket = self.set_status(
            ticket, TicketStatus.IN_PROGRESS, at(2026, 10, 8, 10), self.users["engineer"]
        )
        # Paused 09-30 17:00 → 10-08 10:00: 1 h on 09-30, none in the holiday, 1 h on 10-08.
        assert ticket.first_response_due_at == at(2026, 10, 8, 14, 30)  # 11:00 + 2 work hours
        assert ticket.resolution_due_at == at(2026, 10, 9, 18)
        assert ticket.first_responded_at == at(2026, 10, 8, 10)  # resuming work answers
        assert self.tick(at(2026, 10, 9, 16)) == {**QUIET, "warned": 1}  # not the old breach
        assert self.tick(at(2026, 10, 9, 17, 59)) == QUIET
        assert self.tick(at(2026, 10, 9, 18)) == {**QUIET, "breached": 1}

    def test_calendar_hour_deadlines_move_by_the_wall_time_paused(self):
        ticket = self.open_ticket(at(2026, 9, 30, 16), kind=TicketKind.CONSULTATION)
        assert ticket.first_response_due_at == at(2026, 9, 30, 20)
        assert ticket.resolution_due_at == at(2026, 10, 3, 16)
        self.set_status(ticket, TicketStatus.WAITING, at(2026, 9, 30, 17), self.users["engineer"])
        ticket = self.set_status(
            ticket, TicketStatus.IN_PROGRESS, at(2026, 10, 8, 10), self.users["engineer"]
        )
        # Paused 7 days 17 hours: holidays and nights count in wall time.
        assert ticket.first_response_due_at == at(2026, 10, 8, 13)
        assert ticket.resolution_due_at == at(2026, 10, 11, 9)
        assert self.tick(at(2026, 10, 11, 2, 59)) == QUIET
        assert self.tick(at(2026, 10, 11, 3)) == {**QUIET, "warned": 1}  # 6 hours before
        assert self.tick(at(2026, 10, 11, 9)) == {**QUIET, "breached": 1}

    def test_a_breached_ticket_waiting_on_the_customer_does_not_escalate_until_it_resumes(self):
        engineer = self.users["engineer"]
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        self.set_status(ticket, TicketStatus.IN_PROGRESS, at(2026, 11, 2, 9, 30), engineer)
        assert self.tick(at(2026, 11, 3, 18))["breached"] == 1
        self.set_status(ticket, TicketStatus.WAITING, at(2026, 11, 4, 9), engineer)
        assert self.tick(at(2026, 11, 5, 18)) == QUIET  # level 2 was due, but the clock stopped
        ticket = self.set_status(ticket, TicketStatus.IN_PROGRESS, at(2026, 11, 6, 9), engineer)
        # Paused Wednesday 09:00 → Friday 09:00: two workdays (15 working hours), so level 2
        # moves from Thursday 18:00 to Monday 18:00.
        assert ticket.next_escalation_at == at(2026, 11, 9, 18)
        assert self.tick(at(2026, 11, 9, 17, 59)) == QUIET
        assert self.tick(at(2026, 11, 9, 18)) == {**QUIET, "escalated": 1}


class PolicyChoiceTests(TicketSlaTestCase):
    def test_the_most_specific_active_policy_wins(self):
        general = SlaPolicy.objects.create(
            name="兜底", first_response="8 hours", resolution="5 days"
        )
        urgent = SlaPolicy.objects.create(
            name="紧急故障",
            kind=TicketKind.FAULT,
            priority="urgent",
            first_response="30 minutes",
            resolution="4 work hours",
        )
        key_unit = SlaPolicy.objects.create(
            name="重点单位紧急故障",
            kind=TicketKind.FAULT,
            priority="urgent",
            customer_category="key_unit",
            first_response="15 minutes",
            resolution="2 work hours",
            is_active=False,
        )
        assert tickets.policy_for("fault", "urgent", "key_unit") == urgent  # key_unit inactive
        SlaPolicy.objects.filter(pk=key_unit.pk).update(is_active=True)
        assert tickets.policy_for("fault", "urgent", "key_unit") == key_unit
        assert tickets.policy_for("fault", "urgent", "general") == urgent
        assert tickets.policy_for("fault", "normal", "general").name == "故障（工作时间）"
        assert tickets.policy_for("upgrade", "low", "general") == general

    def test_a_ticket_without_a_policy_has_no_clock(self):
        SlaPolicy.objects.all().delete()
        ticket = self.open_ticket(at(2026, 11, 2, 9))
        assert (ticket.policy, ticket.sla_state) == (None, SlaState.NONE)
        assert (ticket.first_response_due_at, ticket.resolution_due_at) == (None, None)
        assert self.tick(at(2027, 1, 1)) == QUIET


@pytest.mark.postgres
class ConcurrentTickTests(TransactionTestCase):
    """Two workers running the tick at the same moment tell everybody once."""

    def setUp(self) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("SQLite serialises writers; concurrent ticks are checked on PostgreSQL")
        roles_sync()
        director = make_user("director2", "operations_director")
        lead = make_user("lead2", "supervisor", supervisor=director)
        engineer = make_user("engineer2", "engineer")
        team = Team.objects.create(code="after-sales", name="售后组", lead=lead)
        TeamMember.objects.create(team=team, user=engineer)
        make_policies()
        customer = make_customer("并发客户", make_regions()["360102"])
        with time_machine.travel(at(2026, 11, 2, 9), tick=False):
            self.tickets = [
                tickets.ticket_create(
                    actor=None, customer=customer, kind=TicketKind.FAULT, subject=f"离线 {n}"
                )
                for n in range(3)
            ]

    def test_each_breach_is_claimed_by_one_tick(self):
        barrier = threading.Barrier(2)
        results: list[dict[str, int]] = []

        def run() -> None:
            try:
                barrier.wait()
                results.append(sla.ticket_sla_tick(now=at(2026, 11, 3, 18)))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r["breached"] for r in results) == 3
        assert (
            Notification.objects.filter(kind="ticket_breached").count() == 6
        )  # 3 × (engineer, lead)
        assert set(Ticket.objects.values_list("sla_state", flat=True)) == {SlaState.BREACHED}
