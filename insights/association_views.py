"""The association analysis page (关联分析) and its Excel export: filters by period, region,
segment and minimum support; figures from insights.association."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from accounts.models import Region, RegionLevel, User
from customers.exports import XLSX_TYPE
from customers.models import Segment
from customers.segments import segment_queryset, segments_visible_to
from customers.selectors import region_filter_options
from insights import association
from insights.tasks import association_task
from ruwang.lib.excel import append_row
from ruwang.lib.views import require

PERIOD_RANGE = "range"
DEFAULT_PERIOD = "90"
PERIOD_CHOICES = [
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
    ("180", gettext_lazy("Last 180 days")),
    ("365", gettext_lazy("Last 365 days")),
    (PERIOD_RANGE, gettext_lazy("Date range")),
]
MAX_RANGE_DAYS = 3 * 366
DEFAULT_MIN_SUPPORT = 1  # percent


class AssociationFilterForm(forms.Form):
    period = forms.ChoiceField(label=gettext_lazy("Period"), required=False, choices=PERIOD_CHOICES)
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    region = forms.ModelChoiceField(
        label=gettext_lazy("Region"), required=False, queryset=Region.objects.all()
    )
    segment = forms.ModelChoiceField(
        label=gettext_lazy("Segment"), required=False, queryset=Segment.objects.none()
    )
    min_support = forms.DecimalField(
        label=gettext_lazy("Minimum support, per cent"),
        required=False,
        min_value=0.1,
        max_value=100,
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )

    def __init__(self, *args: Any, user: User, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        self.user = user
        segment_field = self.fields["segment"]
        assert isinstance(segment_field, forms.ModelChoiceField)
        segment_field.queryset = segments_visible_to(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        segment = data.get("segment")
        if segment is not None:
            try:
                data["segment_customers"] = segment_queryset(self.user, segment.definition)
            except ValidationError as exc:
                self.add_error("segment", exc.messages)
        if (data.get("period") or DEFAULT_PERIOD) != PERIOD_RANGE:
            return data
        first, last = data.get("date_from"), data.get("date_to")
        if first is None and "date_from" not in self.errors:
            self.add_error("date_from", _("Enter the first day of the range."))
        if last is None and "date_to" not in self.errors:
            self.add_error("date_to", _("Enter the last day of the range."))
        if first is None or last is None:
            return data
        if last < first:
            self.add_error("date_to", _("The last day cannot be before the first day."))
        elif first > self.today:
            self.add_error("date_from", _("The range cannot start in the future."))
        elif (last - first).days >= MAX_RANGE_DAYS:
            self.add_error(
                "date_to", _("Choose at most %(days)s days.") % {"days": f"{MAX_RANGE_DAYS:,}"}
            )
        return data

    def filters(self) -> association.Filters:
        """The chosen filters (the defaults everywhere where the form is invalid)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        period = data.get("period") or DEFAULT_PERIOD
        if period == PERIOD_RANGE:
            first, last = data["date_from"], min(data["date_to"], self.today)
        else:
            first, last = self.today - dt.timedelta(days=int(period) - 1), self.today
        support = data.get("min_support")
        segment = data.get("segment")
        return association.Filters(
            first_day=first,
            last_day=last,
            region=data.get("region"),
            min_support=float(support if support is not None else DEFAULT_MIN_SUPPORT) / 100,
            customers=data.get("segment_customers"),
            customers_key=f"segment:{segment.pk}:{segment.updated_at}" if segment else "",
            window=None if period == PERIOD_RANGE else int(period),
        )


def _region_options() -> SafeString:
    return format_html_join(
        "",
        '<option value="{}">{}{}</option>',
        (
            (pk, "\u3000" if level == RegionLevel.DISTRICT else "", label)
            for pk, label, level in region_filter_options()
        ),
    )


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _form(request: HttpRequest, user: User) -> AssociationFilterForm:
    today = timezone.localdate()
    return AssociationFilterForm(request.GET or None, user=user, today=today)


