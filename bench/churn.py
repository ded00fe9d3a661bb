#!/usr/bin/env python
"""Benchmark and honest evaluation of the churn risk model.

1. Generates a history with `insights.churn_demo.churn_history_generate` (documented there;
   seeded: --seed) for --customers customers, into a database of its own.
2. Builds the training set exactly as `churn_recompute` does (terminated customers as of
   `lead_days` before they left, active customers as of now) and splits it — `--split random`
   (stratified 25 %, seeded) or `--split time` (the customers terminated most recently, with
   the same share of the actives, are held out) — then prints the hold-out AUC
   (sklearn.metrics.roc_auc_score) of the logistic model fitted on the rest and of the rule
   fallback (which learns nothing, scored on the same hold-out).
3. Times a full `churn_recompute()` (features, training, scoring, bulk writes) — again after
   adding --scale plain active customers, if asked — and the pure scoring of --score-rows
   synthetic rows (numpy, per million).

    .venv/bin/python bench/churn.py --customers 5000                      # SQLite
    .venv/bin/python bench/churn.py --customers 5000 --scale 1000000      # + a million
    .venv/bin/python bench/churn.py --database-url postgres://postgres@127.0.0.1:5432/ruwang_bc

The developer's database is never touched (see bench/common.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path


def evaluate(split: str, seed: int) -> None:
    import numpy as np
    from django.utils import timezone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from insights import churn

    now = timezone.now()
    settings = churn.churn_settings()
    actives = churn.active_cohort(now)
    terminated = churn.terminated_cohort(now, settings)
    t = time.perf_counter()
    x_neg = churn.churn_features(actives, settings)
    x_pos = churn.churn_features(terminated, settings)
    print(
        f"features: {len(terminated)} terminated, {len(actives)} active customers, "
        f"{time.perf_counter() - t:.2f} s"
    )
    if split == "time":
        # Hold out the latest quarter of terminations and a random quarter of the actives.
        order = np.argsort(terminated.as_of, kind="stable")
        cut = int(len(order) * 0.75)
        rng = np.random.default_rng(seed)
        neg = rng.permutation(len(x_neg))
        ncut = int(len(neg) * 0.75)
        x_train = np.vstack([x_pos[order[:cut]], x_neg[neg[:ncut]]])
        y_train = np.concatenate([np.ones(cut), np.zeros(ncut)])
        x_test = np.vstack([x_pos[order[cut:]], x_neg[neg[ncut:]]])
        y_test = np.concatenate([np.ones(len(order) - cut), np.zeros(len(neg) - ncut)])
    else:
        x = np.vstack([x_pos, x_neg])
        y = np.concatenate([np.ones(len(x_pos)), np.zeros(len(x_neg))])
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=0.25, stratify=y, random_state=seed
        )
    parameters = churn.logistic_fit(x_train, y_train)
    logistic = roc_auc_score(y_test, churn.logistic_probability(parameters, x_test))
    rules = roc_auc_score(y_test, churn.rules_points(x_test).sum(axis=1))
    print(
        f"hold-out ({split} split): {int(y_test.sum())} terminated + "
        f"{int(len(y_test) - y_test.sum())} active customers"
    )
    print(f"  AUC logistic regression: {logistic:.3f}")
    print(f"  AUC weighted rules:      {rules:.3f}")
    words = ", ".join(
        f"{name} {coef:+.2f}"
        for name, coef in zip(parameters["features"], parameters["coefs"], strict=True)
    )
    print(f"  coefficients (per standard deviation): {words}")


def add_plain_customers(count: int, seed: int) -> None:
    """`count` more active customers with one service contract each and no events — to time
    the recomputation at scale (their histories are empty, the work per customer is not)."""
    import datetime as dt
    import random
    from decimal import Decimal

    from django.db import transaction

    from accounts.models import Region
    from customers.models import Customer
    from onboarding.models import ServiceContract

    rng = random.Random(seed)  # noqa: S311 - benchmark data
    region = Region.objects.get(code="360102")
    today = dt.date.today()
    t = time.perf_counter()
    batch = 10_000
    for start in range(0, count, batch):
        with transaction.atomic():
            rows = Customer.objects.bulk_create(
                [
                    Customer(name=f"规模客户{i}", region=region, status="active")
                    for i in range(start, min(start + batch, count))
                ]
            )
            contracts = []
            for customer in rows:
                signed = today - dt.timedelta(days=rng.randrange(3 * 365))
                contracts.append(
                    ServiceContract(
                        customer=customer,
                        number=f"BC-{customer.pk:09d}",
                        signed_on=signed,
                        starts_on=signed,
                        ends_on=signed + dt.timedelta(days=rng.choice((365, 730, 1095))),
                        term_months=12,
                        annual_fee=Decimal(rng.randrange(600, 60_000)),
                    )
                )
            ServiceContract.objects.bulk_create(contracts, batch_size=2000)
    print(f"added {count} plain active customers in {time.perf_counter() - t:.1f} s")


def pages() -> None:
    """Median server time of the at-risk list and the model card (5 requests after a warm-up)
    for a user who sees every customer, and of the list for an account manager owning 1,000."""
    from django.test import Client

    from accounts.models import User
    from customers.models import Customer
    from ruwang.testing import make_user

    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        "bench-churn",
        password="x-Bench-Churn-2026",  # noqa: S106 - throwaway database
    )
    from django.contrib.auth.models import Permission

    manager = make_user("bench-churn-am", "account_manager")
    # Directly, whatever the roles grant in this version.
    manager.user_permissions.add(
        Permission.objects.get(content_type__app_label="insights", codename="view_churn")
    )
    ids = list(
        Customer.objects.filter(status="active").order_by("-pk").values_list("pk", flat=True)[:1000]
    )
    Customer.objects.filter(pk__in=ids).update(owner=manager)
    for user, url in (
        (admin, "/insights/churn/"),
        (admin, "/insights/churn/?band=high"),
        (admin, "/insights/churn/model/"),
        (manager, "/insights/churn/"),
    ):
        client = Client()
        client.force_login(user)
        timings = []
        for _n in range(6):
            t = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(f"{url} as {user.username}: median {sorted(timings[1:])[2]:.0f} ms")


def pure_scoring(rows: int) -> None:
    import numpy as np

    from insights import churn

    rng = np.random.default_rng(1)
    x = rng.poisson(1.0, size=(rows, len(churn.FEATURES))).astype(float)
    parameters = {
        "means": [1.0] * len(churn.FEATURES),
        "scales": [1.0] * len(churn.FEATURES),
        "coefs": [0.3] * len(churn.FEATURES),
        "intercept": -1.0,
    }
    for method in ("logistic", "rules"):
        t = time.perf_counter()
        churn.churn_score_matrix(method, parameters, x)
        seconds = time.perf_counter() - t
        print(
            f"scoring {rows:,} rows ({method}, numpy, top-3 factors): {seconds:.2f} s "
            f"= {seconds / rows * 1e6:.2f} s per million"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--split", choices=("random", "time"), default="random")
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="then add this many plain active customers and time the recomputation again",
    )
    common.add_database_options(parser)
    args = parser.parse_args()
    var_dir, created = common.start(
        args,
        "ruwang-bench-churn-",
        ["/insights/churn/"],
        ["insights/churn/list.html", "insights/churn/model.html"],
    )
    try:
        common.migrate()
        from accounts.models import Region, RegionLevel
        from insights.churn import churn_recompute
        from insights.churn_demo import churn_history_generate

        region, _created = Region.objects.get_or_create(
            code="360102",
            defaults={"name": "东湖区", "level": RegionLevel.DISTRICT, "full_name": "东湖区"},
        )
        t = time.perf_counter()
        history = churn_history_generate(customers=args.customers, seed=args.seed, region=region)
        print(
            f"generated {history.customers} customers ({history.terminated} terminated), "
            f"{history.tickets} tickets, {history.faults} faults, {history.surveys} surveys, "
            f"{history.revisits} revisits, {history.contracts} contracts "
            f"in {time.perf_counter() - t:.1f} s"
        )
        evaluate(args.split, args.seed)
        t = time.perf_counter()
        result = churn_recompute()
        assert result is not None
        model = result.model
        auc = f"{model.holdout_auc:.3f}" if model.holdout_auc is not None else "—"
        print(
            f"churn_recompute: {model.method}, hold-out AUC {auc}, {result.scored} customers "
            f"scored, bands {result.bands}, {time.perf_counter() - t:.2f} s"
        )
        if args.scale:
            add_plain_customers(args.scale, args.seed)
            t = time.perf_counter()
            result = churn_recompute()
            assert result is not None
            seconds = time.perf_counter() - t
            print(
                f"churn_recompute at scale: {result.scored} customers scored in {seconds:.1f} s "
                f"({seconds / result.scored * 1e6:.1f} s per million)"
            )
        pages()
        pure_scoring(args.score_rows)
    finally:
        common.finish(args, var_dir, created)


if __name__ == "__main__":
    main()
