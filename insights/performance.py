"""Staff performance (绩效评估, the CRM handbook's chapter 7.3): what each person and each team
did in a period, measured from the rows the work left behind.

Who sees whose figures: everyone sees their own; a person's managers see theirs, that is
everyone above them on the `User.supervisor` chain and the head of their department or of a
department above it. A team's or a department's figures are shown to whoever may see the
figures of every one of its members, so a total never reveals more than the rows it adds up.

Every figure of every person in scope comes from a handful of grouped queries (one per source
table), whatever the number of people: the staff, departments and teams are read once and the
scope is worked out in Python.

Definitions (shown next to each figure on the page and in the export):
- Tasks completed: process tasks (workflow) the person completed in the period.
- On-time rate: of those with a due time, the share completed by it.
- Average handling time: from claiming the task (or its creation, when it was never claimed)
  to its completion.
- Tickets resolved: tickets assigned to the person resolved in the period.
- First-response time: from a ticket's creation to its first response, for the person's tickets
  first answered in the period.
- CSAT: the average satisfaction score (1–5) of surveys about the person's tickets answered in
  the period.
- Revisits done: scheduled revisits (回访) the person completed in the period.
- Inquiry replies sent: replies to online inquiries the person sent in the period; within the
  deadline: of the inquiries whose first reply they sent, the share sent by the first question's
  reply deadline (an inquiry without a deadline counts as in time, as on the inquiry statistics).

A team's or department's figures add up its members' rows: work a member did counts for each
team they belong to.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, User
from inquiries.models import Reply, ReplyStatus
from service.models import RevisitStatus, ScheduledRevisit, Survey, Team, TeamMember, Ticket
from workflow.models import Task, TaskStatus

# (key, label, definition): the figures in the order the page and the export show them.
DEFINITIONS: list[tuple[str, Any, Any]] = [
    (
        "tasks_completed",
        _("Tasks completed"),
        _("Process tasks the person completed in the period."),
    ),
    (
        "task_on_time_rate",
        _("Tasks on time"),
        _("Of the completed tasks that had a due time, the share completed by it."),
    ),
    (
        "avg_handling_hours",
        _("Average handling time"),
        _(
            "From claiming a task (or its creation, if nobody claimed it) to its completion, "
            "averaged over the tasks completed in the period."
        ),
    ),
    (
        "tickets_resolved",
        _("Tickets resolved"),
        _("Tickets assigned to the person that were resolved in the period."),
    ),
    (
        "avg_first_response_hours",
        _("First-response time"),
        _(
            "From a ticket's creation to its first response, averaged over the person's "
            "tickets first answered in the period."
        ),
    ),
    (
        "csat",
        _("CSAT"),
        _(
            "Average satisfaction score (1–5) of the surveys about the person's tickets "
            "answered in the period."
        ),
    ),
    (
        "revisits_done",
        _("Revisits done"),
        _("Scheduled revisits the person completed in the period."),
    ),
    (
        "replies_sent",
        _("Inquiry replies sent"),
        _("Replies to online inquiries the person sent in the period."),
    ),
    (
        "reply_on_time_rate",
        _("Replies within the deadline"),
        _(
            "Of the inquiries whose first reply the person sent in the period, the share "
            "answered by the first question's reply deadline (no deadline counts as in time)."
        ),
    ),
]


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the local time zone."""

    first_day: dt.date
    last_day: dt.date

    @classmethod
    def this_month(cls, today: dt.date) -> Period:
        return cls(first_day=today.replace(day=1), last_day=today)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        zone = timezone.get_current_timezone()
        start = dt.datetime.combine(self.first_day, dt.time.min, tzinfo=zone)
        end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        return start, end


def _seconds(value: dt.timedelta | None) -> float:
    return value.total_seconds() if value is not None else 0.0


