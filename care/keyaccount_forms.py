"""Forms of the key-account pages. They parse and check the shape of the input; the services
in care.keyaccounts check the rest and say what is wrong."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from care.keyaccounts import DEFAULT_REVIEW_MONTHS, MAX_REVIEW_MONTHS, VALUE_CLASSES
from care.models import (
    CarePlanKind,
    DecisionMakerAttitude,
    KeyAccount,
    KeyAccountRuleKind,
)
from customers.models import Contact, Customer, CustomerCategory, Segment
from customers.selectors import users_who_see

REQUIRED = {"required": _("Fill in this field.")}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _owner_choices(customer: Customer) -> Any:
    return users_who_see(customer, User.objects.filter(is_active=True)).order_by(
        "display_name", "pk"
    )


class CustomerLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Find the customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(
            attrs={"placeholder": _("Customer number, name, pinyin or phone"), "type": "search"}
        ),
    )


class FlagForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=_("Key-account owner"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("The customer's account manager"),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, error_messages=REQUIRED, strip=True)
    review_months = forms.IntegerField(
        label=_("Satisfaction review every (months)"),
        min_value=1,
        max_value=MAX_REVIEW_MONTHS,
        initial=DEFAULT_REVIEW_MONTHS,
        error_messages=REQUIRED,
    )

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = _owner_choices(customer)


class UnflagForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for unflagging"), max_length=200, error_messages=REQUIRED
    )


class AccountForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=_("Key-account owner"), queryset=User.objects.none(), error_messages=REQUIRED
    )
    review_months = forms.IntegerField(
        label=_("Satisfaction review every (months)"),
        min_value=1,
        max_value=MAX_REVIEW_MONTHS,
        error_messages=REQUIRED,
    )
    history = forms.CharField(
        label=_("History and relationship"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    risks = forms.CharField(
        label=_("Risks"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    opportunities = forms.CharField(
        label=_("Opportunities"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    strategy = forms.CharField(
        label=_("Strategy"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, account: KeyAccount, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "owner": account.owner_id,
                "review_months": account.review_months,
                "history": account.history,
                "risks": account.risks,
                "opportunities": account.opportunities,
                "strategy": account.strategy,
            },
        )
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = _owner_choices(account.customer)


class DecisionMakerForm(forms.Form):
    contact = forms.ModelChoiceField(
        label=_("Contact"),
        queryset=Contact.objects.none(),
        required=False,
        empty_label=_("Not a recorded contact"),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=60,
        required=False,
        help_text=_("Needed when no contact is chosen."),
    )
    position = forms.CharField(label=_("Position"), max_length=60, required=False)
    decision_role = forms.CharField(
        label=_("Role in decisions"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. signs contracts, approves budget")}),
    )
    attitude = forms.ChoiceField(
        label=_("Attitude"),
        choices=DecisionMakerAttitude.choices,
        initial=DecisionMakerAttitude.UNKNOWN,
    )
    notes = forms.CharField(label=_("Notes"), max_length=300, required=False)

    def __init__(self, *args: Any, account: KeyAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contact = self.fields["contact"]
        assert isinstance(contact, forms.ModelChoiceField)
        contact.queryset = Contact.objects.filter(customer_id=account.customer_id)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("contact") and not (data.get("name") or "").strip():
            self.add_error("name", _("Choose a contact or fill in the name."))
        return data


class PlanItemForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CarePlanKind.choices)
    planned_on = forms.DateField(
        label=_("Planned date"), widget=_date_input(), error_messages=REQUIRED
    )
    title = forms.CharField(label=_("Title"), max_length=120, error_messages=REQUIRED)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    budget = forms.DecimalField(
        label=_("Budget (yuan)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
    )


class ReviewForm(forms.Form):
    reviewed_on = forms.DateField(
        label=_("Review date"), widget=_date_input(), error_messages=REQUIRED
    )
    satisfaction = forms.TypedChoiceField(
        label=_("Satisfaction"),
        coerce=int,
        choices=[
            (5, _("5 — very satisfied")),
            (4, _("4 — satisfied")),
            (3, _("3 — neutral")),
            (2, _("2 — dissatisfied")),
            (1, _("1 — very dissatisfied")),
        ],
        widget=forms.RadioSelect,
        error_messages=REQUIRED,
    )
    summary = forms.CharField(
        label=_("Summary"), widget=forms.Textarea(attrs={"rows": 4}), error_messages=REQUIRED
    )
    actions = forms.CharField(
        label=_("Agreed actions"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"reviewed_on": timezone.localdate()})
        super().__init__(*args, **kwargs)


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, error_messages=REQUIRED)
    kind = forms.ChoiceField(label=_("Condition"), choices=KeyAccountRuleKind.choices)
    value_class = forms.ChoiceField(
        label=_("Value class"),
        required=False,
        choices=[("", "—"), *((c, c) for c in VALUE_CLASSES)],
    )
    category = forms.ChoiceField(
        label=_("Customer category"),
        required=False,
        choices=[("", "—"), *CustomerCategory.choices],
    )
    min_contract_value = forms.DecimalField(
        label=_("Contract value at least (yuan)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text=_("The sum of the annual fees of the customer's service contracts."),
    )
    segment = forms.ModelChoiceField(
        label=_("Segment"), required=False, queryset=Segment.objects.none()
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, segments: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segment = self.fields["segment"]
        assert isinstance(segment, forms.ModelChoiceField)
        segment.queryset = segments


class ApplyRulesForm(forms.Form):
    reflag_removed = forms.BooleanField(
        label=_("Also flag again the customers that were unflagged by hand"), required=False
    )


class KeyAccountFilterForm(forms.Form):
    q = forms.CharField(label=_("Customer name"), required=False, max_length=60)
    owner = forms.TypedChoiceField(label=_("Owner"), required=False, coerce=int, empty_value=None)
    region = forms.TypedChoiceField(label=_("Region"), required=False, coerce=int, empty_value=None)
    value_class = forms.ChoiceField(
        label=_("Value class"),
        required=False,
        choices=[("", _("Any class")), *((c, c) for c in VALUE_CLASSES)],
    )
    plan_overdue = forms.BooleanField(label=_("Plan items overdue"), required=False)
    review_overdue = forms.BooleanField(label=_("Review overdue"), required=False)
    removed = forms.BooleanField(label=_("Unflagged"), required=False)

    def __init__(
        self,
        *args: Any,
        owners: list[tuple[int, str]],
        regions: list[tuple[int, str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.TypedChoiceField)
        owner.choices = [("", _("Any owner")), *owners]
        region = self.fields["region"]
        assert isinstance(region, forms.TypedChoiceField)
        region.choices = [("", _("Any region")), *((pk, label) for pk, label, _code in regions)]
