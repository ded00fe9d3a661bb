"""The filter bar every report shares — period, region (with its subtree), department, saved
segment — and the viewer's scope: the figures of a report cover only customers the viewer may
see (customers.selectors visibility rules) that the filters select."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Department, Region, User
from customers.models import Customer, Segment
from customers.segments import (
    segment_filter_options,
    segment_for_filter,
    segment_members_q,
    segment_q,
)
from customers.selectors import (
    any_of,
    region_filter_options,
    region_subtree_ids,
    visibility_scope,
)
from reports.segment_figures import segment_report_use
from ruwang.lib.forms import DateRangeForm

# A longer period is a typing mistake too, and would read years of rows for nothing.
MAX_DAYS = 366 * 5
PARAMS = ("date_from", "date_to", "region", "department", "segment")


def local_zone() -> dt.tzinfo:
    return timezone.get_default_timezone() if settings.USE_TZ else dt.UTC


def default_first_day(today: dt.date) -> dt.date:
    """The first day of the month eleven months back: the last twelve months, this one too."""
    month_index = today.year * 12 + today.month - 1 - 11
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


@dataclass(frozen=True)
class ReportFilters:
    first_day: dt.date
    last_day: dt.date
    region: Region | None = None
    # The region and every region under it (None: no region filter).
    region_ids: tuple[int, ...] | None = None
    department: Department | None = None
    segment: Segment | None = None

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first day 00:00, the day after the last day 00:00) in local time."""
        zone = local_zone()
        start = dt.datetime.combine(self.first_day, dt.time(), tzinfo=zone)
        end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        return start, end

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def params(self) -> dict[str, str]:
        values = {
            "date_from": self.first_day.isoformat(),
            "date_to": self.last_day.isoformat(),
            "region": str(self.region.pk) if self.region else "",
            "department": str(self.department.pk) if self.department else "",
            "segment": str(self.segment.pk) if self.segment else "",
        }
        return {key: value for key, value in values.items() if value}

    def query(self) -> str:
        """The filters as a query string (for the export link and drill-downs)."""
        return urlencode(self.params())

    def described(self) -> list[tuple[str, str]]:
        """(label, value) of every filter in force, for the page and the export's header."""
        rows = [(_("Period"), f"{self.first_day.isoformat()} – {self.last_day.isoformat()}")]
        if self.region is not None:
            rows.append((_("Region"), self.region.full_name or self.region.name))
        if self.department is not None:
            rows.append((_("Department"), self.department.name))
        if self.segment is not None:
            rows.append((_("Segment"), self.segment.name))
        return rows


