"""Satisfaction surveys (满意度调查): sent when a ticket is resolved (e-mail with the link, or a
link to copy), answered once on a public page without signing in, refused when reused or
expired, a low score opens a follow-up ticket for a supervisor, and the roll-ups (customer
card, ticket page, survey list) are shown only to those who may see them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEntry
from customers.tests.factories import make_contact, make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import surveys
from service.models import (
    LinkKind,
    Priority,
    Survey,
    SurveyTrigger,
    Ticket,
    TicketKind,
    TicketLink,
    TicketStatus,
)
from service.tests.factories import make_case, make_plan
from service.tickets import ticket_create, ticket_set_status
from workflow.models import Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=SHANGHAI)
LIST = reverse("service:surveys")
# Holders of service.view_survey who see the customer below (the account manager does not).
READERS = ["market", "market_manager", "director", "engineer", "monitoring", "agent", "supervisor"]
SENDERS = ["engineer", "agent", "supervisor"]


def ticket_card(ticket: Ticket, user: User) -> str:
    """The ticket page's survey include, as the page renders it."""
    request = RequestFactory().get("/")
    request.user = user
    return render_to_string(
        "service/tickets/_surveys.html",
        {"ticket": ticket, "user": user, "perms": PermWrapper(user)},
        request=request,
    )


def answer_url(survey: Survey) -> str:
    return reverse("service:survey_answer", args=[survey.token])


class SurveyTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.customer = make_customer(
            "甲方大厦",
            cls.regions["360102"],
            owner=cls.users["market"],
            contacts=[
                {"name": "李工", "role": "contact", "email": "li@jiafang.example"},
                {
                    "name": "王经理",
                    "role": "contact",
                    "email": "wang@jiafang.example",
                    "is_primary": True,
                },
            ],
        )

    def setUp(self) -> None:
        traveller = time_machine.travel(NOW, tick=False)
        traveller.start()
        self.addCleanup(traveller.stop)

    def resolved_ticket(self, kind: str = TicketKind.FAULT, customer=None, **extra) -> Ticket:
        ticket = ticket_create(
            actor=None,
            customer=customer or self.customer,
            kind=kind,
            subject="主机报通讯故障",
            assignee=self.users["engineer"],
            **extra,
        )
        return ticket_set_status(
            actor=self.users["engineer"], ticket=ticket, status=TicketStatus.RESOLVED
        )

    def survey_of(self, ticket: Ticket) -> Survey:
        return Survey.objects.get(ticket=ticket)

    def answer(self, survey: Survey, **data: str) -> Client:
        client = Client(enforce_csrf_checks=True)
        page = client.get(answer_url(survey))
        assert page.status_code == 200, page.status_code
        token = page.cookies["csrftoken"].value
        self.last_response = client.post(answer_url(survey), {"csrfmiddlewaretoken": token, **data})
        return client


