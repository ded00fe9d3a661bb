"""Association analysis (关联分析) at scale: times `/insights/association/` on a database seeded
by bench/reports.py (1,000,000 customers, 2,000,000 tickets by default), cold (the ten-minute
result cache emptied before every request), for the operations director (sees every
customer) and for the account manager of bench/reports.py (owns ~2 % of the customers, serves
one district), given the service leads' permission to open the page: the preset periods (read
from the nightly windows: every district for the director; the served district plus a live
count of their own customers elsewhere for the account manager), a city, and a date range
(counted live for both).

    .venv/bin/python bench/reports.py --var-dir /tmp/rep-1m --keep      # seed once
    .venv/bin/python bench/association.py --var-dir /tmp/rep-1m
    .venv/bin/python bench/association.py --database-url postgres://postgres@127.0.0.1:5432/ruwang_rep
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

URL = "/insights/association/"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=10, help="timed requests per page (10)")
    p.add_argument("--database-url", default="", help="PostgreSQL URL; SQLite when absent")
    p.add_argument("--var-dir", default="", help="the var dir of a seeded bench/reports.py run")
    p.add_argument("--recompute", action="store_true", help="recompute the nightly windows first")
    args = p.parse_args()
    args.keep = True  # never drop the seeded database
    return args


def main() -> None:
    args = parse_args()
    var_dir, created = common.start(args, "ruwang-assocbench-", urls=[URL], templates=[])
    from django.contrib.auth.models import Permission
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from accounts.models import Region, User
    from insights.association import association_precompute
    from insights.models import AssociationWindow
    from service.models import Ticket

    setup_test_environment()  # responses keep their template context (the result shown)
    try:
        common.migrate()
        director = User.objects.get(username="bench_svc_director")
        manager = User.objects.get(username="bench_rep_am01")
        lead = Permission.objects.get(
            content_type__app_label="service", codename="view_service_dashboard"
        )
        manager.user_permissions.add(lead)
        yesterday = timezone.localdate() - dt.timedelta(days=1)
        fresh = AssociationWindow.objects.filter(last_day=yesterday).count() == 4
        if args.recompute or not fresh:
            t = time.perf_counter()
            association_precompute()
            print(f"nightly windows computed in {time.perf_counter() - t:.1f} s", flush=True)
        nanchang = Region.objects.get(code="360100")
        today = timezone.localdate()
        pages: list[tuple[str, dict[str, str]]] = [
            ("90 days (nightly windows)", {}),
            ("365 days (nightly windows)", {"period": "365"}),
            ("365 days, 南昌市", {"period": "365", "region": str(nanchang.pk)}),
            (
                "last 30 days as a date range (live)",
                {
                    "period": "range",
                    "date_from": str(today - dt.timedelta(days=29)),
                    "date_to": str(today),
                },
            ),
        ]
        print(
            f"{Ticket.objects.count():,} tickets; the account manager serves "
            f"{', '.join(r.name for r in manager.regions.all())}",
            flush=True,
        )
        rows = []
        for who, user in (("director", director), ("account manager", manager)):
            client = Client()
            client.force_login(user)
            for label, params in pages:
                timings = []
                for _i in range(args.requests):
                    cache.clear()  # cold: no cached result
                    t = time.perf_counter()
                    response = client.get(URL, params)
                    timings.append((time.perf_counter() - t) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{who} {params}: HTTP {response.status_code}")
                result: Any = response.context["result"]
                timings.sort()
                rows.append(
                    (
                        who,
                        label,
                        statistics.median(timings),
                        common.p95(timings),
                        result.baskets,
                        result.precomputed,
                        result.live_part,
                    )
                )
                print(
                    f"  {who:<16} {label:<38} p50 {rows[-1][2]:8.1f}  p95 {rows[-1][3]:8.1f} ms",
                    flush=True,
                )
        print(f"\nDB vendor: {connection.vendor} (server time via django.test.Client, cold cache)")
        print("| viewer | page | p50 ms | p95 ms | baskets | nightly windows | live part |")
        print("|---|---|---|---|---|---|---|")
        for who, label, p50, p95, baskets, pre, live in rows:
            print(f"| {who} | {label} | {p50:.1f} | {p95:.1f} | {baskets:,} | {pre} | {live} |")
    finally:
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
