"""The staff desk's pages: who may see the queue and an inquiry, who may work it (reply, review,
re-route, claim, close, attach) and who may only read and comment; the queue's filters and its
query count; hostile text shown escaped; manual entry of a forum question with a screenshot."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import make_contact, make_customer
from inquiries import replies, services
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    AttachmentKind,
    Inquiry,
    InquiryAttachment,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Project,
    ProjectStage,
    ReplyStatus,
    ReplyTemplate,
    SignAs,
    Topic,
)
from ruwang.testing import PersonaTestCase, make_regions
from service.models import Article, Team, TeamMember

SHANGHAI = ZoneInfo("Asia/Shanghai")
ASKED = dt.datetime(2026, 5, 11, 9, 0, tzinfo=SHANGHAI)
QUEUE = reverse("inquiries:queue")
CREATE = reverse("inquiries:create")
# Who holds inquiries.view_inquiry, add_inquiry, reply_inquiry.
READERS = [
    "market",
    "market_manager",
    "director",
    "account_manager",
    "agent",
    "supervisor",
    "responder",
]
ENTERERS = ["agent", "supervisor", "responder"]
# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
HOSTILE_SUBJECT = '<img src=x onerror="alert(1)">'
HOSTILE_BODY = "<script>alert('x')</script><b>粗体</b>"


class DeskWorld(PersonaTestCase):
    """张先生 is market's customer (so market, market manager and supervisor see him by
    department); his web question goes to the customer centre (agent). 翠湖苑 is on sale, so
    its forum question goes to the sales team (responder). The supervisor leads the centre,
    sits in both teams without taking inquiries and serves the whole province (sees every
    inquiry)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        inquiry_defaults_ensure()
        cls.centre = Team.objects.get(code="customer-centre")
        cls.centre.lead = cls.users["supervisor"]
        cls.centre.save(update_fields=["lead"])
        cls.sales = Team.objects.get(code="sales")
        TeamMember.objects.create(team=cls.centre, user=cls.users["agent"])
        TeamMember.objects.create(team=cls.sales, user=cls.users["responder"])
        for team in (cls.centre, cls.sales):
            TeamMember.objects.create(team=team, user=cls.users["supervisor"], takes_tickets=False)
        cls.users["supervisor"].regions.add(cls.regions["360000"])
        cls.project = Project.objects.create(
            code="cuihu", name="翠湖苑", stage=ProjectStage.ON_SALE, region=cls.regions["360102"]
        )
        cls.zhang = make_customer("张先生", cls.regions["360102"], owner=cls.users["market"])
        make_contact(cls.zhang, name="张先生", email="zhang@example.com", is_primary=True)
        cls.web = cls.ask(
            "请问物业费怎么交？",
            subject="物业费",
            author_name="张先生",
            author_email="zhang@example.com",
        )
        cls.forum = cls.ask(
            "车位什么时候开始卖？",
            subject="车位",
            channel=InquiryChannel.FORUM,
            project=cls.project,
            source_site="业主论坛",
            source_url="https://bbs.example.com/t/42",
            author_handle="老王",
            author_phone="13812345678",
        )

    @classmethod
    def ask(cls, body: str, **extra: Any) -> Inquiry:
        data: dict[str, Any] = {"channel": InquiryChannel.WEB, "now": ASKED}
        data.update(extra)
        return services.inquiry_create(actor=None, body=body, **data)

    def url(self, name: str, inquiry: Inquiry) -> str:
        return reverse(f"inquiries:{name}", args=[inquiry.pk])

    def listed(self, persona: str = "supervisor", **params: str) -> list[str]:
        response = self.client_as(persona).get(QUEUE, params)
        assert response.status_code == 200
        return [row.inquiry.subject for row in response.context["rows"]]


