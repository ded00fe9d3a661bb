"""Each project's public notices page (no sign-in): only its public, sent notices, newest first,
escaped; attachments downloadable only from there."""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.test import Client, override_settings

from inquiries.models import Notice, NoticeAttachment, NoticeStatus, Project
from ruwang.testing import PersonaTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
SENT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


def make_notice(project: Project | None, title: str, **fields: Any) -> Notice:
    values: dict[str, Any] = {
        "body": f"{title}的内容",
        "is_public": True,
        "status": NoticeStatus.SENT,
        "sent_at": SENT,
    }
    values.update(fields)
    return Notice.objects.create(project=project, title=title, **values)


def attach(notice: Notice, name: str, content: bytes) -> NoticeAttachment:
    attachment = NoticeAttachment(
        notice=notice, name=name, content_type="application/pdf", size=len(content), sha256="0"
    )
    attachment.file.save("notice.pdf", ContentFile(content), save=False)
    attachment.save()
    return attachment


class PublicNoticesTestCase(PersonaTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._media = override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-notices-"))
        cls._media.enable()

    @classmethod
    def tearDownClass(cls) -> None:
        cls._media.disable()
        super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.project = Project.objects.create(code="lvcheng", name="绿城花园")
        cls.other = Project.objects.create(code="riverside", name="江景苑")
        cls.quiet = Project.objects.create(code="quiet", name="静园", public_notices=False)
        cls.closed = Project.objects.create(code="old-town", name="老城旧盘", is_active=False)


class NoticeListTests(PublicNoticesTestCase):
    def test_only_the_project_s_public_sent_notices_are_listed_newest_first(self) -> None:
        make_notice(self.project, "交房通知", sent_at=SENT - dt.timedelta(days=3))
        make_notice(self.project, "办证通知")
        make_notice(self.project, "草稿通知", status=NoticeStatus.DRAFT, sent_at=None)
        make_notice(self.project, "定时通知", status=NoticeStatus.SCHEDULED, sent_at=None)
        make_notice(self.project, "内部通知", is_public=False)
        make_notice(self.other, "别的项目的通知")
        make_notice(None, "不属于项目的通知")

        response = Client().get("/inquiries/notices/lvcheng/")

        assert response.status_code == 200
        titles = [n.title for n in response.context["page"].object_list]
        assert titles == ["办证通知", "交房通知"]
        page = response.content.decode()
        for hidden in ("草稿通知", "定时通知", "内部通知", "别的项目的通知", "不属于项目的通知"):
            assert hidden not in page
        assert 'id="rw-sidebar"' not in page  # the public layout, not the staff one

    def test_the_list_is_paginated(self) -> None:
        for n in range(12):
            make_notice(self.project, f"通知{n:02d}", sent_at=SENT + dt.timedelta(hours=n))

        first = Client().get("/inquiries/notices/lvcheng/")
        second = Client().get("/inquiries/notices/lvcheng/?page=2")

        titles = [n.title for n in first.context["page"].object_list]
        assert (len(titles), titles[0], titles[-1]) == (10, "通知11", "通知02")
        assert [n.title for n in second.context["page"].object_list] == ["通知01", "通知00"]
        assert "第 1 页，共 2 页" in first.content.decode()

    def test_the_list_costs_the_same_queries_however_many_notices_have_files(self) -> None:
        for n in range(5):
            attach(make_notice(self.project, f"通知{n}"), f"附件{n}.pdf", b"%PDF-1.4\n")
        client = Client()

        # project, desk signature, count, the page of notices, their attachments
        with self.assertNumQueries(5):
            response = client.get("/inquiries/notices/lvcheng/")

        assert "1 个附件" in response.content.decode()

    def test_an_empty_list_says_so(self) -> None:
        response = Client().get("/inquiries/notices/lvcheng/")

        assert "暂无通知。" in response.content.decode()

    def test_unknown_inactive_or_switched_off_projects_have_no_notices_page(self) -> None:
        make_notice(self.quiet, "静园通知")
        make_notice(self.closed, "旧盘通知")

        for code in ("nowhere", "quiet", "old-town"):
            response = Client().get(f"/inquiries/notices/{code}/")
            assert response.status_code == 404, code
            assert "页面不存在" in response.content.decode()


class NoticePageTests(PublicNoticesTestCase):
    def test_the_body_is_escaped_with_its_line_breaks_kept(self) -> None:
        notice = make_notice(
            self.project,
            "<b>停水</b>通知",
            body="<script>alert(1)</script>\n3月5日 9:00–12:00 停水",
        )

        response = Client().get(f"/inquiries/notices/lvcheng/{notice.pk}/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>3月5日 9:00–12:00 停水" in page
        assert "&lt;b&gt;停水&lt;/b&gt;通知" in page
        assert "<b>停水</b>" not in page

    def test_the_list_escapes_titles_and_bodies_too(self) -> None:
        make_notice(self.project, "<img src=x onerror=alert(1)>", body="<i>正文</i>")

        page = Client().get("/inquiries/notices/lvcheng/").content.decode()

        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<i>正文</i>" not in page

    def test_a_notice_is_shown_only_on_its_own_project_s_page_when_public_and_sent(self) -> None:
        shown = make_notice(self.project, "办证通知")
        hidden = {
            "draft": make_notice(self.project, "草稿", status=NoticeStatus.DRAFT),
            "internal": make_notice(self.project, "内部", is_public=False),
            "cancelled": make_notice(self.project, "取消", status=NoticeStatus.CANCELLED),
        }

        assert Client().get(f"/inquiries/notices/lvcheng/{shown.pk}/").status_code == 200
        assert Client().get(f"/inquiries/notices/riverside/{shown.pk}/").status_code == 404
        for why, notice in hidden.items():
            response = Client().get(f"/inquiries/notices/lvcheng/{notice.pk}/")
            assert response.status_code == 404, why


class NoticeFileTests(PublicNoticesTestCase):
    def test_an_attachment_downloads_as_a_file(self) -> None:
        notice = make_notice(self.project, "办证通知")
        attachment = attach(notice, "办证须知.pdf", b"%PDF-1.4\nnotice\n")

        page = Client().get(f"/inquiries/notices/lvcheng/{notice.pk}/").content.decode()
        url = f"/inquiries/notices/lvcheng/{notice.pk}/files/{attachment.pk}/"
        response = Client().get(url)

        assert f'href="{url}"' in page
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert (
            "filename*=utf-8''%E5%8A%9E%E8%AF%81%E9%A1%BB%E7%9F%A5.pdf"
            in (response["Content-Disposition"])
        )
        assert response["Content-Type"] == "application/pdf"
        assert b"".join(response.streaming_content) == b"%PDF-1.4\nnotice\n"

    def test_files_of_notices_not_shown_publicly_cannot_be_downloaded(self) -> None:
        internal = make_notice(self.project, "内部", is_public=False)
        draft = make_notice(self.project, "草稿", status=NoticeStatus.DRAFT, sent_at=None)
        elsewhere = make_notice(self.other, "江景苑通知")
        public = make_notice(self.project, "公开通知")
        urls = [
            f"/inquiries/notices/lvcheng/{n.pk}/files/{attach(n, 'a.pdf', b'%PDF-').pk}/"
            for n in (internal, draft)
        ]
        other_file = attach(elsewhere, "b.pdf", b"%PDF-")
        # Another project's file through this project's address, or through a wrong notice.
        urls.append(f"/inquiries/notices/lvcheng/{elsewhere.pk}/files/{other_file.pk}/")
        urls.append(f"/inquiries/notices/lvcheng/{public.pk}/files/{other_file.pk}/")

        for url in urls:
            assert Client().get(url).status_code == 404, url
