"""Indexes for customer search: FTS5 on SQLite, GIN over text arrays on PostgreSQL."""

from django.db import migrations

from customers.search import POSTGRES_CREATE, POSTGRES_DROP, SQLITE_CREATE, SQLITE_DROP


def create(apps, schema_editor):
    statements = {"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}.get(
        schema_editor.connection.vendor, []
    )
    for sql in statements:
        schema_editor.execute(sql, None)


def drop(apps, schema_editor):
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(
        schema_editor.connection.vendor, []
    )
    for sql in statements:
        schema_editor.execute(sql, None)


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_customer_records")]

    operations = [migrations.RunPython(create, drop)]
