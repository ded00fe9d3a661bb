"""The gateway writes a collector's last_seen_at at most once per hold (a quarter of its
heartbeat interval, at most five seconds): frames in between are stored as always, the
collector still goes offline after three silent intervals and comes back with its next frame."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

import time_machine
from django.test import TestCase
from django.utils import timezone

from devices import gb26875 as gb
from devices import services
from devices.models import Collector, CollectorStatus, DeviceEvent, EventKind, ReceivedFrame
from devices.services import Incoming, Outcome, TouchLedger, frames_ingest
from devices.tests.factories import make_building, make_collector

_serials = count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status_frame(collector: Collector) -> Incoming:
    sent = timezone.localtime().replace(tzinfo=None, microsecond=0)
    obj = gb.SystemStatus(system_type=1, system_address=1, status=1, occurred_at=sent)
    raw = gb.encode_frame(
        command=gb.Command.SEND_DATA,
        adu=gb.Adu(gb.InfoType.SYSTEM_STATUS, (obj,)),
        serial=next(_serials),
        source=collector.address,
        destination=0,
        sent_at=sent,
    )
    return Incoming(collector.pk, gb.decode_frame(raw), raw, timezone.now())


class TouchLedgerTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        _customer, site, _floors = make_building()
        cls.collector = make_collector(site=site, heartbeat_seconds=8)  # hold: 2 s
        cls.slow = make_collector(360_102_000_002, site=site, heartbeat_seconds=60)  # hold: 5 s

    def seen(self, collector: Collector) -> datetime | None:
        return Collector.objects.get(pk=collector.pk).last_seen_at

    def test_frames_within_the_hold_are_stored_without_writing_last_seen(self) -> None:
        clock = Clock()
        ledger = TouchLedger(clock)
        assert frames_ingest([status_frame(self.collector)], ledger) == [Outcome.STORED]
        first = self.seen(self.collector)
        assert first is not None
        clock.now += 1.9
        assert frames_ingest([status_frame(self.collector)], ledger) == [Outcome.STORED]
        assert self.seen(self.collector) == first
        assert ReceivedFrame.objects.filter(collector=self.collector).count() == 2
        clock.now += 0.2  # two seconds after the write: a quarter of eight
        frames_ingest([status_frame(self.collector)], ledger)
        assert self.seen(self.collector) != first

    def test_the_hold_is_at_most_five_seconds(self) -> None:
        clock = Clock()
        ledger = TouchLedger(clock)
        frames_ingest([status_frame(self.slow)], ledger)
        first = self.seen(self.slow)
        clock.now += 4.9
        frames_ingest([status_frame(self.slow)], ledger)
        assert self.seen(self.slow) == first
        clock.now += 0.1
        frames_ingest([status_frame(self.slow)], ledger)
        assert self.seen(self.slow) != first

    def test_without_a_ledger_every_batch_writes(self) -> None:
        frames_ingest([status_frame(self.collector)])
        first = self.seen(self.collector)
        frames_ingest([status_frame(self.collector)])
        assert self.seen(self.collector) != first

    def test_an_offline_collector_comes_back_with_its_next_frame(self) -> None:
        clock = Clock()
        ledger = TouchLedger(clock)
        frames_ingest([status_frame(self.collector)], ledger)
        assert Collector.objects.get(pk=self.collector.pk).status == CollectorStatus.ONLINE
        # Three silent intervals (24 s): offline. The ledger's hold (2 s) is long past.
        assert services.collectors_mark_offline(timezone.now() + timedelta(seconds=25)) == [
            self.collector.pk
        ]
        clock.now += 25
        frames_ingest([status_frame(self.collector)], ledger)
        assert Collector.objects.get(pk=self.collector.pk).status == CollectorStatus.ONLINE
        assert DeviceEvent.objects.filter(collector=self.collector, kind=EventKind.ONLINE).exists()

    def test_frames_held_back_never_let_a_busy_collector_look_silent(self) -> None:
        clock = Clock()
        ledger = TouchLedger(clock)
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            # A frame every 0.7 s for a minute: last_seen_at is never more than the hold
            # (2 s) behind, so the collector never looks silent.
            writes = set()
            for _frame in range(86):
                traveller.shift(0.7)
                clock.now += 0.7
                frames_ingest([status_frame(self.collector)], ledger)
                seen = self.seen(self.collector)
                assert seen is not None and timezone.now() - seen <= timedelta(seconds=2)
                writes.add(seen)
                assert services.collectors_mark_offline(timezone.now()) == []
        assert 20 <= len(writes) <= 30  # about one write per hold, not one per frame
