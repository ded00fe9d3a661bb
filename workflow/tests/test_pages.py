"""The inbox, task, case, definition and notification pages: who may, who may not."""

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from workflow import services
from workflow.models import CaseStatus, DefinitionVersion, Notification, TaskStatus, VersionStatus
from workflow.tests.test_cases import publish

BPMN = Path(__file__).parent / "bpmn"
WORKERS = {
    "market",
    "market_manager",
    "director",
    "engineer",
    "technical",
    "procurement",
    "monitoring",
    "account_manager",
    "agent",
    "supervisor",
    "sysadmin",
}


class PagesTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.version = publish()
        cls.customer = make_customer("页面客户", cls.regions["360102"], owner=cls.users["market"])
        cls.case = services.case_start(actor=None, customer=cls.customer, version=cls.version)
        cls.task = cls.case.tasks.get()

    def test_who_may_open_the_inbox_and_the_case_list(self):
        self.assert_access("/work/tasks/", allowed=WORKERS)
        self.assert_access("/work/cases/", allowed=WORKERS)

    def test_who_may_open_a_task_and_its_case(self):
        # an account manager sees only own/territory customers: 404 for the others
        visible = WORKERS - {"account_manager"}
        hidden = {"account_manager"}
        # An open step: its role and the managers who may hand it over; the other people who
        # see the customer follow it on the case page.
        assert self.task.role == "market_staff"
        step = {"market", "market_manager", "director", "supervisor"}
        self.assert_access(f"/work/tasks/{self.task.pk}/", allowed=step, not_found=hidden)
        self.assert_access(f"/work/cases/{self.case.pk}/", allowed=visible, not_found=hidden)
        # once done, the step is part of the case's history for everyone who sees the case
        services.task_complete(actor=self.users["market"], task=self.task, data={})
        self.assert_access(f"/work/tasks/{self.task.pk}/", allowed=visible, not_found=hidden)

    def test_a_task_follows_its_customer_when_the_owner_changes_or_it_is_merged(self):
        from customers import services as customer_services

        url = f"/work/tasks/{self.task.pk}/"
        assert self.client_as("account_manager").get(url).status_code == 404
        customer_services.customer_update(
            actor=None, customer=self.customer, data={"owner": self.users["account_manager"]}
        )
        # seen now, but the open step is not theirs to open
        assert self.client_as("account_manager").get(url).status_code == 403
        survivor = make_customer("合并后客户", self.regions["360102"], owner=self.users["market"])
        customer_services.customer_merge(actor=None, survivor=survivor, duplicate=self.customer)
        assert self.client_as("account_manager").get(url).status_code == 404
        assert self.client_as("market").get(url).status_code == 200

    def test_the_pool_shows_unclaimed_tasks_of_my_roles_and_claiming_moves_them_to_mine(self):
        client = self.client_as("market")
        pool = client.get("/work/tasks/", {"view": "pool"})
        assert [t.pk for t in pool.context["tasks"]] == [self.task.pk]
        html = pool.content.decode()
        # every row's button submits the page's one claim form (it carries the CSRF token)
        assert f'form="rw-claim-form" formaction="/work/tasks/{self.task.pk}/claim/"' in html
        assert (
            '<form id="rw-claim-form" method="post"><input type="hidden" name="csrfmiddlewaretoken"'
            in html
        )
        assert client.get("/work/tasks/").context["tasks"] == []
        client.post(f"/work/tasks/{self.task.pk}/claim/")
        assert [t.pk for t in client.get("/work/tasks/").context["tasks"]] == [self.task.pk]
        other_pool = self.client_as("engineer").get("/work/tasks/", {"view": "pool"})
        assert other_pool.context["tasks"] == []

    def test_completing_through_the_page_opens_the_next_task(self):
        client = self.client_as("market")
        response = client.post(f"/work/tasks/{self.task.pk}/", {"note": "完成"})
        assert response.status_code == 302
        self.task.refresh_from_db()
        assert self.task.status == TaskStatus.COMPLETED
        review = self.case.tasks.get(node_id="Review")
        page = self.client_as("director").get(f"/work/tasks/{review.pk}/")
        assert page.context["may_work"] is False  # the director is not in the manager's role
        manager = self.client_as("market_manager")
        self.customer.owner = self.users["market_manager"]
        self.customer.save()
        refused = manager.post(f"/work/tasks/{review.pk}/", {"decision": "reject", "reason": ""})
        assert "reason" in refused.context["form"].errors
        manager.post(f"/work/tasks/{review.pk}/", {"decision": "approve"})
        self.case.refresh_from_db()
        assert self.case.status == CaseStatus.COMPLETED

    def test_search_finds_tasks_by_customer_name_and_case_number(self):
        client = self.client_as("market")
        for q in ("页面", self.case.number):
            tasks = client.get("/work/tasks/", {"view": "pool", "q": q}).context["tasks"]
            assert [t.pk for t in tasks] == [self.task.pk], q
        assert client.get("/work/tasks/", {"view": "pool", "q": "别的"}).context["tasks"] == []

    def test_the_case_page_shows_the_progress_diagram_data(self):
        page = self.client_as("director").get(f"/work/cases/{self.case.pk}/")
        diagram = page.context["diagram"]
        assert diagram["active"] == ["Fill"] and diagram["completed"] == []
        assert "Fill" in diagram["due"]
        assert b'id="case-diagram-data"' in page.content

    def test_only_managers_may_hold_a_case_from_its_page(self):
        url = f"/work/cases/{self.case.pk}/hold/"
        self.client_as("engineer").post(url, {"reason": "x"})
        self.case.refresh_from_db()
        assert self.case.status == CaseStatus.RUNNING
        self.client_as("director").post(url, {"reason": "客户要求暂停"})
        self.case.refresh_from_db()
        assert self.case.status == CaseStatus.ON_HOLD

    def test_the_customer_profile_lists_cases_and_starts_one_with_a_click(self):
        client = self.client_as("market")
        page = client.get(f"/customers/{self.customer.pk}/")
        assert self.case in page.context["cases"]
        response = client.post(
            "/work/cases/start/", {"customer": self.customer.pk, "version": self.version.pk}
        )
        assert response.status_code == 302
        assert self.customer.cases.count() == 2
        refused = self.client_as("netadmin").post(
            "/work/cases/start/", {"customer": self.customer.pk, "version": self.version.pk}
        )
        assert refused.status_code == 403

    def test_notifications_reach_the_bell_and_are_marked_read_when_opened(self):
        Notification.objects.all().delete()
        services.task_claim(actor=self.users["market"], task=self.task)
        services.task_delegate(
            actor=self.users["market"], task=self.task, to=self.users["director"], reason="代办"
        )
        client = self.client_as("director")
        page = client.get("/")
        assert b'id="rw-bell"' in page.content
        note = Notification.objects.get(recipient=self.users["director"])
        assert client.get("/work/notifications/").context["notifications"] == [note]
        assert client.get(f"/work/notifications/{note.pk}/").status_code == 302
        note.refresh_from_db()
        assert note.read_at is not None
        assert self.client_as("market").get(f"/work/notifications/{note.pk}/").status_code == 404


