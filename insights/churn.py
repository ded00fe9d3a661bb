"""Churn risk (流失风险, handbook ch. 8 predictive analysis): a score 0–100 per active customer
from its own history, explained by the factors that raise it most. docs/churn.md is the long
version; in short:

Features, as of a moment T (`now` for active customers):
- faults_90d: device faults (网管 faults on the customer's collectors) opened in (T − 90 d, T];
- complaints_180d: tickets of the complaint kind opened in (T − 180 d, T];
- low_scores_180d: answered satisfaction surveys scoring 1 or 2 (of 5) in (T − 180 d, T];
- overdue_180d: tickets whose SLA was breached in (T − 180 d, T];
- no_contact_days: days since the last contact — a ticket opened, a revisit done, a survey
  answered or an inquiry received (customers.segment_facts `no_contact`), or since the record
  was created if later; at most 730;
- renewal_due: 1 when the latest service end — of the service contracts signed and the
  after-sales (warranty) plans started by T — falls within `renewal_days` after T or already
  passed without a newer one; 0 otherwise (and for customers with neither);
- tenure_years: years from the first service start (or the record's creation) to T.
Counts are capped (see CAPS) so that one runaway collector does not dominate.

Learning: terminated customers (status 退网, terminated within `history_days`) are the
positives, each seen as of its termination (`Customer.status_changed_at`, stamped by
customers.services.customer_change_status together with its audit entry) minus `lead_days`;
active customers as of now are the negatives (at most MAX_NEGATIVES, a seeded sample). With at
least `min_terminations` positives and `min_actives` negatives a StandardScaler +
LogisticRegression (balanced class weights, fixed random_state) is fitted: first on 75 % to
measure the AUC on the held-out 25 % (stratified, seeded), then on everything for the stored
parameters. Below the threshold the documented RULES score instead (AUC over every labelled
customer when both kinds exist: the rules learn nothing, so there is nothing to hold out).

Scores: logistic — 100 × the predicted probability (balanced weights: 50 means "looks as much
like the terminated as like the active"); rules — the sum of the points, at most 100. A
factor's contribution is, for the logistic model, coefficient × standardised value (its share
of the log-odds against an average customer), for the rules its points; the top three positive
ones are kept. Everything is vectorised (numpy) and written in bulk."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Region, User
from audit.services import audit_record
from customers.models import Customer, CustomerStatus, Segment
from customers.search import search_condition
from customers.segments import segment_members_q
from customers.selectors import (
    LIST_CAP,
    CustomerFilters,
    any_of,
    customer_query,
    customers_visible_to,
)
from insights.models import ChurnMethod, ChurnModel, ChurnScore, ChurnSettings, RiskBand

VIEW_PERM = "insights.view_churn"
RECOMPUTE_PERM = "insights.recompute_churn"
RANDOM_STATE = 20260
HOLDOUT_SHARE = 0.25
MAX_NEGATIVES = 200_000
BATCH = 2000
NIGHTLY_HOUR = 3  # after the value classes (02:00)
DAY = 86_400.0
LOW_SCORE = 2  # a survey scoring at most this (of 5) is a low score
TOP_FACTORS = 3

# name, window in days (None: not a windowed count), cap
FEATURES: tuple[str, ...] = (
    "faults_90d",
    "complaints_180d",
    "low_scores_180d",
    "overdue_180d",
    "no_contact_days",
    "renewal_due",
    "tenure_years",
)
WINDOWS = {"faults_90d": 90, "complaints_180d": 180, "low_scores_180d": 180, "overdue_180d": 180}
CAPS = {
    "faults_90d": 20.0,
    "complaints_180d": 10.0,
    "low_scores_180d": 10.0,
    "overdue_180d": 20.0,
    "no_contact_days": 730.0,
    "renewal_due": 1.0,
    "tenure_years": 30.0,
}
LABELS = {
    "faults_90d": gettext_lazy("Device faults in the last 90 days"),
    "complaints_180d": gettext_lazy("Complaints in the last 180 days"),
    "low_scores_180d": gettext_lazy("Low satisfaction scores (1–2) in the last 180 days"),
    "overdue_180d": gettext_lazy("Tickets past their SLA in the last 180 days"),
    "no_contact_days": gettext_lazy("Days since the last contact"),
    "renewal_due": gettext_lazy("Renewal due"),
    "tenure_years": gettext_lazy("Years as a customer"),
}

# The fallback rule set: points per unit and the most points a factor gives (sum of maxima 100).
# Short tenure scores (a customer in its first year has not yet renewed once).
RULES: dict[str, tuple[float, float]] = {
    "faults_90d": (5, 20),
    "complaints_180d": (12, 24),
    "low_scores_180d": (8, 16),
    "overdue_180d": (5, 15),
    "no_contact_days": (0, 10),  # 5 points from 90 days, 10 from 180 days
    "renewal_due": (10, 10),
    "tenure_years": (0, 5),  # 5 points under one year
}


def churn_settings() -> ChurnSettings:
    """The one settings row, created with the defaults on first use."""
    found = ChurnSettings.objects.order_by("pk").first()
    return found if found is not None else ChurnSettings.objects.create()


# --- features --------------------------------------------------------------------------------


@dataclass
class Cohort:
    """Customers (ids ascending) each seen as of its own moment (`as_of`, in days since the
    epoch), and the condition selecting them (for the event queries: a join, not an id list)."""

    ids: np.ndarray
    as_of: np.ndarray
    created: np.ndarray
    condition: Callable[[str], Q]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def uniform(self) -> bool:
        """Every member seen as of the same moment (scoring now)."""
        return len(self.ids) > 0 and float(self.as_of.min()) == float(self.as_of.max())


def _days(moment: dt.datetime) -> float:
    return moment.timestamp() / DAY


def _date_days(day: dt.date) -> float:
    return (day - dt.date(1970, 1, 1)).days + 0.0


def _pairs(
    rows: Iterable[tuple[int, Any]], convert: Callable[[Any], float]
) -> tuple[np.ndarray, np.ndarray]:
    customers: list[int] = []
    moments: list[float] = []
    for customer_id, moment in rows:
        if moment is None:
            continue
        customers.append(customer_id)
        moments.append(convert(moment))
    return np.asarray(customers, dtype=np.int64), np.asarray(moments, dtype=np.float64)


def _locate(cohort: Cohort, customers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cohort positions of event rows, and which rows belong to the cohort at all."""
    n = len(cohort.ids)
    if n == 0 or len(customers) == 0:
        return np.zeros(len(customers), dtype=np.int64), np.zeros(len(customers), dtype=bool)
    position = np.searchsorted(cohort.ids, customers)
    inside = position < n
    position = np.where(inside, position, 0)
    inside &= cohort.ids[position] == customers
    return position, inside


