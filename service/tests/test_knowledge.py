"""Knowledge base (知识库): search in Chinese, drafts, suggestions on a ticket, linking an article,
"this article solved it" counted once per ticket, and who may do what."""

from __future__ import annotations

from django.contrib.auth.context_processors import PermWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import knowledge
from service.models import Article, Ticket, TicketArticle, TicketEntry, TicketKind
from service.tickets import ticket_create

LIST = reverse("service:articles")
CREATE = reverse("service:article_create")
READERS = [
    "market",
    "market_manager",
    "director",
    "engineer",
    "monitoring",
    "account_manager",
    "agent",
    "supervisor",
]
EDITORS = ["engineer", "agent", "supervisor"]


class KnowledgeTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer("甲方大厦", regions["360102"], owner=cls.users["market"])
        author = cls.users["engineer"]
        cls.offline = knowledge.article_create(
            actor=author,
            data={
                "title": "用户信息传输装置离线",
                "problem": "监控中心显示采集器离线，心跳中断。",
                "cause": "现场断电或 GPRS 信号弱。",
                "solution": "检查 UPS 电源；更换 4G 天线位置后重启采集器。",
                "keywords": "离线, 心跳，GPRS",
                "is_published": True,
            },
        )
        cls.false_alarm = knowledge.article_create(
            actor=author,
            data={
                "title": "烟感频繁误报",
                "problem": "同一探测器一天内多次火警，现场无火情。",
                "cause": "探测器积尘。",
                "solution": "清洗或更换感烟探测器。",
                "keywords": "误报、烟感",
                "is_published": True,
            },
        )
        cls.draft = knowledge.article_create(
            actor=author,
            data={
                "title": "控制器通讯协议升级（草稿）",
                "problem": "旧固件不支持新协议。",
                "cause": "",
                "solution": "按升级手册刷写固件。",
                "keywords": "固件",
                "is_published": False,
            },
        )

    def setUp(self) -> None:
        self.ticket = ticket_create(
            actor=None,
            customer=self.customer,
            kind=TicketKind.FAULT,
            subject="采集器离线超过2小时",
            description="监控中心报告该楼采集器心跳中断。",
            assignee=self.users["engineer"],
        )

    def titles(self, persona: str = "engineer", q: str = "") -> list[str]:
        return [a.title for a in knowledge.article_search(self.users[persona], q)]


class SearchTests(KnowledgeTestCase):
    def test_search_finds_chinese_substrings_in_title_problem_keywords_and_solution(self):
        assert self.titles(q="离线") == ["用户信息传输装置离线"]  # title
        assert self.titles(q="心跳中断") == ["用户信息传输装置离线"]  # problem
        assert self.titles(q="烟感") == ["烟感频繁误报"]  # keywords (and title)
        assert self.titles(q="清洗") == ["烟感频繁误报"]  # solution
        assert self.titles(q="积尘") == []  # the cause is not searched

    def test_search_ignores_case_and_needs_every_word(self):
        assert self.titles(q="gprs") == ["用户信息传输装置离线"]
        assert self.titles(q="ups 天线") == ["用户信息传输装置离线"]
        assert self.titles(q="ups 烟感") == []

    def test_readers_see_published_articles_and_editors_also_drafts(self):
        assert "控制器通讯协议升级（草稿）" not in self.titles("market")
        assert "控制器通讯协议升级（草稿）" in self.titles("engineer")
        with self.assertRaises(Article.DoesNotExist):
            knowledge.article_get(self.users["market"], self.draft.pk)

    def test_people_without_the_permission_find_nothing(self):
        assert self.titles("procurement") == []

    def test_the_list_page_searches_and_shows_the_matches(self):
        response = self.client_as("market").get(LIST, {"q": "误报"})
        assert [a.title for a in response.context["articles"]] == ["烟感频繁误报"]
        assert "<mark>误报</mark>" in response.content.decode()

    def test_the_list_answers_htmx_with_its_rows_only(self):
        response = self.client_as("market").get(LIST, {"q": "离线"}, headers={"HX-Request": "true"})
        html = response.content.decode()
        assert f'data-article="{self.offline.pk}"' in html
        assert f'data-article="{self.false_alarm.pk}"' not in html
        assert "<html" not in html

    def test_the_list_costs_the_same_queries_for_more_articles(self):
        client = self.client_as("engineer")
        client.get(LIST)
        with CaptureQueriesContext(connection) as few:
            client.get(LIST)
        for n in range(10):
            Article.objects.create(title=f"文章{n}", problem="问题", solution="解决", keywords="词")
        with CaptureQueriesContext(connection) as many:
            response = client.get(LIST)
        assert len(response.context["articles"]) == 13
        assert len(many) == len(few)


