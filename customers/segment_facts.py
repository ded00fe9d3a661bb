"""Segment conditions on what happened to a customer: contract value and signing date, tickets,
last contact, satisfaction surveys, collectors and faults.

Each builds a `Q` on Customer from subqueries over the fact's own table — `pk IN (SELECT
customer_id … GROUP BY customer_id HAVING …)` for counts and sums, `NOT EXISTS` on the
(customer, date) indexes for "no contact" — so that a segment stays one query, never a loop over
customers, at a million customers. "At most N" is written as NOT IN the customers with more than
N, so that customers without any such row (zero) are included.

"In the last N days" means from N × 24 hours before the moment the segment is evaluated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.segments import (
    ConditionType,
    Param,
    ParamKind,
    ValueKind,
    condition_type_register,
)


def _model(label: str) -> Any:
    return apps.get_model(label)


def _since(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def _always() -> Q:
    # An explicit "every customer", so that "is not" of it selects nobody (~Q() would not).
    return Q(pk__isnull=False)


def _between(grouped: QuerySet[Any], column: str, value: str, low: Any, high: Any) -> Q:
    """Customers whose aggregate `value` of `grouped` (rows grouped by `column`) is at least
    `low` and at most `high`; a customer without rows counts as 0."""
    condition = Q()
    if low is not None and low > 0:
        condition &= Q(pk__in=grouped.filter(**{f"{value}__gte": low}).values(column))
    if high is not None:
        condition &= ~Q(pk__in=grouped.filter(**{f"{value}__gt": high}).values(column))
    return condition if condition else _always()


def _range_text(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low}–{high}"
    if low is not None:
        return f"≥ {low}"
    return f"≤ {high}"


def _check_range(values: list[Any]) -> str | None:
    low, high = values[0], values[1]
    if low is None and high is None:
        return _("give a minimum, a maximum or both.")
    if low is not None and high is not None and low > high:
        return _("the minimum is above the maximum.")
    return None


def _qualifiers(*parts: str) -> str:
    shown = [part for part in parts if part]
    return f"（{'，'.join(shown)}）" if shown else ""


def _last_days(days: int | None) -> str:
    return _("last %(days)d days") % {"days": days} if days else ""


def _choice_label(options: list[tuple[str, str]], code: str | None) -> str:
    return dict(options).get(code or "", code or "")


DAYS = gettext_lazy("days")
TIMES = gettext_lazy("times")


def _days_param(required: bool = False) -> Param:
    return Param(
        "days",
        gettext_lazy("In the last … days"),
        ParamKind.INT,
        required=required,
        minimum=1,
        maximum=3650,
        unit=DAYS,
    )


# --- contract value and onboarding date ------------------------------------------------------


def _contract_value(values: list[Any]) -> Q:
    low, high = values
    sums = (
        _model("onboarding.ServiceContract")
        .objects.order_by()
        .values("customer_id")
        .annotate(total=Sum("annual_fee"))
    )
    return _between(sums, "customer_id", "total", low, high)


condition_type_register(
    ConditionType(
        "contract_value",
        gettext_lazy("Contract value"),
        ValueKind.PARAMS,
        _contract_value,
        help_text=gettext_lazy(
            "The sum of the annual service fees of the customer's service contracts (yuan); "
            "a customer without a contract counts as 0."
        ),
        params=(
            Param("min", gettext_lazy("At least"), ParamKind.DECIMAL, unit=gettext_lazy("yuan")),
            Param("max", gettext_lazy("At most"), ParamKind.DECIMAL, unit=gettext_lazy("yuan")),
        ),
        check=_check_range,
        phrase=lambda v: _("Contract value %(range)s yuan") % {"range": _range_text(v[0], v[1])},
    )
)


def _contract_signed(values: list[Any]) -> Q:
    start, end = values
    contracts = _model("onboarding.ServiceContract").objects.order_by()
    if start is not None:
        contracts = contracts.filter(signed_on__gte=start)
    if end is not None:
        contracts = contracts.filter(signed_on__lte=end)
    return Q(pk__in=contracts.values("customer_id"))


condition_type_register(
    ConditionType(
        "onboarded",
        gettext_lazy("Onboarding date"),
        ValueKind.DATE_RANGE,
        _contract_signed,
        help_text=gettext_lazy(
            "The day a service contract of the customer was signed (any of its contracts). "
            "Either date may be left blank."
        ),
    )
)


# --- tickets ---------------------------------------------------------------------------------


def _ticket_kinds() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in _model("service.Ticket").kind.field.choices]


def _ticket_count(values: list[Any]) -> Q:
    low, high, kind, days = values
    tickets = _model("service.Ticket").objects.order_by()
    if kind:
        tickets = tickets.filter(kind=kind)
    if days:
        tickets = tickets.filter(created_at__gte=_since(days))
    counts = tickets.values("customer_id").annotate(n=Count("id"))
    return _between(counts, "customer_id", "n", low, high)


def _ticket_phrase(values: list[Any]) -> str:
    low, high, kind, days = values
    return _("Ticket count %(range)s") % {"range": _range_text(low, high)} + _qualifiers(
        _choice_label(_ticket_kinds(), kind), _last_days(days)
    )


condition_type_register(
    ConditionType(
        "ticket_count",
        gettext_lazy("Ticket count"),
        ValueKind.PARAMS,
        _ticket_count,
        help_text=gettext_lazy(
            "Tickets opened for the customer, of one kind or any; leave the days blank to "
            "count every ticket ever opened."
        ),
        params=(
            Param("min", gettext_lazy("At least"), unit=gettext_lazy("tickets")),
            Param("max", gettext_lazy("At most"), unit=gettext_lazy("tickets")),
            Param(
                "kind",
                gettext_lazy("Ticket kind"),
                ParamKind.CHOICE,
                options=_ticket_kinds,
            ),
            _days_param(),
        ),
        check=_check_range,
        phrase=_ticket_phrase,
    )
)


# --- last contact ----------------------------------------------------------------------------


def _no_contact(values: list[Any]) -> Q:
    (days,) = values
    since = _since(days)
    customer = OuterRef("pk")
    contacted = [
        Exists(
            _model("service.Ticket").objects.filter(customer_id=customer, created_at__gte=since)
        ),
        Exists(
            _model("service.ScheduledRevisit").objects.filter(
                customer_id=customer, status="done", done_at__gte=since
            )
        ),
        Exists(
            _model("service.Survey").objects.filter(customer_id=customer, answered_at__gte=since)
        ),
    ]
    if apps.is_installed("inquiries"):
        contacted.append(
            Exists(
                _model("inquiries.Inquiry").objects.filter(
                    customer_id=customer, received_at__gte=since
                )
            )
        )
    condition = Q(created_at__lt=since)
    for fact in contacted:
        condition &= ~Q(fact)
    return condition


condition_type_register(
    ConditionType(
        "no_contact",
        gettext_lazy("No contact for"),
        ValueKind.PARAMS,
        _no_contact,
        help_text=gettext_lazy(
            "Contact is a ticket opened, a revisit done, an inquiry received or a survey "
            "answered; customers created within the days do not count as out of contact."
        ),
        params=(
            Param(
                "days",
                gettext_lazy("Days"),
                ParamKind.INT,
                required=True,
                minimum=1,
                maximum=3650,
                unit=DAYS,
            ),
        ),
        phrase=lambda v: _("No contact for %(days)d days") % {"days": v[0]},
    )
)


# --- satisfaction ----------------------------------------------------------------------------


def _low_survey(values: list[Any]) -> Q:
    score, days = values
    surveys = _model("service.Survey").objects.order_by().filter(csat__lte=score)
    surveys = surveys.filter(answered_at__gte=_since(days)) if days else surveys
    return Q(pk__in=surveys.filter(answered_at__isnull=False).values("customer_id"))


condition_type_register(
    ConditionType(
        "low_survey",
        gettext_lazy("Low satisfaction score"),
        ValueKind.PARAMS,
        _low_survey,
        help_text=gettext_lazy(
            "At least one answered survey with a satisfaction score (1–5) at or below the "
            "score; leave the days blank for any time."
        ),
        params=(
            Param(
                "score",
                gettext_lazy("Score at most"),
                ParamKind.INT,
                required=True,
                minimum=1,
                maximum=5,
            ),
            _days_param(),
        ),
        phrase=lambda v: (
            _("A survey scored ≤ %(score)s") % {"score": v[0]} + _qualifiers(_last_days(v[1]))
        ),
    )
)


def _average_satisfaction(values: list[Any]) -> Q:
    below, days = values
    surveys = (
        _model("service.Survey")
        .objects.order_by()
        .filter(answered_at__isnull=False, csat__isnull=False)
    )
    if days:
        surveys = surveys.filter(answered_at__gte=_since(days))
    averages = surveys.values("customer_id").annotate(average=Avg("csat"))
    return Q(pk__in=averages.filter(average__lt=below).values("customer_id"))


condition_type_register(
    ConditionType(
        "average_satisfaction",
        gettext_lazy("Average satisfaction"),
        ValueKind.PARAMS,
        _average_satisfaction,
        help_text=gettext_lazy(
            "The average score (1–5) of the customer's answered surveys is below the value; "
            "customers without an answered survey do not match."
        ),
        params=(
            Param(
                "below",
                gettext_lazy("Below"),
                ParamKind.DECIMAL,
                required=True,
                minimum=Decimal("1"),
                maximum=Decimal("5"),
            ),
            _days_param(),
        ),
        phrase=lambda v: (
            _("Average satisfaction below %(score)s") % {"score": v[0]}
            + _qualifiers(_last_days(v[1]))
        ),
    )
)


# --- devices ---------------------------------------------------------------------------------


def _collector_count(values: list[Any]) -> Q:
    low, high = values
    counts = (
        _model("devices.Collector")
        .objects.order_by()
        .filter(customer_id__isnull=False)
        .exclude(status="retired")
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    return _between(counts, "customer_id", "n", low, high)


condition_type_register(
    ConditionType(
        "collector_count",
        gettext_lazy("Number of collectors"),
        ValueKind.PARAMS,
        _collector_count,
        help_text=gettext_lazy("Collectors registered to the customer, retired ones excluded."),
        params=(
            Param("min", gettext_lazy("At least"), unit=gettext_lazy("units")),
            Param("max", gettext_lazy("At most"), unit=gettext_lazy("units")),
        ),
        check=_check_range,
        phrase=lambda v: _("Collectors %(range)s") % {"range": _range_text(v[0], v[1])},
    )
)


def _fault_kinds() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in _model("devices.Fault").kind.field.choices]


def _fault_count(values: list[Any]) -> Q:
    low, days, kind = values
    faults = _model("devices.Fault").objects.order_by().filter(opened_at__gte=_since(days))
    if kind:
        faults = faults.filter(kind=kind)
    counts = (
        faults.filter(collector__customer_id__isnull=False)
        .values("collector__customer_id")
        .annotate(n=Count("id"))
    )
    return Q(pk__in=counts.filter(n__gte=low).values("collector__customer_id"))


condition_type_register(
    ConditionType(
        "fault_count",
        gettext_lazy("Device faults"),
        ValueKind.PARAMS,
        _fault_count,
        help_text=gettext_lazy(
            "Faults (network operations) opened on the customer's collectors in the last days."
        ),
        params=(
            Param("min", gettext_lazy("At least"), minimum=1, required=True, unit=TIMES),
            _days_param(required=True),
            Param("kind", gettext_lazy("Fault kind"), ParamKind.CHOICE, options=_fault_kinds),
        ),
        phrase=lambda v: (
            _("Device faults ≥ %(count)s") % {"count": v[0]}
            + _qualifiers(_last_days(v[1]), _choice_label(_fault_kinds(), v[2]))
        ),
    )
)
