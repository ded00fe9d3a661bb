#!/usr/bin/env python
"""Benchmark of the customer reports (/reports/customers|value|satisfaction|sla/) and the
segment preview at scale.

Seeds, into a database of its own: N customers (default 1,000,000) in 江西's districts with
owners among 50 account managers, two departments, statuses and creation days over five years;
service contracts for ~60 % of them (then the value classes, `insights.value.value_recompute`);
M tickets (default 2,000,000) with their survey answers (bench/service.py's seeder); onboarding
cases with their tasks (default 200,000: bench/reports_process.py's seeder when present,
otherwise a minimal one here: two tasks per case, one completed, one completed or open); and
online inquiries (one per 20 customers). Then refreshes the report aggregates (a full rebuild,
then the 10-minute refresh of recent months, both timed) and times each report page through
Django's test client (server time: middleware, session, queries, rendering) as a user who sees
every customer (operations director) and as an account manager who owns ~2 % of them and serves
one district, over the default period (last 12 months) and a city filter; and the segment
preview and count (customers.segments.segment_preview/segment_count) of a two-condition segment.
Last, every report filtered by that segment saved (the active customers of 南昌市): counted live
at its first use, then the 10-minute refreshes that build and keep its precomputed figures
(reports.segment_figures; timed), and the pages again, read from them.

    .venv/bin/python bench/reports.py --customers 50000 --tickets 100000 --cases 10000  # quick
    .venv/bin/python bench/reports.py --var-dir /tmp/rr-1m --keep     # 1M, SQLite
    .venv/bin/python bench/reports.py --database-url postgres://postgres@127.0.0.1:5432/ruwang_rep
    .venv/bin/python bench/reports.py --var-dir /tmp/rr-1m --keep --only-segments  # re-run

The developer's database is never touched (bench/common.py): SQLite lives in a fresh
RUWANG_VAR_DIR under /tmp (or --var-dir), PostgreSQL in the database named by --database-url,
dropped at the end unless --keep. A re-run with the same --var-dir reuses the seeded rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import random
import shlex
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

BATCH = 10_000
ACCOUNT_MANAGERS = 50
PAGES = ("customers", "value", "satisfaction", "sla")
STATUSES = (
    ("active", 60),
    ("onboarding", 10),
    ("prospect", 15),
    ("suspended", 5),
    ("terminated", 10),
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--customers", type=int, default=1_000_000, help="customers (1,000,000)")
    p.add_argument("--tickets", type=int, default=2_000_000, help="tickets (2,000,000)")
    p.add_argument("--cases", type=int, default=200_000, help="onboarding cases (200,000)")
    p.add_argument("--days", type=int, default=3 * 365, help="days the tickets span (1,095)")
    p.add_argument("--requests", type=int, default=20, help="timed requests per page (20)")
    p.add_argument("--warmup", type=int, default=2, help="discarded requests per page (2)")
    common.add_database_options(p)
    p.add_argument("--seed", type=int, default=20261126, help="random seed")
    p.add_argument(
        "--only-segments",
        action="store_true",
        help="a re-run: skip the full rebuild, the association windows and the pages without "
        "a segment; time the segment refresh and the pages filtered by the segment",
    )
    args = p.parse_args()
    if args.requests < 1:
        p.error("--requests must be at least 1")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/reports.py", "--customers", str(args.customers)]
    parts += ["--tickets", str(args.tickets), "--cases", str(args.cases)]
    parts += ["--requests", str(args.requests), "--seed", str(args.seed)]
    parts += common.database_option_parts(args)
    if args.only_segments:
        parts.append("--only-segments")
    return shlex.join(parts)


# --- seeding -------------------------------------------------------------------------------------


def setup_organisation() -> dict[str, Any]:
    """bench/service.py's organisation (regions, teams, supervisor, director) plus 50 account
    managers; the measured one (bench_rep_am01) serves one district."""
    from django.test.utils import override_settings

    from accounts.models import User
    from accounts.services import generate_password, user_create
    from bench import service as service_bench

    org = service_bench.setup_organisation()
    users = {u.username: u for u in User.objects.filter(username__startswith="bench_rep_")}
    managers = []
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        for n in range(1, ACCOUNT_MANAGERS + 1):
            name = f"bench_rep_am{n:02d}"
            if name not in users:
                users[name], _pw = user_create(
                    actor=None,
                    username=name,
                    display_name=f"客户经理{n:02d}",
                    department=org["market"],
                    role_codes=["account_manager"],
                    password=generate_password(12, symbols="-"),
                    must_change_password=False,
                )
            managers.append(users[name])
    measured = managers[0]
    served = org["districts"][len(org["districts"]) // 2]
    measured.regions.add(served)
    org["managers"] = managers
    org["account_manager"] = measured
    org["director"] = User.objects.get(username="bench_svc_director")
    return org


def seed_customers(args: argparse.Namespace, org: dict[str, Any]) -> None:
    """Customers by bulk_create (search columns left empty: not measured here), created over
    the last five years (their `created_at` set, not stamped); 80 % owned by the account
    manager of their district (each looks after two), the rest by nobody; either
    department."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer

    existing = Customer.objects.count()
    todo = args.customers - existing
    if todo <= 0:
        print(f"reusing {existing:,} customers")
        return
    rng = random.Random(args.seed)  # noqa: S311 - test data
    districts = org["districts"]
    managers = [m.pk for m in org["managers"]]
    departments = [org["department"].pk, org["market"].pk]
    statuses = [s for s, _w in STATUSES]
    weights = [w for _s, w in STATUSES]
    now = timezone.now()
    span = 5 * 365 * 86_400
    created_field = Customer._meta.get_field("created_at")
    created_field.auto_now_add = False
    started = time.perf_counter()
    try:
        for offset in range(0, todo, BATCH):
            rows = []
            for i in range(offset, min(offset + BATCH, todo)):
                index = rng.randrange(len(districts))
                district = districts[index]
                rows.append(
                    Customer(
                        kind="organisation",
                        name=f"{district.name}报表基准客户{existing + i + 1:07d}",
                        category="key_unit",
                        region_id=district.pk,
                        status=rng.choices(statuses, weights)[0],
                        status_changed_at=now,
                        # each account manager looks after two districts
                        owner_id=managers[(index // 2) % len(managers)]
                        if rng.random() < 0.8
                        else None,
                        department_id=rng.choice(departments),
                        created_at=now - dt.timedelta(seconds=span * (todo - i) / todo),
                    )
                )
            with transaction.atomic():
                Customer.objects.bulk_create(rows)
    finally:
        created_field.auto_now_add = True
    elapsed = time.perf_counter() - started
    print(f"seeded {todo:,} customers in {elapsed:.1f} s", flush=True)


def seed_contracts(args: argparse.Namespace) -> None:
    """Service contracts for ~60 % of the customers (1–3 each over five years), then the value
    classes."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer
    from insights.value import value_recompute
    from onboarding.models import ServiceContract

    if ServiceContract.objects.exists():
        print("reusing the contracts")
        return
    rng = random.Random(args.seed + 3)  # noqa: S311 - test data
    today = timezone.localdate()
    started = time.perf_counter()
    number = 0
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH * 2):
        contracts = []
        for customer_id in ids[start : start + BATCH * 2]:
            if rng.random() >= 0.6:
                continue
            for _n in range(rng.choice((1, 1, 1, 2, 2, 3))):
                signed = today - dt.timedelta(days=rng.randrange(5 * 365))
                months = rng.choice((12, 24, 36))
                number += 1
                contracts.append(
                    ServiceContract(
                        customer_id=customer_id,
                        number=f"BR-{number:08d}",
                        signed_on=signed,
                        starts_on=signed,
                        ends_on=signed + dt.timedelta(days=months * 30),
                        term_months=months,
                        annual_fee=Decimal(rng.randrange(600, 60_000)),
                    )
                )
        with transaction.atomic():
            ServiceContract.objects.bulk_create(contracts, batch_size=5000)
    print(f"seeded {number:,} contracts in {time.perf_counter() - started:.1f} s", flush=True)
    t = time.perf_counter()
    value_recompute()
    print(f"value classes computed in {time.perf_counter() - t:.1f} s", flush=True)


def seed_tickets(args: argparse.Namespace, org: dict[str, Any]) -> None:
    from bench import service as service_bench

    service_bench.seed_tickets(args, org)


def process_bench() -> Any | None:
    """bench/reports_process.py (onboarding funnel and workload reports) when present."""
    if importlib.util.find_spec("bench.reports_process") is None:
        return None
    return importlib.import_module("bench.reports_process")


def seed_cases(args: argparse.Namespace, org: dict[str, Any]) -> None:
    """Minimal onboarding cases: two tasks each (the first completed, the second completed or
    open), deadlines three working days after they open, ~20 % completed late."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer
    from workflow.models import Case, Task

    if Case.objects.exists():
        print("reusing the cases")
        return
    version = service_bench_version()
    rng = random.Random(args.seed + 5)  # noqa: S311 - test data
    now = timezone.now()
    customers = list(
        Customer.objects.order_by("pk").values_list("pk", "owner_id", "region_id", "department_id")
    )
    chosen = rng.sample(customers, min(args.cases, len(customers)))
    del customers
    started = time.perf_counter()
    span = 2 * 365 * 86_400
    done = 0
    for start in range(0, len(chosen), BATCH):
        cases, specs = [], []
        for n, (customer_id, owner_id, region_id, department_id) in enumerate(
            chosen[start : start + BATCH], start=start
        ):
            opened = now - dt.timedelta(seconds=rng.uniform(0, span))
            finished = rng.random() < 0.85
            cases.append(
                Case(
                    number=f"BR-CASE-{n:07d}",
                    version=version,
                    customer_id=customer_id,
                    status="completed" if finished else "running",
                    started_at=opened,
                    ended_at=opened + dt.timedelta(days=20) if finished else None,
                )
            )
            specs.append((customer_id, owner_id, region_id, department_id, opened, finished))
        with transaction.atomic():
            Case.objects.bulk_create(cases)
            tasks = []
            for case, (customer_id, owner_id, region_id, department_id, opened, finished) in zip(
                cases, specs, strict=True
            ):
                for token, offset in ((1, 0.0), (2, 5.0)):
                    created = opened + dt.timedelta(days=offset)
                    due = created + dt.timedelta(days=3)
                    took = dt.timedelta(days=rng.uniform(0.2, 3.8))
                    completed = created + took if (token == 1 or finished) else None
                    if completed is not None and completed > now:
                        completed = None
                    tasks.append(
                        Task(
                            case=case,
                            customer_id=customer_id,
                            customer_owner_id=owner_id,
                            customer_region_id=region_id,
                            customer_department_id=department_id,
                            token=token,
                            node_id=f"step{token}",
                            name=f"步骤{token}",
                            status="completed" if completed else "ready",
                            role="market_staff",
                            created_at=created,
                            due_at=due,
                            completed_at=completed,
                        )
                    )
            Task.objects.bulk_create(tasks, batch_size=5000)
        done += len(cases)
    print(f"seeded {done:,} cases in {time.perf_counter() - started:.1f} s", flush=True)


def service_bench_version() -> Any:
    from service.tests.factories import publish_process

    return publish_process()


def seed_inquiries(args: argparse.Namespace) -> None:
    """One online inquiry per 20 customers over the last two years: 24-hour deadline, replied
    after a lognormal time (most within it), 2 % still open."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer
    from inquiries.models import Inquiry

    if Inquiry.objects.exists():
        print("reusing the inquiries")
        return
    rng = random.Random(args.seed + 7)  # noqa: S311 - test data
    now = timezone.now()
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    chosen = rng.sample(ids, len(ids) // 20)
    started = time.perf_counter()
    for start in range(0, len(chosen), BATCH):
        rows = []
        for n, customer_id in enumerate(chosen[start : start + BATCH], start=start):
            received = now - dt.timedelta(seconds=rng.uniform(0, 2 * 365 * 86_400))
            due = received + dt.timedelta(hours=24)
            hours = rng.lognormvariate(2.3, 0.9)
            replied = received + dt.timedelta(hours=hours)
            open_ = replied > now or rng.random() < 0.02
            rows.append(
                Inquiry(
                    number=f"BR-WZ-{n:07d}",
                    channel="web",
                    customer_id=customer_id,
                    topic="property",
                    subject="基准问题",
                    body="基准问题",
                    status="new" if open_ else "replied",
                    received_at=received,
                    due_at=due,
                    first_due_at=due,
                    replied_at=None if open_ else replied,
                    first_replied_at=None if open_ else replied,
                )
            )
        with transaction.atomic():
            Inquiry.objects.bulk_create(rows)
    print(f"seeded {len(chosen):,} inquiries in {time.perf_counter() - started:.1f} s", flush=True)


def finish_seeding() -> None:
    from django.db import connection

    t = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"ANALYZE in {time.perf_counter() - t:.1f} s", flush=True)


# --- measuring -----------------------------------------------------------------------------------


def refresh(args: argparse.Namespace) -> dict[str, float]:
    from django.utils import timezone

    from reports.aggregates import reports_refresh

    t = time.perf_counter()
    full = reports_refresh(full=True)
    full_s = time.perf_counter() - t
    print(f"aggregates: full rebuild {full_s:.1f} s  rows {full.rows}", flush=True)
    t = time.perf_counter()
    recent = reports_refresh(now=timezone.now())
    recent_s = time.perf_counter() - t
    print(
        f"aggregates: 10-minute refresh (recent months) {recent_s:.1f} s (full={recent.full})",
        flush=True,
    )
    from insights.association import association_precompute

    t = time.perf_counter()
    association_precompute()
    association_s = time.perf_counter() - t
    print(f"association analysis: nightly windows {association_s:.1f} s", flush=True)
    return {"full": full_s, "recent": recent_s, "association": association_s}


def time_get(
    client: Any, url: str, params: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _i in range(args.warmup):
        client.get(url, params)
    timings = []
    for _i in range(args.requests):
        t = time.perf_counter()
        response = client.get(url, params)
        timings.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: HTTP {response.status_code}")
    with CaptureQueriesContext(connection) as ctx:
        client.get(url, params)
    timings.sort()
    return {
        "n": len(timings),
        "p50": statistics.median(timings),
        "p95": common.p95(timings),
        "max": timings[-1],
        "queries": len(ctx.captured_queries),
    }


def run_pages(args: argparse.Namespace, org: dict[str, Any]) -> list[dict[str, Any]]:
    from django.contrib.auth.models import Permission
    from django.test import Client

    nanchang = next(c for c in org["cities"] if c.code == "360100")
    perms = Permission.objects.filter(
        content_type__app_label="reports", codename__in=["view_reports", "export_reports"]
    )
    pages: list[tuple[str, str, dict[str, str]]] = []
    for page in PAGES:
        pages.append((page, f"/reports/{page}/", {}))
        pages.append((f"{page}, 南昌市", f"/reports/{page}/", {"region": str(nanchang.pk)}))
    extra = process_bench()
    if extra is not None:
        pages += [(label, url, {}) for label, url in extra.pages()]
    # The association analysis is for service leads (the director here): the preset periods
    # come from the nightly windows.
    leads_only = [
        ("association, 90 days", "/insights/association/", {}),
        (
            "association, 365 days, 南昌市",
            "/insights/association/",
            {"period": "365", "region": str(nanchang.pk)},
        ),
    ]
    results = []
    for who in ("director", "account_manager"):
        user = org[who]
        user.user_permissions.add(*perms)
        client = Client()
        client.force_login(user)
        for label, url, params in pages + (leads_only if who == "director" else []):
            r = time_get(client, url, params, args)
            r.update({"who": who, "page": label})
            results.append(r)
            print(
                f"  {who:<16} {label:<26} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  "
                f"max {r['max']:7.1f} ms  {r['queries']} queries",
                flush=True,
            )
    return results


def run_segments(args: argparse.Namespace, org: dict[str, Any]) -> list[dict[str, Any]]:
    from customers.segments import segment_count, segment_preview

    nanchang = next(c for c in org["cities"] if c.code == "360100")
    definition = {
        "op": "and",
        "items": [
            {"field": "region", "values": [nanchang.pk]},
            {"field": "status", "values": ["active"]},
        ],
    }
    results = []
    for who in ("director", "account_manager"):
        user = org[who]
        for name, call in (
            ("segment preview", lambda u: segment_preview(u, definition)),
            ("segment count", lambda u: segment_count(u, definition)),
        ):
            call(user)
            timings = []
            for _i in range(args.requests):
                t = time.perf_counter()
                call(user)
                timings.append((time.perf_counter() - t) * 1000)
            timings.sort()
            r = {
                "who": who,
                "page": name,
                "n": len(timings),
                "p50": statistics.median(timings),
                "p95": common.p95(timings),
                "max": timings[-1],
                "queries": 0,
            }
            results.append(r)
            print(f"  {who:<16} {name:<26} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f} ms", flush=True)
    return results


def run_segment_pages(args: argparse.Namespace, org: dict[str, Any]) -> list[dict[str, Any]]:
    """Every report filtered by a saved segment (the customers of 南昌市 that are active, as
    in run_segments): first counted live (its first use, a couple of requests), then the
    10-minute refresh that builds the segment's figures (timed), the next one (timed), and
    the pages again, read from the segment's rows."""
    from django.contrib.auth.models import Permission
    from django.test import Client
    from django.utils import timezone

    from reports.aggregates import reports_refresh

    nanchang = next(c for c in org["cities"] if c.code == "360100")
    extra = process_bench()
    from bench import reports_process

    segment = reports_process.make_segment(
        org["director"],
        "报表基准细分：南昌市在用客户",
        {
            "op": "and",
            "items": [
                {"field": "region", "values": [nanchang.pk]},
                {"field": "status", "values": ["active"]},
            ],
        },
    )
    size = reports_process.segment_size(segment)
    print(
        f"segment {segment.name}: {size['customers']:,} customers, {size['cases']:,} cases",
        flush=True,
    )
    pages = [
        (f"{page}, segment", f"/reports/{page}/", {"segment": str(segment.pk)}) for page in PAGES
    ]
    if extra is not None:
        pages += [(label, url, {}) for label, url in extra.segment_pages(segment.pk)]
    perms = Permission.objects.filter(
        content_type__app_label="reports", codename__in=["view_reports", "export_reports"]
    )
    clients = {}
    for who in ("director", "account_manager"):
        org[who].user_permissions.add(*perms)
        clients[who] = Client()
        clients[who].force_login(org[who])
    results = []
    live_args = argparse.Namespace(**{**vars(args), "warmup": 0, "requests": 2})
    for who, client in clients.items():
        for label, url, params in pages:
            r = time_get(client, url, params, live_args)
            r.update({"who": who, "page": f"{label} (live)"})
            results.append(r)
            print(
                f"  {who:<16} {label + ' (live)':<34} p50 {r['p50']:7.1f}  max {r['max']:7.1f} ms",
                flush=True,
            )
    for step in ("first", "next"):
        t = time.perf_counter()
        reports_refresh(now=timezone.now())
        customers_s = time.perf_counter() - t
        print(
            f"aggregates: 10-minute refresh with the segment ({step}) {customers_s:.1f} s",
            flush=True,
        )
        if extra is not None:
            from reports.funnel import funnel_refresh
            from reports.workload import workload_refresh

            t = time.perf_counter()
            funnel_refresh()
            funnel_s = time.perf_counter() - t
            t = time.perf_counter()
            workload_refresh()
            workload_s = time.perf_counter() - t
            print(
                f"funnel / workload: 10-minute refresh with the segment ({step}) "
                f"{funnel_s:.1f} / {workload_s:.1f} s",
                flush=True,
            )
    for who, client in clients.items():
        for label, url, params in pages:
            r = time_get(client, url, params, args)
            r.update({"who": who, "page": label})
            results.append(r)
            print(
                f"  {who:<16} {label:<34} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  "
                f"max {r['max']:7.1f} ms  {r['queries']} queries",
                flush=True,
            )
    return results


def print_table(results: list[dict[str, Any]], vendor: str, counts: dict[str, int]) -> None:
    figures = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"\nDB vendor: {vendor}   {figures}   (server time via django.test.Client)")
    header = (
        f"| {'viewer':<16} | {'page':<34} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} "
        f"| {'max ms':>7} | {'queries':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['who']:<16} | {r['page']:<34} | {r['n']:>3} | {r['p50']:>7.1f} | "
            f"{r['p95']:>7.1f} | {r['max']:>7.1f} | {r['queries'] or '':>7} |"
        )


def main() -> None:
    args = parse_args()
    command = reproduce_command(args)
    print(f"reproduce: {command}")
    urls = [f"/reports/{page}/" for page in PAGES]
    templates = ["base.html", "reports/_layout.html"] + [f"reports/{p}/page.html" for p in PAGES]
    var_dir, created_var = common.start(args, "ruwang-repbench-", urls=urls, templates=templates)
    from django.db import connection

    from customers.models import Customer
    from inquiries.models import Inquiry
    from service.models import Ticket
    from workflow.models import Case

    try:
        common.migrate()
        org = setup_organisation()
        if connection.vendor == "sqlite":
            with connection.cursor() as cur:
                cur.execute("PRAGMA cache_size = -1000000")
        seed_customers(args, org)
        seed_contracts(args)
        seed_tickets(args, org)
        extra = process_bench()
        if extra is not None:
            extra.seed(args.cases, rng_seed=7)
        else:
            seed_cases(args, org)
        seed_inquiries(args)
        finish_seeding()
        connection.close()
        timings = None if args.only_segments else refresh(args)
        counts = {
            "customers": Customer.objects.count(),
            "tickets": Ticket.objects.count(),
            "cases": Case.objects.count(),
            "inquiries": Inquiry.objects.count(),
        }
        results = []
        if not args.only_segments:
            results += run_pages(args, org) + run_segments(args, org)
        results += run_segment_pages(args, org)
        print_table(results, connection.vendor, counts)
        if timings is not None:
            print(
                f"aggregates: full rebuild {timings['full']:.1f} s; the 10-minute refresh of "
                f"recent months {timings['recent']:.1f} s; association windows (nightly) "
                f"{timings['association']:.1f} s"
            )
        print(f"\nreproduce: {command}")
    finally:
        common.finish(args, var_dir, created_var)


if __name__ == "__main__":
    main()
