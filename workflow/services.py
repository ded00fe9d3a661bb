"""Every write of the process engine: definitions, cases, tasks, holds, comments, SLA."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Region, User
from accounts.roles import ROLES_BY_CODE
from audit.services import audit_record
from customers.models import Customer, Document, DocumentKind
from ruwang.db import prepared_statements
from workflow import bpmn, conditions, notifications, registry
from workflow.business_calendar import current_calendar
from workflow.calendar import duration_ok, parse_duration
from workflow.engine import (
    EndReached,
    Engine,
    EngineError,
    Result,
    ServiceCalled,
    State,
    TaskOpened,
)
from workflow.engine import Token as EngineToken
from workflow.graph import Assignment, ProcessGraph, TaskSpec
from workflow.models import (
    OPEN_TASK_STATUSES,
    Case,
    CaseComment,
    CaseEvent,
    CaseStatus,
    DefinitionVersion,
    ProcessDefinition,
    Task,
    TaskStatus,
    VersionStatus,
)


class TaskConflict(Exception):
    """The task was completed, returned or cancelled by someone else first."""


# --- definitions -----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _graph_for(xml_digest: str, xml: str) -> ProcessGraph:
    return bpmn.parse(xml)


def version_graph(version: DefinitionVersion) -> ProcessGraph:
    """The parsed graph of a version (parsed once per process and XML text)."""
    digest = hashlib.sha256(version.xml.encode()).hexdigest()
    return _graph_for(digest, version.xml)


# Graphs of the versions cases run, by version id, so a step does not read the XML again. Only
# versions that are no longer drafts (their XML never changes again) and only once the reading
# transaction has committed (a committed row's id is never given to another row).
_CASE_GRAPHS: dict[int, ProcessGraph] = {}


def case_graph(case: Case) -> ProcessGraph:
    """The process graph of the version this case runs."""
    graph = _CASE_GRAPHS.get(case.version_id)
    if graph is not None:
        return graph
    version = case.version
    graph = version_graph(version)
    if version.status != VersionStatus.DRAFT:
        version_id = version.pk

        def remember() -> None:
            if len(_CASE_GRAPHS) >= 256:
                _CASE_GRAPHS.clear()
            _CASE_GRAPHS[version_id] = graph

        transaction.on_commit(remember)
    return graph


def forget_case_graphs() -> None:
    _CASE_GRAPHS.clear()


def definition_problems(xml: str) -> list[dict[str, str]]:
    """Every reason why this XML cannot be published, as {"element_id", "message"} rows."""
    try:
        graph = bpmn.parse(xml)
    except bpmn.BpmnError as exc:
        return [{"element_id": p.element_id, "message": p.message} for p in exc.errors]
    problems = bpmn.validate(
        graph,
        handlers=list(registry.HANDLERS),
        form_fields=registry.form_fields(),
        roles=list(ROLES_BY_CODE),
        data_names=registry.data_names(),
        duration_ok=duration_ok,
        users=list(User.objects.filter(is_active=True).values_list("username", flat=True)),
        attachment_kinds=list(DocumentKind.values),
    )
    return [{"element_id": p.element_id, "message": p.message} for p in problems]


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(perm)


@transaction.atomic
def definition_upload(*, actor: User | None, xml: str, description: str = "") -> DefinitionVersion:
    """A new draft version of the process the XML describes (created when new)."""
    _require(actor, "workflow.change_processdefinition")
    try:
        graph = bpmn.parse(xml)
    except bpmn.BpmnError as exc:
        raise ValidationError([f"{p.element_id}: {p.message}" for p in exc.errors]) from exc
    key = graph.id.replace("_", "-").lower()[:60]
    definition, created = ProcessDefinition.objects.get_or_create(
        key=key, defaults={"name": graph.name or graph.id, "description": description}
    )
    if not created and graph.name and definition.name != graph.name:
        definition.name = graph.name
        definition.save(update_fields=["name"])
    last = definition.versions.order_by("-number").first()
    version = DefinitionVersion.objects.create(
        definition=definition,
        number=(last.number + 1) if last else 1,
        xml=xml,
        problems=definition_problems(xml),
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="process.upload",
        obj=version,
        changes={"version": [None, version.number], "problems": [None, len(version.problems)]},
    )
    return version


@transaction.atomic
def version_save(*, actor: User | None, version: DefinitionVersion, xml: str) -> DefinitionVersion:
    """Save the edited XML of a draft (a published version is never changed: edit a copy)."""
    _require(actor, "workflow.change_processdefinition")
    version = DefinitionVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ValidationError(_("Only a draft can be edited; start a new version instead."))
    try:
        graph = bpmn.parse(xml)
    except bpmn.BpmnError:
        graph = None
    if graph is not None and graph.id.replace("_", "-").lower()[:60] != version.definition.key:
        raise ValidationError(
            _("The process id must stay %(key)s.") % {"key": version.definition.key}
        )
    version.xml = xml
    version.problems = definition_problems(xml)
    version.save(update_fields=["xml", "problems"])
    audit_record(
        actor=actor,
        action="process.edit",
        obj=version,
        changes={"problems": [None, len(version.problems)]},
    )
    return version


@transaction.atomic
def version_copy(*, actor: User | None, version: DefinitionVersion) -> DefinitionVersion:
    """A new draft starting from this version's diagram."""
    _require(actor, "workflow.change_processdefinition")
    definition = ProcessDefinition.objects.select_for_update().get(pk=version.definition_id)
    last = definition.versions.order_by("-number").first()
    assert last is not None
    copy = DefinitionVersion.objects.create(
        definition=definition,
        number=last.number + 1,
        xml=version.xml,
        problems=definition_problems(version.xml),
        created_by=actor,
    )
    audit_record(
        actor=actor, action="process.copy", obj=copy, changes={"from": [None, version.number]}
    )
    return copy


