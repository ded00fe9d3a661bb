"""The public question form: no sign-in, phone-first, rate-limited, honeypot, hostile input,
attachments checked like customer documents, embeddable in an iframe; and the staff page that
lists the links to publish."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from customers.models import Contact, Customer, CustomerStatus, Document
from customers.tests.factories import make_customer
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    Inquiry,
    InquiryAttachment,
    InquiryChannel,
    InquiryMessage,
    MessageKind,
    Project,
    ProjectStage,
    Topic,
)
from inquiries.ratelimit import Rate, rate_limit_hit
from inquiries.routing import desk_settings
from ruwang.testing import PersonaTestCase, make_regions

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The start of a 10-minute window (windows are aligned to the epoch), so a test's burst of
# submissions never straddles two windows.
WINDOW_START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
HOSTILE = "<script>alert(1)</script>"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


class PublicFormTestCase(PersonaTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._media = override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-inquiries-"))
        cls._media.enable()

    @classmethod
    def tearDownClass(cls) -> None:
        cls._media.disable()
        super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        inquiry_defaults_ensure()
        desk = desk_settings()
        desk.default_region = cls.regions["360102"]
        desk.save()
        cls.project = Project.objects.create(
            code="lvcheng",
            name="绿城花园",
            stage=ProjectStage.ON_SALE,
            region=cls.regions["360103"],
        )
        cls.closed_project = Project.objects.create(
            code="old-town", name="老城旧盘", is_active=False
        )

    def question(self, **changes: Any) -> dict[str, Any]:
        data = {
            "name": "王芳",
            "email": "wangfang@example.com",
            "mobile": "13912345678",
            "project": str(self.project.pk),
            "topic": Topic.GENERAL,
            "subject": "车位什么时候开售",
            "question": "请问地下车位什么时候开始销售？价格大概多少？",
            "consent": "on",
            "website": "",
        }
        data.update(changes)
        return data

    def post(self, url: str = "/inquiries/ask/", ip: str = "198.51.100.7", **changes: Any) -> Any:
        return Client().post(url, self.question(**changes), REMOTE_ADDR=ip)


class FormPageTests(PublicFormTestCase):
    def test_anyone_sees_the_form_on_a_phone_sized_page_without_signing_in(self) -> None:
        response = Client().get("/inquiries/ask/")

        assert response.status_code == 200
        page = response.content.decode()
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert "在线咨询" in page
        assert 'id="rw-sidebar"' not in page  # not the staff layout
        assert "绿城花园" in page  # the active project is offered…
        assert "老城旧盘" not in page  # …an inactive one is not
        assert 'name="csrfmiddlewaretoken"' in page
        assert response["X-Frame-Options"] == "DENY"

    def test_the_honeypot_is_hidden_from_people_keyboards_and_autofill(self) -> None:
        page = Client().get("/inquiries/ask/").content.decode()

        assert (
            '<input type="text" name="website" id="id_website" value="" autocomplete="off" '
            'tabindex="-1">' in page
        )
        assert '<div class="rw-hp" aria-hidden="true">' in page

    def test_a_project_link_fixes_the_project(self) -> None:
        response = Client().get("/inquiries/ask/lvcheng/")

        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="rw-ask-project">绿城花园<' in page
        assert 'name="project"' not in page

    def test_an_unknown_or_inactive_project_link_is_not_found(self) -> None:
        for url in ("/inquiries/ask/nowhere/", "/inquiries/ask/old-town/"):
            response = Client().get(url)
            assert response.status_code == 404, url
            assert "页面不存在" in response.content.decode()


class SubmissionTests(PublicFormTestCase):
    def test_a_stranger_s_question_becomes_one_web_inquiry_with_a_new_prospect(self) -> None:
        with time_machine.travel(WINDOW_START, tick=False):
            response = self.post()

        assert response.status_code == 200
        inquiry = Inquiry.objects.get()
        assert inquiry.channel == InquiryChannel.WEB
        assert inquiry.project == self.project
        assert inquiry.topic == Topic.GENERAL
        assert inquiry.created_by is None
        assert (inquiry.author_name, inquiry.author_email, inquiry.author_phone) == (
            "王芳",
            "wangfang@example.com",
            "13912345678",
        )
        customer = inquiry.customer
        assert customer.status == CustomerStatus.PROSPECT
        assert customer.region == self.regions["360103"]  # the project's district
        assert Contact.objects.filter(customer=customer, email="wangfang@example.com").exists()
        assert (
            InquiryMessage.objects.filter(inquiry=inquiry, kind=MessageKind.QUESTION).count() == 1
        )
        page = response.content.decode()
        assert inquiry.number in page
        assert "2026-03-03 09:00" in page  # reply due: 24 calendar hours later
        assert "wangfang@example.com" in page
        # Nothing about the customer record behind it.
        assert "/customers/" not in page

    def test_a_question_from_a_known_contact_is_filed_under_that_customer(self) -> None:
        known = make_customer(
            "赣江物业有限公司",
            self.regions["360102"],
            contacts=[{"name": "李雷", "email": "LiLei@Example.com", "mobile": "13800001111"}],
        )
        customers_before = Customer.objects.count()

        response = self.post(email="lilei@example.com", mobile="")

        assert response.status_code == 200
        assert Inquiry.objects.get().customer == known
        assert Customer.objects.count() == customers_before
        assert "赣江物业有限公司" not in response.content.decode()

    def test_a_question_without_a_project_is_accepted(self) -> None:
        response = self.post(project="")

        assert response.status_code == 200
        inquiry = Inquiry.objects.get()
        assert inquiry.project is None
        assert inquiry.customer.region == self.regions["360102"]  # the desk's district

    def test_a_mobile_typed_with_spaces_and_country_code_is_kept_as_eleven_digits(self) -> None:
        self.post(mobile="+86 139-1234-5678")

        assert Inquiry.objects.get().author_phone == "13912345678"

    def test_sending_the_same_question_twice_files_it_once(self) -> None:
        first = self.post()
        second = self.post()  # a double click, or the thank-you page reloaded

        inquiry = Inquiry.objects.get()
        assert inquiry.number in first.content.decode()
        assert inquiry.number in second.content.decode()

    def test_the_honeypot_drops_the_submission_silently(self) -> None:
        customers_before = Customer.objects.count()

        with self.assertLogs("inquiries.public_views", "WARNING") as logs:
            response = self.post(website="http://cheap-pills.example", ip="192.0.2.66")

        assert response.status_code == 200
        assert "谢谢，我们已收到您的问题。" in response.content.decode()  # the usual page
        assert not Inquiry.objects.exists()
        assert Customer.objects.count() == customers_before
        assert "honeypot" in logs.output[0]
        assert "192.0.2.66" in logs.output[0]


class RateLimitTests(PublicFormTestCase):
    def test_the_sixth_submission_from_one_address_in_the_window_is_refused(self) -> None:
        with time_machine.travel(WINDOW_START + dt.timedelta(minutes=1), tick=False):
            for n in range(5):
                ok = self.post(ip="203.0.113.5", subject=f"第{n + 1}个问题")
                assert ok.status_code == 200, n
            with self.assertLogs("inquiries.public_views", "WARNING"):
                refused = self.post(ip="203.0.113.5", subject="第6个问题")
            other = self.post(ip="203.0.113.99", subject="另一个人的问题")

        assert refused.status_code == 429
        page = refused.content.decode()
        assert "您所在网络提交的问题过多" in page
        assert "请在 09:10 之后（约 9 分钟后）再试" in page
        assert refused["Retry-After"] == "540"
        assert other.status_code == 200
        assert Inquiry.objects.count() == 6
        assert not Inquiry.objects.filter(subject="第6个问题").exists()

    def test_the_address_may_send_again_in_the_next_window(self) -> None:
        with time_machine.travel(WINDOW_START, tick=False):
            for n in range(6):
                self.post(ip="203.0.113.5", subject=f"问题{n}")
        with time_machine.travel(WINDOW_START + dt.timedelta(minutes=10), tick=False):
            again = self.post(ip="203.0.113.5", subject="十分钟后的问题")

        assert again.status_code == 200
        assert Inquiry.objects.count() == 6

    @override_settings(INQUIRY_FORM_RATE="2/60")
    def test_the_rate_comes_from_the_settings(self) -> None:
        with time_machine.travel(WINDOW_START, tick=False):
            statuses = [self.post(subject=f"问题{n}").status_code for n in range(3)]

        assert statuses == [200, 200, 429]

    def test_refused_and_invalid_attempts_count_too(self) -> None:
        with time_machine.travel(WINDOW_START, tick=False):
            for _n in range(5):
                self.post(email="not-an-address")
            response = self.post()

        assert response.status_code == 429
        assert not Inquiry.objects.exists()

    def test_a_malformed_rate_is_a_configuration_error(self) -> None:
        for bad in ("5", "0/60", "5/0", "five/600", "5/-1"):
            with pytest.raises(ImproperlyConfigured):
                Rate.parse(bad)
        assert Rate.parse(" 5/600 ") == Rate(limit=5, window=600)

    def test_the_limiter_counts_each_key_separately(self) -> None:
        with time_machine.travel(WINDOW_START, tick=False):
            hits = [rate_limit_hit(scope="t", key="a", rate="2/60").allowed for _n in range(3)]
            other = rate_limit_hit(scope="t", key="b", rate="2/60")

        assert hits == [True, True, False]
        assert other.allowed and other.count == 1


class HostileInputTests(PublicFormTestCase):
    def test_script_tags_are_stored_as_text_and_shown_escaped(self) -> None:
        response = self.post(name=HOSTILE, subject=HOSTILE, question=f"{HOSTILE}\n车位价格？")

        assert response.status_code == 200
        inquiry = Inquiry.objects.get()
        assert inquiry.author_name == HOSTILE
        assert inquiry.subject == HOSTILE
        assert inquiry.body == f"{HOSTILE}\n车位价格？"
        page = response.content.decode()
        assert HOSTILE not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_script_tags_from_the_form_are_shown_escaped_on_the_desk_too(self) -> None:
        self.post(name=HOSTILE, subject=HOSTILE, question=HOSTILE)
        inquiry = Inquiry.objects.get()

        response = self.client_as("supervisor").get(f"/inquiries/{inquiry.pk}/")

        assert response.status_code == 200
        page = response.content.decode()
        assert HOSTILE not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_a_ten_thousand_character_subject_is_refused_with_a_chinese_error(self) -> None:
        response = self.post(subject="长" * 10_000)

        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == ["subject"]
        assert "200" in errors["subject"][0] and "10000" in errors["subject"][0]
        assert "确保" in errors["subject"][0]  # Django's message, in Chinese
        assert not Inquiry.objects.exists()

    def test_a_ten_thousand_character_question_is_kept_whole(self) -> None:
        body = "问" * 10_000

        self.post(question=body)

        assert Inquiry.objects.get().body == body

    def test_a_bad_e_mail_and_mobile_are_named_in_chinese(self) -> None:
        response = self.post(email="wangfang at example", mobile="12345")

        errors = response.context["form"].errors
        assert errors["email"] == ["请填写有效的电子邮箱地址，例如 name@example.com。"]
        assert errors["mobile"] == ["请填写 11 位中国大陆手机号码，例如 13800138000。"]
        page = response.content.decode()
        assert "请修改标红的内容后再提交。" in page
        for name in ("email", "mobile"):
            assert re.search(rf'<input [^>]*name="{name}"[^>]*class="[^"]*is-invalid', page), name
        assert not Inquiry.objects.exists()

    def test_consent_is_required(self) -> None:
        data = self.question()
        del data["consent"]

        response = Client().post("/inquiries/ask/", data)

        assert response.context["form"].errors["consent"] == [
            "请勾选此项，同意我们使用您的联系方式答复您。"
        ]
        assert not Inquiry.objects.exists()

    def test_a_question_about_an_inactive_project_is_refused(self) -> None:
        response = self.post(project=str(self.closed_project.pk))

        assert response.context["form"].errors["project"] == ["请从列出的项目中选择。"]
        assert not Inquiry.objects.exists()


class AttachmentTests(PublicFormTestCase):
    def media_files(self) -> int:
        return sum(len(names) for _dir, _subdirs, names in os.walk(settings.MEDIA_ROOT))

    def test_a_program_renamed_pdf_is_refused_and_nothing_is_saved(self) -> None:
        customers_before = Customer.objects.count()
        files_before = self.media_files()

        response = self.post(attachment=SimpleUploadedFile("报价单.pdf", EXE))

        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == ["attachment"]
        assert errors["attachment"] == ["“报价单.pdf”是程序、脚本或网页，不允许上传。"]
        page = response.content.decode()
        assert "报价单.pdf" in page  # the error names the file…
        assert "请重新选择附件" in page  # …and says to choose one again
        assert not Inquiry.objects.exists()
        assert not Document.objects.exists()
        assert Customer.objects.count() == customers_before
        assert self.media_files() == files_before

    def test_an_exe_is_refused_by_its_type(self) -> None:
        response = self.post(attachment=SimpleUploadedFile("setup.exe", EXE))

        (error,) = response.context["form"].errors["attachment"]
        assert error.startswith("“setup.exe”不是允许的文件类型。")
        assert not Inquiry.objects.exists()

    def test_a_pdf_is_kept_with_the_inquiry_as_a_customer_document(self) -> None:
        response = self.post(attachment=SimpleUploadedFile("户型图.pdf", PDF))

        assert response.status_code == 200
        inquiry = Inquiry.objects.get()
        attachment = InquiryAttachment.objects.get(inquiry=inquiry)
        assert attachment.document.customer == inquiry.customer
        assert attachment.message is not None and attachment.message.kind == MessageKind.QUESTION
        assert attachment.document.current.original_name == "户型图.pdf"


class EmbedTests(PublicFormTestCase):
    def test_the_embed_page_may_be_framed_while_the_rest_of_the_site_may_not(self) -> None:
        embed = Client().get("/inquiries/ask/lvcheng/embed/")
        form = Client().get("/inquiries/ask/lvcheng/")

        assert embed.status_code == 200
        assert "X-Frame-Options" not in embed
        assert form["X-Frame-Options"] == "DENY"
        page = embed.content.decode()
        assert 'id="rw-brand"' not in page  # no page chrome inside the frame
        assert 'action="/inquiries/ask/lvcheng/embed/"' in page
        assert 'href="/inquiries/ask/lvcheng/" target="_blank"' in page

    def test_the_embedded_form_works_with_csrf_checks_on(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.get("/inquiries/ask/lvcheng/embed/")
        token = client.cookies[settings.CSRF_COOKIE_NAME].value
        data = self.question(csrfmiddlewaretoken=token)
        del data["project"]

        sent = client.post("/inquiries/ask/lvcheng/embed/", data)

        assert sent.status_code == 200
        assert "X-Frame-Options" not in sent  # the thank-you page shows inside the frame too
        assert Inquiry.objects.get().project == self.project

    def test_without_the_csrf_cookie_the_frame_explains_and_links_to_the_full_form(self) -> None:
        # What a browser does with the form framed on another site: the cookie is not kept.
        data = self.question(csrfmiddlewaretoken="x" * 32, subject="物业费标准")
        del data["project"]

        with self.assertLogs("django.security.csrf", "WARNING"):
            refused = Client(enforce_csrf_checks=True).post("/inquiries/ask/lvcheng/embed/", data)

        assert refused.status_code == 403
        assert "X-Frame-Options" not in refused  # shown inside the frame, not a browser error
        page = refused.content.decode()
        assert "问题未提交" in page
        assert 'href="/inquiries/ask/lvcheng/" target="_blank"' in page
        assert 'value="物业费标准"' in page  # what was typed, to copy
        assert not Inquiry.objects.exists()

    def test_a_refused_security_check_on_the_full_page_keeps_what_was_typed(self) -> None:
        data = self.question(subject="物业费标准")

        with self.assertLogs("django.security.csrf", "WARNING"):
            refused = Client(enforce_csrf_checks=True).post("/inquiries/ask/", data)

        assert refused.status_code == 403
        assert refused["X-Frame-Options"] == "DENY"
        page = refused.content.decode()
        assert "请确认允许本网站使用 Cookie" in page
        assert 'value="物业费标准"' in page
        assert 'name="csrfmiddlewaretoken"' in page  # a fresh token: sending again works
        assert not Inquiry.objects.exists()

    def test_an_unknown_project_s_embed_is_not_found(self) -> None:
        response = Client().get("/inquiries/ask/nowhere/embed/")

        assert response.status_code == 404
        assert "X-Frame-Options" not in response


class PublicLinksTests(PublicFormTestCase):
    def test_only_those_who_configure_projects_see_the_links_page(self) -> None:
        self.assert_access("/inquiries/public-links/", allowed=["supervisor"])

    def test_each_active_project_has_its_form_link_iframe_snippet_and_notices_link(self) -> None:
        Project.objects.create(code="riverside", name='江景"苑"', public_notices=False)

        response = self.client_as("supervisor").get("/inquiries/public-links/")

        page = response.content.decode()
        assert 'value="http://testserver/inquiries/ask/lvcheng/"' in page
        assert 'value="http://testserver/inquiries/notices/lvcheng/"' in page
        # The snippet is shown as text; quotes in a project name are escaped inside it.
        assert (
            "&lt;iframe src=&quot;http://testserver/inquiries/ask/riverside/embed/&quot; "
            "title=&quot;江景&amp;quot;苑&amp;quot;&quot;" in page
        )
        assert "该项目的通知页面已关闭。" in page
        assert "老城旧盘" not in page
        assert 'value="http://testserver/inquiries/ask/"' in page


# --- in a browser ------------------------------------------------------------------------------


def _browser_project() -> Project:
    regions = make_regions()
    inquiry_defaults_ensure()
    desk = desk_settings()
    desk.default_region = regions["360102"]
    desk.save()
    return Project.objects.create(code="lvcheng", name="绿城花园", region=regions["360103"])


def _fill(frame: Any) -> None:
    frame.fill("#id_name", "王芳")
    frame.fill("#id_email", "wangfang@example.com")
    frame.fill("#id_mobile", "139 1234 5678")
    frame.select_option("#id_topic", Topic.PROPERTY)
    frame.fill("#id_subject", "物业费标准")
    frame.fill("#id_question", "请问交房后的物业费是多少？")
    frame.check("#id_consent")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_customer_asks_on_a_360_px_phone(browser: Any, live_server: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="ruwang-inquiries-")
    _browser_project()
    tab = browser.new_page(viewport={"width": 360, "height": 740})
    try:
        tab.goto(f"{live_server.url}/inquiries/ask/lvcheng/")
        # Fits the screen; every control is at least 44 px high (a thumb's width).
        assert tab.evaluate("document.documentElement.scrollWidth") <= 360
        for selector in ("#id_name", "#id_email", "#id_topic", "#id_consent + label"):
            box = tab.locator(selector).bounding_box()
            assert box is not None and box["height"] >= 24, (selector, box)
        for selector in ("#id_name", "#id_email", "#id_topic", "#rw-ask-submit"):
            box = tab.locator(selector).bounding_box()
            assert box is not None and box["height"] >= 44, (selector, box)
        honeypot = tab.locator("#id_website").bounding_box()
        assert honeypot is not None and honeypot["x"] + honeypot["width"] <= 0  # off-screen

        _fill(tab)
        tab.fill("#id_email", "wangfang")
        tab.click("#rw-ask-submit")
        tab.wait_for_selector("#rw-ask-errors")
        assert "例如 name@example.com" in tab.inner_text("#email-error")
        assert tab.input_value("#id_subject") == "物业费标准"  # what was typed is kept

        tab.fill("#id_email", "wangfang@example.com")
        tab.check("#id_consent")
        tab.click("#rw-ask-submit")
        tab.wait_for_selector("#rw-thanks-number")
        inquiry = Inquiry.objects.get()
        assert tab.inner_text("#rw-thanks-number") == inquiry.number
        assert inquiry.topic == Topic.PROPERTY and inquiry.author_phone == "13912345678"
        assert tab.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        tab.context.close()


@contextlib.contextmanager
def _company_page(host: str, iframe_src: str) -> Iterator[str]:
    """The company's own web page embedding the form, served on `host` from another port."""
    body = (
        "<!doctype html><meta charset=utf-8><h1>公司新闻</h1>"
        f'<iframe src="{iframe_src}" style="width:100%;height:1100px;border:0"></iframe>'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/news.html"
    finally:
        server.shutdown()
        server.server_close()


def _ask_in_frame(tab: Any) -> Any:
    frame = tab.frame_locator("iframe")
    frame.locator("#rw-ask-form").wait_for()
    for selector, value in (
        ("#id_name", "王芳"),
        ("#id_email", "wangfang@example.com"),
        ("#id_subject", "物业费标准"),
        ("#id_question", "请问交房后的物业费是多少？"),
    ):
        frame.locator(selector).fill(value)
    frame.locator("#id_consent").check()
    frame.locator("#rw-ask-submit").click()
    return frame


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_form_works_inside_an_iframe_of_a_page_on_the_same_site(
    browser: Any, live_server: Any
) -> None:
    _browser_project()
    host = live_server.url.split("://", 1)[1].split(":")[0]
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    # Same host, another port: the same site, so the frame's CSRF cookie is kept and sent.
    with _company_page(host, f"{live_server.url}/inquiries/ask/lvcheng/embed/") as outer:
        try:
            tab.goto(outer)
            frame = _ask_in_frame(tab)
            frame.locator("#rw-thanks-number").wait_for()
            assert frame.locator("#rw-thanks-number").inner_text() == Inquiry.objects.get().number
        finally:
            tab.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_frame_whose_cookie_was_refused_offers_the_form_in_a_new_window(
    browser: Any, live_server: Any
) -> None:
    _browser_project()
    # 127.0.0.1 and localhost are different sites: the frame's CSRF cookie is refused, as on
    # the company's site under another domain.
    host = live_server.url.split("://", 1)[1].split(":")[0]
    outer_host = "127.0.0.1" if host == "localhost" else "localhost"
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    with _company_page(outer_host, f"{live_server.url}/inquiries/ask/lvcheng/embed/") as outer:
        try:
            tab.goto(outer)
            tab.context.clear_cookies()  # whatever the browser's policy, no cookie is sent
            frame = _ask_in_frame(tab)
            frame.locator("#rw-ask-csrf").wait_for()
            link = frame.locator("#rw-ask-open-full")
            assert link.get_attribute("target") == "_blank"
            assert frame.locator("#id_subject").input_value() == "物业费标准"
            assert not Inquiry.objects.exists()
        finally:
            tab.context.close()
