"""Prepared statements on PostgreSQL: only where the code asks for them."""

from __future__ import annotations

import pytest
from django.db import connection

from ruwang.db import prepared_statements

pytestmark = pytest.mark.django_db


def _prepared(text: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"]
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_a_statement_is_prepared_inside_prepared_statements_and_not_outside():
    def run(marker: str) -> None:
        with connection.cursor() as cursor:
            for _ in range(3):
                cursor.execute(f"SELECT %s::int AS {marker}", [1])
                assert cursor.fetchone() == (1,)

    run("outside_marker")
    assert _prepared("outside_marker") == 0  # searches and lists keep value-specific plans
    with prepared_statements():
        run("inside_marker")
    assert _prepared("inside_marker") == 1


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite only")
def test_on_sqlite_the_context_changes_nothing():
    with prepared_statements(), connection.cursor() as cursor:
        cursor.execute("SELECT %s + 1", [1])
        assert cursor.fetchone() == (2,)
