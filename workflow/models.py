"""Process definitions (BPMN), cases, tasks, timeline, notifications, business calendar."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _


class ProcessDefinition(models.Model):
    """A process (作业指导书 as BPMN) with its versions; cases start from the latest published."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("process definition")
        verbose_name_plural = _("process definitions")
        permissions = [("publish_processdefinition", _("Can publish process definitions"))]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class DefinitionVersion(models.Model):
    definition = models.ForeignKey(
        ProcessDefinition,
        verbose_name=_("process definition"),
        on_delete=models.PROTECT,
        related_name="versions",
    )
    number = models.PositiveIntegerField(_("version"))
    xml = models.TextField(_("BPMN XML"))
    status = models.CharField(
        _("status"), max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    problems = models.JSONField(_("validation problems"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        ordering = ["definition", "-number"]
        verbose_name = _("definition version")
        verbose_name_plural = _("definition versions")
        constraints = [
            models.UniqueConstraint(fields=["definition", "number"], name="version_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.definition.name} v{self.number}"


class CaseStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    ON_HOLD = "on_hold", _("On hold")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Case(models.Model):
    """One run of a definition version for one customer (流程实例 / 入网单)."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    version = models.ForeignKey(
        DefinitionVersion, verbose_name=_("version"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="cases",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.RUNNING
    )
    data = models.JSONField(_("case data"), default=dict, blank=True)
    # The engine's parked tokens, [[number, node id, incoming flow id], …]: at user tasks, or at
    # parallel joins waiting for their siblings. Kept on the case row, which every step locks,
    # reads and writes anyway.
    tokens = models.JSONField(default=list, blank=True)
    next_token = models.PositiveIntegerField(default=1)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    held_since = models.DateTimeField(_("on hold since"), null=True, blank=True)
    hold_reason = models.CharField(_("reason for the hold"), max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            models.Index(fields=["customer", "-id"], name="case_customer"),
            models.Index(fields=["status", "-id"], name="case_status"),
            # The funnel's refresh: the cases started in a period, or started or ended since
            # the previous refresh.
            models.Index(fields=["started_at"], name="case_started_at"),
            models.Index(fields=["ended_at"], name="case_ended_at"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in (CaseStatus.RUNNING, CaseStatus.ON_HOLD)


def _copied_key(to: str) -> models.ForeignKey:
    """A copy of another row's foreign key: no constraint, no index, no reverse accessor."""
    return models.ForeignKey(
        to,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )


class TaskStatus(models.TextChoices):
    READY = "ready", _("Ready")
    CLAIMED = "claimed", _("Claimed")
    COMPLETED = "completed", _("Completed")
    RETURNED = "returned", _("Returned")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_TASK_STATUSES = (TaskStatus.READY, TaskStatus.CLAIMED)


class Task(models.Model):
    """A user task of a case: offered to a role (ready) or held by one person (claimed)."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="tasks"
    )
    # The case's customer, kept on the task for the inbox's names and search (set when the task
    # opens; moved with the case on a merge).
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="tasks",
        db_index=False,
    )
    # Copies of the customer's visibility keys (Customer.visibility_keys), so that inbox lists
    # and counts filter the task rows they walk instead of joining every customer a user may
    # see. Kept in step by the customer services (update, merge); the case page and every write
    # still check the customer itself.
    customer_owner = _copied_key(settings.AUTH_USER_MODEL)
    customer_region = _copied_key("accounts.Region")
    customer_department = _copied_key("accounts.Department")
    token = models.PositiveIntegerField()
    node_id = models.CharField(_("step"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    form_key = models.CharField(_("form"), max_length=60, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.READY
    )
    role = models.CharField(_("role"), max_length=40, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,  # task_assignee_due leads with it
    )
    delegated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("delegated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delegated_tasks",
    )
    created_at = models.DateTimeField(_("created at"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(_("overdue since"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("completed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    data = models.JSONField(_("form data"), default=dict, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        permissions = [("reassign_task", _("Can reassign any task"))]
        indexes = [
            # The inbox reads "mine" and "pool" in due order straight from these.
            models.Index(fields=["assignee", "status", "due_at", "id"], name="task_assignee_due"),
            models.Index(fields=["role", "status", "due_at", "id"], name="task_role_due"),
            models.Index(fields=["case", "status"], name="task_case_status"),
            models.Index(fields=["delegated_by", "status"], name="task_delegated"),
            models.Index(fields=["status", "remind_at"], name="task_remind"),
            models.Index(fields=["status", "due_at"], name="task_due"),
            models.Index(fields=["status", "next_escalation_at"], name="task_escalation"),
            # Workload and performance figures: a person's completions in a period.
            models.Index(fields=["completed_by", "completed_at"], name="task_completed_by"),
            # The funnel's refresh: the tasks opened or completed since the previous one.
            models.Index(fields=["created_at"], name="task_created_at"),
            models.Index(fields=["completed_at"], name="task_completed_at"),
            # Workload: the tasks a person got in a period (claimed, or opened if never
            # claimed), the same expression as reports.workload's `got`.
            models.Index(Coalesce("claimed_at", "created_at"), name="task_received_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "token"],
                condition=models.Q(status__in=["ready", "claimed"]),
                name="task_one_open_per_token",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case.number} · {self.name}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES


class CaseEvent(models.Model):
    """The case timeline: who did what when."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=30)
    node_id = models.CharField(max_length=100, blank=True)
    text = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="case_event_case")]

    def __str__(self) -> str:
        return f"{self.kind} {self.node_id}"


class CaseComment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="comments")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("comment"), max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:40]


class Notification(models.Model):
    """An in-app message (the bell); e-mail and robot webhooks are sent alongside."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=200, blank=True)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.text[:40]


class RobotKind(models.TextChoices):
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")


class RobotWebhook(models.Model):
    """A group-chat robot that receives reminders, breaches and escalations as text."""

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=RobotKind.choices)
    url = models.URLField(_("webhook URL"), max_length=400)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("group robot")
        verbose_name_plural = _("group robots")

    def __str__(self) -> str:
        return self.name


class CalendarDay(models.Model):
    """The company's own calendar entries: extra holidays, adjusted working days (调休), or the
    State Council's announcement for a year the holiday package does not know yet."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=60, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.note}"


class CalendarYear(models.Model):
    """A year whose official holiday announcement an administrator has entered."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    announced = models.BooleanField(_("official announcement entered"), default=True)
    note = models.CharField(_("note"), max_length=120, blank=True)

    class Meta:
        ordering = ["year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")

    def __str__(self) -> str:
        return str(self.year)


class WorkingHoursSetting(models.Model):
    """The company's working periods, e.g. "09:00-12:00,13:30-18:00" (one row)."""

    periods = models.CharField(
        _("working hours"), max_length=100, default="09:00-12:00,13:30-18:00"
    )

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")

    def __str__(self) -> str:
        return self.periods

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from workflow.business_calendar import parse_periods

        try:
            parse_periods(self.periods)
        except ValueError as exc:
            raise ValidationError({"periods": str(exc)}) from exc


# --- report figures (derived rows; reports.funnel and reports.workload refresh them) ---------

# The time buckets of the step cycle-time histograms are the service dashboard's
# (service.models.HOUR_BUCKET_EDGES), so that its histogram_quantile reads them.
STEP_CYCLE_BUCKETS = 22


def step_cycle_field(index: int) -> str:
    return f"cycle_{index:02d}"


class StepMonthlyStat(models.Model):
    """The cases of one process definition started in one month (local time) at customers with
    one set of visibility keys (owner, district, department), per step (node_id; "" for the
    cases themselves): how many cases reached the step (or started), how many of its tasks were
    completed (or cases completed), how many open cases wait at it now (or are open), how many
    cancelled cases stopped at it (or were cancelled), and a histogram of its tasks' cycle times
    (created → completed, calendar hours; columns cycle_00…21 on HOUR_BUCKET_EDGES). Derived
    from Case and Task by reports.funnel.funnel_refresh, never edited."""

    month = models.DateField(_("month"))
    definition = models.ForeignKey(
        ProcessDefinition,
        verbose_name=_("process definition"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the (definition, month) index
    )
    node_id = models.CharField(_("step"), max_length=100, blank=True)
    customer_owner = _copied_key(settings.AUTH_USER_MODEL)
    customer_region = _copied_key("accounts.Region")
    customer_department = _copied_key("accounts.Department")
    # NULL: every customer's cases; else only those of the customers of that saved segment
    # (customers.Segment id; reports.segment_figures keeps these rows).
    segment_id = models.BigIntegerField(null=True)
    cases = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    stopped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["month", "definition", "node_id"]
        verbose_name = _("monthly step figures")
        verbose_name_plural = _("monthly step figures")
        indexes = [
            models.Index(fields=["definition", "month"], name="step_stat_definition"),
            models.Index(fields=["segment_id", "definition", "month"], name="step_stat_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.definition_id} {self.node_id}"


# One column per bucket, so that the database sums a period's histograms in one query.
for _index in range(STEP_CYCLE_BUCKETS):
    StepMonthlyStat.add_to_class(
        step_cycle_field(_index), models.PositiveIntegerField(default=0, editable=False)
    )
del _index


class StepDailyStat(models.Model):
    """The same figures as StepMonthlyStat for the cases started on one day (local time), of
    every customer together: what a viewer who sees every customer reads, for any period, in a
    few rows per day. Derived by reports.funnel.funnel_refresh, never edited."""

    day = models.DateField(_("day"))
    definition = models.ForeignKey(
        ProcessDefinition,
        verbose_name=_("process definition"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the (definition, day) index
    )
    node_id = models.CharField(_("step"), max_length=100, blank=True)
    # NULL: every customer's cases; else only those of the customers of that saved segment
    # (customers.Segment id; reports.segment_figures keeps these rows).
    segment_id = models.BigIntegerField(null=True)
    cases = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    stopped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "definition", "node_id"]
        verbose_name = _("daily step figures")
        verbose_name_plural = _("daily step figures")
        indexes = [
            models.Index(fields=["definition", "day"], name="step_day_stat_definition"),
            models.Index(fields=["segment_id", "definition", "day"], name="step_day_stat_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.definition_id} {self.node_id}"


for _index in range(STEP_CYCLE_BUCKETS):
    StepDailyStat.add_to_class(
        step_cycle_field(_index), models.PositiveIntegerField(default=0, editable=False)
    )
del _index


class StepCellStat(models.Model):
    """The same figures as StepMonthlyStat for the cases started on one day (local time) at
    customers with one set of visibility keys: the cells both other tables are sums of, kept so
    that the ten-minute refresh recounts only the cells of the cases touched since the previous
    one and sums its monthly and daily rows from the cells. Derived by
    reports.funnel.funnel_refresh, never edited, never read by a page."""

    day = models.DateField(_("day"))
    definition = models.ForeignKey(
        ProcessDefinition,
        verbose_name=_("process definition"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the refresh reads cells by day
    )
    node_id = models.CharField(_("step"), max_length=100, blank=True)
    customer_owner = _copied_key(settings.AUTH_USER_MODEL)
    customer_region = _copied_key("accounts.Region")
    customer_department = _copied_key("accounts.Department")
    # NULL: every customer's cases; else only those of the customers of that saved segment
    # (customers.Segment id; reports.segment_figures keeps these rows).
    segment_id = models.BigIntegerField(null=True)
    cases = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    stopped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "definition", "node_id"]
        verbose_name = _("step figures of a day and customer keys")
        verbose_name_plural = _("step figures of a day and customer keys")
        indexes = [
            models.Index(fields=["day"], name="step_cell_day"),
            models.Index(fields=["segment_id", "day"], name="step_cell_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.definition_id} {self.node_id}"


for _index in range(STEP_CYCLE_BUCKETS):
    StepCellStat.add_to_class(
        step_cycle_field(_index), models.PositiveIntegerField(default=0, editable=False)
    )
del _index


class WorkloadDailyStat(models.Model):
    """What one person received and completed on one day (local time): process tasks,
    tickets, inquiry replies (see reports.workload for the definitions). Derived by
    reports.workload.workload_refresh, never edited."""

    day = models.DateField(_("day"))
    user = _copied_key(settings.AUTH_USER_MODEL)
    tasks_received = models.PositiveIntegerField(default=0)
    tasks_completed = models.PositiveIntegerField(default=0)
    tickets_assigned = models.PositiveIntegerField(default=0)
    tickets_resolved = models.PositiveIntegerField(default=0)
    replies_sent = models.PositiveIntegerField(default=0)
    # NULL: work on every customer; else only on the customers of that saved segment
    # (customers.Segment id; reports.segment_figures keeps these rows).
    segment_id = models.BigIntegerField(null=True)

    class Meta:
        ordering = ["day", "user"]
        verbose_name = _("daily workload figures")
        verbose_name_plural = _("daily workload figures")
        indexes = [
            models.Index(fields=["day", "user"], name="workload_stat_day"),
            models.Index(fields=["user", "day"], name="workload_stat_user"),
            models.Index(fields=["segment_id", "day"], name="workload_stat_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.user_id}"


class WorkloadWeeklyStat(models.Model):
    """What one person received and completed in one week (Monday to Sunday, local time) for
    the customers of one district and department: the counts of WorkloadDailyStat, kept per
    the customers' keys for a region or department filter (per day they would be dozens of
    rows per person and day). Derived by reports.workload.workload_refresh, never edited."""

    week = models.DateField(_("week"))  # its Monday
    user = _copied_key(settings.AUTH_USER_MODEL)
    # The district and department of the customers the work was for (ids copied, no
    # constraint; NULL: work for no customer, or a customer without a department).
    customer_region_id = models.BigIntegerField(null=True)
    customer_department_id = models.BigIntegerField(null=True)
    tasks_received = models.PositiveIntegerField(default=0)
    tasks_completed = models.PositiveIntegerField(default=0)
    tickets_assigned = models.PositiveIntegerField(default=0)
    tickets_resolved = models.PositiveIntegerField(default=0)
    replies_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["week", "user"]
        verbose_name = _("weekly workload figures by customer district")
        verbose_name_plural = _("weekly workload figures by customer district")
        indexes = [
            models.Index(fields=["week"], name="workload_week"),
            models.Index(fields=["user", "week"], name="workload_week_user"),
            models.Index(fields=["customer_region_id", "week"], name="workload_week_region"),
            models.Index(
                fields=["customer_department_id", "week"], name="workload_week_department"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.week:%Y-%m-%d} {self.user_id} {self.customer_region_id}"
