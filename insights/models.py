"""Customer insights (客户关系管理中的数据分析). Value classification (客户价值分类): RFM scores and
an ABC class per customer, recomputed nightly and on demand by `insights.value`."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class ValueClass(models.TextChoices):
    A = "A", _("Class A")
    B = "B", _("Class B")
    C = "C", _("Class C")


class ValueSettings(models.Model):
    """The classification's settings (one row) and the facts of its last run."""

    frequency_days = models.PositiveIntegerField(
        _("frequency window (days)"),
        default=1095,
        validators=[MinValueValidator(30), MaxValueValidator(3650)],
        help_text=_("Contracts signed in this many days count towards frequency."),
    )
    monetary_days = models.PositiveIntegerField(
        _("monetary window (days)"),
        default=1095,
        validators=[MinValueValidator(30), MaxValueValidator(3650)],
        help_text=_("The value of contracts signed in this many days counts towards monetary."),
    )
    a_share = models.PositiveSmallIntegerField(
        _("class A share (%)"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_("The most valuable customers, as a percentage of all customers."),
    )
    b_share = models.PositiveSmallIntegerField(
        _("class B share (%)"),
        default=30,
        validators=[MinValueValidator(0), MaxValueValidator(99)],
        help_text=_("The next customers by value; the rest are class C."),
    )
    recency_weight = models.PositiveSmallIntegerField(
        _("recency weight"), default=1, validators=[MaxValueValidator(10)]
    )
    frequency_weight = models.PositiveSmallIntegerField(
        _("frequency weight"), default=1, validators=[MaxValueValidator(10)]
    )
    monetary_weight = models.PositiveSmallIntegerField(
        _("monetary weight"), default=1, validators=[MaxValueValidator(10)]
    )
    # The last run (written by value_recompute, not editable).
    computed_at = models.DateTimeField(_("last computed at"), null=True, blank=True, editable=False)
    computed_seconds = models.FloatField(_("duration (seconds)"), default=0, editable=False)
    # {"A": {"customers": n, "value": "yuan"}, ...} over every customer, for the overview.
    summary = models.JSONField(_("class distribution"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("value classification settings")
        verbose_name_plural = _("value classification settings")
        permissions = [
            ("view_value", "Can view customer value classes"),
            ("recompute_value", "Can recompute customer value classes"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(a_share__gte=1)
                & models.Q(a_share__lte=99)
                & models.Q(b_share__lte=99),
                name="value_settings_shares",
            ),
            models.CheckConstraint(
                condition=models.Q(recency_weight__gt=0)
                | models.Q(frequency_weight__gt=0)
                | models.Q(monetary_weight__gt=0),
                name="value_settings_weights",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Value classification settings"))

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, str] = {}
        if (self.a_share or 0) + (self.b_share or 0) > 100:
            errors["b_share"] = str(_("Class A and class B together may not exceed 100 %."))
        if not (self.recency_weight or self.frequency_weight or self.monetary_weight):
            errors["monetary_weight"] = str(_("At least one weight must be above zero."))
        if errors:
            raise ValidationError(errors)


class CustomerValue(models.Model):
    """One customer's RFM figures, scores (1–5 each) and ABC class as of `computed_at`."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="value",
        primary_key=True,
    )
    recency_days = models.PositiveIntegerField(
        _("days since the last contract"), null=True, blank=True
    )
    frequency = models.PositiveIntegerField(_("contracts in the window"), default=0)
    monetary = models.DecimalField(
        _("contract value in the window (yuan)"), max_digits=14, decimal_places=2, default=0
    )
    recency_score = models.PositiveSmallIntegerField(_("R score"), default=1)
    frequency_score = models.PositiveSmallIntegerField(_("F score"), default=1)
    monetary_score = models.PositiveSmallIntegerField(_("M score"), default=1)
    score = models.DecimalField(_("RFM score"), max_digits=4, decimal_places=2, default=1)
    abc_class = models.CharField(
        _("value class"), max_length=1, choices=ValueClass.choices, default=ValueClass.C
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("customer value")
        verbose_name_plural = _("customer values")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["abc_class", "customer"], name="customer_value_class"),
            models.Index(fields=["-score"], name="customer_value_score"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recency_score__gte=1, recency_score__lte=5)
                & models.Q(frequency_score__gte=1, frequency_score__lte=5)
                & models.Q(monetary_score__gte=1, monetary_score__lte=5),
                name="customer_value_scores",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.abc_class}"


class ValueClassChange(models.Model):
    """A customer's class changed on a recomputation (the first classification is not a
    change)."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="value_changes",
    )
    from_class = models.CharField(_("from class"), max_length=1, choices=ValueClass.choices)
    to_class = models.CharField(_("to class"), max_length=1, choices=ValueClass.choices)
    changed_on = models.DateField(_("changed on"))

    class Meta:
        verbose_name = _("value class change")
        verbose_name_plural = _("value class changes")
        default_permissions = ("view",)
        ordering = ["-changed_on", "-id"]
        indexes = [
            models.Index(fields=["customer", "-changed_on"], name="value_change_customer"),
            models.Index(fields=["-changed_on", "-id"], name="value_change_day"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_class} → {self.to_class} ({self.changed_on})"
