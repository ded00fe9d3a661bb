"""After-sales service (售后服务) of an onboarded customer.

At handover to the monitoring centre (附件八) the customer gets an AfterSalesPlan: one year of
service by the engineering department, with ScheduledRevisit rows (回访) due at fixed month
offsets from the handover day. Tickets and revisit forms hang off these rows later.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class AfterSalesPlan(models.Model):
    """售后服务计划: the period during which the customer is served, and who serves it."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="after_sales_plans",
        db_index=False,  # led by the (customer, -starts_on) index
    )
    # The onboarding case whose handover started the plan: one plan per case.
    case = models.ForeignKey(
        "workflow.Case",
        verbose_name=_("case"),
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
        related_name="+",
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("responsible department"),
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
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("after-sales plan")
        verbose_name_plural = _("after-sales plans")
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(case__isnull=False),
                name="after_sales_plan_one_per_case",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="after_sales_plan_ends_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-starts_on"], name="after_sales_plan_customer")
        ]

    def __str__(self) -> str:
        return f"{self.starts_on:%Y-%m-%d} – {self.ends_on:%Y-%m-%d}"


class RevisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class ScheduledRevisit(models.Model):
    """回访: one follow-up of the customer, due a number of months after handover."""

    plan = models.ForeignKey(
        AfterSalesPlan,
        verbose_name=_("after-sales plan"),
        on_delete=models.CASCADE,
        related_name="revisits",
    )
    # The plan's customer, copied so that revisit lists filter and show it without a join.
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the (customer, due_on) index
    )
    due_on = models.DateField(_("due on"))
    months_after = models.PositiveSmallIntegerField(_("months after handover"))
    status = models.CharField(
        _("status"), max_length=10, choices=RevisitStatus.choices, default=RevisitStatus.PLANNED
    )
    note = models.TextField(_("note"), blank=True)
    method = models.CharField(
        _("method"),
        max_length=10,
        choices=[("phone", _("Phone")), ("visit", _("Visit"))],
        blank=True,
    )
    findings = models.TextField(_("findings"), blank=True)
    # When and by whom the revisit was closed (done or cancelled).
    done_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("scheduled revisit")
        verbose_name_plural = _("scheduled revisits")
        permissions = [("close_revisit", _("Can complete or cancel scheduled revisits"))]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "months_after"], name="scheduled_revisit_one_per_offset"
            ),
            models.CheckConstraint(
                condition=(Q(status=RevisitStatus.PLANNED) & Q(done_at__isnull=True))
                | (~Q(status=RevisitStatus.PLANNED) & Q(done_at__isnull=False)),
                name="scheduled_revisit_closed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_on"], name="scheduled_revisit_due"),
            models.Index(fields=["customer", "due_on"], name="scheduled_revisit_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.due_on:%Y-%m-%d} (+{self.months_after})"

    @property
    def is_open(self) -> bool:
        return self.status == RevisitStatus.PLANNED


# --- tickets (工单) ---------------------------------------------------------------------------


class TicketKind(models.TextChoices):
    FAULT = "fault", _("Fault")
    COMPLAINT = "complaint", _("Complaint")
    CONSULTATION = "consultation", _("Consultation")
    REVISIT = "revisit", _("Revisit")
    UPGRADE = "upgrade", _("Upgrade")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    MONITORING = "monitoring", _("Monitoring centre")
    EMAIL = "email", _("E-mail")
    WEB = "web", _("Web")
    VISIT = "visit", _("Visit")
    SYSTEM = "system", _("Raised by the system")


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting on customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


# Statuses in which a ticket still needs work (and its SLA clock may run).
OPEN_TICKET_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.ASSIGNED,
    TicketStatus.IN_PROGRESS,
    TicketStatus.WAITING,
)


class SlaState(models.TextChoices):
    NONE = "none", _("No SLA")
    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")
    MET = "met", _("Met")


class AssignmentRule(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_OPEN = "least_open", _("Fewest open tickets")
    OWNER = "owner", _("The customer's account manager")
    MANUAL = "manual", _("Manual")


class Team(models.Model):
    """A service team (e.g. 工程部售后组) that tickets are routed to."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("team lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
    )
    rule = models.CharField(
        _("assignment rule"),
        max_length=20,
        choices=AssignmentRule.choices,
        default=AssignmentRule.LEAST_OPEN,
    )
    # Round robin: who got the last ticket (the next goes to the member after them).
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("service team")
        verbose_name_plural = _("service teams")

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="members"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="team_memberships",
    )
    # Off the rota (e.g. part-time on another team) without leaving the team.
    takes_tickets = models.BooleanField(_("takes tickets"), default=True)

    class Meta:
        ordering = ["team", "user"]
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_unique")]

    def __str__(self) -> str:
        return f"{self.team}: {self.user}"


class Leave(models.Model):
    """请假: a period in which a user takes no new tickets (routing skips them)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="leaves",
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until (inclusive)"))
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        ordering = ["-starts_on"]
        verbose_name = _("leave")
        verbose_name_plural = _("leaves")
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="leave_dates")
        ]
        indexes = [models.Index(fields=["user", "ends_on"], name="leave_user_until")]

    def __str__(self) -> str:
        return f"{self.user} {self.starts_on:%Y-%m-%d}–{self.ends_on:%Y-%m-%d}"


