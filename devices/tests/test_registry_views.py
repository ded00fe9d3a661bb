"""The collector registry pages: list, detail, create/edit, install (备案), remove, fire systems,
and the collectors card of the customer page."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer, Site
from customers.tests.factories import make_customer
from devices import services
from devices.models import (
    Collector,
    CollectorRegistration,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    FireSystem,
    RegistrationAction,
)
from devices.tests.factories import make_collector, make_points
from ruwang.testing import PersonaTestCase, make_regions

VIEWERS = [
    "engineer",
    "technical",
    "monitoring",
    "netadmin",
    "director",
    "account_manager",
    "agent",
    "supervisor",
]
SEE_ALL = ["engineer", "technical", "monitoring", "netadmin", "director", "agent"]
REGISTRARS = ["engineer", "netadmin"]
POINT_EDITORS = ["engineer", "technical"]


def building(customer: Customer, name: str = "主楼", floors: int = 2) -> Site:
    site = customer_services.site_save(
        actor=None, customer=customer, data={"name": name, "floors_above": floors}
    )
    for n in range(1, floors + 1):
        customer_services.floor_save(actor=None, site=site, number=n)
    return site


class RegistryTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        # The account manager's own customer (the supervisor sees it through the department).
        cls.own = make_customer(
            "滕王阁大厦", cls.regions["360102"], owner=cls.users["account_manager"]
        )
        cls.own_site = building(cls.own)
        # Somebody else's customer in another city: hidden from both.
        cls.other = make_customer("九江浔阳楼", cls.regions["360402"])
        cls.other_site = building(cls.other, "浔阳楼")
        cls.mine = make_collector(360_102_000_001, site=cls.own_site)
        cls.theirs = make_collector(360_402_000_002, site=cls.other_site, line="cellular")
        cls.stock = make_collector(360_100_000_003, manufacturer="洪都消防电子")


class CollectorListTests(RegistryTestCase):
    def test_viewers_may_open_the_list_and_others_may_not(self):
        self.assert_access("/devices/collectors/", allowed=VIEWERS)

    def test_account_manager_sees_only_their_customers_collectors(self):
        page = self.client_as("account_manager").get("/devices/collectors/")
        assert [c.pk for c in page.context["rows"]] == [self.mine.pk]

    def test_engineer_sees_every_collector_newest_first(self):
        page = self.client_as("engineer").get("/devices/collectors/")
        assert [c.pk for c in page.context["rows"]] == [self.stock.pk, self.theirs.pk, self.mine.pk]

    def _found(self, **query: str) -> list[int]:
        page = self.client_as("engineer").get("/devices/collectors/", query)
        assert page.status_code == 200
        return [c.pk for c in page.context["rows"]]

    def test_address_is_found_in_decimal_and_in_label_hex_spaced_or_not(self):
        label = self.theirs.address_hex  # e.g. "42 1F 3B C8 53 00", little-endian
        assert self._found(q=str(self.theirs.address)) == [self.theirs.pk]
        assert self._found(q=label) == [self.theirs.pk]
        assert self._found(q=label.replace(" ", "").lower()) == [self.theirs.pk]
        assert self._found(q=f"0x{self.theirs.address:x}") == [self.theirs.pk]

    def test_hex_bytes_with_digits_only_still_find_the_address(self):
        one = make_collector(1, serial_number="LABEL-ONE")
        assert one.address_hex == "01 00 00 00 00 00"
        assert self._found(q="01 00 00 00 00 00") == [one.pk]
        assert self._found(q="010000000000") == [one.pk]

    def test_serial_number_substring_is_found(self):
        assert self._found(q="N3604020") == [self.theirs.pk]
        assert self._found(q="nothing-like-it") == []

    def test_filters_by_status_line_and_customer_name(self):
        assert self._found(status="in_stock") == [self.stock.pk]
        assert self._found(line="cellular") == [self.theirs.pk]
        assert self._found(customer="浔阳") == [self.theirs.pk]
        assert self._found(customer="滕王阁", status="installed") == [self.mine.pk]

    def test_a_page_holds_fifty_rows_and_links_to_the_next(self):
        for n in range(50):
            make_collector(500_000 + n)
        client = self.client_as("engineer")
        first = client.get("/devices/collectors/")
        assert len(first.context["rows"]) == 50
        cursor = first.context["next_cursor"]
        assert f"after={cursor}" in first.content.decode()
        rest = client.get("/devices/collectors/", {"after": cursor}, HTTP_HX_REQUEST="true")
        assert [c.pk for c in rest.context["rows"]] == [self.stock.pk, self.theirs.pk, self.mine.pk]
        assert rest.context["next_cursor"] == ""
        assert "<html" not in rest.content.decode()  # rows only, for the "More" button

    def test_query_count_does_not_grow_with_the_rows(self):
        def count(persona: str) -> int:
            client = self.client_as(persona)
            client.get("/devices/collectors/")  # warm the session
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/devices/collectors/").status_code == 200
            return len(queries)

        few = {p: count(p) for p in ("engineer", "account_manager")}
        site = building(self.own, "二号楼")
        for n in range(12):
            make_collector(700_000 + n, site=site if n % 2 else self.own_site)
        assert {p: count(p) for p in ("engineer", "account_manager")} == few

    def test_shows_status_badge_last_heard_and_warranty(self):
        Collector.objects.filter(pk=self.mine.pk).update(
            status=CollectorStatus.ONLINE, last_seen_at=timezone.now()
        )
        html = self.client_as("engineer").get("/devices/collectors/").content.decode()
        assert "text-bg-success" in html
        assert self.mine.warranty_ends_on is not None
        assert self.mine.warranty_ends_on.strftime("%Y-%m-%d") in html


class CollectorDetailTests(RegistryTestCase):
    def test_viewers_see_their_collectors_and_account_managers_of_others_get_404(self):
        self.assert_access(f"/devices/collectors/{self.mine.pk}/", allowed=VIEWERS)
        self.assert_access(
            f"/devices/collectors/{self.theirs.pk}/",
            allowed=SEE_ALL,
            not_found=["account_manager", "supervisor"],
        )
        self.assert_access(
            f"/devices/collectors/{self.stock.pk}/",
            allowed=SEE_ALL,
            not_found=["account_manager", "supervisor"],
        )

    def test_shows_address_in_decimal_and_hex_systems_history_and_events(self):
        system, points = make_points(self.mine, list(self.own_site.floors.all()), per_floor=3)
        now = timezone.now()
        DeviceEvent.objects.create(
            collector=self.mine,
            kind=EventKind.FIRE,
            point=points[0],
            description="一层走廊火警",
            occurred_at=now,
            received_at=now,
        )
        page = self.client_as("monitoring").get(f"/devices/collectors/{self.mine.pk}/")
        html = page.content.decode()
        assert "360102000001" in html and self.mine.address_hex in html
        assert page.context["systems"][0]["type_name"] == "火灾报警系统"
        assert page.context["systems"][0]["points"] == 6
        assert f"/customers/{self.own.pk}/" in html
        assert [r.action for r in page.context["registrations"]] == [RegistrationAction.REGISTERED]
        assert "一层走廊火警" in html
        # Monitoring may not change the collector: no edit, install or remove links.
        assert f"/devices/collectors/{self.mine.pk}/edit/" not in html
        assert f"/devices/systems/{system.pk}/edit/" not in html

    def test_engineer_gets_the_links_to_change_it(self):
        system, _points = make_points(self.mine, list(self.own_site.floors.all()))
        html = self.client_as("engineer").get(f"/devices/collectors/{self.mine.pk}/").content
        text = html.decode()
        for link in ("edit/", "install/", "remove/", "systems/new/"):
            assert f"/devices/collectors/{self.mine.pk}/{link}" in text
        assert f"/devices/systems/{system.pk}/edit/" in text

    def test_only_the_twenty_latest_events_are_listed(self):
        now = timezone.now()
        DeviceEvent.objects.bulk_create(
            DeviceEvent(
                collector=self.mine,
                kind=EventKind.FAULT,
                description=f"故障{n}",
                occurred_at=now,
                received_at=now,
            )
            for n in range(25)
        )
        page = self.client_as("engineer").get(f"/devices/collectors/{self.mine.pk}/")
        assert [e.description for e in page.context["events"]][:2] == ["故障24", "故障23"]
        assert len(page.context["events"]) == 20


class CollectorFormTests(RegistryTestCase):
    def _post(self, persona: str = "engineer", url: str = "/devices/collectors/new/", **data):
        payload = {
            "address": "360102000099",
            "serial_number": "GJ-2026-0099",
            "line": "broadband",
            "heartbeat_seconds": "60",
            **data,
        }
        return self.client_as(persona).post(url, payload)

    def test_registrars_may_open_the_forms_and_others_may_not(self):
        self.assert_access("/devices/collectors/new/", allowed=REGISTRARS)
        self.assert_access(f"/devices/collectors/{self.mine.pk}/edit/", allowed=REGISTRARS)

    def test_engineer_registers_a_collector_in_stock_from_label_hex(self):
        response = self._post(address="63 00 00 00 00 00", manufacturer="洪都消防电子")
        collector = Collector.objects.get(serial_number="GJ-2026-0099")
        assert response.status_code == 302
        assert response["Location"] == f"/devices/collectors/{collector.pk}/"
        assert collector.address == 0x63
        assert collector.status == CollectorStatus.IN_STOCK

    def test_address_in_decimal_is_taken_as_it_is(self):
        self._post(address=" 360102000099 ")
        assert Collector.objects.get(serial_number="GJ-2026-0099").address == 360102000099

    def test_a_bad_address_is_explained_next_to_the_field_in_chinese(self):
        response = self._post(address="12 34 zz")
        errors = response.context["form"].errors
        assert "01 00 00 00 00 00" in errors["address"][0]  # says which forms are accepted
        assert not Collector.objects.filter(serial_number="GJ-2026-0099").exists()
        too_big = self._post(address=str(2**48))
        assert "address" in too_big.context["form"].errors

    def test_a_duplicate_address_or_serial_is_refused_with_a_clear_error(self):
        response = self._post(address=str(self.mine.address), serial_number=self.mine.serial_number)
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert "已存在" in str(errors["address"]) and "已存在" in str(errors["serial_number"])
        client = self.client_as("engineer")
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        english = client.post(
            "/devices/collectors/new/",
            {
                "address": self.mine.address_hex,
                "serial_number": "NEW-1",
                "line": "broadband",
                "heartbeat_seconds": "60",
            },
        )
        assert "already exists" in str(english.context["form"].errors["address"])
        assert Collector.objects.count() == 3

    def test_editing_changes_the_details_and_keeps_the_installation(self):
        url = f"/devices/collectors/{self.mine.pk}/edit/"
        form = self.client_as("netadmin").get(url).context["form"]
        assert form.initial["address"] == "360102000001"
        response = self._post(
            "netadmin",
            url,
            address="360102000001",
            serial_number="SN-RENAMED",
            line="cellular",
            iccid="8986 0412 3456 7890 1234",
        )
        assert response.status_code == 302
        self.mine.refresh_from_db()
        assert (self.mine.serial_number, self.mine.line) == ("SN-RENAMED", "cellular")
        assert self.mine.iccid == "89860412345678901234"
        assert self.mine.customer_id == self.own.pk

    def test_editing_to_another_collectors_address_is_refused(self):
        response = self._post(
            url=f"/devices/collectors/{self.mine.pk}/edit/",
            address=str(self.theirs.address),
            serial_number=self.mine.serial_number,
        )
        assert "address" in response.context["form"].errors
        self.mine.refresh_from_db()
        assert self.mine.address == 360_102_000_001


class InstallTests(RegistryTestCase):
    def test_registrars_may_install_and_others_may_not(self):
        self.assert_access(f"/devices/collectors/{self.stock.pk}/install/", allowed=REGISTRARS)
        self.assert_access(
            f"/devices/collectors/install/?customer={self.own.pk}", allowed=REGISTRARS
        )

    def test_install_from_the_customer_page_records_the_registration(self):
        client = self.client_as("engineer")
        profile = client.get(f"/customers/{self.own.pk}/").content.decode()
        start = f"/devices/collectors/install/?customer={self.own.pk}"
        assert start in profile
        picker = client.get(start)
        assert [c.pk for c in picker.context["collectors"]] == [self.stock.pk]
        install = f"/devices/collectors/{self.stock.pk}/install/?customer={self.own.pk}"
        assert install in picker.content.decode()
        form = client.get(install).context["form"]
        assert list(form.fields["site"].queryset) == [self.own_site]
        response = client.post(
            install,
            {
                "customer": self.own.pk,
                "site": self.own_site.pk,
                "location": " 一层消防控制室 ",
                "installed_on": "2026-01-15",
                "note": "入网安装",
            },
        )
        assert response.status_code == 302
        self.stock.refresh_from_db()
        assert (self.stock.customer_id, self.stock.site_id) == (self.own.pk, self.own_site.pk)
        assert self.stock.location == "一层消防控制室"
        assert self.stock.status == CollectorStatus.INSTALLED
        assert str(self.stock.warranty_ends_on) == "2027-01-15"
        record = CollectorRegistration.objects.get(collector=self.stock)
        assert (record.action, record.note, record.by) == (
            RegistrationAction.REGISTERED,
            "入网安装",
            self.users["engineer"],
        )
        detail = client.get(f"/devices/collectors/{self.stock.pk}/").content.decode()
        assert "入网安装" in detail and "一层消防控制室" in detail

    def test_the_stock_picker_finds_a_collector_by_label_hex(self):
        make_collector(360_100_000_004)
        response = self.client_as("netadmin").get(
            "/devices/collectors/install/",
            {"customer": self.own.pk, "q": self.stock.address_hex},
            HTTP_HX_REQUEST="true",
        )
        assert [c.pk for c in response.context["collectors"]] == [self.stock.pk]

    def test_customer_lookup_offers_at_most_twenty_visible_matches(self):
        for n in range(25):
            make_customer(f"青山湖商场{n}号", self.regions["360102"])
        response = self.client_as("engineer").get(
            f"/devices/collectors/{self.stock.pk}/install/",
            {"q": "青山湖商场"},
            HTTP_HX_REQUEST="true",
        )
        assert len(response.context["matches"]) == 20
        assert "<html" not in response.content.decode()
        by_number = self.client_as("engineer").get(
            f"/devices/collectors/{self.stock.pk}/install/", {"q": str(self.other.pk)}
        )
        assert by_number.context["matches"][0] == self.other

    def test_moving_a_collector_is_recorded_as_a_move(self):
        url = f"/devices/collectors/{self.mine.pk}/install/?customer={self.other.pk}"
        self.client_as("engineer").post(
            url,
            {"customer": self.other.pk, "site": self.other_site.pk, "location": "二层弱电间"},
        )
        self.mine.refresh_from_db()
        assert self.mine.customer_id == self.other.pk
        actions = list(self.mine.registrations.values_list("action", flat=True))
        assert actions == [RegistrationAction.MOVED, RegistrationAction.REGISTERED]

    def test_a_site_of_another_customer_is_refused(self):
        url = f"/devices/collectors/{self.stock.pk}/install/?customer={self.own.pk}"
        response = self.client_as("engineer").post(
            url, {"customer": self.own.pk, "site": self.other_site.pk, "location": "机房"}
        )
        assert "site" in response.context["form"].errors
        self.stock.refresh_from_db()
        assert self.stock.customer_id is None
        assert not CollectorRegistration.objects.filter(collector=self.stock).exists()

    def test_an_unknown_customer_asks_to_find_one_again(self):
        response = self.client_as("engineer").get(
            f"/devices/collectors/{self.stock.pk}/install/?customer=999999"
        )
        assert response.context["customer"] is None and response.context["customer_missing"]

    def test_a_retired_collector_cannot_be_installed(self):
        services.collector_remove(actor=None, collector=self.stock, retire=True)
        url = f"/devices/collectors/{self.stock.pk}/install/?customer={self.own.pk}"
        response = self.client_as("engineer").post(
            url, {"customer": self.own.pk, "site": self.own_site.pk, "location": "机房"}
        )
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        self.stock.refresh_from_db()
        assert self.stock.customer_id is None


class RemoveTests(RegistryTestCase):
    def test_registrars_may_remove_and_others_may_not(self):
        self.assert_access(f"/devices/collectors/{self.mine.pk}/remove/", allowed=REGISTRARS)

    def test_removing_needs_a_confirmation(self):
        url = f"/devices/collectors/{self.mine.pk}/remove/"
        response = self.client_as("engineer").post(url, {"note": "客户退网"})
        assert "confirm" in response.context["form"].errors
        self.mine.refresh_from_db()
        assert self.mine.customer_id == self.own.pk

    def test_removed_collector_is_back_in_stock_with_the_removal_recorded(self):
        url = f"/devices/collectors/{self.mine.pk}/remove/"
        response = self.client_as("netadmin").post(url, {"note": "客户退网", "confirm": "on"})
        assert response.status_code == 302
        self.mine.refresh_from_db()
        assert (self.mine.status, self.mine.customer_id) == (CollectorStatus.IN_STOCK, None)
        removal = self.mine.registrations.first()
        assert removal is not None
        assert (removal.action, removal.customer_id, removal.note) == (
            RegistrationAction.REMOVED,
            self.own.pk,
            "客户退网",
        )

    def test_retired_collector_leaves_service_for_good(self):
        url = f"/devices/collectors/{self.mine.pk}/remove/"
        self.client_as("engineer").post(url, {"retire": "on", "confirm": "on"})
        self.mine.refresh_from_db()
        assert self.mine.status == CollectorStatus.RETIRED
        again = self.client_as("engineer").post(url, {"retire": "on", "confirm": "on"})
        assert again.status_code == 200 and again.context["retired"]
        assert self.mine.registrations.count() == 2  # registered, retired

    def test_a_collector_in_stock_can_only_be_retired(self):
        url = f"/devices/collectors/{self.stock.pk}/remove/"
        response = self.client_as("engineer").post(url, {"confirm": "on"})
        assert "retire" in response.context["form"].errors
        self.stock.refresh_from_db()
        assert self.stock.status == CollectorStatus.IN_STOCK


class FireSystemTests(RegistryTestCase):
    def test_point_table_editors_may_add_and_edit_systems(self):
        system = services.fire_system_save(
            actor=None, collector=self.mine, data={"system_type": 1, "system_address": 1}
        )
        self.assert_access(
            f"/devices/collectors/{self.mine.pk}/systems/new/", allowed=POINT_EDITORS
        )
        self.assert_access(f"/devices/systems/{system.pk}/edit/", allowed=POINT_EDITORS)

    def test_system_type_is_offered_with_its_chinese_name(self):
        page = self.client_as("technical").get(f"/devices/collectors/{self.mine.pk}/systems/new/")
        html = page.content.decode()
        assert '<option value="1" selected>1 火灾报警系统</option>' in html
        assert "24 消防电话" in html

    def test_technician_adds_a_fire_system(self):
        url = f"/devices/collectors/{self.mine.pk}/systems/new/"
        data = {
            "system_type": "1",
            "system_address": "2",
            "brand": "海湾",
            "panel_model": "JB-QB-GST200",
            "address_scheme": "decimal_1000",
        }
        response = self.client_as("technical").post(url, data)
        assert response.status_code == 302
        system = FireSystem.objects.get(collector=self.mine)
        assert (system.system_address, system.brand, system.address_scheme) == (
            2,
            "海湾",
            "decimal_1000",
        )
        duplicate = self.client_as("technical").post(url, data)
        assert duplicate.status_code == 200
        assert duplicate.context["form"].non_field_errors()
        assert FireSystem.objects.filter(collector=self.mine).count() == 1

    def test_address_beyond_255_is_refused(self):
        response = self.client_as("engineer").post(
            f"/devices/collectors/{self.mine.pk}/systems/new/",
            {"system_type": "1", "system_address": "256", "address_scheme": "hi16_lo16"},
        )
        assert "system_address" in response.context["form"].errors

    def test_changing_the_address_scheme_resplits_the_points(self):
        system, points = make_points(self.mine, list(self.own_site.floors.all()), per_floor=1)
        response = self.client_as("engineer").post(
            f"/devices/systems/{system.pk}/edit/",
            {"system_type": "1", "system_address": "1", "address_scheme": "none"},
        )
        assert response.status_code == 302
        points[0].refresh_from_db()
        assert points[0].loop is None and points[0].number == points[0].component_address

    def test_an_unknown_system_is_not_found(self):
        assert self.client_as("technical").get("/devices/systems/999999/edit/").status_code == 404


class CustomerPageTests(RegistryTestCase):
    def test_customer_page_lists_its_collectors(self):
        html = self.client_as("account_manager").get(f"/customers/{self.own.pk}/").content.decode()
        assert 'id="rw-collectors"' in html
        assert f"/devices/collectors/{self.mine.pk}/" in html
        assert self.mine.serial_number in html and "360102000001" in html
        assert self.theirs.serial_number not in html
        assert "/devices/collectors/install/" not in html  # may not install

    def test_users_who_may_not_see_collectors_get_no_collectors_card(self):
        page = self.client_as("procurement").get(f"/customers/{self.own.pk}/")
        assert page.status_code == 200
        assert 'id="rw-collectors"' not in page.content.decode()
        assert page.context.get("collectors") is None

    def test_registrars_get_the_install_link(self):
        html = self.client_as("netadmin").get(f"/customers/{self.own.pk}/").content.decode()
        assert f"/devices/collectors/install/?customer={self.own.pk}" in html
