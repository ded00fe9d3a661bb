#!/usr/bin/env python
"""Benchmark of the churn-risk list (/insights/churn/) at scale.

Seeds, into a database of its own, N customers (default 1,000,000) with bench/customers.py's
seeder (regions of the whole country weighted toward 江西, 50 account managers with sales
territories, search columns computed as customers.services computes them; the same --seed
gives the same rows), then one ChurnModel and a ChurnScore row for every active customer
(~45 %): scores drawn from 100 × Beta(1.3, 2.5) (≈ 40 % at or above the medium threshold of
40, ≈ 8 % from the high threshold of 70), three factors each, written with the recomputation's
own upsert (insights.churn._upsert_sql). The scores are synthetic on purpose: the page's cost
depends on how many rows each filter keeps and where they lie, not on how the model chose them
(bench/churn.py measures the model and the recomputation).

Then it times the real view through Django's test client (server time: middleware, session,
queries, rendering) for every filter combination — band, minimum score, region (a city, a
district), account manager, search (Chinese, initials, phone digits), sorting, page 2 via the
page's own "next" link — as the operations director (every customer) and as an account
manager (bench_am03: own customers and a territory of three districts, ~2–3 % of all),
printing p50 / p95 / max and the number of queries; scenarios slower than --slow-ms at p95
get the plan of their slowest query.

    .venv/bin/python bench/churn_list.py --customers 50000                 # quick, SQLite
    nice -n 19 .venv/bin/python bench/churn_list.py --var-dir /tmp/ruwang_churn_1m --keep
    nice -n 19 .venv/bin/python bench/churn_list.py \\
        --copy-from /tmp/ruwang_churn_1m/ruwang.sqlite3 \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_churn_1m --keep

The developer's database is never touched (bench/common.py): SQLite lives in a fresh
RUWANG_VAR_DIR under /tmp (or --var-dir), PostgreSQL in the database named by --database-url,
dropped at the end unless --keep. A re-run with the same --var-dir (or kept database) reuses
the seeded customers and scores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shlex
import statistics
import sys
import time
from html import unescape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path
from bench import customers as customers_bench  # noqa: E402

URL = "/insights/churn/"
FACTORS = ("faults_90d", "complaints_180d", "overdue_180d", "no_contact_days", "renewal_due")
NEXT_RE = re.compile(r'[?&;]after=([^"&]+)" id="rw-churn-next"')
COUNT_RE = re.compile(r'id="rw-churn-count"[^>]*>[^<0-9]*([0-9,]+\+?)')


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--customers", type=int, default=1_000_000, help="customers (1,000,000)")
    p.add_argument("--requests", type=int, default=30, help="timed requests per scenario (30)")
    p.add_argument("--warmup", type=int, default=2, help="discarded requests per scenario (2)")
    common.add_database_options(p)
    p.add_argument(
        "--copy-from",
        default="",
        help="seed the customers by copying a SQLite database seeded with the same --seed "
        "(bench/customers.py or this script): no pinyin work",
    )
    p.add_argument("--seed", type=int, default=20261125, help="random seed (20261125)")
    p.add_argument("--workers", type=int, default=2, help="processes computing rows (2)")
    p.add_argument("--slow-ms", type=float, default=300.0, help="explain scenarios above p95")
    p.add_argument("--only", default="", help="run only scenarios whose name contains this")
    args = p.parse_args()
    if args.requests < 1:
        p.error("--requests must be at least 1")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/churn_list.py", "--customers", str(args.customers)]
    parts += ["--requests", str(args.requests), "--seed", str(args.seed)]
    parts += common.database_option_parts(args)
    if args.copy_from:
        parts += ["--copy-from", args.copy_from]
    if args.only:
        parts += ["--only", args.only]
    return shlex.join(parts)


# --- seeding -------------------------------------------------------------------------------------


def seed_scores(seed: int) -> None:
    """A ChurnModel (rules) and a score row for every active customer, unless there are some."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from customers.models import Customer
    from insights import churn
    from insights.models import ChurnMethod, ChurnModel, ChurnScore

    if ChurnScore.objects.exists():
        print(f"reusing {ChurnScore.objects.count():,} churn scores")
        return
    started = time.perf_counter()
    now = timezone.now()
    settings = churn.churn_settings()
    ids = list(
        Customer.objects.filter(status="active", merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .iterator(chunk_size=20_000)
    )
    rng = np.random.default_rng(seed)
    scores = np.rint(100 * rng.beta(1.3, 2.5, size=len(ids))).astype(int).tolist()
    picks = rng.integers(0, len(FACTORS), size=(len(ids), 3)).tolist()
    sql = churn._upsert_sql()
    computed_at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        model = ChurnModel.objects.create(
            trained_at=now,
            method=ChurnMethod.RULES,
            parameters={"features": list(churn.FEATURES)},
            scored=len(ids),
        )
        with connection.cursor() as cursor:
            for start in range(0, len(ids), 5000):
                rows = []
                for i in range(start, min(start + 5000, len(ids))):
                    chosen = dict.fromkeys(FACTORS[j] for j in picks[i])
                    factors = [
                        {"factor": name, "value": 1, "contribution": round(10.0 - n, 1)}
                        for n, name in enumerate(chosen)
                    ]
                    features = {name: (1 if name in chosen else 0) for name in churn.FEATURES}
                    rows.append(
                        (
                            ids[i],
                            model.pk,
                            scores[i],
                            churn.band_of(scores[i], settings),
                            json.dumps(factors),
                            json.dumps(features),
                            computed_at,
                        )
                    )
                cursor.executemany(sql, rows)
        settings.computed_at = now
        settings.save(update_fields=["computed_at"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) insights_churnscore")
    print(f"scored {len(ids):,} active customers in {time.perf_counter() - started:.1f} s")


def grant_view(users: list[Any]) -> None:
    """insights.view_churn directly, whatever the roles grant in this version."""
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(content_type__app_label="insights", codename="view_churn")
    for user in users:
        user.user_permissions.add(perm)


# --- measuring -----------------------------------------------------------------------------------


def build_scenarios(args: argparse.Namespace, user: Any, other_am: Any) -> list[Any]:
    """(name, [params …]) — each scenario cycles through its variants. Page 2 follows the
    "next" link of page 1 of a few filter combinations."""
    from django.test import Client

    from accounts.models import Region, RegionLevel
    from customers.models import Customer
    from customers.selectors import customers_visible_to

    rng = random.Random(args.seed + 11)  # noqa: S311 - benchmark data
    visible = customers_visible_to(user).filter(status="active")
    # Regions the user has customers in (for the account manager: their territory and a few
    # of their own customers' districts), so that the filters are ones they would choose.
    district_ids = list(visible.order_by().values_list("region_id", flat=True).distinct()[:400])
    districts = list(Region.objects.filter(pk__in=district_ids, level=RegionLevel.DISTRICT))
    rng.shuffle(districts)
    cities = list(
        Region.objects.filter(pk__in={d.parent_id for d in districts}, level=RegionLevel.CITY)
    )
    rng.shuffle(cities)
    city_ids = [str(c.pk) for c in cities[:8]] or [""]
    district_ids_s = [str(d.pk) for d in districts[:8]] or [""]
    # The seeder's heaviest regions: a quarter of all customers in 南昌, 60 % in 江西.
    nanchang = str(Region.objects.get(code="360100").pk)
    jiangxi = str(Region.objects.get(code="360000").pk)
    owner = str(other_am.pk) if user.has_perm("customers.view_all_customers") else str(user.pk)
    phones = list(
        Customer.objects.filter(pk__in=visible.order_by("-pk").values("pk")[:2000])
        .exclude(phones="")
        .values_list("phones", flat=True)[:30]
    )
    digits = [p.split()[0][-4:] for p in phones if p] or ["1234"]
    scenarios: list[tuple[str, list[dict[str, str]]]] = [
        ("default (medium+high)", [{}]),
        ("band high", [{"band": "high"}]),
        ("band medium", [{"band": "medium"}]),
        ("band low", [{"band": "low"}]),
        ("score at least 0", [{"min_score": "0"}]),
        ("score at least 90", [{"min_score": "90"}]),
        ("city", [{"region": r} for r in city_ids]),
        ("district", [{"region": r} for r in district_ids_s]),
        ("district, score ≥ 0", [{"region": r, "min_score": "0"} for r in district_ids_s]),
        ("district, band high", [{"region": r, "band": "high"} for r in district_ids_s]),
        ("city, band low", [{"region": r, "band": "low"} for r in city_ids]),
        ("南昌 (25 % of all)", [{"region": nanchang}]),
        ("南昌, band low", [{"region": nanchang, "band": "low"}]),
        ("江西 (60 % of all)", [{"region": jiangxi}]),
        ("江西, score ≥ 90", [{"region": jiangxi, "min_score": "90"}]),
        ("owner", [{"owner": owner}]),
        ("owner, band high", [{"owner": owner, "band": "high"}]),
        ("owner, band low", [{"owner": owner, "band": "low"}]),
        ("owner, city", [{"owner": owner, "region": r} for r in city_ids]),
        ("search Chinese", [{"q": q} for q in ("医院", "张伟", "南昌", "大厦", "赣江", "便利")]),
        ("search initials", [{"q": q} for q in ("zw", "yy", "nc", "gj")]),
        ("search phone digits", [{"q": d} for d in digits[:20]]),
        ("search, band low", [{"q": q, "band": "low"} for q in ("医院", "zw", "大厦")]),
        ("search, score ≥ 0", [{"q": q, "min_score": "0"} for q in ("医院", "南昌")]),
        ("sort lowest first", [{"sort": "score"}]),
        ("sort lowest, band low", [{"sort": "score", "band": "low"}]),
        ("sort lowest, district", [{"sort": "score", "region": r} for r in district_ids_s]),
    ]
    client = Client()
    client.force_login(user)
    second: list[dict[str, str]] = []
    for params in (
        {},
        {"band": "high"},
        {"band": "low"},
        {"min_score": "0"},
        {"region": city_ids[0]},
        {"sort": "score"},
        {"owner": owner},
        {"q": "医院"},
    ):
        html = client.get(URL, params).content.decode()
        found = NEXT_RE.search(html)
        if found:
            second.append({**params, "after": unescape(found.group(1)).replace("%7C", "|")})
    scenarios.append(("page 2", second))
    if args.only:
        scenarios = [s for s in scenarios if args.only in s[0]]
    return scenarios


def run_scenarios(
    args: argparse.Namespace, label: str, user: Any, scenarios: list[Any]
) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    results = []
    for name, variants in scenarios:
        if not variants:
            print(f"  {label:<16} {name:<24} skipped: no variant at this size")
            continue

        def get(i: int, variants: list[Any] = variants) -> Any:
            return client.get(URL, variants[i % len(variants)])

        timings = common.time_requests(get, args.requests, args.warmup, name)
        with CaptureQueriesContext(connection) as ctx:
            html = get(0).content.decode()
        count = COUNT_RE.search(html)
        result = {
            "user": label,
            "scenario": name,
            "n": len(timings),
            "p50": statistics.median(timings),
            "p95": common.p95(timings),
            "max": timings[-1],
            "queries": len(ctx.captured_queries),
            "rows": html.count("data-customer="),
            "count": count.group(1) if count else "",
            "variants": variants,
        }
        results.append(result)
        print(
            f"  {label:<16} {name:<24} p50 {result['p50']:7.1f}  p95 {result['p95']:7.1f}  "
            f"max {result['max']:7.1f} ms  {result['queries']:>2} queries  "
            f"{result['rows']:>3} rows  {result['count']}",
            flush=True,
        )
    return results


def explain_slow(user: Any, result: dict[str, Any]) -> None:
    def request(client: Any, params: dict[str, str]) -> None:
        client.get(URL, params)

    elapsed, params, queries = common.slowest_variant(user, result["variants"][:6], request)
    print(f"\n--- {result['user']} / {result['scenario']}: slowest {params} {elapsed:.0f} ms")
    common.print_slowest(queries, top=3, width=900)


def print_table(results: list[dict[str, Any]], vendor: str, customers: int, scores: int) -> None:
    print(
        f"\nDB vendor: {vendor}   customers: {customers:,}   scored (active): {scores:,}"
        "   (server time via django.test.Client)"
    )
    header = (
        f"| {'user':<16} | {'scenario':<24} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} "
        f"| {'max ms':>7} | {'queries':>7} | {'rows':>4} | {'count':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['user']:<16} | {r['scenario']:<24} | {r['n']:>3} | {r['p50']:>7.1f} "
            f"| {r['p95']:>7.1f} | {r['max']:>7.1f} | {r['queries']:>7} | {r['rows']:>4} "
            f"| {r['count']:>7} |"
        )


def main() -> None:
    args = parse_args()
    command = reproduce_command(args)
    print(f"reproduce: {command}")
    var_dir, created = common.start(
        args,
        "ruwang-bench-churn-list-",
        urls=[URL],
        templates=["base.html", "insights/churn/list.html"],
    )
    try:
        from django.db import connection

        from customers.models import Customer
        from customers.selectors import customers_visible_to
        from insights.models import ChurnScore

        common.migrate()
        org = customers_bench.setup_organisation(args.seed)
        customers_bench.seed_customers(args, org)
        customers_bench.check_search_index()
        seed_scores(args.seed)
        director, am = org["director"], org["am"]
        grant_view([director, am])
        from accounts.models import User

        other_am = User.objects.get(username="bench_am07")
        total = Customer.objects.count()
        scores = ChurnScore.objects.count()
        print(
            f"{total:,} customers, {scores:,} scored; the account manager sees "
            f"{customers_visible_to(am).count():,} customers, "
            f"{customers_visible_to(am).filter(churn__isnull=False).count():,} scored"
        )
        results = []
        for label, user in (("director (all)", director), ("account manager", am)):
            user = User.objects.get(pk=user.pk)
            results += run_scenarios(args, label, user, build_scenarios(args, user, other_am))
        print_table(results, connection.vendor, total, scores)
        for r in results:
            if r["p95"] > args.slow_ms:
                user = director if r["user"].startswith("director") else am
                explain_slow(User.objects.get(pk=user.pk), r)
        print(f"\nreproduce: {command}")
    finally:
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