class SendTests(SurveyTestCase):
    @override_settings(RUWANG_BASE_URL="https://ruwang.example.com/")
    def test_resolving_a_ticket_mails_the_primary_contact_a_link_to_the_survey(self):
        with self.captureOnCommitCallbacks(execute=True):
            ticket = self.resolved_ticket()
        survey = self.survey_of(ticket)
        assert survey.trigger == SurveyTrigger.TICKET
        assert survey.email == "wang@jiafang.example"
        link = f"https://ruwang.example.com/service/s/{survey.token}/"
        assert surveys.survey_link(survey) == link
        [message] = [m for m in mail.outbox if m.to == ["wang@jiafang.example"]]
        assert "满意度" in message.subject and ticket.number in message.subject
        assert link in message.body
        assert "2026-06-24" in message.body  # valid for 14 days
        assert survey.expires_at == NOW + dt.timedelta(days=14)
        assert AuditEntry.objects.filter(action="survey.send").count() == 1

    def test_the_token_is_long_random_and_different_for_each_survey(self):
        first = self.survey_of(self.resolved_ticket())
        second = self.survey_of(self.resolved_ticket(kind=TicketKind.CONSULTATION))
        assert len(first.token) >= 40 and first.token != second.token

    @override_settings(RUWANG_SURVEY_DAYS=3)
    def test_the_link_lasts_the_configured_number_of_days(self):
        survey = self.survey_of(self.resolved_ticket())
        assert survey.expires_at == NOW + dt.timedelta(days=3)

    def test_without_an_e_mail_address_the_survey_is_created_with_a_link_to_copy(self):
        customer = make_customer(
            "乙方商场",
            self.regions["360102"],
            owner=self.users["market"],
            contacts=[{"name": "赵主任", "role": "contact", "mobile": "13800000001"}],
        )
        with self.captureOnCommitCallbacks(execute=True):
            ticket = self.resolved_ticket(customer=customer)
        survey = self.survey_of(ticket)
        assert survey.email == "" and mail.outbox == []
        html = ticket_card(ticket, self.users["agent"])
        assert surveys.survey_link(survey) in html
        assert "复制链接" in html and "无电子邮箱" in html

    def test_the_ticket_page_shows_the_survey_and_its_link_to_those_who_see_the_ticket(self):
        ticket = self.resolved_ticket()
        survey = self.survey_of(ticket)
        url = reverse("service:ticket", args=[ticket.pk])
        for persona in ("monitoring", "agent"):
            html = self.client_as(persona).get(url).content.decode()
            assert 'id="rw-surveys"' in html and "等待回复" in html, persona
            assert surveys.survey_link(survey) in html and "wang@jiafang.example" in html

    def test_only_service_tickets_with_a_customer_contact_send_a_survey(self):
        for kind in (TicketKind.REVISIT, TicketKind.UPGRADE):
            assert not Survey.objects.filter(ticket=self.resolved_ticket(kind=kind)).exists()
        lonely = make_customer("丙方仓库", self.regions["360102"], owner=self.users["market"])
        assert not Survey.objects.filter(ticket=self.resolved_ticket(customer=lonely)).exists()
        for kind in (TicketKind.COMPLAINT, TicketKind.CONSULTATION, TicketKind.OTHER):
            assert Survey.objects.filter(ticket=self.resolved_ticket(kind=kind)).exists()

    def test_a_system_ticket_closed_without_anybody_working_on_it_asks_nothing(self):
        ticket = ticket_create(
            actor=None,
            customer=self.customer,
            kind=TicketKind.FAULT,
            subject="采集器离线",
            source_key="offline:1",
        )
        ticket_set_status(actor=None, ticket=ticket, status=TicketStatus.RESOLVED)
        assert not Survey.objects.filter(ticket=ticket).exists()

    def test_one_open_survey_per_ticket_a_new_one_after_it_expired(self):
        ticket = self.resolved_ticket()
        first = self.survey_of(ticket)
        ticket = ticket_set_status(actor=None, ticket=ticket, status=TicketStatus.IN_PROGRESS)
        ticket = ticket_set_status(actor=None, ticket=ticket, status=TicketStatus.RESOLVED)
        again = surveys.survey_send(
            actor=self.users["agent"],
            customer=self.customer,
            trigger=SurveyTrigger.TICKET,
            ticket=ticket,
        )
        assert again == first and Survey.objects.filter(ticket=ticket).count() == 1
        with time_machine.travel(NOW + dt.timedelta(days=15), tick=False):
            later = surveys.survey_send(
                actor=None, customer=self.customer, trigger=SurveyTrigger.TICKET, ticket=ticket
            )
        assert later != first and Survey.objects.filter(ticket=ticket).count() == 2

    def test_a_revisit_and_the_onboarding_handover_send_their_own_surveys(self):
        plan = make_plan(self.customer, dt.date(2026, 3, 1))
        revisit = plan.revisits.get(months_after=3)
        case = make_case(self.customer)
        by_revisit = surveys.survey_send(
            actor=self.users["engineer"],
            customer=self.customer,
            trigger=SurveyTrigger.REVISIT,
            revisit=revisit,
        )
        by_case = surveys.survey_send(
            actor=None, customer=self.customer, trigger=SurveyTrigger.HANDOVER, case=case
        )
        assert by_revisit.revisit == revisit and by_case.case == case
        assert by_revisit.email == by_case.email == "wang@jiafang.example"

    def test_bad_requests_name_the_field_and_write_nothing(self):
        other = make_customer("乙方商场", self.regions["360102"], owner=self.users["market"])
        ticket = self.resolved_ticket()
        cases = [
            ({"trigger": SurveyTrigger.TICKET}, "ticket"),
            ({"trigger": SurveyTrigger.TICKET, "ticket": ticket, "customer": other}, "ticket"),
            ({"trigger": "phone", "ticket": ticket}, "trigger"),
            ({"trigger": SurveyTrigger.TICKET, "ticket": ticket, "email": "wang@"}, "email"),
        ]
        before = Survey.objects.count()
        for kwargs, field_name in cases:
            kwargs.setdefault("customer", self.customer)
            with self.assertRaises(ValidationError) as raised:
                surveys.survey_send(actor=self.users["agent"], **kwargs)
            assert field_name in raised.exception.message_dict, kwargs
        assert Survey.objects.count() == before

    def test_only_those_who_work_tickets_or_revisits_send_surveys(self):
        ticket = self.resolved_ticket()
        for persona in ("market", "monitoring", "director"):
            with self.assertRaises(PermissionDenied):
                surveys.survey_send(
                    actor=self.users[persona],
                    customer=self.customer,
                    trigger=SurveyTrigger.TICKET,
                    ticket=ticket,
                )


