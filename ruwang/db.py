"""Prepared statements on PostgreSQL for the hot paths that ask for them.

Planning costs PostgreSQL more than running the short statements of a process step (locking a
case by id, the task, its customer, the pool that may see it). Inside `prepared_statements()`
every statement a connection runs is prepared (planned once per connection, then reused);
elsewhere nothing is, so the planner keeps seeing the actual values of searches and lists,
whose best plans depend on them. SQLite ignores all of this.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

_PREPARE: contextvars.ContextVar[bool] = contextvars.ContextVar("ruwang_prepare", default=False)


@contextmanager
def prepared_statements() -> Iterator[None]:
    token = _PREPARE.set(True)
    try:
        yield
    finally:
        _PREPARE.reset(token)


@cache
def _preparing_cursor() -> type:
    from django.db.backends.postgresql import base

    class PreparingCursor(base.ServerBindingCursor):  # type: ignore[name-defined]
        """Server-side binding; prepared only inside `prepared_statements()`."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            kwargs.setdefault("prepare", _PREPARE.get())
            return super().execute(query, params, **kwargs)

    return PreparingCursor


def use_preparing_cursors(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: PostgreSQL connections get the preparing cursor."""
    if connection.vendor == "postgresql" and connection.settings_dict["OPTIONS"].get(
        "server_side_binding"
    ):
        connection.connection.cursor_factory = _preparing_cursor()