@transaction.atomic
def version_publish(*, actor: User | None, version: DefinitionVersion) -> DefinitionVersion:
    """Publish a draft after validation; new cases use it, running cases keep theirs."""
    _require(actor, "workflow.publish_processdefinition")
    version = DefinitionVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ValidationError(_("This version is already published or retired."))
    problems = definition_problems(version.xml)
    version.problems = problems
    if problems:
        version.save(update_fields=["problems"])
        raise ValidationError([f"{p['element_id']}: {p['message']}" for p in problems])
    DefinitionVersion.objects.filter(
        definition=version.definition, status=VersionStatus.PUBLISHED
    ).update(status=VersionStatus.RETIRED)
    version.status = VersionStatus.PUBLISHED
    version.published_by = actor
    version.published_at = timezone.now()
    version.save(update_fields=["status", "problems", "published_by", "published_at"])
    audit_record(actor=actor, action="process.publish", obj=version)
    return version


def published_version(key: str) -> DefinitionVersion:
    version = (
        DefinitionVersion.objects.filter(definition__key=key, status=VersionStatus.PUBLISHED)
        .select_related("definition")
        .order_by("-number")
        .first()
    )
    if version is None:
        raise ValidationError(_("The process %(key)s has no published version.") % {"key": key})
    return version


# --- case data --------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Form values as JSON: dates as ISO text, decimals as numbers, records as their ids."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, models.Model):
        return value.pk
    if hasattr(value, "read"):  # an uploaded file is stored as a document, not as data
        return None
    return value


def customer_facts(customer: Customer) -> dict[str, Any]:
    """What conditions may read about the case's customer (`customer.category == "key_unit"`)."""
    region = customer.region
    codes = [region.code] if region else []
    parent = region.parent if region else None
    while parent is not None:
        codes.append(parent.code)
        parent = parent.parent
    return {
        "kind": customer.kind,
        "category": customer.category,
        "status": customer.status,
        "industry": customer.industry,
        "region_codes": codes,
        "tags": [t.name for t in customer.tags.all()],
    }


