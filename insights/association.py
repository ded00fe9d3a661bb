"""Association analysis (关联分析): which ticket kinds, network faults, fault/alarm component
types, collector models and customer categories occur together for the same customer.

Baskets: one per customer, the set of items the customer shows in the period:

* ``ticket`` — the kind of each ticket created in the period (service.Ticket.kind);
* ``fault`` — the kind of each network-operations fault opened in the period on one of its
  collectors (devices.Fault.kind);
* ``component`` — the component type (GB/T 26875.3-2011 表 4) of each fire alarm or fault event
  in the period, read from the point table when the event is linked to a point, else from the
  frame (devices.DeviceEvent);
* ``collector`` — the model of each collector in service at the customer (not in stock or
  retired);
* ``category`` — the customer's category (GB 25506-2010 classes).

Only customers with *activity* in the period (a ticket, a fault or an alarm/fault event) have a
basket: the standing facts (category, collector models) describe those customers but do not by
themselves make one, otherwise every quiet customer would dilute every support figure.

Figures, for a pair of items A and B over N baskets (the standard definitions, shown on the
page): support(A, B) = n(A ∧ B) / N; confidence(A → B) = n(A ∧ B) / n(A);
lift(A, B) = support(A, B) / (support(A) × support(B)) = n(A ∧ B) × N / (n(A) × n(B)).
Lift above 1: the two occur together more often than if they were independent.

Cost: everything is computed in the database, in one statement: the distinct (customer, item)
rows are the UNION of one DISTINCT query per activity source, joined to the standing facts of
those customers only; N, the item counts and the pair counts (a self-join of those rows on the
customer, GROUP BY, HAVING the minimum support) come back together, so Python only sees the
items and the pairs that pass (a few hundred rows at most), never the tickets or events. The
work grows with the activity in the period: measured on PostgreSQL with 1,000,000 customers,
2,000,000 tickets, 200,000 network faults and 1,000,000 device events (a shared 2-core server),
30 days took ~11 s, 90 days ~17 s, 365 days ~47 s. So the preset periods (last 30/90/180/365
days) are precomputed each night over every customer, per district (association_precompute:
customers belong to one district each, so district counts add up to any region's), and a
viewer who sees every customer gets them from a few thousand stored rows. A viewer who sees
some regions gets those regions' districts from the stored rows too, plus a live count of
their own (and department) customers outside them. Viewers without regions, date ranges,
segments and "recompute now" are computed from the rows in the background
(insights.tasks.association_task: seconds at a million customers), the page showing that they
are being computed and filling in by itself. Every result is cached for CACHE_SECONDS per
viewer scope and filters. The page says which figures it shows and when they were computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import CharField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Region, User
from customers.models import Customer, CustomerCategory
from customers.selectors import (
    any_of,
    customers_visible_to,
    region_subtree_ids,
    visibility_scope,
)
from devices.gb26875.codes import component_type_name
from devices.models import Collector, CollectorStatus, DeviceEvent, EventKind, Fault, FaultKind
from insights.models import AssociationCount, AssociationWindow
from service.models import Ticket, TicketKind

PERM = "service.view_service_dashboard"
CACHE_SECONDS = 10 * 60
# How long a computation in the background may take before it is asked for again.
PENDING_SECONDS = 5 * 60
# Pairs shown (and exported) at most, best lift first: beyond that nobody reads the list.
MAX_PAIRS = 500

FAMILIES = ("ticket", "fault", "component", "collector", "category")
# Collectors that stand at the customer's building.
_STANDING = (
    CollectorStatus.INSTALLED,
    CollectorStatus.ONLINE,
    CollectorStatus.OFFLINE,
    CollectorStatus.FAULTY,
)
_SEP = ":"


@dataclass(frozen=True)
class Filters:
    first_day: dt.date
    last_day: dt.date
    region: Region | None = None
    min_support: float = 0.01  # a fraction of the baskets (0–1)
    # Restrict the baskets to these customers (a segment's), already limited to the viewer.
    customers: QuerySet[Customer] | None = None
    customers_key: str = ""  # identifies `customers` in the cache key (e.g. "segment:3")
    # The preset chosen ("last 90 days"), if any: answered from the nightly precomputed
    # window of that length when the viewer sees every customer (see association_precompute).
    window: int | None = None


@dataclass(frozen=True)
class Item:
    key: str  # "family:value"
    family: str
    value: str
    count: int  # n(A): baskets holding the item
    support: float  # n(A) / N

    @property
    def family_label(self) -> str:
        return family_label(self.family)

    @property
    def label(self) -> str:
        return item_label(self.family, self.value)

    @property
    def support_percent(self) -> float:
        return self.support * 100


@dataclass(frozen=True)
class Pair:
    a: Item
    b: Item
    both: int  # baskets holding A and B
    support: float
    confidence_ab: float
    confidence_ba: float
    lift: float

    @property
    def support_percent(self) -> float:
        return self.support * 100


@dataclass
class Result:
    baskets: int  # N
    min_count: int  # n(A ∧ B) needed to pass the minimum support
    items: list[Item] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    truncated: bool = False
    computed_at: dt.datetime | None = None
    # The days the figures cover (a precomputed window ends on the day before it was computed).
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    precomputed: bool = False
    # Precomputed, plus the viewer's own/department customers outside their regions counted now.
    live_part: bool = False


def family_label(family: str) -> str:
    return {
        "ticket": _("Ticket kind"),
        "fault": _("Network fault"),
        "component": _("Component in alarms/faults"),
        "collector": _("Collector model"),
        "category": _("Customer category"),
    }[family]


def item_label(family: str, value: str) -> str:
    if family == "ticket":
        return str(dict(TicketKind.choices).get(value, value))
    if family == "fault":
        return str(dict(FaultKind.choices).get(value, value))
    if family == "category":
        return str(dict(CustomerCategory.choices).get(value, value))
    if family == "component":
        return f"{component_type_name(int(value))} ({value})" if value.isdigit() else value
    return value


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _item(family: str, expression: Any) -> Concat:
    return Concat(Value(family + _SEP), expression, output_field=CharField())


def _sources(
    customers: QuerySet[Customer], start: dt.datetime, end: dt.datetime
) -> tuple[list[QuerySet[Any]], list[QuerySet[Any]]]:
    """(activity sources, standing-fact sources): querysets of distinct (customer id, item)."""
    ids = customers.order_by().values("id")
    tickets = (
        Ticket.objects.filter(customer_id__in=ids, created_at__gte=start, created_at__lt=end)
        .order_by()
        .annotate(cid=F("customer_id"), item=_item("ticket", F("kind")))
        .values_list("cid", "item")
        .distinct()
    )
    faults = (
        Fault.objects.filter(
            collector__customer_id__in=ids, opened_at__gte=start, opened_at__lt=end
        )
        .order_by()
        .annotate(cid=F("collector__customer_id"), item=_item("fault", F("kind")))
        .values_list("cid", "item")
        .distinct()
    )
    component = Coalesce("point__component_type", "component_type")
    events = (
        DeviceEvent.objects.filter(
            kind__in=[EventKind.FIRE, EventKind.FAULT],
            occurred_at__gte=start,
            occurred_at__lt=end,
            collector__customer_id__in=ids,
        )
        .annotate(component=component)
        .filter(component__isnull=False)
        .order_by()
        .annotate(
            cid=F("collector__customer_id"),
            item=_item("component", Cast("component", CharField())),
        )
        .values_list("cid", "item")
        .distinct()
    )
    # Standing facts need no visibility filter: they are kept only for the customers of the
    # activity rows (already limited to the viewer), which the statement joins on `cid`.
    categories = (
        Customer.objects.order_by()
        .annotate(cid=F("id"), item=_item("category", F("category")))
        .values_list("cid", "item")
    )
    collectors = (
        Collector.objects.filter(status__in=_STANDING)
        .exclude(model="")
        .order_by()
        .annotate(cid=F("customer_id"), item=_item("collector", F("model")))
        .values_list("cid", "item")
    )
    return [tickets, faults, events], [categories, collectors]


def _union(querysets: list[QuerySet[Any]], where: str = "") -> tuple[str, list[Any]]:
    # Each part is wrapped as a derived table: SQLite does not accept parenthesised SELECTs in
    # a compound statement. `where` applies to its columns (cid, item).
    parts: list[str] = []
    params: list[Any] = []
    for number, qs in enumerate(querysets):
        sql, part_params = qs.query.sql_with_params()
        parts.append(f"SELECT cid, item FROM ({sql}) s{number} {where}")  # noqa: S608
        params.extend(part_params)
    return " UNION ".join(parts), params


def _items_cte(
    customers: QuerySet[Customer], start: dt.datetime, end: dt.datetime
) -> tuple[str, list[Any]]:
    """`WITH … items(cid, item) AS (…)`: the distinct (customer, item) rows of the period."""
    activity, standing = _sources(customers, start, end)
    activity_sql, activity_params = _union(activity)
    # The planner pushes the semi-join into each part: a look-up per active customer, not a
    # pass over every customer and collector.
    standing_sql, standing_params = _union(standing, "WHERE cid IN (SELECT cid FROM ev)")
    # Every part is compiled by the ORM with its values bound as parameters.
    with_sql = "".join(
        [
            "WITH ev(cid, item) AS (",
            activity_sql,
            "), st(cid, item) AS (",
            standing_sql,
            "), items(cid, item) AS (SELECT cid, item FROM ev UNION SELECT cid, item FROM st) ",
        ]
    )
    return with_sql, [*activity_params, *standing_params]


def _counts(
    customers: QuerySet[Customer], start: dt.datetime, end: dt.datetime, min_support: float
) -> tuple[int, int, list[tuple[str, int]], list[tuple[str, str, int]]]:
    with_sql, params = _items_cte(customers, start, end)
    # One statement, so the (customer, item) rows are built once: N, the item counts and the
    # pairs passing the minimum support (count ≥ support × N, less a rounding margin).
    tail = (
        "SELECT 0, NULL, NULL, COUNT(DISTINCT cid) FROM items "
        "UNION ALL SELECT 1, item, NULL, COUNT(*) FROM items GROUP BY item "
        "UNION ALL SELECT 2, a.item, b.item, COUNT(*) FROM items a "
        "JOIN items b ON b.cid = a.cid AND a.item < b.item GROUP BY a.item, b.item "
        "HAVING COUNT(*) >= %s * (SELECT COUNT(DISTINCT cid) FROM items) - 0.000001"
    )
    with connection.cursor() as cursor:
        cursor.execute(with_sql + tail, [*params, min_support])
        rows = cursor.fetchall()
    return _split(rows, min_support)


def _raw_counts(
    customers: QuerySet[Customer], start: dt.datetime, end: dt.datetime
) -> list[tuple[Any, ...]]:
    """Rows (part, a, b, n) like `_counts` reads, with every pair (no minimum support): counts
    to be added to others before the minimum applies to their sum."""
    with_sql, params = _items_cte(customers, start, end)
    tail = (
        "SELECT 0, NULL, NULL, COUNT(DISTINCT cid) FROM items "
        "UNION ALL SELECT 1, item, NULL, COUNT(*) FROM items GROUP BY item "
        "UNION ALL SELECT 2, a.item, b.item, COUNT(*) FROM items a "
        "JOIN items b ON b.cid = a.cid AND a.item < b.item GROUP BY a.item, b.item"
    )
    with connection.cursor() as cursor:
        cursor.execute(with_sql + tail, params)
        return cursor.fetchall()


def _split(
    rows: Iterable[tuple[Any, ...]], min_support: float
) -> tuple[int, int, list[tuple[str, int]], list[tuple[str, str, int]]]:
    """(N, the pair count passing the minimum support, item counts, passing pair counts) from
    rows (part, a, b, n): part 0 the basket count, 1 an item's, 2 a pair's."""
    baskets = 0
    items: list[tuple[str, int]] = []
    pairs: list[tuple[str, str, int]] = []
    for part, a, b, n in rows:
        if part == 0:
            baskets += int(n)
        elif part == 1:
            items.append((str(a), int(n)))
        else:
            pairs.append((str(a), str(b), int(n)))
    min_count = max(1, math.ceil(min_support * baskets - 0.000001))
    return baskets, min_count, items, [pair for pair in pairs if pair[2] >= min_count]


# --- precomputed windows ---------------------------------------------------------------------

# The preset periods of the page, precomputed each night over every customer, per district.
WINDOWS = (30, 90, 180, 365)
# A window computed more than this many days ago is not used (the nightly run failed).
STALE_AFTER_DAYS = 2


@dataclass(frozen=True)
class PrecomputeResult:
    windows: int
    rows: int
    seconds: float


def association_precompute(
    *, today: dt.date | None = None, only_if_due: bool = False
) -> PrecomputeResult | None:
    """Compute every preset window ending yesterday, per district, over every customer, and
    replace the stored counts (one transaction per window, so the page always reads a whole
    window). With `only_if_due` (the scheduler): only once a day, after 03:00 local time."""
    now = timezone.localtime()
    today = today or now.date()
    last_day = today - dt.timedelta(days=1)
    if only_if_due:
        if now.hour < 3:
            return None
        done = set(
            AssociationWindow.objects.filter(last_day=last_day).values_list("days", flat=True)
        )
        if done >= set(WINDOWS):
            return None
    started = time.monotonic()
    customers = Customer.objects.filter(merged_into__isnull=True)
    table = Customer._meta.db_table
    total = 0
    for days in WINDOWS:
        window_started = time.monotonic()
        start = _day_start(last_day - dt.timedelta(days=days - 1))
        end = _day_start(today)
        with_sql, params = _items_cte(customers, start, end)
        with_sql += (
            f", ri(cid, region, item) AS (SELECT items.cid, c.region_id, items.item "  # noqa: S608
            f"FROM items JOIN {connection.ops.quote_name(table)} c ON c.id = items.cid) "
        )
        tail = (
            "SELECT 0, region, NULL, NULL, COUNT(DISTINCT cid) FROM ri GROUP BY region "
            "UNION ALL SELECT 1, region, item, NULL, COUNT(*) FROM ri GROUP BY region, item "
            "UNION ALL SELECT 2, a.region, a.item, b.item, COUNT(*) FROM ri a "
            "JOIN ri b ON b.cid = a.cid AND a.item < b.item GROUP BY a.region, a.item, b.item"
        )
        with connection.cursor() as cursor:
            cursor.execute(with_sql + tail, params)
            rows = cursor.fetchall()
        with transaction.atomic():
            window, _created = AssociationWindow.objects.update_or_create(
                days=days,
                defaults={
                    "last_day": last_day,
                    "computed_at": timezone.now(),
                    "seconds": time.monotonic() - window_started,
                },
            )
            AssociationCount.objects.filter(window=window).delete()
            AssociationCount.objects.bulk_create(
                (
                    AssociationCount(
                        window=window, region_id=region, item_a=a or "", item_b=b or "", count=n
                    )
                    for _part, region, a, b, n in rows
                ),
                batch_size=5000,
            )
        total += len(rows)
    return PrecomputeResult(windows=len(WINDOWS), rows=total, seconds=time.monotonic() - started)


@dataclass(frozen=True)
class _Stored:
    window: AssociationWindow
    rows: list[tuple[Any, ...]]
    # Some of the viewer's customers lie outside the districts read from the window (own or
    # department customers elsewhere): their rows were counted now and added.
    live_part: bool = False


def _precomputed_counts(user: User, filters: Filters) -> _Stored | None:
    """The counts answering `filters` from a window computed lately, if they can: a preset
    period and no segment. A viewer who sees every customer reads the window's districts (or
    those of the region chosen). A viewer who sees the customers of some regions plus their
    own (and their department's) reads those regions' districts from the window and counts the
    rest of their customers — the ones outside those districts — live over the same days:
    customers belong to one district each, so the two parts are disjoint and add up."""
    if filters.window is None or filters.customers is not None:
        return None
    scope = visibility_scope(user)
    if not scope.everything and not scope.region_ids:
        return None  # nothing to read from the window: the live count is as cheap
    window = AssociationWindow.objects.filter(days=filters.window).first()
    if window is None or window.last_day < timezone.localdate() - dt.timedelta(
        days=STALE_AFTER_DAYS
    ):
        return None
    subtree = region_subtree_ids([filters.region.pk]) if filters.region is not None else None
    counts = AssociationCount.objects.filter(window=window)
    if scope.everything:
        if subtree is not None:
            counts = counts.filter(region_id__in=subtree)
    else:
        served = set(scope.region_ids)
        if subtree is not None:
            served &= set(subtree)
        counts = counts.filter(region_id__in=sorted(served))
    rows: list[tuple[Any, ...]] = []
    for a, b, n in (
        counts.order_by()
        .values_list("item_a", "item_b")
        .annotate(n=Sum("count"))
        .values_list("item_a", "item_b", "n")
    ):
        rows.append((0 if not a else 1 if not b else 2, a, b, n))
    if scope.everything:
        return _Stored(window, rows)
    # The rest: own and department customers outside the served districts (a NULL district
    # included: `exclude` keeps it).
    others = [Q(owner_id=scope.owner_id)]
    if scope.department_id is not None:
        others.append(Q(department_id=scope.department_id))
    rest = (
        Customer.objects.filter(merged_into__isnull=True)
        .filter(any_of(tuple(others)))
        .exclude(region_id__in=sorted(scope.region_ids))
    )
    if subtree is not None:
        rest = rest.filter(region_id__in=subtree)
    start = _day_start(window.last_day - dt.timedelta(days=window.days - 1))
    end = _day_start(window.last_day + dt.timedelta(days=1))
    rows.extend(_raw_counts(rest, start, end))
    return _Stored(window, _merge(rows), live_part=True)


def _merge(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows (part, a, b, n) with the counts of equal (part, a, b) added up."""
    totals: dict[tuple[Any, Any, Any], int] = {}
    for part, a, b, n in rows:
        key = (part, a or None, b or None)
        totals[key] = totals.get(key, 0) + int(n)
    return [(part, a, b, n) for (part, a, b), n in totals.items()]


def _cache_key(user: User, filters: Filters) -> str:
    scope = visibility_scope(user)
    raw = repr(
        (
            scope.everything,
            scope.owner_id,
            sorted(scope.region_ids),
            scope.department_id,
            filters.first_day,
            filters.last_day,
            filters.region.pk if filters.region else None,
            filters.min_support,
            filters.customers_key,
            filters.window,
        )
    )
    return "insights:association:" + hashlib.sha256(raw.encode()).hexdigest()


def association_pairs(user: User, filters: Filters, *, fresh: bool = False) -> Result:
    """Frequent item pairs over the baskets of the customers `user` may see, best lift first.

    Cached for CACHE_SECONDS (per viewer scope and filters); `fresh` recomputes."""
    found = association_ready(user, filters, fresh=fresh)
    if found is not None:
        return found
    # Neither cached nor answered by the nightly windows (association_ready read them): from
    # the rows, without reading the windows a second time.
    return association_compute(user, filters, fresh=True)


def association_ready(user: User, filters: Filters, *, fresh: bool = False) -> Result | None:
    """The result if it comes at once: cached, or read from the nightly windows (a preset
    period, no segment; for a viewer who serves regions with a live count of their own
    customers elsewhere). None when it must be computed from the rows, which takes seconds at
    a million customers: the page then has it computed in the background (association_task)."""
    key = _cache_key(user, filters)
    if fresh:
        return None  # "Recompute now" asks for the figures of this moment, never the nightly ones
    cached: Result | None = cache.get(key)
    if cached is not None:
        return cached
    stored = _precomputed_counts(user, filters)
    if stored is None:
        return None
    result = _from_window(stored, filters)
    cache.set(key, result, CACHE_SECONDS)
    return result


def association_cached(user: User, filters: Filters) -> Result | None:
    cached: Result | None = cache.get(_cache_key(user, filters))
    return cached


def association_claim(user: User, filters: Filters) -> bool:
    """Mark the computation of these figures as started; False when one already is (so a
    page reloaded or polled while it runs does not queue it again). The mark lapses after
    PENDING_SECONDS, so a computation that died can be asked for again."""
    return bool(cache.add(_cache_key(user, filters) + ":pending", True, PENDING_SECONDS))


def association_pending(user: User, filters: Filters) -> bool:
    return cache.get(_cache_key(user, filters) + ":pending") is not None


def association_forget(user: User, filters: Filters) -> None:
    """Drop the cached result ("recompute now": the page waits for the new one)."""
    cache.delete(_cache_key(user, filters))


def association_compute(user: User, filters: Filters, *, fresh: bool = False) -> Result:
    """Compute the figures (`fresh`: from the rows, never the nightly windows), cache them and
    clear the pending mark."""
    result = _compute(user, filters, live=fresh)
    key = _cache_key(user, filters)
    cache.set(key, result, CACHE_SECONDS)
    cache.delete(key + ":pending")
    return result


def _from_window(stored: _Stored, filters: Filters) -> Result:
    window = stored.window
    baskets, min_count, item_rows, pair_rows = _split(stored.rows, filters.min_support)
    first_day = window.last_day - dt.timedelta(days=window.days - 1)
    return _result(
        baskets,
        min_count,
        item_rows,
        pair_rows,
        computed_at=window.computed_at,
        first_day=first_day,
        last_day=window.last_day,
        precomputed=True,
        live_part=stored.live_part,
    )


def _compute(user: User, filters: Filters, *, live: bool = False) -> Result:
    stored = None if live else _precomputed_counts(user, filters)
    if stored is not None:
        return _from_window(stored, filters)
    customers = filters.customers if filters.customers is not None else customers_visible_to(user)
    if filters.region is not None:
        customers = customers.filter(region_id__in=region_subtree_ids([filters.region.pk]))
    start = _day_start(filters.first_day)
    end = _day_start(filters.last_day + dt.timedelta(days=1))
    baskets, min_count, item_rows, pair_rows = _counts(customers, start, end, filters.min_support)
    return _result(
        baskets,
        min_count,
        item_rows,
        pair_rows,
        computed_at=timezone.now(),
        first_day=filters.first_day,
        last_day=filters.last_day,
    )


def _result(
    baskets: int,
    min_count: int,
    item_rows: list[tuple[str, int]],
    pair_rows: list[tuple[str, str, int]],
    **extra: Any,
) -> Result:
    items: dict[str, Item] = {}
    for key, count in item_rows:
        family, _sep, value = key.partition(_SEP)
        items[key] = Item(key=key, family=family, value=value, count=count, support=count / baskets)
    pairs = []
    for a_key, b_key, both in pair_rows:
        a, b = items[a_key], items[b_key]
        pairs.append(
            Pair(
                a=a,
                b=b,
                both=both,
                support=both / baskets,
                confidence_ab=both / a.count,
                confidence_ba=both / b.count,
                lift=both * baskets / (a.count * b.count),
            )
        )
    pairs.sort(key=lambda p: (-p.lift, -p.both, p.a.key, p.b.key))
    return Result(
        baskets=baskets,
        min_count=min_count,
        items=sorted(items.values(), key=lambda i: (FAMILIES.index(i.family), -i.count, i.key)),
        pairs=pairs[:MAX_PAIRS],
        truncated=len(pairs) > MAX_PAIRS,
        **extra,
    )
