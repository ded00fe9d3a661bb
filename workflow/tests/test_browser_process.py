"""Process journeys in a real browser: edit a definition in the bpmn-js modeler, publish it,
start a case from the customer profile and see its progress diagram; claim from the inbox."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from customers.tests.factories import make_customer
from ruwang.testing import make_regions, make_user
from ruwang.tests.test_browser_journeys import _sign_in
from workflow import services
from workflow.models import DefinitionVersion, VersionStatus
from workflow.tests.test_cases import publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_process_administrator_edits_publishes_and_a_case_shows_its_progress(
    page,
    live_server,
):
    admin = make_user("lichen", "operations_director", display_name="李晨")
    admin.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="workflow",
            codename__in=[
                "view_processdefinition",
                "change_processdefinition",
                "publish_processdefinition",
            ],
        )
    )
    published = DefinitionVersion.objects.get(
        definition__key="tobacco-retailer-onboarding", status=VersionStatus.PUBLISHED
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _sign_in(page, live_server.url, "lichen")
    page.wait_for_selector("#rw-my-work")
    page.goto(f"{live_server.url}/work/processes/versions/{published.pk}/")
    page.wait_for_selector("#case-diagram .djs-element")
    page.click("#rw-copy-version")
    page.wait_for_selector("#bpmn-canvas [data-element-id=Activity_Verify]")
    page.click("#bpmn-canvas [data-element-id=Activity_Verify]")
    sla = page.locator("#bpmn-props [data-rw-field=sla]")
    sla.fill("5 workdays")
    sla.press("Enter")
    page.click("button[value=save]")
    page.wait_for_selector(".alert-success")
    draft = DefinitionVersion.objects.get(
        definition=published.definition, status=VersionStatus.DRAFT
    )
    assert 'ruwang:sla="5 workdays"' in draft.xml
    page.click("button[value=publish]")
    page.wait_for_selector(".alert-success")
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED

    customer = make_customer("浏览器零售户", make_regions()["360102"], kind="retailer")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.select_option("#rw-start-version", str(draft.pk))
    page.click("#rw-cases button[type=submit]")
    page.wait_for_selector("#case-diagram .djs-element")
    page.wait_for_selector("#case-diagram .rw-completed")
    assert page.locator("#case-diagram .rw-active").count() >= 1
    assert errors == []


def test_a_market_staff_member_claims_a_pool_task_from_the_inbox(page, live_server):
    user = make_user("zhaoli", "market_staff", display_name="赵丽")
    customer = make_customer("认领测试客户", make_regions()["360102"], owner=user)
    case = services.case_start(actor=None, customer=customer, version=publish())
    task = case.tasks.get()
    _sign_in(page, live_server.url, "zhaoli")
    page.wait_for_selector("#rw-main")
    page.goto(f"{live_server.url}/work/tasks/?view=pool")
    page.click(f"button[formaction='/work/tasks/{task.pk}/claim/']")  # the page's one form
    page.wait_for_url(f"**/work/tasks/{task.pk}/")
    assert page.locator(".alert-success").count() == 1
    task.refresh_from_db()
    assert task.assignee_id == user.pk
