"""Plumbing shared by the benchmark scripts: their own environment and PostgreSQL database."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def configure_environment(var_dir_arg: str, database_url: str, prefix: str) -> tuple[Path, bool]:
    """Environment for ruwang.settings; returns the var dir and whether we created it."""
    created = False
    if var_dir_arg:
        var_dir = Path(var_dir_arg)
        var_dir.mkdir(parents=True, exist_ok=True)
    else:
        var_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        created = True
    os.environ["RUWANG_ENV"] = "development"
    os.environ["DJANGO_SETTINGS_MODULE"] = "ruwang.settings"
    os.environ["RUWANG_VAR_DIR"] = str(var_dir)
    os.environ["RUWANG_STATIC_ROOT"] = str(var_dir / "static")
    os.environ["RUWANG_MEDIA_ROOT"] = str(var_dir / "media")
    os.environ["RUWANG_DEBUG"] = "false"
    os.environ["RUWANG_LOG_LEVEL"] = "WARNING"
    os.environ["REDIS_URL"] = ""
    # Set even when empty: a developer's .env must not point the benchmark at their database.
    os.environ["DATABASE_URL"] = database_url
    return var_dir, created


def _pg_admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SystemExit(f"unexpected database name {name!r}")
    admin = urlunsplit(
        (parts.scheme.replace("postgres", "postgresql"), parts.netloc, "/postgres", "", "")
    )
    return admin, name


def pg_create_database(url: str) -> None:
    import psycopg

    admin, name = _pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def pg_drop_database(url: str) -> None:
    import psycopg

    admin, name = _pg_admin_url(url)
    if name in {"postgres", "ruwang"}:
        raise SystemExit(f"refusing to drop {name}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped database {name}")
