"""Value classification (客户价值分类, handbook ch. 5): RFM scores and an ABC class per customer.

What counts, for a fire-alarm monitoring service business:
- An **order** is a signed service contract (`onboarding.ServiceContract`); a customer's second
  and later contracts are its **renewals**. The code base has no sales orders paid by customers
  (`onboarding.PurchaseOrder` is the company's own purchase from suppliers), so contracts are the
  only source. Contracts signed after today are ignored.
- **Recency**: days from the latest signed contract to today (no contract: none, R score 1).
- **Frequency**: contracts signed within the frequency window (default three years).
- **Monetary**: the value of contracts signed within the monetary window, each worth its annual
  fee × term in months / 12.

Scores are quintiles among the customers that have the figure (ties share the lower rank):
1 + ⌊5 × rank / n⌋, the most recent, most frequent and most valuable getting 5; customers
without contracts get 1. The RFM score is the weighted mean of the three scores.

ABC class: customers are ranked by monetary value (then RFM score, then id, so that the result
never depends on row order); the first `a_share` % of all customers are class A, the next
`b_share` % class B, the rest C — a customer without contract value is always C. Shares round to
the nearest customer.

The recomputation is set-based: one aggregate query over contracts, one pass over customer ids,
scores in memory (compact arrays: about 60 MB at a million customers) and upserts in batches.
"""

from __future__ import annotations

import bisect
import datetime as dt
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import User
from audit.services import audit_record
from customers.models import Customer
from customers.segments import ConditionType, ValueKind, condition_type_register
from customers.selectors import customers_visible_to, visibility_condition
from insights.models import CustomerValue, ValueClass, ValueClassChange, ValueSettings

VIEW_PERM = "insights.view_value"
RECOMPUTE_PERM = "insights.recompute_value"
BATCH = 2000
NIGHTLY_HOUR = 2  # the nightly run starts after 02:00 local time, once a day
CARD_CHANGES = 5
RECENT_CHANGES = 20
CLASSES = (ValueClass.A, ValueClass.B, ValueClass.C)


def value_settings() -> ValueSettings:
    """The one settings row, created with the defaults on first use."""
    found = ValueSettings.objects.order_by("pk").first()
    return found if found is not None else ValueSettings.objects.create()


# --- scoring (pure functions, hand-checkable) ------------------------------------------------


def quintile_scores(values: list[int], present: list[bool], *, higher_is_better: bool) -> list[int]:
    """Scores 1–5 by rank among the `present` values; ties share the lower rank; absent: 1."""
    chosen = [i for i, has in enumerate(present) if has]
    chosen.sort(key=lambda i: values[i] if higher_is_better else -values[i])
    scores = [1] * len(values)
    n = len(chosen)
    rank = 0
    for position, i in enumerate(chosen):
        if position and values[i] != values[chosen[position - 1]]:
            rank = position
        scores[i] = 1 + (rank * 5) // n
    return scores


def class_counts(n: int, a_share: int, b_share: int) -> tuple[int, int]:
    """How many customers (of n) fall in A, and in A or B — rounded to the nearest customer."""
    a = (n * a_share + 50) // 100
    ab = (n * min(a_share + b_share, 100) + 50) // 100
    return a, ab


# --- recomputation ---------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    customers: int = 0
    changes: int = 0
    seconds: float = 0.0
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


def _fee_months() -> ExpressionWrapper:
    # annual fee × months, summed in the database and divided by 12 in Python: SQLite stores
    # whole-yuan fees as integers and would divide them as integers.
    return ExpressionWrapper(
        F("annual_fee") * F("term_months"),
        output_field=DecimalField(max_digits=18, decimal_places=2),
    )


def _contract_figures(
    today: dt.date, settings: ValueSettings
) -> Iterator[tuple[int, dt.date, int, Decimal | None]]:
    from onboarding.models import ServiceContract

    frequency_from = today - dt.timedelta(days=settings.frequency_days)
    monetary_from = today - dt.timedelta(days=settings.monetary_days)
    rows = (
        ServiceContract.objects.filter(signed_on__lte=today, customer__merged_into__isnull=True)
        .values("customer_id")
        .annotate(
            last=Max("signed_on"),
            frequency=Count("pk", filter=Q(signed_on__gte=frequency_from)),
            fee_months=Sum(_fee_months(), filter=Q(signed_on__gte=monetary_from)),
        )
        .order_by("customer_id")
        .values_list("customer_id", "last", "frequency", "fee_months")
    )
    return rows.iterator(chunk_size=BATCH * 5)


