"""On PostgreSQL the database itself refuses UPDATE and DELETE on the audit log."""

from django.db import migrations


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'audit_auditentry is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER audit_entry_append_only
            BEFORE UPDATE OR DELETE ON audit_auditentry
            FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
        """,
        None,  # no parameters: the % in RAISE is PL/pgSQL's, not a placeholder
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;"
        "DROP FUNCTION IF EXISTS audit_entry_append_only();"
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_log")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
