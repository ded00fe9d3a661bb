"""Installation defaults of the after-sales service: the SLA policies, revisit template and
service teams a fire-monitoring operator starts with.

`service_defaults_ensure()` runs after every `migrate` (service.apps). Each kind of default is
created only while its table is empty: a fresh installation gets them all, and whatever an
administrator does afterwards stays as they left it — an edited policy is not put back, a
deleted team is not re-created, a later migrate adds nothing. (Deleting *every* policy, or
every team, does bring the defaults back at the next migrate; to run without SLAs, deactivate
the policies instead.) Each row created is audited, with no actor, as the administration pages
audit theirs.

Durations use the business calendar's syntax (workflow.calendar.parse_duration): work hours
and workdays pause overnight, at weekends and on holidays; "hours" and "minutes" run around the
clock. Urgent faults (a building whose fire alarm reaches nobody) are handled 24×7, so their
targets are in calendar time. `warn_before` applies to both deadlines, so it is shorter than
the first-response target: a ticket is not "at risk" the moment it is opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import Model

from accounts.models import Department
from audit.models import AuditEntry
from audit.services import audit_record, changes_between, field_values
from service.models import (
    AssignmentRule,
    Priority,
    RevisitTemplate,
    SlaPolicy,
    Team,
    TicketKind,
)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    kind: str
    priority: str
    first_response: str
    resolution: str
    warn_before: str


# Most specific first; blank kind / priority match any (service.tickets.policy_for).
SLA_POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec("紧急故障（7×24 小时）", TicketKind.FAULT, Priority.URGENT,
               "30 minutes", "8 hours", "15 minutes"),
    PolicySpec("重要故障", TicketKind.FAULT, Priority.HIGH,
               "2 work hours", "2 workdays", "1 work hours"),
    PolicySpec("一般故障", TicketKind.FAULT, "", "4 work hours", "3 workdays", "2 work hours"),
    PolicySpec("投诉", TicketKind.COMPLAINT, "", "4 work hours", "5 workdays", "2 work hours"),
    PolicySpec("咨询", TicketKind.CONSULTATION, "", "4 work hours", "2 workdays", "1 work hours"),
    PolicySpec("回访", TicketKind.REVISIT, "", "2 workdays", "5 workdays", "1 workdays"),
    PolicySpec("固件升级", TicketKind.UPGRADE, "", "2 workdays", "5 workdays", "1 workdays"),
    PolicySpec("通用", "", "", "1 workdays", "5 workdays", "2 work hours"),
)  # fmt: skip

# The standard revisits of the seed's one year of after-sales service.
REVISIT_TEMPLATE = ("标准回访（1、3、6、12 个月）", "1,3,6,12")


@dataclass(frozen=True)
class TeamSpec:
    code: str
    name: str
    department_code: str
    rule: str


# The two teams service.tickets.default_team routes to, without members (an administrator, or
# the demo, adds them).
TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("after-sales", "工程部售后组", "engineering", AssignmentRule.LEAST_OPEN),
    TeamSpec("customer-centre", "客户中心", "customer_centre", AssignmentRule.ROUND_ROBIN),
)

_TABLES = (SlaPolicy, RevisitTemplate, Team, Department, AuditEntry)


def _tables_exist() -> bool:
    """Whether migrate got as far as the tables the defaults need (`migrate service 0001` or a
    database being created runs this handler before they exist)."""
    try:
        with connection.cursor() as cursor:
            names = set(connection.introspection.table_names(cursor))
    except DatabaseError:
        return False
    return {m._meta.db_table for m in _TABLES} <= names


def _create(obj: Model) -> None:
    obj.save()
    name = obj._meta.model_name
    audit_record(
        actor=None, action=f"{name}.create", obj=obj, changes=changes_between({}, field_values(obj))
    )


def service_defaults_ensure() -> int:
    """Create the defaults whose table is empty; returns how many rows were created."""
    if not _tables_exist():
        return 0
    created = 0
    with transaction.atomic():
        if not SlaPolicy.objects.exists():
            for spec in SLA_POLICIES:
                _create(
                    SlaPolicy(
                        name=spec.name,
                        kind=spec.kind,
                        priority=spec.priority,
                        first_response=spec.first_response,
                        resolution=spec.resolution,
                        warn_before=spec.warn_before,
                    )
                )
                created += 1
        if not RevisitTemplate.objects.exists():
            name, months = REVISIT_TEMPLATE
            _create(RevisitTemplate(name=name, months=months, is_default=True))
            created += 1
        if not Team.objects.exists():
            departments = {d.code: d for d in Department.objects.all()}
            for team in TEAMS:
                _create(
                    Team(
                        code=team.code,
                        name=team.name,
                        department=departments.get(team.department_code),
                        rule=team.rule,
                    )
                )
                created += 1
    return created
