"""Care rules (关怀规则): find the customers who need a care action today and create one care task
for each occurrence of a rule.

Five rules, each switched on and tuned in CareSettings:

- contract anniversary: `anniversary_days_before` days before each anniversary of the day the
  customer's first service contract was signed (occurrence: customer × year);
- warranty ending: a collector's warranty ends within `warranty_days_before` days (occurrence:
  collector × warranty end date);
- no contact: no ticket, done revisit, answered survey or inquiry for `no_contact_days` days — the
  segment condition "no contact for" (occurrence: customer × day of the last contact, so a new
  silence after a new contact fires again);
- low survey score: a survey answered with a satisfaction score at or below `low_score_max` in
  the last LOW_SCORE_LOOKBACK_DAYS days (occurrence: survey);
- repeated faults: at least `faults_count` device faults within `faults_days` days that no
  earlier repeated-faults task of the customer already covers (occurrence: customer × first
  fault of the episode, so one episode fires once, and faults after its task start a new one).

Only customers in service (status active, not merged) get tasks. A task goes to the customer's
account manager; a customer without an (active) one leaves it unassigned, in the pool of the
customer's department.

Every rule is a few set-based queries that return only the firing rows — never a query per
customer — and tasks are written with bulk_create(ignore_conflicts=True) on the unique
occurrence, after leaving out the occurrences that exist already (read in chunks through the
unique index). Running the rules twice at the same moment creates nothing the second time."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, ExtractDay, ExtractMonth, Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from audit.models import AuditEntry
from audit.services import audit_record
from care.models import CareKind, CareSettings, CareTask
from customers.models import Customer, CustomerStatus
from customers.segments import CONDITION_TYPES

# Surveys answered longer ago than this do not start a task (the first run after switching the
# rule on reaches back only this far).
LOW_SCORE_LOOKBACK_DAYS = 30
# The daily run happens on the first scheduler tick at or after this local hour.
RUN_HOUR = 6
RUN_ACTION = "care.rules_run"
CHUNK = 1000


@dataclass
class Candidate:
    customer_id: int
    owner_id: int | None
    occurrence: str
    title: str
    detail: str
    due_on: dt.date


@dataclass
class RulesRunResult:
    created: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.created.values())


def _active_customers(prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": CustomerStatus.ACTIVE, f"{prefix}merged_into__isnull": True})


def _chunks(items: list[Candidate], size: int = CHUNK) -> Iterator[list[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _inactive_user_ids() -> set[int]:
    return set(User.objects.filter(is_active=False).values_list("pk", flat=True))


def _store(kind: str, candidates: Iterable[Candidate], now: dt.datetime) -> int:
    """Create the tasks of the occurrences not seen before; returns how many."""
    inactive = _inactive_user_ids()
    created = 0
    for chunk in _chunks(list(candidates)):
        seen = set(
            CareTask.objects.filter(occurrence__in=[c.occurrence for c in chunk]).values_list(
                "occurrence", flat=True
            )
        )
        fresh: dict[str, Candidate] = {}
        for c in chunk:
            if c.occurrence not in seen:
                fresh.setdefault(c.occurrence, c)
        CareTask.objects.bulk_create(
            [
                CareTask(
                    customer_id=c.customer_id,
                    kind=kind,
                    title=c.title[:200],
                    detail=c.detail,
                    assignee_id=c.owner_id if c.owner_id not in inactive else None,
                    due_on=c.due_on,
                    occurrence=c.occurrence,
                    created_at=now,
                )
                for c in fresh.values()
            ],
            ignore_conflicts=True,
        )
        created += len(fresh)
    return created


# --- the rules -------------------------------------------------------------------------------


def _anniversaries(today: dt.date, days_before: int) -> dict[int, dt.date]:
    """month × 100 + day → the anniversary date in [today, today + days_before] that falls on it
    (29 February, in a year without it, is celebrated on the 28th)."""
    found: dict[int, dt.date] = {}
    for offset in range(days_before + 1):
        day = today + dt.timedelta(days=offset)
        found.setdefault(day.month * 100 + day.day, day)
        if day.month == 2 and day.day == 28 and not _is_leap(day.year):
            found.setdefault(229, day)
    return found


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def anniversary_candidates(cs: CareSettings, today: dt.date) -> list[Candidate]:
    from onboarding.models import ServiceContract

    dates = _anniversaries(today, cs.anniversary_days_before)
    rows = (
        ServiceContract.objects.filter(_active_customers("customer__"))
        .order_by()
        .values("customer_id", "customer__owner_id")
        .annotate(first=Min("signed_on"))
        .annotate(md=ExtractMonth("first") * Value(100) + ExtractDay("first"))
        .filter(md__in=sorted(dates))
        .values_list("customer_id", "customer__owner_id", "first", "md")
    )
    found = []
    for customer_id, owner_id, first, md in rows:
        day = dates[md]
        years = day.year - first.year
        if years < 1:
            continue
        found.append(
            Candidate(
                customer_id=customer_id,
                owner_id=owner_id,
                occurrence=f"anniversary:{customer_id}:{day.year}",
                title=_("Contract anniversary: %(years)d years on %(day)s")
                % {"years": years, "day": day.isoformat()},
                detail=_(
                    "The customer's first service contract was signed on %(signed)s. Greet the "
                    "customer before the anniversary."
                )
                % {"signed": first.isoformat()},
                due_on=day,
            )
        )
    return found


def warranty_candidates(cs: CareSettings, today: dt.date) -> list[Candidate]:
    from devices.models import Collector, CollectorStatus

    due = today + dt.timedelta(days=cs.task_due_days)
    rows = (
        Collector.objects.filter(
            _active_customers("customer__"),
            warranty_ends_on__gte=today,
            warranty_ends_on__lte=today + dt.timedelta(days=cs.warranty_days_before),
        )
        .exclude(status__in=[CollectorStatus.RETIRED, CollectorStatus.IN_STOCK])
        .order_by()
        .values_list("pk", "serial_number", "warranty_ends_on", "customer_id", "customer__owner_id")
    )
    return [
        Candidate(
            customer_id=customer_id,
            owner_id=owner_id,
            occurrence=f"warranty:{pk}:{ends}",
            title=_("Warranty of collector %(serial)s ends on %(day)s")
            % {"serial": serial, "day": ends},
            detail=_(
                "Offer the customer an extended warranty or a maintenance contract before the "
                "warranty ends."
            ),
            due_on=due,
        )
        for pk, serial, ends, customer_id, owner_id in rows
    ]


def _latest(qs: QuerySet[Any], column: str) -> Subquery:
    # ORDER BY … DESC LIMIT 1 rather than MAX(): one probe of the (customer, date) index.
    return Subquery(
        qs.filter(customer_id=OuterRef("pk"), **{f"{column}__isnull": False})
        .order_by(f"-{column}")
        .values(column)[:1],
        output_field=DateTimeField(),
    )


def last_contact_expression() -> Greatest:
    """The moment of the customer's last contact by the definition of the segment condition
    "no contact for" (customers.segment_facts): a ticket opened, a revisit done, a survey
    answered or an inquiry received; the customer's creation when there is none."""
    from django.apps import apps

    from service.models import ScheduledRevisit, Survey, Ticket

    facts = [
        _latest(Ticket.objects.all(), "created_at"),
        _latest(ScheduledRevisit.objects.filter(status="done"), "done_at"),
        _latest(Survey.objects.filter(answered_at__isnull=False), "answered_at"),
    ]
    if apps.is_installed("inquiries"):
        from inquiries.models import Inquiry

        facts.append(_latest(Inquiry.objects.all(), "received_at"))
    # Coalesce each: SQLite's max() of a NULL is NULL (PostgreSQL's GREATEST skips NULLs).
    return Greatest(*(Coalesce(fact, F("created_at")) for fact in facts), F("created_at"))


