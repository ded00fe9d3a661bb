"""Complaints (投诉): a complaint is closed only with a root cause, a corrective action, a
supervisor's approval (not by the person who wrote the action) and the customer told the
outcome; a returned review sends the loop round again."""

from __future__ import annotations

from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEntry
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import complaints
from service.models import EntryKind, Ticket, TicketEntry, TicketKind, TicketStatus
from service.tickets import ticket_create, ticket_set_status
from workflow.models import Notification

WORKERS = ["engineer", "agent", "supervisor"]
REVIEWERS = ["director", "supervisor"]
# Everyone who sees tickets and this customer (the account manager does not see it).
READERS = ["market", "market_manager", "director", "engineer", "monitoring", "agent", "supervisor"]


class ComplaintTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer(
            "甲方大厦",
            regions["360102"],
            owner=cls.users["market"],
            contacts=[
                {
                    "name": "王经理",
                    "role": "contact",
                    "email": "wang@jiafang.example",
                    "is_primary": True,
                }
            ],
        )

    def setUp(self) -> None:
        self.ticket = ticket_create(
            actor=None,
            customer=self.customer,
            kind=TicketKind.COMPLAINT,
            subject="值班员接警后未及时回电",
            description="客户投诉：报警后二十分钟无人回电。",
            assignee=self.users["agent"],
        )

    def fresh(self) -> Ticket:
        return Ticket.objects.get(pk=self.ticket.pk)

    def analyse(self, persona: str = "agent") -> None:
        complaints.complaint_save_analysis(
            actor=self.users[persona],
            ticket=self.fresh(),
            root_cause="夜班只排一人，接警高峰时无法回电",
            corrective_action="夜班增至两人，并加回电超时提醒。",
        )

    def submit(self, persona: str = "agent") -> None:
        complaints.complaint_submit(actor=self.users[persona], ticket=self.fresh())

    def review(
        self, persona: str = "supervisor", *, approve: bool = True, comment: str = ""
    ) -> None:
        complaints.complaint_review(
            actor=self.users[persona], ticket=self.fresh(), approve=approve, comment=comment
        )

    def tell(self, persona: str = "agent", text: str = "整改已完成，感谢您的监督。") -> None:
        complaints.complaint_tell_customer(
            actor=self.users[persona], ticket=self.fresh(), text=text
        )

    def close(self, persona: str = "agent") -> Ticket:
        ticket = self.fresh()
        if ticket.status != TicketStatus.RESOLVED:
            ticket = ticket_set_status(
                actor=self.users[persona], ticket=ticket, status=TicketStatus.RESOLVED
            )
        return ticket_set_status(actor=self.users[persona], ticket=ticket, status="closed")

    def state(self, persona: str) -> complaints.ComplaintState:
        state = complaints.complaint_state(self.users[persona], self.fresh())
        assert state is not None
        return state


class ClosingTests(ComplaintTestCase):
    def test_a_complaint_without_analysis_or_review_cannot_be_closed(self):
        with self.assertRaisesMessage(ValidationError, "投诉须有") as caught:
            self.close()
        message = " ".join(caught.exception.messages)
        for needed in ("根本原因", "纠正措施", "主管审核"):
            assert needed in message, message
        assert self.fresh().status == TicketStatus.RESOLVED

    def test_an_analysis_without_a_supervisors_approval_cannot_be_closed(self):
        self.analyse()
        self.submit()
        with self.assertRaisesMessage(ValidationError, "主管审核"):
            self.close()

    def test_an_approved_complaint_cannot_be_closed_before_the_customer_is_told(self):
        self.analyse()
        self.submit()
        self.review()
        assert complaints.complaint_problems(self.fresh()) == ["告知客户处理结果"]
        with self.assertRaisesMessage(ValidationError, "告知客户处理结果"):
            self.close()

    def test_a_complaint_with_the_whole_loop_done_closes(self):
        self.analyse()
        self.submit()
        self.review()
        self.tell()
        ticket = self.close()
        assert ticket.status == TicketStatus.CLOSED
        assert complaints.complaint_problems(ticket) == []
        assert self.state("agent").stage == complaints.STAGE_DONE

    def test_a_closed_complaint_takes_no_more_changes_until_reopened(self):
        self.analyse()
        self.submit()
        self.review()
        self.tell()
        self.close()
        with self.assertRaisesMessage(ValidationError, "投诉已关闭"):
            self.analyse()


