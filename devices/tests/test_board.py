"""The alarm board (监控台): who watches it, what it lists live, and handling an event."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devices import gb26875 as gb
from devices import services
from devices.board_services import BOARD_LIMIT, event_handle
from devices.models import DeviceEvent, EventKind, Verdict
from devices.simulator import FAULT, FIRE, NORMAL
from devices.tests.factories import make_building, make_collector, make_points
from ruwang.testing import PersonaTestCase

BOARD = reverse("devices:board")
ROWS = reverse("devices:board_rows")
_serials = itertools.count(1)


def ingest(
    collector: Any,
    *,
    component: int,
    status: int = FIRE | NORMAL,
    description: str = "一层走廊",
) -> DeviceEvent:
    """One component-status frame from `collector`, stored as the gateway stores it."""
    now = timezone.localtime().replace(tzinfo=None, microsecond=0)
    obj = gb.ComponentStatus(
        system_type=1,
        system_address=1,
        component_type=40,
        component_address=component,
        status=status,
        description=description,
        occurred_at=now,
    )
    raw = gb.encode_frame(
        command=gb.Command.SEND_DATA,
        adu=gb.Adu(gb.InfoType.COMPONENT_STATUS, (obj,)),
        serial=next(_serials) % 65536,
        source=collector.address,
        destination=0,
        sent_at=now,
    )
    services.frames_ingest(
        [services.Incoming(collector.pk, gb.decode_frame(raw), raw, timezone.now())]
    )
    return DeviceEvent.objects.latest("id")


class BoardTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, cls.site, cls.floors = make_building()
        cls.collector = make_collector(site=cls.site)
        cls.system, cls.points = make_points(cls.collector, cls.floors)
        # The first point is placed on its floor's plan; the second is not.
        cls.placed = services.point_save(
            actor=None, system=cls.system, point=cls.points[0], data={"x": 0.25, "y": 0.5}
        )
        cls.unplaced = cls.points[1]

    def fire(self, point: Any = None) -> DeviceEvent:
        return ingest(self.collector, component=(point or self.placed).component_address)

    def offline(self) -> DeviceEvent:
        """The collector is heard from (a heartbeat), then falls silent for an hour."""
        now = timezone.localtime().replace(tzinfo=None, microsecond=0)
        beat = gb.heartbeat(source=self.collector.address, destination=0, serial=0, sent_at=now)
        services.frames_ingest(
            [services.Incoming(self.collector.pk, gb.decode_frame(beat), beat, timezone.now())]
        )
        services.collectors_mark_offline(timezone.now() + timedelta(hours=1))
        return DeviceEvent.objects.get(kind=EventKind.OFFLINE, handled_at=None)

    def handle(self, event: DeviceEvent, verdict: str = Verdict.TEST, notes: str = "") -> Any:
        return self.client_as("monitoring").post(
            reverse("devices:event_handle", args=[event.pk]), {"verdict": verdict, "notes": notes}
        )


class BoardAccessTests(BoardTestCase):
    def test_monitoring_network_admins_and_the_director_watch_the_board(self) -> None:
        self.fire()
        for url in (BOARD, ROWS):
            self.assert_access(url, allowed=["monitoring", "netadmin", "director"])

    def test_an_account_manager_does_not_see_the_board_or_its_events(self) -> None:
        event = self.fire()
        client = self.client_as("account_manager")
        assert client.get(BOARD).status_code == 403
        assert client.get(reverse("devices:event", args=[event.pk])).status_code == 403

    def test_event_page_is_for_the_board_watchers(self) -> None:
        event = self.fire()
        self.assert_access(
            reverse("devices:event", args=[event.pk]),
            allowed=["monitoring", "netadmin", "director"],
        )

    def test_only_monitoring_operators_may_open_the_handling_form(self) -> None:
        event = self.fire()
        self.assert_access(reverse("devices:event_handle", args=[event.pk]), allowed=["monitoring"])

    def test_only_monitoring_operators_may_handle_the_director_and_netadmin_may_not(self) -> None:
        event = self.fire()
        self.assert_access(
            reverse("devices:event_handle", args=[event.pk]),
            allowed=["monitoring"],
            method="post",
            data={"verdict": Verdict.TEST, "notes": ""},
            ok_status=(302,),
        )
        event.refresh_from_db()
        assert event.handled_by == self.users["monitoring"]

    def test_an_unknown_event_is_not_found(self) -> None:
        response = self.client_as("monitoring").get(reverse("devices:event", args=[999_999]))
        assert response.status_code == 404

    def test_the_service_refuses_an_actor_without_the_permission(self) -> None:
        event = self.fire()
        with self.assertRaises(PermissionDenied):
            event_handle(actor=self.users["director"], event=event, verdict="test", notes="")
        event.refresh_from_db()
        assert event.handled_at is None


class BoardListTests(BoardTestCase):
    def test_the_board_lists_open_fire_alarms_with_customer_building_floor_and_location(
        self,
    ) -> None:
        self.fire()
        body = self.client_as("monitoring").get(BOARD).content.decode()
        assert self.customer.name in body
        assert self.site.name in body
        assert self.placed.floor.name in body
        assert self.placed.location in body
        assert "感烟火灾探测器" in body  # component type 40
        assert self.collector.serial_number in body
        assert 'class="rw-board-row rw-board-fire' in body

    def test_the_rows_partial_shows_a_new_fire_alarm_and_flashes_it(self) -> None:
        client = self.client_as("monitoring")
        first = client.get(BOARD).content.decode()
        assert "rw-board-empty" in first
        assert f"{ROWS}?tab=open&amp;since=0" in first  # the page polls from "nothing seen"
        event = self.fire()
        rows = client.get(ROWS, {"tab": "open", "since": "0"}, headers={"HX-Request": "true"})
        body = rows.content.decode()
        assert f'data-id="{event.pk}"' in body
        assert "rw-board-new" in body
        assert 'id="rw-board-counts"' in body and 'hx-swap-oob="true"' in body
        assert f"since={event.pk}" in body  # the next poll does not flash it again
        again = client.get(ROWS, {"tab": "open", "since": str(event.pk)}).content.decode()
        assert f'data-id="{event.pk}"' in again and "rw-board-new" not in again

    def test_the_first_page_load_flashes_nothing(self) -> None:
        self.fire()
        assert "rw-board-new" not in self.client_as("monitoring").get(BOARD).content.decode()

    def test_counters_show_open_events_per_kind(self) -> None:
        self.fire()
        self.fire(self.unplaced)
        ingest(self.collector, component=self.unplaced.component_address, status=FAULT | NORMAL)
        handled = self.fire()
        self.handle(handled)
        self.offline()
        response = self.client_as("monitoring").get(ROWS)
        counts = {c["kind"]: c["n"] for c in response.context["counts"]}
        assert counts == {EventKind.FIRE: 2, EventKind.FAULT: 1, EventKind.OFFLINE: 1}

    def test_newest_first_and_unknown_points_show_their_description_with_a_badge(self) -> None:
        older = self.fire()
        stranger = ingest(self.collector, component=(9 << 16) | 999, description="地下车库 B 区")
        response = self.client_as("monitoring").get(BOARD)
        assert [r.event.pk for r in response.context["rows"]] == [stranger.pk, older.pk]
        body = response.content.decode()
        assert "地下车库 B 区" in body
        assert body.count("rw-unknown-point") == 1

    def test_filters_by_kind(self) -> None:
        fire = self.fire()
        fault = ingest(
            self.collector, component=self.placed.component_address, status=FAULT | NORMAL
        )
        offline = self.offline()
        client = self.client_as("monitoring")
        shown = {
            kind: [r.event.pk for r in client.get(BOARD, {"kind": kind}).context["rows"]]
            for kind in ("fire", "fault", "offline", "")
        }
        assert shown["fire"] == [fire.pk]
        assert shown["fault"] == [fault.pk]
        assert shown["offline"] == [offline.pk]
        assert shown[""] == [offline.pk, fault.pk, fire.pk]

    def test_open_handled_today_and_recent_tabs(self) -> None:
        older = self.fire()
        newer = self.fire(self.unplaced)
        self.handle(newer, Verdict.FALSE, "探测器积尘，已清洁")
        client = self.client_as("monitoring")

        def shown(tab: str) -> list[int]:
            return [r.event.pk for r in client.get(BOARD, {"tab": tab}).context["rows"]]

        assert shown("open") == [older.pk]
        assert shown("handled") == [newer.pk]
        assert shown("recent") == [newer.pk, older.pk]
        self.handle(older)
        assert shown("open") == []
        assert shown("handled") == [older.pk, newer.pk]  # most recently handled first
        row = client.get(BOARD, {"tab": "handled"}).context["rows"][1]
        assert row.event.verdict == Verdict.FALSE and row.event.handled_by is not None

    def test_events_handled_before_today_are_not_under_handled_today(self) -> None:
        handled = self.fire()
        self.handle(handled)
        DeviceEvent.objects.filter(pk=handled.pk).update(
            handled_at=timezone.now() - timedelta(days=2)
        )
        rows = self.client_as("monitoring").get(BOARD, {"tab": "handled"}).context["rows"]
        assert rows == []

    def test_normal_and_other_events_never_reach_the_board(self) -> None:
        ingest(self.collector, component=self.placed.component_address, status=NORMAL)
        for tab in ("open", "recent"):
            assert self.client_as("monitoring").get(BOARD, {"tab": tab}).context["rows"] == []

    def test_the_list_is_capped_with_a_more_indication(self) -> None:
        now = timezone.now()
        DeviceEvent.objects.bulk_create(
            DeviceEvent(
                collector=self.collector,
                kind=EventKind.FAULT,
                occurred_at=now,
                received_at=now,
                description=f"故障 {n}",
            )
            for n in range(BOARD_LIMIT + 1)
        )
        response = self.client_as("monitoring").get(BOARD)
        assert len(response.context["rows"]) == BOARD_LIMIT
        assert 'id="rw-board-more"' in response.content.decode()
        assert {c["kind"]: c["n"] for c in response.context["counts"]}["fault"] == BOARD_LIMIT + 1

    def test_query_count_is_constant_whatever_the_number_of_rows(self) -> None:
        client = self.client_as("monitoring")
        self.fire()
        client.get(ROWS)  # session and caches warmed

        def queries() -> int:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(ROWS).status_code == 200
            return len(ctx.captured_queries)

        one = queries()
        for point in self.points:
            self.fire(point)
        ingest(self.collector, component=(9 << 16) | 1, status=FAULT | NORMAL)
        self.handle(self.fire())
        self.offline()
        assert len(client.get(ROWS).context["rows"]) >= 8
        with self.assertNumQueries(one):
            client.get(ROWS)
        for tab in ("recent", "handled"):
            with CaptureQueriesContext(connection) as ctx:
                client.get(BOARD, {"tab": tab})
            many = len(ctx.captured_queries)
            with self.assertNumQueries(many):
                client.get(BOARD, {"tab": tab, "kind": "offline"})  # one row

    def test_locate_link_only_for_points_placed_on_a_plan(self) -> None:
        placed = self.fire(self.placed)
        unplaced = self.fire(self.unplaced)
        stranger = ingest(self.collector, component=(9 << 16) | 7)
        rows = {r.event.pk: r for r in self.client_as("monitoring").get(BOARD).context["rows"]}
        plan = reverse("devices:plan_editor", args=[self.placed.floor_id])
        assert rows[placed.pk].locate_url == f"{plan}?highlight={self.placed.pk}"
        assert rows[unplaced.pk].locate_url == ""
        assert rows[stranger.pk].locate_url == ""
        body = self.client_as("monitoring").get(BOARD).content.decode()
        assert body.count("rw-board-locate") == 1


class EventHandleTests(BoardTestCase):
    def test_each_verdict_is_recorded_and_audited(self) -> None:
        notes = {
            Verdict.REAL: "确认起火，已报 119",
            Verdict.FALSE: "误报：厨房油烟",
            Verdict.TEST: "",
        }
        for verdict, text in notes.items():
            event = self.fire()
            response = self.handle(event, verdict, text)
            assert response.status_code == 302 and response["Location"] == BOARD
            event.refresh_from_db()
            assert event.verdict == verdict
            assert event.notes == text
            assert event.handled_by == self.users["monitoring"]
            assert event.handled_at is not None
            entry = AuditEntry.objects.get(action="event.handle", object_id=str(event.pk))
            assert entry.actor_username == "monitoring"
            assert entry.changes["verdict"] == ["", verdict]

    def test_an_offline_collector_is_acknowledged_like_an_alarm(self) -> None:
        event = self.offline()
        assert self.handle(event, Verdict.REAL, "光猫断电，已联系客户").status_code == 302
        event.refresh_from_db()
        assert event.verdict == Verdict.REAL

    def test_an_event_is_handled_only_once(self) -> None:
        event = self.fire()
        self.handle(event, Verdict.FALSE, "误报")
        response = self.handle(event, Verdict.REAL, "second opinion")
        assert response.status_code == 200
        assert "monitoring" in " ".join(response.context["form"].non_field_errors())
        event.refresh_from_db()
        assert event.verdict == Verdict.FALSE and event.notes == "误报"
        assert AuditEntry.objects.filter(action="event.handle").count() == 1
        with self.assertRaises(ValidationError):
            event_handle(actor=self.users["monitoring"], event=event, verdict="test", notes="")

    def test_notes_are_required_for_real_fires_and_false_alarms_not_for_tests(self) -> None:
        for verdict in (Verdict.REAL, Verdict.FALSE):
            event = self.fire()
            response = self.handle(event, verdict, "   ")
            assert response.status_code == 200
            assert response.context["form"].errors["notes"]
            event.refresh_from_db()
            assert event.handled_at is None
        event = self.fire()
        assert self.handle(event, Verdict.TEST, "").status_code == 302

    def test_an_unknown_verdict_is_refused_naming_the_field(self) -> None:
        event = self.fire()
        response = self.handle(event, "maybe", "hmm")
        assert response.context["form"].errors["verdict"]
        event.refresh_from_db()
        assert event.handled_at is None

    def test_only_board_events_are_handled(self) -> None:
        normal = ingest(self.collector, component=self.placed.component_address, status=NORMAL)
        with self.assertRaises(ValidationError):
            event_handle(actor=self.users["monitoring"], event=normal, verdict="test", notes="")

    def test_handling_from_the_board_modal_refreshes_the_board(self) -> None:
        event = self.fire()
        client = self.client_as("monitoring")
        url = reverse("devices:event_handle", args=[event.pk])
        form = client.get(url, headers={"HX-Request": "true"})
        assert 'hx-post="' + url in form.content.decode()
        assert "<html" not in form.content.decode()
        done = client.post(
            url, {"verdict": Verdict.TEST, "notes": ""}, headers={"HX-Request": "true"}
        )
        assert done.status_code == 200 and done["HX-Trigger"] == "rw-board-refresh"
        assert 'id="rw-handle-done"' in done.content.decode()
        assert client.get(ROWS).context["rows"] == []

    def test_handling_from_the_event_page_returns_there(self) -> None:
        event = self.fire()
        page = reverse("devices:event", args=[event.pk])
        response = self.client_as("monitoring").post(
            reverse("devices:event_handle", args=[event.pk]),
            {"verdict": Verdict.TEST, "notes": "", "next": page},
        )
        assert response["Location"] == page
        outside = self.fire()
        response = self.client_as("monitoring").post(
            reverse("devices:event_handle", args=[outside.pk]),
            {"verdict": Verdict.TEST, "notes": "", "next": "https://evil.example/"},
        )
        assert response["Location"] == BOARD


class EventPageTests(BoardTestCase):
    def test_the_event_page_shows_the_decoded_data_and_the_raw_frame(self) -> None:
        event = self.fire()
        response = self.client_as("monitoring").get(reverse("devices:event", args=[event.pk]))
        body = response.content.decode()
        assert bytes(event.frame.raw).hex(" ").upper() in body
        values = {value for _label, value in response.context["data"]}
        assert "40 感烟火灾探测器" in values
        assert "正常运行状态、火警" in values  # the standard's wording of the status bits
        assert "0x0003" in values
        assert f"{self.placed.component_address} (0x{self.placed.component_address:08X})" in values
        assert "一层走廊" in values

    def test_the_event_page_shows_the_handling_and_its_history(self) -> None:
        event = self.fire()
        self.handle(event, Verdict.FALSE, "误报：施工粉尘")
        body = (
            self.client_as("director").get(reverse("devices:event", args=[event.pk])).content
        ).decode()
        assert "误报：施工粉尘" in body
        assert "event.handle" in body
        assert 'id="rw-handle-form"' not in body

    def test_operators_handle_from_the_event_page_others_only_read_it(self) -> None:
        event = self.fire()
        url = reverse("devices:event", args=[event.pk])
        assert 'id="rw-handle-form"' in self.client_as("monitoring").get(url).content.decode()
        assert 'id="rw-handle-form"' not in self.client_as("netadmin").get(url).content.decode()

    def test_an_offline_event_has_no_frame(self) -> None:
        event = self.offline()
        response = self.client_as("monitoring").get(reverse("devices:event", args=[event.pk]))
        assert response.status_code == 200
        assert response.context["frame"] is None and response.context["data"] == []