def _cents(fee_months: Decimal | float | None) -> int:
    """Fen of a contract value given as Σ annual fee × months (rounded half up)."""
    if fee_months is None:
        return 0
    return int((Decimal(str(fee_months)) * 100 / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def value_recompute_due(now: dt.datetime, settings: ValueSettings) -> bool:
    """The nightly run is due after 02:00 local time when today has not been computed yet."""
    local = timezone.localtime(now)
    if local.hour < NIGHTLY_HOUR:
        return False
    last = settings.computed_at
    return last is None or timezone.localtime(last).date() < local.date()


def value_recompute(
    *, now: dt.datetime | None = None, actor: User | None = None, only_if_due: bool = False
) -> RecomputeResult | None:
    """Recompute every customer's RFM figures, scores and ABC class in one transaction (a
    concurrent run waits for the settings row, then recomputes on fresh data — or, for the
    nightly run, finds it already done and returns None). A class differing from the stored
    one is recorded as a ValueClassChange dated today. `actor`: a person who asked for it (must
    hold insights.recompute_value; audited); None for the nightly task."""
    if actor is not None and not actor.has_perm(RECOMPUTE_PERM):
        raise PermissionDenied(RECOMPUTE_PERM)
    started = time.monotonic()
    now = now or timezone.now()
    today = timezone.localdate(now)
    value_settings()
    with transaction.atomic():
        settings = ValueSettings.objects.select_for_update().order_by("pk").first()
        assert settings is not None
        if only_if_due and not value_recompute_due(now, settings):
            return None
        result = _recompute(settings, now, today)
        result.seconds = round(time.monotonic() - started, 2)
        settings.computed_at = now
        settings.computed_seconds = result.seconds
        settings.summary = result.summary
        settings.save(update_fields=["computed_at", "computed_seconds", "summary"])
        audit_record(
            actor=actor,
            action="value.recompute",
            obj=settings,
            changes={
                "customers": [None, result.customers],
                "class_changes": [None, result.changes],
            },
        )
    return result


def _recompute(settings: ValueSettings, now: dt.datetime, today: dt.date) -> RecomputeResult:
    ids = array(
        "q",
        Customer.objects.filter(merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .iterator(chunk_size=BATCH * 10),
    )
    n = len(ids)
    recency = array("q", [-1]) * n
    frequency = array("q", [0]) * n
    monetary = array("q", [0]) * n  # in fen
    for customer_id, last, count, fee_months in _contract_figures(today, settings):
        i = bisect.bisect_left(ids, customer_id)
        if i == n or ids[i] != customer_id:
            continue
        recency[i] = (today - last).days
        frequency[i] = count
        monetary[i] = _cents(fee_months)
    old = bytearray(n)  # the stored class (0: none yet)
    for customer_id, klass in (
        CustomerValue.objects.order_by("customer_id")
        .values_list("customer_id", "abc_class")
        .iterator(chunk_size=BATCH * 10)
    ):
        i = bisect.bisect_left(ids, customer_id)
        if i < n and ids[i] == customer_id:
            old[i] = ord(klass)

    r_scores = quintile_scores(list(recency), [d >= 0 for d in recency], higher_is_better=False)
    f_scores = quintile_scores(list(frequency), [c > 0 for c in frequency], higher_is_better=True)
    m_scores = quintile_scores(list(monetary), [c > 0 for c in monetary], higher_is_better=True)
    weights = (settings.recency_weight, settings.frequency_weight, settings.monetary_weight)
    total_weight = sum(weights) or 1
    # weighted sums (integers) order customers exactly as their rounded means would, without ties
    # introduced by rounding
    weighted = [
        r_scores[i] * weights[0] + f_scores[i] * weights[1] + m_scores[i] * weights[2]
        for i in range(n)
    ]
    order = sorted(range(n), key=lambda i: (-monetary[i], -weighted[i], ids[i]))
    a_count, ab_count = class_counts(n, settings.a_share, settings.b_share)
    classes = bytearray(b"C" * n)
    for position, i in enumerate(order):
        if monetary[i] <= 0 or position >= ab_count:
            break
        classes[i] = ord("A") if position < a_count else ord("B")
    order.clear()  # free the memory before the writes

    result = RecomputeResult(customers=n)
    tally: dict[str, list[int]] = {str(k): [0, 0] for k in CLASSES}  # customers, fen
    update_fields = [
        "recency_days",
        "frequency",
        "monetary",
        "recency_score",
        "frequency_score",
        "monetary_score",
        "score",
        "abc_class",
        "computed_at",
    ]
    for start in range(0, n, BATCH):
        rows: list[CustomerValue] = []
        changes: list[ValueClassChange] = []
        for i in range(start, min(start + BATCH, n)):
            klass = chr(classes[i])
            tally[klass][0] += 1
            tally[klass][1] += monetary[i]
            rows.append(
                CustomerValue(
                    customer_id=ids[i],
                    recency_days=recency[i] if recency[i] >= 0 else None,
                    frequency=frequency[i],
                    monetary=Decimal(monetary[i]) / 100,
                    recency_score=r_scores[i],
                    frequency_score=f_scores[i],
                    monetary_score=m_scores[i],
                    score=(Decimal(weighted[i]) / Decimal(total_weight)).quantize(Decimal("0.01")),
                    abc_class=klass,
                    computed_at=now,
                )
            )
            if old[i] and old[i] != classes[i]:
                changes.append(
                    ValueClassChange(
                        customer_id=ids[i],
                        from_class=chr(old[i]),
                        to_class=klass,
                        changed_on=today,
                    )
                )
        CustomerValue.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=update_fields,
        )
        if changes:
            ValueClassChange.objects.bulk_create(changes)
            result.changes += len(changes)
    # Merged customers' rows (their figures now belong to the surviving record).
    CustomerValue.objects.filter(customer__merged_into__isnull=False).delete()
    total_fen = sum(t[1] for t in tally.values())
    result.summary = {
        k: {
            "customers": tally[k][0],
            "value": str(Decimal(tally[k][1]) / 100),
            "customer_share": round(100 * tally[k][0] / n, 1) if n else 0.0,
            "value_share": round(100 * tally[k][1] / total_fen, 1) if total_fen else 0.0,
        }
        for k in CLASSES
    }
    return result


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    code: str
    label: str
    customers: int
    value: Decimal
    customer_share: float
    value_share: float


@dataclass(frozen=True)
class ValueOverview:
    settings: ValueSettings
    rows: list[ClassRow]
    total_customers: int
    total_value: Decimal
    all_customers: bool  # False: the figures cover only the customers the viewer may see
    recent_changes: list[ValueClassChange]
    can_recompute: bool


def _rows(counts: dict[str, tuple[int, Decimal]]) -> list[ClassRow]:
    total_n = sum(c for c, _v in counts.values())
    total_v = sum((v for _c, v in counts.values()), Decimal(0))
    labels = dict(ValueClass.choices)
    return [
        ClassRow(
            code=k,
            label=str(labels[k]),
            customers=counts[k][0],
            value=counts[k][1],
            customer_share=round(100 * counts[k][0] / total_n, 1) if total_n else 0.0,
            value_share=round(float(100 * counts[k][1] / total_v), 1) if total_v else 0.0,
        )
        for k in CLASSES
    ]


def value_overview(user: User) -> ValueOverview:
    """The class distribution the user may see: the stored snapshot of the last run for those
    who see every customer (no scan of a million rows per page view), a live count over their
    own customers for everyone else."""
    if not user.has_perm(VIEW_PERM):
        raise PermissionDenied(VIEW_PERM)
    settings = value_settings()
    everyone = visibility_condition(user) is None
    counts: dict[str, tuple[int, Decimal]] = {k: (0, Decimal(0)) for k in CLASSES}
    if everyone:
        for k in CLASSES:
            part = settings.summary.get(k, {})
            counts[k] = (int(part.get("customers", 0)), Decimal(part.get("value", "0")))
        changes_qs = ValueClassChange.objects.all()
    else:
        visible = customers_visible_to(user).values("pk")
        grouped = (
            CustomerValue.objects.filter(customer__in=visible)
            .values("abc_class")
            .annotate(n=Count("pk"), v=Sum("monetary"))
            .order_by()
        )
        for row in grouped:
            counts[row["abc_class"]] = (row["n"], Decimal(row["v"] or 0))
        changes_qs = ValueClassChange.objects.filter(customer__in=visible)
    rows = _rows(counts)
    return ValueOverview(
        settings=settings,
        rows=rows,
        total_customers=sum(r.customers for r in rows),
        total_value=sum((r.value for r in rows), Decimal(0)),
        all_customers=everyone,
        recent_changes=list(
            changes_qs.select_related("customer").order_by("-changed_on", "-id")[:RECENT_CHANGES]
        ),
        can_recompute=user.has_perm(RECOMPUTE_PERM),
    )


@dataclass(frozen=True)
class ValueCard:
    customer: Customer
    value: CustomerValue | None
    changes: list[ValueClassChange]


def customer_value_card(user: User, customer: Customer) -> ValueCard | None:
    """The value card of a customer profile the user is already allowed to open; None for those
    without insights.view_value."""
    if not user.has_perm(VIEW_PERM):
        return None
    value = CustomerValue.objects.filter(customer=customer).first()
    changes = list(
        ValueClassChange.objects.filter(customer=customer).order_by("-changed_on", "-id")[
            :CARD_CHANGES
        ]
    )
    return ValueCard(customer=customer, value=value, changes=changes)


# --- the segment condition -------------------------------------------------------------------


def _value_class_q(values: list[Any]) -> Q:
    # A subquery, like the built-in types: NOT and OR combine without join surprises.
    return Q(pk__in=CustomerValue.objects.filter(abc_class__in=values).values("customer_id"))


def _class_options() -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in ValueClass.choices]


def register_segment_condition() -> None:
    condition_type_register(
        ConditionType(
            "value_class",
            gettext_lazy("Value class"),
            ValueKind.CHOICES,
            _value_class_q,
            options=_class_options,
            help_text=gettext_lazy("ABC class of the last value classification."),
        )
    )
