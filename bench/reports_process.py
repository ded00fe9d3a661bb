#!/usr/bin/env python
"""Benchmark of the onboarding funnel and workload reports (/reports/funnel/,
/reports/workload/) at scale.

`seed(cases)` creates N fire-monitoring onboarding cases (one per customer, started over the
last 365 days) for customers and staff already in the database, each walking the SOP's main
path (the broadband steps skipped for 40 % of the customers, material plan and procurement for
30 %) with log-normal step times (medians of a few hours to four days, by step); 10 % are
cancelled at a random step, the rest run until now, so recent cases are still open: about 13
tasks per case. Rows go in by COPY on PostgreSQL (executemany on SQLite). Then the
reports' figures are refreshed in full (timed). bench/reports.py calls seed() after seeding
its customers and tickets, and times `pages()` with its own users. Run alone, an incremental
refresh after 1 % of the open tasks completed is timed as well, then one with nothing new;
`--verify` then checks that the funnel's rows equal a full rebuild's, `--no-pages` stops
before the pages.

Run alone it seeds a small organisation itself (regions, 40 account managers owning the
customers, 60 staff under 6 supervisors, one customer per case) and prints p50/p95 server time
of each page for a user who sees everything (an operations director heading the department)
and for an account manager; then the same pages filtered by a saved segment (the customers of
the first city): first counted live (its first use), then after the 10-minute refresh that
builds the segment's figures (reports.segment_figures; timed, and the next one):

    .venv/bin/python bench/reports_process.py --cases 20000                  # SQLite, quick
    .venv/bin/python bench/reports_process.py --cases 200000 \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_rpbench     # PostgreSQL

The developer's database is never touched (see bench/common.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

BATCH = 20_000
CANCELLED_SHARE = 0.10
# Customers whose building already has broadband skip the two broadband steps; materials in
# stock skip the material plan and procurement.
BROADBAND_READY_SHARE = 0.4
MATERIALS_IN_STOCK_SHARE = 0.3
PROCESS_KEY = "fire-monitoring-onboarding"
BPMN = ROOT / "onboarding" / "processes" / "fire_monitoring.bpmn"
# The SOP's main path (the optional drawing update and the rectification loop left out), with
# each step's median time in hours.
MAIN_PATH: list[tuple[str, float]] = [
    ("Activity_Notice", 6),
    ("Activity_Approve", 4),
    ("Activity_Feasibility", 20),
    ("Activity_Intake", 12),
    ("Activity_BroadbandRequest", 8),
    ("Activity_BroadbandReady", 72),
    ("Activity_MaterialPlan", 10),
    ("Activity_Procurement", 96),
    ("Activity_Survey", 30),
    ("Activity_DrawingsHandover", 6),
    ("Activity_Digitise", 40),
    ("Activity_Verify", 16),
    ("Activity_Install", 60),
    ("Activity_JointTest", 24),
    ("Activity_Handover", 20),
    ("Activity_Archive", 30),
]


class Writer:
    """Rows into one table without the ORM: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, table: str, columns: tuple[str, ...]) -> None:
        from django.db import connection

        self.connection = connection
        self.table = table
        self.columns = columns

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        from django.db import transaction

        names = ", ".join(self.columns)
        with transaction.atomic():
            cursor = self.connection.cursor()
            if self.connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                # Table and column names are this module's constants; values are bound.
                cursor.executemany(f"INSERT INTO {self.table} ({names}) VALUES ({marks})", rows)  # noqa: S608


def _stamp(moment: dt.datetime | None) -> Any:
    from django.db import connection

    if moment is None:
        return None
    if connection.vendor == "postgresql":
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def _version() -> Any:
    from workflow import services as workflow_services
    from workflow.models import DefinitionVersion, VersionStatus

    found = (
        DefinitionVersion.objects.filter(
            definition__key=PROCESS_KEY, status=VersionStatus.PUBLISHED
        )
        .order_by("-number")
        .first()
    )
    if found is not None:
        return found
    version = workflow_services.definition_upload(actor=None, xml=BPMN.read_text())
    return workflow_services.version_publish(actor=None, version=version)