class ReportFilterForm(DateRangeForm):
    max_days = MAX_DAYS

    region = forms.TypedChoiceField(
        label=gettext_lazy("Region"), required=False, coerce=int, empty_value=None
    )
    department = forms.TypedChoiceField(
        label=gettext_lazy("Department"), required=False, coerce=int, empty_value=None
    )
    segment = forms.TypedChoiceField(
        label=gettext_lazy("Segment"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, user: User, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.today = today
        everything = str(_("All"))
        region, department, segment = (
            self.fields["region"],
            self.fields["department"],
            self.fields["segment"],
        )
        assert isinstance(region, forms.TypedChoiceField)
        assert isinstance(department, forms.TypedChoiceField)
        assert isinstance(segment, forms.TypedChoiceField)
        region.choices = [("", everything)] + [
            (str(pk), label) for pk, label, _level in region_filter_options()
        ]
        department.choices = [("", everything)] + [
            (str(pk), name)
            for pk, name in Department.objects.order_by("name").values_list("pk", "name")
        ]
        segments = segment_filter_options(user)
        segment.choices = [("", str(_("All customers")))] + [
            (str(pk), name) for pk, name in segments
        ]
        if not segments:
            del self.fields["segment"]

    def filters(self) -> ReportFilters:
        """The filters chosen (defaults where a field is empty or invalid: the last twelve
        months, every region, department and customer)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        last = data.get("date_to") or self.today
        first = data.get("date_from") or default_first_day(last)
        if first > last:
            first = default_first_day(last)
        region = None
        region_ids = None
        if data.get("region"):
            region = Region.objects.filter(pk=data["region"]).first()
            if region is not None:
                region_ids = tuple(sorted(region_subtree_ids([region.pk])))
        department = None
        if data.get("department"):
            department = Department.objects.filter(pk=data["department"]).first()
        segment = None
        if data.get("segment"):
            segment = segment_for_filter(self.user, data["segment"])
        return ReportFilters(
            first_day=first,
            last_day=last,
            region=region,
            region_ids=region_ids,
            department=department,
            segment=segment,
        )


def report_filters(request: HttpRequest, user: User) -> tuple[ReportFilterForm, ReportFilters]:
    """The filter form bound to the request's query (unbound without one) and the filters in
    force; an invalid form shows its errors and the defaults are used. A segment chosen is
    recorded as reported on (reports.segment_figures: its figures get precomputed)."""
    today = timezone.localdate()
    bound = any(request.GET.get(name) for name in PARAMS)
    form = ReportFilterForm(request.GET if bound else None, user=user, today=today)
    filters = form.filters()
    if filters.segment is not None:
        segment_report_use(filters.segment)
    return form, filters


def customer_scope(user: User, filters: ReportFilters, path: str = "", *, few: bool = False) -> Q:
    """Rows of customers `user` may see that the filters' region, department and segment
    select. `path` leads from the rows to their customer ("customer__" for tickets; "" for
    customers themselves). The period is each report's own business. `few`: the rows are few
    (a partial month's cases of one viewer), so the segment is tested per row's customer
    (segment_probe_q) rather than evaluated whole."""
    condition = Q(**{f"{path}merged_into__isnull": True})
    branches = visibility_branches_on(user, path)
    if branches:
        condition &= any_of(branches)
    if filters.region_ids is not None:
        condition &= Q(**{f"{path}region_id__in": list(filters.region_ids)})
    if filters.department is not None:
        condition &= Q(**{f"{path}department_id": filters.department.pk})
    if filters.segment is not None:
        if few:
            condition &= segment_probe_q(filters.segment, path)
        elif path:
            condition &= segment_members_q(filters.segment, prefix=path)
        else:
            condition &= segment_members_q(filters.segment)
    return condition


def segment_probe_q(segment: Segment, path: str) -> Q:
    """The rows whose customer (through `path`, "" or "customer__") is in the segment, as a
    correlated EXISTS probing that customer by its key. For a few rows: the
    `IN (SELECT id … WHERE <conditions>)` of segment_members_q reads every member first
    (0.2 s a query for a segment of 54,000 customers among a million on SQLite), this only the
    rows' own customers. A definition that no longer validates matches nothing."""
    try:
        condition = segment_q(segment.definition)
    except ValidationError:
        return Q(pk__in=[])
    key = OuterRef(f"{path.removesuffix('__')}_id" if path else "pk")
    return Q(Exists(Customer.objects.filter(condition, pk=key)))


def visibility_branches_on(user: User, path: str) -> tuple[Q, ...]:
    """The user's visibility alternatives on the customer columns reached through `path`."""
    return visibility_scope(user).branches(path) or ()


def key_scope(user: User, filters: ReportFilters, prefix: str = "") -> Q:
    """The same scope on aggregate rows that carry the customer's visibility keys as columns
    (`{prefix}owner_id`, `{prefix}region_id`, `{prefix}department_id`, region being the
    customer's district): a report reading precomputed figures keeps them per those keys and
    sums the rows this returns. The segment is not part of it: rows of a segment carry its id
    (`segment_id`; NULL on the rows of everyone), which each reader selects itself."""
    condition = Q()
    branches = visibility_branches_on(user, prefix)
    if branches:
        condition &= any_of(branches)
    if filters.region_ids is not None:
        condition &= Q(**{f"{prefix}region_id__in": list(filters.region_ids)})
    if filters.department is not None:
        condition &= Q(**{f"{prefix}department_id": filters.department.pk})
    return condition