class AnalysisTests(ComplaintTestCase):
    def test_root_cause_and_action_are_both_required_and_named(self):
        with self.assertRaises(ValidationError) as caught:
            complaints.complaint_save_analysis(
                actor=self.users["agent"], ticket=self.fresh(), root_cause=" ", corrective_action=""
            )
        assert set(caught.exception.message_dict) == {"root_cause", "corrective_action"}
        assert self.fresh().root_cause == ""

    def test_only_people_who_work_tickets_write_the_analysis(self):
        with self.assertRaises(PermissionDenied):
            self.analyse("market")

    def test_a_complaint_is_submitted_only_with_both_parts_written(self):
        with self.assertRaisesMessage(ValidationError, "根本原因"):
            self.submit()
        self.analyse()
        self.submit()
        assert self.state("agent").stage == complaints.STAGE_SUBMITTED
        with self.assertRaisesMessage(ValidationError, "已在等待审核"):
            self.submit()

    def test_the_analysis_is_audited_and_on_the_timeline(self):
        self.analyse()
        entry = TicketEntry.objects.filter(ticket=self.ticket, kind=EntryKind.SYSTEM).last()
        assert entry.data["event"] == complaints.ANALYSIS
        assert entry.author == self.users["agent"]
        audit = AuditEntry.objects.filter(action="complaint.analysis").get()
        assert audit.changes["corrective_action"][1] == "夜班增至两人，并加回电超时提醒。"

    def test_changing_an_approved_analysis_withdraws_the_approval(self):
        self.analyse()
        self.submit()
        self.review()
        self.tell()
        complaints.complaint_save_analysis(
            actor=self.users["agent"],
            ticket=self.fresh(),
            root_cause="夜班只排一人",
            corrective_action="夜班增至三人。",
        )
        ticket = self.fresh()
        assert ticket.reviewed_at is None and ticket.reviewed_by is None
        assert ticket.outcome_sent_at is None
        assert self.state("agent").stage == complaints.STAGE_OPEN

    def test_saving_the_same_words_again_keeps_the_approval(self):
        self.analyse()
        self.submit()
        self.review()
        self.analyse()
        assert self.fresh().reviewed_at is not None


