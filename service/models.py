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
