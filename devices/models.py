"""What is installed where, and what the installed collectors have said.

Registry: Collector (用户信息传输装置 / 信息采集机) → FireSystem (a panel it reads) → Point (点位,
one addressable component). Traffic: ReceivedFrame (one stored GB/T 26875.3 frame, stored once
per collector + serial + time) → DeviceEvent (one information object of it, resolved to a point
when the point table knows it). The monitoring centre's board reads DeviceEvent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# GB/T 26875.3-2011 §6: addresses are 6 bytes, component addresses 4 bytes.
MAX_COLLECTOR_ADDRESS = 2**48 - 1
MAX_COMPONENT_ADDRESS = 2**32 - 1


class CollectorStatus(models.TextChoices):
    IN_STOCK = "in_stock", _("In stock")
    INSTALLED = "installed", _("Installed")
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")
    FAULTY = "faulty", _("Faulty")
    RETIRED = "retired", _("Retired")


# Statuses of a collector that is (or should be) talking to the centre.
IN_SERVICE = (CollectorStatus.INSTALLED, CollectorStatus.ONLINE, CollectorStatus.OFFLINE)


class CommunicationLine(models.TextChoices):
    BROADBAND = "broadband", _("Broadband")
    CELLULAR = "cellular", _("4G")


class Collector(models.Model):
    """用户信息传输装置: reads a building's fire panels and reports to the centre."""

    address = models.PositiveBigIntegerField(
        _("protocol address"),
        unique=True,
        validators=[MaxValueValidator(MAX_COLLECTOR_ADDRESS)],
        help_text=_("The 6-byte source address the collector puts in its frames."),
    )
    serial_number = models.CharField(_("serial number"), max_length=40, unique=True)
    manufacturer = models.CharField(_("manufacturer"), max_length=60, blank=True)
    model = models.CharField(_("model"), max_length=60, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=20, blank=True)
    line = models.CharField(
        _("communication line"),
        max_length=20,
        choices=CommunicationLine.choices,
        default=CommunicationLine.BROADBAND,
    )
    # ITU-T E.118: 19 or 20 digits, starting 89 (telecom), China 8986.
    iccid = models.CharField(
        _("ICCID"),
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^89\d{17,18}$", _("An ICCID is 19 or 20 digits from 89."))],
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collectors",
    )
    site = models.ForeignKey(
        "customers.Site",
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collectors",
    )
    location = models.CharField(_("location"), max_length=120, blank=True)
    installed_on = models.DateField(_("installed on"), null=True, blank=True)
    warranty_ends_on = models.DateField(_("warranty ends on"), null=True, blank=True)
    heartbeat_seconds = models.PositiveIntegerField(_("heartbeat interval (s)"), default=60)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=CollectorStatus.choices,
        default=CollectorStatus.IN_STOCK,
    )
    last_seen_at = models.DateTimeField(_("last heard from"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("collector")
        verbose_name_plural = _("collectors")
        permissions = [
            ("change_point_table", _("Can edit point tables and point positions")),
            ("run_joint_test", _("Can run joint tests")),
            ("manage_network", _("Can run network operations (faults, upgrades, work log)")),
        ]
        indexes = [
            models.Index(fields=["customer", "-id"], name="collector_customer"),
            # Not (status, last_seen_at): every frame moves last_seen_at, and an index on it
            # makes each of those updates write new index entries (no HOT update) — the main
            # cost of the gateway's traffic on PostgreSQL. The offline check filters the few
            # online collectors by status and reads last_seen_at from the rows.
            models.Index(fields=["status"], name="collector_status"),
        ]

    def __str__(self) -> str:
        return f"{self.serial_number} ({self.address})"

    @property
    def address_hex(self) -> str:
        # Shown as the bytes travel: little-endian, GB/T 26875.3-2011 §6.
        return self.address.to_bytes(6, "little").hex(" ").upper()


class RegistrationAction(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    MOVED = "moved", _("Moved")
    REMOVED = "removed", _("Removed")
    RETIRED = "retired", _("Retired")
    FILED = "filed", _("Registration filed")


class CollectorRegistration(models.Model):
    """备案: each time a collector is recorded against (or taken off) a customer's building."""

    collector = models.ForeignKey(Collector, on_delete=models.CASCADE, related_name="registrations")
    action = models.CharField(_("action"), max_length=20, choices=RegistrationAction.choices)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.ForeignKey(
        "customers.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    location = models.CharField(_("location"), max_length=120, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("registration record")
        verbose_name_plural = _("registration records")

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.at:%Y-%m-%d}"


class AddressScheme(models.TextChoices):
    """How a panel vendor splits the 4-byte component address into loop and point."""

    HI16_LO16 = "hi16_lo16", _("Loop = high 16 bits, point = low 16 bits")
    HI8_LO24 = "hi8_lo24", _("Loop = high 8 bits, point = low 24 bits")
    DECIMAL_1000 = "decimal_1000", _("Loop × 1000 + point")
    NONE = "none", _("Not split")


def split_address(scheme: str, address: int) -> tuple[int | None, int]:
    """(loop, point number) of a component address under the vendor's scheme."""
    if scheme == AddressScheme.HI16_LO16:
        return address >> 16, address & 0xFFFF
    if scheme == AddressScheme.HI8_LO24:
        return address >> 24, address & 0xFFFFFF
    if scheme == AddressScheme.DECIMAL_1000:
        return address // 1000, address % 1000
    return None, address


def join_address(scheme: str, loop: int | None, number: int) -> int:
    """The component address of loop + point under the scheme (inverse of split_address)."""
    if scheme == AddressScheme.NONE or loop is None:
        return number
    if scheme == AddressScheme.HI16_LO16:
        return (loop << 16) | number
    if scheme == AddressScheme.HI8_LO24:
        return (loop << 24) | number
    return loop * 1000 + number


class FireSystem(models.Model):
    """One building fire-protection system (a panel) read by a collector."""

    collector = models.ForeignKey(
        Collector, verbose_name=_("collector"), on_delete=models.CASCADE, related_name="systems"
    )
    # GB/T 26875.3-2011 表 3 codes (1 火灾报警系统 … 24 消防电话, 128–255 vendor).
    system_type = models.PositiveSmallIntegerField(
        _("system type"), validators=[MaxValueValidator(255)]
    )
    system_address = models.PositiveSmallIntegerField(
        _("system address"), default=1, validators=[MaxValueValidator(255)]
    )
    brand = models.CharField(_("panel brand"), max_length=60, blank=True)
    panel_model = models.CharField(_("panel model"), max_length=60, blank=True)
    address_scheme = models.CharField(
        _("component address scheme"),
        max_length=20,
        choices=AddressScheme.choices,
        default=AddressScheme.HI16_LO16,
    )

    class Meta:
        ordering = ["collector", "system_type", "system_address"]
        verbose_name = _("fire system")
        verbose_name_plural = _("fire systems")
        constraints = [
            models.UniqueConstraint(
                fields=["collector", "system_type", "system_address"], name="fire_system_unique"
            )
        ]

    def __str__(self) -> str:
        from devices.gb26875.codes import system_type_name

        return f"{system_type_name(self.system_type)} #{self.system_address}"


class Point(models.Model):
    """消防设施编码 / 点位: one addressable component of a fire system."""

    system = models.ForeignKey(
        FireSystem, verbose_name=_("fire system"), on_delete=models.CASCADE, related_name="points"
    )
    component_address = models.PositiveBigIntegerField(
        _("component address"), validators=[MaxValueValidator(MAX_COMPONENT_ADDRESS)]
    )
    # The vendor's split of the address (kept with the raw value so either can be searched).
    loop = models.PositiveIntegerField(_("loop / zone"), null=True, blank=True)
    number = models.PositiveIntegerField(_("point number"))
    native_code = models.CharField(_("panel code"), max_length=40, blank=True)
    # GB/T 26875.3-2011 表 4 codes (40 感烟火灾探测器, 23 手动火灾报警按钮 …).
    component_type = models.PositiveSmallIntegerField(
        _("component type"), validators=[MaxValueValidator(255)]
    )
    floor = models.ForeignKey(
        "customers.Floor",
        verbose_name=_("floor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="points",
    )
    location = models.CharField(_("location"), max_length=120, blank=True)
    # Position on the floor plan, as fractions of its width and height (0–1).
    x = models.FloatField(_("x on plan"), null=True, blank=True)
    y = models.FloatField(_("y on plan"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["system", "component_address"]
        verbose_name = _("point")
        verbose_name_plural = _("points")
        constraints = [
            models.UniqueConstraint(fields=["system", "component_address"], name="point_unique")
        ]

    def __str__(self) -> str:
        return self.native_code or f"{self.loop or 0}-{self.number:03d}"


class ReceivedFrame(models.Model):
    """A data frame as received (heartbeats are not stored: they only refresh last_seen_at)."""

    # Indexed by the unique constraint below, which leads with it. No database-level foreign
    # key on this append-only traffic (nor on the event's collector and frame): the gateway
    # writes ids it has just read or inserted in the same transaction, deletions cascade through
    # the ORM, and each constraint check cost the database a locked parent-row look-up per row.
    collector = models.ForeignKey(
        Collector,
        on_delete=models.CASCADE,
        related_name="frames",
        db_index=False,
        db_constraint=False,
    )
    serial = models.PositiveIntegerField(_("serial number"))
    sent_at = models.DateTimeField(_("sent at"))
    received_at = models.DateTimeField(_("received at"))
    command = models.PositiveSmallIntegerField(_("command"))
    info_type = models.PositiveSmallIntegerField(_("information type"), null=True)
    raw = models.BinaryField(_("raw bytes"))

    class Meta:
        verbose_name = _("received frame")
        verbose_name_plural = _("received frames")
        constraints = [
            # GB/T 26875.3-2011 §7: a retransmission repeats serial and time label.
            models.UniqueConstraint(
                fields=["collector", "serial", "sent_at"], name="frame_once_per_serial_time"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.serial} {self.sent_at:%Y-%m-%d %H:%M:%S}"


class EventKind(models.TextChoices):
    FIRE = "fire", _("Fire alarm")
    FAULT = "fault", _("Fault")
    SUPERVISORY = "supervisory", _("Supervisory")
    STARTED = "started", _("Started")
    FEEDBACK = "feedback", _("Feedback")
    SHIELDED = "shielded", _("Shielded")
    OPERATION = "operation", _("Operation")
    ANALOG = "analog", _("Analog value")
    NORMAL = "normal", _("Normal")
    INFO = "info", _("Information")
    OFFLINE = "offline", _("Collector offline")
    ONLINE = "online", _("Collector back online")


# What the monitoring centre must act on.
BOARD_KINDS = (EventKind.FIRE, EventKind.FAULT, EventKind.OFFLINE)


class Verdict(models.TextChoices):
    REAL = "real", _("Real")
    FALSE = "false", _("False alarm")
    TEST = "test", _("Test")


class DeviceEvent(models.Model):
    """One information object of a frame (or an offline/online change seen by the gateway)."""

    # Indexed by event_collector (collector, -id); a second index would cost every insert.
    collector = models.ForeignKey(
        Collector,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    frame = models.ForeignKey(
        ReceivedFrame,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    info_type = models.PositiveSmallIntegerField(_("information type"), null=True, blank=True)
    system_type = models.PositiveSmallIntegerField(_("system type"), null=True, blank=True)
    system_address = models.PositiveSmallIntegerField(_("system address"), null=True, blank=True)
    component_type = models.PositiveSmallIntegerField(_("component type"), null=True, blank=True)
    component_address = models.PositiveBigIntegerField(
        _("component address"), null=True, blank=True
    )
    point = models.ForeignKey(
        Point, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # A component event whose point the point table does not know: stored, and flagged.
    unknown_point = models.BooleanField(_("unknown point"), default=False)
    status = models.PositiveIntegerField(_("status"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    description = models.CharField(_("description"), max_length=64, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    # Handling by the monitoring centre (alarms, faults, offline).
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    # Not indexed: never searched by, and every stored event would add a NULL entry.
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    verdict = models.CharField(_("verdict"), max_length=10, choices=Verdict.choices, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("device event")
        verbose_name_plural = _("device events")
        permissions = [
            ("view_board", _("Can watch the alarm board")),
            ("handle_event", _("Can acknowledge alarms, faults and offline collectors")),
        ]
        indexes = [
            models.Index(fields=["collector", "-id"], name="event_collector"),
            # The board: open alarms, faults and offline collectors, newest first.
            models.Index(
                fields=["-id"],
                name="event_board_open",
                condition=models.Q(kind__in=["fire", "fault", "offline"], handled_at=None),
            ),
            # Heartbeat gaps on the network-operations page.
            models.Index(
                fields=["kind", "occurred_at"],
                name="event_connectivity",
                condition=models.Q(kind__in=["offline", "online"]),
            ),
            # The board's "handled today" tab.
            models.Index(
                fields=["-handled_at"],
                name="event_handled",
                condition=models.Q(handled_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class FaultStatus(models.TextChoices):
    OPEN = "open", _("Open")
    HANDLING = "handling", _("Being handled")
    CLOSED = "closed", _("Closed")


class FaultKind(models.TextChoices):
    OFFLINE = "offline", _("Collector offline")
    DEVICE = "device", _("Device fault")
    LINE = "line", _("Communication line")
    OTHER = "other", _("Other")


class Fault(models.Model):
    """A network-operations fault (网管): opened by the gateway or by staff, analysed, closed."""

    collector = models.ForeignKey(
        Collector, verbose_name=_("collector"), on_delete=models.CASCADE, related_name="faults"
    )
    event = models.ForeignKey(
        DeviceEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="faults"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=FaultKind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=FaultStatus.choices, default=FaultStatus.OPEN
    )
    opened_at = models.DateTimeField(_("opened at"))
    # When the collector came back by itself (an offline fault); staff still close the fault.
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    cause = models.TextField(_("cause"), blank=True)
    handling = models.TextField(_("handling"), blank=True)
    analysis = models.TextField(_("analysis"), blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("fault")
        verbose_name_plural = _("faults")
        indexes = [models.Index(fields=["status", "-opened_at"], name="fault_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.collector_id} {self.opened_at:%Y-%m-%d %H:%M}"


class JointTestStatus(models.TextChoices):
    OPEN = "open", _("In progress")
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class JointTest(models.Model):
    """联调: every enabled point of a collector triggered in the building and checked at the
    centre (type, floor, description, delay)."""

    collector = models.ForeignKey(
        Collector, verbose_name=_("collector"), on_delete=models.CASCADE, related_name="joint_tests"
    )
    case = models.ForeignKey(
        "workflow.Case",
        verbose_name=_("onboarding case"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="joint_tests",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=JointTestStatus.choices, default=JointTestStatus.OPEN
    )
    # Longest acceptable receive − event time (the standard allows the centre 10 s).
    max_delay_seconds = models.PositiveIntegerField(_("maximum delay (s)"), default=10)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("finished by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    notes = models.TextField(_("notes"), blank=True)
    report = models.ForeignKey(
        "customers.Document",
        verbose_name=_("report"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("joint test")
        verbose_name_plural = _("joint tests")
        constraints = [
            models.UniqueConstraint(
                fields=["collector"],
                condition=models.Q(status="open"),
                name="one_open_joint_test_per_collector",
            )
        ]

    def __str__(self) -> str:
        return f"{self.collector.serial_number} {self.started_at:%Y-%m-%d}"


class ItemResult(models.TextChoices):
    PENDING = "pending", _("Waiting for the signal")
    PASSED = "passed", _("Passed")
    MISMATCH = "mismatch", _("Mismatch")
    SLOW = "slow", _("Too slow")
    MISSING = "missing", _("Missing")
    UNEXPECTED = "unexpected", _("Unexpected signal")


class JointTestItem(models.Model):
    """One row of a joint test: an expected point (from the point table) or a signal nobody
    expected."""

    test = models.ForeignKey(JointTest, on_delete=models.CASCADE, related_name="items")
    point = models.ForeignKey(
        Point, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.CharField(
        _("result"), max_length=20, choices=ItemResult.choices, default=ItemResult.PENDING
    )
    event = models.ForeignKey(
        DeviceEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delay_seconds = models.FloatField(_("delay (s)"), null=True, blank=True)
    # What was found wrong, in the user's words (e.g. "楼层不符: 点位表 3F, 信号 2层").
    problems = models.JSONField(_("problems"), default=list, blank=True)

    class Meta:
        ordering = ["test", "id"]
        verbose_name = _("joint test item")
        verbose_name_plural = _("joint test items")

    def __str__(self) -> str:
        return f"{self.point or self.event} {self.get_result_display()}"


# --- network operations (网管) ----------------------------------------------------------------


class OnlineSample(models.Model):
    """The fleet's online rate at one moment, taken every few minutes by the gateway."""

    at = models.DateTimeField(_("at"), unique=True)
    # Collectors that should be talking (online or offline; installed ones never heard are not).
    in_service = models.PositiveIntegerField(_("in service"))
    online = models.PositiveIntegerField(_("online"))

    class Meta:
        ordering = ["-at"]
        verbose_name = _("online-rate sample")
        verbose_name_plural = _("online-rate samples")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.online}/{self.in_service}"

    @property
    def rate(self) -> float | None:
        return self.online / self.in_service if self.in_service else None


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class FirmwareCampaign(models.Model):
    """固件升级: bring a set of collectors to one firmware version, tracked per collector."""

    name = models.CharField(_("name"), max_length=80)
    target_version = models.CharField(_("target version"), max_length=20)
    manufacturer = models.CharField(_("manufacturer"), max_length=60, blank=True)
    model = models.CharField(_("model"), max_length=60, blank=True)
    note = models.TextField(_("note"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("firmware campaign")
        verbose_name_plural = _("firmware campaigns")

    def __str__(self) -> str:
        return f"{self.name} → {self.target_version}"


class TargetStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("Upgrading")
    UPGRADED = "upgraded", _("Upgraded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class CampaignTarget(models.Model):
    campaign = models.ForeignKey(FirmwareCampaign, on_delete=models.CASCADE, related_name="targets")
    collector = models.ForeignKey(
        Collector, on_delete=models.CASCADE, related_name="campaign_targets"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TargetStatus.choices, default=TargetStatus.PENDING
    )
    from_version = models.CharField(_("version before"), max_length=20, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["campaign", "id"]
        verbose_name = _("campaign collector")
        verbose_name_plural = _("campaign collectors")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "collector"], name="campaign_target_once")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.collector_id} {self.status}"


class WorkLogCategory(models.TextChoices):
    INSPECTION = "inspection", _("Inspection")
    FAULT = "fault", _("Fault handling")
    UPGRADE = "upgrade", _("Upgrade")
    CHANGE = "change", _("Configuration change")
    OTHER = "other", _("Other")


class WorkLogEntry(models.Model):
    """网管工作日志: what operations staff did on a day."""

    day = models.DateField(_("day"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    category = models.CharField(_("category"), max_length=20, choices=WorkLogCategory.choices)
    content = models.TextField(_("content"))
    collector = models.ForeignKey(
        Collector,
        verbose_name=_("collector"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-day", "-created_at", "-id"]
        verbose_name = _("work log entry")
        verbose_name_plural = _("work log entries")
        indexes = [models.Index(fields=["day"], name="worklog_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.get_category_display()}"
