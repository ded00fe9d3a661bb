"""Plumbing shared by the benchmark scripts: their own environment and PostgreSQL database,
start-up and clean-up, percentiles, the slowest queries and their plan."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def add_database_options(parser: Any) -> None:
    """--database-url, --var-dir and --keep, which every benchmark takes (see start/finish)."""
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; SQLite when absent")
    parser.add_argument(
        "--var-dir", default="", help="RUWANG_VAR_DIR (default: a new dir under /tmp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (and var dir)")


def database_option_parts(args: Any) -> list[str]:
    """The options of add_database_options as given, for a reproducing command line."""
    parts = ["--database-url", args.database_url] if args.database_url else []
    if args.var_dir:
        parts += ["--var-dir", args.var_dir]
    if args.keep:
        parts.append("--keep")
    return parts


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


def start(args: Any, prefix: str, urls: list[str], templates: list[str]) -> tuple[Path, bool]:
    """Environment, PostgreSQL database (when asked), django.setup(); then every view and
    template measured is loaded, so a long run never meets code edited while it ran (the
    cached template loader keeps what it compiled first). Returns the var dir and whether we
    created it."""
    var_dir, created = configure_environment(args.var_dir, args.database_url, prefix)
    if args.database_url:
        pg_create_database(args.database_url)
    import django

    django.setup()
    from django.template.loader import get_template
    from django.urls import resolve

    for url in urls:
        resolve(url)
    for name in templates:
        get_template(name)
    return var_dir, created


def migrate() -> None:
    """migrate, and collectstatic for the manifest `{% static %}` reads."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    print(f"var dir {os.environ['RUWANG_VAR_DIR']}; database {name} ({connection.vendor})")
    t = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    print(f"migrate + collectstatic in {time.perf_counter() - t:.1f} s")


def finish(args: Any, var_dir: Path, created: bool) -> None:
    """Close connections; drop the database and the var dir unless --keep (or given)."""
    from django.db import connections

    connections.close_all()
    if args.database_url and not args.keep:
        pg_drop_database(args.database_url)
    if created and not args.keep:
        shutil.rmtree(var_dir, ignore_errors=True)
    else:
        print(f"kept var dir {var_dir}")


def time_requests(
    get: Any, requests: int, warmup: int, name: str, seconds: float | None = None
) -> list[float]:
    """Server times (ms, sorted) of `requests` calls get(i) after `warmup` discarded ones
    (i counts on, so variants cycle); stop early once 20 are timed and `seconds` have
    passed. Any answer but 200 ends the run, naming the scenario."""
    for i in range(warmup):
        get(i)
    timings: list[float] = []
    started = time.perf_counter()
    for i in range(requests):
        if seconds is not None and i >= 20 and time.perf_counter() - started > seconds:
            break
        t = time.perf_counter()
        response = get(warmup + i)
        timings.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code} {response.get('Location')}")
    timings.sort()
    return timings


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[94]
        if len(values) > 1
        else values[0]
    )


def print_slowest(queries: list[dict[str, Any]], top: int, width: int) -> None:
    """The `top` slowest captured queries, then the plan of the slowest (EXPLAIN ANALYZE,
    BUFFERS on PostgreSQL; EXPLAIN QUERY PLAN on SQLite)."""
    from django.db import connection

    ranked = sorted(queries, key=lambda q: -float(q["time"]))
    for q in ranked[:top]:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:width]}")
    prefix = (
        "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    )
    with connection.cursor() as cur:
        cur.execute(prefix + ranked[0]["sql"])
        for row in cur.fetchall():
            print("    " + " | ".join(str(c) for c in row))


def slowest_variant(user: Any, variants: list[Any], request: Any) -> tuple[float, Any, list[Any]]:
    """Request each variant twice as `user` (`request(client, variant)`, the first warms) and
    return the slowest second request: (ms, variant, the queries it ran)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    worst: tuple[float, Any, list[Any]] | None = None
    for variant in variants:
        request(client, variant)
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            request(client, variant)
            elapsed = (time.perf_counter() - t) * 1000
        if worst is None or elapsed > worst[0]:
            worst = (elapsed, variant, list(ctx.captured_queries))
    assert worst is not None
    return worst
