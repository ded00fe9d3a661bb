"""Association analysis (关联分析): pairs of ticket kinds, network faults, component types,
collector models and customer categories per customer, with support, confidence and lift."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections import defaultdict
from typing import Any

import time_machine
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from customers.models import Customer
from customers.segments import segment_save
from customers.tests.factories import make_customer
from devices.models import (
    Collector,
    CollectorStatus,
    DeviceEvent,
    EventKind,
    Fault,
    FaultKind,
    FireSystem,
    Point,
)
from insights.association import Filters, Result, association_pairs, association_precompute
from insights.models import AssociationWindow
from ruwang.testing import PersonaTestCase, make_regions
from service.models import Ticket, TicketKind

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
URL = reverse("insights:association")
EXPORT_URL = reverse("insights:association_export")
_numbers = itertools.count(1)
_addresses = itertools.count(1000)


def _at(days_ago: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


def _ticket(customer: Customer, kind: str, days_ago: int) -> Ticket:
    n = next(_numbers)
    return Ticket.objects.create(
        number=f"GD-2026-{n:06d}",
        kind=kind,
        customer=customer,
        subject=f"工单{n}",
        created_at=_at(days_ago),
    )


def _collector(customer: Customer, model: str, status: str = CollectorStatus.ONLINE) -> Collector:
    address = next(_addresses)
    return Collector.objects.create(
        address=address, serial_number=f"SN{address}", customer=customer, model=model, status=status
    )


def _fault(collector: Collector, kind: str, days_ago: int) -> Fault:
    return Fault.objects.create(collector=collector, kind=kind, opened_at=_at(days_ago))


def _event(
    collector: Collector,
    kind: str,
    days_ago: int,
    component_type: int | None,
    point: Point | None = None,
) -> DeviceEvent:
    return DeviceEvent.objects.create(
        collector=collector,
        kind=kind,
        component_type=component_type,
        point=point,
        occurred_at=_at(days_ago),
        received_at=_at(days_ago),
    )


def _baskets(customer_ids: set[int], first: dt.datetime, end: dt.datetime) -> dict[int, set[str]]:
    """The baskets recomputed from raw rows, in Python, independently of the SQL."""
    activity: dict[int, set[str]] = defaultdict(set)
    for ticket in Ticket.objects.all():
        if ticket.customer_id in customer_ids and first <= ticket.created_at < end:
            activity[ticket.customer_id].add(f"ticket:{ticket.kind}")
    for fault in Fault.objects.select_related("collector"):
        cid = fault.collector.customer_id
        if cid in customer_ids and first <= fault.opened_at < end:
            activity[cid].add(f"fault:{fault.kind}")
    for event in DeviceEvent.objects.select_related("collector", "point"):
        cid = event.collector.customer_id
        if cid not in customer_ids or not first <= event.occurred_at < end:
            continue
        if event.kind not in (EventKind.FIRE, EventKind.FAULT):
            continue
        component = event.point.component_type if event.point else event.component_type
        if component is not None:
            activity[cid].add(f"component:{component}")
    baskets = {cid: set(items) for cid, items in activity.items()}
    for customer in Customer.objects.filter(pk__in=list(baskets)):
        baskets[customer.pk].add(f"category:{customer.category}")
    for collector in Collector.objects.filter(customer_id__in=list(baskets)):
        standing = collector.status not in ("in_stock", "retired")
        if collector.model and standing and collector.customer_id is not None:
            baskets[collector.customer_id].add(f"collector:{collector.model}")
    return baskets


def _expected(baskets: dict[int, set[str]], min_support: float) -> dict[frozenset[str], Any]:
    n = len(baskets)
    counts: dict[str, int] = defaultdict(int)
    both: dict[frozenset[str], int] = defaultdict(int)
    for items in baskets.values():
        for item in items:
            counts[item] += 1
        for a, b in itertools.combinations(sorted(items), 2):
            both[frozenset((a, b))] += 1
    expected = {}
    for pair, k in both.items():
        if k / n < min_support:
            continue
        a, b = sorted(pair)
        expected[pair] = {
            "both": k,
            "support": k / n,
            "lift": (k / n) / ((counts[a] / n) * (counts[b] / n)),
            "confidence": {(a, b): k / counts[a], (b, a): k / counts[b]},
        }
    return expected


def _found(result: Result) -> dict[frozenset[str], Any]:
    return {
        frozenset((p.a.key, p.b.key)): {
            "both": p.both,
            "support": p.support,
            "lift": p.lift,
            "confidence": {
                (p.a.key, p.b.key): p.confidence_ab,
                (p.b.key, p.a.key): p.confidence_ba,
            },
        }
        for p in result.pairs
    }


@time_machine.travel(NOW, tick=False)
class AssociationTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        owner = cls.users["account_manager"]  # in the test department
        east, west, lianxi = (cls.regions[c] for c in ("360102", "360103", "360402"))

        def customer(name: str, region: Any, category: str, dept: bool = True) -> Customer:
            # The responsible department follows the owner.
            return make_customer(name, region, owner if dept else None, category=category)

        cls.c1 = customer("甲医院", east, "key_unit")
        cls.c2 = customer("乙商场", east, "key_unit")
        cls.c3 = customer("丙酒店", west, "general")
        cls.c4 = customer("丁学校", lianxi, "general")
        cls.c5 = customer("戊小店", lianxi, "small_venue")
        cls.c6 = customer("己工厂", lianxi, "key_unit", dept=False)

        _ticket(cls.c1, TicketKind.FAULT, 3)
        _ticket(cls.c1, TicketKind.FAULT, 10)  # twice: counted once in the basket
        _ticket(cls.c1, TicketKind.COMPLAINT, 20)
        k1 = _collector(cls.c1, "RW-100")
        _fault(k1, FaultKind.OFFLINE, 5)
        _event(k1, EventKind.FAULT, 5, 40)
        _event(k1, EventKind.NORMAL, 5, 21)  # not an alarm or a fault

        _ticket(cls.c2, TicketKind.FAULT, 30)
        k2 = _collector(cls.c2, "RW-100")
        _fault(k2, FaultKind.OFFLINE, 40)
        system = FireSystem.objects.create(collector=k2, system_type=1)
        point = Point.objects.create(
            system=system, component_address=7, number=7, component_type=23
        )
        # The point table says 23 (manual call point); the frame's own type is overridden.
        _event(k2, EventKind.FIRE, 6, 40, point=point)

        _ticket(cls.c3, TicketKind.COMPLAINT, 2)
        _collector(cls.c3, "RW-200")
        _collector(cls.c3, "RW-900", status=CollectorStatus.RETIRED)

        _ticket(cls.c4, TicketKind.FAULT, 200)  # before the period: no basket
        _collector(cls.c4, "RW-100")

        k5 = _collector(cls.c5, "")
        _event(k5, EventKind.FAULT, 1, 40)
        _ticket(cls.c5, TicketKind.CONSULTATION, 60)

        _ticket(cls.c6, TicketKind.FAULT, 4)
        _ticket(cls.c6, TicketKind.COMPLAINT, 4)
        k6 = _collector(cls.c6, "RW-100")
        _fault(k6, FaultKind.DEVICE, 4)

    def _result(self, persona: str, **params: Any) -> Result:
        response = self.client_as(persona).get(URL, params)
        assert response.status_code == 200
        return response.context["result"]

    def _period(self, days: int = 90) -> tuple[dt.datetime, dt.datetime]:
        today = timezone.localdate(NOW)
        start = timezone.make_aware(
            dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time())
        )
        end = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()))
        return start, end

    def assert_matches(self, result: Result, expected: dict[frozenset[str], Any]) -> None:
        found = _found(result)
        assert set(found) == set(expected)
        for pair, figures in expected.items():
            assert found[pair]["both"] == figures["both"], pair
            self.assertAlmostEqual(found[pair]["support"], figures["support"])
            self.assertAlmostEqual(found[pair]["lift"], figures["lift"])
            for direction, value in figures["confidence"].items():
                self.assertAlmostEqual(found[pair]["confidence"][direction], value)

    def test_support_confidence_and_lift_equal_a_recomputation_from_raw_rows(self) -> None:
        baskets = _baskets({c.pk for c in Customer.objects.all()}, *self._period())
        assert len(baskets) == 5  # 丁学校's only ticket is older than the period
        result = self._result("director", min_support="1")
        assert result.baskets == 5
        self.assert_matches(result, _expected(baskets, 0.01))
        pairs = _found(result)
        # Spot checks by hand: fault tickets at 甲, 乙, 己 (3 of 5); offline faults at 甲, 乙.
        offline = pairs[frozenset({"ticket:fault", "fault:offline"})]
        assert offline["both"] == 2
        self.assertAlmostEqual(offline["lift"], (2 / 5) / ((3 / 5) * (2 / 5)))
        # The point table's component type wins over the frame's.
        assert frozenset({"component:23", "category:key_unit"}) in pairs
        # A retired collector and a normal event are not items.
        assert not any("RW-900" in key or "component:21" in key for key in itertools.chain(*pairs))

    def test_the_analysis_takes_the_same_few_queries_whatever_the_data(self) -> None:
        user = self.users["market_manager"]
        filters = Filters(
            first_day=timezone.localdate(NOW) - dt.timedelta(days=89),
            last_day=timezone.localdate(NOW),
            region=self.regions["360000"],
        )
        association_pairs(user, filters)  # the viewer's scope is then known
        with self.assertNumQueries(2):  # the region's subtree, then one statement
            association_pairs(user, filters, fresh=True)
        for n in range(20):
            _ticket(self.c3, TicketKind.FAULT, n + 1)
            _event(_collector(self.c2, f"RW-{n}"), EventKind.FAULT, n + 1, n + 1)
        with self.assertNumQueries(2):
            result = association_pairs(user, filters, fresh=True)
        assert len(result.pairs) > 20

    def test_pairs_are_sorted_by_lift_highest_first(self) -> None:
        result = self._result("director")
        lifts = [p.lift for p in result.pairs]
        assert lifts == sorted(lifts, reverse=True)
        assert len(lifts) > 5

    def test_a_viewer_counts_only_the_customers_they_may_see(self) -> None:
        # The market manager sees their department's customers; 己工厂 has no department.
        visible = {c.pk for c in (self.c1, self.c2, self.c3, self.c4, self.c5)}
        baskets = _baskets(visible, *self._period())
        result = self._result("market_manager")
        assert result.baskets == 4
        self.assert_matches(result, _expected(baskets, 0.01))
        assert frozenset({"ticket:fault", "fault:device"}) not in _found(result)
        assert frozenset({"ticket:fault", "fault:device"}) in _found(self._result("director"))

    def test_region_filter_keeps_the_whole_subtree_of_the_region(self) -> None:
        nanchang = self.regions["360100"]
        baskets = _baskets({self.c1.pk, self.c2.pk, self.c3.pk}, *self._period())
        result = self._result("director", region=nanchang.pk)
        assert result.baskets == 3
        self.assert_matches(result, _expected(baskets, 0.01))

    def test_a_segment_limits_the_baskets_to_its_customers_the_viewer_may_see(self) -> None:
        segment = segment_save(
            actor=self.users["market_manager"],
            segment=None,
            name="重点单位",
            description="",
            definition={"op": "and", "items": [{"field": "category", "values": ["key_unit"]}]},
            is_shared=True,
        )
        # 己工厂 is a key unit too, but the market manager may not see it.
        baskets = _baskets({self.c1.pk, self.c2.pk}, *self._period())
        result = self._result("market_manager", segment=segment.pk)
        assert result.baskets == 2
        self.assert_matches(result, _expected(baskets, 0.01))

    def _window(self, days: int = 90) -> tuple[dt.datetime, dt.datetime]:
        """The nightly window of `days` full days ending yesterday."""
        today = timezone.localdate(NOW)
        first = today - dt.timedelta(days=days)
        return (
            timezone.make_aware(dt.datetime.combine(first, dt.time())),
            timezone.make_aware(dt.datetime.combine(today, dt.time())),
        )

    def test_preset_periods_come_from_the_nightly_figures_for_viewers_who_see_everyone(
        self,
    ) -> None:
        association_precompute()
        assert set(AssociationWindow.objects.values_list("days", flat=True)) == {30, 90, 180, 365}
        for days in (30, 90, 365):
            baskets = _baskets({c.pk for c in Customer.objects.all()}, *self._window(days))
            result = self._result("director", period=str(days))
            assert result.precomputed
            assert result.last_day == timezone.localdate(NOW) - dt.timedelta(days=1)
            assert result.first_day == result.last_day - dt.timedelta(days=days - 1)
            assert result.baskets == len(baskets)
            self.assert_matches(result, _expected(baskets, 0.01))
        # Districts add up to the region chosen.
        nanchang = self.regions["360100"]
        baskets = _baskets({self.c1.pk, self.c2.pk, self.c3.pk}, *self._window())
        result = self._result("director", region=nanchang.pk, min_support="30")
        assert result.precomputed
        self.assert_matches(result, _expected(baskets, 0.30))
        body = self.client_as("director").get(URL).content.decode()
        assert "每晚预先计算" in body

    def test_a_viewer_with_regions_reads_them_from_the_nightly_figures_and_the_rest_live(
        self,
    ) -> None:
        # The market manager sees the department's customers (甲 … 戊) and, serving 九江, 己工厂.
        manager = self.users["market_manager"]
        manager.regions.add(self.regions["360400"])
        association_precompute()
        everyone = {c.pk for c in (self.c1, self.c2, self.c3, self.c4, self.c5, self.c6)}
        for days in (30, 90, 365):
            baskets = _baskets(everyone, *self._window(days))
            result = self._result("market_manager", period=str(days))
            assert result.precomputed and result.live_part
            assert result.baskets == len(baskets)
            self.assert_matches(result, _expected(baskets, 0.01))
        # Outside the served city only the live part counts; inside it only the stored one.
        nanchang = _baskets({self.c1.pk, self.c2.pk, self.c3.pk}, *self._window())
        result = self._result("market_manager", region=self.regions["360100"].pk)
        assert result.baskets == len(nanchang) == 3
        self.assert_matches(result, _expected(nanchang, 0.01))
        jiujiang = _baskets({self.c5.pk, self.c6.pk, self.c4.pk}, *self._window())
        result = self._result("market_manager", region=self.regions["360400"].pk)
        self.assert_matches(result, _expected(jiujiang, 0.01))
        body = self.client_as("market_manager").get(URL).content.decode()
        assert "每晚预先计算" in body and "您区域以外" in body
        # Without served regions the figures are live, as before.
        manager.regions.clear()
        assert not self._result("market_manager").precomputed

    def test_other_viewers_date_ranges_segments_and_recompute_are_live(self) -> None:
        association_precompute()
        assert not self._result("market_manager").precomputed  # no served regions
        assert not self._result("director", fresh="1").precomputed
        today = timezone.localdate(NOW)
        ranged = self._result(
            "director",
            period="range",
            date_from=str(today - dt.timedelta(days=9)),
            date_to=str(today),
        )
        assert not ranged.precomputed
        # A window not refreshed for days (the nightly run failing) is not used either.
        AssociationWindow.objects.update(last_day=today - dt.timedelta(days=5))
        assert not self._result("director", period="30").precomputed

    def test_figures_computed_from_the_rows_come_in_the_background_while_the_page_polls(
        self,
    ) -> None:
        from unittest import mock

        from insights.tasks import association_task

        today = timezone.localdate(NOW)
        params = {
            "period": "range",
            "date_from": str(today - dt.timedelta(days=59)),
            "date_to": str(today),
        }
        client = self.client_as("director")
        with mock.patch("insights.association_views.association_task") as queued:
            page = client.get(URL, params)
            assert page.context["result"] is None
            body = page.content.decode()
            assert 'id="rw-association-pending"' in body and "part=results" in body
            assert queued.enqueue.call_count == 1
            # Reloading or polling while it runs queues nothing more and keeps waiting.
            client.get(URL, params)
            poll = client.get(URL, {**params, "part": "results"})
            assert queued.enqueue.call_count == 1
            assert 'id="rw-association-pending"' in poll.content.decode()
            assert "<html" not in poll.content.decode()  # the fragment alone
            # The worker computes what the page asked for; the next poll shows it.
            association_task.call(**queued.enqueue.call_args.kwargs)
        poll = client.get(URL, {**params, "part": "results"})
        start = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=59), dt.time()))
        end = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()))
        baskets = _baskets({c.pk for c in Customer.objects.all()}, start, end)
        assert poll.context["result"].baskets == len(baskets)
        self.assert_matches(poll.context["result"], _expected(baskets, 0.01))
        assert 'id="rw-association-pairs"' in poll.content.decode()
        assert "hx-trigger" not in poll.content.decode()  # done: no more polling
        # A computation that died (its mark lapsed, nothing cached) is reported, with a retry.
        association_forget = __import__("insights.association", fromlist=["x"]).association_forget
        filters = Filters(first_day=today - dt.timedelta(days=59), last_day=today, min_support=0.01)
        association_forget(self.users["director"], filters)
        failed = client.get(URL, {**params, "part": "results"})
        assert 'id="rw-association-failed"' in failed.content.decode()
        assert "fresh=1" in failed.content.decode()

    def test_recompute_now_waits_for_new_figures_instead_of_showing_the_old_ones(self) -> None:
        from unittest import mock

        from insights.tasks import association_task

        client = self.client_as("director")
        old = self._result("director")
        assert old.precomputed is False  # no nightly windows in this test: live, cached
        _ticket(self.c3, TicketKind.FAULT, 1)
        with mock.patch("insights.association_views.association_task") as queued:
            page = client.get(URL, {"fresh": "1"})
            assert page.context["result"] is None
            assert queued.enqueue.call_args.kwargs["fresh"] is True
            poll = client.get(URL, {"part": "results"})
            assert poll.context["result"] is None  # not the old figures
            association_task.call(**queued.enqueue.call_args.kwargs)
        new = client.get(URL, {"part": "results"}).context["result"]
        baskets = _baskets({c.pk for c in Customer.objects.all()}, *self._period())
        self.assert_matches(new, _expected(baskets, 0.01))
        assert new.baskets == old.baskets and new.computed_at >= old.computed_at

    def test_the_nightly_run_happens_once_a_day_after_three(self) -> None:
        with time_machine.travel(NOW.replace(hour=2), tick=False):
            assert association_precompute(only_if_due=True) is None
        with time_machine.travel(NOW.replace(hour=4), tick=False):
            first = association_precompute(only_if_due=True)
            assert first is not None and first.windows == 4 and first.rows > 0
            assert association_precompute(only_if_due=True) is None

    def test_minimum_support_drops_pairs_at_too_few_customers(self) -> None:
        baskets = _baskets({c.pk for c in Customer.objects.all()}, *self._period())
        result = self._result("director", min_support="50")
        assert result.min_count == 3
        self.assert_matches(result, _expected(baskets, 0.5))
        assert {p.both for p in result.pairs} == {3}

    def test_a_longer_period_takes_in_older_activity(self) -> None:
        baskets = _baskets({c.pk for c in Customer.objects.all()}, *self._period(365))
        result = self._result("director", period="365")
        assert result.baskets == 6
        self.assert_matches(result, _expected(baskets, 0.01))

    def test_a_date_range_covers_its_first_and_last_day(self) -> None:
        # 4 to 6 days ago: 甲's fault and 乙's alarm (5, 6 days), 己's tickets (4 days).
        first = timezone.localdate(NOW) - dt.timedelta(days=6)
        last = timezone.localdate(NOW) - dt.timedelta(days=4)
        result = self._result(
            "director", period="range", date_from=first.isoformat(), date_to=last.isoformat()
        )
        start = timezone.make_aware(dt.datetime.combine(first, dt.time()))
        end = timezone.make_aware(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
        baskets = _baskets({c.pk for c in Customer.objects.all()}, start, end)
        assert result.baskets == len(baskets) == 3
        self.assert_matches(result, _expected(baskets, 0.01))

    def test_bad_filters_are_named_in_chinese_and_the_defaults_are_used(self) -> None:
        response = self.client_as("director").get(
            URL, {"period": "range", "date_from": "2026-06-10", "date_to": "2026-06-01"}
        )
        assert response.status_code == 200
        assert (
            "最后一天不能早于第一天" in response.content.decode()
            or response.context["form"].errors["date_to"]
        )
        assert response.context["result"].baskets == 5
        response = self.client_as("director").get(URL, {"min_support": "0"})
        assert "min_support" in response.context["form"].errors
        assert 'id="rw-association-invalid"' in response.content.decode()

    def test_the_page_shows_the_definitions_next_to_the_figures(self) -> None:
        body = self.client_as("director").get(URL).content.decode()
        assert "关联分析" in body
        assert "n(A ∧ B) ÷ N" in body
        assert "提升度" in body
        assert "故障" in body

    def test_results_are_kept_for_ten_minutes_unless_recomputed(self) -> None:
        assert self._result("director").baskets == 5
        _ticket(self.c4, TicketKind.FAULT, 1)
        assert self._result("director").baskets == 5
        assert self._result("director", fresh="1").baskets == 6
        with time_machine.travel(NOW + dt.timedelta(minutes=11), tick=False):
            assert self._result("director").baskets == 6

    def test_the_export_holds_the_pairs_of_the_page(self) -> None:
        result = self._result("director", region=self.regions["360100"].pk)
        response = self.client_as("director").get(EXPORT_URL, {"region": self.regions["360100"].pk})
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        workbook = load_workbook(io.BytesIO(response.content), read_only=True)
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
        assert len(rows) == len(result.pairs) + 1
        for row, pair in zip(rows[1:], result.pairs, strict=True):
            assert row[0] == f"{pair.a.family_label}: {pair.a.label}"
            assert row[2] == pair.both
            self.assertAlmostEqual(row[6], pair.lift, places=5)

    def test_only_service_leads_and_managers_may_open_the_analysis(self) -> None:
        allowed = ["market_manager", "director", "supervisor"]
        self.assert_access(URL, allowed=allowed)
        self.assert_access(EXPORT_URL, allowed=allowed)
