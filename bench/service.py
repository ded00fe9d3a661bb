#!/usr/bin/env python
"""Benchmark of the service dashboard (/service/dashboard/) at scale.

Seeds N tickets (default 1,000,000) over three years, with their customers, survey answers and
revisits, into a database of its own; rebuilds the dashboard figures (service.dashboard
.stats_refresh, timed: the nightly full rebuild, then an incremental refresh after a few
changes made through the ticket services); then times the real view through Django's test
client (server time: middleware, session, queries, template rendering) for a signed-in
supervisor over several periods and region filters.

    .venv/bin/python bench/service.py --tickets 200000                 # quick check, SQLite
    .venv/bin/python bench/service.py                                  # 1,000,000, SQLite
    .venv/bin/python bench/service.py \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_svcbench  # PostgreSQL

Target (issue 7): the dashboard's server time ≤ 1 s at 1,000,000 tickets.

The developer's database is never touched: SQLite lives in a fresh RUWANG_VAR_DIR under /tmp
(or --var-dir), PostgreSQL in the database named by --database-url, created when missing and
dropped at the end unless --keep. With --keep (or an existing --var-dir) a second run reuses
the seeded rows. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shlex
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

URL = "/service/dashboard/"
BATCH = 20_000
ENGINEERS_PER_TEAM = 3
# (kind, weight, channel, subjects)
KINDS = [
    ("fault", 45, "monitoring", ["采集机离线", "火警主机通讯故障", "点位误报", "电源故障"]),
    ("consultation", 20, "phone", ["咨询监控费用", "咨询报警记录", "咨询账号登录"]),
    ("revisit", 12, "phone", ["季度回访", "入网一个月回访"]),
    ("upgrade", 10, "system", ["采集机固件升级"]),
    ("other", 8, "web", ["更换联系人", "开具发票"]),
    ("complaint", 5, "phone", ["投诉响应慢", "投诉误报频繁"]),
]
# priority: (weight, first-response target hours, resolution target hours)
PRIORITIES = {
    "urgent": (5, 0.5, 8.0),
    "high": (20, 1.0, 24.0),
    "normal": (60, 4.0, 72.0),
    "low": (15, 8.0, 168.0),
}
OPEN_STRAGGLERS = 0.002  # tickets older than their resolution that are still open
NEVER_RESPONDED = 0.03  # resolved by the system (device recovered) without a response
SURVEY_SENT = 0.35  # of resolved tickets
SURVEY_ANSWERED = 0.4  # of surveys sent
EPOCH = datetime(1970, 1, 1)

TICKET_COLUMNS = (
    "id", "number", "kind", "priority", "status", "channel", "customer_id", "subject",
    "description", "team_id", "assignee_id", "created_at", "updated_at",
    "first_response_due_at", "resolution_due_at", "first_responded_at", "resolved_at",
    "closed_at", "paused_at", "sla_state", "escalation_level", "source_key", "taken_over",
    "reopened_count", "root_cause", "corrective_action",
)  # fmt: skip
SURVEY_COLUMNS = (
    "token", "customer_id", "trigger", "ticket_id", "email", "sent_at", "expires_at",
    "answered_at", "csat", "nps", "comment",
)  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tickets", type=int, default=1_000_000, help="tickets to seed (1,000,000)")
    p.add_argument("--customers", type=int, default=100_000, help="customers (100,000)")
    p.add_argument("--days", type=int, default=3 * 365, help="days the tickets span (1,095)")
    p.add_argument("--requests", type=int, default=50, help="timed requests per scenario (50)")
    p.add_argument("--warmup", type=int, default=3, help="discarded requests per scenario (3)")
    common.add_database_options(p)
    p.add_argument("--seed", type=int, default=20261126, help="random seed (20261126)")
    p.add_argument("--slow-ms", type=float, default=300.0, help="explain scenarios above p95")
    args = p.parse_args()
    if args.requests < 1:
        p.error("--requests must be at least 1")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/service.py", "--tickets", str(args.tickets)]
    parts += ["--customers", str(args.customers), "--days", str(args.days)]
    parts += ["--requests", str(args.requests), "--seed", str(args.seed)]
    parts += common.database_option_parts(args)
    return shlex.join(parts)


# --- seeding -------------------------------------------------------------------------------------


def setup_organisation() -> dict[str, Any]:
    """Regions; an engineering department with the measured supervisor, an operations
    director, one after-sales team per 江西 city and the customer centre (3 engineers each)."""
    from django.test.utils import override_settings

    from accounts.models import Department, Region, RegionLevel, User
    from accounts.services import (
        department_create,
        generate_password,
        regions_sync,
        roles_sync,
        user_create,
    )
    from service.models import AssignmentRule, Team, TeamMember

    roles_sync()
    regions_sync()
    cities = list(Region.objects.filter(level=RegionLevel.CITY, code__startswith="36"))
    districts = list(
        Region.objects.filter(level=RegionLevel.DISTRICT, code__startswith="36").order_by("code")
    )
    department = Department.objects.filter(code="bench_svc_eng").first() or department_create(
        actor=None, code="bench_svc_eng", name="工程部（售后基准）"
    )
    market = Department.objects.filter(code="bench_svc_market").first() or department_create(
        actor=None, code="bench_svc_market", name="市场部（售后基准）"
    )
    users = {u.username: u for u in User.objects.filter(username__startswith="bench_svc_")}

    def make(username: str, role: str, name: str) -> User:
        if username not in users:
            users[username], _pw = user_create(
                actor=None,
                username=username,
                display_name=name,
                department=department,
                role_codes=[role],
                password=generate_password(12, symbols="-"),
                must_change_password=False,
            )
        return users[username]

    teams = []
    # Benchmark users only: a fast hasher keeps creating them quick.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        supervisor = make("bench_svc_supervisor", "supervisor", "刘主管")
        make("bench_svc_director", "operations_director", "王总监")
        specs: list[tuple[str, str, int | None]] = [
            (f"after-sales-{c.code}", f"{c.name}售后组", c.pk) for c in cities
        ]
        specs.append(("customer-centre", "客户中心", None))
        for code, name, _city in specs:
            team = Team.objects.filter(code=code).first() or Team.objects.create(
                code=code, name=name, rule=AssignmentRule.LEAST_OPEN
            )
            members = []
            for n in range(1, ENGINEERS_PER_TEAM + 1):
                role = "customer_centre_agent" if code == "customer-centre" else "engineer"
                user = make(f"bench_svc_{code}_{n}", role, f"{name}{n}号")
                TeamMember.objects.get_or_create(team=team, user=user)
                members.append(user.pk)
            teams.append((team.pk, members))
    city_team = {city: teams[i] for i, (_c, _n, city) in enumerate(specs) if city is not None}
    return {
        "supervisor": supervisor,
        "department": department,
        "market": market,
        "cities": cities,
        "districts": districts,
        "city_team": city_team,
        "centre_team": teams[-1],
    }


def seed_customers(args: argparse.Namespace, org: dict[str, Any]) -> None:
    """Customers in 江西's districts (a third of them in 南昌), by bulk_create; their search
    columns stay empty (not measured here). 30% belong to the supervisor's department (the
    customers the supervisor may see: their tickets fill the urgent list)."""
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
    nanchang = [d for d in districts if d.code.startswith("3601")]
    now = timezone.now()
    started = time.perf_counter()
    for offset in range(0, todo, BATCH):
        rows = []
        for i in range(offset, min(offset + BATCH, todo)):
            district = rng.choice(nanchang if rng.random() < 0.33 else districts)
            own = rng.random() < 0.3
            rows.append(
                Customer(
                    kind="organisation",
                    name=f"{district.name}售后基准客户{existing + i + 1:06d}",
                    category="key_unit",
                    region_id=district.pk,
                    status="active",
                    status_changed_at=now,
                    department_id=(org["department"] if own else org["market"]).pk,
                )
            )
        with transaction.atomic():
            Customer.objects.bulk_create(rows)
    elapsed = time.perf_counter() - started
    print(f"seeded {todo:,} customers in {elapsed:.1f} s ({todo / elapsed:,.0f} rows/s)")


class Writer:
    """Multi-row inserts without the ORM: executemany on SQLite's own cursor, COPY on
    PostgreSQL. Datetimes are given as seconds since the epoch (UTC) and written as the text
    each database stores."""

    def __init__(self, table: str, columns: tuple[str, ...], datetime_columns: set[str]) -> None:
        from django.db import connection

        self.connection = connection
        self.table = table
        self.columns = columns
        self.postgres = connection.vendor == "postgresql"
        self.suffix = "+00" if self.postgres else ""
        self.datetime_at = [i for i, c in enumerate(columns) if c in datetime_columns]

    def stamp(self, seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return (EPOCH + timedelta(seconds=seconds)).isoformat(" ") + self.suffix

    def write(self, rows: list[list[Any]]) -> None:
        from django.db import transaction

        for row in rows:
            for i in self.datetime_at:
                row[i] = self.stamp(row[i])
        names = ", ".join(self.columns)
        with transaction.atomic():
            cursor = self.connection.cursor()
            if self.postgres:
                with cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(self.columns))
                raw = self.connection.connection.cursor()
                # Table and column names are this module's constants; values are bound.
                sql = f"INSERT INTO {self.table} ({names}) VALUES ({marks})"  # noqa: S608
                raw.executemany(sql, rows)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def seed_tickets(args: argparse.Namespace, org: dict[str, Any]) -> None:
    """Tickets in the order they were created, evenly over --days up to now; first response
    and resolution times drawn around their SLA targets (lognormal); resolved when that time
    has passed (a few stragglers stay open); SLA state and deadlines as the services keep
    them; the team by kind and city; 35% of resolved tickets sent a survey, 40% answered."""
    from django.utils import timezone

    from customers.models import Customer
    from service.models import Survey, Ticket

    existing = Ticket.objects.count()
    todo = args.tickets - existing
    if todo <= 0:
        print(f"reusing {existing:,} tickets")
        return
    customers = list(Customer.objects.values_list("id", "region__parent_id").order_by("id"))
    city_team, centre_team = org["city_team"], org["centre_team"]
    kinds = [k for k, *_rest in KINDS]
    kind_weights = [w for _k, w, *_rest in KINDS]
    channels = {k: c for k, _w, c, _s in KINDS}
    subjects = {k: s for k, _w, _c, s in KINDS}
    priorities = list(PRIORITIES)
    priority_weights = [PRIORITIES[p][0] for p in priorities]
    now = (timezone.now().replace(tzinfo=None) - EPOCH).total_seconds()
    span = args.days * 86_400.0
    first_id = (Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    tickets = Writer(
        Ticket._meta.db_table,
        TICKET_COLUMNS,
        {c for c in TICKET_COLUMNS if c.endswith("_at")},
    )
    surveys = Writer(
        Survey._meta.db_table, SURVEY_COLUMNS, {"sent_at", "expires_at", "answered_at"}
    )
    print(f"seeding {todo:,} tickets over {args.days} days (batches of {BATCH:,})")
    started = time.perf_counter()
    answered = 0
    for offset in range(0, todo, BATCH):
        rng = random.Random(args.seed * 7_919 + existing + offset)  # noqa: S311 - test data
        rows, survey_rows = [], []
        for i in range(offset, min(offset + BATCH, todo)):
            pk = first_id + i
            created = now - span + span * (existing + i + rng.random()) / args.tickets
            customer_id, city_id = rng.choice(customers)
            kind = rng.choices(kinds, kind_weights)[0]
            priority = rng.choices(priorities, priority_weights)[0]
            _w, respond_target, resolve_target = PRIORITIES[priority]
            team_id, members = (
                city_team.get(city_id, centre_team)
                if kind in ("fault", "revisit", "upgrade")
                else centre_team
            )
            response_hours = _lognormal(rng, 0.6 * respond_target, 1.0)
            resolution = max(response_hours, _lognormal(rng, 0.5 * resolve_target, 1.1))
            response = None if rng.random() < NEVER_RESPONDED else response_hours
            done_at = created + resolution * 3600
            still_open = done_at > now or rng.random() < OPEN_STRAGGLERS
            resolved = None if still_open else done_at
            responded = created + response * 3600 if response is not None else None
            if responded is not None and responded > now:
                responded = None
            respond_due = created + respond_target * 3600
            resolve_due = created + resolve_target * 3600
            closed = paused = None
            if resolved is not None:
                status = "closed" if resolved + 3 * 86_400 <= now else "resolved"
                closed = resolved + 3 * 86_400 if status == "closed" else None
                sla = "met" if resolved <= resolve_due else "breached"
            else:
                if responded is None:
                    status = "new" if rng.random() < 0.1 else "assigned"
                else:
                    status = "waiting" if rng.random() < 0.3 else "in_progress"
                if status == "waiting":
                    paused = max(responded or created, now - rng.uniform(0, 2 * 86_400))
                if now > resolve_due:
                    sla = "breached"
                elif now > resolve_due - 0.2 * resolve_target * 3600:
                    sla = "at_risk"
                else:
                    sla = "on_track"
            assignee = None if status == "new" else rng.choice(members)
            year = (EPOCH + timedelta(seconds=created)).year
            rows.append(
                [
                    pk, f"GD-{year}-{pk:06d}", kind, priority, status, channels[kind],
                    customer_id, rng.choice(subjects[kind]), "", team_id, assignee, created,
                    max(filter(None, (created, responded, resolved, closed))), respond_due,
                    resolve_due, responded, resolved, closed, paused, sla, 0, "", False, 0,
                    "", "",
                ]
            )  # fmt: skip
            if resolved is not None and rng.random() < SURVEY_SENT:
                sent = resolved + 600
                answer = None
                csat = nps = None
                if rng.random() < SURVEY_ANSWERED:
                    answer = sent + rng.uniform(60, 3 * 86_400)
                    if answer > now:
                        answer = None
                    else:
                        # Slower resolutions are scored lower.
                        late = resolved > resolve_due
                        csat = max(1, min(5, round(rng.gauss(3.6 if late else 4.4, 0.9))))
                        nps = max(0, min(10, round(rng.gauss(6.5 if late else 8.6, 1.8))))
                        answered += 1
                survey_rows.append(
                    [
                        f"bench{pk}", customer_id, "ticket", pk, "", sent, sent + 14 * 86_400,
                        answer, csat, nps, "",
                    ]
                )  # fmt: skip
        tickets.write(rows)
        surveys.write(survey_rows)
        done = offset + len(rows)
        if done % 100_000 < BATCH or done == todo:
            elapsed = time.perf_counter() - started
            print(
                f"  {done:>9,} tickets  {elapsed:7.1f} s  {done / elapsed:8,.0f} rows/s", flush=True
            )
    elapsed = time.perf_counter() - started
    print(
        f"seeded {todo:,} tickets in {elapsed:.1f} s ({todo / elapsed:,.0f} rows/s); "
        f"{answered:,} survey answers"
    )


def seed_revisits(args: argparse.Namespace) -> None:
    """One after-sales plan per customer (started in the last two years) with revisits after
    1, 3, 6 and 12 months: done when due more than a week ago (5% of those still planned)."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer
    from service.models import AfterSalesPlan, ScheduledRevisit

    if AfterSalesPlan.objects.exists():
        print("reusing the revisits")
        return
    rng = random.Random(args.seed + 11)  # noqa: S311 - test data
    today = timezone.localdate()
    now = timezone.now()
    plans = [
        AfterSalesPlan(
            customer_id=customer_id,
            starts_on=(start := today - timedelta(days=rng.randint(0, 730))),
            ends_on=start + timedelta(days=365),
        )
        for customer_id in Customer.objects.values_list("id", flat=True).order_by("id")
    ]
    started = time.perf_counter()
    for offset in range(0, len(plans), BATCH):
        chunk = plans[offset : offset + BATCH]
        with transaction.atomic():
            AfterSalesPlan.objects.bulk_create(chunk)
            revisits = []
            for plan in chunk:
                for months in (1, 3, 6, 12):
                    due = _add_months(plan.starts_on, months)
                    done = due < today - timedelta(days=7) and rng.random() > 0.05
                    revisits.append(
                        ScheduledRevisit(
                            plan_id=plan.pk,
                            customer_id=plan.customer_id,
                            due_on=due,
                            months_after=months,
                            status="done" if done else "planned",
                            done_at=now if done else None,
                        )
                    )
            ScheduledRevisit.objects.bulk_create(revisits)
    print(
        f"seeded {len(plans):,} plans, {4 * len(plans):,} revisits in "
        f"{time.perf_counter() - started:.1f} s"
    )


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


