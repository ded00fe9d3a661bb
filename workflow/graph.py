"""The in-memory form of a process definition: what `bpmn.parse` returns and the engine runs.

BPMN 2.0 subset: start/end events, user and service tasks, exclusive and parallel gateways,
sequence flows (conditions in CEL), lanes. Our extension attributes live in the `ruwang:`
namespace (NAMESPACE) on lanes, user tasks and service tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

NAMESPACE = "urn:ruwang:bpmn:1"
BPMN_NAMESPACE = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class NodeType(StrEnum):
    START = "startEvent"
    END = "endEvent"
    USER_TASK = "userTask"
    SERVICE_TASK = "serviceTask"
    EXCLUSIVE = "exclusiveGateway"
    PARALLEL = "parallelGateway"


class Assignment(StrEnum):
    """Who gets a user task (ruwang:assignment)."""

    ROLE = "role"  # unclaimed, offered to every active member of the role (the lane's by default)
    OWNER = "owner"  # the owner (account manager) of the case's customer
    TERRITORY = "territory"  # the account manager whose region/territory holds the customer
    USER = "user"  # a named user (ruwang:user = username)
    LEAST_BUSY = "least_busy"  # the active member of the role with the fewest open tasks
    STARTER = "starter"  # whoever started the case, while active and in the role (else the pool)


@dataclass(frozen=True)
class Lane:
    id: str
    name: str
    role: str = ""  # ruwang:role — a Role.code
    department: str = ""  # ruwang:department — a Department.code


@dataclass(frozen=True)
class TaskSpec:
    """Extension attributes of a user task."""

    assignment: Assignment = Assignment.ROLE
    role: str = ""  # ruwang:role (overrides the lane's)
    user: str = ""  # ruwang:user, for Assignment.USER
    form_key: str = ""  # ruwang:formKey
    attachments: tuple[str, ...] = ()  # ruwang:attachments, comma separated DocumentKind values
    sla: str = ""  # ruwang:sla, e.g. "2 workdays", "4 work hours", "24 hours"
    # ruwang:slaFrom: the case data name of a date/time the SLA counts from (default: opening),
    # e.g. "install within 5 workdays of the drawing verification" → slaFrom="verified_at"
    sla_from: str = ""
    remind_before: str = ""  # ruwang:remindBefore, same syntax
    escalation: tuple[str, ...] = ()  # ruwang:escalation: "supervisor", "role:<code>", …


@dataclass(frozen=True)
class Node:
    id: str
    type: NodeType
    name: str = ""
    lane: str = ""  # Lane.id, "" when the process has no lane holding this node
    handler: str = ""  # ruwang:handler of a service task
    task: TaskSpec | None = None  # user tasks only
    default_flow: str = ""  # the `default` attribute of an exclusive gateway


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    condition: str = ""  # CEL text of the conditionExpression, "" when unconditional


@dataclass
class ProcessGraph:
    id: str
    name: str
    nodes: dict[str, Node] = field(default_factory=dict)  # in document order
    flows: dict[str, Flow] = field(default_factory=dict)  # in document order
    lanes: dict[str, Lane] = field(default_factory=dict)

    def outgoing(self, node_id: str) -> list[Flow]:
        return [f for f in self.flows.values() if f.source == node_id]

    def incoming(self, node_id: str) -> list[Flow]:
        return [f for f in self.flows.values() if f.target == node_id]

    def start_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.type == NodeType.START]

    def lane_of(self, node_id: str) -> Lane | None:
        lane_id = self.nodes[node_id].lane
        return self.lanes.get(lane_id) if lane_id else None

    def task_role(self, node_id: str) -> str:
        """The role a user task is offered to: its own ruwang:role, else its lane's."""
        node = self.nodes[node_id]
        if node.task and node.task.role:
            return node.task.role
        lane = self.lane_of(node_id)
        return lane.role if lane else ""