def _window(cohort: Cohort, days: float) -> tuple[dt.datetime, dt.datetime]:
    """The moments (low, high] covering every cohort member's window of `days`."""
    low = float(cohort.as_of.min()) - days
    high = float(cohort.as_of.max())
    return (
        dt.datetime.fromtimestamp(low * DAY, tz=dt.UTC),
        dt.datetime.fromtimestamp(high * DAY, tz=dt.UTC),
    )


def _spread(cohort: Cohort, customers: np.ndarray, figures: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(len(cohort), empty)
    position, inside = _locate(cohort, customers)
    out[position[inside]] = figures[inside]
    return out


def _count(cohort: Cohort, qs: QuerySet[Any], column: str, moment: str, days: float) -> np.ndarray:
    """Per cohort member, the rows of `qs` whose `moment` lies in (as_of − days, as_of]. One
    moment for everyone (scoring): counted by the database, grouped by customer; a moment per
    customer (learning): the (customer, moment) pairs come back and numpy counts them."""
    low, high = _window(cohort, days)
    qs = qs.filter(**{f"{moment}__gt": low, f"{moment}__lte": high}).order_by()
    if cohort.uniform:
        rows = qs.values(column).annotate(n=Count("pk")).values_list(column, "n")
        customers, counts = _pairs(rows, float)
        return _spread(cohort, customers, counts, 0.0)
    customers, moments = _pairs(qs.values_list(column, moment), _days)
    position, inside = _locate(cohort, customers)
    as_of = cohort.as_of[position]
    mask = inside & (moments <= as_of) & (moments > as_of - days)
    return np.bincount(position[mask], minlength=len(cohort)).astype(np.float64)


def _latest(cohort: Cohort, qs: QuerySet[Any], column: str, moment: str, days: float) -> np.ndarray:
    """Per cohort member, its latest `moment` in (as_of − days, as_of] (−inf: none)."""
    low, high = _window(cohort, days)
    qs = qs.filter(**{f"{moment}__gt": low, f"{moment}__lte": high}).order_by()
    if cohort.uniform:
        rows = qs.values(column).annotate(last=Max(moment)).values_list(column, "last")
        customers, moments = _pairs(rows, _days)
        return _spread(cohort, customers, moments, -np.inf)
    customers, moments = _pairs(qs.values_list(column, moment), _days)
    latest = np.full(len(cohort), -np.inf)
    position, inside = _locate(cohort, customers)
    mask = inside & (moments <= cohort.as_of[position])
    np.maximum.at(latest, position[mask], moments[mask])
    return latest


def _service_span(cohort: Cohort, qs: QuerySet[Any], signed: str) -> tuple[np.ndarray, np.ndarray]:
    """Per cohort member, the latest `ends_on` and the earliest `starts_on` of the rows of `qs`
    signed (started) on or before its day (−inf / +inf: none)."""
    n = len(cohort)
    qs = qs.order_by()
    if cohort.uniform:
        day = dt.date(1970, 1, 1) + dt.timedelta(days=int(np.floor(cohort.as_of[0])))
        rows = list(
            qs.filter(**{f"{signed}__lte": day})
            .values("customer_id")
            .annotate(last=Max("ends_on"), first=Min("starts_on"))
            .values_list("customer_id", "last", "first")
        )
        customers = np.asarray([r[0] for r in rows], dtype=np.int64)
        ends = np.asarray([_date_days(r[1]) for r in rows], dtype=np.float64)
        starts = np.asarray([_date_days(r[2]) for r in rows], dtype=np.float64)
        return _spread(cohort, customers, ends, -np.inf), _spread(cohort, customers, starts, np.inf)
    rows = list(qs.values_list("customer_id", signed, "starts_on", "ends_on"))
    last_end = np.full(n, -np.inf)
    first_start = np.full(n, np.inf)
    if rows:
        customers = np.asarray([r[0] for r in rows], dtype=np.int64)
        signed_on = np.asarray([_date_days(r[1]) for r in rows])
        starts = np.asarray([_date_days(r[2]) for r in rows])
        ends = np.asarray([_date_days(r[3]) for r in rows])
        position, inside = _locate(cohort, customers)
        known = inside & (signed_on <= np.floor(cohort.as_of[position]))
        np.maximum.at(last_end, position[known], ends[known])
        np.minimum.at(first_start, position[known], starts[known])
    return last_end, first_start


def churn_features(cohort: Cohort, settings: ChurnSettings) -> np.ndarray:
    """The feature matrix (len(cohort) × len(FEATURES)), capped — one query per fact (see
    `_count`, `_latest`, `_service_span`), never one per customer."""
    from devices.models import Fault
    from onboarding.models import ServiceContract
    from service.models import AfterSalesPlan, ScheduledRevisit, Survey, Ticket

    n = len(cohort)
    matrix = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return matrix
    col = {name: i for i, name in enumerate(FEATURES)}
    c = cohort.condition

    faults = Fault.objects.filter(c("collector__customer__"))
    matrix[:, col["faults_90d"]] = _count(cohort, faults, "collector__customer_id", "opened_at", 90)
    complaints = Ticket.objects.filter(c("customer__"), kind="complaint")
    matrix[:, col["complaints_180d"]] = _count(cohort, complaints, "customer_id", "created_at", 180)
    low_scores = Survey.objects.filter(c("customer__"), csat__lte=LOW_SCORE)
    matrix[:, col["low_scores_180d"]] = _count(
        cohort, low_scores, "customer_id", "answered_at", 180
    )
    overdue = Ticket.objects.filter(c("customer__"))
    matrix[:, col["overdue_180d"]] = _count(cohort, overdue, "customer_id", "breached_at", 180)

    # Last contact (segment_facts._no_contact's notion); older than the cap is the cap.
    cap = CAPS["no_contact_days"]
    contacts: list[tuple[QuerySet[Any], str]] = [
        (Ticket.objects.filter(c("customer__")), "created_at"),
        (ScheduledRevisit.objects.filter(c("customer__"), status="done"), "done_at"),
        (Survey.objects.filter(c("customer__")), "answered_at"),
    ]
    if apps.is_installed("inquiries"):
        contacts.append(
            (apps.get_model("inquiries", "Inquiry").objects.filter(c("customer__")), "received_at")
        )
    latest = cohort.created.copy()
    for qs, moment in contacts:
        latest = np.maximum(latest, _latest(cohort, qs, "customer_id", moment, cap))
    matrix[:, col["no_contact_days"]] = np.clip(cohort.as_of - latest, 0, cap)

    # Renewal due and tenure, from service contracts and after-sales plans (a plan counts
    # from its start: it has no signing day).
    last_end = np.full(n, -np.inf)
    first_start = np.full(n, np.inf)
    for qs, signed in (
        (ServiceContract.objects.filter(c("customer__")), "signed_on"),
        (AfterSalesPlan.objects.filter(c("customer__")), "starts_on"),
    ):
        ends, starts = _service_span(cohort, qs, signed)
        last_end = np.maximum(last_end, ends)
        first_start = np.minimum(first_start, starts)
    due = np.isfinite(last_end) & (last_end <= cohort.as_of + settings.renewal_days)
    matrix[:, col["renewal_due"]] = due.astype(np.float64)
    began = np.minimum(np.where(np.isfinite(first_start), first_start, np.inf), cohort.created)
    matrix[:, col["tenure_years"]] = np.clip((cohort.as_of - began) / 365.25, 0, None)

    for name, cap_value in CAPS.items():
        matrix[:, col[name]] = np.minimum(matrix[:, col[name]], cap_value)
    return matrix


def _active_condition(prefix: str) -> Q:
    return Q(**{f"{prefix}status": CustomerStatus.ACTIVE, f"{prefix}merged_into__isnull": True})


def active_cohort(now: dt.datetime) -> Cohort:
    rows = (
        Customer.objects.filter(_active_condition(""))
        .order_by("pk")
        .values_list("pk", "created_at")
        .iterator(chunk_size=BATCH * 10)
    )
    ids, created = _pairs(rows, _days)
    return Cohort(
        ids=ids,
        as_of=np.full(len(ids), _days(now)),
        created=created,
        condition=_active_condition,
    )


def _terminated_moments(now: dt.datetime, settings: ChurnSettings) -> list[tuple[int, Any, Any]]:
    """(customer, created, terminated at) of the customers terminated within the history;
    `status_changed_at` first, else the audited status change (records from before the stamp)."""
    from audit.models import AuditEntry

    since = now - dt.timedelta(days=settings.history_days)
    terminated = Customer.objects.filter(
        status=CustomerStatus.TERMINATED, merged_into__isnull=True
    ).order_by("pk")
    rows = list(
        terminated.filter(status_changed_at__gt=since, status_changed_at__lte=now).values_list(
            "pk", "created_at", "status_changed_at"
        )
    )
    unstamped = dict(
        terminated.filter(status_changed_at__isnull=True).values_list("pk", "created_at")
    )
    if unstamped:
        changes = AuditEntry.objects.filter(
            action="customer.status",
            object_type="customers.customer",
            object_id__in=[str(pk) for pk in unstamped],
            occurred_at__gt=since,
            occurred_at__lte=now,
        ).values_list("object_id", "occurred_at", "changes")
        found: dict[int, dt.datetime] = {}
        for object_id, occurred_at, change in changes:
            new = (change or {}).get("status", [None, None])
            if isinstance(new, list) and len(new) == 2 and new[1] == CustomerStatus.TERMINATED:
                pk = int(object_id)
                found[pk] = max(found.get(pk, occurred_at), occurred_at)
        rows.extend((pk, unstamped[pk], moment) for pk, moment in found.items())
    rows.sort()
    return rows


def terminated_cohort(now: dt.datetime, settings: ChurnSettings) -> Cohort:
    """Terminated customers as of `lead_days` before their termination; those that were not
    yet customers then are left out."""
    rows = _terminated_moments(now, settings)
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    created = np.asarray([_days(r[1]) for r in rows], dtype=np.float64)
    as_of = np.asarray([_days(r[2]) - settings.lead_days for r in rows], dtype=np.float64)
    keep = as_of > created
    chosen = ids[keep]

    return Cohort(
        ids=chosen, as_of=as_of[keep], created=created[keep], condition=_terminated_condition
    )


def _terminated_condition(prefix: str) -> Q:
    return Q(**{f"{prefix}status": CustomerStatus.TERMINATED, f"{prefix}merged_into__isnull": True})


# --- the models ------------------------------------------------------------------------------


@dataclass
class Trained:
    method: str
    parameters: dict[str, Any]
    terminations: int
    actives: int
    holdout_auc: float | None
    holdout_size: int


def _sample_negatives(negatives: np.ndarray, limit: int) -> np.ndarray:
    if len(negatives) <= limit:
        return negatives
    rng = np.random.default_rng(RANDOM_STATE)
    chosen = np.sort(rng.choice(len(negatives), size=limit, replace=False))
    return negatives[chosen]


def logistic_fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """StandardScaler + LogisticRegression (balanced, fixed random_state) on all rows; the
    parameters as plain lists."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    model = LogisticRegression(class_weight="balanced", random_state=RANDOM_STATE, max_iter=1000)
    make_pipeline(scaler, model).fit(x, y)
    return {
        "features": list(FEATURES),
        "means": [round(float(v), 10) for v in scaler.mean_],
        "scales": [round(float(v), 10) for v in scaler.scale_],
        "coefs": [round(float(v), 10) for v in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 10),
    }


def holdout_auc(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """AUC of a model fitted on a stratified, seeded 75 % and scored on the other 25 %."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=HOLDOUT_SHARE, stratify=y, random_state=RANDOM_STATE
    )
    parameters = logistic_fit(x_train, y_train)
    scores = logistic_probability(parameters, x_test)
    return float(roc_auc_score(y_test, scores)), len(y_test)


