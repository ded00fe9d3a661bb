"""Acceptance (issue 8): a customer asks on the public form, the desk answers through the UI.

A customer without an account asks on a phone; the customer-centre agent finds the question in
the queue, starts the reply from a template, marks the inquiry contentious and submits the reply
for review; the supervisor (the team's lead) sees it waiting, edits and approves it; the agent
sends it through a real SMTP server (aiosmtpd) and the statistics page counts it. Only what is
outside the journey is set up in Python: the defaults, the project, the two staff members and
their team.

A full-page screenshot of every step goes to var/screenshots/inquiry-desk/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import User
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    Inquiry,
    InquiryChannel,
    InquiryMessage,
    InquiryStatus,
    MessageKind,
    Project,
    ProjectStage,
    Reply,
    ReplyStatus,
    Topic,
)
from inquiries.routing import desk_settings
from inquiries.tests.factories import team_join
from inquiries.tests.mailservers import SmtpInbox, smtp_server
from ruwang.testing import make_regions, make_user
from ruwang.tests.test_browser_journeys import _sign_in
from service.models import Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(django_settings.VAR_DIR) / "screenshots" / "inquiry-desk"
CUSTOMER_EMAIL = "wangfang@example.com"
SUBJECT = "地下车位什么时候开售"
QUESTION = "请问地下车位什么时候开始销售？价格大概多少？"
ANSWER = "地下车位预计六月开始认购，价格届时在官网公布。"
EDITED = "地下车位预计六月开始认购，价格届时在官网和售楼处同时公布。"
REASON = "车位开售时间尚未最终确定"
COMPANY = "营销部客户中心"  # the desk's default signature


# --- the world outside the journey -----------------------------------------------------------


def _customer_centre() -> tuple[Project, User, User]:
    """The project, and the customer centre: an agent who answers, a supervisor who leads."""
    regions = make_regions()
    inquiry_defaults_ensure()
    desk = desk_settings()
    desk.default_region = regions["360102"]
    desk.save()
    # 3.2.1: before the sales team is formed the customer centre answers.
    project = Project.objects.create(
        code="lvcheng",
        name="绿城花园",
        stage=ProjectStage.PRE_SALES,
        region=regions["360103"],
    )
    agent = make_user(
        "zhangli", "customer_centre_agent", display_name="张丽", email="zhangli@developer.example"
    )
    supervisor = make_user(
        "zhouqiang", "supervisor", display_name="周强", email="zhouqiang@developer.example"
    )
    team_join(Team.objects.get(code="customer-centre"), agent, lead=supervisor)
    return project, agent, supervisor


# --- browsers ----------------------------------------------------------------------------------


class Desk:
    """A browser per person (the customer's is phone-sized and signed out); records console
    errors and 4xx/5xx responses, and numbers the screenshots of the walk."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.pages: dict[str, Any] = {}
        self.errors: list[str] = []
        self.shots = 0

    def open(self, who: str, *, phone: bool = False, username: str = "", name: str = "") -> Any:
        if who in self.pages:
            return self.pages[who]
        viewport = {"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000}
        context = self.browser.new_context(viewport=viewport, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on(
            "console",
            lambda m, w=who: (
                self.errors.append(f"{w}: console: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc, w=who: self.errors.append(f"{w}: {exc}"))
        page.on(
            "response",
            lambda r, w=who: (
                self.errors.append(f"{w}: {r.status} {r.url}") if r.status >= 400 else None
            ),
        )
        self.pages[who] = page
        if username:
            _sign_in(page, self.base, username)
            page.wait_for_selector(f"text=您好，{name}")
        return page

    def shot(self, who: str, what: str) -> None:
        self.shots += 1
        path = SHOTS / f"{self.shots:02d}-{who}-{what}.png"
        self.pages[who].screenshot(path=str(path), full_page=True)

    def close(self) -> None:
        for page in self.pages.values():
            try:
                page.wait_for_load_state("networkidle", timeout=5_000)
            finally:
                page.context.close()
        # The live server shares the test's SQLite connection: let every request finish
        # before the database is flushed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            "process_request_thread" in t.name for t in threading.enumerate()
        ):
            time.sleep(0.02)


@pytest.fixture
def desk(browser: Any, live_server: Any, settings: Any, tmp_path: Path) -> Iterator[Desk]:
    settings.MEDIA_ROOT = tmp_path
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    people = Desk(browser, live_server.url)
    yield people
    people.close()


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpInbox]:
    """A real SMTP server; the live server (a thread of this process) sends through it."""
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield inbox


def _submit(page: Any, selector: str) -> None:
    """Press a button that loads a new page, and check the page shows no error."""
    with page.expect_navigation():
        page.click(selector)
    problems = page.locator("#rw-main .invalid-feedback, #rw-main .alert-danger")
    assert problems.count() == 0, problems.all_inner_texts()


def _success(page: Any) -> str:
    return str(page.inner_text("#rw-main .rw-messages .alert-success"))


def _to(inbox: SmtpInbox, address: str) -> list[Any]:
    return [r.message for r in inbox.messages if address in r.rcpt_tos]


# --- the journey -------------------------------------------------------------------------------


def test_a_web_question_is_answered_after_review_sent_by_e_mail_and_counted(
    desk: Desk, smtp: SmtpInbox
) -> None:
    project, agent, supervisor = _customer_centre()

    # 1. The customer asks on a phone, without signing in.
    customer = desk.open("customer", phone=True)
    customer.goto(f"{desk.base}/inquiries/ask/{project.code}/")
    customer.wait_for_selector("#rw-ask-form")
    assert customer.inner_text("#rw-ask-project") == "绿城花园"
    assert customer.evaluate("document.documentElement.scrollWidth") <= 390
    customer.fill("#id_name", "王芳")
    customer.fill("#id_email", CUSTOMER_EMAIL)
    customer.select_option("#id_topic", Topic.GENERAL)
    customer.fill("#id_subject", SUBJECT)
    customer.fill("#id_question", QUESTION)
    customer.check("#id_consent")
    desk.shot("customer", "question")
    with customer.expect_navigation():
        customer.click("#rw-ask-submit")
    customer.wait_for_selector("#rw-thanks-number")
    inquiry = Inquiry.objects.get()
    assert re.fullmatch(r"WZ-\d+-\d+", inquiry.number), inquiry.number
    assert customer.inner_text("#rw-thanks-number") == inquiry.number
    assert "谢谢，我们已收到您的问题。" in customer.inner_text("#rw-thanks")
    assert inquiry.due_at is not None and inquiry.received_at is not None
    assert inquiry.due_at - inquiry.received_at == dt.timedelta(hours=24)
    due = timezone.localtime(inquiry.due_at).strftime("%Y-%m-%d %H:%M")
    assert customer.inner_text("#rw-thanks-due") == due
    assert CUSTOMER_EMAIL in customer.inner_text("#rw-thanks")
    desk.shot("customer", "thanks")
    assert (inquiry.channel, inquiry.project, inquiry.contentious) == (
        InquiryChannel.WEB,
        project,
        False,
    )
    assert inquiry.assignee == agent  # routed to the customer centre, its only member

    # 2. The agent finds it in the queue and starts the reply from a template.
    page = desk.open("agent", username="zhangli", name="张丽")
    page.goto(f"{desk.base}/inquiries/")
    row = page.locator(f"#rw-inquiry-table tr[data-inquiry='{inquiry.pk}']")
    row.wait_for()
    for text in (inquiry.number, SUBJECT, "网站表单", "客户中心", "张丽"):
        assert text in row.inner_text()
    desk.shot("agent", "queue")
    with page.expect_navigation():
        row.locator(f"a:has-text('{inquiry.number}')").click()
    page.wait_for_selector("#rw-reply-form")
    assert QUESTION in page.inner_text("#rw-inquiry-thread")
    assert page.locator("#rw-reply-send").is_visible()  # not contentious: sent directly
    page.fill("#rw-reply-text", "您好，")
    page.select_option("#rw-template", label="通用回复")
    asked: list[str] = []

    def answer(accept: bool) -> Any:
        def handle(dialog: Any) -> None:
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    page.once("dialog", answer(accept=False))
    page.click("#rw-use-template")
    page.wait_for_timeout(300)  # a refused confirmation sends nothing
    assert asked == ["模板将替换已写的内容，是否继续？"]
    assert page.input_value("#rw-reply-text") == "您好，"
    page.once("dialog", answer(accept=True))
    with page.expect_response(lambda r: r.url.endswith("/reply/compose/")):
        page.click("#rw-use-template")
    page.wait_for_function(
        "n => document.getElementById('rw-reply-text').value.includes(n)", arg=inquiry.number
    )
    text = page.input_value("#rw-reply-text")
    assert text.startswith("王芳您好：")
    assert text.rstrip().endswith(COMPANY)
    page.fill("#rw-reply-text", text.replace("答复如下：\n\n", f"答复如下：\n{ANSWER}\n", 1))
    desk.shot("agent", "draft")
    _submit(page, "#rw-reply-save")
    assert _success(page) == "草稿已保存。"
    assert page.inner_text("#rw-reply-status") == "草稿"
    assert ANSWER in page.input_value("#rw-reply-text")

    # 3. The agent marks it contentious: the reply now goes to the supervisor first.
    page.fill("#rw-contentious-form input[name=reason]", REASON)
    _submit(page, "#rw-contentious-form button[type=submit]")
    assert _success(page) == "已标记为有争议：答复须经主管审核。"
    assert REASON in page.inner_text("#rw-contentious")
    assert page.locator("#rw-reply-send").count() == 0  # no way to send it unreviewed
    assert page.locator("#rw-reply-submit").is_visible()
    assert "该问题有争议：答复须经主管批准后才能发送。" in page.inner_text("#rw-reply")
    assert ANSWER in page.input_value("#rw-reply-text")  # the draft is kept
    desk.shot("agent", "contentious")
    _submit(page, "#rw-reply-submit")
    assert _success(page) == "答复已提交主管审核。"
    assert page.inner_text("#rw-reply-status") == "审核中"
    assert page.locator("#rw-reply-form").count() == 0  # frozen while reviewed
    assert ANSWER in page.inner_text("#rw-reply-in-review")
    desk.shot("agent", "submitted")
    inquiry.refresh_from_db()
    assert inquiry.status == InquiryStatus.IN_REVIEW
    [asks_review] = _to(smtp, "zhouqiang@developer.example")  # the lead is told by e-mail
    assert inquiry.number in str(asks_review["Subject"])

    # 4. The supervisor sees it waiting, edits the text and approves it.
    lead = desk.open("supervisor", username="zhouqiang", name="周强")
    lead.goto(f"{desk.base}/inquiries/")
    badge = lead.locator("#rw-review-count")
    assert badge.inner_text().strip() == "1 条待我审核"
    desk.shot("supervisor", "queue")
    with lead.expect_navigation():
        badge.click()
    waiting = lead.locator("#rw-inquiry-table tr[data-inquiry]")
    assert waiting.count() == 1
    assert waiting.first.get_attribute("data-inquiry") == str(inquiry.pk)
    assert "有争议" in waiting.first.inner_text()
    with lead.expect_navigation():
        waiting.first.locator(f"a:has-text('{inquiry.number}')").click()
    lead.wait_for_selector("#rw-review")
    assert lead.locator("#rw-reply-send").count() == 0
    body = lead.locator("#rw-review textarea[name=body]")
    assert ANSWER in body.input_value()
    body.fill(body.input_value().replace(ANSWER, EDITED))
    lead.fill("#rw-review textarea[name=comment]", "已与销售部核实，可以答复")
    desk.shot("supervisor", "review")
    _submit(lead, "#rw-review-approve")
    assert _success(lead) == "答复已批准，现在可以发送。"
    assert lead.inner_text("#rw-reply-status") == "已审核通过"
    assert "周强 已于" in lead.inner_text("#rw-reply")
    approved = lead.locator("#rw-inquiry-thread li[data-event=reply_approved]")
    assert "答复经修改后批准" in approved.inner_text()
    assert "已与销售部核实，可以答复" in approved.inner_text()
    assert lead.locator("#rw-review").count() == 0
    desk.shot("supervisor", "approved")
    told = [str(m["Subject"]) for m in _to(smtp, "zhangli@developer.example")]
    assert any("批准" in s and inquiry.number in s for s in told), told  # the agent may send

    # 5. The agent sends the approved text; it goes out over SMTP to the customer.
    page.reload()
    page.wait_for_selector("#rw-reply-send")
    assert page.inner_text("#rw-reply-status") == "已审核通过"
    assert EDITED in page.input_value("#rw-reply-text")  # the supervisor's wording
    assert page.locator("#rw-reply-submit").count() == 0
    desk.shot("agent", "approved")
    _submit(page, "#rw-reply-send")
    assert _success(page) == "答复已发送，答复计时已停止。"
    assert page.locator("[data-status=replied]").first.inner_text() == "已回复"
    assert "答复计时已停止" in page.inner_text("#rw-inquiry-deadline")
    sent = page.locator("#rw-inquiry-thread li[data-kind=reply]")
    assert "答复已发送" in sent.inner_text()
    assert EDITED in sent.inner_text()
    assert CUSTOMER_EMAIL in sent.inner_text()  # the one who answers sees the address
    assert page.locator("#rw-reply-form").count() == 0  # nothing left to send
    desk.shot("agent", "sent")

    [mail] = _to(smtp, CUSTOMER_EMAIL)
    # A long encoded subject is folded onto the next line (Django's compat32 headers); mail
    # programs drop the space the unfolding leaves in front.
    assert str(mail["Subject"]).strip() == f"Re: {SUBJECT} [{inquiry.number}]"
    assert str(mail["To"]) == CUSTOMER_EMAIL
    assert mail["From"].addresses[0].display_name == COMPANY
    content = mail.get_content()
    assert EDITED in content and ANSWER not in content
    assert content.rstrip().endswith(COMPANY)
    stored = InquiryMessage.objects.get(inquiry=inquiry, kind=MessageKind.REPLY)
    assert str(mail["Message-ID"]) == stored.message_id  # the customer's answer threads back
    reply = Reply.objects.get(inquiry=inquiry)
    assert (reply.status, reply.author, reply.reviewer, reply.sent_by) == (
        ReplyStatus.SENT,
        agent,
        supervisor,
        agent,
    )
    inquiry.refresh_from_db()
    assert inquiry.status == InquiryStatus.REPLIED
    assert inquiry.replied_at is not None and inquiry.replied_at <= inquiry.due_at

    # 6. The supervisor's statistics count it.
    lead.goto(f"{desk.base}/inquiries/stats/")
    for chart in ("channel", "topic", "team", "buckets"):
        lead.wait_for_selector(f"#rw-chart-{chart} canvas")
    assert lead.inner_text("#rw-kpi-total") == "1"
    assert lead.inner_text("#rw-kpi-on-time") == "100%"
    assert re.search(r"\b1\b", lead.inner_text("#rw-kpi-on-time-detail"))
    assert lead.inner_text("#rw-kpi-contentious") == "100%"
    assert re.fullmatch(r"\d+ 分钟", lead.inner_text("#rw-kpi-median")), lead.inner_text(
        "#rw-kpi-median"
    )
    assert re.fullmatch(r"\d+ 分钟", lead.inner_text("#rw-kpi-review-median")), lead.inner_text(
        "#rw-kpi-review-median"
    )
    review = lead.inner_text("#rw-kpi-review-detail")
    assert "审核 1 次" in review and "退回 0%（0 次）" in review, review
    web = lead.locator("#rw-by-channel tr[data-channel=web] td")
    assert web.text_content() == "1"
    team_row = lead.locator("#rw-by-team tbody tr").filter(has_text="客户中心")
    assert team_row.locator("[data-cell=rate]").inner_text() == "100%"
    desk.shot("supervisor", "stats")

    assert desk.errors == []