class AccessTests(DeskWorld):
    def test_the_queue_is_for_those_who_read_inquiries(self):
        self.assert_access(QUEUE, allowed=READERS)

    def test_the_queue_shows_only_inquiries_the_user_may_see(self):
        assert sorted(self.listed("supervisor")) == ["物业费", "车位"]
        assert self.listed("market") == ["物业费"]
        assert self.listed("responder") == ["车位"]
        assert self.listed("account_manager") == []

    def test_an_inquiry_page_needs_the_read_permission_and_sight_of_the_inquiry(self):
        self.assert_access(
            self.url("detail", self.web),
            allowed=["market", "market_manager", "director", "agent", "supervisor"],
            not_found=["account_manager", "responder"],
        )
        self.assert_access(
            self.url("detail", self.forum),
            allowed=["director", "agent", "supervisor", "responder"],
            not_found=["market", "market_manager", "account_manager"],
        )

    def test_readers_may_comment(self):
        self.assert_access(
            self.url("comment", self.web),
            method="post",
            data={"text": "这位客户上周也来电问过。"},
            ok_status=(302,),
            allowed=["market", "market_manager", "director", "agent", "supervisor"],
            not_found=["account_manager", "responder"],
        )
        comments = InquiryMessage.objects.filter(inquiry=self.web, kind=MessageKind.COMMENT)
        assert comments.count() == 5
        assert set(comments.values_list("author__username", flat=True)) == {
            "market",
            "market_manager",
            "director",
            "agent",
            "supervisor",
        }

    def test_only_those_who_may_answer_write_a_reply(self):
        self.assert_access(
            self.url("reply", self.web),
            method="post",
            data={"body": "您好，物业费可在物业中心缴纳。", "sign_as": SignAs.COMPANY},
            ok_status=(302,),
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )
        self.assert_access(
            self.url("reply", self.forum),
            method="post",
            data={"body": "您好，车位下月开售。", "sign_as": SignAs.STAFF},
            ok_status=(302,),
            allowed=["agent", "supervisor", "responder"],
        )

    def test_a_reader_sees_the_thread_and_the_comment_box_but_no_reply_editor(self):
        page = self.client_as("market").get(self.url("detail", self.web))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="rw-comment-form"' in html
        assert 'id="rw-reply-form"' not in html
        assert 'id="rw-inquiry-actions"' not in html
        assert 'id="rw-attach-form"' not in html
        worker = self.client_as("agent").get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-reply-form"' in worker

    def test_inserting_a_template_or_a_snippet_is_for_those_who_answer(self):
        self.assert_access(
            self.url("compose", self.web),
            method="post",
            data={"body": "", "sign_as": SignAs.COMPANY},
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )

    def test_claiming_closing_and_attaching_are_for_those_who_answer(self):
        unrouted = self.ask("活动报名", topic=Topic.PROMOTION)  # the promotion team is empty
        self.assert_access(
            self.url("claim", unrouted),
            method="post",
            ok_status=(302,),
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )
        self.assert_access(
            self.url("attach", self.web),
            method="post",
            allowed=["agent", "supervisor"],  # no file: the form comes back with its error
            not_found=["responder"],
        )
        self.assert_access(
            self.url("close", self.web),
            method="post",
            data={"reason": "重复提问"},
            ok_status=(302,),
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )

    def test_re_routing_is_for_leads_and_the_assignee(self):
        self.assert_access(
            self.url("reroute", self.web),
            method="post",
            data={"team": self.centre.pk, "topic": Topic.GENERAL, "reason": "仍归客户中心"},
            ok_status=(302,),
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )
        # The responder may answer the forum question but only hands on their own.
        elsewhere = self.ask("车位价格？", channel=InquiryChannel.EXTERNAL, source_site="微博")
        response = self.client_as("responder").post(
            self.url("reroute", elsewhere), {"reason": "不归我"}
        )
        assert response.status_code == 404  # not visible to the responder

    def test_marking_contentious_is_for_those_who_answer_clearing_for_supervisors(self):
        self.assert_access(
            self.url("contentious", self.web),
            method="post",
            data={"mark": "1", "reason": "涉及退款"},
            ok_status=(302,),
            allowed=["agent", "supervisor"],
            not_found=["responder"],
        )
        self.web.refresh_from_db()
        assert self.web.contentious
        self.assert_access(
            self.url("contentious", self.web),
            method="post",
            data={"mark": "0", "reason": "已有明确口径"},
            ok_status=(302,),
            allowed=["supervisor"],
        )
        self.web.refresh_from_db()
        assert not self.web.contentious

    def test_reviewing_is_for_supervisors(self):
        services.inquiry_set_contentious(
            actor=self.users["agent"], inquiry=self.web, contentious=True, reason="涉及赔偿"
        )
        reply = replies.reply_save(
            actor=self.users["agent"], inquiry=self.web, body="我们核实后答复。", sign_as="company"
        )
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        self.assert_access(
            self.url("review", self.web),
            method="post",
            data={"decision": "return", "comment": "请补充处理时限"},
            ok_status=(302,),
            allowed=["supervisor"],
        )
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.RETURNED

    def test_manual_entry_is_for_those_who_enter_questions(self):
        self.assert_access(CREATE, allowed=ENTERERS)