def seed(cases: int, rng_seed: int = 7) -> None:
    """Onboarding cases and their tasks for the customers and active staff in the database
    (see the module docstring), then a full refresh of the reports' figures."""
    from django.db.models import Max
    from django.utils import timezone

    from accounts.models import User
    from customers.models import Customer
    from workflow.models import Case

    rng = random.Random(rng_seed)  # noqa: S311 - benchmark data
    version = _version()
    have = Case.objects.filter(number__startswith="BRP-").count()
    todo = cases - have
    if todo <= 0:
        print(f"reusing {have:,} benchmark cases")
    else:
        staff = list(User.objects.filter(is_active=True).values_list("pk", flat=True))
        customers = list(
            Customer.objects.filter(merged_into__isnull=True)
            .order_by("?")
            .values_list("pk", "owner_id", "region_id", "department_id")[:todo]
        )
        if not customers or not staff:
            raise SystemExit("seed() needs customers and active staff in the database")
        names = _step_names(version)
        now = timezone.now()
        started = time.perf_counter()
        case_writer = Writer(
            "workflow_case",
            (
                "number", "version_id", "customer_id", "status", "data", "tokens",
                "next_token", "started_at", "ended_at", "hold_reason",
            ),
        )  # fmt: skip
        task_writer = Writer(
            "workflow_task",
            (
                "case_id", "customer_id", "customer_owner_id", "customer_region_id",
                "customer_department_id", "token", "node_id", "name", "form_key", "status",
                "role", "assignee_id", "created_at", "claimed_at", "completed_at",
                "completed_by_id", "escalation_level", "outcome", "data",
            ),
        )  # fmt: skip
        tasks_written = 0
        for offset in range(0, todo, BATCH):
            chunk = [
                customers[i % len(customers)] for i in range(offset, min(offset + BATCH, todo))
            ]
            plans = []
            case_rows = []
            for i, (customer_id, owner_id, region_id, dept_id) in enumerate(chunk):
                start = now - dt.timedelta(seconds=rng.uniform(0, 365 * 86400))
                cancel_at = (
                    rng.randrange(len(MAIN_PATH)) if rng.random() < CANCELLED_SHARE else None
                )
                steps: list[tuple[str, dt.datetime, dt.datetime | None, str, int]] = []
                moment = start
                status = "completed"
                skipped = set()
                if rng.random() < BROADBAND_READY_SHARE:
                    skipped |= {"Activity_BroadbandRequest", "Activity_BroadbandReady"}
                if rng.random() < MATERIALS_IN_STOCK_SHARE:
                    skipped |= {"Activity_MaterialPlan", "Activity_Procurement"}
                path = [step for step in MAIN_PATH if step[0] not in skipped]
                if cancel_at is not None:
                    cancel_at = min(cancel_at, len(path) - 1)
                for index, (node_id, median) in enumerate(path):
                    hours = median * math.exp(rng.gauss(0.0, 0.9))
                    done = moment + dt.timedelta(hours=hours)
                    person = rng.choice(staff)
                    if cancel_at == index:
                        steps.append((node_id, moment, None, "cancelled", person))
                        status = "cancelled"
                        break
                    if done > now:
                        steps.append((node_id, moment, None, "claimed", person))
                        status = "running"
                        break
                    steps.append((node_id, moment, done, "completed", person))
                    moment = done
                ended: dt.datetime | None = steps[-1][2] if status == "completed" else None
                if status == "cancelled":
                    ended = steps[-1][1] + dt.timedelta(hours=rng.uniform(1, 48))
                number = f"BRP-{have + offset + i + 1:08d}"
                case_rows.append(
                    (
                        number, version.pk, customer_id, status, "{}", "[]", 1,
                        _stamp(start), _stamp(ended), "",
                    )
                )  # fmt: skip
                plans.append((number, customer_id, owner_id, region_id, dept_id, steps))
            case_writer.write(case_rows)
            ids = dict(
                Case.objects.filter(number__in=[p[0] for p in plans]).values_list("number", "pk")
            )
            task_rows = []
            for number, customer_id, owner_id, region_id, dept_id, steps in plans:
                for token, (node_id, opened, finished, status, person) in enumerate(steps, start=1):
                    task_rows.append(
                        (
                            ids[number], customer_id, owner_id, region_id, dept_id, token,
                            node_id, names.get(node_id, node_id), "", status, "", person,
                            _stamp(opened), _stamp(opened), _stamp(finished),
                            person if finished else None, 0, "", "{}",
                        )
                    )  # fmt: skip
            task_writer.write(task_rows)
            tasks_written += len(task_rows)
        elapsed = time.perf_counter() - started
        print(
            f"seeded {todo:,} cases and {tasks_written:,} tasks in {elapsed:.1f} s "
            f"({tasks_written / max(todo, 1):.1f} tasks per case)"
        )
        _analyze()
    top = Case.objects.aggregate(m=Max("pk"))["m"]
    print(f"cases in the database: {Case.objects.count():,} (highest id {top})")
    refresh()