class ReviewTests(ComplaintTestCase):
    def test_a_supervisor_approves_and_the_approval_is_recorded(self):
        self.analyse()
        self.submit()
        self.review("supervisor")
        ticket = self.fresh()
        assert ticket.reviewed_by == self.users["supervisor"]
        assert ticket.reviewed_at is not None
        assert AuditEntry.objects.filter(action="complaint.approve").count() == 1
        assert Notification.objects.filter(
            recipient=self.users["agent"], text__contains="已审核通过"
        ).exists()

    def test_the_writer_cannot_approve_their_own_action(self):
        self.analyse("supervisor")
        self.submit("supervisor")
        with self.assertRaisesMessage(ValidationError, "须由另一位主管审核"):
            self.review("supervisor")
        assert self.fresh().reviewed_at is None
        state = self.state("supervisor")
        assert state.is_writer and not state.can_review
        self.review("director")
        assert self.fresh().reviewed_by == self.users["director"]

    def test_people_without_the_review_permission_cannot_review(self):
        self.analyse()
        self.submit()
        for persona in ("engineer", "agent", "market"):
            with self.assertRaises(PermissionDenied):
                self.review(persona)

    def test_a_review_needs_a_submitted_complaint(self):
        self.analyse()
        with self.assertRaisesMessage(ValidationError, "未在等待审核"):
            self.review()

    def test_returning_needs_a_comment(self):
        self.analyse()
        self.submit()
        with self.assertRaises(ValidationError) as caught:
            self.review(approve=False, comment="  ")
        assert "comment" in caught.exception.message_dict

    def test_a_returned_review_reopens_the_loop(self):
        self.analyse()
        self.submit()
        self.review(approve=False, comment="纠正措施要写明完成日期")
        ticket = self.fresh()
        assert ticket.reviewed_at is None and ticket.reviewed_by is None
        entry = TicketEntry.objects.filter(ticket=ticket).last()
        assert entry.data["event"] == complaints.RETURNED
        assert "纠正措施要写明完成日期" in entry.text
        assert Notification.objects.filter(
            recipient=self.users["agent"], text__contains="退回"
        ).exists()
        state = self.state("agent")
        assert state.stage == complaints.STAGE_RETURNED
        assert state.returned_comment == "纠正措施要写明完成日期"
        assert state.can_submit
        # Not approvable until it is submitted again, and not closable.
        with self.assertRaisesMessage(ValidationError, "未在等待审核"):
            self.review()
        with self.assertRaisesMessage(ValidationError, "主管审核"):
            self.close()
        complaints.complaint_save_analysis(
            actor=self.users["agent"],
            ticket=self.fresh(),
            root_cause="夜班只排一人",
            corrective_action="6月30日前夜班增至两人。",
        )
        assert self.state("agent").returned_comment == "纠正措施要写明完成日期"
        self.submit()
        assert self.state("agent").returned_comment == ""
        self.review()
        self.tell()
        assert self.close().status == TicketStatus.CLOSED


class TellCustomerTests(ComplaintTestCase):
    def test_the_customer_gets_the_outcome_by_email(self):
        self.analyse()
        self.submit()
        self.review()
        with self.captureOnCommitCallbacks(execute=True):
            self.tell(text="整改已完成：夜班增至两人。")
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["wang@jiafang.example"]
        assert self.ticket.number in message.subject
        assert "夜班增至两人" in message.body
        ticket = self.fresh()
        assert ticket.outcome_sent_at is not None
        assert TicketEntry.objects.filter(ticket=ticket, kind=EntryKind.MESSAGE).count() == 1
        assert AuditEntry.objects.filter(action="complaint.tell_customer").count() == 1

    def test_the_proposed_message_comes_from_the_corrective_action(self):
        self.analyse()
        self.submit()
        self.review()
        state = self.state("agent")
        assert state.can_tell
        assert "夜班增至两人，并加回电超时提醒。" in state.outcome_text
        assert self.ticket.number in state.outcome_text
        assert state.customer_address == "wang@jiafang.example"

    def test_the_customer_is_told_only_after_approval(self):
        self.analyse()
        self.submit()
        with self.assertRaisesMessage(ValidationError, "主管批准"):
            self.tell()
        assert len(mail.outbox) == 0
        assert self.fresh().outcome_sent_at is None


