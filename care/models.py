"""Customer care (客户关怀) and key accounts (关键客户).

A CareTask is one thing an account manager should do for a customer: greet them on the
contract's anniversary, offer a renewal before the warranty ends, call after 90 days of silence
or a low survey score, look into repeated faults, or carry out an item of a key account's care
plan. Care rules (care.rules) and the key-account plans create them; each occurrence of a rule
creates at most one task (`occurrence` is unique), so a rule run every day never repeats itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CareKind(models.TextChoices):
    ANNIVERSARY = "anniversary", _("Contract anniversary")
    WARRANTY = "warranty", _("Warranty ending")
    NO_CONTACT = "no_contact", _("No contact for a long time")
    LOW_SCORE = "low_score", _("Low survey score")
    REPEATED_FAULTS = "repeated_faults", _("Repeated faults")
    PLAN = "plan", _("Care plan item")
    REVIEW = "review", _("Satisfaction review")


class CareTaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class CareTask(models.Model):
    """One care action for a customer, held by one person (normally the customer's owner)."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="care_tasks",
        db_index=False,  # led by the (customer, status) index
    )
    kind = models.CharField(_("kind"), max_length=20, choices=CareKind.choices)
    title = models.CharField(_("title"), max_length=200)
    detail = models.TextField(_("detail"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="care_tasks",
        db_index=False,  # led by the (assignee, status, due_on) index
    )
    due_on = models.DateField(_("due on"))
    status = models.CharField(
        _("status"), max_length=10, choices=CareTaskStatus.choices, default=CareTaskStatus.OPEN
    )
    # What this task is the occurrence of, e.g. "anniversary:42:2026" or "plan:17": a rule
    # creates a task only for an occurrence it has not seen.
    occurrence = models.CharField(_("occurrence"), max_length=120, unique=True)
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.TextField(_("outcome"), blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("care task")
        verbose_name_plural = _("care tasks")
        permissions = [("view_all_care_tasks", _("Can see the care tasks of every customer"))]
        indexes = [
            models.Index(fields=["assignee", "status", "due_on"], name="care_task_assignee"),
            models.Index(fields=["customer", "status"], name="care_task_customer"),
            models.Index(fields=["status", "due_on"], name="care_task_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status=CareTaskStatus.OPEN) & Q(done_at__isnull=True))
                | (~Q(status=CareTaskStatus.OPEN) & Q(done_at__isnull=False)),
                name="care_task_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.due_on:%Y-%m-%d} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status == CareTaskStatus.OPEN


class CareSettings(models.Model):
    """The one row of care-rule settings (created with the defaults on first use)."""

    anniversary_enabled = models.BooleanField(_("contract anniversary"), default=True)
    anniversary_days_before = models.PositiveSmallIntegerField(
        _("days before the anniversary"), default=7
    )
    warranty_enabled = models.BooleanField(_("warranty ending"), default=True)
    warranty_days_before = models.PositiveSmallIntegerField(
        _("days before the warranty ends"), default=60
    )
    no_contact_enabled = models.BooleanField(_("no contact"), default=True)
    no_contact_days = models.PositiveSmallIntegerField(_("days without contact"), default=90)
    low_score_enabled = models.BooleanField(_("low survey score"), default=True)
    low_score_max = models.PositiveSmallIntegerField(
        _("highest satisfaction counted as low (1–5)"), default=2
    )
    faults_enabled = models.BooleanField(_("repeated faults"), default=True)
    faults_count = models.PositiveSmallIntegerField(_("faults"), default=3)
    faults_days = models.PositiveSmallIntegerField(_("within days"), default=30)
    # A rule's task is due this many days after the rule fired.
    task_due_days = models.PositiveSmallIntegerField(_("days to carry out a task"), default=7)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("care rule settings")
        verbose_name_plural = _("care rule settings")

    def __str__(self) -> str:
        return str(_("care rule settings"))

    @classmethod
    def current(cls) -> CareSettings:
        row = cls.objects.order_by("id").first()
        return row if row is not None else cls.objects.create()


# --- key accounts (关键客户) -------------------------------------------------------------------


class KeyAccountSource(models.TextChoices):
    MANUAL = "manual", _("By hand")
    RULE = "rule", _("By rule")


class KeyAccount(models.Model):
    """A customer flagged as key account (关键客户), its profile and review cadence.

    One row per customer for good: unflagging keeps the row (is_active=False) with its profile,
    plan and reviews, and a rule never flags a customer unflagged by hand again unless asked."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="key_account",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("key-account owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="key_accounts",
    )
    is_active = models.BooleanField(_("key account"), default=True)
    source = models.CharField(
        _("flagged"), max_length=10, choices=KeyAccountSource.choices, default="manual"
    )
    rule = models.ForeignKey(
        "care.KeyAccountRule",
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="key_accounts",
    )
    reason = models.CharField(_("reason"), max_length=200)
    flagged_at = models.DateTimeField(_("flagged at"))
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("flagged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    unflagged_at = models.DateTimeField(_("unflagged at"), null=True, blank=True)
    unflag_reason = models.CharField(_("reason for unflagging"), max_length=200, blank=True)
    # The profile (关键客户档案).
    history = models.TextField(_("history and relationship"), blank=True)
    risks = models.TextField(_("risks"), blank=True)
    opportunities = models.TextField(_("opportunities"), blank=True)
    strategy = models.TextField(_("strategy"), blank=True)
    # Periodic satisfaction review: the next one is due `review_months` after the last (or after
    # the flagging when there is none yet).
    review_months = models.PositiveSmallIntegerField(_("review every (months)"), default=3)
    next_review_on = models.DateField(_("next review due"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("key account")
        verbose_name_plural = _("key accounts")
        permissions = [
            ("manage_all_keyaccounts", _("Can manage every key account they may see")),
            ("manage_keyaccount_rules", _("Can manage and apply key-account rules")),
            ("export_keyaccounts", _("Can export key accounts")),
        ]
        indexes = [
            models.Index(fields=["is_active", "owner"], name="key_account_owner"),
            models.Index(fields=["is_active", "next_review_on"], name="key_account_review"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(review_months__gte=1) & Q(review_months__lte=24),
                name="key_account_review_months",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True) | Q(unflagged_at__isnull=False),
                name="key_account_unflagged_has_time",
            ),
        ]

    def __str__(self) -> str:
        return str(self.customer)


class KeyAccountEventKind(models.TextChoices):
    FLAGGED = "flagged", _("Flagged")
    UNFLAGGED = "unflagged", _("Unflagged")
    OWNER = "owner", _("Owner changed")


class KeyAccountEvent(models.Model):
    """The flagging history of a key account: flagged, unflagged, owner changed."""

    key_account = models.ForeignKey(
        KeyAccount, verbose_name=_("key account"), on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("event"), max_length=10, choices=KeyAccountEventKind.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("key-account event")
        verbose_name_plural = _("key-account events")
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.key_account_id} {self.kind} {self.at:%Y-%m-%d}"


class KeyAccountRuleKind(models.TextChoices):
    VALUE_CLASS = "value_class", _("Value class")
    CATEGORY = "category", _("Customer category")
    CONTRACT_VALUE = "contract_value", _("Contract value at least")
    SEGMENT = "segment", _("Saved segment")


class KeyAccountRule(models.Model):
    """Customers matching a rule are flagged as key accounts by the daily run or on demand."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    kind = models.CharField(_("condition"), max_length=20, choices=KeyAccountRuleKind.choices)
    value_class = models.CharField(_("value class"), max_length=1, blank=True)
    category = models.CharField(_("customer category"), max_length=20, blank=True)
    min_contract_value = models.DecimalField(
        _("contract value at least (yuan)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    segment = models.ForeignKey(
        "customers.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_run_at = models.DateTimeField(_("last applied at"), null=True, blank=True)
    last_flagged = models.PositiveIntegerField(_("flagged on the last run"), default=0)

    class Meta:
        ordering = ["name"]
        verbose_name = _("key-account rule")
        verbose_name_plural = _("key-account rules")

    def __str__(self) -> str:
        return self.name


class CarePlanKind(models.TextChoices):
    CONTACT = "contact", _("Planned contact")
    VISIT = "visit", _("Visit")
    GIFT = "gift", _("Gift")
    EVENT = "event", _("Event")
    OTHER = "other", _("Other")


class CarePlanItem(models.Model):
    """One item of a key account's care plan; its CareTask (for the owner, due on the planned
    day) says whether it was carried out."""

    key_account = models.ForeignKey(
        KeyAccount,
        verbose_name=_("key account"),
        on_delete=models.CASCADE,
        related_name="plan_items",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=CarePlanKind.choices)
    planned_on = models.DateField(_("planned date"))
    title = models.CharField(_("title"), max_length=120)
    notes = models.TextField(_("notes"), blank=True)
    budget = models.DecimalField(
        _("budget (yuan)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    task = models.OneToOneField(
        CareTask,
        verbose_name=_("care task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="plan_item",
    )
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["planned_on", "id"]
        verbose_name = _("care plan item")
        verbose_name_plural = _("care plan items")
        indexes = [models.Index(fields=["key_account", "planned_on"], name="care_plan_account")]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(budget__gte=0), name="care_plan_budget"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.planned_on:%Y-%m-%d} {self.title}"


class DecisionMakerAttitude(models.TextChoices):
    SUPPORTER = "supporter", _("Supporter")
    NEUTRAL = "neutral", _("Neutral")
    SCEPTIC = "sceptic", _("Sceptic")
    OPPONENT = "opponent", _("Opponent")
    UNKNOWN = "unknown", _("Unknown")


class DecisionMaker(models.Model):
    """A person who decides or influences at a key account: a contact of the customer or a
    name typed in, with their role in the decision and their attitude towards us."""

    key_account = models.ForeignKey(
        KeyAccount,
        verbose_name=_("key account"),
        on_delete=models.CASCADE,
        related_name="decision_makers",
    )
    contact = models.ForeignKey(
        "customers.Contact",
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=60, blank=True)
    position = models.CharField(_("position"), max_length=60, blank=True)
    decision_role = models.CharField(_("role in decisions"), max_length=60, blank=True)
    attitude = models.CharField(
        _("attitude"), max_length=10, choices=DecisionMakerAttitude.choices, default="unknown"
    )
    notes = models.CharField(_("notes"), max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("decision maker")
        verbose_name_plural = _("decision makers")
        # No "contact or name" constraint: a contact deleted later leaves the row nameless
        # (SET_NULL), and the page shows it as "—" rather than blocking the deletion.

    def __str__(self) -> str:
        return self.contact.name if self.contact is not None else (self.name or "—")


class SatisfactionReview(models.Model):
    """A periodic satisfaction review of a key account (满意度回顾)."""

    key_account = models.ForeignKey(
        KeyAccount, verbose_name=_("key account"), on_delete=models.CASCADE, related_name="reviews"
    )
    reviewed_on = models.DateField(_("review date"))
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"))
    summary = models.TextField(_("summary"))
    actions = models.TextField(_("agreed actions"), blank=True)
    created_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["-reviewed_on", "-id"]
        verbose_name = _("satisfaction review")
        verbose_name_plural = _("satisfaction reviews")
        indexes = [
            models.Index(fields=["key_account", "-reviewed_on"], name="key_account_review_day")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__gte=1) & Q(satisfaction__lte=5),
                name="satisfaction_review_score",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewed_on:%Y-%m-%d} {self.satisfaction}"


class KeyAccountSettings(models.Model):
    """Key-account settings (one row) and the date of the last daily run."""

    review_lead_days = models.PositiveSmallIntegerField(
        _("review task created days before the due date"), default=14
    )
    daily_run_on = models.DateField(_("last daily run"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("key-account settings")
        verbose_name_plural = _("key-account settings")

    def __str__(self) -> str:
        return str(_("key-account settings"))
