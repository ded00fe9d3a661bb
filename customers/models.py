from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Region


class CustomerKind(models.TextChoices):
    ORGANISATION = "organisation", _("Organisation")
    RETAILER = "retailer", _("Individual retailer")
    PERSON = "person", _("Person")


class CustomerCategory(models.TextChoices):
    # GB 25506-2010: the fire-safety classes a monitoring operator reports by.
    KEY_UNIT = "key_unit", _("Key fire-safety unit")
    GENERAL = "general", _("General unit")
    SMALL_VENUE = "small_venue", _("Small venue (九小场所)")
    OTHER = "other", _("Other")


class CustomerStatus(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    ONBOARDING = "onboarding", _("Onboarding")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    TERMINATED = "terminated", _("Terminated")


# The lifecycle: which status may follow which (services refuse anything else).
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    CustomerStatus.PROSPECT: frozenset({CustomerStatus.ONBOARDING, CustomerStatus.TERMINATED}),
    CustomerStatus.ONBOARDING: frozenset(
        {CustomerStatus.ACTIVE, CustomerStatus.PROSPECT, CustomerStatus.TERMINATED}
    ),
    CustomerStatus.ACTIVE: frozenset({CustomerStatus.SUSPENDED, CustomerStatus.TERMINATED}),
    CustomerStatus.SUSPENDED: frozenset({CustomerStatus.ACTIVE, CustomerStatus.TERMINATED}),
    CustomerStatus.TERMINATED: frozenset({CustomerStatus.PROSPECT}),
}