def finish_seeding() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        # Bulk-loaded tables have no statistics and no visibility map yet; autovacuum would
        # provide both within minutes in production.
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('service_ticket', 'id'), "
                "(SELECT max(id) FROM service_ticket))"
            )
            cur.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE in {time.perf_counter() - t:.1f} s")


def refresh_figures(org: dict[str, Any]) -> dict[str, float]:
    """The nightly full rebuild, then 50 changes through the ticket services (20 new tickets,
    30 older open tickets resolved) and the incremental refresh that follows."""
    from django.utils import timezone

    from customers.models import Customer
    from service import dashboard, tickets
    from service.models import (
        OPEN_TICKET_STATUSES,
        DashboardRefresh,
        SurveyDailyStat,
        Ticket,
        TicketDailyStat,
    )

    timings = {}
    t = time.perf_counter()
    result = dashboard.stats_refresh(full=True)
    timings["full"] = time.perf_counter() - t
    print(
        f"full rebuild in {timings['full']:.1f} s: {result.ticket_days:,} ticket days, "
        f"{TicketDailyStat.objects.count():,} ticket rows, "
        f"{SurveyDailyStat.objects.count():,} survey rows"
    )
    customers = list(Customer.objects.order_by("?").values_list("id", flat=True)[:20])
    for customer in Customer.objects.filter(id__in=customers):
        tickets.ticket_create(actor=None, customer=customer, kind="fault", subject="基准新工单")
    older = list(
        Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES)
        .exclude(status="waiting")
        .select_related("customer", "policy")
        .order_by("?")[:30]
    )
    for ticket in older:
        tickets.ticket_set_status(actor=None, ticket=ticket, status="resolved")
    # As if the previous refresh had run 10 minutes ago (the view's refresh interval).
    DashboardRefresh.objects.update(started_at=timezone.now() - timedelta(minutes=10))
    t = time.perf_counter()
    result = dashboard.stats_refresh()
    timings["incremental"] = time.perf_counter() - t
    print(
        f"incremental refresh after 50 changes in {timings['incremental']:.2f} s "
        f"({result.ticket_days} ticket days, {result.survey_days} survey days recomputed)"
    )
    return timings