def no_contact_candidates(cs: CareSettings, today: dt.date) -> list[Candidate]:
    silent = CONDITION_TYPES["no_contact"].build([cs.no_contact_days])
    rows = (
        Customer.objects.filter(_active_customers(), silent)
        .order_by()
        .annotate(last_contact=last_contact_expression())
        .values_list("pk", "owner_id", "last_contact")
    )
    due = today + dt.timedelta(days=cs.task_due_days)
    found = []
    for pk, owner_id, last in rows:
        day = timezone.localdate(last) if timezone.is_aware(last) else last.date()
        found.append(
            Candidate(
                customer_id=pk,
                owner_id=owner_id,
                occurrence=f"no_contact:{pk}:{day.isoformat()}",
                title=_("No contact since %(day)s") % {"day": day.isoformat()},
                detail=_(
                    "No ticket, revisit, survey answer or inquiry for %(days)d days. Call or "
                    "visit the customer."
                )
                % {"days": cs.no_contact_days},
                due_on=due,
            )
        )
    return found


def low_score_candidates(cs: CareSettings, today: dt.date, now: dt.datetime) -> list[Candidate]:
    from service.models import Survey

    rows = (
        Survey.objects.filter(
            _active_customers("customer__"),
            answered_at__gte=now - dt.timedelta(days=LOW_SCORE_LOOKBACK_DAYS),
            csat__isnull=False,
            csat__lte=cs.low_score_max,
        )
        .order_by()
        .values_list("pk", "csat", "answered_at", "comment", "customer_id", "customer__owner_id")
    )
    due = today + dt.timedelta(days=cs.task_due_days)
    return [
        Candidate(
            customer_id=customer_id,
            owner_id=owner_id,
            occurrence=f"low_score:{pk}",
            title=_("Low satisfaction score %(score)d on %(day)s")
            % {"score": csat, "day": timezone.localdate(answered).isoformat()},
            detail=(
                _("Find out what went wrong and what would put it right.")
                + (f"\n{_('Comment')}: {comment}" if comment else "")
            ),
            due_on=due,
        )
        for pk, csat, answered, comment, customer_id, owner_id in rows
    ]