def _condition_data(case: Case, data: Mapping[str, Any]) -> dict[str, Any]:
    return {**data, "customer": customer_facts(case.customer)}


# --- running the engine -------------------------------------------------------------------------


def _engine(case: Case, actor: User | None) -> Engine:
    graph = case_graph(case)

    def evaluate(text: str, data: Mapping[str, Any]) -> bool:
        return conditions.evaluate(text, _condition_data(case, data))

    def call_handler(name: str, data: dict[str, Any]) -> Mapping[str, Any] | None:
        spec = registry.HANDLERS[name]
        return spec.func(registry.HandlerContext(case=case, data=data, actor=actor))

    return Engine(graph, evaluate=evaluate, call_handler=call_handler)


def _state(case: Case) -> State:
    tokens = tuple(
        EngineToken(id=number, node_id=node_id, flow_id=flow_id)
        for number, node_id, flow_id in sorted(case.tokens)
    )
    return State(tokens=tokens, next_id=case.next_token, ended=False)


def _event(
    case: Case,
    kind: str,
    *,
    actor: User | None = None,
    task: Task | None = None,
    node_id: str = "",
    text: str = "",
    at: datetime | None = None,
    **detail: Any,
) -> None:
    event = CaseEvent(
        case=case,
        task=task,
        at=at or timezone.now(),
        actor=actor,
        kind=kind,
        node_id=node_id or (task.node_id if task else ""),
        text=text[:500],
        detail=to_json(detail),
    )
    pending: list[CaseEvent] | None = case.__dict__.get("_pending_events")
    if pending is None:
        event.save()
    else:
        pending.append(event)


def _flush_events(case: Case) -> None:
    """Write the timeline rows collected during one completion in one statement."""
    pending: list[CaseEvent] = case.__dict__.pop("_pending_events", None) or []
    CaseEvent.objects.bulk_create(pending)


def _apply(case: Case, result: Result, actor: User | None) -> list[Task]:
    """Persist the engine's new state: tokens, new tasks, timeline, case end."""
    graph = case_graph(case)
    now = timezone.now()
    opened: list[Task] = []
    for event in result.events:
        if isinstance(event, TaskOpened):
            opened.append(_task_open(case, graph, event.token_id, event.node_id, now, result.data))
        elif isinstance(event, ServiceCalled):
            node = graph.nodes[event.node_id]
            _event(
                case,
                "service",
                actor=actor,
                node_id=node.id,
                text=node.name or node.handler,
                at=now,
            )
        elif isinstance(event, EndReached):
            _event(case, "end", node_id=event.node_id, text=graph.nodes[event.node_id].name, at=now)
    case.data = to_json(result.data)
    case.tokens = [[t.id, t.node_id, t.flow_id] for t in result.state.tokens]
    case.next_token = result.state.next_id
    fields = ["data", "tokens", "next_token"]
    if result.state.ended:
        case.status = CaseStatus.COMPLETED
        case.ended_at = now
        fields += ["status", "ended_at"]
        _event(case, "completed", actor=actor, at=now)
    case.save(update_fields=fields)
    for task in opened:
        notifications.task_assigned(task)
    return opened


def _sla_start(spec: TaskSpec, data: Mapping[str, Any], now: datetime) -> datetime:
    """When a task's SLA starts: its opening, or the case data moment named by ruwang:slaFrom."""
    value = data.get(spec.sla_from) if spec.sla_from else None
    if not isinstance(value, str):
        return now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return now
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return min(moment, now)