class ArticleEditingTests(KnowledgeTestCase):
    def test_an_editor_writes_an_article_and_it_is_audited(self):
        response = self.client_as("agent").post(
            CREATE,
            {
                "title": "报警主机死机",
                "problem": "主机无响应。",
                "cause": "",
                "solution": "断电重启。",
                "keywords": "死机；主机",
                "is_published": "on",
            },
        )
        article = Article.objects.get(title="报警主机死机")
        assert response.status_code == 302
        assert response["Location"] == reverse("service:article", args=[article.pk])
        assert article.keywords == "死机、主机"
        assert article.created_by == self.users["agent"]
        assert AuditEntry.objects.filter(action="article.create", object_id=str(article.pk))

    def test_a_missing_solution_is_named_and_nothing_is_saved(self):
        response = self.client_as("agent").post(
            CREATE, {"title": "报警主机死机", "problem": "主机无响应。", "solution": ""}
        )
        assert response.status_code == 200
        assert "solution" in response.context["form"].errors
        assert not Article.objects.filter(title="报警主机死机").exists()

    def test_unpublishing_hides_the_article_from_readers(self):
        url = reverse("service:article_edit", args=[self.false_alarm.pk])
        data = {
            "title": "烟感频繁误报",
            "problem": "同一探测器一天内多次火警。",
            "cause": "探测器积尘。",
            "solution": "清洗或更换感烟探测器。",
            "keywords": "误报、烟感",
        }
        response = self.client_as("supervisor").post(url, data)
        assert response.status_code == 302
        self.false_alarm.refresh_from_db()
        assert not self.false_alarm.is_published
        audit = AuditEntry.objects.filter(action="article.update").get()
        assert audit.changes["is_published"] == [True, False]
        assert "烟感频繁误报" not in self.titles("market")

    def test_only_editors_create_or_change_articles(self):
        with self.assertRaises(PermissionDenied):
            knowledge.article_create(actor=self.users["market"], data={"title": "x"})
        with self.assertRaises(PermissionDenied):
            knowledge.article_update(
                actor=self.users["director"], article=self.offline, data={"title": "x"}
            )


