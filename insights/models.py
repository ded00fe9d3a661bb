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


# --- churn risk (流失风险) --------------------------------------------------------------------


class ChurnMethod(models.TextChoices):
    LOGISTIC = "logistic", _("Logistic regression")
    RULES = "rules", _("Weighted rules")


class RiskBand(models.TextChoices):
    HIGH = "high", _("High risk")
    MEDIUM = "medium", _("Medium risk")
    LOW = "low", _("Low risk")


class ChurnSettings(models.Model):
    """The churn model's settings (one row); see insights/churn.py and docs/churn.md."""

    min_terminations = models.PositiveIntegerField(
        _("terminations needed for the learned model"),
        default=30,
        validators=[MinValueValidator(10), MaxValueValidator(100_000)],
        help_text=_("With fewer terminated customers to learn from, the weighted rules score."),
    )
    min_actives = models.PositiveIntegerField(
        _("active customers needed for the learned model"),
        default=30,
        validators=[MinValueValidator(10), MaxValueValidator(1_000_000)],
    )
    lead_days = models.PositiveSmallIntegerField(
        _("days before termination"),
        default=90,
        validators=[MinValueValidator(0), MaxValueValidator(730)],
        help_text=_(
            "A terminated customer is learned from as it looked this many days before it "
            "terminated, so the model learns the early signs."
        ),
    )
    history_days = models.PositiveIntegerField(
        _("terminations learned from (days)"),
        default=1095,
        validators=[MinValueValidator(90), MaxValueValidator(3650)],
        help_text=_("Only customers terminated within this many days are learned from."),
    )
    renewal_days = models.PositiveSmallIntegerField(
        _("renewal due within (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
    )
    high_threshold = models.PositiveSmallIntegerField(
        _("high risk from score"),
        default=70,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    medium_threshold = models.PositiveSmallIntegerField(
        _("medium risk from score"),
        default=40,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    computed_at = models.DateTimeField(_("last computed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("churn risk settings")
        verbose_name_plural = _("churn risk settings")
        permissions = [
            ("view_churn", "Can view customer churn risk"),
            ("recompute_churn", "Can recompute customer churn risk"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(medium_threshold__lt=models.F("high_threshold")),
                name="churn_settings_bands",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Churn risk settings"))

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if (self.medium_threshold or 0) >= (self.high_threshold or 0):
            raise ValidationError(
                {"medium_threshold": str(_("Medium risk must start below high risk."))}
            )


class ChurnModel(models.Model):
    """One training run: the method used, what it learned from and, for the logistic model, its
    parameters as plain numbers (`parameters`: features, means, scales, coefs, intercept) —
    never a pickle. The newest row scores."""

    trained_at = models.DateTimeField(_("trained at"))
    method = models.CharField(_("scoring method"), max_length=10, choices=ChurnMethod.choices)
    terminations = models.PositiveIntegerField(_("terminated customers learned from"), default=0)
    actives = models.PositiveIntegerField(_("active customers learned from"), default=0)
    holdout_auc = models.FloatField(_("hold-out AUC"), null=True, blank=True)
    holdout_size = models.PositiveIntegerField(_("hold-out customers"), default=0)
    parameters = models.JSONField(_("parameters"), default=dict)
    scored = models.PositiveIntegerField(_("customers scored"), default=0)
    seconds = models.FloatField(_("duration (seconds)"), default=0)

    class Meta:
        verbose_name = _("churn model")
        verbose_name_plural = _("churn models")
        default_permissions = ("view",)
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.trained_at:%Y-%m-%d %H:%M}"


class ChurnScore(models.Model):
    """An active customer's churn risk as of `computed_at`: 0–100, its band and the (up to)
    three factors that raise it most: [{"factor", "value", "contribution"}, …]."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="churn",
        primary_key=True,
    )
    model = models.ForeignKey(
        ChurnModel, verbose_name=_("churn model"), on_delete=models.PROTECT, related_name="+"
    )
    score = models.PositiveSmallIntegerField(
        _("churn risk score"), validators=[MaxValueValidator(100)]
    )
    band = models.CharField(_("risk"), max_length=6, choices=RiskBand.choices)
    factors = models.JSONField(_("top factors"), default=list)
    features = models.JSONField(_("features"), default=dict)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("churn risk score")
        verbose_name_plural = _("churn risk scores")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["-score", "customer"], name="churn_score_score"),
            # With the customer: a band's page is read in the list's order (score, then
            # customer) straight from the index, on SQLite too (the key is not its rowid).
            models.Index(fields=["band", "-score", "customer"], name="churn_score_band_order"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(score__lte=100), name="churn_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.score}"


# --- association analysis, precomputed (insights.association) --------------------------------


class AssociationWindow(models.Model):
    """One precomputed window of the association analysis: the last `days` full days up to
    `last_day`, computed nightly over every customer and kept per district
    (AssociationCount), so that the preset periods answer at once for viewers who see every
    customer."""

    days = models.PositiveSmallIntegerField(_("days"), unique=True)
    last_day = models.DateField(_("last day"))
    computed_at = models.DateTimeField(_("computed at"))
    seconds = models.FloatField(_("duration (s)"), default=0)

    class Meta:
        ordering = ["days"]
        verbose_name = _("association window")
        verbose_name_plural = _("association windows")

    def __str__(self) -> str:
        return f"{self.days} → {self.last_day:%Y-%m-%d}"


class AssociationCount(models.Model):
    """Baskets of one district in one window: the basket count (no item), one item's count
    (item_a only) or one pair's count (item_a < item_b). Customers belong to one district
    each, so the counts of several districts add up."""

    window = models.ForeignKey(
        AssociationWindow, on_delete=models.CASCADE, related_name="counts", db_index=False
    )
    region = models.ForeignKey(
        "accounts.Region",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    item_a = models.CharField(max_length=160, blank=True)
    item_b = models.CharField(max_length=160, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("association count")
        verbose_name_plural = _("association counts")
        indexes = [models.Index(fields=["window", "region"], name="association_count_window")]

    def __str__(self) -> str:
        return f"{self.item_a} {self.item_b} {self.count}"