def _task_open(
    case: Case,
    graph: ProcessGraph,
    token: int,
    node_id: str,
    now: datetime,
    data: Mapping[str, Any] | None = None,
) -> Task:
    node = graph.nodes[node_id]
    spec = node.task
    assert spec is not None
    role = graph.task_role(node_id)
    assignee = _assignee(case, spec.assignment, role, spec.user)
    due_at = remind_at = None
    calendar = current_calendar()
    if spec.sla:
        due_at = calendar.add(_sla_start(spec, data or case.data, now), parse_duration(spec.sla))
        if spec.remind_before:
            remind_at = calendar.subtract(due_at, parse_duration(spec.remind_before))
    task = Task.objects.create(
        case=case,
        customer_id=case.customer_id,
        **case.customer.visibility_keys("customer_"),
        token=token,
        node_id=node_id,
        name=node.name or node_id,
        form_key=spec.form_key,
        role=role,
        assignee=assignee,
        status=TaskStatus.CLAIMED if assignee else TaskStatus.READY,
        created_at=now,
        claimed_at=now if assignee else None,
        due_at=due_at,
        remind_at=remind_at,
        next_escalation_at=due_at if spec.escalation else None,
    )
    _event(
        case,
        "task_opened",
        task=task,
        at=now,
        text=task.name,
        assignee=assignee.pk if assignee else None,
        role=role,
    )
    return task


def _role_members(role: str) -> models.QuerySet[User]:
    return User.objects.filter(is_active=True, groups__role__code=role).distinct()


def _assignee(case: Case, rule: Assignment, role: str, username: str) -> User | None:
    """The person a new task goes to, or None: offered to the role's pool."""
    customer = case.customer
    if rule == Assignment.USER:
        return User.objects.filter(username=username, is_active=True).first()
    if rule == Assignment.OWNER:
        owner = customer.owner
        return owner if owner is not None and owner.is_active else None
    if rule == Assignment.TERRITORY:
        return territory_manager(customer.region)
    if rule == Assignment.STARTER:
        starter = case.started_by
        if starter is not None and starter.is_active and (not role or starter.has_role(role)):
            return starter
        return None
    if rule == Assignment.LEAST_BUSY:
        return (
            _role_members(role)
            .annotate(open_tasks=Count("tasks", filter=Q(tasks__status__in=OPEN_TASK_STATUSES)))
            .order_by("open_tasks", "id")
            .first()
        )
    return None


def territory_manager(region: Region | None) -> User | None:
    """The active account manager whose sales territory (or served region) holds `region`."""
    if region is None:
        return None
    ancestors = [region.pk]
    if region.parent_id:
        ancestors.append(region.parent_id)
        parent = Region.objects.filter(pk=region.parent_id).values_list("parent_id", flat=True)
        ancestors += [p for p in parent if p]
    managers = _role_members("account_manager")
    by_territory = managers.filter(
        territories__is_active=True, territories__districts=region
    ).order_by("id")
    return by_territory.first() or managers.filter(regions__in=ancestors).order_by("id").first()


def _lock_case(case_id: int) -> Case:
    # The case row alone (its customer and version are read when needed, unlocked: the
    # version row every case shares must never be locked, or all completions would queue).
    return Case.objects.select_for_update().get(pk=case_id)


def _may_see_customer(actor: User | None, customer: Customer) -> bool:
    if actor is None:
        return True
    from customers.selectors import customer_visible

    return customer_visible(actor, customer)


@prepared_statements()
@transaction.atomic
def case_start(
    *,
    actor: User | None,
    customer: Customer,
    key: str = "",
    version: DefinitionVersion | None = None,
    data: Mapping[str, Any] | None = None,
) -> Case:
    """Start the latest published version of process `key` (or `version`) for a customer."""
    _require(actor, "workflow.add_case")
    if not _may_see_customer(actor, customer):
        raise PermissionDenied("customer")
    version = version or published_version(key)
    if version.status != VersionStatus.PUBLISHED:
        raise ValidationError(_("Only a published version can be started."))
    now = timezone.now()
    case = Case.objects.create(
        number=f"tmp-{uuid.uuid4().hex[:16]}",
        version=version,
        customer=customer,
        data=to_json(dict(data or {})),
        started_by=actor,
        started_at=now,
    )
    # The number follows the primary key: unique without a counter table to lock.
    case.number = f"RW-{timezone.localtime(now).year}-{case.pk:06d}"
    case.save(update_fields=["number"])
    case = _lock_case(case.pk)
    _event(case, "started", actor=actor, at=now, text=version.definition.name)
    try:
        result = _engine(case, actor).start(dict(case.data))
    except (EngineError, conditions.ConditionError) as exc:
        raise ValidationError(str(exc)) from exc
    _apply(case, result, actor)
    audit_record(
        actor=actor,
        action="case.start",
        obj=case,
        changes={"process": [None, f"{version.definition.key} v{version.number}"]},
    )
    if case.status == CaseStatus.COMPLETED:
        audit_record(actor=actor, action="case.complete", obj=case)
    return case


