"""Creating and editing customers, contacts, consent, ID numbers, sites, floors and documents."""

import tempfile
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audit.models import AuditEntry
from customers import services
from customers.models import Contact, Customer, CustomerStatus, Document
from customers.tests.factories import make_contact, make_customer
from ruwang.lib.validators import make_credit_code, make_id_number
from ruwang.testing import PersonaTestCase, make_regions

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class CustomerFormTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()

    def _post(self, persona: str, **data):
        payload = {
            "kind": "organisation",
            "name": "南昌市红谷滩商场",
            "category": "key_unit",
            "region": self.regions["360102"].pk,
            "source_channel": "visit",
            **data,
        }
        return self.client_as(persona).post("/customers/new/", payload)

    def test_market_staff_creates_a_customer_with_tags(self):
        response = self._post(
            "market", tags="商场，高层", credit_code=make_credit_code("91360100MA35F0QX3")
        )
        assert response.status_code == 302
        customer = Customer.objects.get(name="南昌市红谷滩商场")
        assert customer.status == CustomerStatus.PROSPECT
        assert sorted(t.name for t in customer.tags.all()) == ["商场", "高层"]
        assert customer.created_by == self.users["market"]
        assert (
            AuditEntry.objects.filter(action="customer.create", object_id=str(customer.pk)).count()
            == 1
        )

    def test_bad_credit_code_is_explained_next_to_the_field(self):
        response = self._post("market", credit_code="91360100MA35F0QX3A")
        assert response.status_code == 200
        assert "credit_code" in response.context["form"].errors
        assert not Customer.objects.exists()

    def test_duplicate_credit_code_is_refused(self):
        code = make_credit_code("91360100MA35F0QX3")
        make_customer("已有客户", self.regions["360102"], credit_code=code)
        response = self._post("market", credit_code=code)
        errors = response.context["form"].errors
        assert "已有客户" in str(errors.get("credit_code")), errors

    def test_a_city_is_not_accepted_as_the_district(self):
        response = self._post("market", region=self.regions["360100"].pk)
        assert response.status_code == 200
        assert Customer.objects.count() == 0

    def test_edit_form_offers_districts_grouped_by_city_with_the_current_one_selected(self):
        customer = make_customer("分组客户", self.regions["360102"], owner=self.users["market"])
        response = self.client_as("market").get(f"/customers/{customer.pk}/edit/")
        html = response.content.decode()
        assert response.status_code == 200
        assert '<optgroup label="江西省南昌市">' in html
        assert f'<option value="{self.regions["360102"].pk}" selected>东湖区</option>' in html
        assert ">南昌市</option>" not in html  # cities are not offered
        assert (
            self.client_as("monitoring").get(f"/customers/{customer.pk}/edit/").status_code == 403
        )

    def test_status_follows_the_lifecycle_with_a_reason(self):
        customer = make_customer("生命周期客户", self.regions["360102"])
        client = self.client_as("engineer")
        client.post(f"/customers/{customer.pk}/status/", {"status": "onboarding", "reason": "签约"})
        customer.refresh_from_db()
        assert customer.status == "onboarding"
        client.post(f"/customers/{customer.pk}/status/", {"status": "suspended", "reason": "跳过"})
        customer.refresh_from_db()
        assert customer.status == "onboarding"  # onboarding → suspended is not a transition
        row = AuditEntry.objects.get(action="customer.status", object_id=str(customer.pk))
        assert row.changes == {"status": ["prospect", "onboarding"], "reason": [None, "签约"]}

    def test_monitoring_operator_cannot_change_status(self):
        customer = make_customer("只读客户", self.regions["360102"])
        response = self.client_as("monitoring").post(
            f"/customers/{customer.pk}/status/", {"status": "onboarding", "reason": "x"}
        )
        assert response.status_code == 403
        customer.refresh_from_db()
        assert customer.status == "prospect"


class ContactPrivacyTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("隐私客户", make_regions()["360102"])
        cls.contact = make_contact(cls.customer, name="李四", mobile="138 1234 5678")

    def test_mobile_is_validated_and_normalised(self):
        assert self.contact.mobile == "13812345678"
        response = self.client_as("agent").post(
            f"/customers/{self.customer.pk}/contacts/new/",
            {"name": "王五", "role": "contact", "mobile": "12345"},
        )
        assert "mobile" in response.context["form"].errors

    def test_phone_is_masked_and_reveal_is_audited(self):
        client = self.client_as("director")  # may view, may not reveal
        page = client.get(f"/customers/{self.customer.pk}/").content.decode()
        assert "138****5678" in page and "13812345678" not in page
        url = f"/customers/{self.customer.pk}/contacts/{self.contact.pk}/reveal/mobile/"
        assert client.post(url).status_code == 403
        self.users["market_manager"].regions.add(self.customer.region)
        revealed = self.client_as("market_manager").post(url)
        assert "13812345678" in revealed.content.decode()
        row = AuditEntry.objects.filter(action="contact.reveal").latest("id")
        assert row.actor_username == "market_manager" and row.changes == {"field": [None, "mobile"]}

    def test_id_number_needs_consent_then_is_stored_encrypted(self):
        number = make_id_number("360102", date(1980, 5, 17), "123")
        try:
            services.contact_set_id_number(actor=None, contact=self.contact, id_number=number)
        except Exception as exc:
            assert "consent" in str(exc).lower() or "同意" in str(exc)
        else:
            raise AssertionError("stored without consent")
        services.consent_record(
            actor=None, contact=self.contact, notice_version="2026-01", channel="paper"
        )
        services.contact_set_id_number(actor=None, contact=self.contact, id_number=number)
        stored = Contact.objects.get(pk=self.contact.pk)
        assert number not in stored.id_number_encrypted
        # the search box finds the customer by the exact ID number, never by a fragment
        from customers.selectors import CustomerFilters, customer_list

        director = self.users["director"]
        assert list(customer_list(director, CustomerFilters(q=number))) == [self.customer]
        assert list(customer_list(director, CustomerFilters(q=number[:-1]))) == []
        assert services.contact_reveal(actor=None, contact=stored, field="id_number") == number

    def test_invalid_id_number_is_refused(self):
        services.consent_record(
            actor=None, contact=self.contact, notice_version="2026-01", channel="paper"
        )
        bad = make_id_number("360102", date(1980, 5, 17), "123")[:-1] + "0"
        response = self.client_as("engineer").post(
            f"/customers/{self.customer.pk}/contacts/{self.contact.pk}/privacy/",
            {
                "id_number": bad
                if bad[-1] != make_id_number("360102", date(1980, 5, 17), "123")[-1]
                else bad[:-1] + "1"
            },
        )
        assert response.status_code == 200
        assert response.context["id_form"].errors


