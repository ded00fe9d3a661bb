"""Forms of the shipped SOPs (registered under their form keys).

The task page builds them as `FormClass(data=None, initial=...)`; `initial_for(case)` gives the
values to start from. Field names become case data (flat, shared by every task of a case), so
each name is unique across the SOP's forms.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Contact, Customer
from onboarding.models import (
    GRADE_MAX,
    GRADE_MIN,
    BusinessStatus,
    BusinessType,
    OrderDay,
    OrderMethod,
    RetailerProfile,
)
from ruwang.lib.validators import validate_mobile
from workflow.models import Case
from workflow.registry import register_form
from workflow.services import territory_manager

ACCOUNT_MANAGER_ROLE = "account_manager"


def account_managers() -> QuerySet[User]:
    return (
        User.objects.filter(is_active=True, groups__role__code=ACCOUNT_MANAGER_ROLE)
        .distinct()
        .order_by("username")
    )


def suggested_account_manager(customer: Customer) -> User | None:
    """The customer's owner, else the territory's account manager, else the one who already
    looks after the most customers in the same district."""
    if customer.owner is not None and customer.owner.is_active:
        return customer.owner
    manager = territory_manager(customer.region)
    if manager is not None:
        return manager
    return (
        account_managers()
        .annotate(
            in_district=Count(
                "owned_customers", filter=Q(owned_customers__region_id=customer.region_id)
            )
        )
        .filter(in_district__gt=0)
        .order_by("-in_district", "id")
        .first()
    )


def _profile(customer: Customer) -> RetailerProfile | None:
    try:
        return customer.retailer_profile
    except RetailerProfile.DoesNotExist:
        return None


class AccountManagerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj} ({obj.username})" if str(obj) != obj.username else obj.username


class AssignForm(forms.Form):
    """分配客户经理: the market manager picks the account manager of the retailer's area."""

    account_manager = AccountManagerChoiceField(
        label=_("Account manager"),
        queryset=account_managers(),
        help_text=_("The account manager who serves the retailer's area."),
    )
    assign_note = forms.CharField(
        label=_("Note"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        suggestion = suggested_account_manager(case.customer)
        return {"account_manager": suggestion.pk if suggestion is not None else None}


class RegistrationForm(forms.Form):
    """新入网户登记表, filled in by the system administrator."""

    licence_number = forms.CharField(
        label=_("Tobacco retail licence number"),
        max_length=40,
        help_text=_("As printed on the tobacco monopoly retail licence."),
    )
    shop_name = forms.CharField(label=_("Shop name"), max_length=120, required=False)
    operator_name = forms.CharField(label=_("Operator"), max_length=60, required=False)
    operator_mobile = forms.CharField(
        label=_("Operator's mobile"),
        max_length=20,
        required=False,
        validators=[validate_mobile],
    )
    business_address = forms.CharField(label=_("Business address"), max_length=200, required=False)
    business_type = forms.ChoiceField(
        label=_("Business type"),
        choices=[("", "—"), *BusinessType.choices],
        required=False,
    )
    licence_issued_on = forms.DateField(
        label=_("Licence issued on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    licence_valid_until = forms.DateField(
        label=_("Licence valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    registration_notes = forms.CharField(
        label=_("Notes"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_licence_number(self) -> str:
        return str(self.cleaned_data["licence_number"]).strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        issued, valid_until = data.get("licence_issued_on"), data.get("licence_valid_until")
        if issued and valid_until and valid_until <= issued:
            self.add_error(
                "licence_valid_until",
                _("The licence must be valid until a date after it was issued."),
            )
        if data.get("operator_mobile") and not (data.get("operator_name") or "").strip():
            self.add_error("operator_name", _("Enter the operator's name with the mobile number."))
        return data

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        customer = case.customer
        operator = Contact.objects.filter(customer=customer, anonymised_at__isnull=True).first()
        profile = _profile(customer)
        initial: dict[str, Any] = {
            "licence_number": customer.licence_number,
            "shop_name": customer.name,
            "business_address": customer.address,
            "operator_name": operator.name if operator else "",
            "operator_mobile": operator.mobile if operator else "",
        }
        if profile is not None:
            initial.update(
                business_type=profile.business_type,
                licence_issued_on=profile.licence_issued_on,
                licence_valid_until=profile.licence_valid_until,
                registration_notes=profile.registration_notes,
            )
        return initial


class VerificationForm(forms.Form):
    """实地核实并设置业务信息, by the retailer's account manager after the on-site visit."""

    verified_on_site = forms.BooleanField(
        label=_("I have verified the retailer's details on site"),
        error_messages={
            "required": _("Tick “Verified on site” once you have checked the shop in person.")
        },
    )
    business_status = forms.ChoiceField(label=_("Business status"), choices=BusinessStatus.choices)
    order_day = forms.ChoiceField(label=_("Order day"), choices=OrderDay.choices)
    grade = forms.IntegerField(
        label=_("Grade"),
        min_value=GRADE_MIN,
        max_value=GRADE_MAX,
        help_text=_("The retailer's supply grade, 1 to 30."),
    )
    delivery_route = forms.CharField(label=_("Delivery route"), max_length=60)
    order_method = forms.ChoiceField(label=_("Order method"), choices=OrderMethod.choices)
    policy_explained = forms.BooleanField(
        label=_("Tobacco policy explained to the retailer"),
        error_messages={
            "required": _(
                "Tick “Policy explained”: explain the tobacco monopoly policy to the retailer "
                "before completing this step."
            )
        },
    )
    supply_introduced = forms.BooleanField(
        label=_("Cigarette supply introduced"),
        error_messages={
            "required": _(
                "Tick “Supply introduced”: introduce the available cigarette brands and supply "
                "before completing this step."
            )
        },
    )
    ordering_explained = forms.BooleanField(
        label=_("Ordering procedure explained"),
        error_messages={
            "required": _(
                "Tick “Ordering procedure explained”: show the retailer how to order cigarettes "
                "before completing this step."
            )
        },
    )
    verification_notes = forms.CharField(
        label=_("Notes"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        """After a rejection the account manager starts from what was sent for review."""
        initial = {name: case.data[name] for name in cls.base_fields if name in case.data}
        if initial:
            return initial
        profile = _profile(case.customer)
        if profile is None:
            return {}
        return {
            name: getattr(profile, name)
            for name in (
                "business_status",
                "order_day",
                "grade",
                "delivery_route",
                "order_method",
                "verification_notes",
            )
            if getattr(profile, name) not in ("", None)
        }


register_form("tobacco_assign", _("Assign an account manager"), AssignForm)
register_form("tobacco_registration", _("New retailer registration form"), RegistrationForm)
register_form("tobacco_verification", _("On-site verification and business data"), VerificationForm)
