"""Starting the SOP for a list of new licences: checked first, then every row or none."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from customers import services as customer_services
from customers.models import Customer, CustomerKind, CustomerStatus
from onboarding.models import RetailerProfile
from onboarding.services import (
    TOBACCO_PROCESS_KEY,
    licences_import,
    shipped_processes_sync,
)
from onboarding.tests.factories import csv_file, give_territory, licence_rows, xlsx_file
from ruwang.testing import PersonaTestCase, make_regions
from workflow.models import Case

# Hold both workflow.add_case and customers.add_customer.
STARTERS = {"market", "market_manager", "account_manager", "agent", "supervisor", "sysadmin"}


class LicencesImportTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        shipped_processes_sync()
        cls.regions = make_regions()
        give_territory(cls.users["account_manager"], cls.regions["360102"], cls.regions["360103"])

    def test_a_sheet_of_100_licences_starts_100_cases_for_100_new_retailers(self):
        manager = self.users["market_manager"]
        checked = licences_import(actor=manager, file=xlsx_file(licence_rows(100)))
        assert checked.ok, checked.errors
        assert checked.total == 100
        assert not Customer.objects.exists() and not Case.objects.exists()

        started = licences_import(actor=manager, file=xlsx_file(licence_rows(100)), commit=True)
        assert started.committed
        assert (started.customers_created, len(started.cases)) == (100, 100)
        assert Customer.objects.filter(kind=CustomerKind.RETAILER).count() == 100
        cases = Case.objects.filter(version__definition__key=TOBACCO_PROCESS_KEY)
        assert cases.count() == 100
        shop = Customer.objects.get(licence_number="360102100007")
        assert shop.name == "便民商店7号"
        assert shop.owner == self.users["account_manager"]  # by the territory of 东湖区
        assert shop.contacts.get(is_primary=True).mobile == "13800000007"
        assert RetailerProfile.objects.get(customer=shop).business_type == "convenience"
        assert Customer.objects.get(licence_number="360102100008").region == self.regions["360103"]
        assert all(c.tasks.get().node_id == "Activity_Register" for c in cases[:5])

    def test_bad_rows_are_each_reported_and_nothing_is_created(self):
        active = customer_services.customer_create(
            actor=None,
            data={
                "name": "老店",
                "region": self.regions["360102"],
                "licence_number": "360102999999",
            },
        )
        active.status = CustomerStatus.ACTIVE
        active.save()
        good, second = licence_rows(2)
        rows = [
            good,
            ["", *good[1:]],  # row 3: no licence number
            [good[0], "同证另店", *good[2:]],  # row 4: the licence of row 2 again
            [second[0], second[1], second[2], "1381234", *second[4:]],  # row 5: bad mobile
            ["360102100050", "火星店", "", "", "火星区", "", ""],  # row 6: unknown district
            ["360102999999", "老店", "", "", "360102", "", ""],  # row 7: already active
            ["360102100060", "怪店", "", "", "360102", "", "夜总会"],  # row 8: unknown type
        ]
        for commit in (False, True):
            result = licences_import(
                actor=self.users["market_manager"], file=xlsx_file(rows), commit=commit
            )
            assert not result.ok and not result.committed
            found = {(e.row, e.column, e.value) for e in result.errors}
            assert found == {
                (3, "许可证号", ""),
                (4, "许可证号", good[0]),
                (5, "手机", "1381234"),
                (6, "区县", "火星区"),
                (7, "许可证号", "360102999999"),
                (8, "业态", "夜总会"),
            }
            assert all(e.message for e in result.errors)
        assert Customer.objects.count() == 1
        assert not Case.objects.exists()

    def test_a_licence_whose_case_is_running_is_refused_and_a_prospect_is_reused(self):
        prospect = customer_services.customer_create(
            actor=self.users["market_manager"],
            data={
                "name": "旧档案",
                "region": self.regions["360102"],
                "licence_number": "360102100001",
            },
        )
        result = licences_import(
            actor=self.users["market_manager"], file=xlsx_file(licence_rows(1)), commit=True
        )
        assert (result.customers_created, result.customers_reused) == (0, 1)
        assert result.cases[0].customer == prospect
        again = licences_import(actor=self.users["market_manager"], file=xlsx_file(licence_rows(1)))
        assert [e.row for e in again.errors] == [2]
        assert result.cases[0].number in again.errors[0].message

    def test_a_gbk_csv_from_chinese_excel_is_read(self):
        for encoding in ("gbk", "utf-8-sig"):
            with self.subTest(encoding=encoding):
                Case.objects.all().delete()
                Customer.objects.all().delete()
                result = licences_import(
                    actor=self.users["sysadmin"],
                    file=csv_file(licence_rows(3), encoding=encoding),
                    commit=True,
                )
                assert result.committed, (result.file_error, result.errors)
                assert sorted(Customer.objects.values_list("name", flat=True)) == [
                    "便民商店1号",
                    "便民商店2号",
                    "便民商店3号",
                ]

    def test_a_file_with_a_strange_column_or_without_a_licence_column_is_refused(self):
        headers = ["许可证号", "店名", "区县", "备注栏"]
        strange = licences_import(
            actor=self.users["sysadmin"], file=xlsx_file([["1", "店", "360102", "x"]], headers)
        )
        assert "备注栏" in strange.file_error
        missing = licences_import(
            actor=self.users["sysadmin"], file=xlsx_file([["店", "360102"]], ["店名", "区县"])
        )
        assert "许可证号" in missing.file_error


class LicencesPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        shipped_processes_sync()
        cls.regions = make_regions()

    def test_who_may_open_the_licence_page_and_the_template(self):
        self.assert_access("/onboarding/licences/", allowed=STARTERS)
        self.assert_access("/onboarding/licences/template/", allowed=STARTERS)

    def test_who_may_start_checked_cases(self):
        # an unknown token only sends the allowed back to the upload page
        self.assert_access(
            "/onboarding/licences/start/",
            allowed=STARTERS,
            method="post",
            data={"token": "nope"},
            ok_status=(302,),
        )

    def test_the_template_has_the_columns_and_an_instructions_sheet(self):
        response = self.client_as("market_manager").get("/onboarding/licences/template/")
        workbook = load_workbook(io.BytesIO(response.content))
        assert workbook.sheetnames == ["新入网零售户", "说明"]
        headers = [c.value for c in workbook["新入网零售户"][1]]
        assert headers == ["许可证号", "店名", "经营者", "手机", "区县", "经营地址", "业态"]
        # the template's own example row passes the check
        result = licences_import(
            actor=self.users["market_manager"],
            file=SimpleUploadedFile("template.xlsx", response.content),
        )
        assert result.ok, result.errors

    def test_check_then_start_through_the_page(self):
        client = self.client_as("market_manager")
        content = xlsx_file(licence_rows(3)).read()
        upload = SimpleUploadedFile("licences.xlsx", content)
        checked = client.post("/onboarding/licences/", {"file": upload})
        assert checked.status_code == 200
        assert checked.context["result"].ok
        assert not Case.objects.exists()
        token = checked.context["token"]
        started = client.post("/onboarding/licences/start/", {"token": token})
        assert started.status_code == 200
        assert started.context["started"]
        assert Case.objects.count() == 3
        # the same check cannot start the cases twice
        twice = client.post("/onboarding/licences/start/", {"token": token})
        assert twice.status_code == 302
        assert Case.objects.count() == 3
        # nor can someone else use the token
        other = self.client_as("supervisor").post("/onboarding/licences/start/", {"token": token})
        assert other.status_code == 302

    def test_problems_are_listed_on_the_page_and_offer_no_start(self):
        rows = [["", "无证店", "", "", "360102", "", ""]]
        upload = SimpleUploadedFile("licences.xlsx", xlsx_file(rows).read())
        page = self.client_as("market_manager").post("/onboarding/licences/", {"file": upload})
        html = page.content.decode()
        assert 'id="rw-licences-problems"' in html
        assert "/onboarding/licences/start/" not in html

    def test_a_retailer_page_shows_the_profile_card_only_once_there_is_a_profile(self):
        client = self.client_as("market_manager")
        result = licences_import(
            actor=self.users["market_manager"], file=xlsx_file(licence_rows(2)), commit=True
        )
        with_profile = result.cases[0].customer
        RetailerProfile.objects.filter(customer=result.cases[1].customer).delete()
        shown = client.get(f"/customers/{with_profile.pk}/").content.decode()
        assert 'id="rw-retailer-profile"' in shown
        hidden = client.get(f"/customers/{result.cases[1].customer.pk}/")
        assert hidden.status_code == 200
        assert 'id="rw-retailer-profile"' not in hidden.content.decode()