def churn_train(positives: np.ndarray, negatives: np.ndarray, settings: ChurnSettings) -> Trained:
    """The logistic model when there are enough of both kinds, the rules otherwise."""
    enough = len(positives) >= settings.min_terminations and len(negatives) >= (
        settings.min_actives
    )
    if not enough:
        auc = None
        if len(positives) and len(negatives):
            from sklearn.metrics import roc_auc_score

            x = np.vstack([positives, negatives])
            y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
            auc = float(roc_auc_score(y, rules_points(x).sum(axis=1)))
        return Trained(
            method=ChurnMethod.RULES,
            parameters={
                "features": list(FEATURES),
                "rules": {k: list(v) for k, v in RULES.items()},
            },
            terminations=len(positives),
            actives=len(negatives),
            holdout_auc=auc,
            holdout_size=0,
        )
    negatives = _sample_negatives(negatives, MAX_NEGATIVES)
    x = np.vstack([positives, negatives])
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    auc, size = holdout_auc(x, y)
    return Trained(
        method=ChurnMethod.LOGISTIC,
        parameters=logistic_fit(x, y),
        terminations=len(positives),
        actives=len(negatives),
        holdout_auc=auc,
        holdout_size=size,
    )


def logistic_contributions(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    means = np.asarray(parameters["means"])
    scales = np.asarray(parameters["scales"])
    coefs = np.asarray(parameters["coefs"])
    return ((x - means) / scales) * coefs


def logistic_probability(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    logit = parameters["intercept"] + logistic_contributions(parameters, x).sum(axis=1)
    return 1.0 / (1.0 + np.exp(-logit))


def rules_points(x: np.ndarray) -> np.ndarray:
    """Points per factor (rows × features) of the fallback rule set."""
    col = {name: i for i, name in enumerate(FEATURES)}
    points = np.zeros_like(x)
    for name, (per_unit, most) in RULES.items():
        if per_unit:
            points[:, col[name]] = np.minimum(x[:, col[name]] * per_unit, most)
    silent = x[:, col["no_contact_days"]]
    points[:, col["no_contact_days"]] = np.where(silent >= 180, 10, np.where(silent >= 90, 5, 0))
    points[:, col["tenure_years"]] = np.where(x[:, col["tenure_years"]] < 1, 5, 0)
    return points


@dataclass
class Scored:
    scores: np.ndarray  # int, 0–100
    contributions: np.ndarray  # rows × features
    top: np.ndarray  # rows × TOP_FACTORS feature indexes, best first


def churn_score_matrix(method: str, parameters: dict[str, Any], x: np.ndarray) -> Scored:
    if method == ChurnMethod.LOGISTIC:
        contributions = logistic_contributions(parameters, x)
        scores = np.rint(100 * logistic_probability(parameters, x))
    else:
        contributions = rules_points(x)
        scores = np.minimum(contributions.sum(axis=1), 100)
    # Stable order: equal contributions keep the features' order.
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :TOP_FACTORS]
    return Scored(scores=scores.astype(np.int64), contributions=contributions, top=top)


def band_of(score: int, settings: ChurnSettings) -> str:
    if score >= settings.high_threshold:
        return RiskBand.HIGH
    if score >= settings.medium_threshold:
        return RiskBand.MEDIUM
    return RiskBand.LOW


# --- recomputation ---------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    model: ChurnModel
    scored: int = 0
    seconds: float = 0.0
    bands: dict[str, int] = field(default_factory=dict)


def churn_recompute_due(now: dt.datetime, settings: ChurnSettings) -> bool:
    """The nightly run is due after 03:00 local time when today has not been computed yet."""
    local = timezone.localtime(now)
    if local.hour < NIGHTLY_HOUR:
        return False
    last = settings.computed_at
    return last is None or timezone.localtime(last).date() < local.date()


def _value(raw: float) -> float | int:
    return int(raw) if float(raw).is_integer() else round(float(raw), 2)


def churn_recompute(
    *, now: dt.datetime | None = None, actor: User | None = None, only_if_due: bool = False
) -> RecomputeResult | None:
    """Train on the customers' own past (or fall back to the rules), score every active
    customer and replace the stored scores (rows of customers no longer active go). `actor`:
    the person who asked (needs insights.recompute_churn; audited); None for the nightly task,
    which returns None when today's run has been done."""
    if actor is not None and not actor.has_perm(RECOMPUTE_PERM):
        raise PermissionDenied(RECOMPUTE_PERM)
    started = time.monotonic()
    now = now or timezone.now()
    settings = churn_settings()
    if only_if_due and not churn_recompute_due(now, settings):
        return None
    actives = active_cohort(now)
    x_active = churn_features(actives, settings)
    x_terminated = churn_features(terminated_cohort(now, settings), settings)
    trained = churn_train(x_terminated, x_active, settings)
    scored = churn_score_matrix(trained.method, trained.parameters, x_active)

    with transaction.atomic():
        settings = ChurnSettings.objects.select_for_update().get(pk=settings.pk)
        if only_if_due and not churn_recompute_due(now, settings):
            return None
        model = ChurnModel.objects.create(
            trained_at=now,
            method=trained.method,
            terminations=trained.terminations,
            actives=trained.actives,
            holdout_auc=trained.holdout_auc,
            holdout_size=trained.holdout_size,
            parameters=trained.parameters,
        )
        bands = _write_scores(model, actives, x_active, scored, settings, now)
        ChurnScore.objects.exclude(model=model).delete()
        model.scored = len(actives)
        model.seconds = round(time.monotonic() - started, 2)
        model.save(update_fields=["scored", "seconds"])
        settings.computed_at = now
        settings.save(update_fields=["computed_at"])
        audit_record(
            actor=actor,
            action="churn.recompute",
            obj=model,
            changes={
                "method": [None, trained.method],
                "terminations": [None, trained.terminations],
                "actives": [None, trained.actives],
                "holdout_auc": [None, trained.holdout_auc],
                "scored": [None, len(actives)],
            },
        )
    return RecomputeResult(model=model, scored=len(actives), seconds=model.seconds, bands=bands)


COLUMNS = ("customer_id", "model_id", "score", "band", "factors", "features", "computed_at")


def _upsert_sql() -> str:
    """INSERT … ON CONFLICT (customer) DO UPDATE (SQLite ≥ 3.24 and PostgreSQL alike). Written
    by hand because bulk_create spends most of a million-row run preparing JSON field values
    one by one; here they are serialised once, with the standard json module."""
    q = connection.ops.quote_name
    as_json = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    placeholders = ("%s", "%s", "%s", "%s", as_json, as_json, "%s")
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in COLUMNS[1:])
    table = q(ChurnScore._meta.db_table)
    columns = ", ".join(q(c) for c in COLUMNS)
    # Names come from the model, values are parameters.
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(placeholders)})"  # noqa: S608
    return f"{insert} ON CONFLICT ({q('customer_id')}) DO UPDATE SET {updates}"