class QueueTests(DeskWorld):
    def test_open_inquiries_are_ordered_by_deadline(self):
        later = self.ask("晚到的问题", subject="晚到", now=ASKED + dt.timedelta(hours=2))
        assert later.due_at is not None
        assert self.listed() == ["物业费", "车位", "晚到"]

    def test_status_channel_topic_project_and_team_filters(self):
        services.inquiry_close(actor=self.users["agent"], inquiry=self.web, reason="重复")
        assert self.listed() == ["车位"]
        assert self.listed(status=InquiryStatus.CLOSED) == ["物业费"]
        assert sorted(self.listed(status="all")) == ["物业费", "车位"]
        assert self.listed(status="all", channel=InquiryChannel.FORUM) == ["车位"]
        assert self.listed(status="all", project=str(self.project.pk)) == ["车位"]
        assert self.listed(status="all", team=str(self.centre.pk)) == ["物业费"]
        self.ask("怎么加入俱乐部？", subject="俱乐部", topic=Topic.CLUB)
        assert self.listed(status="all", topic=Topic.CLUB) == ["俱乐部"]

    def test_text_search_finds_by_number_or_subject(self):
        assert self.listed(q=self.forum.number) == ["车位"]
        assert self.listed(q="物业") == ["物业费"]

    def test_mine_and_unassigned(self):
        self.ask("活动报名", subject="活动", topic=Topic.PROMOTION)
        assert self.listed("agent", view="mine") == ["物业费"]
        assert self.listed("responder", view="mine") == ["车位"]
        assert self.listed(view="unassigned") == ["活动"]

    def test_overdue_and_due_within_four_hours(self):
        self.ask("新问题", subject="新", now=ASKED + dt.timedelta(hours=21))
        with time_machine.travel(ASKED + dt.timedelta(hours=24, minutes=30), tick=False):
            assert sorted(self.listed(view="overdue")) == ["物业费", "车位"]
            assert self.listed(view="due_soon") == []
            page = self.client_as("supervisor").get(QUEUE)
            states = {r.inquiry.subject: r.deadline for r in page.context["rows"]}
            assert states == {"物业费": "overdue", "车位": "overdue", "新": "on_track"}
        with time_machine.travel(ASKED + dt.timedelta(hours=21), tick=False):
            assert sorted(self.listed(view="due_soon")) == ["物业费", "车位"]
            page = self.client_as("supervisor").get(QUEUE)
            html = page.content.decode()
            assert 'data-deadline="at_risk"' in html

    def test_contentious_and_awaiting_my_review(self):
        contentious = self.ask("我要投诉漏水", subject="漏水")
        assert contentious.contentious
        assert self.listed(view="contentious") == ["漏水"]
        assert self.listed(view="review") == []
        reply = replies.reply_save(
            actor=self.users["agent"], inquiry=contentious, body="马上处理。", sign_as="company"
        )
        replies.reply_submit(actor=self.users["agent"], reply=reply)
        assert self.listed(view="review") == ["漏水"]
        page = self.client_as("supervisor").get(QUEUE)
        assert page.context["review_count"] == 1
        assert 'id="rw-review-count"' in page.content.decode()
        # Not offered to those who do not review, and empty for them if asked.
        agent_page = self.client_as("agent").get(QUEUE)
        assert 'id="rw-review-count"' not in agent_page.content.decode()
        assert self.listed("agent", view="review") == []

    def test_the_rows_of_a_page_take_one_query_however_many_there_are(self):
        client = self.client_as("supervisor")
        client.get(QUEUE)  # warm the session and permission caches
        with CaptureQueriesContext(connection) as few:
            response = client.get(QUEUE)
        assert len(response.context["rows"]) == 2
        for n in range(8):
            self.ask(f"问题{n}", subject=f"问题{n}", project=self.project)
        with CaptureQueriesContext(connection) as many:
            response = client.get(QUEUE)
        assert len(response.context["rows"]) == 10
        assert len(many.captured_queries) == len(few.captured_queries)

    def test_a_long_queue_is_paged(self):
        for n in range(51):
            self.ask(f"问题{n}", subject=f"问题{n:02d}", now=ASKED + dt.timedelta(minutes=n + 1))
        first = self.client_as("agent").get(QUEUE)
        assert len(first.context["rows"]) == 50
        assert first.context["next_url"]
        second = self.client_as("agent").get(QUEUE, {"page": "2"})
        assert [r.inquiry.subject for r in second.context["rows"]] == ["问题48", "问题49", "问题50"]
        assert not second.context["next_url"]

    def test_the_htmx_filter_returns_only_the_results(self):
        response = self.client_as("supervisor").get(
            QUEUE, {"channel": InquiryChannel.FORUM}, HTTP_HX_REQUEST="true"
        )
        html = response.content.decode()
        assert 'id="rw-inquiry-table"' in html
        assert "<html" not in html
        assert [r.inquiry.subject for r in response.context["rows"]] == ["车位"]