# --- tasks ---------------------------------------------------------------------------------------


def may_work_on(actor: User, task: Task) -> bool:
    """The assignee, or (while unclaimed) a member of the task's role."""
    if task.assignee_id is not None:
        return task.assignee_id == actor.pk
    return bool(task.role) and actor.has_role(task.role)


def may_reassign(actor: User) -> bool:
    return actor.has_perm("workflow.reassign_task")


def _locked_task(task: Task) -> tuple[Case, Task]:
    case = _lock_case(task.case_id)
    fresh = Task.objects.get(pk=task.pk)
    fresh.case = case
    if not fresh.is_open:
        who = fresh.completed_by.display_name if fresh.completed_by else ""
        raise TaskConflict(
            _("This task was already handled by %(who)s at %(when)s.")
            % {
                "who": who or _("someone else"),
                "when": timezone.localtime(fresh.completed_at or timezone.now()).strftime(
                    "%Y-%m-%d %H:%M"
                ),
            }
        )
    return case, fresh


def missing_attachment_kinds(task: Task) -> list[str]:
    """The attachment kinds this step requires that the customer does not have yet."""
    node = case_graph(task.case).nodes.get(task.node_id)
    required = node.task.attachments if node and node.task else ()
    if not required:
        return []
    have = set(
        Document.objects.filter(
            customer_id=task.case.customer_id, kind__in=required, current__isnull=False
        ).values_list("kind", flat=True)
    )
    return [kind for kind in required if kind not in have]


def missing_attachments(task: Task) -> list[str]:
    """Labels of the missing attachment kinds (see missing_attachment_kinds)."""
    labels = dict(DocumentKind.choices)
    return [str(labels.get(kind, kind)) for kind in missing_attachment_kinds(task)]


@prepared_statements()
@transaction.atomic
def task_claim(*, actor: User, task: Task) -> Task:
    case, task = _locked_task(task)
    if not _may_see_customer(actor, case.customer):
        raise PermissionDenied("customer")
    if task.assignee_id is not None:
        if task.assignee_id == actor.pk:
            return task
        raise TaskConflict(
            _("This task has already been claimed by %(who)s.") % {"who": task.assignee}
        )
    if not (task.role and actor.has_role(task.role)):
        raise PermissionDenied("role")
    task.assignee = actor
    task.status = TaskStatus.CLAIMED
    task.claimed_at = timezone.now()
    task.save(update_fields=["assignee", "status", "claimed_at"])
    _event(case, "claimed", actor=actor, task=task, text=task.name)
    return task


@prepared_statements()
@transaction.atomic
def task_unclaim(*, actor: User, task: Task) -> Task:
    case, task = _locked_task(task)
    if task.assignee_id != actor.pk:
        raise PermissionDenied("assignee")
    if not task.role:
        raise ValidationError(_("This task has no role pool to return it to."))
    task.assignee = None
    task.status = TaskStatus.READY
    task.claimed_at = None
    task.save(update_fields=["assignee", "status", "claimed_at"])
    _event(case, "unclaimed", actor=actor, task=task, text=task.name)
    return task


