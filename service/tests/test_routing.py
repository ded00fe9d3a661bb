"""Routing tickets to a team: round robin and fewest-open skip inactive people and people on
leave today; nobody present leaves the ticket with the team lead; the owner rule falls back to
the team; reassigning needs a reason."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import User
from audit.models import AuditEntry
from customers.models import Customer
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user
from service import tickets
from service.models import (
    AssignmentRule,
    EntryKind,
    Leave,
    Team,
    TeamMember,
    Ticket,
    TicketKind,
    TicketStatus,
)
from workflow.models import Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
TODAY = MONDAY.date()


class RoutingTestCase(PersonaTestCase):
    customer: Customer
    team: Team
    a: User
    b: User
    c: User
    d: User

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer("派单客户", regions["360102"])
        lead = cls.users["supervisor"]
        lead.email = "lead@example.test"
        lead.save()
        lead.regions.add(regions["360100"])  # the lead serves the customer's city
        cls.team = Team.objects.create(code="after-sales", name="售后组", lead=lead)
        # Four engineers, in the order of their ids (the round robin's order).
        cls.a, cls.b, cls.c, cls.d = (
            make_user(f"eng_{n}", "engineer", email=f"eng_{n}@example.test") for n in "abcd"
        )
        for user in (cls.a, cls.b, cls.c, cls.d):
            TeamMember.objects.create(team=cls.team, user=user)

    def setUp(self) -> None:
        traveller = time_machine.travel(MONDAY, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def use_rule(self, rule: str) -> None:
        Team.objects.filter(pk=self.team.pk).update(rule=rule)
        self.team.refresh_from_db()

    def open(self, subject: str = "报警主机离线", **extra) -> Ticket:
        with self.captureOnCommitCallbacks(execute=True):
            return tickets.ticket_create(
                actor=None,
                customer=extra.pop("customer", self.customer),
                kind=TicketKind.FAULT,
                subject=subject,
                **extra,
            )

    def leave(self, user: User, first: dt.date, last: dt.date) -> None:
        Leave.objects.create(user=user, starts_on=first, ends_on=last, note="年假")

    def deactivate(self, user: User) -> None:
        User.objects.filter(pk=user.pk).update(is_active=False)


class RoundRobinTests(RoutingTestCase):
    def test_round_robin_takes_turns_and_skips_the_inactive_and_those_on_leave_today(self):
        self.use_rule(AssignmentRule.ROUND_ROBIN)
        self.leave(self.b, TODAY, TODAY + dt.timedelta(days=4))
        self.deactivate(self.c)
        chosen = [self.open(f"第{n}单").assignee for n in range(4)]
        assert chosen == [self.a, self.d, self.a, self.d]
        self.team.refresh_from_db()
        assert self.team.last_assigned == self.d

    def test_leave_that_ended_yesterday_or_starts_tomorrow_does_not_skip_anyone(self):
        self.use_rule(AssignmentRule.ROUND_ROBIN)
        self.leave(self.a, TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1))
        self.leave(self.b, TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=3))
        chosen = [self.open(f"第{n}单").assignee for n in range(4)]
        assert chosen == [self.a, self.b, self.c, self.d]

    def test_members_off_the_rota_are_not_given_tickets(self):
        self.use_rule(AssignmentRule.ROUND_ROBIN)
        TeamMember.objects.filter(user__in=[self.a, self.c]).update(takes_tickets=False)
        assert [self.open(f"第{n}单").assignee for n in range(3)] == [self.b, self.d, self.b]


class LeastOpenTests(RoutingTestCase):
    def test_the_member_with_fewest_open_tickets_gets_the_next_one(self):
        self.use_rule(AssignmentRule.MANUAL)
        for user, count in ((self.a, 3), (self.b, 1), (self.c, 2), (self.d, 2)):
            for n in range(count):
                self.open(f"{user.username}-{n}", assignee=user)
        self.use_rule(AssignmentRule.LEAST_OPEN)
        assert self.open().assignee == self.b
        assert self.open().assignee == self.b  # b: 2, c: 2, d: 2 → the first of them

    def test_fewest_open_skips_the_inactive_and_those_on_leave_today(self):
        self.use_rule(AssignmentRule.MANUAL)
        for user, count in ((self.a, 3), (self.c, 2), (self.d, 1)):
            for n in range(count):
                self.open(f"{user.username}-{n}", assignee=user)
        self.use_rule(AssignmentRule.LEAST_OPEN)
        self.deactivate(self.b)  # b has none, but has left
        self.leave(self.d, TODAY, TODAY)  # d has one, but is away today
        assert self.open().assignee == self.c

    def test_resolved_and_closed_tickets_do_not_count_as_open(self):
        self.use_rule(AssignmentRule.MANUAL)
        for n in range(2):
            ticket = self.open(f"a-{n}", assignee=self.a)
            tickets.ticket_set_status(actor=None, ticket=ticket, status=TicketStatus.RESOLVED)
        self.open("b-0", assignee=self.b)
        self.open("c-0", assignee=self.c)
        self.open("d-0", assignee=self.d)
        self.use_rule(AssignmentRule.LEAST_OPEN)
        assert self.open().assignee == self.a

    def test_a_member_who_cannot_see_the_customer_is_skipped(self):
        # A supervisor sees only customers of the regions they serve: none for this one.
        remote = make_user("remote_supervisor", "supervisor")
        TeamMember.objects.filter(user__in=[self.a, self.b, self.c]).delete()
        TeamMember.objects.create(team=self.team, user=remote)
        self.use_rule(AssignmentRule.MANUAL)
        self.open("d-0", assignee=self.d)
        self.use_rule(AssignmentRule.LEAST_OPEN)
        assert self.open().assignee == self.d  # though the remote supervisor has none open


class NobodyPresentTests(RoutingTestCase):
    def test_a_team_with_nobody_present_leaves_the_ticket_unassigned_and_tells_the_lead(self):
        for user in (self.a, self.b):
            self.leave(user, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))
        for user in (self.c, self.d):
            self.deactivate(user)
        for rule in (AssignmentRule.ROUND_ROBIN, AssignmentRule.LEAST_OPEN):
            mail.outbox.clear()
            self.use_rule(rule)
            ticket = self.open("夜间报警")
            assert (ticket.assignee, ticket.status) == (None, TicketStatus.NEW)
            text = f"工单 {ticket.number} 无人在岗可接：夜间报警"
            assert Notification.objects.filter(
                recipient=self.users["supervisor"], text=text, url=f"/service/tickets/{ticket.pk}/"
            ).exists()
            assert [(m.to, m.subject) for m in mail.outbox] == [
                (["lead@example.test"], f"[入网] {text}")
            ]

    def test_the_lead_can_then_assign_it_by_hand(self):
        for user in (self.a, self.b, self.c, self.d):
            self.deactivate(user)
        ticket = self.open()
        other = make_user("eng_e", "engineer")
        ticket = tickets.ticket_assign(
            actor=self.users["supervisor"], ticket=ticket, assignee=other
        )
        assert (ticket.assignee, ticket.status) == (other, TicketStatus.ASSIGNED)


class OwnerRuleTests(RoutingTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.use_rule(AssignmentRule.OWNER)
        self.owner = self.users["agent"]  # a customer-centre agent who owns the customer
        Customer.objects.filter(pk=self.customer.pk).update(owner=self.owner)
        self.customer.refresh_from_db()

    def test_the_owner_gets_the_ticket_when_present(self):
        assert self.open().assignee == self.owner

    def test_the_team_takes_over_when_the_owner_is_on_leave(self):
        self.leave(self.owner, TODAY, TODAY + dt.timedelta(days=7))
        assert self.open().assignee == self.a  # fewest open, first by id

    def test_the_team_takes_over_when_the_owner_has_left(self):
        self.deactivate(self.owner)
        assert self.open().assignee == self.a

    def test_an_owner_who_cannot_work_on_tickets_is_passed_over(self):
        market = self.users["market"]  # sells, sees the customer, but does not work tickets
        Customer.objects.filter(pk=self.customer.pk).update(owner=market)
        self.customer.refresh_from_db()
        assert self.open().assignee == self.a


class ReassignmentTests(RoutingTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.use_rule(AssignmentRule.ROUND_ROBIN)
        self.ticket = self.open()
        assert self.ticket.assignee == self.a

    def test_reassigning_needs_a_reason(self):
        lead = self.users["supervisor"]
        with pytest.raises(ValidationError) as exc:
            tickets.ticket_assign(actor=lead, ticket=self.ticket, assignee=self.b, reason="  ")
        assert exc.value.message_dict == {"reason": ["请填写转办原因。"]}
        assert Ticket.objects.get(pk=self.ticket.pk).assignee == self.a

        with self.captureOnCommitCallbacks(execute=True):
            ticket = tickets.ticket_assign(
                actor=lead, ticket=self.ticket, assignee=self.b, reason="a 出差，b 熟悉该站点"
            )
        assert ticket.assignee == self.b
        entry = ticket.entries.filter(kind=EntryKind.ASSIGNMENT).last()
        assert entry is not None
        assert entry.text == "a 出差，b 熟悉该站点"
        assert entry.data == {"to": self.b.pk, "previous": self.a.pk}
        audit = AuditEntry.objects.get(action="ticket.assign")
        assert audit.changes["reason"] == [None, "a 出差，b 熟悉该站点"]
        assert mail.outbox[-1].to == ["eng_b@example.test"]

    def test_the_assignee_may_hand_the_ticket_on_with_a_reason_others_may_not(self):
        with pytest.raises(PermissionDenied):
            tickets.ticket_assign(
                actor=self.users["agent"], ticket=self.ticket, assignee=self.c, reason="帮忙"
            )
        ticket = tickets.ticket_assign(
            actor=self.a, ticket=self.ticket, assignee=self.c, reason="今天在外地"
        )
        assert ticket.assignee == self.c

    def test_no_assignee_routes_again_by_the_teams_rule(self):
        ticket = tickets.ticket_assign(
            actor=self.users["supervisor"], ticket=self.ticket, assignee=None, reason="重新派单"
        )
        assert ticket.assignee == self.b  # the next in turn

    def test_back_to_the_queue_when_nobody_is_present(self):
        for user in (self.a, self.b, self.c, self.d):
            self.leave(user, TODAY, TODAY)
        ticket = tickets.ticket_assign(
            actor=self.users["supervisor"], ticket=self.ticket, assignee=None, reason="全员请假"
        )
        assert (ticket.assignee, ticket.status) == (None, TicketStatus.NEW)

    def test_an_inactive_person_or_one_who_cannot_work_tickets_cannot_be_assigned(self):
        lead = self.users["supervisor"]
        self.deactivate(self.d)
        self.d.refresh_from_db()
        with pytest.raises(ValidationError) as exc:
            tickets.ticket_assign(actor=lead, ticket=self.ticket, assignee=self.d, reason="换人")
        assert exc.value.message_dict == {"assignee": ["eng_d 已停用。"]}
        with pytest.raises(ValidationError) as exc:
            tickets.ticket_assign(
                actor=lead, ticket=self.ticket, assignee=self.users["market"], reason="换人"
            )
        assert exc.value.message_dict == {"assignee": ["market 无权处理该客户的工单。"]}
        assert Ticket.objects.get(pk=self.ticket.pk).assignee == self.a