def _rate(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


@dataclass
class Figures:
    """The counts and sums behind one person's (or team's) figures; the shown figures are
    derived from them, so that a team's figures are exact totals, not averages of averages."""

    tasks_completed: int = 0
    tasks_with_due: int = 0
    tasks_on_time: int = 0
    handling_seconds: float = 0.0
    tickets_resolved: int = 0
    tickets_responded: int = 0
    response_seconds: float = 0.0
    csat_count: int = 0
    csat_sum: int = 0
    revisits_done: int = 0
    replies_sent: int = 0
    first_replies: int = 0
    first_replies_on_time: int = 0

    def add(self, other: Figures) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def task_on_time_rate(self) -> float | None:
        return _rate(self.tasks_on_time, self.tasks_with_due)

    @property
    def avg_handling_hours(self) -> float | None:
        if not self.tasks_completed:
            return None
        return self.handling_seconds / self.tasks_completed / 3600

    @property
    def avg_first_response_hours(self) -> float | None:
        if not self.tickets_responded:
            return None
        return self.response_seconds / self.tickets_responded / 3600

    @property
    def csat(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None

    @property
    def reply_on_time_rate(self) -> float | None:
        return _rate(self.first_replies_on_time, self.first_replies)


@dataclass
class Subject:
    """A person, a service team or a department whose figures the viewer may see."""

    key: str  # "u12", "t3", "d5": the page's selector value
    kind: str  # "person", "team", "department"
    label: str
    member_ids: list[int]
    figures: Figures = field(default_factory=Figures)

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.kind])


KIND_LABELS = {"person": _("Person"), "team": _("Service team"), "department": _("Department")}


@dataclass
class Scope:
    """Everyone and every group whose figures one viewer may see, the viewer first."""

    viewer_key: str
    people: list[Subject]
    teams: list[Subject]
    departments: list[Subject]

    def subjects(self) -> list[Subject]:
        return [*self.people, *self.teams, *self.departments]

    def get(self, key: str) -> Subject | None:
        for subject in self.subjects():
            if subject.key == key:
                return subject
        return None

    @property
    def manages_others(self) -> bool:
        return len(self.people) > 1


def _person_label(row: Mapping[str, Any]) -> str:
    full = f"{row['last_name']}{row['first_name']}".strip()
    return str(row["display_name"] or full or row["username"])


def performance_scope(viewer: User) -> Scope:
    """Whose figures `viewer` may see (three queries: staff, departments, team members)."""
    staff = {
        row["id"]: row
        for row in User.objects.filter(Q(is_active=True) | Q(pk=viewer.pk)).values(
            "id",
            "username",
            "display_name",
            "first_name",
            "last_name",
            "supervisor_id",
            "department_id",
        )
    }
    departments = list(Department.objects.values("id", "name", "parent_id", "head_id"))
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept in departments:
        children[dept["parent_id"]].append(dept["id"])

    def subtree(dept_id: int) -> set[int]:
        found, stack = set(), [dept_id]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(children.get(current, []))
        return found

    # Departments the viewer heads, with every department below them.
    managed_depts: set[int] = set()
    for dept in departments:
        if dept["head_id"] == viewer.pk:
            managed_depts |= subtree(dept["id"])

    # People below the viewer on the supervisor chain (guarded against cycles).
    reports: dict[int, list[int]] = defaultdict(list)
    for row in staff.values():
        if row["supervisor_id"] is not None:
            reports[row["supervisor_id"]].append(row["id"])
    visible: set[int] = {viewer.pk}
    stack = list(reports.get(viewer.pk, []))
    while stack:
        current = stack.pop()
        if current not in visible:
            visible.add(current)
            stack.extend(reports.get(current, []))
    visible |= {uid for uid, row in staff.items() if row["department_id"] in managed_depts}

    people = [
        Subject(key=f"u{uid}", kind="person", label=_person_label(staff[uid]), member_ids=[uid])
        for uid in sorted(visible, key=lambda uid: (uid != viewer.pk, _person_label(staff[uid])))
        if uid in staff
    ]

    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in TeamMember.objects.filter(team__is_active=True).values_list(
        "team_id", "user_id"
    ):
        if user_id in staff:
            members[team_id].append(user_id)
    team_names = dict(Team.objects.filter(pk__in=list(members)).values_list("id", "name"))
    teams = [
        Subject(key=f"t{tid}", kind="team", label=team_names[tid], member_ids=sorted(ids))
        for tid, ids in members.items()
        if tid in team_names and set(ids) <= visible
    ]
    teams.sort(key=lambda s: s.label)

    dept_members: dict[int, list[int]] = defaultdict(list)
    for uid, row in staff.items():
        if row["department_id"] is not None:
            dept_members[row["department_id"]].append(uid)
    dept_subjects = []
    for dept in departments:
        ids = sorted({uid for d in subtree(dept["id"]) for uid in dept_members.get(d, [])})
        if ids and set(ids) <= visible:
            dept_subjects.append(
                Subject(key=f"d{dept['id']}", kind="department", label=dept["name"], member_ids=ids)
            )
    return Scope(viewer_key=f"u{viewer.pk}", people=people, teams=teams, departments=dept_subjects)