# --- measuring -----------------------------------------------------------------------------------


def build_scenarios(org: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    from django.utils import timezone

    from customers.models import Customer

    today = timezone.localdate()
    nanchang = next(c for c in org["cities"] if c.code == "360100")
    district = Customer.objects.values_list("region_id", flat=True).order_by("region_id").first()
    return [
        ("last 30 days (default)", {}),
        ("last 7 days", {"period": "7"}),
        ("last 90 days", {"period": "90"}),
        (
            "one year (date range)",
            {
                "period": "range",
                "date_from": (today - timedelta(days=364)).isoformat(),
                "date_to": today.isoformat(),
            },
        ),
        ("90 days, 南昌市", {"period": "90", "region": str(nanchang.pk)}),
        ("90 days, one district", {"period": "90", "region": str(district)}),
    ]


OPEN_RE = re.compile(r'id="rw-open-total">([\d,]+)<')
# The "all tickets" row of the times table: its second cell is the tickets created.
CREATED_RE = re.compile(r'data-kind="all"[^>]*>\s*<td>[^<]*</td>\s*<td[^>]*>([\d,]+)<')


def _number(pattern: re.Pattern[str], html: str) -> int:
    match = pattern.search(html)
    if match is None:
        raise SystemExit(f"the page has no match for {pattern.pattern}")
    return int(match.group(1).replace(",", ""))


def run_scenarios(
    args: argparse.Namespace, user: Any, scenarios: list[tuple[str, dict[str, str]]]
) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    results = []
    for name, params in scenarios:
        for _i in range(args.warmup):
            client.get(URL, params)
        timings = []
        for _i in range(args.requests):
            t = time.perf_counter()
            response = client.get(URL, params)
            timings.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code}")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL, params)
        html = response.content.decode()
        timings.sort()
        results.append(
            {
                "scenario": name,
                "params": params,
                "n": len(timings),
                "p50": statistics.median(timings),
                "p95": common.p95(timings),
                "max": timings[-1],
                "queries": len(ctx.captured_queries),
                "created": _number(CREATED_RE, html),
                "open": _number(OPEN_RE, html),
            }
        )
        r = results[-1]
        print(
            f"  {name:<24} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  max {r['max']:7.1f} ms  "
            f"{r['queries']} queries  {r['created']:,} created, {r['open']:,} open",
            flush=True,
        )
    return results