class SourceChannel(models.TextChoices):
    VISIT = "visit", _("Sales visit")
    PHONE = "phone", _("Phone")
    REFERRAL = "referral", _("Referral")
    WEB = "web", _("Website")
    TENDER = "tender", _("Tender")
    AUTHORITY = "authority", _("Fire authority referral")
    IMPORT = "import", _("Imported")
    OTHER = "other", _("Other")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=30, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """客户档案: the master record every case, device, ticket and inquiry hangs off."""

    kind = models.CharField(
        _("kind"), max_length=20, choices=CustomerKind.choices, default=CustomerKind.ORGANISATION
    )
    name = models.CharField(_("name"), max_length=120)
    short_name = models.CharField(_("short name"), max_length=40, blank=True)
    # NULL when absent, so uniqueness applies only to real codes (GB 32100-2015).
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, null=True, blank=True, unique=True
    )
    licence_number = models.CharField(_("licence number"), max_length=40, blank=True)
    category = models.CharField(
        _("category"), max_length=20, choices=CustomerCategory.choices, default="general"
    )
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    region = models.ForeignKey(
        Region, verbose_name=_("district"), on_delete=models.PROTECT, related_name="customers"
    )
    address = models.CharField(_("street address"), max_length=200, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=CustomerStatus.choices, default="prospect"
    )
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account manager"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_customers",
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("responsible department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    source_channel = models.CharField(
        _("source channel"), max_length=20, choices=SourceChannel.choices, default="visit"
    )
    notes = models.TextField(_("notes"), blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
        # Nearly every row is NULL: a full index would tempt SQLite's planner into reading it
        # for `merged_into IS NULL`; the partial index below serves "merged into X" lookups.
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Search support, rewritten by services whenever the name or a phone changes.
    pinyin = models.CharField(max_length=400, blank=True, editable=False)
    initials = models.CharField(max_length=120, blank=True, editable=False)
    phones = models.CharField(max_length=400, blank=True, editable=False)
    grams_name = models.TextField(blank=True, editable=False)
    grams_pinyin = models.TextField(blank=True, editable=False)
    grams_initials = models.TextField(blank=True, editable=False)
    grams_digits = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("view_all_customers", _("Can see every customer")),
            ("reveal_personal_data", _("Can reveal masked phone and ID numbers")),
            ("import_customers", _("Can import customers")),
            ("export_customers", _("Can export customers")),
            ("merge_customers", _("Can merge duplicate customers")),
        ]
        indexes = [
            models.Index(fields=["status", "-id"], name="customer_status_id"),
            # The visibility branches (own customers, served districts, the department's): only
            # customers not merged, which every visible list asks for. So the entries alone
            # answer "which ids may this user see" (SQLite: counts, and a search's ids
            # intersected with them) without reading the wide customer rows.
            models.Index(
                fields=["region", "-id"],
                condition=models.Q(merged_into__isnull=True),
                name="customer_region_live",
            ),
            # A region filter with a status (the commonest list filter) reads only its rows.
            models.Index(fields=["region", "status", "-id"], name="customer_region_status_id"),
            models.Index(
                fields=["owner", "-id"],
                condition=models.Q(merged_into__isnull=True),
                name="customer_owner_live",
            ),
            models.Index(
                fields=["department", "-id"],
                condition=models.Q(merged_into__isnull=True),
                name="customer_department_live",
            ),
            models.Index(fields=["category", "-id"], name="customer_category_id"),
            models.Index(
                fields=["merged_into"],
                condition=models.Q(merged_into__isnull=False),
                name="customer_merged_into",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def visibility_keys(self, prefix: str = "") -> dict[str, int | None]:
        """The columns the visibility rules read (selectors.VisibilityScope); with a prefix,
        the names of the copies other rows keep (a process task's `customer_owner_id` …)."""
        return {
            f"{prefix}owner_id": self.owner_id,
            f"{prefix}region_id": self.region_id,
            f"{prefix}department_id": self.department_id,
        }


class ContactRole(models.TextChoices):
    LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
    SAFETY_RESPONSIBLE = "safety_responsible", _("Fire-safety responsible person")
    SAFETY_MANAGER = "safety_manager", _("Fire-safety manager")
    CONTACT = "contact", _("Contact")
    DUTY_OPERATOR = "duty_operator", _("Duty operator")
    FINANCE = "finance", _("Finance")
    OTHER = "other", _("Other")


class Contact(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=60)
    role = models.CharField(
        _("role"), max_length=30, choices=ContactRole.choices, default=ContactRole.CONTACT
    )
    mobile = models.CharField(_("mobile"), max_length=11, blank=True)
    landline = models.CharField(_("landline"), max_length=30, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    # GB 11643 ID number: stored encrypted; found by exact match through a keyed hash only.
    id_number_encrypted = models.TextField(blank=True, editable=False)
    id_number_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    id_number_last4 = models.CharField(max_length=4, blank=True, editable=False)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_primary=True),
                name="contact_one_primary_per_customer",
            )
        ]
        indexes = [models.Index(fields=["mobile"], name="contact_mobile")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_id_number(self) -> bool:
        return bool(self.id_number_encrypted)


class ConsentChannel(models.TextChoices):
    PAPER = "paper", _("Signed paper form")
    ONLINE = "online", _("Online form")
    PHONE = "phone", _("Recorded phone call")
    CONTRACT = "contract", _("Contract clause")


class Consent(models.Model):
    """PIPL consent of a contact to the processing of their personal data."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="consents"
    )
    notice_version = models.CharField(_("privacy notice version"), max_length=20)
    channel = models.CharField(_("channel"), max_length=20, choices=ConsentChannel.choices)
    given_at = models.DateTimeField(_("given at"))
    covers_id_number = models.BooleanField(_("covers the ID number"), default=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-given_at"]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        return f"{self.contact} {self.notice_version}"


class FireResistance(models.TextChoices):
    # GB 50016: 耐火等级 一级 … 四级
    GRADE_1 = "1", _("Grade I")
    GRADE_2 = "2", _("Grade II")
    GRADE_3 = "3", _("Grade III")
    GRADE_4 = "4", _("Grade IV")


class Structure(models.TextChoices):
    FRAME = "frame", _("Reinforced-concrete frame")
    SHEAR_WALL = "shear_wall", _("Shear wall")
    STEEL = "steel", _("Steel")
    MASONRY = "masonry", _("Masonry")
    OTHER = "other", _("Other")


class Site(models.Model):
    """A protected building (建筑) of a customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="sites"
    )
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=200, blank=True)
    use = models.CharField(_("use"), max_length=60, blank=True)
    structure = models.CharField(
        _("structure"), max_length=20, choices=Structure.choices, blank=True
    )
    fire_resistance = models.CharField(
        _("fire-resistance rating"), max_length=2, choices=FireResistance.choices, blank=True
    )
    height_m = models.DecimalField(
        _("height (m)"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    floors_above = models.PositiveSmallIntegerField(_("floors above ground"), default=1)
    floors_below = models.PositiveSmallIntegerField(_("floors below ground"), default=0)
    floor_area_m2 = models.DecimalField(
        _("floor area (m²)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    construction_year = models.PositiveSmallIntegerField(
        _("construction year"), null=True, blank=True
    )
    control_room_location = models.CharField(
        _("fire control room location"), max_length=120, blank=True
    )
    control_room_phone = models.CharField(_("fire control room phone"), max_length=30, blank=True)
    max_occupancy = models.PositiveIntegerField(_("maximum occupancy"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class Floor(models.Model):
    site = models.ForeignKey(
        Site, verbose_name=_("site"), on_delete=models.CASCADE, related_name="floors"
    )
    # Negative numbers are basement levels (B1 = -1).
    number = models.SmallIntegerField(_("floor number"))
    name = models.CharField(_("name"), max_length=40)
    area_m2 = models.DecimalField(
        _("area (m²)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    plan = models.ForeignKey(
        "customers.Document",
        verbose_name=_("floor plan"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["site", "-number"]
        verbose_name = _("floor")
        verbose_name_plural = _("floors")
        constraints = [
            models.UniqueConstraint(fields=["site", "number"], name="floor_number_unique")
        ]

    def __str__(self) -> str:
        return self.name


class DocumentKind(models.TextChoices):
    CONTRACT = "contract", _("Contract")
    FLOOR_PLAN = "floor_plan", _("Floor plan")
    SYSTEM_DIAGRAM = "system_diagram", _("Fire alarm system diagram")
    PANEL_MANUAL = "panel_manual", _("Panel operating manual")
    CODING = "coding", _("Device coding description")
    LICENCE = "licence", _("Licence")
    PHOTO = "photo", _("Photo")
    TEST_REPORT = "test_report", _("Joint test report")
    FORM_RECORD = "form_record", _("Onboarding form record")
    NOTICE = "notice", _("Notice")
    OTHER = "other", _("Other")


class Document(models.Model):
    """A typed attachment; each upload of a new version is a `DocumentVersion`."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="documents"
    )
    site = models.ForeignKey(
        Site,
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=DocumentKind.choices)
    title = models.CharField(_("title"), max_length=120)
    current = models.ForeignKey(
        "customers.DocumentVersion",
        verbose_name=_("current version"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Set when the case the document belongs to is archived: no new versions from then on,
    # the versions already stored stay downloadable (see services.documents_freeze).
    frozen_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    frozen_reason = models.CharField(_("archive reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "title"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


def _version_path(instance: DocumentVersion, filename: str) -> str:
    # Stored under the digest, never the user's file name (no path tricks, no overwrites).
    return f"documents/{instance.sha256[:2]}/{instance.sha256}"


class DocumentVersion(models.Model):
    document = models.ForeignKey(
        Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    file = models.FileField(_("file"), upload_to=_version_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        verbose_name = _("document version")
        verbose_name_plural = _("document versions")
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="document_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """One upload of a customer spreadsheet, checked (dry run) or imported by the worker."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    dry_run = models.BooleanField(_("check only"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    created_count = models.PositiveIntegerField(_("customers created"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    file_error = models.TextField(_("file error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return self.original_name

    @property
    def ok(self) -> bool:
        return self.status == ImportStatus.DONE and not self.problems and not self.file_error


class Segment(models.Model):
    """A saved, named set of customers (客户细分) defined by conditions, e.g. "南昌的重点单位".

    `definition` is a condition tree evaluated by customers.segments:
    {"op": "and" | "or", "items": [{"field": "region", "values": [...]}, {"op": ..., ...}]}.
    The set is evaluated when used (a notice's recipients, a list filter), never stored."""

    name = models.CharField(_("name"), max_length=60)
    description = models.CharField(_("description"), max_length=200, blank=True)
    definition = models.JSONField(_("conditions"), default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Shared segments are offered to everyone who may use segments; others only to their owner.
    is_shared = models.BooleanField(_("shared"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # When a report was last opened filtered by this segment (recorded at most once an hour):
    # the segments reported on recently get precomputed report figures (reports.segment_figures).
    report_used_at = models.DateTimeField(_("last used in a report"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name
