"""What the tobacco new-retailer SOP records about a retailer beyond the customer record."""

from __future__ import annotations

from decimal import Decimal

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


# --- the fire-monitoring onboarding SOP (客户入网作业指导书) -------------------------------------


class Annex(models.TextChoices):
    """The SOP's forms (附件一…八) and the completion notice, each printed as a PDF."""

    NOTICE = "annex1", _("Installation notice (Annex 1)")
    BROADBAND = "annex2", _("Broadband request (Annex 2)")
    MATERIALS = "annex3", _("Material plan (Annex 3)")
    FEASIBILITY = "annex4", _("Site survey and retrofit advice (Annex 4)")
    DIGITISATION = "annex5", _("Drawing digitisation (Annex 5)")
    VERIFICATION = "annex6", _("Drawing verification (Annex 6)")
    COMMISSIONING = "annex7", _("Installation, commissioning and joint test record (Annex 7)")
    HANDOVER = "annex8", _("Handover to the monitoring centre (Annex 8)")
    COMPLETION = "completion", _("Installation completion notice")


class CompanyProfile(models.Model):
    """The letterhead printed on every form (one row; edited by the system administrator)."""

    name = models.CharField(_("company name"), max_length=100)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("company letterhead")
        verbose_name_plural = _("company letterhead")

    def __str__(self) -> str:
        return self.name


class FormHeader(models.Model):
    """Document number, version and approver printed on one of the SOP's forms."""

    annex = models.CharField(_("form"), max_length=20, choices=Annex.choices, unique=True)
    title = models.CharField(_("title"), max_length=100)
    doc_number = models.CharField(_("document number"), max_length=40)
    version = models.CharField(_("version"), max_length=20, default="A/0")
    approver = models.CharField(
        _("approver"),
        max_length=60,
        blank=True,
        help_text=_("Printed as the approver of the form; empty: whoever approved the step."),
    )

    class Meta:
        ordering = ["annex"]
        verbose_name = _("form header")
        verbose_name_plural = _("form headers")

    def __str__(self) -> str:
        return f"{self.doc_number} {self.title}"


class InstallationFile(models.Model):
    """入网案卷: what one fire-monitoring onboarding case installs where, and its archive state."""

    case = models.OneToOneField(
        "workflow.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="installation_file",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="installation_files",
    )
    site = models.ForeignKey(
        "customers.Site",
        verbose_name=_("building"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    collector = models.ForeignKey(
        "devices.Collector",
        verbose_name=_("collector"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="installation_files",
    )
    verified_at = models.DateTimeField(_("drawings verified at"), null=True, blank=True)
    handed_over_on = models.DateField(_("handed over on"), null=True, blank=True)
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

    class Meta:
        verbose_name = _("installation file")
        verbose_name_plural = _("installation files")
        indexes = [models.Index(fields=["archived_at"], name="installation_file_archived")]

    def __str__(self) -> str:
        return str(self.case)


class ServiceContract(models.Model):
    """入网安装合同, signed by the market department."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="service_contracts",
    )
    case = models.OneToOneField(
        "workflow.Case",
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="service_contract",
    )
    number = models.CharField(_("contract number"), max_length=40, unique=True)
    signed_on = models.DateField(_("signed on"))
    starts_on = models.DateField(_("service starts on"))
    ends_on = models.DateField(_("service ends on"))
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    annual_fee = models.DecimalField(
        _("annual service fee (yuan)"), max_digits=12, decimal_places=2
    )
    warranty_months = models.PositiveSmallIntegerField(_("warranty (months)"), default=12)
    document = models.ForeignKey(
        "customers.Document",
        verbose_name=_("contract document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-signed_on", "-id"]
        verbose_name = _("onboarding contract")
        verbose_name_plural = _("onboarding contracts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")),
                name="service_contract_dates",
            ),
            models.CheckConstraint(
                condition=models.Q(annual_fee__gte=0), name="service_contract_fee"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class FormRecord(models.Model):
    """The PDF of one of the SOP's forms for a case (later runs add versions to its document)."""

    case = models.ForeignKey(
        "workflow.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="form_records",
    )
    annex = models.CharField(_("form"), max_length=20, choices=Annex.choices)
    document = models.ForeignKey(
        "customers.Document", verbose_name=_("document"), on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        "workflow.Task",
        verbose_name=_("task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["annex"]
        verbose_name = _("form record")
        verbose_name_plural = _("form records")
        constraints = [models.UniqueConstraint(fields=["case", "annex"], name="form_record_unique")]

    def __str__(self) -> str:
        return f"{self.case} {self.get_annex_display()}"


class MaterialLine(models.Model):
    """One line of the material plan (附件三), with what procurement has received so far."""

    case = models.ForeignKey(
        "workflow.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="material_lines",
    )
    position = models.PositiveSmallIntegerField(_("line"))
    item = models.CharField(_("item"), max_length=80)
    model = models.CharField(_("model"), max_length=80, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2)
    unit = models.CharField(_("unit"), max_length=10)
    notes = models.CharField(_("notes"), max_length=200, blank=True)
    received = models.DecimalField(
        _("received quantity"), max_digits=10, decimal_places=2, default=0
    )

    class Meta:
        ordering = ["case", "position"]
        verbose_name = _("material line")
        verbose_name_plural = _("material lines")
        constraints = [
            models.UniqueConstraint(fields=["case", "position"], name="material_line_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="material_line_qty"),
            models.CheckConstraint(
                condition=models.Q(received__gte=0), name="material_line_received"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.model} × {self.quantity}{self.unit}"

    @property
    def outstanding(self) -> Decimal:
        return max(self.quantity - self.received, Decimal(0))


class PurchaseOrder(models.Model):
    """采购部's order for a case's material plan."""

    case = models.OneToOneField(
        "workflow.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="purchase_order",
    )
    order_number = models.CharField(_("order number"), max_length=40)
    supplier = models.CharField(_("supplier"), max_length=100)
    ordered_on = models.DateField(_("ordered on"))
    received_on = models.DateField(_("everything received on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")

    def __str__(self) -> str:
        return self.order_number
