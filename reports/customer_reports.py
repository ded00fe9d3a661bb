"""The customer reports' figures: customers by region, status and class; contract value by
class; satisfaction trend; SLA compliance. Each builder takes the viewer, the filters and "now"
and returns a plain dict the page, its chart and its Excel export all read (read from the
aggregates of `reports.aggregates` — of everyone, or of the segment filtering the report once
its figures are precomputed — or live from the rows when `live`)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from accounts.models import Region, RegionLevel, User
from customers.models import CustomerStatus
from insights.models import ValueClass
from reports import aggregates as agg
from reports.filters import ReportFilters
from service.dashboard import nps_score

NO_CLASS = ""
CLASS_KEYS = (ValueClass.A.value, ValueClass.B.value, ValueClass.C.value, NO_CLASS)
CHART_UNITS = 30  # bars in the ranked chart (the table lists every one)


def class_label(key: str) -> str:
    return str(ValueClass(key).label) if key else _("Not classified")


def status_label(key: str) -> str:
    try:
        return str(CustomerStatus(key).label)
    except ValueError:
        return key


def months_in(filters: ReportFilters) -> list[dt.date]:
    first, last = agg.months_of(filters)
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = agg.add_months(month, 1)
    return months


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def _yuan(fee_months: Decimal | int | float) -> Decimal:
    """Contract value in yuan of Σ annual fee × months (as insights.value counts it)."""
    return (Decimal(str(fee_months)) / 12).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- 1. customers by region, status and class -------------------------------------------------


def _units(
    region_ids: set[int | None], filters: ReportFilters
) -> tuple[str, dict[int | None, tuple[int | None, str]]]:
    """Each customer region mapped to the unit the report ranks: districts when the filter is
    a city or a district, cities otherwise (a whole province or every region). Returns the
    unit level and {region id: (unit id, unit name)}."""
    by_cities = filters.region is None or filters.region.level == RegionLevel.PROVINCE
    ids = {pk for pk in region_ids if pk is not None}
    regions = {r.pk: r for r in Region.objects.filter(pk__in=ids)}
    parents = {r.parent_id for r in regions.values() if r.parent_id and r.parent_id not in regions}
    regions.update({r.pk: r for r in Region.objects.filter(pk__in=parents)})
    mapping: dict[int | None, tuple[int | None, str]] = {None: (None, _("No region"))}
    for pk in ids:
        region = regions.get(pk)
        if region is None:
            mapping[pk] = (None, _("No region"))
            continue
        unit = region
        if by_cities and region.level == RegionLevel.DISTRICT and region.parent_id in regions:
            unit = regions[region.parent_id]
        mapping[pk] = (unit.pk, unit.name)
    return (RegionLevel.CITY if by_cities else RegionLevel.DISTRICT), mapping


def customers_report(
    user: User, filters: ReportFilters, now: dt.datetime, *, live: bool = False
) -> dict[str, Any]:
    rows = agg.figures(
        agg.CUSTOMERS, user, filters, ("k_region", "status", "value_class"), now, live=live
    )
    level, mapping = _units({r["k_region"] for r in rows}, filters)
    statuses = [s.value for s in CustomerStatus]
    units: dict[int | None, dict[str, Any]] = {}
    total: dict[str, Any] = {
        "status": dict.fromkeys(statuses, 0),
        "class": dict.fromkeys(CLASS_KEYS, 0),
        "total": 0,
    }
    for row in rows:
        unit_id, name = mapping.get(row["k_region"], (None, _("No region")))
        unit = units.setdefault(
            unit_id,
            {
                "id": unit_id,
                "name": name,
                "status": dict.fromkeys(statuses, 0),
                "class": dict.fromkeys(CLASS_KEYS, 0),
                "total": 0,
            },
        )
        n = int(row["customers"])
        for into in (unit, total):
            into["status"][row["status"]] = into["status"].get(row["status"], 0) + n
            into["class"][row["value_class"]] = into["class"].get(row["value_class"], 0) + n
            into["total"] += n
    ranked = sorted(units.values(), key=lambda u: (-u["total"], u["name"]))
    for unit in [*ranked, total]:
        unit["status_list"] = [unit["status"].get(s, 0) for s in statuses]
        unit["class_list"] = [unit["class"].get(c, 0) for c in CLASS_KEYS]
    months = months_in(filters)
    new = {m: 0 for m in months}
    for row in agg.figures(agg.CUSTOMER_MONTHS, user, filters, ("month",), now, live=live):
        if row["month"] in new:
            new[row["month"]] += int(row["customers"])
    return {
        "level": level,
        "statuses": [(s, status_label(s)) for s in statuses],
        "classes": [(c, class_label(c)) for c in CLASS_KEYS],
        "units": ranked,
        "total": total,
        "new_by_month": [(m, new[m]) for m in months],
        "new_total": sum(new.values()),
    }


def customers_chart(report: dict[str, Any]) -> dict[str, Any]:
    shown = report["units"][:CHART_UNITS]
    return {
        "ranked": {
            "labels": [u["name"] for u in shown],
            "series": [
                {"name": label, "values": [u["status"].get(key, 0) for u in shown]}
                for key, label in report["statuses"]
            ],
        },
        "months": {
            "labels": [f"{m:%Y-%m}" for m, _n in report["new_by_month"]],
            "series": [
                {"name": _("New customers"), "values": [n for _m, n in report["new_by_month"]]}
            ],
        },
    }


# --- 2. contract value by class ---------------------------------------------------------------


def value_report(
    user: User, filters: ReportFilters, now: dt.datetime, *, live: bool = False
) -> dict[str, Any]:
    counts: dict[str, dict[str, Any]] = {
        c: {"customers": 0, "monetary": Decimal(0)} for c in CLASS_KEYS
    }
    for row in agg.figures(agg.CUSTOMERS, user, filters, ("value_class",), now, live=live):
        counts[row["value_class"]]["customers"] += int(row["customers"])
        counts[row["value_class"]]["monetary"] += Decimal(str(row["monetary"]))
    months = months_in(filters)
    signed: dict[str, dict[str, Any]] = {
        c: {"contracts": 0, "fee_months": Decimal(0)} for c in CLASS_KEYS
    }
    by_month = {(m, c): Decimal(0) for m in months for c in CLASS_KEYS}
    for row in agg.figures(agg.CONTRACTS, user, filters, ("month", "value_class"), now, live=live):
        klass = row["value_class"]
        signed[klass]["contracts"] += int(row["contracts"])
        signed[klass]["fee_months"] += Decimal(str(row["fee_months"]))
        if (row["month"], klass) in by_month:
            by_month[(row["month"], klass)] += Decimal(str(row["fee_months"]))
    total_value = sum((_yuan(s["fee_months"]) for s in signed.values()), Decimal(0))
    classes: list[dict[str, Any]] = []
    for klass in CLASS_KEYS:
        customers = counts[klass]["customers"]
        value = _yuan(signed[klass]["fee_months"])
        classes.append(
            {
                "key": klass,
                "label": class_label(klass),
                "customers": customers,
                "monetary": counts[klass]["monetary"],
                "contracts": signed[klass]["contracts"],
                "value": value,
                "average": (value / customers).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                if customers
                else None,
                "share": _rate_decimal(value, total_value),
            }
        )
    return {
        "classes": classes,
        "total": {
            "customers": sum(c["customers"] for c in classes),
            "monetary": sum((c["monetary"] for c in classes), Decimal(0)),
            "contracts": sum(c["contracts"] for c in classes),
            "value": total_value,
        },
        "months": [(m, [_yuan(by_month[(m, c)]) for c in CLASS_KEYS]) for m in months],
    }


def _rate_decimal(part: Decimal, whole: Decimal) -> float | None:
    return None if not whole else round(float(100 * part / whole), 1)


def value_chart(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "classes": {
            "labels": [c["label"] for c in report["classes"]],
            "values": [float(c["value"]) for c in report["classes"]],
        },
        "months": {
            "labels": [f"{m:%Y-%m}" for m, _v in report["months"]],
            "series": [
                {
                    "name": c["label"],
                    "values": [float(values[i]) for _m, values in report["months"]],
                }
                for i, c in enumerate(report["classes"])
            ],
        },
    }


# --- 3. satisfaction trend --------------------------------------------------------------------


def _satisfaction_row(sums: dict[str, int]) -> dict[str, Any]:
    return {
        **sums,
        "csat": round(sums["csat_sum"] / sums["csat_count"], 2) if sums["csat_count"] else None,
        "nps": (
            round(nps_score(sums["promoters"], sums["detractors"], sums["nps_count"]) or 0.0, 1)
            if sums["nps_count"]
            else None
        ),
    }


def satisfaction_report(
    user: User, filters: ReportFilters, now: dt.datetime, *, live: bool = False
) -> dict[str, Any]:
    months = months_in(filters)
    empty = dict.fromkeys(agg.SURVEYS.sums, 0)
    sums = {m: dict(empty) for m in months}
    for row in agg.figures(agg.SURVEYS, user, filters, ("month",), now, live=live):
        if row["month"] in sums:
            for name in agg.SURVEYS.sums:
                sums[row["month"]][name] += int(row[name])
    total = dict(empty)
    for month_sums in sums.values():
        for name in agg.SURVEYS.sums:
            total[name] += month_sums[name]
    return {
        "months": [{"month": m, **_satisfaction_row(sums[m])} for m in months],
        "total": _satisfaction_row(total),
    }


def satisfaction_chart(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": [f"{r['month']:%Y-%m}" for r in report["months"]],
        "csat": [r["csat"] for r in report["months"]],
        "nps": [r["nps"] for r in report["months"]],
        "answered": [r["answered"] for r in report["months"]],
        "names": {"csat": _("CSAT (1–5)"), "nps": _("NPS"), "answered": _("Answers")},
    }


# --- 4. SLA compliance ------------------------------------------------------------------------


def sla_labels() -> dict[str, str]:
    return {
        agg.SLA_TASK: _("Process tasks"),
        agg.SLA_RESPONSE: _("Ticket first response"),
        agg.SLA_RESOLUTION: _("Ticket resolution"),
        agg.SLA_INQUIRY: _("Online inquiry reply"),
    }


def sla_definitions() -> dict[str, str]:
    return {
        agg.SLA_TASK: _(
            "Onboarding and other process tasks with a deadline: on time when completed by "
            "its due time; late when completed after it, or still open after it. Cancelled "
            "and returned tasks, and open tasks not yet due, count neither way."
        ),
        agg.SLA_RESPONSE: _(
            "Service tickets: on time when the first response was given by the first-response "
            "deadline; late when given after it, or not given and the deadline has passed."
        ),
        agg.SLA_RESOLUTION: _(
            "Service tickets: on time when resolved (or closed) by the resolution deadline "
            "(which moves on while a ticket waits on the customer); late when resolved after "
            "it, or still unresolved after it (except while waiting on the customer)."
        ),
        agg.SLA_INQUIRY: _(
            "Online inquiries: on time when the first reply was sent by the first question's "
            "reply deadline; late when sent after it, or not sent and the deadline has passed "
            "(inquiries closed without a reply count neither way)."
        ),
    }


def sla_report(
    user: User, filters: ReportFilters, now: dt.datetime, *, live: bool = False
) -> dict[str, Any]:
    months = months_in(filters)
    cells = {(m, k): [0, 0] for m in months for k in agg.SLA_MEASURES}
    for row in agg.figures(agg.SLA, user, filters, ("month", "measure"), now, live=live):
        cell = cells.get((row["month"], row["measure"]))
        if cell is not None:
            cell[0] += int(row["on_time"])
            cell[1] += int(row["late"])
    labels, definitions = sla_labels(), sla_definitions()
    measures = []
    for key in agg.SLA_MEASURES:
        on_time = sum(cells[(m, key)][0] for m in months)
        late = sum(cells[(m, key)][1] for m in months)
        measures.append(
            {
                "key": key,
                "label": labels[key],
                "definition": definitions[key],
                "on_time": on_time,
                "late": late,
                "rate": _rate(on_time, on_time + late),
            }
        )
    return {
        "measures": measures,
        "months": [
            {
                "month": m,
                "cells": [
                    {
                        "key": k,
                        "on_time": cells[(m, k)][0],
                        "late": cells[(m, k)][1],
                        "rate": _rate(cells[(m, k)][0], sum(cells[(m, k)])),
                    }
                    for k in agg.SLA_MEASURES
                ],
            }
            for m in months
        ],
    }


def sla_chart(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": [f"{r['month']:%Y-%m}" for r in report["months"]],
        "series": [
            {"name": measure["label"], "values": [r["cells"][i]["rate"] for r in report["months"]]}
            for i, measure in enumerate(report["measures"])
        ],
    }
