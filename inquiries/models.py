"""The online inquiry desk (网上客户信息管理): projects and their stages, the responsibility
matrix, inquiries from every channel with their thread, replies reviewed before sending, and
notices to customers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# --- projects and responsibility ---------------------------------------------------------------


class ProjectStage(models.TextChoices):
    # The seed's 3.2: who answers depends on where the project stands.
    PRE_SALES = "pre_sales", _("Before the sales team is formed")
    ON_SALE = "on_sale", _("Sales team on site")
    PRE_DELIVERY = "pre_delivery", _("Sales team withdrawn, before delivery")
    DELIVERED = "delivered", _("After delivery")


class Topic(models.TextChoices):
    PROPERTY = "property", _("Property management")
    GENERAL = "general", _("Non-property matters")
    CLUB = "club", _("Customer club")
    CONTRACT = "contract", _("Contract procedures (certificates)")
    PROMOTION = "promotion", _("Promotions and events")


class Project(models.Model):
    """A project (楼盘 / 服务项目) customers ask about; its stage decides who answers."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    stage = models.CharField(
        _("stage"), max_length=20, choices=ProjectStage.choices, default=ProjectStage.PRE_SALES
    )
    region = models.ForeignKey(
        "accounts.Region",
        verbose_name=_("district"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    customers = models.ManyToManyField(
        "customers.Customer",
        verbose_name=_("customers"),
        blank=True,
        related_name="inquiry_projects",
    )
    # Its notices are listed on the public notices page.
    public_notices = models.BooleanField(_("public notices page"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    stage_changed_at = models.DateTimeField(_("stage changed at"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """One row of the responsibility matrix: inquiries of this project (blank: any) in this
    stage (blank: any) about this topic (blank: any) go to `team`. The most specific matching
    row wins (project, then topic, then stage; `position` breaks ties)."""

    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
    )
    stage = models.CharField(_("stage"), max_length=20, choices=ProjectStage.choices, blank=True)
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices, blank=True)
    team = models.ForeignKey(
        "service.Team",
        verbose_name=_("responsible team"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    position = models.PositiveSmallIntegerField(_("order"), default=100)
    note = models.CharField(_("note"), max_length=120, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("responsibility rule")
        verbose_name_plural = _("responsibility matrix")

    def __str__(self) -> str:
        return (
            f"{self.get_stage_display() or '*'} / {self.get_topic_display() or '*'} → {self.team}"
        )


class DeskSettings(models.Model):
    """The desk's settings (one row): reply deadline, warning, default team, signature."""

    reply_hours = models.PositiveSmallIntegerField(_("reply within (hours)"), default=24)
    warn_hours = models.PositiveSmallIntegerField(_("warn after (hours)"), default=20)
    # Calendar hours by default (the seed's "24 小时内回复"); work hours skip nights and holidays.
    work_hours = models.BooleanField(_("count work hours only"), default=False)
    default_team = models.ForeignKey(
        "service.Team",
        verbose_name=_("team when no rule matches"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    company_signature = models.CharField(
        _("company signature"), max_length=80, default="营销部客户中心"
    )
    # New prospects created from inquiries without a project are filed in this district.
    default_region = models.ForeignKey(
        "accounts.Region",
        verbose_name=_("district of new prospects"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("inquiry desk settings")
        verbose_name_plural = _("inquiry desk settings")

    def __str__(self) -> str:
        return str(_("Inquiry desk settings"))


class ContentiousKeyword(models.Model):
    """A word that marks an inquiry contentious (有争议): its replies need a supervisor."""

    word = models.CharField(_("keyword"), max_length=30, unique=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["word"]
        verbose_name = _("contentious keyword")
        verbose_name_plural = _("contentious keywords")

    def __str__(self) -> str:
        return self.word


class ReplyTemplate(models.Model):
    """A reusable reply; {customer}, {number}, {signature} are filled in when inserted."""

    name = models.CharField(_("name"), max_length=60)
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices, blank=True)
    body = models.TextField(_("text"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")

    def __str__(self) -> str:
        return self.name


class MailSecurity(models.TextChoices):
    NONE = "none", _("None")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("SSL/TLS")


class Mailbox(models.Model):
    """An IMAP mailbox polled for customer e-mail (e.g. 行政部邮箱); replies go out over SMTP
    from its address."""

    name = models.CharField(_("name"), max_length=60)
    address = models.EmailField(_("address"))
    host = models.CharField(_("IMAP host"), max_length=120)
    port = models.PositiveIntegerField(_("IMAP port"), default=993)
    security = models.CharField(
        _("security"), max_length=10, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    username = models.CharField(_("user name"), max_length=120)
    password_encrypted = models.TextField(blank=True, editable=False)
    folder = models.CharField(_("folder"), max_length=60, default="INBOX")
    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    # IMAP UIDs are only meaningful within one UIDVALIDITY (RFC 3501 §2.3.1.1).
    uid_validity = models.BigIntegerField(null=True, blank=True, editable=False)
    last_uid = models.BigIntegerField(default=0, editable=False)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


# --- inquiries ---------------------------------------------------------------------------------


class InquiryChannel(models.TextChoices):
    WEB = "web", _("Web form")
    EMAIL = "email", _("E-mail")
    EXTERNAL = "external", _("External website")
    FORUM = "forum", _("Forum")
    SOCIAL = "social", _("Social media")


# Questions found elsewhere and entered by hand; their replies are posted there by staff.
POSTED_CHANNELS = (InquiryChannel.EXTERNAL, InquiryChannel.FORUM, InquiryChannel.SOCIAL)


class InquiryStatus(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    DRAFTING = "drafting", _("Drafting")
    IN_REVIEW = "in_review", _("In review")
    REPLIED = "replied", _("Replied")
    CLOSED = "closed", _("Closed")


# The reply clock runs in these.
OPEN_STATUSES = (
    InquiryStatus.NEW,
    InquiryStatus.ASSIGNED,
    InquiryStatus.DRAFTING,
    InquiryStatus.IN_REVIEW,
)


class Inquiry(models.Model):
    """网上客户问题: one customer question and everything that happened to it."""

    number = models.CharField(_("number"), max_length=30, unique=True)
    channel = models.CharField(_("channel"), max_length=20, choices=InquiryChannel.choices)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="inquiries",
    )
    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inquiries",
    )
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("question"))
    status = models.CharField(
        _("status"), max_length=20, choices=InquiryStatus.choices, default=InquiryStatus.NEW
    )
    # Who asked, as they gave it (the customer record may hold more).
    author_name = models.CharField(_("name"), max_length=60, blank=True)
    author_email = models.EmailField(_("e-mail"), blank=True)
    author_phone = models.CharField(_("phone"), max_length=20, blank=True)
    # Questions found on other sites: where, by whom, when.
    source_site = models.CharField(_("website"), max_length=80, blank=True)
    source_url = models.URLField(_("URL"), max_length=500, blank=True)
    author_handle = models.CharField(_("author's user name"), max_length=80, blank=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    mailbox = models.ForeignKey(
        Mailbox,
        verbose_name=_("mailbox"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inquiries",
    )
    team = models.ForeignKey(
        "service.Team",
        verbose_name=_("responsible team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inquiries",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inquiries",
    )
    contentious = models.BooleanField(_("contentious"), default=False)
    # Why: the keywords that matched, or the person who marked it and their reason.
    contentious_reason = models.CharField(_("why contentious"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"))
    due_at = models.DateTimeField(_("reply due"), null=True, blank=True)
    # The first question's deadline, kept when a follow-up starts a new clock: the record's
    # "answered in time" is about the first reply.
    first_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    warn_at = models.DateTimeField(null=True, blank=True, editable=False)
    warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The clock stops at the first reply sent; a follow-up from the customer starts it again.
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    first_replied_at = models.DateTimeField(_("first replied at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("inquiry")
        verbose_name_plural = _("inquiries")
        permissions = [
            ("view_all_inquiries", _("Can view every inquiry")),
            ("reply_inquiry", _("Can reply to inquiries in the company's name")),
            ("review_reply", _("Can review contentious replies")),
            ("assign_inquiry", _("Can re-route and assign inquiries")),
            ("view_inquiry_stats", _("Can view inquiry statistics")),
            ("export_inquiries", _("Can export the inquiry record")),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="inquiry_status_due"),
            models.Index(fields=["assignee", "status"], name="inquiry_assignee_status"),
            models.Index(fields=["team", "status"], name="inquiry_team_status"),
            models.Index(fields=["received_at"], name="inquiry_received"),
            # The SLA tick reads only open inquiries with a deadline.
            models.Index(
                fields=["due_at"],
                name="inquiry_open_due",
                condition=Q(status__in=["new", "assigned", "drafting", "in_review"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class MessageKind(models.TextChoices):
    QUESTION = "question", _("Customer message")
    REPLY = "reply", _("Reply")
    COMMENT = "comment", _("Internal comment")
    EVENT = "event", _("Event")


class InquiryMessage(models.Model):
    """The inquiry's thread: the customer's messages, the replies sent, staff comments and
    events (routing, status)."""

    inquiry = models.ForeignKey(
        Inquiry, verbose_name=_("inquiry"), on_delete=models.CASCADE, related_name="messages"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=MessageKind.choices)
    body = models.TextField(_("text"), blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # E-mail threading (RFC 5322 §3.6.4); Message-ID is unique per message, when there is one.
    message_id = models.CharField(max_length=250, null=True, blank=True, unique=True)
    in_reply_to = models.CharField(max_length=250, blank=True)
    references = models.TextField(blank=True)
    sender = models.CharField(_("from"), max_length=200, blank=True)
    event = models.CharField(max_length=40, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("inquiry message")
        verbose_name_plural = _("inquiry messages")
        indexes = [models.Index(fields=["inquiry", "created_at"], name="inquiry_message_at")]

    def __str__(self) -> str:
        return f"{self.inquiry.number} {self.get_kind_display()}"


class AttachmentKind(models.TextChoices):
    ATTACHMENT = "attachment", _("Attachment")
    SCREENSHOT = "screenshot", _("Screenshot")


class InquiryAttachment(models.Model):
    """A file of an inquiry, kept as one of the customer's documents (checked, hashed)."""

    inquiry = models.ForeignKey(
        Inquiry, verbose_name=_("inquiry"), on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        InquiryMessage,
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attachments",
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=AttachmentKind.choices, default=AttachmentKind.ATTACHMENT
    )
    document = models.ForeignKey(
        "customers.Document", verbose_name=_("document"), on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("inquiry attachment")
        verbose_name_plural = _("inquiry attachments")

    def __str__(self) -> str:
        return str(self.document)


class SignAs(models.TextChoices):
    # Never in a customer's name.
    COMPANY = "company", _("The company")
    STAFF = "staff", _("The named staff member")


class ReplyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    RETURNED = "returned", _("Returned with comments")
    APPROVED = "approved", _("Approved")
    SENT = "sent", pgettext_lazy("reply status", "Sent")


class Reply(models.Model):
    """A reply being written, reviewed (contentious inquiries) and sent."""

    inquiry = models.ForeignKey(
        Inquiry, verbose_name=_("inquiry"), on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    body = models.TextField(_("reply"))
    sign_as = models.CharField(
        _("sign as"), max_length=20, choices=SignAs.choices, default=SignAs.COMPANY
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ReplyStatus.choices, default=ReplyStatus.DRAFT
    )
    # Review (contentious inquiries): the supervisor, their comments, when.
    needs_review = models.BooleanField(_("needs review"), default=False)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_comment = models.TextField(_("review comments"), blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Replies to questions on other sites: where the reply was posted.
    posted_url = models.URLField(_("URL of the posted reply"), max_length=500, blank=True)
    message = models.OneToOneField(
        InquiryMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reply",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        constraints = [
            # One reply in progress per inquiry: a second draft would race the first.
            models.UniqueConstraint(
                fields=["inquiry"],
                condition=~Q(status="sent"),
                name="reply_one_unsent_per_inquiry",
            )
        ]
        # workload and staff performance: replies sent per person and period
        indexes = [
            models.Index(fields=["sent_by", "sent_at"], name="reply_sender_sent"),
            models.Index(fields=["sent_at"], condition=Q(status="sent"), name="reply_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.inquiry.number} {self.get_status_display()}"


# --- notices -----------------------------------------------------------------------------------


class NoticeStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("notice status", "Draft")
    SCHEDULED = "scheduled", pgettext_lazy("notice status", "Scheduled")
    SENDING = "sending", pgettext_lazy("notice status", "Sending")
    SENT = "sent", pgettext_lazy("notice status", "Sent")
    CANCELLED = "cancelled", pgettext_lazy("notice status", "Cancelled")


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", pgettext_lazy("notice channel", "E-mail")
    SMS = "sms", pgettext_lazy("notice channel", "SMS")
    WECOM = "wecom", pgettext_lazy("notice channel", "WeCom")


class Notice(models.Model):
    """客户通知: an announcement to a chosen set of customers."""

    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("text"))
    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    # Who receives it: {"projects": [ids], "regions": [ids], "tags": [ids],
    # "statuses": [codes], "segment": id}; every given criterion must hold.
    audience = models.JSONField(_("recipients"), default=dict, blank=True)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    is_public = models.BooleanField(_("show on the public notices page"), default=False)
    status = models.CharField(
        _("status"), max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.DRAFT
    )
    scheduled_for = models.DateTimeField(_("send at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        permissions = [("send_notice", _("Can send notices to customers"))]
        indexes = [models.Index(fields=["status", "scheduled_for"], name="notice_due")]

    def __str__(self) -> str:
        return self.title


class NoticeAttachment(models.Model):
    notice = models.ForeignKey(
        Notice, verbose_name=_("notice"), on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="notices/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("notice attachment")
        verbose_name_plural = _("notice attachments")

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("notice delivery", "Pending")
    SENT = "sent", pgettext_lazy("notice delivery", "Sent")
    FAILED = "failed", pgettext_lazy("notice delivery", "Failed")
    NO_ADDRESS = "no_address", pgettext_lazy("notice delivery", "No address")


class NoticeDelivery(models.Model):
    """One recipient × channel of a notice: to whom, where, and what happened."""

    notice = models.ForeignKey(
        Notice, verbose_name=_("notice"), on_delete=models.CASCADE, related_name="deliveries"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    contact = models.ForeignKey(
        "customers.Contact",
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=DeliveryChannel.choices)
    address = models.CharField(_("address"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    error = models.CharField(_("error"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["notice", "pk"]
        verbose_name = _("notice delivery")
        verbose_name_plural = _("notice deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "customer", "channel"], name="notice_delivery_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.notice} → {self.customer} ({self.channel})"