def _duration(end: str, start: Any) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - start, output_field=DurationField())


def person_figures(user_ids: Iterable[int], period: Period) -> dict[int, Figures]:
    """Each person's figures for the period: five grouped queries, whatever the number of
    people."""
    ids = sorted(set(user_ids))
    result: dict[int, Figures] = {uid: Figures() for uid in ids}
    if not ids:
        return result
    start, end = period.bounds()

    tasks = (
        Task.objects.filter(
            status=TaskStatus.COMPLETED,
            completed_by_id__in=ids,
            completed_at__gte=start,
            completed_at__lt=end,
        )
        .order_by()
        .values("completed_by_id")
        .annotate(
            n=Count("id"),
            with_due=Count("id", filter=Q(due_at__isnull=False)),
            on_time=Count("id", filter=Q(completed_at__lte=F("due_at"))),
            handling=Sum(_duration("completed_at", Coalesce(F("claimed_at"), F("created_at")))),
        )
    )
    for row in tasks:
        figures = result[row["completed_by_id"]]
        figures.tasks_completed = row["n"]
        figures.tasks_with_due = row["with_due"]
        figures.tasks_on_time = row["on_time"]
        figures.handling_seconds = _seconds(row["handling"])

    resolved = Q(resolved_at__gte=start, resolved_at__lt=end)
    responded = Q(first_responded_at__gte=start, first_responded_at__lt=end)
    tickets = (
        Ticket.objects.filter(resolved | responded, assignee_id__in=ids)
        .order_by()
        .values("assignee_id")
        .annotate(
            resolved=Count("id", filter=resolved),
            responded=Count("id", filter=responded),
            response=Sum(_duration("first_responded_at", F("created_at")), filter=responded),
        )
    )
    for row in tickets:
        figures = result[row["assignee_id"]]
        figures.tickets_resolved = row["resolved"]
        figures.tickets_responded = row["responded"]
        figures.response_seconds = _seconds(row["response"])

    surveys = (
        Survey.objects.filter(
            ticket__assignee_id__in=ids,
            answered_at__gte=start,
            answered_at__lt=end,
            csat__isnull=False,
        )
        .order_by()
        .values("ticket__assignee_id")
        .annotate(n=Count("id"), total=Sum("csat"))
    )
    for row in surveys:
        figures = result[row["ticket__assignee_id"]]
        figures.csat_count = row["n"]
        figures.csat_sum = row["total"] or 0

    revisits = (
        ScheduledRevisit.objects.filter(
            status=RevisitStatus.DONE, done_by_id__in=ids, done_at__gte=start, done_at__lt=end
        )
        .order_by()
        .values("done_by_id")
        .annotate(n=Count("id"))
    )
    for row in revisits:
        result[row["done_by_id"]].revisits_done = row["n"]

    first = Q(sent_at=F("inquiry__first_replied_at"))
    deadline = Coalesce(F("inquiry__first_due_at"), F("inquiry__due_at"))
    replies = (
        Reply.objects.filter(
            status=ReplyStatus.SENT, sent_by_id__in=ids, sent_at__gte=start, sent_at__lt=end
        )
        .order_by()
        .values("sent_by_id")
        .annotate(
            n=Count("id"),
            first=Count("id", filter=first),
            first_on_time=Count(
                "id",
                filter=first
                & (
                    Q(inquiry__first_due_at__isnull=True, inquiry__due_at__isnull=True)
                    | Q(sent_at__lte=deadline)
                ),
            ),
        )
    )
    for row in replies:
        figures = result[row["sent_by_id"]]
        figures.replies_sent = row["n"]
        figures.first_replies = row["first"]
        figures.first_replies_on_time = row["first_on_time"]
    return result


def scope_figures(scope: Scope, period: Period) -> Scope:
    """Fill in the figures of every subject in `scope` (people, then their teams and
    departments as totals of their members) and return it."""
    by_person = person_figures((s.member_ids[0] for s in scope.people), period)
    for subject in scope.subjects():
        total = Figures()
        for uid in subject.member_ids:
            if uid in by_person:
                total.add(by_person[uid])
        subject.figures = total
    return scope
