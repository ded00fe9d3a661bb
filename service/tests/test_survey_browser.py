"""A customer answers a satisfaction survey on a phone, from the e-mailed link, without an
account: the page fits the screen, the stars and scores are big enough to tap, a missing score
is explained in Chinese, and the answer ends on the thank-you page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.tests.factories import make_customer
from ruwang.testing import make_regions, make_user
from service.models import Survey, TicketKind, TicketStatus
from service.tickets import ticket_create, ticket_set_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def resolved_ticket_survey() -> Survey:
    regions = make_regions()
    customer = make_customer(
        "甲方大厦",
        regions["360102"],
        contacts=[
            {
                "name": "王经理",
                "role": "contact",
                "email": "wang@jiafang.example",
                "is_primary": True,
            }
        ],
    )
    engineer = make_user("liuyang", "engineer", display_name="刘洋")
    ticket = ticket_create(
        actor=None,
        customer=customer,
        kind=TicketKind.FAULT,
        subject="主机报通讯故障",
        assignee=engineer,
    )
    ticket_set_status(actor=engineer, ticket=ticket, status=TicketStatus.RESOLVED)
    return Survey.objects.get(ticket=ticket)


def test_a_customer_answers_the_survey_on_a_phone(phone_page, live_server):
    page = phone_page
    survey = resolved_ticket_survey()
    page.goto(f"{live_server.url}{reverse('service:survey_answer', args=[survey.token])}")
    page.wait_for_selector("#rw-survey-form")
    assert "满意度调查" in page.inner_text("h1")
    # Fits a 390 px wide screen; every choice is at least 44 px high (a thumb's width).
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for selector in ("label[for=csat-1]", "label[for=nps-0]", "label[for=nps-10]"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 44, (selector, box)

    page.click("label[for=nps-9]")
    page.click("#rw-survey-submit")  # no stars chosen yet
    page.wait_for_selector("#rw-survey-errors")
    assert "请选择满意度" in page.inner_text("#rw-survey-errors")
    assert page.locator("#nps-9").is_checked()  # the score given is kept

    page.click("label[for=csat-4]")
    page.fill("#id_comment", "工程师当天就到了，处理很快")
    page.click("#rw-survey-submit")
    page.wait_for_selector("#rw-survey-thanks")
    assert "感谢您的评价" in page.inner_text("#rw-survey-thanks")

    survey.refresh_from_db()
    assert (survey.csat, survey.nps) == (4, 9)
    assert survey.comment == "工程师当天就到了，处理很快"

    page.reload()  # the link works once: coming back shows the thanks, not the form
    page.wait_for_selector("#rw-survey-thanks")
    assert page.locator("#rw-survey-form").count() == 0
