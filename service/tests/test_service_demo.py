"""The service desk demo: three months of tickets on the demo customers, so every service page
shows something on a fresh `make run`, with timelines that hold together."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db.models import F, Q
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from customers.demo import load_customers
from devices.demo import load_demo as load_devices
from ruwang.demo import load_organisation
from service.complaints import (
    STAGE_APPROVED,
    STAGE_DONE,
    STAGE_RETURNED,
    STAGE_SUBMITTED,
    complaint_state,
)
from service.demo import ARTICLES, ON_LEAVE, load_demo
from service.models import (
    OPEN_TICKET_STATUSES,
    Article,
    Leave,
    LinkKind,
    ScheduledRevisit,
    SlaState,
    Survey,
    SurveyDailyStat,
    Team,
    Ticket,
    TicketDailyStat,
    TicketEntry,
    TicketKind,
    TicketLink,
    TicketStatus,
)
from service.surveys import FOLLOW_UP_SOURCE


class ServiceDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # The demo organisation (its logins file kept out of var/), a share of the demo
        # customers, their collectors (a few offline: the system's fault tickets), the desk.
        with tempfile.TemporaryDirectory() as var, override_settings(VAR_DIR=Path(var)):
            load_organisation()
        load_customers(count=80)
        load_devices()
        # the devices demo's offline tickets come first (ids are not 1… on PostgreSQL)
        cls.system_tickets = (
            Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        )
        cls.loaded = load_demo()
        cls.now = timezone.now()

    def user(self, username: str) -> User:
        return User.objects.get(username=username)

    def test_the_desk_has_tickets_of_every_kind_priority_channel_and_status(self):
        assert self.loaded == Ticket.objects.count() >= 100
        tickets = Ticket.objects.all()
        assert set(tickets.values_list("kind", flat=True)) == set(TicketKind.values)
        assert set(tickets.values_list("priority", flat=True)) == {
            "urgent", "high", "normal", "low",
        }  # fmt: skip
        assert {"phone", "monitoring", "email", "web", "visit", "system"} <= set(
            tickets.values_list("channel", flat=True)
        )
        assert set(tickets.values_list("status", flat=True)) == {
            "new", "assigned", "in_progress", "waiting", "resolved", "closed",
        }  # fmt: skip
        # spread over the past three months, most of them done
        first = tickets.order_by("created_at").first()
        assert (self.now - first.created_at).days >= 80
        assert tickets.filter(status=TicketStatus.CLOSED).count() > tickets.count() / 2
        # numbered in the order they came in (after the devices demo's offline tickets)
        ours = list(tickets.filter(pk__gt=self.system_tickets).order_by("pk"))
        assert [t.created_at for t in ours] == sorted(t.created_at for t in ours)

    def test_open_tickets_are_on_track_at_risk_and_breached_and_the_breaches_are_escalated(self):
        open_tickets = Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES)
        states = set(open_tickets.values_list("sla_state", flat=True))
        assert {SlaState.ON_TRACK, SlaState.AT_RISK, SlaState.BREACHED} <= states
        assert open_tickets.filter(sla_state=SlaState.BREACHED).count() >= 3
        assert open_tickets.filter(escalation_level=2).exists()
        # tickets that missed a deadline in the past say so on their timeline, when it happened
        breached = Ticket.objects.filter(sla_state=SlaState.BREACHED)
        assert breached.filter(status=TicketStatus.CLOSED).exists()
        for ticket in breached:
            entry = ticket.entries.get(data__event="sla_breached")
            assert entry.created_at == ticket.breached_at
            assert ticket.breached_at in (ticket.first_response_due_at, ticket.resolution_due_at)
        # the clock of a ticket waiting on the customer is paused
        assert Ticket.objects.filter(status=TicketStatus.WAITING, paused_at__isnull=False).exists()

    def test_every_timeline_holds_together(self):
        tickets = Ticket.objects.all()
        entries = TicketEntry.objects.all()
        assert not entries.filter(created_at__gt=self.now).exists()
        assert not entries.filter(created_at__lt=F("ticket__created_at")).exists()
        for name in ("first_responded_at", "resolved_at", "closed_at", "paused_at"):
            assert not tickets.filter(**{f"{name}__lt": F("created_at")}).exists(), name
            assert not tickets.filter(**{f"{name}__gt": self.now}).exists(), name
        assert not tickets.filter(closed_at__lt=F("resolved_at")).exists()
        assert not tickets.filter(resolution_due_at__lt=F("created_at")).exists()
        assert not tickets.filter(
            status__in=OPEN_TICKET_STATUSES, resolved_at__isnull=False
        ).exists()
        surveys = Survey.objects.filter(ticket__isnull=False)
        assert not surveys.filter(sent_at__lt=F("ticket__created_at")).exists()
        assert not surveys.filter(answered_at__lt=F("sent_at")).exists()
        assert not surveys.filter(answered_at__gt=F("expires_at")).exists()

    def test_the_teams_have_their_people_and_nobody_on_leave_gets_this_weeks_tickets(self):
        after_sales = Team.objects.get(code="after-sales")
        centre = Team.objects.get(code="customer-centre")
        supervisor = self.user("supervisor")
        assert after_sales.lead == centre.lead == supervisor
        engineers = set(after_sales.members.values_list("user__username", flat=True))
        assert {"engineer", ON_LEAVE} <= engineers
        assert "agent" in centre.members.values_list("user__username", flat=True)
        today = timezone.localdate()
        away = Leave.objects.get(user__username=ON_LEAVE)
        assert away.starts_on <= today <= away.ends_on
        monday = today - timezone.timedelta(days=today.weekday())
        this_week = Ticket.objects.filter(created_at__date__gte=monday)
        assert this_week.exists()
        assert not this_week.filter(assignee__username=ON_LEAVE).exists()

    def test_complaints_go_through_the_supervisors_review(self):
        supervisor = self.user("supervisor")
        stages = [
            complaint_state(supervisor, t).stage
            for t in Ticket.objects.filter(kind=TicketKind.COMPLAINT)
        ]
        assert {STAGE_SUBMITTED, STAGE_RETURNED, STAGE_APPROVED, STAGE_DONE} <= set(stages)
        closed = Ticket.objects.filter(kind=TicketKind.COMPLAINT, status=TicketStatus.CLOSED)
        assert closed.exists()
        assert not closed.filter(
            Q(root_cause="") | Q(reviewed_at__isnull=True) | Q(outcome_sent_at__isnull=True)
        ).exists()
        assert not closed.filter(reviewed_by=F("assignee")).exists()

    def test_resolved_tickets_were_surveyed_with_a_spread_of_scores_and_one_low_score(self):
        answered = Survey.objects.filter(answered_at__isnull=False)
        assert answered.count() >= 25
        assert set(answered.values_list("csat", flat=True)) >= {3, 4, 5}
        assert {7, 8, 9, 10} <= set(answered.values_list("nps", flat=True))
        assert Survey.objects.filter(answered_at__isnull=True, expires_at__lt=self.now).exists()
        assert Survey.objects.filter(answered_at__isnull=True, expires_at__gt=self.now).exists()
        low = answered.get(csat__lte=2)
        follow_up = low.follow_up
        assert follow_up is not None and follow_up.source_key == f"{FOLLOW_UP_SOURCE}{low.pk}"
        assert follow_up.assignee == self.user("supervisor")
        assert follow_up.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        assert follow_up.created_at >= low.answered_at

    def test_the_system_raised_fault_and_revisit_tickets(self):
        faults = Ticket.objects.filter(kind=TicketKind.FAULT, source_key__startswith="collector:")
        assert faults.filter(status__in=OPEN_TICKET_STATUSES).exists()
        # a collector back by itself closed its ticket; one offline twice updated its ticket
        assert faults.filter(status=TicketStatus.CLOSED, taken_over=False).exists()
        assert TicketEntry.objects.filter(data__event="fault_again").exists()
        revisits = Ticket.objects.filter(kind=TicketKind.REVISIT, revisit__isnull=False)
        assert revisits.filter(status__in=OPEN_TICKET_STATUSES).exists()
        recorded = revisits.filter(status=TicketStatus.RESOLVED)
        assert recorded.exists()
        assert not recorded.filter(revisit__status="planned").exists()
        for ticket in revisits:
            assert ticket.created_at.date() >= ticket.revisit.due_on - timezone.timedelta(days=1)
        assert TicketLink.objects.filter(kind=LinkKind.FOLLOW_UP, target__in=revisits).exists()
        assert ScheduledRevisit.objects.filter(status="done", done_at__isnull=False).exists()

    def test_the_knowledge_base_has_articles_that_solved_tickets(self):
        assert Article.objects.count() == len(ARTICLES) == 8
        assert Article.objects.filter(solved_count__gt=0).count() >= 4

    def test_every_service_page_has_something_to_show(self):
        self.client.force_login(self.user("supervisor"))
        response = self.client.get(reverse("service:dashboard"))
        assert response.status_code == 200
        board = response.context["board"]
        assert board.open.total > 10
        assert board.sla["at_risk"] and board.sla["breached"]
        assert board.urgent
        assert board.times.resolved > 10 and board.times.resolution_median is not None
        assert board.satisfaction.answered > 5 and board.satisfaction.nps is not None
        assert TicketDailyStat.objects.exists() and SurveyDailyStat.objects.exists()

        for username in ("engineer", "agent"):
            self.client.force_login(self.user(username))
            mine = self.client.get(reverse("service:my_tickets"))
            assert mine.status_code == 200
            assert mine.context["rows"], f"{username} has no tickets"
            ticket = mine.context["rows"][0].ticket
            page = self.client.get(reverse("service:ticket", args=[ticket.pk]))
            assert page.status_code == 200
            assert ticket.number in page.content.decode()

        response = self.client.get(reverse("service:surveys"))
        assert response.status_code == 200 and response.context["rows"]
        response = self.client.get(reverse("service:articles"))
        assert response.status_code == 200 and len(response.context["articles"]) == 8

    def test_loading_twice_adds_nothing(self):
        counts = (Ticket.objects.count(), Survey.objects.count(), Article.objects.count())
        assert load_demo() == 0
        assert (Ticket.objects.count(), Survey.objects.count(), Article.objects.count()) == counts