@prepared_statements()
@transaction.atomic
def task_delegate(*, actor: User, task: Task, to: User, reason: str) -> Task:
    """Hand a task to someone else (the assignee delegates; a manager reassigns), audited."""
    case, task = _locked_task(task)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the reassignment.")})
    if not (task.assignee_id == actor.pk or may_reassign(actor)):
        raise PermissionDenied("reassign")
    if not to.is_active:
        raise ValidationError({"to": _("%(who)s is not active.") % {"who": to}})
    if not _may_see_customer(to, case.customer):
        raise ValidationError({"to": _("%(who)s may not see this customer.") % {"who": to}})
    previous = task.assignee
    task.delegated_by = actor
    task.assignee = to
    task.status = TaskStatus.CLAIMED
    task.claimed_at = timezone.now()
    task.save(update_fields=["delegated_by", "assignee", "status", "claimed_at"])
    _event(
        case,
        "delegated",
        actor=actor,
        task=task,
        text=reason,
        to=to.pk,
        previous=previous.pk if previous else None,
    )
    audit_record(
        actor=actor,
        action="task.delegate",
        obj=task,
        changes={
            "assignee": [str(previous) if previous else None, str(to)],
            "reason": [None, reason],
        },
    )
    notifications.task_assigned(task)
    return task


@prepared_statements()
@transaction.atomic
def task_complete(*, actor: User, task: Task, data: Mapping[str, Any] | None = None) -> list[Task]:
    """Complete a task with its form data; returns the tasks that opened next.

    The case row is locked first, so of two people completing the same task one succeeds
    and the other gets TaskConflict. An approval with decision "reject" is recorded as
    "returned" (the process's own flows send the work back)."""
    case, task = _locked_task(task)
    if not _may_see_customer(actor, case.customer):
        raise PermissionDenied("customer")
    if not may_work_on(actor, task):
        raise PermissionDenied("task")
    case.__dict__["_pending_events"] = []
    if case.status == CaseStatus.ON_HOLD:
        raise ValidationError(_("The case is on hold; resume it first."))
    missing = missing_attachments(task)
    if missing:
        raise ValidationError(
            _("Upload these attachments first: %(kinds)s") % {"kinds": "、".join(missing)}
        )
    spec = registry.FORMS.get(task.form_key)
    raw = dict(data or {})
    if spec is not None and spec.on_complete is not None:
        # The form's own records (documents, contract, order lines …) are written in this
        # transaction: a refusal of the engine below undoes them too.
        raw.update(spec.on_complete(task, raw, actor) or {})
    # Names starting with "_" are for the hooks only (e.g. the bound form), never stored.
    values = to_json({k: v for k, v in raw.items() if not k.startswith("_")})
    now = timezone.now()
    outcome = ""
    if spec is not None and spec.approval:
        outcome = str(values.get("decision", ""))
    task.data = values
    task.outcome = outcome
    task.status = TaskStatus.RETURNED if outcome == "reject" else TaskStatus.COMPLETED
    task.completed_at = now
    task.completed_by = actor
    fields = ["data", "outcome", "status", "completed_at", "completed_by"]
    if task.assignee_id is None:
        task.assignee = actor
        task.claimed_at = now
        fields += ["assignee", "claimed_at"]
    task.save(update_fields=fields)
    case_data = {**case.data, **values}
    try:
        result = _engine(case, actor).complete(_state(case), task.token, case_data)
    except (EngineError, conditions.ConditionError) as exc:
        raise ValidationError(str(exc)) from exc
    _event(
        case,
        "returned" if outcome == "reject" else "completed_task",
        actor=actor,
        task=task,
        at=now,
        text=str(values.get("reason") or values.get("note") or ""),
        outcome=outcome,
    )
    opened = _apply(case, result, actor)
    _flush_events(case)
    # Audit rows last: the audit chain's lock is then held only until the commit just after.
    audit_record(
        actor=actor,
        action="task.complete",
        obj=task,
        changes={"outcome": [None, outcome or "done"]},
    )
    if case.status == CaseStatus.COMPLETED:
        audit_record(actor=actor, action="case.complete", obj=case)
    return opened


