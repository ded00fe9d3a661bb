"""Point tables from Excel: template, dry run with row-level problems, all-or-nothing commit,
export that imports back unchanged, and the import pages."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from openpyxl import Workbook, load_workbook

from audit.models import AuditEntry
from customers import services as customer_services
from devices import point_import
from devices.models import AddressScheme, FireSystem, Point
from devices.point_import import HEADERS, Sheet, points_import, read_sheet
from devices.tests.factories import make_building, make_collector, make_points
from ruwang.testing import PersonaTestCase


def workbook(rows: list[list[Any]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sheet_of(rows: list[list[Any]], headers: list[str] = HEADERS) -> Sheet:
    return read_sheet("点位表.xlsx", workbook(rows, headers))


def row(
    *,
    system="火灾报警系统",
    system_address=1,
    loop: Any = 2,
    number: Any = 1,
    raw: Any = "",
    code="",
    kind="感烟火灾探测器",
    floor="2F",
    location="二层走廊",
    enabled="是",
) -> list[Any]:
    return [system, system_address, loop, number, raw, code, kind, floor, location, enabled]


class PointImportTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, cls.floors = make_building()
        cls.basement = customer_services.floor_save(actor=None, site=cls.site, number=-1)
        cls.collector = make_collector(site=cls.site)
        # System 火灾报警系统 #1 (loop in the high 16 bits): loop 1, points 101, 102, 201 …
        cls.system, cls.points = make_points(cls.collector, cls.floors)

    def run_import(self, sheet: Sheet, *, replace: bool = False, commit: bool = False):
        return points_import(
            actor=self.users["technical"],
            collector=self.collector,
            sheet=sheet,
            replace=replace,
            commit=commit,
        )

    def snapshot(self) -> tuple[int, int, int]:
        return FireSystem.objects.count(), Point.objects.count(), AuditEntry.objects.count()

    def test_the_dry_run_reports_exactly_the_bad_rows_with_their_columns_and_writes_nothing(self):
        sheet = sheet_of(
            [
                row(loop=2, number=5, code="2-005"),  # 2: good
                row(kind="77"),  # 3: no such component type code
                row(system="喷水系统", number=6),  # 4: no such system type
                row(loop=70000, number=7),  # 5: loop beyond 16 bits
                row(loop=2, number=5),  # 6: same address as row 2
                row(loop=1, number=101),  # 7: already in the point table
                row(number=8, floor="9F"),  # 8: the customer has no 9th floor
                row(number=9, enabled="也许"),  # 9: neither 是 nor 否
                row(system="12", loop=1, number=1, kind="23"),  # 10: good, a new system
                row(loop="", number="", raw=""),  # 11: no address at all
                row(number=12, raw=999),  # 12: raw address disagrees with 回路/点号
                row(number=13, kind="厂商自定义"),  # 13: not a name of the table
            ]
        )
        before = self.snapshot()
        report = self.run_import(sheet)
        assert self.snapshot() == before
        assert not report.ok
        assert {(e.row, e.column) for e in report.errors} == {
            (3, "部件类型"),
            (4, "系统类型"),
            (5, "回路"),
            (6, "点号"),
            (7, "点号"),
            (8, "楼层"),
            (9, "启用"),
            (11, "点号"),
            (12, "部件地址"),
            (13, "部件类型"),
        }
        by_row = {e.row: e for e in report.errors}
        assert by_row[3].value == "77"
        assert by_row[4].value == "喷水系统"
        assert by_row[8].value == "9F"
        assert "2" in by_row[6].message  # names the first row with that address
        assert [r.row for r in report.rows] == [2, 10]
        assert report.new_systems == [(12, 1)]

    def test_an_existing_address_is_reported_as_an_update_when_replacing(self):
        existing = self.points[0]  # loop 1, point 101, 1F
        report = self.run_import(
            sheet_of(
                [
                    row(loop=1, number=101, floor="1F", location="新位置", code="1-101"),
                    row(loop=1, number=102, floor="1F", location=self.points[1].location),
                ]
            ),
            replace=True,
        )
        assert report.ok
        update, same = report.rows
        assert update.action == "update" and update.existing_pk == existing.pk
        assert set(update.changed) == {"控制器编码", "位置"}
        assert same.action == "unchanged"
        assert (report.created, report.updated, report.unchanged) == (0, 1, 1)

    def test_commit_writes_every_row_with_new_systems_and_one_import_audit_row(self):
        sheet = sheet_of(
            [
                row(loop=2, number=5, code="2-005", floor="2"),
                row(loop=3, number=1, kind="40", floor="3层", enabled="否"),
                row(system="消火栓系统", loop=1, number=1, kind="消火栓按钮", floor="B1"),
                row(system="1", loop="", number="", raw=(5 << 16) | 9, kind="23", floor=""),
            ]
        )
        imports_before = AuditEntry.objects.filter(action="point.import").count()
        report = self.run_import(sheet, commit=True)
        assert report.ok and report.created == 4
        made = Point.objects.get(system=self.system, component_address=(2 << 16) | 5)
        assert (made.loop, made.number, made.native_code) == (2, 5, "2-005")
        assert made.floor == self.floors[1]
        disabled = Point.objects.get(system=self.system, component_address=(3 << 16) | 1)
        assert not disabled.enabled and disabled.floor == self.floors[2]
        hydrant = Point.objects.get(system__system_type=11)
        assert hydrant.component_type == 24 and hydrant.floor == self.basement
        raw = Point.objects.get(system=self.system, component_address=(5 << 16) | 9)
        assert (raw.loop, raw.number, raw.floor) == (5, 9, None)
        assert FireSystem.objects.filter(collector=self.collector).count() == 2
        assert AuditEntry.objects.filter(action="point.import").count() == imports_before + 1
        assert AuditEntry.objects.filter(action="fire_system.create").exists()

    def test_commit_with_replace_updates_points_and_clears_positions_of_moved_ones(self):
        moved = self.points[0]
        Point.objects.filter(pk=moved.pk).update(x=0.5, y=0.5)
        report = self.run_import(
            sheet_of([row(loop=1, number=101, floor="3F", kind="手动火灾报警按钮")]),
            replace=True,
            commit=True,
        )
        assert report.updated == 1
        moved.refresh_from_db()
        assert (moved.component_type, moved.floor, moved.x, moved.y) == (
            23,
            self.floors[2],
            None,
            None,
        )

    def test_a_commit_with_any_bad_row_writes_nothing(self):
        before = self.snapshot()
        report = self.run_import(
            sheet_of([row(system="消火栓系统", number=1), row(number=2, kind="不存在")]),
            commit=True,
        )
        assert not report.ok
        assert self.snapshot() == before

    def test_a_failure_while_writing_leaves_no_system_and_no_point_behind(self):
        before = self.snapshot()
        sheet = sheet_of([row(system="消火栓系统", number=1), row(number=2)])
        with (
            mock.patch.object(
                Point.objects, "bulk_create", side_effect=IntegrityError("disk full")
            ),
            pytest.raises(IntegrityError),
        ):
            self.run_import(sheet, commit=True)
        assert self.snapshot() == before

    def test_export_then_import_with_replace_changes_nothing(self):
        Point.objects.filter(pk=self.points[0].pk).update(native_code="001", enabled=False)
        other_site = customer_services.site_save(
            actor=None, customer=self.customer, data={"name": "副楼"}
        )
        annex = customer_services.floor_save(actor=None, site=other_site, number=1)
        system, _points = make_points(self.collector, [annex], system_type=11)
        Point.objects.filter(system=system).update(component_type=200)
        FireSystem.objects.filter(pk=system.pk).update(address_scheme=AddressScheme.NONE)
        points = list(
            Point.objects.filter(system__collector=self.collector).select_related("system")
        )
        exported = point_import.export_xlsx(self.collector, points)
        before = sorted(Point.objects.values_list())
        report = self.run_import(read_sheet("export.xlsx", exported), replace=True, commit=True)
        assert report.ok, report.errors
        assert (report.created, report.updated, report.unchanged) == (0, 0, len(points))
        assert sorted(Point.objects.values_list()) == before
        sheet = load_workbook(io.BytesIO(exported)).active
        floors = {r[7] for r in sheet.iter_rows(min_row=2, values_only=True)}
        assert "副楼/1F" in floors  # the annex's 1F, told apart from the main building's

    def test_floors_are_read_as_numbers_names_or_basements(self):
        for text, floor in (
            ("3", self.floors[2]),
            ("3F", self.floors[2]),
            ("3层", self.floors[2]),
            ("３楼", self.floors[2]),
            ("主楼/2F", self.floors[1]),
            ("-1", self.basement),
            ("B1", self.basement),
            ("地下1层", self.basement),
        ):
            report = self.run_import(sheet_of([row(number=40, floor=text)]))
            assert report.ok, (text, report.errors)
            assert report.rows[0].floor_pk == floor.pk, text

    def test_a_system_without_loops_takes_the_raw_address_or_point_number_only(self):
        FireSystem.objects.filter(pk=self.system.pk).update(address_scheme=AddressScheme.NONE)
        report = self.run_import(sheet_of([row(loop="", number=7001), row(loop=1, number=7002)]))
        assert [(e.row, e.column) for e in report.errors] == [(3, "回路")]
        assert report.rows[0].component_address == 7001

    def test_the_import_needs_the_point_table_permission(self):
        with pytest.raises(PermissionDenied):
            points_import(
                actor=self.users["monitoring"], collector=self.collector, sheet=sheet_of([row()])
            )


class SheetReadingTests(PersonaTestCase):
    def test_a_file_that_is_not_a_workbook_is_refused(self):
        with pytest.raises(point_import.PointFileError):
            read_sheet("点位表.xlsx", b"not a zip")

    def test_unknown_and_missing_columns_are_named(self):
        with pytest.raises(point_import.PointFileError) as unknown:
            read_sheet("a.xlsx", workbook([["x"]], headers=[*HEADERS, "备注"]))
        assert "备注" in unknown.value.message
        with pytest.raises(point_import.PointFileError) as missing:
            read_sheet("a.xlsx", workbook([["1"]], headers=["系统类型", "点号"]))
        assert "部件类型" in missing.value.message

    def test_a_header_row_without_points_is_refused(self):
        with pytest.raises(point_import.PointFileError):
            read_sheet("a.xlsx", workbook([]))

    def test_headers_may_carry_notes_and_rows_skip_blank_lines(self):
        sheet = read_sheet(
            "a.xlsx",
            workbook(
                [["1", 1, 40, "x"], [None, None, None, None], ["1", 2, 40, "y"]],
                headers=["系统类型*", "部件地址（十进制）", "部件类型", "位置"],
            ),
        )
        assert [n for n, _cells in sheet.rows] == [2, 4]
        assert sheet.rows[0][1]["component_address"] == "1"

    def test_the_sheet_survives_the_session_round_trip(self):
        sheet = sheet_of([row(), row(number=2)])
        assert Sheet.from_json(sheet.as_json()) == sheet


class ImportPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, cls.floors = make_building()
        cls.collector = make_collector(site=cls.site)
        cls.system, cls.points = make_points(cls.collector, cls.floors)

    def url(self, suffix: str = "") -> str:
        return f"/devices/collectors/{self.collector.pk}/points/import/{suffix}"

    def upload(self, client, rows: list[list[Any]], *, replace: bool = False):
        data: dict[str, Any] = {"file": SimpleUploadedFile("点位表.xlsx", workbook(rows))}
        if replace:
            data["replace"] = "on"
        return client.post(self.url(), data)

    def test_a_clean_file_is_checked_then_committed(self):
        client = self.client_as("technical")
        page = self.upload(client, [row(number=5), row(number=6)])
        assert page.status_code == 200
        body = page.content.decode()
        assert 'id="rw-import-commit"' in body
        assert Point.objects.count() == len(self.points)
        token = page.context["token"]
        done = client.post(self.url("commit/"), {"token": token})
        assert done.status_code == 302
        assert done["Location"] == f"/devices/collectors/{self.collector.pk}/points/"
        assert Point.objects.count() == len(self.points) + 2
        again = client.post(self.url("commit/"), {"token": token})  # the rows were used up
        assert again["Location"] == self.url()
        assert Point.objects.count() == len(self.points) + 2

    def test_bad_rows_are_listed_and_no_commit_is_offered(self):
        page = self.upload(self.client_as("technical"), [row(number=5), row(kind="77")])
        body = page.content.decode()
        assert 'id="rw-import-problems"' in body
        assert 'id="rw-import-commit"' not in body
        assert "部件类型" in body and ">77<" in body
        assert [(e.row, e.column) for e in page.context["report"].errors] == [(3, "部件类型")]

    def test_existing_addresses_show_as_updates_only_with_replace(self):
        rows = [row(loop=1, number=101, floor="1F", location="改过的位置")]
        refused = self.upload(self.client_as("technical"), rows)
        assert [e.column for e in refused.context["report"].errors] == ["点号"]
        page = self.upload(self.client_as("technical"), rows, replace=True)
        body = page.content.decode()
        assert 'id="rw-import-updates"' in body and 'id="rw-import-commit"' in body

    def test_a_commit_whose_rows_no_longer_fit_writes_nothing_and_lists_them(self):
        client = self.client_as("technical")
        page = self.upload(client, [row(number=5), row(number=6)])
        point_import.points_import(
            actor=None,
            collector=self.collector,
            sheet=sheet_of([row(number=6)]),
            commit=True,
        )
        count = Point.objects.count()
        done = client.post(self.url("commit/"), {"token": page.context["token"]})
        assert done.status_code == 200
        assert [e.row for e in done.context["report"].errors] == [3]
        assert Point.objects.count() == count

    def test_a_wrong_or_missing_token_sends_the_user_back_to_upload(self):
        client = self.client_as("technical")
        self.upload(client, [row(number=5)])
        response = client.post(self.url("commit/"), {"token": "forged"})
        assert response["Location"] == self.url()
        assert Point.objects.count() == len(self.points)

    def test_a_file_that_is_not_xlsx_is_refused_on_the_form(self):
        response = self.client_as("technical").post(
            self.url(), {"file": SimpleUploadedFile("a.csv", b"a,b")}
        )
        assert response.context["form"].errors["file"]
        unreadable = self.client_as("technical").post(
            self.url(), {"file": SimpleUploadedFile("a.xlsx", b"garbage")}
        )
        assert unreadable.context["form"].errors["file"]

    def test_who_may_import(self):
        self.assert_access(
            self.url(),
            allowed={"engineer", "technical"},
            not_found={"account_manager", "supervisor"},
        )
        self.assert_access(
            self.url("commit/"),
            method="post",
            allowed={"engineer", "technical"},
            ok_status=(302,),
            not_found={"account_manager", "supervisor"},
        )

    def test_the_template_downloads_with_the_code_tables(self):
        response = self.client_as("technical").get("/devices/points/template.xlsx")
        assert response.status_code == 200
        book = load_workbook(io.BytesIO(response.content))
        assert [c.value for c in book["点位表"][1]] == HEADERS
        notes = [r[:2] for r in book["说明"].iter_rows(values_only=True)]
        assert (40, "感烟火灾探测器") in notes
        assert (1, "火灾报警系统") in notes
        self.assert_access(
            "/devices/points/template.xlsx",
            allowed={
                "director",
                "engineer",
                "technical",
                "monitoring",
                "account_manager",
                "agent",
                "supervisor",
                "netadmin",
            },
        )

    def test_the_export_has_the_import_columns_and_every_point(self):
        response = self.client_as("monitoring").get(
            f"/devices/collectors/{self.collector.pk}/points/export.xlsx"
        )
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == HEADERS
        assert len(rows) == 1 + len(self.points)
        assert rows[1][:5] == ("火灾报警系统", 1, 1, 101, (1 << 16) | 101)
        assert AuditEntry.objects.filter(action="point.export").exists()