class InquiryPageTests(DeskWorld):
    def test_hostile_text_is_shown_escaped(self):
        hostile = self.ask(HOSTILE_BODY, subject=HOSTILE_SUBJECT, author_name="<i>黑客</i>")
        for url in (self.url("detail", hostile), QUEUE):
            html = self.client_as("agent").get(url).content.decode()
            assert "<script>alert('x')</script>" not in html
            assert 'onerror="alert(1)"' not in html
            assert "<i>黑客</i>" not in html
        detail = self.client_as("agent").get(self.url("detail", hostile)).content.decode()
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;b&gt;粗体&lt;/b&gt;" in detail
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail

    def test_the_page_shows_the_source_the_masked_phone_and_the_customer_link(self):
        html = self.client_as("responder").get(self.url("detail", self.forum)).content.decode()
        assert "138****5678" in html
        assert "13812345678" not in html
        assert 'href="https://bbs.example.com/t/42" target="_blank" rel="noopener' in html
        assert "老王" in html
        assert "业主论坛" in html
        assert 'id="rw-reply-post"' in html  # a forum question's reply is posted there
        assert 'id="rw-reply-send"' not in html
        market = self.client_as("market").get(self.url("detail", self.web)).content.decode()
        assert reverse("customers:detail", args=[self.zhang.pk]) in market

    def test_a_reply_sent_from_the_page_goes_out_and_stops_the_clock(self):
        client = self.client_as("agent")
        response = client.post(
            self.url("reply", self.web),
            {"body": "您好，物业费可在物业中心缴纳。", "sign_as": SignAs.STAFF, "action": "send"},
        )
        assert response.status_code == 302
        [message] = [m for m in mail.outbox if "zhang@example.com" in m.to]
        assert "agent（营销部客户中心）" in message.body
        self.web.refresh_from_db()
        assert self.web.status == InquiryStatus.REPLIED
        html = client.get(self.url("detail", self.web)).content.decode()
        assert 'data-kind="reply"' in html
        assert 'data-deadline="stopped"' in html

    def test_the_contentious_review_journey_on_the_pages(self):
        services.inquiry_set_contentious(
            actor=self.users["agent"], inquiry=self.web, contentious=True, reason="涉及赔偿"
        )
        agent = self.client_as("agent")
        html = agent.get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-reply-submit"' in html
        assert 'id="rw-reply-send"' not in html
        # Sending anyway is refused with the reason on the form.
        refused = agent.post(
            self.url("reply", self.web),
            {"body": "赔偿两千元。", "sign_as": "company", "action": "send"},
        )
        assert refused.status_code == 200
        assert "主管" in refused.content.decode()
        assert mail.outbox == []
        agent.post(
            self.url("reply", self.web),
            {"body": "赔偿两千元。", "sign_as": "company", "action": "submit"},
        )
        supervisor = self.client_as("supervisor")
        html = supervisor.get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-review"' in html
        response = supervisor.post(
            self.url("review", self.web),
            {"decision": "approve", "body": "按合同约定处理，专人联系您。", "comment": ""},
        )
        assert response.status_code == 302
        html = agent.get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-reply-send"' in html
        assert "按合同约定处理，专人联系您。" in html
        agent.post(
            self.url("reply", self.web),
            {"body": "按合同约定处理，专人联系您。", "sign_as": "company", "action": "send"},
        )
        [message] = [m for m in mail.outbox if "zhang@example.com" in m.to]
        assert "按合同约定处理" in message.body

    def test_the_author_gets_no_review_box_for_their_own_reply(self):
        services.inquiry_set_contentious(
            actor=self.users["supervisor"], inquiry=self.web, contentious=True, reason="媒体"
        )
        supervisor = self.client_as("supervisor")
        supervisor.post(
            self.url("reply", self.web),
            {"body": "稍后答复。", "sign_as": "company", "action": "submit"},
        )
        html = supervisor.get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-review"' not in html
        response = supervisor.post(
            self.url("review", self.web), {"decision": "approve", "body": "稍后答复。"}
        )
        assert response.status_code == 200
        assert "另一位主管" in response.content.decode()

    def test_a_returned_reply_shows_the_comments_to_the_author(self):
        services.inquiry_set_contentious(
            actor=self.users["agent"], inquiry=self.web, contentious=True, reason="涉及赔偿"
        )
        agent = self.client_as("agent")
        agent.post(
            self.url("reply", self.web),
            {"body": "我们会赔。", "sign_as": "company", "action": "submit"},
        )
        supervisor = self.client_as("supervisor")
        empty = supervisor.post(self.url("review", self.web), {"decision": "return", "comment": ""})
        assert empty.status_code == 200
        assert "is-invalid" in empty.content.decode()
        supervisor.post(
            self.url("review", self.web), {"decision": "return", "comment": "不要承诺赔偿"}
        )
        html = agent.get(self.url("detail", self.web)).content.decode()
        assert 'id="rw-review-comment"' in html
        assert "不要承诺赔偿" in html

    def test_a_forum_reply_is_marked_posted_with_its_url(self):
        responder = self.client_as("responder")
        missing = responder.post(
            self.url("reply", self.forum),
            {"body": "下月开售。", "sign_as": "company", "action": "post"},
        )
        assert missing.status_code == 200
        assert "is-invalid" in missing.content.decode()
        responder.post(
            self.url("reply", self.forum),
            {
                "body": "下月开售。",
                "sign_as": "company",
                "action": "post",
                "posted_url": "https://bbs.example.com/t/42#p2",
            },
        )
        self.forum.refresh_from_db()
        assert self.forum.status == InquiryStatus.REPLIED
        html = responder.get(self.url("detail", self.forum)).content.decode()
        assert "https://bbs.example.com/t/42#p2" in html

    def test_a_template_and_a_snippet_are_inserted_into_the_reply(self):
        Article.objects.create(
            title="物业费缴纳方式", problem="怎么交物业费", solution="可通过物业App或前台缴纳。"
        )
        agent = self.client_as("agent")
        template = ReplyTemplate.objects.get(name="通用回复")
        response = agent.post(
            self.url("compose", self.web),
            {"body": "", "sign_as": SignAs.COMPANY, "template": template.pk, "use_template": "1"},
            HTTP_HX_REQUEST="true",
        )
        text = response.context["reply_form"].initial["body"]
        assert text.startswith("张先生您好")
        assert self.web.number in text
        response = agent.post(
            self.url("compose", self.web),
            {
                "body": text,
                "sign_as": SignAs.COMPANY,
                "template": template.pk,  # the picker comes along with the reply form
                "article": Article.objects.get().pk,
            },
            HTTP_HX_REQUEST="true",
        )
        inserted = response.context["reply_form"].initial["body"]
        assert "可通过物业App或前台缴纳。\n\n营销部客户中心" in inserted
        assert 'id="rw-reply-text-wrap"' in response.content.decode()
        # The knowledge base search of the editor.
        found = agent.get(self.url("detail", self.web), {"q": "物业费"}, HTTP_HX_REQUEST="true")
        assert "物业费缴纳方式" in found.content.decode()

    def test_a_comment_is_shown_as_internal(self):
        self.client_as("market").post(self.url("comment", self.web), {"text": "老客户，注意态度"})
        html = self.client_as("agent").get(self.url("detail", self.web)).content.decode()
        assert 'data-kind="comment"' in html
        assert "老客户，注意态度" in html

    def test_re_routing_by_a_lead_moves_the_inquiry_and_records_the_reason(self):
        response = self.client_as("supervisor").post(
            self.url("reroute", self.web), {"team": self.sales.pk, "reason": "属于销售问题"}
        )
        assert response.status_code == 302
        self.web.refresh_from_db()
        assert self.web.team == self.sales
        assert self.web.assignee == self.users["responder"]
        event = InquiryMessage.objects.get(inquiry=self.web, event="rerouted")
        assert event.body == "属于销售问题"

    def test_closing_an_unanswered_inquiry_needs_a_reason(self):
        response = self.client_as("agent").post(self.url("close", self.web), {"reason": ""})
        assert response.status_code == 200
        assert "is-invalid" in response.content.decode() or "alert-danger" in (
            response.content.decode()
        )
        self.web.refresh_from_db()
        assert self.web.status != InquiryStatus.CLOSED

    def test_a_screenshot_is_attached_from_the_page(self):
        response = self.client_as("responder").post(
            self.url("attach", self.forum),
            {"kind": AttachmentKind.SCREENSHOT, "file": SimpleUploadedFile("post.png", PNG)},
        )
        assert response.status_code == 302
        attachment = InquiryAttachment.objects.get(inquiry=self.forum)
        assert attachment.kind == AttachmentKind.SCREENSHOT


