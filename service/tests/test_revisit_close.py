"""Closing a scheduled revisit: done with a note, or cancelled with a reason; never twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from service import services
from service.models import RevisitStatus, ScheduledRevisit
from service.tests.factories import make_plan


class RevisitCloseTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("回访客户", make_regions()["360102"])
        cls.plan = make_plan(cls.customer, dt.date(2026, 3, 1))

    def first(self) -> ScheduledRevisit:
        return self.plan.revisits.select_related("customer").order_by("due_on").first()

    def test_an_engineer_records_the_revisit_as_done_with_a_note(self):
        engineer = self.users["engineer"]
        revisit = services.revisit_complete(
            actor=engineer, revisit=self.first(), note="  客户反馈设备运行正常  "
        )
        revisit.refresh_from_db()
        assert revisit.status == RevisitStatus.DONE
        assert revisit.note == "客户反馈设备运行正常"
        assert revisit.done_by == engineer and revisit.done_at is not None
        entry = AuditEntry.objects.get(action="revisit.complete")
        assert entry.actor_username == "engineer" and entry.object_id == str(revisit.pk)
        assert entry.changes["status"] == ["planned", "done"]

    def test_a_revisit_is_done_without_a_note_too(self):
        revisit = services.revisit_complete(actor=self.users["engineer"], revisit=self.first())
        assert revisit.status == RevisitStatus.DONE and revisit.note == ""

    def test_cancelling_needs_a_reason_and_keeps_it(self):
        revisit = self.first()
        with pytest.raises(ValidationError) as exc:
            services.revisit_cancel(actor=self.users["engineer"], revisit=revisit, reason="  ")
        assert "reason" in exc.value.message_dict
        assert ScheduledRevisit.objects.get(pk=revisit.pk).status == RevisitStatus.PLANNED
        services.revisit_cancel(actor=self.users["engineer"], revisit=revisit, reason="客户停业")
        revisit.refresh_from_db()
        assert (revisit.status, revisit.note) == (RevisitStatus.CANCELLED, "客户停业")
        assert revisit.done_by == self.users["engineer"]
        assert AuditEntry.objects.filter(action="revisit.cancel", object_id=revisit.pk).exists()

    def test_a_closed_revisit_can_be_neither_completed_nor_cancelled_again(self):
        revisit = self.first()
        services.revisit_complete(actor=None, revisit=revisit, note="已回访")
        for close in (
            lambda r: services.revisit_complete(actor=None, revisit=r, note="再次"),
            lambda r: services.revisit_cancel(actor=None, revisit=r, reason="再次"),
        ):
            stale = ScheduledRevisit.objects.select_related("customer").get(pk=revisit.pk)
            stale.status = RevisitStatus.PLANNED  # a page loaded before it was closed
            with pytest.raises(ValidationError):
                close(stale)
        revisit.refresh_from_db()
        assert (revisit.status, revisit.note) == (RevisitStatus.DONE, "已回访")
        assert AuditEntry.objects.filter(action__startswith="revisit.").count() == 1

    def test_users_who_only_view_revisits_may_not_close_them(self):
        for persona in ("agent", "director", "market_manager"):
            with pytest.raises(PermissionDenied):
                services.revisit_complete(actor=self.users[persona], revisit=self.first())
        assert self.first().status == RevisitStatus.PLANNED

    def test_a_supervisor_may_not_close_revisits_of_customers_outside_their_department(self):
        with pytest.raises(PermissionDenied):
            services.revisit_cancel(
                actor=self.users["supervisor"], revisit=self.first(), reason="不是我的客户"
            )
