"""The import pages: upload, background check, report, import, template download."""

import io
import tempfile

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from openpyxl import Workbook, load_workbook

from audit.models import AuditEntry
from customers.models import Customer, ImportJob
from ruwang.testing import PersonaTestCase, make_regions


def _sheet(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["客户名称", "区县代码", "统一社会信用代码", "联系人", "手机"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-import-"))
class ImportPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        make_regions()
        cls.users["market_manager"].regions.add(*[])

    def _upload(self, content: bytes, name: str = "客户.xlsx"):
        return self.client_as("market_manager").post(
            "/customers/import/", {"file": SimpleUploadedFile(name, content)}, follow=True
        )

    def test_a_clean_file_is_checked_then_imported(self):
        page = self._upload(
            _sheet(
                [
                    ["南昌导入甲", "360102", "", "张三", "13800000001"],
                    ["南昌导入乙", "360103", "", "", ""],
                ]
            )
        )
        job = ImportJob.objects.get()
        assert job.dry_run and job.ok and job.total_rows == 2
        assert "导入这 2 个客户" in page.content.decode()
        assert Customer.objects.count() == 0
        done = self.client_as("market_manager").post(
            f"/customers/import/{job.pk}/commit/", follow=True
        )
        assert Customer.objects.count() == 2
        assert "已导入 2 个客户" in done.content.decode()
        assert AuditEntry.objects.filter(action="customer.import").count() == 1

    def test_bad_rows_are_listed_and_nothing_is_written(self):
        page = self._upload(
            _sheet(
                [
                    ["", "360102", "", "", ""],
                    ["南昌导入丙", "999999", "", "", ""],
                    ["南昌导入丁", "360102", "", "李四", "12345"],
                ]
            )
        )
        job = ImportJob.objects.get()
        assert sorted({p["row"] for p in job.problems}) == [2, 3, 4]
        body = page.content.decode()
        assert 'id="rw-import-problems"' in body
        assert Customer.objects.count() == 0
        refused = self.client_as("market_manager").post(f"/customers/import/{job.pk}/commit/")
        assert refused.status_code == 302
        assert Customer.objects.count() == 0

    def test_wrong_file_type_is_refused_on_the_form(self):
        response = self.client_as("market_manager").post(
            "/customers/import/", {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4")}
        )
        assert response.context["form"].errors["file"]
        assert not ImportJob.objects.exists()

    def test_template_downloads_as_a_workbook(self):
        response = self.client_as("market_manager").get("/customers/import/template.xlsx")
        workbook = load_workbook(io.BytesIO(response.content))
        assert "客户名称" in [c.value for c in next(workbook.active.iter_rows(max_row=1))]

    def test_who_may_import(self):
        self.assert_access("/customers/import/", allowed={"market_manager", "supervisor"})

    def test_someone_elses_import_is_404(self):
        self._upload(_sheet([["南昌导入戊", "360102", "", "", ""]]))
        job = ImportJob.objects.get()
        assert self.client_as("supervisor").get(f"/customers/import/{job.pk}/").status_code == 404
