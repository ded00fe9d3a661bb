from datetime import datetime, timedelta

import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from ruwang.testing import PersonaTestCase


class AuditListTests(PersonaTestCase):
    def test_filters_by_user_action_object_and_dates(self):
        day = datetime(2026, 5, 6, 10, 0, tzinfo=timezone.get_current_timezone())
        with time_machine.travel(day, tick=False):
            audit_record(
                actor=self.users["engineer"],
                action="case.approve",
                object_type="workflow.case",
                object_id="7",
            )
        with time_machine.travel(day + timedelta(days=3), tick=False):
            audit_record(
                actor=self.users["market"],
                action="case.approve",
                object_type="workflow.case",
                object_id="8",
            )
        client = self.client_as("auditor")
        by_user = client.get("/audit/", {"username": "engineer", "action": "case."})
        assert [r.object_id for r in by_user.context["rows"]] == ["7"]
        by_object = client.get("/audit/", {"object_type": "workflow.case", "object_id": "8"})
        assert [r.actor_username for r in by_object.context["rows"]] == ["market"]
        by_date = client.get(
            "/audit/", {"action": "case.", "date_from": "2026-05-06", "date_to": "2026-05-06"}
        )
        assert [r.object_id for r in by_date.context["rows"]] == ["7"]

    def test_reversed_date_range_is_explained_in_chinese(self):
        response = self.client_as("auditor").get(
            "/audit/", {"date_from": "2026-05-07", "date_to": "2026-05-01"}
        )
        assert response.status_code == 200
        assert "截止日期早于起始日期" in response.content.decode()
        assert response.context["rows"] == []

    def test_older_entries_load_as_an_htmx_partial_without_counting_the_log(self):
        for i in range(60):
            audit_record(actor=None, action=f"bulk.{i:02d}")
        client = self.client_as("auditor")
        first = client.get("/audit/", {"action": "bulk."})
        assert len(first.context["rows"]) == 50
        cursor = first.context["next_cursor"]
        with self.assertNumQueries(6):  # session, user, device, perms ×2, page
            more = client.get(
                "/audit/", {"action": "bulk.", "before": cursor}, headers={"HX-Request": "true"}
            )
        body = more.content.decode()
        assert "<html" not in body
        assert len(more.context["rows"]) == 10
        assert more.context["next_cursor"] is None

    def test_times_show_their_utc_offset(self):
        page = self.client_as("auditor").get("/audit/").content.decode()
        assert "+08:00" in page

    def test_export_is_a_csv_download_and_is_itself_audited(self):
        client = self.client_as("auditor")
        response = client.get("/audit/export.csv", {"action": "auth."})
        assert response["Content-Disposition"].startswith("attachment;")
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        assert body.splitlines()[0].startswith("id,time,user")
        export = AuditEntry.objects.filter(action="audit.export").latest("id")
        assert export.actor_username == "auditor"
        assert export.changes["filters"][1] == {"action": "auth."}