class DocumentTests(PersonaTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._media = override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-media-"))
        cls._media.enable()

    @classmethod
    def tearDownClass(cls) -> None:
        cls._media.disable()
        super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("文档客户", make_regions()["360102"])

    def _upload(self, name: str, content: bytes, **extra):
        return self.client_as("technical").post(
            f"/customers/{self.customer.pk}/documents/new/",
            {
                "kind": "system_diagram",
                "title": "火灾报警系统图",
                "file": SimpleUploadedFile(name, content),
                **extra,
            },
        )

    def test_upload_download_and_new_version_keeps_the_old_one(self):
        assert self._upload("系统图.pdf", PDF).status_code == 302
        document = Document.objects.get(customer=self.customer)
        v1 = document.current
        client = self.client_as("technical")
        client.post(
            f"/customers/{self.customer.pk}/documents/{document.pk}/version/",
            {"file": SimpleUploadedFile("系统图v2.pdf", PDF + b"% v2\n")},
        )
        document.refresh_from_db()
        assert document.current.number == 2
        assert document.versions.count() == 2
        response = client.get(f"/customers/files/{v1.pk}/")
        assert response["Content-Disposition"].startswith("attachment")
        assert b"".join(response.streaming_content) == PDF

    def test_php_renamed_pdf_is_refused(self):
        response = self._upload("shell.pdf", b"<?php system($_GET['c']); ?>")
        assert response.status_code == 200
        assert response.context["form"].errors["file"]
        assert not Document.objects.exists()

    @override_settings(DOCUMENT_MAX_BYTES=1024)
    def test_oversize_file_is_refused(self):
        response = self._upload("big.pdf", PDF + b"0" * 2048)
        assert response.context["form"].errors["file"]

    def test_tampered_stored_file_is_refused_and_audited(self):
        self._upload("系统图.pdf", PDF)
        version = Document.objects.get().current
        with open(version.file.path, "ab") as handle:
            handle.write(b"tampered")
        response = self.client_as("technical").get(f"/customers/files/{version.pk}/")
        assert response.status_code == 409
        assert AuditEntry.objects.filter(action="document.corrupted", outcome="failure").exists()

    def test_download_of_an_invisible_customer_is_404(self):
        self._upload("系统图.pdf", PDF)
        version = Document.objects.get().current
        assert (
            self.client_as("account_manager").get(f"/customers/files/{version.pk}/").status_code
            == 404
        )
        assert self.client_as("outsider").get(f"/customers/files/{version.pk}/").status_code == 404

    def test_floor_with_an_image_plan_is_shown_inline(self):
        site = services.site_save(
            actor=None, customer=self.customer, data={"name": "主楼", "floors_above": 3}
        )
        response = self.client_as("technical").post(
            f"/customers/{self.customer.pk}/sites/{site.pk}/floors/new/",
            {"number": 2, "name": "", "plan": SimpleUploadedFile("2F.png", PNG)},
        )
        assert response.status_code == 302
        floor = site.floors.get()
        assert floor.name == "2F"
        page = self.client_as("technical").get(f"/customers/{self.customer.pk}/").content.decode()
        assert f"/customers/files/{floor.plan.current.pk}/?inline=1" in page
        image = self.client_as("technical").get(
            f"/customers/files/{floor.plan.current.pk}/?inline=1"
        )
        assert image["Content-Type"] == "image/png"
        assert not image["Content-Disposition"].startswith("attachment")


class ListQueryCountTests(PersonaTestCase):
    def test_list_query_count_does_not_grow_with_rows(self):
        regions = make_regions()
        client = self.client_as("director")
        make_customer("客户0", regions["360102"], owner=self.users["account_manager"])
        client.get("/customers/")
        with self.assertNumQueries(11) as few:
            client.get("/customers/")
        for i in range(1, 30):
            make_customer(f"客户{i}", regions["360103"], owner=self.users["account_manager"])
        with self.assertNumQueries(len(few.captured_queries)):
            client.get("/customers/")
