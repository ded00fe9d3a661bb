"""Key-account pages (关键客户): list with plan progress and export, flagging with a customer
picker, the key-account page (profile, decision makers, care plan, reviews, history) and the
flagging rules."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.services import audit_record
from care import keyaccounts as ka
from care.keyaccount_forms import (
    AccountForm,
    ApplyRulesForm,
    CustomerLookupForm,
    DecisionMakerForm,
    FlagForm,
    KeyAccountFilterForm,
    PlanItemForm,
    ReviewForm,
    RuleForm,
    UnflagForm,
)
from care.models import CarePlanItem, DecisionMaker, KeyAccount, KeyAccountRule
from customers import selectors as customer_selectors
from customers.models import Customer
from customers.segments import segments_visible_to
from ruwang.lib.excel import append_row
from ruwang.lib.views import apply_errors, require

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _filters(request: HttpRequest, user: Any) -> tuple[KeyAccountFilterForm, ka.KeyAccountFilters]:
    form = KeyAccountFilterForm(
        request.GET or None,
        owners=ka.owner_options(user),
        regions=customer_selectors.region_filter_options(),
    )
    if not form.is_valid():
        return form, ka.KeyAccountFilters()
    data = form.cleaned_data
    return form, ka.KeyAccountFilters(
        owner=data.get("owner"),
        region=data.get("region"),
        value_class=data.get("value_class") or "",
        plan_overdue=bool(data.get("plan_overdue")),
        review_overdue=bool(data.get("review_overdue")),
        active=not data.get("removed"),
        q=(data.get("q") or "").strip(),
    )


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


@login_required
def keyaccount_list(request: HttpRequest) -> HttpResponse:
    user = require(request, ka.VIEW_PERM)
    form, filters = _filters(request, user)
    today = timezone.localdate()
    page = _page_number(request)
    offset = (page - 1) * ka.PAGE_SIZE
    rows = list(ka.key_account_list(user, filters, today)[offset : offset + ka.PAGE_SIZE + 1])
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    context = {
        "form": form,
        "accounts": rows[: ka.PAGE_SIZE],
        "today": today,
        "page": page,
        "query": urlencode(query),
        "previous_url": f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
        "next_url": f"?{urlencode({**query, 'page': page + 1})}"
        if len(rows) > ka.PAGE_SIZE
        else "",
        "can_export": user.has_perm(ka.EXPORT_PERM),
        "can_flag": user.has_perm(ka.CHANGE_PERM),
        "can_rules": user.has_perm(ka.RULES_PERM),
    }
    return render(request, "care/keyaccounts/list.html", context)


@login_required
def keyaccount_export(request: HttpRequest) -> HttpResponse:
    """The filtered key accounts as an .xlsx workbook (audited)."""
    from openpyxl import Workbook

    user = require(request, ka.VIEW_PERM)
    if not user.has_perm(ka.EXPORT_PERM):
        raise PermissionDenied(ka.EXPORT_PERM)
    _form, filters = _filters(request, user)
    today = timezone.localdate()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Key accounts"))
    headers = [
        _("Customer number"),
        _("Customer"),
        _("District"),
        _("Value class"),
        _("Key-account owner"),
        _("Flagged at"),
        _("Reason"),
        _("Plan items done"),
        _("Plan items this year"),
        _("Plan items overdue"),
        _("Next planned item"),
        _("Next planned date"),
        _("Last review"),
        _("Last satisfaction"),
        _("Next review due"),
    ]
    append_row(sheet, headers)
    rows = 0
    for account in ka.key_account_list(user, filters, today)[: ka.EXPORT_MAX_ROWS]:
        value = getattr(account.customer, "value", None)
        append_row(
            sheet,
            [
                account.customer_id,
                account.customer.name,
                account.customer.region.full_name,
                value.abc_class if value is not None else "",
                str(account.owner) if account.owner else "",
                account.flagged_at.astimezone(timezone.get_current_timezone()).replace(tzinfo=None),
                account.reason,
                account.plan_done,  # type: ignore[attr-defined]
                account.plan_total,  # type: ignore[attr-defined]
                account.plan_overdue,  # type: ignore[attr-defined]
                account.next_planned_title or "",  # type: ignore[attr-defined]
                account.next_planned_on,  # type: ignore[attr-defined]
                account.last_review_on,  # type: ignore[attr-defined]
                account.last_review_score,  # type: ignore[attr-defined]
                account.next_review_on,
            ],
        )
        rows += 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit_record(
        actor=user,
        action="key_account.export",
        object_type="care.keyaccount",
        changes={"rows": rows, "filters": {k: v for k, v in request.GET.items() if v}},
    )
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="key-accounts-{today}.xlsx"'
    return response


def _customer_or_404(user: Any, raw: str) -> Customer | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404
    try:
        return customer_selectors.customer_get(user, int(raw))
    except Customer.DoesNotExist as exc:
        raise Http404 from exc


@login_required
def keyaccount_flag(request: HttpRequest) -> HttpResponse:
    """Flag a customer: pick it (lookup box), then name the owner and the reason."""
    user = require(request, ka.CHANGE_PERM)
    customer = _customer_or_404(
        user, request.POST.get("customer") or request.GET.get("customer", "")
    )
    if customer is None:
        lookup = CustomerLookupForm(request.GET or None)
        text = lookup.cleaned_data["q"] if lookup.is_valid() else ""
        context = {
            "lookup": lookup,
            "q": text,
            "matches": customer_selectors.customer_matches(user, text),
            "pick_url": reverse("care:keyaccount_flag"),
        }
        if _is_htmx(request):
            return render(request, "customers/_matches.html", context)
        return render(request, "care/keyaccounts/flag.html", {**context, "customer": None})
    existing = KeyAccount.objects.filter(customer=customer, is_active=True).first()
    if existing is not None:
        messages.info(request, _("This customer is already a key account."))
        return redirect("care:keyaccount_detail", existing.pk)
    if not ka.can_flag(user, customer):
        raise PermissionDenied(ka.CHANGE_PERM)
    form = FlagForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = ka.key_account_flag(
                actor=user,
                customer=customer,
                reason=data["reason"],
                owner=data["owner"],
                review_months=data["review_months"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The customer is now a key account."))
            return redirect("care:keyaccount_detail", account.pk)
    status = 400 if form.errors else 200
    return render(
        request, "care/keyaccounts/flag.html", {"customer": customer, "form": form}, status=status
    )


def _detail_context(request: HttpRequest, user: Any, account: KeyAccount) -> dict[str, Any]:
    raw_year = request.GET.get("year", "")
    year = int(raw_year) if raw_year.isdigit() and 2000 <= int(raw_year) <= 2100 else None
    detail = ka.key_account_detail(user, account, year=year)
    ordered = sorted(detail.reviews, key=lambda r: (r.reviewed_on, r.pk))
    trend = (
        {
            "labels": [r.reviewed_on.isoformat() for r in ordered],
            "scores": [r.satisfaction for r in ordered],
            "name": _("Satisfaction"),
        }
        if len(ordered) >= 2
        else None
    )
    return {
        "trend": trend,
        "d": detail,
        "account": account,
        "customer": account.customer,
        "today": timezone.localdate(),
        "unflag_form": UnflagForm(),
        "value": getattr(account.customer, "value", None),
    }


@login_required
def keyaccount_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, ka.VIEW_PERM)
    account = ka.key_account_get(user, pk)
    return render(request, "care/keyaccounts/detail.html", _detail_context(request, user, account))


def _managed(request: HttpRequest, pk: int) -> tuple[Any, KeyAccount]:
    """The signed-in user and the key account they may manage (404 when they may not see it,
    403 when they may see but not manage it)."""
    user = require(request, ka.VIEW_PERM)
    account = ka.key_account_get(user, pk)
    if not ka.can_manage(user, account):
        raise PermissionDenied(ka.CHANGE_PERM)
    return user, account


def _form_page(
    request: HttpRequest,
    account: KeyAccount,
    form: Any,
    title: str,
    *,
    danger: str = "",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    context = {"account": account, "form": form, "title": title, "danger": danger, **(extra or {})}
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "care/keyaccounts/form.html", context, status=status)


@login_required
def keyaccount_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user, account = _managed(request, pk)
    if not account.is_active:
        raise Http404
    form = AccountForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            ka.key_account_update(actor=user, account=account, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The key-account profile was saved."))
            return redirect("care:keyaccount_detail", account.pk)
    return _form_page(request, account, form, _("Edit key-account profile"))


@login_required
def keyaccount_unflag(request: HttpRequest, pk: int) -> HttpResponse:
    user, account = _managed(request, pk)
    if not account.is_active:
        raise Http404
    form = UnflagForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ka.key_account_unflag(actor=user, account=account, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The customer is no longer a key account."))
            return redirect("care:keyaccount_detail", account.pk)
    return _form_page(request, account, form, _("Unflag key account"), danger="1")


@login_required
def decision_maker_edit(request: HttpRequest, pk: int, maker_pk: int | None = None) -> HttpResponse:
    user, account = _managed(request, pk)
    maker = (
        get_object_or_404(DecisionMaker, pk=maker_pk, key_account=account)
        if maker_pk is not None
        else None
    )
    initial = (
        {
            "contact": maker.contact_id,
            "name": maker.name,
            "position": maker.position,
            "decision_role": maker.decision_role,
            "attitude": maker.attitude,
            "notes": maker.notes,
        }
        if maker is not None
        else None
    )
    form = DecisionMakerForm(request.POST or None, account=account, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            ka.decision_maker_save(actor=user, account=account, maker=maker, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The decision maker was saved."))
            return redirect(reverse("care:keyaccount_detail", args=[account.pk]) + "#makers")
    title = _("Edit decision maker") if maker else _("Add decision maker")
    return _form_page(request, account, form, title)


@login_required
@require_POST
def decision_maker_delete(request: HttpRequest, pk: int, maker_pk: int) -> HttpResponse:
    user, account = _managed(request, pk)
    maker = get_object_or_404(DecisionMaker, pk=maker_pk, key_account=account)
    try:
        ka.decision_maker_delete(actor=user, maker=maker)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The decision maker was removed."))
    return redirect(reverse("care:keyaccount_detail", args=[account.pk]) + "#makers")


@login_required
def plan_item_edit(request: HttpRequest, pk: int, item_pk: int | None = None) -> HttpResponse:
    user, account = _managed(request, pk)
    item = (
        get_object_or_404(CarePlanItem, pk=item_pk, key_account=account)
        if item_pk is not None
        else None
    )
    initial = (
        {
            "kind": item.kind,
            "planned_on": item.planned_on,
            "title": item.title,
            "notes": item.notes,
            "budget": item.budget,
        }
        if item is not None
        else None
    )
    form = PlanItemForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if item is None:
                ka.plan_item_create(actor=user, account=account, **form.cleaned_data)
            else:
                ka.plan_item_update(actor=user, item=item, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The care plan item was saved."))
            return redirect(reverse("care:keyaccount_detail", args=[account.pk]) + "#plan")
    title = _("Edit care plan item") if item else _("Add care plan item")
    return _form_page(
        request,
        account,
        form,
        title,
        extra={"help": _("The owner gets a care task due on the planned date.")},
    )


@login_required
@require_POST
def plan_item_delete(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    user, account = _managed(request, pk)
    item = get_object_or_404(CarePlanItem, pk=item_pk, key_account=account)
    ka.plan_item_delete(actor=user, item=item)
    messages.success(request, _("The care plan item was removed and its open task cancelled."))
    return redirect(reverse("care:keyaccount_detail", args=[account.pk]) + "#plan")


@login_required
def review_create(request: HttpRequest, pk: int) -> HttpResponse:
    user, account = _managed(request, pk)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ka.review_record(actor=user, account=account, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The satisfaction review was recorded."))
            return redirect(reverse("care:keyaccount_detail", args=[account.pk]) + "#reviews")
    return _form_page(request, account, form, _("Record satisfaction review"))


# --- rules -----------------------------------------------------------------------------------


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    require(request, ka.RULES_PERM)
    rules = list(KeyAccountRule.objects.select_related("segment", "created_by"))
    for rule in rules:
        rule.description = ka.rule_describe(rule)  # type: ignore[attr-defined]
    apply_form = ApplyRulesForm()
    return render(
        request,
        "care/keyaccounts/rules.html",
        {"rules": rules, "apply_form": apply_form, "settings": ka.key_account_settings()},
    )


@login_required
def rule_edit(request: HttpRequest, rule_pk: int | None = None) -> HttpResponse:
    user = require(request, ka.RULES_PERM)
    rule = get_object_or_404(KeyAccountRule, pk=rule_pk) if rule_pk is not None else None
    initial = (
        {
            "name": rule.name,
            "kind": rule.kind,
            "value_class": rule.value_class,
            "category": rule.category,
            "min_contract_value": rule.min_contract_value,
            "segment": rule.segment_id,
            "is_active": rule.is_active,
        }
        if rule is not None
        else None
    )
    form = RuleForm(request.POST or None, initial=initial, segments=segments_visible_to(user))
    if request.method == "POST" and form.is_valid():
        try:
            ka.rule_save(actor=user, rule=rule, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The rule was saved."))
            return redirect("care:keyaccount_rules")
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "care/keyaccounts/rule_form.html", {"form": form, "rule": rule}, status=status
    )


@login_required
@require_POST
def rule_delete(request: HttpRequest, rule_pk: int) -> HttpResponse:
    user = require(request, ka.RULES_PERM)
    rule = get_object_or_404(KeyAccountRule, pk=rule_pk)
    ka.rule_delete(actor=user, rule=rule)
    messages.success(request, _("The rule was deleted; the key accounts it flagged stay."))
    return redirect("care:keyaccount_rules")


@login_required
@require_POST
def rules_apply(request: HttpRequest) -> HttpResponse:
    user = require(request, ka.RULES_PERM)
    form = ApplyRulesForm(request.POST)
    reflag = form.is_valid() and bool(form.cleaned_data["reflag_removed"])
    result = ka.key_accounts_apply_rules(actor=user, reflag_removed=reflag)
    messages.success(
        request,
        _("Rules applied: %(n)s customers newly flagged as key accounts.") % {"n": result.flagged},
    )
    return redirect("care:keyaccount_rules")