def _write_scores(
    model: ChurnModel,
    cohort: Cohort,
    x: np.ndarray,
    scored: Scored,
    settings: ChurnSettings,
    now: dt.datetime,
) -> dict[str, int]:
    bands = {str(b): 0 for b in RiskBand}
    n = len(cohort)
    ids = cohort.ids.tolist()
    scores = scored.scores.tolist()
    top = scored.top.tolist()
    contributions = np.round(scored.contributions, 3).tolist()
    values = x.tolist()
    sql = _upsert_sql()
    computed_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        for start in range(0, n, BATCH):
            rows: list[tuple[Any, ...]] = []
            for i in range(start, min(start + BATCH, n)):
                band = band_of(scores[i], settings)
                bands[band] += 1
                row_values = values[i]
                factors = [
                    {
                        "factor": FEATURES[j],
                        "value": _value(row_values[j]),
                        "contribution": contributions[i][j],
                    }
                    for j in top[i]
                    if contributions[i][j] > 0
                ]
                features = {name: _value(row_values[j]) for j, name in enumerate(FEATURES)}
                rows.append(
                    (
                        ids[i],
                        model.pk,
                        scores[i],
                        band,
                        json.dumps(factors),
                        json.dumps(features),
                        computed_at,
                    )
                )
            cursor.executemany(sql, rows)
    return bands