class PublicPageTests(SurveyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ticket = self.resolved_ticket()
        self.survey = self.survey_of(self.ticket)

    def test_the_link_opens_a_phone_sized_form_without_signing_in(self):
        response = Client().get(answer_url(self.survey))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="viewport"' in html and "满意度调查" in html
        assert self.ticket.number in html
        assert 'id="csat-5"' in html and 'id="nps-10"' in html
        assert "rw-sidebar" not in html  # no staff navigation
        assert "http" not in html.replace("http-equiv", "")  # nothing loaded from elsewhere

    def test_the_customer_answers_once_and_then_sees_the_thanks(self):
        client = self.answer(self.survey, csat="5", nps="10", comment="处理及时，态度很好")
        assert self.last_response.status_code == 302
        survey = Survey.objects.get(pk=self.survey.pk)
        assert (survey.csat, survey.nps, survey.comment) == (5, 10, "处理及时，态度很好")
        assert survey.answered_at == NOW and survey.follow_up is None
        thanks = client.get(answer_url(survey))
        assert thanks.status_code == 200 and "感谢您的评价" in thanks.content.decode()
        assert AuditEntry.objects.filter(action="survey.answer").count() == 1

    def test_a_second_answer_is_refused_and_changes_nothing(self):
        self.answer(self.survey, csat="4", nps="8")
        client = Client(enforce_csrf_checks=True)
        page = client.get(answer_url(self.survey))
        assert page.status_code == 200 and 'id="rw-survey-form"' not in page.content.decode()
        again = client.post(
            answer_url(self.survey),
            {"csrfmiddlewaretoken": page.cookies["csrftoken"].value, "csat": "1", "nps": "0"},
        )
        assert again.status_code == 409
        assert "只能提交一次" in again.content.decode()
        survey = Survey.objects.get(pk=self.survey.pk)
        assert (survey.csat, survey.nps) == (4, 8)
        with self.assertRaises(ValidationError):
            surveys.survey_answer(survey=survey, csat=1)

    def test_an_expired_link_says_so_with_410(self):
        with time_machine.travel(NOW + dt.timedelta(days=14, seconds=1), tick=False):
            response = Client().get(answer_url(self.survey))
            posted = Client().post(answer_url(self.survey), {"csat": "5"})
        assert response.status_code == 410 and posted.status_code == 410
        assert "已过期" in response.content.decode()
        assert Survey.objects.get(pk=self.survey.pk).answered_at is None

    def test_an_unknown_token_is_a_clear_404(self):
        response = Client().get(reverse("service:survey_answer", args=["x" * 43]))
        assert response.status_code == 404
        assert "无效" in response.content.decode()

    def test_the_form_needs_a_csrf_token(self):
        response = Client(enforce_csrf_checks=True).post(answer_url(self.survey), {"csat": "5"})
        assert response.status_code == 403
        assert Survey.objects.get(pk=self.survey.pk).answered_at is None

    def test_missing_or_impossible_scores_are_explained_in_chinese(self):
        self.answer(self.survey, nps="11", comment="")
        assert self.last_response.status_code == 400
        html = self.last_response.content.decode()
        assert "请选择满意度" in html and "0 到 10" in html
        assert Survey.objects.get(pk=self.survey.pk).answered_at is None

    def test_staff_signed_in_may_open_the_link_too(self):
        response = self.client_as("engineer").get(answer_url(self.survey))
        assert response.status_code == 200


class LowScoreTests(SurveyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ticket = self.resolved_ticket()
        self.survey = self.survey_of(self.ticket)

    def follow_up(self) -> Ticket:
        survey = Survey.objects.select_related("follow_up").get(pk=self.survey.pk)
        assert survey.follow_up is not None
        return survey.follow_up

    def test_a_score_of_1_opens_a_follow_up_ticket_for_the_account_managers_supervisor(self):
        owner = self.users["market"]
        owner.supervisor = self.users["supervisor"]
        owner.save(update_fields=["supervisor"])
        self.answer(self.survey, csat="1", comment="工程师迟到两小时")
        follow_up = self.follow_up()
        assert follow_up.assignee == self.users["supervisor"]
        assert follow_up.kind == TicketKind.OTHER and follow_up.priority == Priority.HIGH
        assert follow_up.subject.startswith("满意度回访：") and "甲方大厦" in follow_up.subject
        assert "工程师迟到两小时" in follow_up.description
        assert TicketLink.objects.filter(
            source=follow_up, target=self.ticket, kind=LinkKind.FOLLOW_UP
        ).exists()
        assert Notification.objects.filter(
            recipient=self.users["supervisor"], url=reverse("service:ticket", args=[follow_up.pk])
        ).exists()

    def test_without_a_supervisor_above_the_owner_a_supervisor_who_sees_the_customer_takes_it(
        self,
    ):
        self.answer(self.survey, csat="2", nps="9")
        assert self.follow_up().assignee == self.users["supervisor"]

    def test_an_owners_manager_who_does_not_work_tickets_is_passed_over(self):
        owner = self.users["market"]
        owner.supervisor = self.users["market_manager"]  # sees the customer, works no tickets
        owner.save(update_fields=["supervisor"])
        self.answer(self.survey, csat="1")
        assert self.last_response.status_code == 302  # answered: on to the thank-you page
        assert self.follow_up().assignee == self.users["supervisor"]

    def test_a_detractor_nps_also_opens_a_follow_up(self):
        self.answer(self.survey, csat="4", nps="6")
        assert self.follow_up().status == TicketStatus.ASSIGNED

    def test_a_good_score_opens_nothing(self):
        before = Ticket.objects.count()
        self.answer(self.survey, csat="3", nps="7")
        assert Survey.objects.get(pk=self.survey.pk).follow_up is None
        assert Ticket.objects.count() == before

    def test_resolving_the_follow_up_sends_no_new_survey(self):
        self.answer(self.survey, csat="1")
        follow_up = self.follow_up()
        ticket_set_status(
            actor=self.users["supervisor"], ticket=follow_up, status=TicketStatus.RESOLVED
        )
        assert not Survey.objects.filter(ticket=follow_up).exists()

    def test_the_follow_up_ticket_shows_the_score_it_follows_up(self):
        self.answer(self.survey, csat="1", comment="工程师迟到两小时")
        html = ticket_card(self.follow_up(), self.users["supervisor"])
        assert "工程师迟到两小时" in html and self.ticket.number in html


class RollUpTests(SurveyTestCase):
    def setUp(self) -> None:
        super().setUp()
        # CSAT 5/10, 4/9, 2/3, 3/- answered; one waiting; one expired.
        for csat, nps in ((5, 10), (4, 9), (2, 3), (3, None)):
            survey = self.survey_of(self.resolved_ticket())
            surveys.survey_answer(survey=survey, csat=csat, nps=nps)
        self.waiting = self.survey_of(self.resolved_ticket())
        with time_machine.travel(NOW - dt.timedelta(days=30), tick=False):
            self.expired = self.survey_of(self.resolved_ticket())

    def test_survey_stats_average_csat_and_nps_as_promoters_minus_detractors(self):
        stats = surveys.survey_stats(Survey.objects.filter(customer=self.customer))
        assert stats["sent"] == 6 and stats["answered"] == 4
        assert stats["csat"] == 3.5
        # 3 NPS answers: 2 promoters, 1 detractor → (2 − 1) / 3 = 33
        assert (stats["promoters"], stats["passives"], stats["detractors"]) == (2, 0, 1)
        assert stats["nps"] == 33 and stats["low"] == 1 and stats["response_rate"] == 67

    def test_survey_stats_of_nothing_is_empty_not_zero(self):
        stats = surveys.survey_stats(Survey.objects.none())
        assert stats["sent"] == 0 and stats["csat"] is None and stats["nps"] is None

    def test_the_customer_card_shows_averages_last_answers_and_waiting_links(self):
        html = render_to_string(
            "service/_survey_card.html",
            {"customer": self.customer, "user": self.users["agent"]},
        )
        assert 'id="rw-survey-card"' in html
        assert 'data-stat="csat">3.5' in html and 'data-stat="nps">33' in html
        assert surveys.survey_link(self.waiting) in html
        assert surveys.survey_link(self.expired) not in html

    def test_the_customer_card_is_hidden_from_those_who_may_not_see_surveys(self):
        for persona in ("technical", "account_manager", "outsider"):
            html = render_to_string(
                "service/_survey_card.html",
                {"customer": self.customer, "user": self.users[persona]},
            )
            assert "rw-survey-card" not in html, persona
        anonymous = render_to_string(
            "service/_survey_card.html", {"customer": self.customer, "user": AnonymousUser()}
        )
        assert "rw-survey-card" not in anonymous

    def test_the_customer_card_takes_a_fixed_number_of_queries(self):
        with CaptureQueriesContext(connection) as queries:
            render_to_string(
                "service/_survey_card.html",
                {"customer": self.customer, "user": self.users["director"]},
            )
        assert len(queries) <= 6, [q["sql"] for q in queries]

    def test_survey_list_is_for_those_who_may_see_surveys(self):
        self.assert_access(LIST, allowed=[*READERS, "account_manager"])
        rows = self.client_as("account_manager").get(LIST, {"show": "all"}).context["rows"]
        assert rows == []

    def test_the_list_views_answered_low_waiting_and_expired(self):
        client = self.client_as("director")

        def shown(show: str) -> list[int]:
            response = client.get(LIST, {"show": show})
            assert response.status_code == 200
            return [row.survey.pk for row in response.context["rows"]]

        assert len(shown("answered")) == 4
        assert len(shown("low")) == 1
        assert shown("waiting") == [self.waiting.pk]
        assert shown("expired") == [self.expired.pk]
        assert len(shown("all")) == 6
        assert client.get(LIST).context["stats"]["nps"] == 33

    def test_the_list_leaves_out_customers_the_user_may_not_see(self):
        hidden = make_customer("乙方商场", self.regions["360402"])
        make_contact(hidden, email="boss@yifang.example")
        survey = self.survey_of(self.resolved_ticket(customer=hidden))
        rows = self.client_as("market").get(LIST, {"show": "all"}).context["rows"]
        assert survey.pk not in [r.survey.pk for r in rows] and len(rows) == 6

    def test_the_list_takes_a_fixed_number_of_queries(self):
        client = self.client_as("director")
        client.get(LIST, {"show": "all"})
        with CaptureQueriesContext(connection) as few:
            client.get(LIST, {"show": "all"})
        for _ in range(3):
            surveys.survey_answer(survey=self.survey_of(self.resolved_ticket()), csat=1)
        with CaptureQueriesContext(connection) as more:
            client.get(LIST, {"show": "all"})
        assert len(more) == len(few)


class SendByHandTests(SurveyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ticket = self.resolved_ticket()
        self.url = reverse("service:survey_send_ticket", args=[self.ticket.pk])

    def test_only_those_who_work_tickets_send_one_by_hand(self):
        self.assert_access(
            self.url,
            allowed=SENDERS,
            not_found=["account_manager"],
            method="post",
            ok_status=(302,),
        )

    def test_a_new_survey_once_the_first_one_expired(self):
        with time_machine.travel(NOW + dt.timedelta(days=20), tick=False):
            html = ticket_card(self.ticket, self.users["agent"])
            assert 'id="rw-survey-send"' in html and "已过期" in html
            response = self.client_as("agent").post(self.url)
        assert response.status_code == 302
        assert Survey.objects.filter(ticket=self.ticket).count() == 2

    def test_no_second_survey_while_one_is_open(self):
        html = ticket_card(self.ticket, self.users["agent"])
        assert 'id="rw-survey-send"' not in html
        self.client_as("agent").post(self.url)
        assert Survey.objects.filter(ticket=self.ticket).count() == 1
