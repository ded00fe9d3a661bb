"""Churn risk pages (流失风险): the at-risk list with its filters and Excel export, the model
card, and "recompute now"."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from accounts.models import Region, RegionLevel, User
from audit.services import audit_record
from customers.exports import XLSX_TYPE
from customers.segments import segment_for_filter
from customers.selectors import region_filter_options
from insights import churn
from insights.churn_tasks import churn_recompute_task
from insights.models import ChurnMethod, RiskBand
from ruwang.lib.excel import append_row
from ruwang.lib.views import require

EXPORT_LIMIT = 50_000


class RiskFilterForm(forms.Form):
    band = forms.ChoiceField(
        label=gettext_lazy("Risk"),
        required=False,
        choices=[("", gettext_lazy("Medium and high")), *RiskBand.choices],
    )
    region = forms.ModelChoiceField(
        label=gettext_lazy("Region"), required=False, queryset=Region.objects.all()
    )
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Account manager"),
        required=False,
        queryset=User.objects.none(),
        empty_label=gettext_lazy("All account managers"),
    )
    min_score = forms.IntegerField(
        label=gettext_lazy("Score at least"), required=False, min_value=0, max_value=100
    )
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort"),
        required=False,
        choices=[
            ("-score", gettext_lazy("Highest score first")),
            ("score", gettext_lazy("Lowest score first")),
        ],
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = churn.owner_options(user)

    def filters(self) -> churn.RiskFilters:
        """The chosen filters (no filter where a value is invalid: its error is shown)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        band = data.get("band") or ""
        min_score = data.get("min_score")
        if band == RiskBand.LOW and min_score is None:
            min_score = 0  # asked for the low band: show it, whatever the threshold
        return churn.RiskFilters(
            band=band,
            region=data.get("region"),
            owner=data.get("owner"),
            # {% segment_filter_select %} renders the choice; a segment the user may not
            # use is ignored, like on the other lists.
            segment=segment_for_filter(self.user, self.data.get("segment")),
            min_score=min_score,
            q=(data.get("q") or "").strip(),
            sort=data.get("sort") or "-score",
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


@login_required
def churn_list(request: HttpRequest) -> HttpResponse:
    """The at-risk list, a page at a time: `after` is the previous page's last row (keyset)."""
    user = require(request, churn.VIEW_PERM)
    params = request.GET.copy()
    cursor = params.pop("after", [""])[-1]
    form = RiskFilterForm(params or None, user=user)
    filters = form.filters()
    page = churn.churn_page(user, filters, cursor)
    settings = churn.churn_settings()
    context = {
        "form": form,
        "filters": filters,
        "rows": [{"row": row, "factors": churn.factors_of(row)} for row in page.rows],
        "page": page,
        "first_page": not cursor,
        "threshold": filters.min_score
        if filters.min_score is not None
        else settings.medium_threshold,
        "settings": settings,
        "model": churn.current_model(),
        "region_options": _region_options(),
        "region_selected": str(filters.region.pk) if filters.region else "",
        "query": params.urlencode(),
        "can_recompute": user.has_perm(churn.RECOMPUTE_PERM),
        "logistic": ChurnMethod.LOGISTIC,
    }
    return render(request, "insights/churn/list.html", context)


@login_required
def churn_export(request: HttpRequest) -> HttpResponse:
    """The at-risk list with the same filters as .xlsx (at most EXPORT_LIMIT rows); audited."""
    user = require(request, churn.VIEW_PERM)
    form = RiskFilterForm(request.GET or None, user=user)
    filters = form.filters()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Churn risk"))
    append_row(
        sheet,
        [
            _("Customer"),
            _("District"),
            _("Account manager"),
            _("Churn risk score"),
            _("Risk"),
            *[_("Factor %(n)s") % {"n": n} for n in range(1, churn.TOP_FACTORS + 1)],
            _("Computed at"),
        ],
    )
    count = 0
    for row in churn.churn_at_risk(user, filters)[:EXPORT_LIMIT]:
        factors = [f"{f.label}: {f.value}" for f in churn.factors_of(row)]
        factors += [""] * (churn.TOP_FACTORS - len(factors))
        customer = row.customer
        append_row(
            sheet,
            [
                customer.name,
                customer.region.full_name,
                str(customer.owner) if customer.owner else "",
                row.score,
                row.get_band_display(),
                *factors,
                timezone.localtime(row.computed_at).strftime("%Y-%m-%d %H:%M"),
            ],
        )
        count += 1
    audit_record(
        actor=user,
        action="churn.export",
        object_type="insights.churnscore",
        changes={
            "filters": [
                None,
                {k: str(v) for k, v in filters.__dict__.items() if v is not None and v != ""},
            ],
            "rows": [None, count],
        },
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="churn-risk-{stamp}.xlsx"'
    return response


@login_required
def churn_model_card(request: HttpRequest) -> HttpResponse:
    user = require(request, churn.VIEW_PERM)
    model = churn.current_model()
    context = {
        "model": model,
        "settings": churn.churn_settings(),
        "coefficients": churn.model_coefficients(model) if model is not None else [],
        "rules": churn.rule_lines(),
        "labels": [(name, churn.factor_label(name)) for name in churn.FEATURES],
        "can_recompute": user.has_perm(churn.RECOMPUTE_PERM),
        "logistic": ChurnMethod.LOGISTIC,
    }
    return render(request, "insights/churn/model.html", context)


@login_required
@require_POST
def churn_recompute_now(request: HttpRequest) -> HttpResponse:
    user = require(request, churn.RECOMPUTE_PERM)
    churn_recompute_task.enqueue(actor_id=user.pk)
    messages.success(request, _("Recomputation started: the scores update when it has finished."))
    return redirect("insights:churn_model")