class ComplaintPageTests(ComplaintTestCase):
    def url(self, name: str, ticket: Ticket | None = None) -> str:
        return reverse(f"service:{name}", args=[(ticket or self.ticket).pk])

    def panel(self, persona: str) -> str:
        request = RequestFactory().get("/")
        request.user = self.users[persona]
        from django.contrib.auth.context_processors import PermWrapper

        return render_to_string(
            "service/tickets/_complaint.html",
            {
                "ticket": self.fresh(),
                "user": self.users[persona],
                "perms": PermWrapper(self.users[persona]),
                "request": request,
            },
            request=request,
        )

    def test_who_may_write_the_analysis(self):
        self.assert_access(
            self.url("complaint_analysis"),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data={"root_cause": "原因", "corrective_action": "措施"},
            ok_status=(302,),
        )

    def test_who_may_submit_for_review(self):
        self.analyse()
        self.assert_access(
            self.url("complaint_submit"),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            ok_status=(302,),
        )

    def test_who_may_review(self):
        self.assert_access(
            self.url("complaint_review"),
            allowed=REVIEWERS,
            method="post",
            data={"decision": "return", "comment": "再查"},
            ok_status=(302,),
        )

    def test_who_may_tell_the_customer(self):
        self.assert_access(
            self.url("complaint_tell_customer"),
            allowed=WORKERS,
            not_found=["account_manager"],
            method="post",
            data={"text": "结果"},
            ok_status=(302,),
        )

    def test_the_complaint_actions_do_not_exist_for_other_tickets(self):
        fault = ticket_create(
            actor=None, customer=self.customer, kind=TicketKind.FAULT, subject="采集器离线"
        )
        response = self.client_as("agent").post(
            self.url("complaint_analysis", fault), {"root_cause": "a", "corrective_action": "b"}
        )
        assert response.status_code == 404

    def test_get_is_not_allowed(self):
        assert self.client_as("agent").get(self.url("complaint_submit")).status_code == 405

    def test_the_whole_loop_through_the_pages(self):
        agent, supervisor = self.client_as("agent"), self.client_as("supervisor")
        response = agent.post(
            self.url("complaint_analysis"),
            {"root_cause": "夜班只排一人", "corrective_action": "夜班增至两人。"},
        )
        assert response.status_code == 302
        assert response["Location"] == self.url("ticket") + "#rw-complaint"
        agent.post(self.url("complaint_submit"))
        response = supervisor.post(
            self.url("complaint_review"), {"decision": "approve", "comment": ""}, follow=True
        )
        assert "已审核通过" in response.content.decode()
        with self.captureOnCommitCallbacks(execute=True):
            response = agent.post(
                self.url("complaint_tell_customer"), {"text": "整改完成"}, follow=True
            )
        assert "wang@jiafang.example" in response.content.decode()
        assert len(mail.outbox) == 1
        assert self.fresh().outcome_sent_at is not None

    def test_a_refused_step_says_why(self):
        response = self.client_as("supervisor").post(
            self.url("complaint_review"), {"decision": "return", "comment": ""}, follow=True
        )
        assert "审核意见" in response.content.decode()
        assert "请说明需要修改的内容" in response.content.decode()

    def test_the_panel_offers_each_person_their_next_step(self):
        self.analyse("supervisor")
        self.submit("supervisor")
        writer = self.panel("supervisor")
        assert "另一位主管审核" in writer
        assert 'id="rw-complaint-review"' not in writer
        assert 'id="rw-complaint-analysis"' in writer  # may still rework it
        director = self.panel("director")
        assert 'id="rw-complaint-review"' in director
        assert 'id="rw-complaint-analysis"' not in director
        market = self.panel("market")
        assert "夜班增至两人" in market
        assert "<form" not in market
        assert self.panel("account_manager").strip() == ""

    def test_the_panel_offers_the_outcome_message_after_approval(self):
        self.analyse()
        self.submit()
        self.review()
        html = self.panel("agent")
        assert 'id="rw-complaint-tell"' in html
        assert "wang@jiafang.example" in html
        assert "夜班增至两人，并加回电超时提醒。" in html

    def test_the_ticket_page_shows_the_complaint_panel(self):
        self.analyse()
        html = self.client_as("supervisor").get(self.url("ticket")).content.decode()
        assert 'id="rw-complaint"' in html
        assert "投诉处理" in html and "提交审核" in html

    def test_the_panel_is_empty_on_other_tickets(self):
        self.ticket = ticket_create(
            actor=None, customer=self.customer, kind=TicketKind.FAULT, subject="采集器离线"
        )
        assert self.panel("agent").strip() == ""