@prepared_statements()
@transaction.atomic
def task_save_progress(*, actor: User, task: Task, data: Mapping[str, Any]) -> Task:
    """Record progress on an open task without completing it (forms with an on_save hook)."""
    case, task = _locked_task(task)
    if not _may_see_customer(actor, case.customer):
        raise PermissionDenied("customer")
    if not may_work_on(actor, task):
        raise PermissionDenied("task")
    spec = registry.FORMS.get(task.form_key)
    if spec is None or spec.on_save is None:
        raise ValidationError(_("This task cannot be saved without completing it."))
    case.__dict__["_pending_events"] = []
    spec.on_save(task, data, actor)
    if task.assignee_id is None:
        task.assignee = actor
        task.status = TaskStatus.CLAIMED
        task.claimed_at = timezone.now()
        task.save(update_fields=["assignee", "status", "claimed_at"])
    _event(case, "progress", actor=actor, task=task, text=task.name)
    _flush_events(case)
    audit_record(actor=actor, action="task.progress", obj=task)
    return task


def _close_open_tasks(case: Case, status: str, now: datetime) -> None:
    case.tasks.filter(status__in=OPEN_TASK_STATUSES).update(status=status, completed_at=now)


# --- holds, cancellation, comments --------------------------------------------------------------


def may_manage_case(actor: User, case: Case) -> bool:
    return actor.has_perm("workflow.change_case") or case.started_by_id == actor.pk


@transaction.atomic
def case_hold(*, actor: User, case: Case, reason: str) -> Case:
    """Pause the case: its tasks cannot be completed and their clocks stop."""
    case = _lock_case(case.pk)
    if not may_manage_case(actor, case):
        raise PermissionDenied("case")
    if case.status != CaseStatus.RUNNING:
        raise ValidationError(_("Only a running case can be put on hold."))
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the hold.")})
    case.status = CaseStatus.ON_HOLD
    case.held_since = timezone.now()
    case.hold_reason = reason[:200]
    case.save(update_fields=["status", "held_since", "hold_reason"])
    _event(case, "held", actor=actor, text=reason)
    audit_record(actor=actor, action="case.hold", obj=case, changes={"reason": [None, reason]})
    return case


@transaction.atomic
def case_resume(*, actor: User, case: Case) -> Case:
    """Resume a held case; every open deadline moves by the time it was paused."""
    case = _lock_case(case.pk)
    if not may_manage_case(actor, case):
        raise PermissionDenied("case")
    if case.status != CaseStatus.ON_HOLD or case.held_since is None:
        raise ValidationError(_("The case is not on hold."))
    now = timezone.now()
    paused = now - case.held_since
    for task in case.tasks.filter(status__in=OPEN_TASK_STATUSES):
        for field in ("due_at", "remind_at", "next_escalation_at"):
            value = getattr(task, field)
            if value is not None:
                setattr(task, field, value + paused)
        task.save(update_fields=["due_at", "remind_at", "next_escalation_at"])
    case.status = CaseStatus.RUNNING
    case.held_since = None
    case.hold_reason = ""
    case.save(update_fields=["status", "held_since", "hold_reason"])
    _event(case, "resumed", actor=actor, paused_seconds=int(paused.total_seconds()))
    audit_record(
        actor=actor,
        action="case.resume",
        obj=case,
        changes={"paused_seconds": [None, int(paused.total_seconds())]},
    )
    return case


@transaction.atomic
def case_cancel(*, actor: User, case: Case, reason: str) -> Case:
    case = _lock_case(case.pk)
    if not may_manage_case(actor, case):
        raise PermissionDenied("case")
    if not case.is_open:
        raise ValidationError(_("The case has already ended."))
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the cancellation.")})
    now = timezone.now()
    _close_open_tasks(case, TaskStatus.CANCELLED, now)
    case.tokens = []
    case.status = CaseStatus.CANCELLED
    case.ended_at = now
    case.save(update_fields=["tokens", "status", "ended_at"])
    _event(case, "cancelled", actor=actor, text=reason, at=now)
    audit_record(actor=actor, action="case.cancel", obj=case, changes={"reason": [None, reason]})
    return case


