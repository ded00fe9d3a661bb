#!/usr/bin/env python
"""Benchmark of the value classification (RFM / ABC) at scale.

Seeds N customers (default 1,000,000) and service contracts for about 60 % of them (1–3 each,
signed over the last five years, annual fees 600–60,000 yuan, terms 12/24/36 months) into a
database of its own, then times:

* the first `value_recompute()` (every customer classified),
* a second run after 1 % of the customers signed a new contract (class changes recorded),
* the value page (`/insights/value/`) for a user who sees every customer, and the count of a
  segment "value class is A" (the customer list's segment filter).

    .venv/bin/python bench/value.py --customers 100000                 # SQLite, quick
    .venv/bin/python bench/value.py --database-url postgres://postgres@127.0.0.1:5432/ruwang_bv

The developer's database is never touched (see bench/common.py): SQLite lives in a fresh
RUWANG_VAR_DIR under /tmp (or --var-dir), PostgreSQL in the database named by --database-url,
dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

BATCH = 10_000


def seed(customers: int, rng: random.Random) -> None:
    from django.db import transaction

    from accounts.models import Region, RegionLevel
    from customers.models import Customer
    from onboarding.models import ServiceContract

    have = Customer.objects.count()
    if have >= customers:
        print(f"reusing {have} customers")
        return
    region, _created = Region.objects.get_or_create(
        code="360102",
        defaults={"name": "东湖区", "level": RegionLevel.DISTRICT, "full_name": "东湖区"},
    )
    today = dt.date.today()
    t = time.perf_counter()
    number = ServiceContract.objects.count()
    for start in range(have, customers, BATCH):
        with transaction.atomic():
            rows = Customer.objects.bulk_create(
                [
                    Customer(name=f"客户{i}", region=region, status="active")
                    for i in range(start, min(start + BATCH, customers))
                ]
            )
            contracts = []
            for customer in rows:
                if rng.random() >= 0.6:
                    continue
                for _n in range(rng.choice((1, 1, 1, 2, 2, 3))):
                    signed = today - dt.timedelta(days=rng.randrange(5 * 365))
                    months = rng.choice((12, 24, 36))
                    number += 1
                    contracts.append(
                        ServiceContract(
                            customer=customer,
                            number=f"BV-{number:08d}",
                            signed_on=signed,
                            starts_on=signed,
                            ends_on=signed + dt.timedelta(days=months * 30),
                            term_months=months,
                            annual_fee=Decimal(rng.randrange(600, 60_000)),
                        )
                    )
            ServiceContract.objects.bulk_create(contracts, batch_size=2000)
    print(f"seeded {customers - have} customers in {time.perf_counter() - t:.1f} s")


def new_contracts(share: float, rng: random.Random) -> int:
    from customers.models import Customer
    from onboarding.models import ServiceContract

    ids = list(Customer.objects.values_list("pk", flat=True))
    chosen = rng.sample(ids, int(len(ids) * share))
    today = dt.date.today()
    base = ServiceContract.objects.count()
    ServiceContract.objects.bulk_create(
        [
            ServiceContract(
                customer_id=pk,
                number=f"BV-N-{base + i:08d}",
                signed_on=today,
                starts_on=today,
                ends_on=today + dt.timedelta(days=365),
                term_months=12,
                annual_fee=Decimal(rng.randrange(20_000, 200_000)),
            )
            for i, pk in enumerate(chosen)
        ],
        batch_size=2000,
    )
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    common.add_database_options(parser)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    var_dir, created = common.start(
        args, "ruwang-bench-value-", ["/insights/value/"], ["insights/value/overview.html"]
    )
    try:
        common.migrate()
        rng = random.Random(args.seed)  # noqa: S311 - benchmark data
        seed(args.customers, rng)
        from django.test import Client

        from accounts.models import User
        from customers.segments import segment_count
        from insights.value import value_recompute

        t = time.perf_counter()
        first = value_recompute()
        assert first is not None
        print(
            f"first run: {first.customers} customers, {first.changes} changes, "
            f"{time.perf_counter() - t:.1f} s"
        )
        added = new_contracts(0.01, rng)
        t = time.perf_counter()
        second = value_recompute()
        assert second is not None
        print(
            f"second run after {added} new contracts: {second.changes} class changes, "
            f"{time.perf_counter() - t:.1f} s"
        )
        admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
            "bench-value",
            password="x-Bench-Value-2026",  # noqa: S106 - throwaway database
        )
        client = Client()
        client.force_login(admin)
        timings = []
        for _n in range(6):
            t = time.perf_counter()
            response = client.get("/insights/value/")
            timings.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.status_code
        print(f"value page: median {sorted(timings[1:])[2]:.0f} ms (5 requests)")
        definition = {"op": "and", "items": [{"field": "value_class", "values": ["A"]}]}
        t = time.perf_counter()
        count = segment_count(admin, definition)
        print(
            f"segment “value class A”: {count} customers, {(time.perf_counter() - t) * 1000:.0f} ms"
        )
    finally:
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
