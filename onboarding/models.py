"""What the tobacco new-retailer SOP records about a retailer beyond the customer record."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# 档位: tobacco retailers are graded 1 (smallest) to 30 for their supply allocation.
GRADE_MIN, GRADE_MAX = 1, 30


class BusinessType(models.TextChoices):
    GROCERY = "grocery", _("Grocery store")
    CONVENIENCE = "convenience", _("Convenience store")
    SUPERMARKET = "supermarket", _("Supermarket")
    TOBACCO_LIQUOR = "tobacco_liquor", _("Tobacco and liquor shop")
    ENTERTAINMENT = "entertainment", _("Entertainment and services")
    OTHER = "other", _("Other")


class BusinessStatus(models.TextChoices):
    OPEN = "open", _("Open for business")
    PAUSED = "paused", _("Temporarily closed")
    OPENING_SOON = "opening_soon", _("Opening soon")


class OrderDay(models.TextChoices):
    MONDAY = "mon", _("Monday")
    TUESDAY = "tue", _("Tuesday")
    WEDNESDAY = "wed", _("Wednesday")
    THURSDAY = "thu", _("Thursday")
    FRIDAY = "fri", _("Friday")
    SATURDAY = "sat", _("Saturday")
    SUNDAY = "sun", _("Sunday")


class OrderMethod(models.TextChoices):
    PHONE = "phone", _("Order by phone")
    ONLINE = "online", _("Order online")
    BY_ACCOUNT_MANAGER = "account_manager", _("Ordered by the account manager")


class RetailerProfile(models.Model):
    """新入网户登记表 and the business data the account manager sets for a tobacco retailer."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="retailer_profile",
    )
    business_type = models.CharField(
        _("business type"), max_length=20, choices=BusinessType.choices, blank=True
    )
    operator = models.ForeignKey(
        "customers.Contact",
        verbose_name=_("operator"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    licence_issued_on = models.DateField(_("licence issued on"), null=True, blank=True)
    licence_valid_until = models.DateField(_("licence valid until"), null=True, blank=True)
    registration_notes = models.TextField(_("registration notes"), blank=True)
    business_status = models.CharField(
        _("business status"), max_length=20, choices=BusinessStatus.choices, blank=True
    )
    order_day = models.CharField(_("order day"), max_length=3, choices=OrderDay.choices, blank=True)
    grade = models.PositiveSmallIntegerField(
        _("grade"),
        null=True,
        blank=True,
        validators=[MinValueValidator(GRADE_MIN), MaxValueValidator(GRADE_MAX)],
    )
    delivery_route = models.CharField(_("delivery route"), max_length=60, blank=True)
    order_method = models.CharField(
        _("order method"), max_length=20, choices=OrderMethod.choices, blank=True
    )
    policy_explained = models.BooleanField(_("policy explained"), default=False)
    supply_introduced = models.BooleanField(_("supply introduced"), default=False)
    ordering_explained = models.BooleanField(_("ordering procedure explained"), default=False)
    verification_notes = models.TextField(_("verification notes"), blank=True)
    verified_at = models.DateTimeField(_("verified on site at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("archived by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("retailer profile")
        verbose_name_plural = _("retailer profiles")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(grade__isnull=True)
                | models.Q(grade__gte=GRADE_MIN, grade__lte=GRADE_MAX),
                name="retailer_profile_grade_range",
            ),
            models.CheckConstraint(
                condition=models.Q(licence_issued_on__isnull=True)
                | models.Q(licence_valid_until__isnull=True)
                | models.Q(licence_valid_until__gt=models.F("licence_issued_on")),
                name="retailer_profile_licence_dates",
            ),
        ]

    def __str__(self) -> str:
        return str(self.customer)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
