"""The point table pages and the floor-plan editor: who may see and change them, adding and
editing points (loop + number or raw address), saving positions, read-only locating."""

from __future__ import annotations

import json
import tempfile

from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.models import User
from audit.models import AuditEntry
from customers import services as customer_services
from customers.tests.factories import make_customer
from devices import services
from devices.models import AddressScheme, Point
from devices.tests.factories import make_building, make_collector, make_points
from ruwang.testing import PersonaTestCase, make_regions

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# Who holds devices.view_collector (or view_board) and sees every customer.
VIEWERS = {"director", "engineer", "technical", "monitoring", "agent", "netadmin"}
EDITORS = {"engineer", "technical"}
# Hold devices.view_collector but see only their own customers: a stranger's collector is 404.
NARROW = {"account_manager", "supervisor"}


class PointPagesBase(PersonaTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._media = override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-plans-"))
        cls._media.enable()

    @classmethod
    def tearDownClass(cls) -> None:
        cls._media.disable()
        super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, cls.floors = make_building()
        cls.collector = make_collector(site=cls.site)
        cls.system, cls.points = make_points(cls.collector, cls.floors)


class PointTableTests(PointPagesBase):
    def url(self) -> str:
        return f"/devices/collectors/{self.collector.pk}/points/"

    def test_who_may_see_the_point_table(self):
        self.assert_access(self.url(), allowed=VIEWERS, not_found=NARROW)
        self.assert_access(
            f"/devices/collectors/{self.collector.pk}/points/export.xlsx",
            allowed=VIEWERS,
            not_found=NARROW,
        )

    def test_an_account_manager_sees_the_table_of_an_own_customer(self):
        owned = make_customer(
            "自己的客户", make_regions()["360102"], owner=self.users["account_manager"]
        )
        site = customer_services.site_save(actor=None, customer=owned, data={"name": "A 座"})
        collector = make_collector(360_102_000_002, site=site)
        response = self.client_as("account_manager").get(
            f"/devices/collectors/{collector.pk}/points/"
        )
        assert response.status_code == 200

    def test_a_missing_collector_is_404(self):
        assert (
            self.client_as("engineer").get("/devices/collectors/999999/points/").status_code == 404
        )

    def test_points_are_grouped_by_system_with_address_split_type_name_and_floor(self):
        Point.objects.filter(pk=self.points[0].pk).update(x=0.3, y=0.4, native_code="01-101")
        response = self.client_as("monitoring").get(self.url())
        body = response.content.decode()
        assert f'id="system-{self.system.pk}"' in body
        assert f'id="point-{self.points[0].pk}"' in body
        assert str((1 << 16) | 101) in body and "1-101" in body
        assert "感烟火灾探测器" in body and "01-101" in body
        assert f"/devices/floors/{self.floors[0].pk}/plan/?highlight={self.points[0].pk}" in body
        assert f"/devices/points/{self.points[0].pk}/edit/" not in body  # read only
        editor = self.client_as("technical").get(self.url()).content.decode()
        assert f"/devices/points/{self.points[0].pk}/edit/" in editor
        assert f"/devices/systems/{self.system.pk}/points/new/" in editor

    def test_filters_by_floor_and_type(self):
        services.point_save(
            actor=None,
            system=self.system,
            data={"component_address": (4 << 16) | 1, "component_type": 23, "floor": None},
        )
        client = self.client_as("technical")
        on_second = client.get(self.url(), {"floor": self.floors[1].pk})
        shown = [r["point"] for g in on_second.context["groups"] for r in g["rows"]]
        assert {p.floor_id for p in shown} == {self.floors[1].pk} and len(shown) == 2
        buttons = client.get(self.url(), {"type": 23})
        assert [
            r["point"].component_type for g in buttons.context["groups"] for r in g["rows"]
        ] == [23]
        nowhere = client.get(self.url(), {"floor": "none"})
        assert [r["point"].floor for g in nowhere.context["groups"] for r in g["rows"]] == [None]

    def test_the_table_costs_the_same_queries_for_few_or_many_points(self):
        client = self.client_as("technical")
        client.get(self.url())
        with self.assertNumQueries(12) as few:
            client.get(self.url())
        make_points(self.collector, self.floors, per_floor=10, system_type=12)
        with self.assertNumQueries(len(few.captured_queries)):
            client.get(self.url())


class PointFormTests(PointPagesBase):
    def create_url(self) -> str:
        return f"/devices/systems/{self.system.pk}/points/new/"

    def test_who_may_add_and_edit_points(self):
        self.assert_access(self.create_url(), allowed=EDITORS, not_found=NARROW)
        self.assert_access(
            f"/devices/points/{self.points[0].pk}/edit/", allowed=EDITORS, not_found=NARROW
        )

    def test_a_point_is_added_by_loop_and_number(self):
        response = self.client_as("technical").post(
            self.create_url(),
            {
                "address_entry": "parts",
                "loop": 2,
                "number": 7,
                "native_code": "2-007",
                "component_type": 23,
                "floor": self.floors[1].pk,
                "location": "二层楼梯口",
                "enabled": "on",
            },
        )
        assert response.status_code == 302
        point = Point.objects.get(native_code="2-007")
        assert point.component_address == (2 << 16) | 7
        assert (point.loop, point.number, point.floor) == (2, 7, self.floors[1])
        assert response["Location"].endswith(f"#point-{point.pk}")
        assert AuditEntry.objects.filter(action="point.create", object_id=str(point.pk)).exists()

    def test_a_point_is_added_by_raw_address(self):
        self.client_as("engineer").post(
            self.create_url(),
            {"address_entry": "raw", "component_address": (3 << 16) | 9, "component_type": 40},
        )
        point = Point.objects.get(component_address=(3 << 16) | 9)
        assert (point.loop, point.number, point.enabled) == (3, 9, False)

    def test_a_loop_out_of_range_or_a_taken_address_is_refused_on_the_form(self):
        client = self.client_as("technical")
        count = Point.objects.count()
        too_big = client.post(
            self.create_url(),
            {"address_entry": "parts", "loop": 70000, "number": 1, "component_type": 40},
        )
        assert too_big.context["form"].errors["loop"]
        taken = client.post(
            self.create_url(),
            {"address_entry": "parts", "loop": 1, "number": 101, "component_type": 40},
        )
        assert taken.context["form"].errors["number"]
        no_number = client.post(
            self.create_url(), {"address_entry": "parts", "loop": 1, "component_type": 40}
        )
        assert no_number.context["form"].errors["number"]
        no_type = client.post(self.create_url(), {"address_entry": "parts", "loop": 1, "number": 9})
        assert no_type.context["form"].errors["component_type"]
        assert Point.objects.count() == count

    def test_editing_a_point_keeps_its_address_and_changes_its_details(self):
        point = self.points[0]
        response = self.client_as("technical").post(
            f"/devices/points/{point.pk}/edit/",
            {
                "address_entry": "parts",
                "loop": 1,
                "number": 101,
                "component_type": 23,
                "floor": self.floors[2].pk,
                "location": "改到三层",
            },
        )
        assert response.status_code == 302
        point.refresh_from_db()
        assert (point.component_type, point.floor, point.enabled) == (23, self.floors[2], False)

    def test_a_floor_of_another_customer_cannot_be_chosen(self):
        _other, _site, other_floors = make_building("另一个客户")
        response = self.client_as("technical").post(
            self.create_url(),
            {
                "address_entry": "raw",
                "component_address": 5,
                "component_type": 40,
                "floor": other_floors[0].pk,
            },
        )
        assert response.context["form"].errors["floor"]

    def test_a_system_without_loops_only_offers_the_raw_address(self):
        services.fire_system_save(
            actor=None,
            collector=self.collector,
            system=self.system,
            data={"address_scheme": AddressScheme.NONE},
        )
        page = self.client_as("technical").get(self.create_url()).content.decode()
        assert 'name="loop"' not in page
        assert '<input type="hidden" name="address_entry" value="raw">' in page


class PlanEditorTests(PointPagesBase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.floor = customer_services.floor_save(
            actor=None,
            site=cls.site,
            number=1,
            plan_upload=("1F.png", SimpleUploadedFile("1F.png", PNG), len(PNG)),
        )
        cls.on_floor = [p for p in cls.points if p.floor_id == cls.floor.pk]

    def url(self, floor_pk: int | None = None) -> str:
        return f"/devices/floors/{floor_pk or self.floor.pk}/plan/"

    def save(self, persona: str, payload: object, floor_pk: int | None = None):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.client_as(persona).post(
            self.url(floor_pk) + "save/", body, content_type="application/json"
        )

    def test_who_may_see_the_plan(self):
        self.assert_access(self.url(), allowed=VIEWERS, not_found=NARROW)

    def test_a_board_watcher_without_collector_access_may_locate_points(self):
        watcher = User.objects.get(username="procurement")
        watcher.user_permissions.add(Permission.objects.get(codename="view_board"))
        client = self.client_as("procurement")
        assert client.get(self.url()).status_code == 200

    def test_technical_staff_get_the_editor_with_the_floor_points_and_the_plan_image(self):
        response = self.client_as("technical").get(self.url())
        body = response.content.decode()
        assert 'data-editable="1"' in body and 'id="rw-plan-save"' in body
        assert f"/customers/files/{self.floor.plan.current.pk}/?inline=1" in body
        ids = {p["id"] for p in response.context["points_data"]}
        assert {p.pk for p in self.on_floor} <= ids
        assert not ids & {p.pk for p in self.points if p.floor_id not in (None, self.floor.pk)}

    def test_positions_are_saved_and_removed(self):
        first, second = self.on_floor
        Point.objects.filter(pk=second.pk).update(x=0.9, y=0.9)
        response = self.save("technical", {str(first.pk): [0.25, 0.5], str(second.pk): None})
        assert response.status_code == 200, response.content
        assert response.json()["saved"] == 2
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.x, first.y) == (0.25, 0.5)
        assert (second.x, second.y) == (None, None)
        assert AuditEntry.objects.filter(action="point.place").exists()

    def test_a_point_without_a_floor_placed_on_the_plan_joins_the_floor(self):
        loose = services.point_save(
            actor=None,
            system=self.system,
            data={"component_address": 77, "component_type": 40, "floor": None},
        )
        response = self.save("engineer", {str(loose.pk): [0.1, 0.2]})
        assert response.status_code == 200
        loose.refresh_from_db()
        assert loose.floor == self.floor

    def test_bad_positions_are_refused_with_a_message_and_nothing_is_saved(self):
        first = self.on_floor[0]
        for payload in (
            "{not json",
            "[1, 2]",
            {"abc": [0.1, 0.1]},
            {str(first.pk): [0.1]},
            {str(first.pk): ["a", 0.1]},
            {str(first.pk): [1.5, 0.2]},
            f'{{"{first.pk}": [NaN, 0.2]}}',
            {"999999": [0.1, 0.1]},
        ):
            response = self.save("technical", payload)
            assert response.status_code == 400, payload
            assert response.json()["error"], payload
        first.refresh_from_db()
        assert first.x is None

    def test_points_of_another_customer_cannot_be_placed(self):
        _other, other_site, other_floors = make_building("别家大厦")
        other = make_collector(360_102_000_009, site=other_site)
        _system, points = make_points(other, other_floors, per_floor=1)
        response = self.save("technical", {str(points[0].pk): [0.5, 0.5]})
        assert response.status_code == 400
        points[0].refresh_from_db()
        assert points[0].x is None

    def test_only_point_table_editors_may_save(self):
        first = self.on_floor[0]
        for persona in ("monitoring", "director", "netadmin", "agent", "market", "outsider"):
            assert self.save(persona, {str(first.pk): [0.5, 0.5]}).status_code == 403, persona
        for persona in NARROW:
            assert self.save(persona, {str(first.pk): [0.5, 0.5]}).status_code == 403, persona
        first.refresh_from_db()
        assert first.x is None
        assert self.client_as("technical").get(self.url() + "save/").status_code == 405

    def test_monitoring_sees_the_markers_read_only(self):
        first = self.on_floor[0]
        Point.objects.filter(pk=first.pk).update(x=0.4, y=0.6)
        response = self.client_as("monitoring").get(self.url())
        body = response.content.decode()
        assert 'data-editable="0"' in body and 'id="rw-plan-readonly"' in body
        assert 'id="rw-plan-save"' not in body
        data = {p["id"]: p for p in response.context["points_data"]}
        assert (data[first.pk]["x"], data[first.pk]["y"]) == (0.4, 0.6)
        assert data[first.pk]["type"] == "感烟火灾探测器"

    def test_highlight_marks_the_point_to_locate(self):
        first = self.on_floor[0]
        Point.objects.filter(pk=first.pk).update(x=0.4, y=0.6)
        body = self.client_as("monitoring").get(self.url(), {"highlight": first.pk}).content
        assert f'data-highlight="{first.pk}"'.encode() in body
        unplaced = self.on_floor[1]
        page = self.client_as("monitoring").get(self.url(), {"highlight": unplaced.pk})
        assert b'id="rw-plan-unplaced"' in page.content

    def test_highlight_of_a_point_on_another_floor_links_to_that_floor(self):
        elsewhere = next(p for p in self.points if p.floor_id == self.floors[2].pk)
        body = self.client_as("monitoring").get(self.url(), {"highlight": elsewhere.pk})
        text = body.content.decode()
        assert 'id="rw-plan-elsewhere"' in text
        assert f"/devices/floors/{self.floors[2].pk}/plan/?highlight={elsewhere.pk}" in text
        assert 'data-highlight=""' in text
        junk = self.client_as("monitoring").get(self.url(), {"highlight": "x"})
        assert junk.status_code == 200

    def test_a_pdf_plan_or_no_plan_shows_a_message_and_no_editor(self):
        customer_services.floor_save(
            actor=None,
            site=self.site,
            number=2,
            plan_upload=("2F.pdf", SimpleUploadedFile("2F.pdf", PDF), len(PDF)),
        )
        pdf = self.client_as("technical").get(self.url(self.floors[1].pk)).content.decode()
        assert 'id="rw-plan-missing"' in pdf and 'id="rw-plan-editor"' not in pdf
        assert f"/customers/{self.customer.pk}/" in pdf
        missing = self.client_as("monitoring").get(self.url(self.floors[2].pk)).content.decode()
        assert 'id="rw-plan-missing"' in missing and 'id="rw-plan-editor"' not in missing
        assert 'id="rw-plan-point-table"' in missing  # the floor's points, still listed

    def test_positions_on_a_floor_without_a_plan_image_are_refused(self):
        third = next(p for p in self.points if p.floor_id == self.floors[2].pk)
        response = self.save("technical", {str(third.pk): [0.5, 0.5]}, self.floors[2].pk)
        assert response.status_code == 400 and response.json()["error"]
        third.refresh_from_db()
        assert third.x is None

    def test_a_missing_floor_is_404(self):
        assert self.client_as("technical").get(self.url(999999)).status_code == 404
