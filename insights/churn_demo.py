"""A seeded generator of customer histories for the churn risk (demo data and bench/churn.py).

`churn_history_generate(customers=…, seed=…)` writes, for each customer, a history drawn from a
hidden "dissatisfaction" u ~ N(0, 1) — the same seed always gives the same rows:

- **Life**: the record is created 120–2,200 days ago; service contracts of 12, 24 or 36 months
  follow one another from then on (the later ones are renewals); one collector (with a warranty
  to the first contract's end) and one after-sales plan per customer.
- **Termination**: with probability sigmoid(−1.3 + 1.4 u) the customer leaves, at a moment in
  the last 1,000 days (at least 150 days after it was created): half of the leavers
  (AT_RENEWAL) do not renew a contract and are set to 退网 (terminated) 0–60 days after its end,
  the others leave mid-contract at a uniform moment. `status_changed_at` holds the moment (the
  audit entry of a real change is not forged). Otherwise the customer is active and its
  contracts run past today — except for 10 % (LATE_RENEWAL) whose renewal is late: their last
  contract ended within the last 120 days.
- **Events**, over the 400 days before the end of its history (termination or today), as
  Poisson counts placed uniformly in time with a rate multiplier m = exp(0.7 u) — × 1.6 more in
  the 270 days before a termination (the signs build up): device faults (0.8 m per 90 days),
  complaint tickets (0.25 m per 180 days), consultation tickets (1.0 / √m per 180 days),
  revisits done (0.6 / m per 180 days); each fault or complaint ticket breaches its SLA with
  probability min(0.8, 0.15 m); satisfaction surveys (0.6 per 180 days) score
  round(4.2 − 0.9 u + N(0, 0.8)) clipped to 1–5.

Nothing in the generator looks at the model's features: the features only see the rows, so the
hold-out AUC of bench/churn.py measures how well the model recovers the hidden u from them
(noise included: it is not perfect by construction).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Region, User
from customers.models import Customer, CustomerStatus
from customers.search import search_fields

PREFIX = "LS"  # numbers of generated tickets, contracts and collectors start with it
NAME_PARTS = ("华联", "金辉", "鸿运", "长青", "瑞丰", "恒达", "新城", "东方", "福星", "锦绣")
NAME_KINDS = ("商场", "酒店", "大厦", "学校", "医院", "仓库", "写字楼", "宾馆")
BATCH = 2000
AT_RENEWAL = 0.5  # share of the leavers who leave by not renewing (the others mid-contract)
LATE_RENEWAL = 0.1  # share of the active customers whose renewal is late


@dataclass
class GeneratedHistory:
    customers: int = 0
    terminated: int = 0
    tickets: int = 0
    faults: int = 0
    surveys: int = 0
    revisits: int = 0
    contracts: int = 0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here are small (a few events).
    limit = math.exp(-mean)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _moments(rng: random.Random, count: int, start: dt.datetime, end: dt.datetime) -> list[Any]:
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    return sorted(start + dt.timedelta(seconds=rng.random() * span) for _n in range(count))


def _rate_count(
    rng: random.Random, per_period: float, period_days: float, start: dt.datetime, end: dt.datetime
) -> list[Any]:
    days = max((end - start).total_seconds() / 86_400, 0)
    return _moments(rng, _poisson(rng, per_period * days / period_days), start, end)


def churn_history_generate(
    *,
    customers: int = 600,
    seed: int = 9,
    now: dt.datetime | None = None,
    region: Region | None = None,
    owners: list[User] | None = None,
) -> GeneratedHistory:
    """Write `customers` customers with their histories (see the module's docstring); the
    same seed and `now` give the same rows. Returns what was written."""
    from devices.models import Collector, Fault
    from onboarding.models import ServiceContract
    from service.models import AfterSalesPlan, ScheduledRevisit, Survey, Ticket

    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    now = now or timezone.now()
    if region is None:
        region = Region.objects.filter(level="district").order_by("code").first()
    if region is None:
        raise ValueError("No district to put the generated customers in.")
    owners = owners or []
    result = GeneratedHistory()
    number = Ticket.objects.filter(number__startswith=PREFIX).count()
    contract_number = ServiceContract.objects.filter(number__startswith=PREFIX).count()
    address = (Collector.objects.aggregate(m=Max("address"))["m"] or 0) + 1
    # A seed-specific tag keeps the numbers of two runs (two seeds) apart.
    tag = f"{seed % 1000:03d}"

    for start in range(0, customers, BATCH):
        chunk = range(start, min(start + BATCH, customers))
        with transaction.atomic():
            plans: list[dict[str, Any]] = []
            rows: list[Customer] = []
            for i in chunk:
                u = rng.gauss(0, 1)
                created = now - dt.timedelta(days=rng.uniform(120, 2200))
                name = f"{rng.choice(NAME_PARTS)}{rng.choice(NAME_KINDS)}{tag}{i:05d}"
                # Contracts from creation on, one after another.
                contracts: list[tuple[dt.date, dt.date, int]] = []
                begin = timezone.localdate(created)
                while begin <= timezone.localdate(now):
                    months = rng.choice((12, 24, 36))
                    end = begin + dt.timedelta(days=round(months * 30.44))
                    contracts.append((begin, end, months))
                    begin = end
                terminated_at = None
                today = timezone.localdate(now)
                zone = timezone.get_current_timezone()
                earliest = max(
                    timezone.localdate(created) + dt.timedelta(days=150),
                    today - dt.timedelta(days=1000),
                )
                if rng.random() < _sigmoid(-1.3 + 1.4 * u) and earliest < today:
                    ends = [c[1] for c in contracts if earliest <= c[1] < today]
                    if ends and rng.random() < AT_RENEWAL:
                        # does not renew: marked terminated up to 60 days after the end
                        day = rng.choice(ends) + dt.timedelta(days=rng.uniform(0, 60))
                    else:
                        # leaves mid-contract (closes, moves, switches provider)
                        day = earliest + dt.timedelta(days=rng.uniform(0, (today - earliest).days))
                    moment = dt.datetime.combine(day, dt.time(10), tzinfo=zone)
                    terminated_at = min(moment, now - dt.timedelta(hours=1))
                    contracts = [c for c in contracts if c[0] < terminated_at.date()]
                elif (
                    len(contracts) > 1
                    and rng.random() < LATE_RENEWAL
                    and today - contracts[-2][1] <= dt.timedelta(days=120)
                ):
                    # an active customer whose renewal is late: the last contract ended lately
                    contracts = contracts[:-1]
                fields = search_fields(name=name, short_name="", credit_code="", phones=[])
                rows.append(
                    Customer(
                        name=name,
                        region=region,
                        owner=rng.choice(owners) if owners else None,
                        status=CustomerStatus.TERMINATED
                        if terminated_at
                        else CustomerStatus.ACTIVE,
                        status_changed_at=terminated_at or created,
                        category="general",
                        **fields.__dict__,
                    )
                )
                plans.append(
                    {"u": u, "created": created, "contracts": contracts, "end": terminated_at}
                )
            saved = Customer.objects.bulk_create(rows)
            tickets: list[Ticket] = []
            faults: list[tuple[int, Any]] = []
            surveys: list[Survey] = []
            revisits: list[tuple[int, Any, int]] = []
            contract_rows: list[ServiceContract] = []
            collectors: list[Collector] = []
            plan_rows: list[AfterSalesPlan] = []
            for customer, plan in zip(saved, plans, strict=True):
                customer.created_at = plan["created"]
            # bulk_update writes the value as given (auto_now_add stamped today on insert).
            Customer.objects.bulk_update(saved, ["created_at"], batch_size=500)
            for customer, plan in zip(saved, plans, strict=True):
                u, created, end = plan["u"], plan["created"], plan["end"] or now
                first = plan["contracts"][0]
                for begin, finish, months in plan["contracts"]:
                    contract_number += 1
                    contract_rows.append(
                        ServiceContract(
                            customer=customer,
                            number=f"{PREFIX}HT{tag}{contract_number:08d}",
                            signed_on=begin - dt.timedelta(days=rng.randint(0, 20)),
                            starts_on=begin,
                            ends_on=finish,
                            term_months=months,
                            annual_fee=Decimal(rng.randrange(1200, 24_000, 100)),
                        )
                    )
                collectors.append(
                    Collector(
                        address=address,
                        serial_number=f"{PREFIX}SN{tag}{address:010d}",
                        customer=customer,
                        installed_on=first[0],
                        warranty_ends_on=first[1],
                        status="retired" if plan["end"] else "online",
                    )
                )
                address += 1
                plan_rows.append(
                    AfterSalesPlan(customer=customer, starts_on=first[0], ends_on=first[1])
                )
                m = math.exp(0.7 * u)
                revisit_no = 0
                window_start = max(created, end - dt.timedelta(days=400))
                spans = [(window_start, end, m)]
                if plan["end"]:
                    build_up = max(window_start, end - dt.timedelta(days=270))
                    spans = [(window_start, build_up, m), (build_up, end, m * 1.6)]
                for low, high, rate in spans:
                    for moment in _rate_count(rng, 0.8 * rate, 90, low, high):
                        faults.append((len(collectors) - 1, moment))
                    for kind, per in (("complaint", 0.25 * rate), ("consultation", 1 / rate**0.5)):
                        for moment in _rate_count(rng, per, 180, low, high):
                            number += 1
                            breached = kind == "complaint" and rng.random() < min(0.8, 0.15 * rate)
                            tickets.append(
                                Ticket(
                                    number=f"{PREFIX}{tag}{number:09d}",
                                    kind=kind,
                                    status="closed",
                                    customer=customer,
                                    subject="投诉" if kind == "complaint" else "咨询",
                                    created_at=moment,
                                    closed_at=moment + dt.timedelta(days=2),
                                    sla_state="breached" if breached else "met",
                                    breached_at=moment + dt.timedelta(days=1) if breached else None,
                                )
                            )
                    for moment in _rate_count(rng, 0.6 / rate, 180, low, high):
                        # (plan, months after) is unique: numbered per plan here
                        revisit_no += 1
                        revisits.append((len(plan_rows) - 1, moment, revisit_no))
                    for moment in _rate_count(rng, 0.6, 180, low, high):
                        csat = round(4.2 - 0.9 * u + rng.gauss(0, 0.8))
                        surveys.append(
                            Survey(
                                token=f"{PREFIX}{rng.getrandbits(160):040x}",
                                customer=customer,
                                trigger="revisit",
                                sent_at=moment - dt.timedelta(days=1),
                                expires_at=moment + dt.timedelta(days=14),
                                answered_at=moment,
                                csat=min(5, max(1, csat)),
                            )
                        )
            ServiceContract.objects.bulk_create(contract_rows, batch_size=BATCH)
            Collector.objects.bulk_create(collectors, batch_size=BATCH)
            AfterSalesPlan.objects.bulk_create(plan_rows, batch_size=BATCH)
            fault_rows = []
            for index, moment in faults:
                breached = rng.random() < 0.3
                fault_rows.append(
                    Fault(
                        collector=collectors[index],
                        kind=rng.choice(("offline", "device", "line")),
                        status="closed",
                        opened_at=moment,
                        closed_at=moment + dt.timedelta(hours=6),
                    )
                )
                if breached:
                    number += 1
                    tickets.append(
                        Ticket(
                            number=f"{PREFIX}{tag}{number:09d}",
                            kind="fault",
                            status="closed",
                            customer=collectors[index].customer,
                            subject="故障",
                            created_at=moment,
                            closed_at=moment + dt.timedelta(days=3),
                            sla_state="breached",
                            breached_at=moment + dt.timedelta(days=1),
                        )
                    )
            Fault.objects.bulk_create(fault_rows, batch_size=BATCH)
            Ticket.objects.bulk_create(tickets, batch_size=BATCH)
            Survey.objects.bulk_create(surveys, batch_size=BATCH)
            ScheduledRevisit.objects.bulk_create(
                [
                    ScheduledRevisit(
                        plan=plan_rows[index],
                        customer_id=plan_rows[index].customer_id,
                        due_on=timezone.localdate(moment),
                        months_after=k,
                        status="done",
                        method="phone",
                        done_at=moment,
                    )
                    for index, moment, k in revisits
                ],
                batch_size=BATCH,
            )
            result.customers += len(saved)
            result.terminated += sum(1 for p in plans if p["end"])
            result.tickets += len(tickets)
            result.faults += len(fault_rows)
            result.surveys += len(surveys)
            result.revisits += len(revisits)
            result.contracts += len(contract_rows)
    return result


def load_demo() -> None:
    """The demo's churn history (idempotent): 600 generated customers in the first demo
    district, owned by the account managers, then one recomputation of the scores."""
    from devices.models import Collector
    from insights.churn import churn_recompute

    if Collector.objects.filter(serial_number__startswith=f"{PREFIX}SN").exists():
        return
    owners = list(
        User.objects.filter(groups__role__code="account_manager", is_active=True).order_by("pk")
    )
    churn_history_generate(customers=600, seed=9, owners=owners)
    churn_recompute()