def _step_names(version: Any) -> dict[str, str]:
    from workflow import bpmn

    graph = bpmn.parse(version.xml)
    return {node.id: node.name for node in graph.nodes.values()}


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def refresh() -> dict[str, float]:
    """A full refresh of both reports' figures (what the first refresh after midnight does);
    prints and returns the seconds of each. Call it again after seeding more work (tickets,
    inquiry replies) for the workload figures to include it."""
    from reports.funnel import funnel_refresh
    from reports.workload import workload_refresh

    figures = {}
    t = time.perf_counter()
    funnel = funnel_refresh(full=True)
    figures["funnel full refresh s"] = time.perf_counter() - t
    t = time.perf_counter()
    workload = workload_refresh(full=True)
    figures["workload full refresh s"] = time.perf_counter() - t
    print(
        f"full refresh: funnel {funnel.months} months, {funnel.rows:,} rows in "
        f"{figures['funnel full refresh s']:.1f} s; workload {workload.days} days, "
        f"{workload.rows:,} rows in {figures['workload full refresh s']:.1f} s"
    )
    return figures


def refresh_after_completions() -> dict[str, float]:
    """The ten-minute refresh after 1 % of the open tasks completed (changes the data: the
    standalone run only); prints and returns the seconds of each."""
    from django.db.models import F
    from django.utils import timezone

    from reports.funnel import funnel_refresh
    from reports.workload import workload_refresh
    from workflow.models import Task, TaskStatus

    figures = {}
    open_ids = list(
        Task.objects.filter(status=TaskStatus.CLAIMED).values_list("pk", flat=True)[:100_000]
    )
    chosen = open_ids[: max(1, len(open_ids) // 100)]
    Task.objects.filter(pk__in=chosen).update(
        status=TaskStatus.COMPLETED, completed_at=timezone.now(), completed_by=F("assignee")
    )
    t = time.perf_counter()
    funnel = funnel_refresh()
    figures["funnel incremental refresh s"] = time.perf_counter() - t
    t = time.perf_counter()
    workload = workload_refresh()
    figures["workload incremental refresh s"] = time.perf_counter() - t
    print(
        f"incremental refresh after {len(chosen):,} completions: funnel {funnel.months} "
        f"months, {funnel.rows:,} rows in {figures['funnel incremental refresh s']:.2f} s; "
        f"workload {workload.days} days in {figures['workload incremental refresh s']:.2f} s"
    )
    t = time.perf_counter()
    funnel_refresh()
    figures["funnel idle refresh s"] = time.perf_counter() - t
    print(f"incremental refresh with nothing new: funnel {figures['funnel idle refresh s']:.2f} s")
    return figures


def verify_funnel() -> bool:
    """Whether the funnel's precomputed rows after the incremental refreshes are those a full
    rebuild writes (prints the answer; rebuilds in full)."""
    from reports.funnel import funnel_refresh
    from workflow.models import StepCellStat, StepDailyStat, StepMonthlyStat

    def rows() -> dict[str, list[tuple[Any, ...]]]:
        found = {}
        for model in (StepMonthlyStat, StepDailyStat, StepCellStat):
            fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
            found[model.__name__] = sorted(
                model.objects.order_by().values_list(*fields),
                key=lambda row: tuple(str(v) for v in row),
            )
        return found

    incremental = rows()
    t = time.perf_counter()
    funnel_refresh(full=True)
    seconds = time.perf_counter() - t
    same = rows() == incremental
    sizes = ", ".join(f"{name} {len(found):,}" for name, found in incremental.items())
    print(
        f"incremental rows identical to a full rebuild ({seconds:.1f} s): "
        f"{'yes' if same else 'NO'} ({sizes})"
    )
    return same


def pages() -> list[tuple[str, str]]:
    """(label, url) of the report pages to time: the default period (the last twelve months,
    precomputed), a period cut mid-month (its edges counted live), a region (precomputed), and
    the workload with and without a region (weekly rows per district; the days of a partly
    chosen week counted live)."""
    from django.utils import timezone

    from accounts.models import Region, RegionLevel

    today = timezone.localdate()
    first = (today - dt.timedelta(days=200)).replace(day=15)
    # A city of 江西, where the customers are (the first city of all by code, 石家庄市, has none:
    # the figures recorded before 2026-11-26 evening of "a city" were of no customer at all).
    city = (
        Region.objects.filter(level=RegionLevel.CITY, code__startswith="36")
        .order_by("code")
        .first()
    )
    region = f"&region={city.pk}" if city else ""
    mid = f"?date_from={first.isoformat()}&date_to={(first + dt.timedelta(days=90)).isoformat()}"
    return [
        ("funnel, last 12 months", "/reports/funnel/"),
        ("funnel, mid-month to mid-month", f"/reports/funnel/{mid}"),
        ("funnel, a city", f"/reports/funnel/?date_from={first.replace(day=1)}{region}"),
        ("workload, last 12 months", "/reports/workload/"),
        ("workload, a city", f"/reports/workload/?date_from={first.replace(day=1)}{region}"),
    ]


def reported_segment(owner: Any) -> Any:
    """A shared segment of the customers of the first city (by code) — about a tenth of the
    customers and cases here; bench/reports.py passes its own — recorded as reported on, as
    opening a report with it does (reports.segment_figures)."""
    from accounts.models import Region, RegionLevel

    city = Region.objects.filter(level=RegionLevel.CITY, code__startswith="36").order_by("code")
    return make_segment(
        owner,
        f"报表基准细分：{city[0].name}",
        {"op": "and", "items": [{"field": "region", "values": [city[0].pk]}]},
    )


def make_segment(owner: Any, name: str, definition: dict[str, Any]) -> Any:
    """The shared segment `name` with `definition` (created or updated), marked as used in a
    report now, with the permission to filter by segments granted to everyone measured. Its
    precomputed figures of an earlier run are dropped: its first use here is counted live."""
    from django.contrib.auth.models import Permission

    from customers.models import Segment
    from customers.segments import segment_validate
    from reports.segment_figures import segment_figures_drop, segment_report_use

    cleaned = segment_validate(definition)
    segment = Segment.objects.filter(name=name).first()
    if segment is None:
        segment = Segment.objects.create(name=name, definition=cleaned, owner=owner, is_shared=True)
    elif segment.definition != cleaned:
        Segment.objects.filter(pk=segment.pk).update(definition=cleaned)
        segment.refresh_from_db()
    segment_figures_drop(segment.pk)
    segment_report_use(segment)
    view = Permission.objects.get(content_type__app_label="customers", codename="view_segment")
    for user in owner.__class__.objects.filter(username__startswith="bench_"):
        user.user_permissions.add(view)
    return segment


def segment_size(segment: Any) -> dict[str, int]:
    from customers.models import Customer
    from customers.segments import segment_q
    from workflow.models import Case

    members = Customer.objects.filter(segment_q(segment.definition), merged_into__isnull=True)
    return {
        "customers": members.count(),
        "cases": Case.objects.filter(customer__in=members.values("pk")).count(),
    }


def refresh_segment() -> dict[str, float]:
    """The ten-minute refresh after a segment's first use (it builds the segment's rows in
    full), then the next one (recent work only); prints and returns the seconds of each."""
    from reports.funnel import funnel_refresh
    from reports.workload import workload_refresh

    figures = {}
    for label in ("first", "next"):
        t = time.perf_counter()
        funnel_refresh()
        figures[f"funnel refresh, segment {label} s"] = time.perf_counter() - t
        t = time.perf_counter()
        workload_refresh()
        figures[f"workload refresh, segment {label} s"] = time.perf_counter() - t
        print(
            f"10-minute refresh with a reported segment ({label}): funnel "
            f"{figures[f'funnel refresh, segment {label} s']:.1f} s, workload "
            f"{figures[f'workload refresh, segment {label} s']:.1f} s"
        )
    return figures


def segment_pages(segment_id: int) -> list[tuple[str, str]]:
    """(label, url) of the funnel and workload pages filtered by a segment: the last twelve
    months, a period cut mid-month, and the workload."""
    from django.utils import timezone

    today = timezone.localdate()
    first = (today - dt.timedelta(days=200)).replace(day=15)
    mid = f"&date_from={first.isoformat()}&date_to={(first + dt.timedelta(days=90)).isoformat()}"
    return [
        ("funnel, segment", f"/reports/funnel/?segment={segment_id}"),
        ("funnel, segment, mid-month", f"/reports/funnel/?segment={segment_id}{mid}"),
        ("workload, segment", f"/reports/workload/?segment={segment_id}"),
    ]


# --- alone: a small organisation ---------------------------------------------------------------


def setup_organisation(customers: int, rng: random.Random) -> dict[str, Any]:
    from django.db import transaction
    from django.test.utils import override_settings

    from accounts.models import Department, Region, RegionLevel, User
    from accounts.services import (
        department_create,
        generate_password,
        regions_sync,
        roles_sync,
        user_create,
    )
    from customers.models import Customer

    roles_sync()
    regions_sync()
    districts = list(
        Region.objects.filter(level=RegionLevel.DISTRICT, code__startswith="36").order_by("code")
    )
    department = Department.objects.filter(code="bench_rp").first() or department_create(
        actor=None, code="bench_rp", name="市场部（报表基准）"
    )
    users = {u.username: u for u in User.objects.filter(username__startswith="bench_rp_")}

    def make(username: str, role: str, name: str, **extra: Any) -> User:
        if username not in users:
            users[username], _pw = user_create(
                actor=None,
                username=username,
                display_name=name,
                department=department,
                role_codes=[role],
                password=generate_password(12, symbols="-"),
                must_change_password=False,
                **extra,
            )
        return users[username]

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        director = make("bench_rp_director", "operations_director", "王总监")
        Department.objects.filter(pk=department.pk).update(head=director)
        managers = [
            make(f"bench_rp_am_{n}", "account_manager", f"客户经理{n}号") for n in range(40)
        ]
        for s in range(6):
            supervisor = make(f"bench_rp_sup_{s}", "supervisor", f"主管{s}号")
            for n in range(10):
                person = make(f"bench_rp_staff_{s}_{n}", "market_staff", f"专员{s}-{n}")
                User.objects.filter(pk=person.pk).update(supervisor=supervisor)
    have = Customer.objects.count()
    if have < customers:
        territory = {m.pk: rng.sample(districts, 3) for m in managers}
        for offset in range(have, customers, BATCH):
            rows = []
            for i in range(offset, min(offset + BATCH, customers)):
                owner = managers[i % len(managers)]
                rows.append(
                    Customer(
                        kind="organisation",
                        name=f"报表基准客户{i + 1:07d}",
                        category="key_unit",
                        region_id=rng.choice(territory[owner.pk]).pk,
                        owner_id=owner.pk,
                        department_id=department.pk,
                        status="active",
                    )
                )
            with transaction.atomic():
                Customer.objects.bulk_create(rows)
        print(f"seeded {customers - have:,} customers")
    return {"director": director, "manager": managers[0]}


def time_pages(
    users: dict[str, Any], requests: int, urls: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    from django.test import Client

    results = []
    for who, user in users.items():
        client = Client()
        client.force_login(user)
        for label, url in urls if urls is not None else pages():
            assert client.get(url).status_code == 200, url  # warm-up
            timings = []
            for _n in range(requests):
                t = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            timings.sort()
            results.append(
                {
                    "who": who,
                    "page": label,
                    "p50": timings[len(timings) // 2],
                    "p95": common.p95(timings),
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=20)
    common.add_database_options(parser)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-pages", action="store_true", help="time the refreshes only")
    parser.add_argument(
        "--verify", action="store_true", help="compare the incremental rows with a rebuild"
    )
    args = parser.parse_args()
    var_dir, created = common.start(
        args,
        "ruwang-bench-reports-process-",
        ["/reports/funnel/", "/reports/workload/"],
        ["reports/funnel/page.html", "reports/workload/page.html"],
    )
    try:
        common.migrate()
        from django.contrib.auth.models import Permission

        rng = random.Random(args.seed)  # noqa: S311 - benchmark data
        org = setup_organisation(args.cases, rng)
        perms = Permission.objects.filter(
            content_type__app_label="reports", codename__in=["view_reports", "export_reports"]
        )
        for user in org.values():
            user.user_permissions.add(*perms)
        seed(args.cases, args.seed)
        refresh_after_completions()
        if args.verify:
            verify_funnel()
        if args.no_pages:
            return
        from django.db import connection

        people = {"director": org["director"], "account manager": org["manager"]}
        segment = reported_segment(org["director"])
        size = segment_size(segment)
        print(f"segment {segment.name}: {size['customers']:,} customers, {size['cases']:,} cases")
        # Before the refresh: counted live (the first use), a couple of requests only.
        live = time_pages(people, 2, segment_pages(segment.pk))
        for r in live:
            r["page"] += " (live)"
        refresh_segment()
        results = live + time_pages(people, args.requests, pages() + segment_pages(segment.pk))
        print(f"\n{connection.vendor}, {args.cases:,} cases; server time per page (ms)")
        print(f"{'viewer':<16} {'page':<34} {'p50':>8} {'p95':>8}")
        for r in sorted(results, key=lambda r: r["who"]):
            print(f"{r['who']:<16} {r['page']:<34} {r['p50']:8.0f} {r['p95']:8.0f}")
    finally:
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
