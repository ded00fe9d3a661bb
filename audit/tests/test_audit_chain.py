import re
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts.models import Department
from accounts.services import department_create
from audit.chain import GENESIS_HASH, chain_verify
from audit.models import AppendOnlyError, AuditEntry
from audit.services import audit_record
from ruwang.testing import PersonaTestCase


def _raw_update(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _tamper(sql: str, params: list) -> None:
    """What someone with direct database access could do (the trigger dropped first)."""
    if connection.vendor == "postgresql":
        _raw_update("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only", [])
    _raw_update(sql, params)


class AuditRowTests(PersonaTestCase):
    def test_a_service_write_appends_exactly_one_complete_row(self):
        before = AuditEntry.objects.count()
        department = department_create(
            actor=self.users["sysadmin"], code="fire_training", name="消防培训部"
        )
        rows = list(AuditEntry.objects.order_by("id")[before:])
        assert len(rows) == 1
        row = rows[0]
        assert row.action == "department.create"
        assert row.actor_id == self.users["sysadmin"].pk
        assert row.actor_username == "sysadmin"
        assert row.object_type == "accounts.department"
        assert row.object_id == str(department.pk)
        assert row.object_repr == "消防培训部"
        assert row.changes["name"] == [None, "消防培训部"]
        assert row.outcome == "success"
        assert row.occurred_at.tzinfo is not None
        assert re.fullmatch(r"[0-9a-f]{64}", row.hash)

    def test_a_refused_write_leaves_no_business_row_and_is_audited_as_denied(self):
        client = self.client_as("auditor")
        response = client.post(
            "/admin/accounts/department/add/", {"code": "x", "name": "审计员偷建的部门"}
        )
        assert response.status_code == 403
        assert not Department.objects.filter(code="x").exists()
        denial = AuditEntry.objects.filter(action="access.denied").latest("id")
        assert denial.actor_username == "auditor"
        assert denial.outcome == "denied"
        assert denial.object_repr == "/admin/accounts/department/add/"

    def test_the_ip_address_of_the_request_is_recorded(self):
        self.client_as("sysadmin").post(
            "/admin/accounts/department/add/",
            {"code": "survey", "name": "勘察部", "sort_order": 5, "is_active": "on"},
            REMOTE_ADDR="10.20.30.40",
        )
        row = AuditEntry.objects.get(action="department.create", object_repr="勘察部")
        assert row.ip == "10.20.30.40"

    def test_sensitive_values_are_masked(self):
        entry = audit_record(
            actor=None,
            action="test.mask",
            changes={"mobile": ["13812345678", "13987654321"], "password": ["a", "b"]},
        )
        # changes_between masks; a caller passing masked values keeps them as given
        assert entry.changes["password"] == ["a", "b"]
        from audit.services import changes_between

        masked = changes_between(
            {"mobile": "13812345678", "password": "x"}, {"mobile": "13987654321", "password": "y"}
        )
        assert masked == {
            "mobile": ["138****5678", "139****4321"],
            "password": ["******", "******"],
        }


class AppendOnlyTests(PersonaTestCase):
    def test_the_application_cannot_change_or_delete_entries(self):
        entry = audit_record(actor=None, action="test.event")
        entry.action = "changed"
        with pytest.raises(AppendOnlyError):
            entry.save()
        with pytest.raises(AppendOnlyError):
            entry.delete()
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.filter(pk=entry.pk).delete()

    @pytest.mark.postgres
    def test_postgresql_refuses_a_raw_update_or_delete(self):
        if connection.vendor != "postgresql":
            pytest.skip("the trigger exists on PostgreSQL")
        entry = audit_record(actor=None, action="test.event")
        from django.db import DatabaseError

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw_update("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry.pk])
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw_update("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])

    def test_system_administrator_has_no_page_to_edit_audit_entries(self):
        client = self.client_as("sysadmin")
        assert client.get("/admin/audit/auditentry/").status_code == 404
        assert not self.users["sysadmin"].has_perm("audit.view_auditentry")


class ChainTests(PersonaTestCase):
    def _entries(self, n: int) -> list[AuditEntry]:
        return [audit_record(actor=None, action=f"test.event{i}") for i in range(n)]

    def test_rows_link_to_their_predecessor(self):
        entries = list(AuditEntry.objects.order_by("id"))
        assert entries[0].prev_hash == GENESIS_HASH
        for previous, entry in pairwise(entries):
            assert entry.prev_hash == previous.hash

    def test_verify_passes_on_an_untouched_log(self):
        self._entries(3)
        out = _call_verify()
        assert "intact" in out

    def test_editing_a_row_in_the_database_is_detected_and_named(self):
        victim = self._entries(4)[1]
        _tamper("UPDATE audit_auditentry SET actor_username = 'mallory' WHERE id = %s", [victim.pk])
        with pytest.raises(CommandError, match=rf"id={victim.pk}\b"):
            _call_verify()

    def test_deleting_a_row_in_the_database_is_detected(self):
        entries = self._entries(4)
        _tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].pk])
        result = chain_verify()
        assert not result.ok
        assert result.bad_entry_id == entries[2].pk

    def test_a_rehash_without_the_key_is_detected(self):
        import hashlib

        victim = self._entries(2)[0]
        forged = hashlib.sha256(b"forged").hexdigest()
        _tamper("UPDATE audit_auditentry SET hash = %s WHERE id = %s", [forged, victim.pk])
        assert chain_verify().bad_entry_id == victim.pk


def _call_verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit", "verify", stdout=out)
    return out.getvalue()