class DefinitionPagesTests(PersonaTestCase):
    def test_only_process_administrators_may_open_the_definitions(self):
        self.assert_access("/work/processes/", allowed={"sysadmin"})

    def test_upload_shows_each_problem_and_publish_is_refused_until_fixed(self):
        broken = (
            (BPMN / "approval_loop.bpmn")
            .read_text()
            .replace('ruwang:handler="customer.activate"', 'ruwang:handler="no.such.handler"')
        )
        client = self.client_as("sysadmin")
        response = client.post(
            "/work/processes/",
            {"file": SimpleUploadedFile("p.bpmn", broken.encode(), "application/xml")},
        )
        version = DefinitionVersion.objects.get(definition__key="test-approval")
        assert response.status_code == 302 and version.status == VersionStatus.DRAFT
        assert [p["element_id"] for p in version.problems] == ["Activate"]
        page = client.post(
            f"/work/processes/versions/{version.pk}/",
            {
                "action": "publish",
                "xml": broken,
            },
        )
        assert page.status_code == 200
        assert "no.such.handler" in page.content.decode()
        version.refresh_from_db()
        assert version.status == VersionStatus.DRAFT
        fixed = broken.replace("no.such.handler", "customer.activate")
        client.post(f"/work/processes/versions/{version.pk}/", {"action": "publish", "xml": fixed})
        version.refresh_from_db()
        assert version.status == VersionStatus.PUBLISHED and version.problems == []

    def test_a_file_that_is_not_bpmn_is_refused_with_a_message(self):
        client = self.client_as("sysadmin")
        response = client.post(
            "/work/processes/", {"file": SimpleUploadedFile("p.bpmn", b"<html>", "text/xml")}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["file"]
        assert not DefinitionVersion.objects.filter(created_by=self.users["sysadmin"]).exists()

    def test_a_published_version_is_shown_read_only_and_copied_to_edit(self):
        version = publish()
        client = self.client_as("sysadmin")
        page = client.get(f"/work/processes/versions/{version.pk}/")
        assert page.context["editable"] is False
        response = client.post(f"/work/processes/versions/{version.pk}/", {"action": "copy"})
        copy = DefinitionVersion.objects.get(definition__key="test-approval", number=2)
        assert response.url == f"/work/processes/versions/{copy.pk}/"
        assert client.get(response.url).context["editable"] is True
        xml = client.get(f"/work/processes/versions/{version.pk}/xml/")
        assert xml["Content-Disposition"].startswith("attachment")
        self.assert_access(f"/work/processes/versions/{version.pk}/", allowed={"sysadmin"})


class InboxPagingTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.version = publish()
        customer = make_customer("批量客户", make_regions()["360102"], owner=cls.users["market"])
        for _ in range(55):
            services.case_start(actor=None, customer=customer, version=cls.version)

    def test_the_inbox_shows_fifty_tasks_a_page_and_caps_the_pool_count(self):
        from workflow import selectors

        client = self.client_as("market")
        first = client.get("/work/tasks/", {"view": "pool"})
        assert len(first.context["tasks"]) == 50
        assert first.context["counts"].pool_label == "55"
        second = client.get(first.context["more_url"])
        assert len(second.context["tasks"]) == 5 and second.context["more_url"] == ""
        seen = {t.pk for t in first.context["tasks"]} | {t.pk for t in second.context["tasks"]}
        assert len(seen) == 55
        original = selectors.POOL_CAP
        selectors.POOL_CAP = 9
        try:
            assert client.get("/work/tasks/").context["counts"].pool_label == "9+"
        finally:
            selectors.POOL_CAP = original

    def test_managers_see_every_open_task_others_only_theirs(self):
        from workflow import selectors
        from workflow.models import Task

        for task in Task.objects.order_by("id")[::3]:  # some claimed, some still in the pool
            services.task_claim(actor=self.users["market"], task=task)
        all_tasks = self.client_as("market_manager").get("/work/tasks/", {"view": "all"})
        assert len(all_tasks.context["tasks"]) == 50
        everything = list(
            selectors.inbox(self.users["market_manager"], selectors.InboxFilters(view="all"))
        )
        assert [t.pk for t in all_tasks.context["tasks"]] == [t.pk for t in everything[:50]]
        assert all_tasks.context["filters"].view == "all"
        refused = self.client_as("market").get("/work/tasks/", {"view": "all"})
        assert refused.context["filters"].view == "mine"


class RequiredAttachmentTests(PersonaTestCase):
    def test_a_missing_attachment_is_uploaded_from_the_task_and_leads_back_to_it(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        xml = (
            (BPMN / "approval_loop.bpmn")
            .read_text()
            .replace('ruwang:formKey="done"', 'ruwang:formKey="done" ruwang:attachments="contract"')
        )
        version = services.version_publish(
            actor=None, version=services.definition_upload(actor=None, xml=xml)
        )
        customer = make_customer("附件客户", make_regions()["360102"], owner=self.users["market"])
        task = services.case_start(actor=None, customer=customer, version=version).tasks.get()
        client = self.client_as("market")
        page = client.get(f"/work/tasks/{task.pk}/")
        assert page.context["missing_kinds"] == ["contract"]
        refused = client.post(f"/work/tasks/{task.pk}/", {"note": "x"}, follow=True)
        task.refresh_from_db()
        assert task.is_open and "rw-missing" in refused.content.decode()
        link = f"/customers/{customer.pk}/documents/new/?kind=contract&next=/work/tasks/{task.pk}/"
        assert link.replace("&", "&amp;") in page.content.decode()
        form = client.get(link)
        assert form.context["form"].initial["kind"] == "contract"
        pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        uploaded = client.post(
            link,
            {
                "kind": "contract",
                "title": "入网合同",
                "next": f"/work/tasks/{task.pk}/",
                "file": SimpleUploadedFile("c.pdf", pdf, "application/pdf"),
            },
        )
        assert uploaded.url == f"/work/tasks/{task.pk}/"
        client.post(f"/work/tasks/{task.pk}/", {"note": "合同已上传"})
        task.refresh_from_db()
        assert not task.is_open

    def test_an_outside_address_is_not_followed_after_an_upload(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        customer = make_customer("外链客户", make_regions()["360102"], owner=self.users["market"])
        pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        response = self.client_as("market").post(
            f"/customers/{customer.pk}/documents/new/",
            {
                "kind": "contract",
                "title": "合同",
                "next": "https://evil.example/",
                "file": SimpleUploadedFile("c.pdf", pdf, "application/pdf"),
            },
        )
        assert response.url == f"/customers/{customer.pk}/"


class HandOverFormTests(PersonaTestCase):
    def test_only_people_who_see_the_customer_are_offered_as_the_new_holder(self):
        from ruwang.testing import make_user

        customer = make_customer("转办客户", make_regions()["360102"], owner=self.users["market"])
        task = services.case_start(actor=None, customer=customer, version=publish()).tasks.get()
        services.task_claim(actor=self.users["market"], task=task)
        stranger = make_user("far_away", "account_manager")
        page = self.client_as("market").get(f"/work/tasks/{task.pk}/")
        offered = set(page.context["delegate_form"].fields["to"].queryset)
        assert self.users["director"] in offered  # sees every customer
        assert stranger not in offered and self.users["market"] not in offered


class CaseListPagingTests(PersonaTestCase):
    def test_the_case_list_pages_newest_first_without_gaps(self):
        customer = make_customer("多单客户", make_regions()["360102"], owner=self.users["market"])
        version = publish()
        made = [
            services.case_start(actor=None, customer=customer, version=version).pk
            for _ in range(53)
        ]
        client = self.client_as("market")
        first = client.get("/work/cases/")
        second = client.get(first.context["more_url"])
        seen = [c.pk for c in first.context["cases"]] + [c.pk for c in second.context["cases"]]
        assert seen == made[::-1] and second.context["more_url"] == ""