def repeated_fault_candidates(
    cs: CareSettings, today: dt.date, now: dt.datetime
) -> list[Candidate]:
    from devices.models import Fault

    covered = CareTask.objects.filter(
        customer_id=OuterRef("collector__customer_id"),
        kind=CareKind.REPEATED_FAULTS,
        created_at__gte=OuterRef("opened_at"),
    )
    rows = (
        Fault.objects.filter(
            _active_customers("collector__customer__"),
            opened_at__gte=now - dt.timedelta(days=cs.faults_days),
            opened_at__lte=now,
        )
        .exclude(Exists(covered))
        .order_by()
        .values("collector__customer_id", "collector__customer__owner_id")
        .annotate(n=Count("id", output_field=IntegerField()), first=Min("id"))
        .filter(n__gte=cs.faults_count)
        .values_list("collector__customer_id", "collector__customer__owner_id", "n", "first")
    )
    due = today + dt.timedelta(days=cs.task_due_days)
    return [
        Candidate(
            customer_id=customer_id,
            owner_id=owner_id,
            occurrence=f"repeated_faults:{customer_id}:{first}",
            title=_("%(n)d device faults within %(days)d days") % {"n": n, "days": cs.faults_days},
            detail=_(
                "The customer's collectors reported repeated faults. Look into the cause with "
                "network operations and tell the customer what is being done."
            ),
            due_on=due,
        )
        for customer_id, owner_id, n, first in rows
    ]


# --- the run ---------------------------------------------------------------------------------


def care_rules_due(now: dt.datetime) -> bool:
    """Whether the daily run is due: at or after RUN_HOUR local time, and not run yet today."""
    local = timezone.localtime(now)
    if local.hour < RUN_HOUR:
        return False
    last = (
        AuditEntry.objects.filter(action=RUN_ACTION)
        .order_by("-id")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return last is None or timezone.localtime(last).date() < local.date()


def care_rules_run(
    *, now: dt.datetime | None = None, only_if_due: bool = False
) -> RulesRunResult | None:
    """Run every switched-on rule once and create the tasks of new occurrences (one
    transaction; the settings row is locked, so two runs at once take turns). With
    `only_if_due` (the scheduler's call) nothing happens unless the daily run is due."""
    started = time.monotonic()
    now = now or timezone.now()
    today = timezone.localdate(now)
    CareSettings.current()
    with transaction.atomic(), translation.override(django_settings.LANGUAGE_CODE):
        cs = CareSettings.objects.select_for_update().order_by("id").first()
        assert cs is not None
        if only_if_due and not care_rules_due(now):
            return None
        result = RulesRunResult()
        rules: list[tuple[str, bool, Any]] = [
            (
                CareKind.ANNIVERSARY,
                cs.anniversary_enabled,
                lambda: anniversary_candidates(cs, today),
            ),
            (CareKind.WARRANTY, cs.warranty_enabled, lambda: warranty_candidates(cs, today)),
            (CareKind.NO_CONTACT, cs.no_contact_enabled, lambda: no_contact_candidates(cs, today)),
            (
                CareKind.LOW_SCORE,
                cs.low_score_enabled,
                lambda: low_score_candidates(cs, today, now),
            ),
            (
                CareKind.REPEATED_FAULTS,
                cs.faults_enabled,
                lambda: repeated_fault_candidates(cs, today, now),
            ),
        ]
        for kind, enabled, find in rules:
            if enabled:
                result.created[str(kind)] = _store(kind, find(), now)
        result.seconds = round(time.monotonic() - started, 2)
        audit_record(
            actor=None,
            action=RUN_ACTION,
            obj=cs,
            changes={"created": [None, result.created], "seconds": [None, result.seconds]},
        )
    return result