# --- reads -----------------------------------------------------------------------------------


def current_model() -> ChurnModel | None:
    return ChurnModel.objects.order_by("-trained_at", "-id").first()


def factor_label(name: str) -> str:
    label = LABELS.get(name)
    return str(label) if label is not None else name


def factor_value_text(name: str, value: Any) -> str:
    if name == "renewal_due":
        return _("yes") if value else _("no")
    if name == "tenure_years":
        return _("%(years)s years") % {"years": f"{float(value):.1f}"}
    if name == "no_contact_days":
        return _("%(days)s days") % {"days": int(value)}
    return str(value)


@dataclass(frozen=True)
class Factor:
    name: str
    label: str
    value: str
    contribution: float


def factors_of(row: ChurnScore) -> list[Factor]:
    return [
        Factor(
            name=f.get("factor", ""),
            label=factor_label(f.get("factor", "")),
            value=factor_value_text(f.get("factor", ""), f.get("value")),
            contribution=float(f.get("contribution", 0)),
        )
        for f in row.factors or []
    ]


# Sort keys of the at-risk list: highest first (the default) or lowest first; "lowest first"
# is the exact reverse order (score ascending, then customer descending) so that both walk
# the (-score, customer) index, one forwards and one backwards.
SORTS = ("-score", "score")
PAGE_SIZE = 50
# How many customers the viewer's visibility and the region and owner filters may select for
# the list to be read from their side: their (score, band) pairs come back in one query and
# are filtered, counted and sorted here. Beyond it the filters are broad, and walking the
# score index meets a page of their rows quickly. Reading from the customers costs per
# customer selected, walking costs up to LIST_CAP × scored / selected rows for the capped
# count: both stay near 10⁵ row reads at a million customers with this cap.
CANDIDATE_CAP = 50_000