def _result(
    request: HttpRequest, user: User, filters: association.Filters
) -> tuple[association.Result | None, bool]:
    """(the figures or None while they are computed, whether their computation failed).

    Figures that come at once (cached, nightly windows) are shown at once; others are
    computed in the background (association_task) while the page polls for them."""
    if request.GET.get("part") == "results":  # the page polling
        if association.association_pending(user, filters):
            return association.association_cached(user, filters), False
        result = association.association_ready(user, filters)
        return result, result is None  # neither there nor being computed: it failed
    fresh = request.GET.get("fresh") == "1"
    result = association.association_ready(user, filters, fresh=fresh)
    if result is not None:
        return result, False
    if association.association_claim(user, filters):
        if fresh:
            association.association_forget(user, filters)
        association_task.enqueue(
            user_id=user.pk,
            query=_query(request).urlencode(),
            today=timezone.localdate().isoformat(),
            fresh=fresh,
        )
    if association.association_pending(user, filters):
        return None, False
    # Computed already (tests run tasks at once) or by a computation that just finished.
    return association.association_cached(user, filters), False


def _query(request: HttpRequest) -> QueryDict:
    """The page's filters: the query without "recompute now" and the polling marker."""
    query = request.GET.copy()
    query.pop("fresh", None)
    query.pop("part", None)
    return query


@login_required
def association_report(request: HttpRequest) -> HttpResponse:
    user = require(request, association.PERM)
    form = _form(request, user)
    filters = form.filters()
    result, failed = _result(request, user, filters)
    query = _query(request)
    region = filters.region
    context = {
        "form": form,
        "filters": filters,
        "result": result,
        "failed": failed,
        "poll_url": "?" + urlencode([*query.lists(), ("part", "results")], doseq=True),
        "period": (form.cleaned_data.get("period") if form.is_bound and form.is_valid() else "")
        or DEFAULT_PERIOD,
        "region_options": _region_options(),
        "region_selected": str(region.pk) if region else "",
        "min_support_percent": f"{filters.min_support * 100:g}",
        "query": query.urlencode(),
        "fresh_query": urlencode([*query.lists(), ("fresh", "1")], doseq=True),
        "cache_minutes": association.CACHE_SECONDS // 60,
    }
    if request.GET.get("part") == "results":
        return render(request, "insights/association/_results.html", context)
    return render(request, "insights/association/report.html", context)


@login_required
def association_export(request: HttpRequest) -> HttpResponse:
    """The pairs on the page (same filters) as .xlsx; no customer is named in it."""
    user = require(request, association.PERM)
    form = _form(request, user)
    filters = form.filters()
    result = association.association_pairs(user, filters)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Item pairs"))
    append_row(
        sheet,
        [
            _("Item A"),
            _("Item B"),
            _("Customers with both"),
            _("Support"),
            _("Confidence A → B"),
            _("Confidence B → A"),
            _("Lift"),
        ],
    )
    for pair in result.pairs:
        append_row(
            sheet,
            [
                f"{pair.a.family_label}: {pair.a.label}",
                f"{pair.b.family_label}: {pair.b.label}",
                pair.both,
                round(pair.support, 6),
                round(pair.confidence_ab, 6),
                round(pair.confidence_ba, 6),
                round(pair.lift, 6),
            ],
        )
    items = workbook.create_sheet(_("Items"))
    append_row(items, [_("Dimension"), _("Item"), _("Customers with the item"), _("Support")])
    for item in result.items:
        append_row(
            items,
            [item.family_label, item.label, item.count, round(item.support, 6)],
        )
    about = workbook.create_sheet(_("About"))
    region = filters.region.full_name if filters.region else _("All regions")
    for label, value in [
        (_("Period"), f"{result.first_day:%Y-%m-%d} – {result.last_day:%Y-%m-%d}"),
        (_("Region"), region),
        (_("Minimum support"), _percent(filters.min_support)),
        (_("Customers with activity (N)"), result.baskets),
        (_("Support"), _("share of the N customers having both items")),
        (_("Confidence A → B"), _("share of the customers with A that also have B")),
        (_("Lift"), _("support(A, B) ÷ (support(A) × support(B)); above 1: more than by chance")),
    ]:
        append_row(about, [label, value])
    buffer = io.BytesIO()
    workbook.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="association-{stamp}.xlsx"'
    return response