class SlaPolicy(models.Model):
    """Targets for tickets of a kind × priority (× customer category); blank matches any.

    Durations use the business calendar's syntax: "4 work hours" and "2 workdays" count only
    working time (paused overnight, at weekends and holidays); "24 hours" counts every hour."""

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=TicketKind.choices, blank=True)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, blank=True)
    customer_category = models.CharField(_("customer category"), max_length=20, blank=True)
    first_response = models.CharField(_("first response within"), max_length=30)
    resolution = models.CharField(_("resolve within"), max_length=30)
    warn_before = models.CharField(
        _("warn before the deadline"), max_length=30, blank=True, default="1 work hours"
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "priority", "customer_category", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    @property
    def specificity(self) -> int:
        """Policies that name more facts win over general ones."""
        return (
            int(bool(self.kind)) * 4
            + int(bool(self.priority)) * 2
            + int(bool(self.customer_category))
        )


class Ticket(models.Model):
    """工单: a fault, complaint, consultation, revisit or upgrade of one customer."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=TicketKind.choices)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TicketStatus.choices, default=TicketStatus.NEW
    )
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, default=Channel.PHONE
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="tickets",
        db_index=False,  # led by the (customer, -created_at) index
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
        related_name="tickets",
    )
    subject = models.CharField(_("subject"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # SLA: the policy chosen at creation; deadlines move when the clock pauses.
    policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first responded at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    paused_at = models.DateTimeField(_("waiting since"), null=True, blank=True)
    sla_state = models.CharField(
        _("SLA"), max_length=10, choices=SlaState.choices, default=SlaState.NONE
    )
    warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    breached_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalation_level = models.PositiveSmallIntegerField(default=0, editable=False)
    next_escalation_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Warranty of the collector when the ticket was opened (None: no collector).
    in_warranty = models.BooleanField(_("in warranty"), null=True, blank=True)
    # What raised the ticket, for tickets the system opens (one open ticket per source).
    source_key = models.CharField(max_length=60, blank=True, editable=False)
    taken_over = models.BooleanField(
        _("taken over by a person"),
        default=False,
        help_text=_("A system ticket someone worked on is no longer closed automatically."),
    )
    fault = models.ForeignKey(
        "devices.Fault",
        verbose_name=_("device fault"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    revisit = models.ForeignKey(
        ScheduledRevisit,
        verbose_name=_("revisit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    campaign_target = models.ForeignKey(
        "devices.CampaignTarget",
        verbose_name=_("upgrade campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    # Complaints (投诉): closed only after root cause, action and a supervisor's review.
    root_cause = models.TextField(_("root cause"), blank=True)
    corrective_action = models.TextField(_("corrective action"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    outcome_sent_at = models.DateTimeField(_("customer told the outcome at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        permissions = [
            ("work_ticket", _("Can work on tickets (respond, change status, add notes)")),
            ("assign_ticket", _("Can assign and reassign tickets")),
            ("review_complaint", _("Can review complaints before they are closed")),
            ("view_service_dashboard", _("Can view the service dashboard")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"],
                condition=~Q(source_key="")
                & Q(status__in=["new", "assigned", "in_progress", "waiting"]),
                name="ticket_one_open_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="ticket_customer"),
            models.Index(fields=["status", "team"], name="ticket_status_team"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            # workload and staff performance: tickets resolved per person and period
            models.Index(fields=["assignee", "resolved_at"], name="ticket_assignee_resolved"),
            models.Index(fields=["resolved_at"], name="ticket_resolved"),
            models.Index(fields=["sla_state", "status"], name="ticket_sla_state"),
            models.Index(
                fields=["resolution_due_at"],
                condition=Q(status__in=["new", "assigned", "in_progress"]),
                name="ticket_running_due",
            ),
            models.Index(fields=["-created_at", "-id"], name="ticket_newest"),
            # a status tab of the ticket list, newest first, without sorting the whole status
            models.Index(fields=["status", "-created_at", "-id"], name="ticket_status_newest"),
            # the SLA tick reads only the running tickets still on track or at risk
            models.Index(
                fields=["resolution_due_at"],
                condition=Q(
                    status__in=["new", "assigned", "in_progress"],
                    sla_state__in=["on_track", "at_risk"],
                ),
                name="ticket_sla_resolution_due",
            ),
            models.Index(
                fields=["first_response_due_at"],
                condition=Q(
                    status__in=["new", "assigned", "in_progress"],
                    sla_state__in=["on_track", "at_risk"],
                    first_responded_at__isnull=True,
                ),
                name="ticket_sla_response_due",
            ),
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(next_escalation_at__isnull=False),
                name="ticket_next_escalation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TICKET_STATUSES


class EntryKind(models.TextChoices):
    NOTE = "note", _("Internal note")
    MESSAGE = "message", _("Message to the customer")
    STATUS = "status", _("Status change")
    ASSIGNMENT = "assignment", _("Assignment")
    SYSTEM = "system", _("System")


class TicketEntry(models.Model):
    """The ticket's timeline: internal notes, messages to the customer, changes."""

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="entries"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=EntryKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    text = models.TextField(_("text"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("ticket entry")
        verbose_name_plural = _("ticket entries")
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="ticket_entry_ticket"),
            # workload: tickets assigned per person and period
            models.Index(
                fields=["created_at"],
                condition=Q(kind="assignment"),
                name="ticket_entry_assignment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket.number} {self.kind}"


class TicketAttachment(models.Model):
    """A file of a ticket, kept as one of the customer's documents (checked, versioned)."""

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="attachments"
    )
    document = models.ForeignKey(
        "customers.Document",
        verbose_name=_("document"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ticket attachment")
        verbose_name_plural = _("ticket attachments")

    def __str__(self) -> str:
        return str(self.document)


class LinkKind(models.TextChoices):
    RELATES = "relates", _("Related to")
    DUPLICATE = "duplicate", _("Duplicate of")
    FOLLOW_UP = "follow_up", _("Follow-up of")


class TicketLink(models.Model):
    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(_("link"), max_length=20, choices=LinkKind.choices)

    class Meta:
        verbose_name = _("ticket link")
        verbose_name_plural = _("ticket links")
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="ticket_link_unique"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="ticket_link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.kind} {self.target_id}"


# --- revisit templates ---------------------------------------------------------------------


class RevisitTemplate(models.Model):
    """Months after handover at which revisits fall due (e.g. 1, 3, 6, 12); one is the default."""

    name = models.CharField(_("name"), max_length=60)
    months = models.CharField(
        _("months after handover"), max_length=60, help_text=_("Comma separated, e.g. 1,3,6,12")
    )
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("revisit template")
        verbose_name_plural = _("revisit templates")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="revisit_one_default"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.months})"


# --- satisfaction surveys (满意度调查) ---------------------------------------------------------


class SurveyTrigger(models.TextChoices):
    TICKET = "ticket", _("Ticket resolved")
    REVISIT = "revisit", _("Revisit")
    HANDOVER = "handover", _("Onboarding handover")


class Survey(models.Model):
    """One invitation: a one-time link (token) that expires; answered without signing in."""

    token = models.CharField(max_length=64, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="surveys",
        db_index=False,  # led by the (customer, -sent_at) index
    )
    trigger = models.CharField(_("sent after"), max_length=10, choices=SurveyTrigger.choices)
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    revisit = models.ForeignKey(
        ScheduledRevisit, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    case = models.ForeignKey(
        "workflow.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField(_("sent to"), blank=True)
    sent_at = models.DateTimeField(_("sent at"))
    expires_at = models.DateTimeField(_("expires at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    csat = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    nps = models.PositiveSmallIntegerField(_("likely to recommend (0–10)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    follow_up = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        constraints = [
            models.CheckConstraint(
                condition=Q(csat__isnull=True) | Q(csat__gte=1, csat__lte=5), name="survey_csat"
            ),
            models.CheckConstraint(
                condition=Q(nps__isnull=True) | Q(nps__lte=10), name="survey_nps"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-sent_at"], name="survey_customer"),
            models.Index(fields=["answered_at"], name="survey_answered"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.get_trigger_display()}"


# --- knowledge base (知识库) -------------------------------------------------------------------


class Article(models.Model):
    title = models.CharField(_("title"), max_length=120)
    problem = models.TextField(_("problem"))
    cause = models.TextField(_("cause"), blank=True)
    solution = models.TextField(_("solution"))
    keywords = models.CharField(_("keywords"), max_length=200, blank=True)
    solved_count = models.PositiveIntegerField(_("solved it"), default=0)
    is_published = models.BooleanField(_("published"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-solved_count", "title"]
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")

    def __str__(self) -> str:
        return self.title


class TicketArticle(models.Model):
    """An article linked from a ticket; `solved` once someone says "this article solved it"."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="article_links")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="ticket_links")
    solved = models.BooleanField(default=False)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket article")
        verbose_name_plural = _("ticket articles")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "article"], name="ticket_article_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.article_id}"


# --- dashboard figures (precomputed) -----------------------------------------------------------

# Upper edges (hours) of the time buckets of TicketDailyStat: half-hour buckets up to 2 hours,
# then each bucket at most 1.5 times as long as the one before; the last bucket is open (≥ 30
# days). Medians and p90 read from summed buckets lie in the same bucket as the true value.
HOUR_BUCKET_EDGES: tuple[float, ...] = (
    0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120, 168, 240, 336, 480, 720,
)  # fmt: skip
HOUR_BUCKETS = len(HOUR_BUCKET_EDGES) + 1


def response_bucket_field(index: int) -> str:
    return f"response_{index:02d}"


def resolution_bucket_field(index: int) -> str:
    return f"resolution_{index:02d}"


class TicketDailyStat(models.Model):
    """Tickets created on one day (local time) of one kind, at the customers of one region:
    how many, how many got a first response and a resolution, and histograms of those times in
    calendar hours (columns response_00…21 and resolution_00…21, one per HOUR_BUCKET_EDGES
    bucket). A ticket counts in the row of its customer's district, of each region above it
    (city, province) and of no region (every region), so any region filter reads one row per
    day and kind. Derived from Ticket by service.dashboard.stats_refresh, never edited."""

    day = models.DateField(_("day"))
    # None: every region.
    region = models.ForeignKey(
        "accounts.Region",
        verbose_name=_("region"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the (region, day, kind) index
    )
    kind = models.CharField(_("kind"), max_length=20, choices=TicketKind.choices)
    created = models.PositiveIntegerField(_("created"), default=0)
    responded = models.PositiveIntegerField(_("responded"), default=0)
    resolved = models.PositiveIntegerField(_("resolved"), default=0)

    class Meta:
        ordering = ["day", "region", "kind"]
        verbose_name = _("daily ticket figures")
        verbose_name_plural = _("daily ticket figures")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "day", "kind"], name="ticket_daily_stat_unique"
            ),
            models.UniqueConstraint(
                fields=["day", "kind"],
                condition=Q(region__isnull=True),
                name="ticket_daily_stat_all_unique",
            ),
        ]
        # A refresh replaces whole days.
        indexes = [models.Index(fields=["day"], name="ticket_daily_stat_day")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.region_id} {self.kind}"


# One column per bucket, so that the database sums a period's histograms in one query.
for _index in range(HOUR_BUCKETS):
    TicketDailyStat.add_to_class(
        response_bucket_field(_index), models.PositiveIntegerField(default=0, editable=False)
    )
for _index in range(HOUR_BUCKETS):
    TicketDailyStat.add_to_class(
        resolution_bucket_field(_index), models.PositiveIntegerField(default=0, editable=False)
    )
del _index


class SurveyDailyStat(models.Model):
    """Survey answers received on one day (local time) from the customers of one region (as
    in TicketDailyStat: district, each region above it, and None for every region): CSAT count
    and sum, NPS count, promoters (9–10) and detractors (0–6). Derived from Survey by
    service.dashboard.stats_refresh."""

    day = models.DateField(_("day"))
    # None: every region.
    region = models.ForeignKey(
        "accounts.Region",
        verbose_name=_("region"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the (region, day) index
    )
    answered = models.PositiveIntegerField(_("answered"), default=0)
    csat_count = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    nps_count = models.PositiveIntegerField(default=0)
    promoters = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "region"]
        verbose_name = _("daily survey figures")
        verbose_name_plural = _("daily survey figures")
        constraints = [
            models.UniqueConstraint(fields=["region", "day"], name="survey_daily_stat_unique"),
            models.UniqueConstraint(
                fields=["day"],
                condition=Q(region__isnull=True),
                name="survey_daily_stat_all_unique",
            ),
        ]
        indexes = [models.Index(fields=["day"], name="survey_daily_stat_day")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.region_id}"


class DashboardRefresh(models.Model):
    """The one row recording how far the dashboard figures are refreshed (see
    service.dashboard): when, the last full rebuild, and the ticket timeline entries seen."""

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    full_on = models.DateField(null=True, blank=True)
    # Highest TicketEntry id seen by the last refresh and by the one before it: a refresh
    # reads the entries after the one before, so a transaction still open at the last refresh
    # (its entry numbered below that refresh's mark) is still seen.
    entry_mark = models.BigIntegerField(default=0)
    entry_mark_before = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("dashboard refresh")
        verbose_name_plural = _("dashboard refreshes")

    def __str__(self) -> str:
        return f"{self.finished_at}"
