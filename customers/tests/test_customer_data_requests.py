"""Export, duplicates and merge, and data-subject requests."""

import io
import json

from openpyxl import load_workbook

from audit.models import AuditEntry
from customers import services
from customers.models import Contact, Customer
from customers.tests.factories import make_contact, make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user


class ExportTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.east = make_customer(
            "东湖大厦",
            regions["360102"],
            contacts=[{"name": "王一", "mobile": "13812345678", "is_primary": True}],
        )
        cls.west = make_customer("西湖商场", regions["360103"])

    def _sheet(self, response):
        rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
        return rows[0], rows[1:]

    def test_export_follows_the_filter_masks_phones_and_is_audited(self):
        response = self.client_as("director").get("/customers/export.xlsx", {"q": "东湖"})
        assert response["Content-Disposition"].startswith("attachment;")
        header, rows = self._sheet(response)
        assert [r[0] for r in rows] == ["东湖大厦"]
        assert rows[0][header.index("手机")] == "138****5678"
        entry = AuditEntry.objects.get(action="customer.export")
        assert entry.changes["rows"] == [None, 1]
        assert entry.changes["filters"] == [None, {"q": "东湖", "sort": "-id"}]

    def test_who_may_export(self):
        self.assert_access(
            "/customers/export.xlsx", allowed={"director", "market_manager", "supervisor"}
        )

    def test_account_manager_export_contains_only_visible_customers(self):
        manager = make_user("am_export", "market_manager")
        manager.regions.add(self.west.region)
        from django.test import Client

        client = Client()
        client.force_login(manager)
        _header, rows = self._sheet(client.get("/customers/export.xlsx"))
        assert [r[0] for r in rows] == ["西湖商场"]


class MergeTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.keep = make_customer("南昌红星商场", regions["360102"])
        cls.dup = make_customer(
            "南昌红星商场", regions["360102"], contacts=[{"name": "赵六", "mobile": "13900001111"}]
        )
        services.site_save(actor=None, customer=cls.dup, data={"name": "B座"})
        from workflow.services import case_start
        from workflow.tests.test_cases import publish

        cls.case = case_start(actor=None, customer=cls.dup, version=publish())
        cls.users["supervisor"].regions.add(regions["360100"])

    def test_duplicates_page_lists_same_name_in_same_district(self):
        page = self.client_as("supervisor").get("/customers/duplicates/")
        groups = page.context["groups"]
        assert [c.pk for c in groups[0].customers] == [self.keep.pk, self.dup.pk]

    def test_merge_moves_contacts_and_sites_and_hides_the_duplicate(self):
        response = self.client_as("supervisor").post(
            "/customers/merge/", {"survivor": self.keep.pk, "duplicate": self.dup.pk}
        )
        assert response.status_code == 302
        assert self.keep.contacts.filter(name="赵六").exists()
        assert self.keep.sites.filter(name="B座").exists()
        assert list(self.keep.cases.all()) == [self.case]  # its tasks stay in the inboxes
        self.dup.refresh_from_db()
        assert self.dup.merged_into == self.keep
        assert self.client_as("supervisor").get(f"/customers/{self.dup.pk}/").status_code == 404
        assert AuditEntry.objects.filter(
            action="customer.merge", object_id=str(self.keep.pk)
        ).exists()

    def test_who_may_merge(self):
        self.assert_access("/customers/duplicates/", allowed={"market_manager", "supervisor"})


class DataSubjectRequestTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.customer = make_customer("个人信息客户", regions["360102"])
        cls.contact = make_contact(
            cls.customer, name="欧阳娜娜", mobile="13712345678", email="n@example.com"
        )
        services.consent_record(
            actor=None, contact=cls.contact, notice_version="2026-01", channel="online"
        )
        cls.users["market_manager"].regions.add(regions["360102"])

    def _url(self, **query):
        base = f"/customers/{self.customer.pk}/contacts/{self.contact.pk}/data-request/"
        return base

    def test_export_contains_all_personal_data(self):
        response = self.client_as("market_manager").get(self._url(), {"format": "json"})
        data = json.loads(response.content)
        assert data["name"] == "欧阳娜娜" and data["mobile"] == "13712345678"
        assert data["consents"][0]["notice_version"] == "2026-01"
        xlsx = self.client_as("market_manager").get(self._url(), {"format": "xlsx"})
        assert load_workbook(io.BytesIO(xlsx.content)).sheetnames

    def test_erasure_leaves_a_pseudonym_and_no_personal_data(self):
        self.client_as("market_manager").post(self._url(), {"action": "anonymise"})
        contact = Contact.objects.get(pk=self.contact.pk)
        assert contact.name == f"contact#{contact.pk}"
        assert contact.mobile == contact.email == ""
        assert contact.anonymised_at is not None
        assert contact.consents.filter(withdrawn_at__isnull=True).count() == 0
        # the audit trail never held the name, only a masked form and the pseudonym
        for entry in AuditEntry.objects.filter(object_type="customers.contact"):
            assert "欧阳娜娜" not in json.dumps(entry.changes, ensure_ascii=False)
            assert "欧阳娜娜" not in entry.object_repr
        customer = Customer.objects.get(pk=self.customer.pk)
        assert "7123" not in customer.phones

    def test_who_may_handle_data_requests(self):
        # Those who cannot see the customer at all get 404; those who see it but may not
        # reveal personal data get 403.
        self.assert_access(
            self._url(),
            allowed={"market_manager"},
            not_found={
                "market",
                "account_manager",
                "supervisor",
                "outsider",
                "responder",
                "auditor",
            },
        )