class TicketArticleTests(KnowledgeTestCase):
    def fresh(self) -> Ticket:
        return Ticket.objects.get(pk=self.ticket.pk)

    def test_a_ticket_suggests_articles_whose_keywords_it_mentions(self):
        assert knowledge.ticket_suggestions(self.ticket) == [self.offline]
        knowledge.ticket_article_link(
            actor=self.users["engineer"], ticket=self.ticket, article=self.offline
        )
        assert knowledge.ticket_suggestions(self.ticket) == []

    def test_drafts_are_never_suggested_nor_linked(self):
        ticket = ticket_create(
            actor=None, customer=self.customer, kind=TicketKind.UPGRADE, subject="固件升级失败"
        )
        assert knowledge.ticket_suggestions(ticket) == []
        with self.assertRaises(ValidationError):
            knowledge.ticket_article_link(
                actor=self.users["engineer"], ticket=ticket, article=self.draft
            )

    def test_solved_counts_once_per_ticket(self):
        engineer = self.users["engineer"]
        for _click in range(2):
            knowledge.ticket_article_solved(
                actor=engineer, ticket=self.ticket, article=self.offline
            )
        self.offline.refresh_from_db()
        assert self.offline.solved_count == 1
        link = TicketArticle.objects.get(ticket=self.ticket, article=self.offline)
        assert link.solved and link.linked_by == engineer
        other = ticket_create(
            actor=None, customer=self.customer, kind=TicketKind.FAULT, subject="又一次离线"
        )
        knowledge.ticket_article_solved(actor=engineer, ticket=other, article=self.offline)
        self.offline.refresh_from_db()
        assert self.offline.solved_count == 2
        assert AuditEntry.objects.filter(action="ticket.article_solved").count() == 2
        events = list(
            TicketEntry.objects.filter(ticket=self.ticket).values_list("data__event", flat=True)
        )
        assert events.count("article_linked") == 1
        assert events.count("article_solved") == 1

    def test_only_people_who_work_the_ticket_link_articles(self):
        with self.assertRaises(PermissionDenied):
            knowledge.ticket_article_link(
                actor=self.users["market"], ticket=self.ticket, article=self.offline
            )

    def test_linking_from_the_ticket_page(self):
        url = reverse("service:ticket_article_link", args=[self.ticket.pk])
        response = self.client_as("agent").post(url, {"article": self.offline.pk})
        assert response.status_code == 302
        assert response["Location"].endswith("#rw-ticket-articles")
        assert TicketArticle.objects.filter(ticket=self.ticket, article=self.offline).exists()

    def test_solved_from_the_ticket_page_counts_once(self):
        url = reverse("service:ticket_article_solved", args=[self.ticket.pk, self.offline.pk])
        client = self.client_as("engineer")
        client.post(url)
        client.post(url)
        self.offline.refresh_from_db()
        assert self.offline.solved_count == 1

    def test_the_list_offers_to_link_articles_to_the_ticket(self):
        response = self.client_as("engineer").get(LIST, {"ticket": self.ticket.pk})
        html = response.content.decode()
        assert self.ticket.number in html
        assert reverse("service:ticket_article_link", args=[self.ticket.pk]) in html
        # Someone who may not work the ticket just searches.
        response = self.client_as("market").get(LIST, {"ticket": self.ticket.pk})
        assert response.context["ticket"] is None

    def panel(self, persona: str) -> str:
        request = RequestFactory().get("/")
        user = self.users[persona]
        request.user = user
        return render_to_string(
            "service/tickets/_articles.html",
            {"ticket": self.fresh(), "user": user, "perms": PermWrapper(user), "request": request},
            request=request,
        )

    def test_the_ticket_panel_shows_suggestions_links_and_the_solved_button(self):
        html = self.panel("engineer")
        assert "推荐文章" in html and "用户信息传输装置离线" in html
        assert reverse("service:ticket_article_link", args=[self.ticket.pk]) in html
        knowledge.ticket_article_link(
            actor=self.users["engineer"], ticket=self.ticket, article=self.offline
        )
        html = self.panel("engineer")
        assert "此文章解决了问题" in html
        assert "推荐文章" not in html
        knowledge.ticket_article_solved(
            actor=self.users["engineer"], ticket=self.ticket, article=self.offline
        )
        html = self.panel("engineer")
        assert "解决了本工单" in html and "此文章解决了问题" not in html
        reader = self.panel("market")
        assert "用户信息传输装置离线" in reader and "<form" not in reader
        assert self.panel("procurement").strip() == ""
        assert self.panel("account_manager").strip() == ""  # may not see this customer

    def test_the_ticket_page_shows_the_knowledge_panel(self):
        url = reverse("service:ticket", args=[self.ticket.pk])
        html = self.client_as("engineer").get(url).content.decode()
        assert 'id="rw-ticket-articles"' in html
        assert f'data-suggested="{self.offline.pk}"' in html


class KnowledgeAccessTests(KnowledgeTestCase):
    def test_who_may_read_the_list(self):
        self.assert_access(LIST, allowed=READERS)

    def test_who_may_read_an_article(self):
        self.assert_access(reverse("service:article", args=[self.offline.pk]), allowed=READERS)

    def test_a_draft_is_hidden_from_readers(self):
        self.assert_access(
            reverse("service:article", args=[self.draft.pk]),
            allowed=EDITORS,
            not_found=["market", "market_manager", "director", "monitoring", "account_manager"],
        )

    def test_who_may_write_articles(self):
        self.assert_access(CREATE, allowed=EDITORS)
        self.assert_access(reverse("service:article_edit", args=[self.offline.pk]), allowed=EDITORS)

    def test_who_may_link_an_article_to_a_ticket(self):
        self.assert_access(
            reverse("service:ticket_article_link", args=[self.ticket.pk]),
            allowed=EDITORS,
            not_found=["account_manager"],
            method="post",
            data={"article": self.offline.pk},
            ok_status=(302,),
        )

    def test_who_may_say_an_article_solved_it(self):
        self.assert_access(
            reverse("service:ticket_article_solved", args=[self.ticket.pk, self.offline.pk]),
            allowed=EDITORS,
            not_found=["account_manager"],
            method="post",
            ok_status=(302,),
        )
        self.offline.refresh_from_db()
        assert self.offline.solved_count == 1