@dataclass(frozen=True)
class RiskFilters:
    band: str = ""
    region: Region | None = None
    owner: User | None = None
    segment: Segment | None = None
    min_score: int | None = None  # None: the medium-risk threshold
    q: str = ""  # search by name, pinyin, initials or phone (customers.search)
    sort: str = "-score"


def _threshold(filters: RiskFilters) -> int:
    if filters.min_score is not None:
        return filters.min_score
    return churn_settings().medium_threshold


def _active_q(prefix: str = "") -> Q:
    # Scores exist only for customers active at the last run; one terminated since is left
    # out. Written as NOT IN the other statuses so that no planner starts from the customers'
    # status index (a million active rows) instead of the filter's own index or the scores.
    others = [status for status in CustomerStatus.values if status != CustomerStatus.ACTIVE]
    return Q(**{f"{prefix}merged_into__isnull": True}) & ~Q(**{f"{prefix}status__in": others})


@dataclass(frozen=True)
class CustomerSide:
    """The customer-side conditions of the list, on Customer columns (no prefix), kept apart
    by how they are best checked while walking the scores: `indexed` (visibility, region,
    owner) by an index-only subquery, `search` and `segment` on each walked row's customer."""

    indexed: Q | None
    search: Q | None
    segment: Q | None

    @property
    def narrows(self) -> bool:
        return self.indexed is not None or self.search is not None or self.segment is not None

    def customers(self) -> QuerySet[Customer]:
        """The active customers matching every condition."""
        qs = Customer.objects.filter(_active_q())
        for condition in (self.indexed, self.search, self.segment):
            if condition is not None:
                qs = qs.filter(condition)
        return qs.order_by()


def customer_side(user: User, filters: RiskFilters) -> CustomerSide:
    """The viewer's visibility and the customer filters (region, owner, segment, search)."""
    query = customer_query(user, CustomerFilters(region=filters.region))
    parts: list[Q] = []
    if query.branches is not None:
        branches = query.narrowed_branches()
        parts.append(any_of(branches) if branches else Q(pk__in=[]))
    elif query.region_ids is not None:
        parts.append(Q(region_id__in=sorted(query.region_ids)))
    if filters.owner is not None:
        parts.append(Q(owner_id=filters.owner.pk))
    indexed = None
    for part in parts:
        indexed = part if indexed is None else indexed & part
    return CustomerSide(
        indexed=indexed,
        search=search_condition(filters.q),
        segment=segment_members_q(filters.segment) if filters.segment is not None else None,
    )


# The customer columns that visibility and the region and owner filters test, as
# expressions of the walked row's customer: `column + 0` is served by no index, so neither
# database starts from the customers (see churn_at_risk).
WALKED_COLUMNS = {
    "owner_id": "walked_owner",
    "region_id": "walked_region",
    "department_id": "walked_department",
}