def print_table(results: list[dict[str, Any]], vendor: str, tickets: int) -> None:
    print(f"\nDB vendor: {vendor}   tickets: {tickets:,}   (server time via django.test.Client)")
    header = (
        f"| {'scenario':<24} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} | {'max ms':>7} "
        f"| {'queries':>7} | {'created in period':>17} | {'open now':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['scenario']:<24} | {r['n']:>3} | {r['p50']:>7.1f} | {r['p95']:>7.1f} | "
            f"{r['max']:>7.1f} | {r['queries']:>7} | {r['created']:>17,} | {r['open']:>8,} |"
        )


def explain_slow(user: Any, result: dict[str, Any]) -> None:
    """Time each query of a slow scenario and show the plan of the slowest one."""

    def request(client: Any, params: dict[str, str]) -> None:
        client.get(URL, params)

    elapsed, _params, queries = common.slowest_variant(user, [result["params"]], request)
    print(f"\n--- {result['scenario']}: {elapsed:.0f} ms")
    common.print_slowest(queries, top=4, width=300)


def main() -> None:
    args = parse_args()
    command = reproduce_command(args)
    print(f"reproduce: {command}")
    var_dir, created_var = common.start(
        args,
        "ruwang-svcbench-",
        urls=[URL],
        templates=[
            "base.html", "service/dashboard.html", "service/tickets/_sla_badge.html",
            "service/tickets/_status_badge.html", "service/tickets/_priority_badge.html",
        ],
    )  # fmt: skip
    from django.db import connection

    from service.models import Ticket

    try:
        common.migrate()
        org = setup_organisation()
        if connection.vendor == "sqlite":
            # Seeding only: a large page cache for the index inserts. Every request opens a
            # connection of its own with the default cache, as in production.
            with connection.cursor() as cur:
                cur.execute("PRAGMA cache_size = -1000000")
        seed_customers(args, org)
        seed_tickets(args, org)
        seed_revisits(args)
        finish_seeding()
        connection.close()
        timings = refresh_figures(org)
        rows = Ticket.objects.count()
        results = run_scenarios(args, org["supervisor"], build_scenarios(org))
        print_table(results, connection.vendor, rows)
        print(
            f"figures: full rebuild {timings['full']:.1f} s, incremental refresh after 50 "
            f"changes {timings['incremental'] * 1000:.0f} ms"
        )
        for r in results:
            if r["p95"] > args.slow_ms:
                explain_slow(org["supervisor"], r)
        print(f"\nreproduce: {command}")
    finally:
        common.finish(args, var_dir, created_var)


if __name__ == "__main__":
    main()