def comment_add(*, actor: User, case: Case, text: str, task: Task | None = None) -> CaseComment:
    if not _may_see_customer(actor, case.customer):
        raise PermissionDenied("customer")
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write a comment first.")})
    comment = CaseComment.objects.create(case=case, task=task, author=actor, text=text[:2000])
    _event(case, "comment", actor=actor, task=task, text=text[:200])
    return comment


# --- SLA -----------------------------------------------------------------------------------------


def _escalation_targets(task: Task, level: int) -> list[User]:
    """Who is told at escalation `level` (1 = first): the chain's entry for that level."""
    node = case_graph(task.case).nodes.get(task.node_id)
    chain = node.task.escalation if node and node.task else ()
    if level > len(chain):
        return []
    step = chain[level - 1]
    if step.startswith("role:"):
        return list(_role_members(step.removeprefix("role:")))
    # "supervisor" climbs one level per occurrence, from the assignee (or the pool's members).
    people: list[User] = [task.assignee] if task.assignee else list(_role_members(task.role))
    climbs = sum(1 for s in chain[:level] if s == "supervisor")
    for _i in range(climbs):
        people = [p.supervisor for p in people if p.supervisor_id and p.supervisor]
    return [p for p in people if p.is_active]


def sla_tick(now: datetime | None = None) -> dict[str, int]:
    """Reminders before due, breaches at due, escalations after; held cases are skipped."""
    now = now or timezone.now()
    counts = {"reminded": 0, "breached": 0, "escalated": 0}
    running = Q(status__in=OPEN_TASK_STATUSES, case__status=CaseStatus.RUNNING)
    for task in Task.objects.filter(
        running, remind_at__lte=now, reminded_at__isnull=True
    ).select_related("case__customer", "assignee"):
        with transaction.atomic():
            if Task.objects.filter(pk=task.pk, reminded_at__isnull=True).update(reminded_at=now):
                notifications.task_reminder(task)
                counts["reminded"] += 1
    for task in Task.objects.filter(
        running, due_at__lte=now, breached_at__isnull=True
    ).select_related("case__customer", "assignee"):
        with transaction.atomic():
            if Task.objects.filter(pk=task.pk, breached_at__isnull=True).update(breached_at=now):
                _event(task.case, "breached", task=task, at=now, text=task.name)
                notifications.task_breached(task)
                counts["breached"] += 1
    for task in Task.objects.filter(running, next_escalation_at__lte=now).select_related(
        "case__customer", "assignee"
    ):
        with transaction.atomic():
            level = task.escalation_level + 1
            node = case_graph(task.case).nodes.get(task.node_id)
            spec = node.task if node else None
            chain = spec.escalation if spec else ()
            if spec is None or level > len(chain):  # nobody (left) to escalate to
                Task.objects.filter(pk=task.pk).update(next_escalation_at=None)
                continue
            # The next level falls due one more SLA period later.
            following = (
                current_calendar().add(task.next_escalation_at or now, parse_duration(spec.sla))
                if level < len(chain)
                else None
            )
            claimed = Task.objects.filter(
                pk=task.pk, escalation_level=task.escalation_level
            ).update(escalation_level=level, next_escalation_at=following)
            if not claimed:  # another tick got there first
                continue
            task.escalation_level = level
            targets = _escalation_targets(task, level)
            _event(
                task.case,
                "escalated",
                task=task,
                at=now,
                text=task.name,
                level=level,
                to=[t.pk for t in targets],
            )
            notifications.task_escalated(task, targets, level)
            counts["escalated"] += 1
    return counts