def _on_walked_customer(condition: Q) -> Q:
    """`condition` (on Customer) for score rows joined to their customer. Lookups of
    WALKED_COLUMNS test their `+ 0` expressions; an `id IN (…)` (the search's n-gram index
    lookup) tests the walked key against the index's own ids, rather than fetching the
    customer row of every match to take its id (hundreds of ms for a broad term); other
    lookups get the `customer__` prefix. Expressions (PostgreSQL's gram tests) name the
    customers table and stay as they are."""
    out = Q()
    out.connector = condition.connector
    out.negated = condition.negated
    children: list[Any] = []
    for child in condition.children:
        if isinstance(child, Q):
            children.append(_on_walked_customer(child))
        elif isinstance(child, tuple):
            lookup, value = child
            column, sep, rest = lookup.partition("__")
            if column in ("id", "pk"):
                children.append((f"walked{sep}{rest}", value))
            elif column in WALKED_COLUMNS:
                children.append((f"{WALKED_COLUMNS[column]}{sep}{rest}", value))
            else:
                children.append((f"customer__{lookup}", value))
        else:
            children.append(child)
    out.children = children
    return out


def churn_at_risk(user: User, filters: RiskFilters) -> QuerySet[ChurnScore]:
    """Scores of the customers `user` may see at or above the threshold (the medium band by
    default) matching the filters, in the list's order, read by walking the score index (the
    export; churn_page reads narrow filters from the customers' side)."""
    if not user.has_perm(VIEW_PERM):
        raise PermissionDenied(VIEW_PERM)
    qs = ChurnScore.objects.filter(_active_q("customer__"), score__gte=_threshold(filters))
    if filters.band:
        qs = qs.filter(band=filters.band)
    side = customer_side(user, filters)
    # Each score walked is checked on its customer's row (joined by primary key for the
    # status anyway), through `+ 0` expressions that no index serves: neither database may
    # start from the customers instead, which (SQLite has no statistics to tell) means
    # looking up and sorting every score of a province's or a city's customers.
    qs = qs.alias(
        walked=F("customer_id") + 0,
        **{alias: F(f"customer__{column}") + 0 for column, alias in WALKED_COLUMNS.items()},
    )
    for condition in (side.indexed, side.search):
        if condition is not None:
            qs = qs.filter(_on_walked_customer(condition))
    if side.segment is not None:
        qs = qs.filter(Q(walked__in=Customer.objects.filter(side.segment).values("pk")))
    return qs.select_related("customer", "customer__owner", "customer__region").order_by(
        *_ordering(filters.sort)
    )


def _ordering(sort: str) -> tuple[str, str]:
    return ("score", "-customer_id") if sort == "score" else ("-score", "customer_id")


@dataclass
class RiskPage:
    rows: list[ChurnScore]
    next_cursor: str | None
    total_label: str  # first page only: "1,234" or "10,000+"


def _cursor_key(cursor: str) -> tuple[int, int] | None:
    score, _sep, customer = cursor.partition("|")
    if not (score.isdigit() and customer.isdigit()):
        return None
    return int(score), int(customer)


def _sort_key(descending: bool) -> Callable[[tuple[int, int]], tuple[int, int]]:
    """(score, customer) → a key whose ascending order is the list's order."""
    if descending:
        return lambda pair: (-pair[0], pair[1])
    return lambda pair: (pair[0], -pair[1])


def _after_q(key: tuple[int, int], descending: bool) -> Q:
    """Rows after (score, customer) in the list's order (keyset: no OFFSET). The plain range
    on the score comes first so that both databases walk the score index from the cursor."""
    score, customer = key
    if descending:
        return Q(score__lte=score) & (Q(score__lt=score) | Q(customer_id__gt=customer))
    return Q(score__gte=score) & (Q(score__gt=score) | Q(customer_id__lt=customer))


def _candidates(side: CustomerSide, threshold: int, band: str) -> list[tuple[int, int]] | None:
    """(score, customer) of the selected active customers at or above the threshold, or None
    (walk the scores instead) when visibility, region and owner do not narrow the list to at
    most CANDIDATE_CAP customers. They are counted first (index only, no further than the
    cap); then one query from the customers' side (joined to the scores by primary key) with
    the threshold and band checked here, so that no planner is tempted to start from the
    score or band index instead. A search alone walks: testing each walked score against the
    n-gram index's ids is cheaper than fetching the customer row of every match."""
    if side.indexed is None:
        return None
    selected = Customer.objects.filter(side.indexed).order_by().values("pk")
    if selected[: CANDIDATE_CAP + 1].count() > CANDIDATE_CAP:
        return None
    rows = side.customers().values_list("pk", "churn__score", "churn__band")
    found = list(rows[: CANDIDATE_CAP + 1])
    if len(found) > CANDIDATE_CAP:
        return None
    return [
        (score, pk)
        for pk, score, row_band in found
        if score is not None and score >= threshold and (not band or row_band == band)
    ]