class ManualEntryTests(DeskWorld):
    def form(self, **extra: Any) -> dict[str, Any]:
        data = {
            "channel": InquiryChannel.FORUM,
            "source_site": "房天下论坛",
            "source_url": "https://bbs.example.com/t/99",
            "author_handle": "翠湖业主",
            "posted_at": "2026-05-11T08:00",
            "project": self.project.pk,
            "topic": Topic.GENERAL,
            "subject": "小区绿化",
            "body": "小区绿化什么时候完工？",
        }
        data.update(extra)
        return data

    def test_a_forum_question_is_entered_with_a_screenshot(self):
        with time_machine.travel(ASKED, tick=False):
            response = self.client_as("agent").post(
                CREATE,
                self.form(screenshot=SimpleUploadedFile("帖子截图.png", PNG, "image/png")),
            )
        assert response.status_code == 302
        inquiry = Inquiry.objects.get(subject="小区绿化")
        assert response["Location"] == self.url("detail", inquiry)
        assert inquiry.channel == InquiryChannel.FORUM
        assert inquiry.created_by == self.users["agent"]
        assert inquiry.author_handle == "翠湖业主"
        assert inquiry.team == self.sales  # 翠湖苑 is on sale
        posted = dt.datetime(2026, 5, 11, 8, 0, tzinfo=SHANGHAI)
        assert inquiry.posted_at == posted
        assert inquiry.due_at == posted + dt.timedelta(hours=24)  # the clock counts from the post
        [attachment] = InquiryAttachment.objects.filter(inquiry=inquiry)
        assert attachment.kind == AttachmentKind.SCREENSHOT
        assert attachment.document.current.original_name == "帖子截图.png"

    def test_a_forum_question_without_site_or_url_is_refused_on_the_site(self):
        response = self.client_as("agent").post(CREATE, self.form(source_site="", source_url=""))
        assert response.status_code == 200
        assert response.context["form"].errors["source_site"]
        assert "is-invalid" in response.content.decode()
        assert not Inquiry.objects.filter(subject="小区绿化").exists()

    def test_a_refused_screenshot_leaves_nothing_behind(self):
        response = self.client_as("agent").post(
            CREATE, self.form(screenshot=SimpleUploadedFile("x.exe", b"MZ\x90\x00" * 10))
        )
        assert response.status_code == 200
        assert response.context["form"].errors["screenshot"]
        assert not Inquiry.objects.filter(subject="小区绿化").exists()

    def test_contentious_needs_a_reason(self):
        response = self.client_as("agent").post(CREATE, self.form(contentious="on"))
        assert response.status_code == 200
        assert response.context["form"].errors["contentious_reason"]

    def test_a_customer_can_be_picked(self):
        agent = self.client_as("agent")
        matches = agent.get(CREATE, {"q": "张先生"}, HTTP_HX_REQUEST="true")
        assert f"?customer={self.zhang.pk}" in matches.content.decode()
        page = agent.get(CREATE, {"customer": self.zhang.pk})
        assert f'name="customer" value="{self.zhang.pk}"' in page.content.decode()
        agent.post(CREATE, self.form(customer=self.zhang.pk))
        assert Inquiry.objects.get(subject="小区绿化").customer == self.zhang

    def test_a_customer_the_user_may_not_see_cannot_be_picked(self):
        response = self.client_as("responder").get(CREATE, {"customer": self.zhang.pk})
        assert response.status_code == 404