def _load(ids: list[int]) -> list[ChurnScore]:
    by_id = ChurnScore.objects.select_related(
        "customer", "customer__owner", "customer__region"
    ).in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def churn_page(
    user: User, filters: RiskFilters, cursor: str = "", size: int | None = None
) -> RiskPage:
    """One page of the at-risk list after `cursor` ("score|customer" of the previous page's
    last row), ids first, then the page's rows by primary key; the first page also says how
    many rows the list holds (exact when read from the customers' side, else counted no
    further than LIST_CAP + 1). No OFFSET, no COUNT(*) over every score."""
    if not user.has_perm(VIEW_PERM):
        raise PermissionDenied(VIEW_PERM)
    size = size or PAGE_SIZE
    descending = filters.sort != "score"
    threshold = _threshold(filters)
    after = _cursor_key(cursor) if cursor else None
    side = customer_side(user, filters)
    found = _candidates(side, threshold, filters.band) if side.narrows else None
    label = ""
    if found is not None:
        key = _sort_key(descending)
        found.sort(key=key)
        if not cursor:
            label = f"{len(found):,}"
        if after is not None:
            start = key(after)
            found = [pair for pair in found if key(pair) > start]
        keys = found[: size + 1]
    else:
        qs = churn_at_risk(user, filters).select_related(None)
        if not cursor:
            counted = qs.order_by().values("pk")[: LIST_CAP + 1].count()
            label = f"{LIST_CAP:,}+" if counted > LIST_CAP else f"{counted:,}"
        if after is not None:
            qs = qs.filter(_after_q(after, descending))
        keys = list(qs.values_list("score", "customer_id")[: size + 1])
    rows = _load([pk for _score, pk in keys[:size]])
    next_cursor = f"{keys[size - 1][0]}|{keys[size - 1][1]}" if len(keys) > size else None
    return RiskPage(rows=rows, next_cursor=next_cursor, total_label=label)


def owner_options(user: User) -> QuerySet[User]:
    """Account managers owning a customer `user` may see."""
    visible = customers_visible_to(user).filter(owner_id=OuterRef("pk"))
    return User.objects.filter(Exists(visible)).order_by("display_name", "username")


@dataclass(frozen=True)
class CoefficientLine:
    name: str
    label: str
    coef: float
    mean: float
    scale: float
    odds_ratio: float  # per unit of the feature
    text: str


def _coefficient_text(name: str, coef: float, scale: float) -> str:
    per_unit = float(np.exp(coef / scale)) if scale else 1.0
    unit = {
        "no_contact_days": _("each 30 days without contact"),
        "tenure_years": _("each year as a customer"),
        "renewal_due": _("a renewal due"),
    }.get(name, _("each one more"))
    if name == "no_contact_days":
        per_unit = float(np.exp(30 * coef / scale)) if scale else 1.0
    if abs(per_unit - 1) < 0.005:
        return _("%(unit)s: hardly changes the risk") % {"unit": unit}
    if per_unit > 1:
        return _("%(unit)s: odds of leaving × %(ratio)s (raises the risk)") % {
            "unit": unit,
            "ratio": f"{per_unit:.2f}",
        }
    return _("%(unit)s: odds of leaving × %(ratio)s (lowers the risk)") % {
        "unit": unit,
        "ratio": f"{per_unit:.2f}",
    }


def model_coefficients(model: ChurnModel) -> list[CoefficientLine]:
    """The logistic model's coefficients in words: the odds ratio per unit of each feature."""
    if model.method != ChurnMethod.LOGISTIC:
        return []
    p = model.parameters
    lines = []
    for name, coef, mean, scale in zip(
        p.get("features", []),
        p.get("coefs", []),
        p.get("means", []),
        p.get("scales", []),
        strict=False,
    ):
        lines.append(
            CoefficientLine(
                name=name,
                label=factor_label(name),
                coef=coef,
                mean=mean,
                scale=scale,
                odds_ratio=float(np.exp(coef / scale)) if scale else 1.0,
                text=_coefficient_text(name, coef, scale),
            )
        )
    return sorted(lines, key=lambda line: -abs(line.coef))


@dataclass(frozen=True)
class RuleLine:
    name: str
    label: str
    text: str


def rule_lines() -> list[RuleLine]:
    texts = {
        "faults_90d": _("5 points per fault, at most 20"),
        "complaints_180d": _("12 points per complaint, at most 24"),
        "low_scores_180d": _("8 points per low score, at most 16"),
        "overdue_180d": _("5 points per ticket past its SLA, at most 15"),
        "no_contact_days": _("5 points from 90 days without contact, 10 from 180 days"),
        "renewal_due": _("10 points when the renewal is due"),
        "tenure_years": _("5 points in the first year"),
    }
    return [RuleLine(name=n, label=factor_label(n), text=texts[n]) for n in FEATURES]


@dataclass(frozen=True)
class ChurnCard:
    customer: Customer
    score: ChurnScore | None
    factors: list[Factor]
    features: list[tuple[str, str]]
    model: ChurnModel | None


def customer_churn_card(user: User, customer: Customer) -> ChurnCard | None:
    """The churn card of a customer profile the user is already allowed to open; None for
    those without insights.view_churn."""
    if not user.has_perm(VIEW_PERM):
        return None
    row = ChurnScore.objects.filter(customer=customer).select_related("model").first()
    features = (
        [
            (factor_label(name), factor_value_text(name, row.features[name]))
            for name in FEATURES
            if name in row.features
        ]
        if row is not None
        else []
    )
    return ChurnCard(
        customer=customer,
        score=row,
        factors=factors_of(row) if row is not None else [],
        features=features,
        model=row.model if row is not None else None,
    )


def churn_card_context(user: User, customer: Customer) -> dict[str, Any]:
    """The profile page's context for templates/insights/churn/_card.html."""
    return {"churn_card": customer_churn_card(user, customer)}
