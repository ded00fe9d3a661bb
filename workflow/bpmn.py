"""Read a BPMN 2.0 XML definition into a ProcessGraph, and check it before it is published.

`parse` rejects what the engine cannot run (malformed XML, elements outside the subset described
in graph.py); `validate` checks a parsed graph against the installation (roles, forms, service
handlers) and for structural mistakes that would make a case stick. Both report `Problem`s
naming the element, in Chinese, for the people who draw the processes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

from workflow import conditions
from workflow.graph import (
    BPMN_NAMESPACE,
    NAMESPACE,
    Assignment,
    Flow,
    Lane,
    Node,
    NodeType,
    ProcessGraph,
    TaskSpec,
)

_BPMN = f"{{{BPMN_NAMESPACE}}}"
_RUWANG = f"{{{NAMESPACE}}}"

_NODE_TYPES = {
    "startEvent": NodeType.START,
    "endEvent": NodeType.END,
    "userTask": NodeType.USER_TASK,
    "task": NodeType.USER_TASK,  # Camunda Modeler's plain task: treated as a user task
    "serviceTask": NodeType.SERVICE_TASK,
    "exclusiveGateway": NodeType.EXCLUSIVE,
    "parallelGateway": NodeType.PARALLEL,
}
# Process children without meaning to the engine: annotations, documentation, data objects.
_IGNORED_IN_PROCESS = frozenset(
    {
        "documentation",
        "extensionElements",
        "textAnnotation",
        "association",
        "group",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "property",
        "ioSpecification",
    }
)
# Children of a supported node that do not change how it runs.
_IGNORED_IN_NODE = frozenset(
    {
        "incoming",
        "outgoing",
        "documentation",
        "extensionElements",
        "ioSpecification",
        "property",
        "dataInputAssociation",
        "dataOutputAssociation",
    }
)
_ELEMENT_LABELS = {
    "subProcess": "子流程",
    "adHocSubProcess": "子流程",
    "transaction": "事务子流程",
    "callActivity": "调用活动",
    "scriptTask": "脚本任务",
    "sendTask": "发送任务",
    "receiveTask": "接收任务",
    "manualTask": "手工任务",
    "businessRuleTask": "业务规则任务",
    "inclusiveGateway": "包容网关",
    "eventBasedGateway": "事件网关",
    "complexGateway": "复杂网关",
    "intermediateCatchEvent": "中间捕获事件",
    "intermediateThrowEvent": "中间抛出事件",
    "boundaryEvent": "边界事件",
    "multiInstanceLoopCharacteristics": "多实例",
    "standardLoopCharacteristics": "循环",
    "timerEventDefinition": "定时器事件",
    "messageEventDefinition": "消息事件",
    "signalEventDefinition": "信号事件",
    "errorEventDefinition": "错误事件",
    "escalationEventDefinition": "升级事件",
    "terminateEventDefinition": "终止事件",
    "conditionalEventDefinition": "条件事件",
    "compensateEventDefinition": "补偿事件",
    "cancelEventDefinition": "取消事件",
    "linkEventDefinition": "链接事件",
}
_NODE_LABELS = {
    NodeType.START: "开始事件",
    NodeType.END: "结束事件",
    NodeType.USER_TASK: "用户任务",
    NodeType.SERVICE_TASK: "服务任务",
    NodeType.EXCLUSIVE: "排他网关",
    NodeType.PARALLEL: "并行网关",
}
_TASKS = frozenset({NodeType.USER_TASK, NodeType.SERVICE_TASK})
_ASSIGNMENTS = "、".join(a.value for a in Assignment)


@dataclass(frozen=True)
class Problem:
    element_id: str  # "" when the problem is with the document itself
    message: str  # Chinese, for the process designer


class BpmnError(Exception):
    def __init__(self, errors: list[Problem]) -> None:
        super().__init__("；".join(p.message for p in errors))
        self.errors = errors


def parse(xml: str | bytes) -> ProcessGraph:
    root = _read_xml(xml)
    if root.tag != f"{_BPMN}definitions":
        raise BpmnError([Problem("", "这不是 BPMN 2.0 文件：根元素应为 bpmn:definitions")])
    process = _the_process(root)
    reader = _ProcessReader(process, _participant_name(root, process.get("id", "")))
    graph = reader.read()
    if reader.problems:
        raise BpmnError(reader.problems)
    return graph


def _read_xml(xml: str | bytes) -> Element:
    try:
        # BPMN files never need a DTD; refusing it outright also refuses entity tricks.
        return defusedxml.ElementTree.fromstring(xml, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise BpmnError(
            [Problem("", "BPMN 文件包含 DTD、实体声明或外部引用，出于安全原因拒绝处理")]
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        raise BpmnError(
            [Problem("", f"BPMN 文件不是格式正确的 XML（第 {line} 行第 {column} 列）")]
        ) from exc


def _the_process(root: Element) -> Element:
    processes = root.findall(f"{_BPMN}process")
    if not processes:
        raise BpmnError([Problem("", "BPMN 文件中没有流程（bpmn:process）")])
    if len(processes) == 1:
        return processes[0]
    # A collaboration may draw other parties' pools as non-executable processes.
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    if len(executable) == 1:
        return executable[0]
    ids = "、".join(p.get("id", "?") for p in (executable or processes))
    reason = "多个流程都标记为可执行" if executable else "有多个流程，但没有一个标记为可执行"
    raise BpmnError([Problem("", f"BPMN 文件只能包含一个可执行流程：{reason}（{ids}）")])


def _participant_name(root: Element, process_id: str) -> str:
    for participant in root.iter(f"{_BPMN}participant"):
        if participant.get("processRef") == process_id:
            return participant.get("name", "")
    return ""


def _local(tag: str) -> str | None:
    """The local name of a BPMN element, None for elements of other namespaces."""
    return tag[len(_BPMN) :] if tag.startswith(_BPMN) else None


def _split_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _unsupported(element_id: str, local: str, where: str = "") -> Problem:
    label = _ELEMENT_LABELS.get(local)
    kind = f"{local}（{label}）" if label else local
    return Problem(element_id, f"{where}不支持 BPMN 元素类型 {kind}")


class _ProcessReader:
    def __init__(self, process: Element, participant_name: str) -> None:
        self.process = process
        self.participant_name = participant_name
        self.problems: list[Problem] = []
        self.ids: set[str] = set()

    def read(self) -> ProcessGraph:
        process_id = self.process.get("id", "")
        graph = ProcessGraph(id=process_id, name=self.process.get("name") or self.participant_name)
        lane_of: dict[str, str] = {}
        flow_elements: list[Element] = []
        for element in self.process:
            local = _local(element.tag)
            if local is None or local in _IGNORED_IN_PROCESS:
                continue
            element_id = self._identify(element, local)
            if local == "laneSet":
                self._read_lanes(element, graph, lane_of, parent=None)
            elif local == "sequenceFlow":
                flow_elements.append(element)
            elif local in _NODE_TYPES:
                node = self._read_node(element, element_id, _NODE_TYPES[local])
                if node:
                    graph.nodes[node.id] = node
            else:
                self.problems.append(_unsupported(element_id, local))
        for element in flow_elements:
            flow = self._read_flow(element, graph)
            if flow:
                graph.flows[flow.id] = flow
        for node_id, lane_id in lane_of.items():
            if node_id in graph.nodes:
                graph.nodes[node_id] = replace(graph.nodes[node_id], lane=lane_id)
        return graph

    def _identify(self, element: Element, local: str) -> str:
        element_id = element.get("id", "")
        if not element_id:
            self.problems.append(Problem("", f"有一个 {local} 元素没有 id"))
        elif element_id in self.ids:
            self.problems.append(Problem(element_id, f"元素 ID {element_id} 重复"))
        self.ids.add(element_id)
        return element_id

    def _read_lanes(
        self,
        lane_set: Element,
        graph: ProcessGraph,
        lane_of: dict[str, str],
        parent: Lane | None,
    ) -> None:
        for element in lane_set.findall(f"{_BPMN}lane"):
            lane_id = self._identify(element, "lane")
            lane = Lane(
                id=lane_id,
                name=element.get("name", ""),
                # A nested lane without its own role or department works for its parent's.
                role=element.get(f"{_RUWANG}role") or (parent.role if parent else ""),
                department=element.get(f"{_RUWANG}department")
                or (parent.department if parent else ""),
            )
            graph.lanes[lane_id] = lane
            for ref in element.findall(f"{_BPMN}flowNodeRef"):
                # Parents list their child lanes' nodes too; the child, read later, wins.
                lane_of[(ref.text or "").strip()] = lane_id
            for child_set in element.findall(f"{_BPMN}childLaneSet"):
                self._read_lanes(child_set, graph, lane_of, parent=lane)

    def _read_node(self, element: Element, element_id: str, node_type: NodeType) -> Node | None:
        problems_before = len(self.problems)
        for child in element:
            local = _local(child.tag)
            if local is None or local in _IGNORED_IN_NODE:
                continue
            where = f"{_NODE_LABELS[node_type]}上"
            self.problems.append(_unsupported(element_id, local, where))
        task: TaskSpec | None = None
        if node_type == NodeType.USER_TASK:
            task = self._read_task(element, element_id)
        if len(self.problems) > problems_before:
            return None
        is_service, is_exclusive = (
            node_type == NodeType.SERVICE_TASK,
            node_type == NodeType.EXCLUSIVE,
        )
        return Node(
            id=element_id,
            type=node_type,
            name=element.get("name", ""),
            handler=element.get(f"{_RUWANG}handler", "").strip() if is_service else "",
            task=task,
            default_flow=element.get("default", "") if is_exclusive else "",
        )

    def _read_task(self, element: Element, element_id: str) -> TaskSpec:
        def attribute(name: str) -> str:
            return element.get(f"{_RUWANG}{name}", "").strip()

        assignment = attribute("assignment") or Assignment.ROLE.value
        if assignment not in {a.value for a in Assignment}:
            # TaskSpec.assignment is an Assignment, so an unknown value cannot wait for validate.
            self.problems.append(
                Problem(element_id, f"未知的分配方式 {assignment}（可选：{_ASSIGNMENTS}）")
            )
            assignment = Assignment.ROLE.value
        return TaskSpec(
            assignment=Assignment(assignment),
            role=attribute("role"),
            user=attribute("user"),
            form_key=attribute("formKey"),
            attachments=_split_list(attribute("attachments")),
            sla=attribute("sla"),
            sla_from=attribute("slaFrom"),
            remind_before=attribute("remindBefore"),
            escalation=_split_list(attribute("escalation")),
        )

    def _read_flow(self, element: Element, graph: ProcessGraph) -> Flow | None:
        flow_id = element.get("id", "")
        source, target = element.get("sourceRef", ""), element.get("targetRef", "")
        missing = [ref for ref in (source, target) if ref not in graph.nodes]
        if missing:
            # Refs to unsupported elements were reported with those elements already.
            if any(ref not in self.ids for ref in missing):
                names = "、".join(ref or "（空）" for ref in missing)
                self.problems.append(Problem(flow_id, f"连线 {flow_id} 连接的元素不存在：{names}"))
            return None
        expression = element.find(f"{_BPMN}conditionExpression")
        condition = (expression.text or "").strip() if expression is not None else ""
        return Flow(
            id=flow_id,
            source=source,
            target=target,
            name=element.get("name", ""),
            condition=condition,
        )


def validate(
    graph: ProcessGraph,
    *,
    handlers: Collection[str],
    form_fields: Mapping[str, Collection[str]],
    roles: Collection[str],
    data_names: Collection[str] = (),
    duration_ok: Callable[[str], bool] = lambda text: True,
    users: Collection[str] | None = None,
    attachment_kinds: Collection[str] | None = None,
) -> list[Problem]:
    """Publish-time checks; an empty list means the process can be published."""
    flows = _FlowIndex(graph)
    problems = [
        *_check_events(graph, flows),
        *_check_paths(graph, flows),
        *_check_branching(graph, flows),
        *_check_parallel(graph, flows),
        *_check_lanes(graph, roles),
        *_check_user_tasks(graph, roles, form_fields, duration_ok, users, attachment_kinds),
        *_check_service_tasks(graph, handlers),
        *_check_conditions(graph, form_fields, data_names),
    ]
    return _in_document_order(graph, problems)


class _FlowIndex:
    def __init__(self, graph: ProcessGraph) -> None:
        self.graph = graph
        self.outgoing: dict[str, list[Flow]] = {node_id: [] for node_id in graph.nodes}
        self.incoming: dict[str, list[Flow]] = {node_id: [] for node_id in graph.nodes}
        for flow in graph.flows.values():
            self.outgoing.setdefault(flow.source, []).append(flow)
            self.incoming.setdefault(flow.target, []).append(flow)

    def successors(self, node_id: str) -> list[str]:
        return [flow.target for flow in self.outgoing.get(node_id, [])]

    def predecessors(self, node_id: str) -> list[str]:
        return [flow.source for flow in self.incoming.get(node_id, [])]

    def ref(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        return f"「{node.name}」（{node_id}）" if node and node.name else node_id


def _reach(
    sources: Iterable[str], step: Callable[[str], list[str]], *, stop: str | None = None
) -> list[str]:
    """Nodes reachable from `sources` (included), breadth first, never entering `stop`."""
    seen = dict.fromkeys(sources)
    queue = list(seen)
    for node_id in queue:
        for following in step(node_id):
            if following not in seen and following != stop:
                seen[following] = None
                queue.append(following)
    return list(seen)


def _of_type(graph: ProcessGraph, node_type: NodeType) -> list[Node]:
    return [node for node in graph.nodes.values() if node.type == node_type]


def _check_events(graph: ProcessGraph, flows: _FlowIndex) -> Iterable[Problem]:
    starts = graph.start_nodes()
    if not starts:
        yield Problem(graph.id, "流程没有开始事件")
    for extra in starts[1:]:
        yield Problem(extra.id, f"流程只能有一个开始事件，已经有 {flows.ref(starts[0].id)}")
    if not _of_type(graph, NodeType.END):
        yield Problem(graph.id, "流程没有结束事件")
    for node in graph.nodes.values():
        if node.type == NodeType.START and flows.incoming[node.id]:
            yield Problem(node.id, "开始事件不能有进入的连线")
        if node.type == NodeType.END and flows.outgoing[node.id]:
            yield Problem(node.id, "结束事件不能有出口连线")


def _check_paths(graph: ProcessGraph, flows: _FlowIndex) -> Iterable[Problem]:
    starts = [node.id for node in graph.start_nodes()]
    ends = [node.id for node in _of_type(graph, NodeType.END)]
    reachable = set(_reach(starts, flows.successors))
    finishing = set(_reach(ends, flows.predecessors))
    for node in graph.nodes.values():
        if starts and node.type != NodeType.START and node.id not in reachable:
            yield Problem(node.id, "从开始事件无法到达此节点")
        if node.type != NodeType.END and not flows.outgoing[node.id]:
            yield Problem(node.id, "此节点没有出口连线，流程会停在这里")
        elif ends and node.type != NodeType.END and node.id not in finishing:
            yield Problem(node.id, "从此节点无法到达任何结束事件，流程会在这里打转或停住")


def _check_branching(graph: ProcessGraph, flows: _FlowIndex) -> Iterable[Problem]:
    for node in graph.nodes.values():
        outgoing = flows.outgoing[node.id]
        if (node.type in _TASKS or node.type == NodeType.START) and len(outgoing) > 1:
            yield Problem(
                node.id,
                f"{_NODE_LABELS[node.type]}只能有一条出口连线；需要分支时请在后面加网关"
                "（二选一用排他网关，同时进行用并行网关）",
            )
        if node.type != NodeType.EXCLUSIVE:
            for flow in outgoing:
                if flow.condition:
                    yield Problem(flow.id, "只有排他网关的出口连线可以带条件")
            continue
        if node.default_flow and node.default_flow not in {flow.id for flow in outgoing}:
            yield Problem(node.id, f"默认连线 {node.default_flow} 不是此网关的出口连线")
        for flow in outgoing:
            if flow.id == node.default_flow:
                if flow.condition:
                    yield Problem(flow.id, "默认连线不能带条件")
            elif len(outgoing) > 1 and not flow.condition:
                yield Problem(
                    flow.id,
                    f"排他网关 {flows.ref(node.id)} 有多条出口连线，这条连线需要条件，"
                    "或者把它设为默认连线",
                )


def _dominators(start: str, flows: _FlowIndex) -> dict[str, str]:
    """Immediate dominators of the nodes reachable from `start` (Cooper, Harvey & Kennedy)."""
    postorder: list[str] = []
    visited = {start}
    stack = [(start, iter(flows.successors(start)))]
    while stack:
        node_id, pending = stack[-1]
        for following in pending:
            if following not in visited:
                visited.add(following)
                stack.append((following, iter(flows.successors(following))))
                break
        else:
            stack.pop()
            postorder.append(node_id)
    rank = {node_id: index for index, node_id in enumerate(postorder)}
    idom = {start: start}

    def intersect(a: str, b: str) -> str:
        while a != b:
            while rank[a] < rank[b]:
                a = idom[a]
            while rank[b] < rank[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for node_id in reversed(postorder[:-1]):
            # In reverse postorder the DFS parent comes first, so one predecessor is known.
            known = [p for p in flows.predecessors(node_id) if p in idom and p in rank]
            new_idom = known[0]
            for predecessor in known[1:]:
                new_idom = intersect(predecessor, new_idom)
            if idom.get(node_id) != new_idom:
                idom[node_id] = new_idom
                changed = True
    return idom


def _check_parallel(graph: ProcessGraph, flows: _FlowIndex) -> Iterable[Problem]:
    starts = graph.start_nodes()
    if len(starts) != 1:
        return []
    idom = _dominators(starts[0].id, flows)
    gateways = [node.id for node in _of_type(graph, NodeType.PARALLEL) if node.id in idom]
    splits = [g for g in gateways if len(flows.outgoing[g]) > 1]
    joins = [g for g in gateways if len(flows.incoming[g]) > 1]
    problems: list[Problem] = []
    matched: set[str] = set()
    reported: set[str] = set()
    for join in joins:
        split = idom[join]
        if split not in splits:
            problems.append(
                Problem(
                    join,
                    f"并行汇聚网关 {flows.ref(join)} 没有对应的并行分支网关：它的进入连线"
                    f"最早在 {flows.ref(split)} 分开，那里不是并行分支网关，汇聚网关会一直等待"
                    "（只需汇合二选一的路径时，请用排他网关）",
                )
            )
            continue
        pair = _ParallelPair(flows, idom, split, join)
        found = pair.problems()
        problems.extend(found)
        if found:
            reported.add(split)
        else:
            matched.add(split)
    for split in splits:
        if split not in matched and split not in reported:
            problems.append(Problem(split, _not_joined(flows, split)))
    return problems


def _not_joined(flows: _FlowIndex, split: str) -> str:
    return f"并行网关 {flows.ref(split)} 的分支没有在同一个汇聚网关汇合"


class _ParallelPair:
    """A parallel split and the join it dominates: the join must collect exactly its branches."""

    def __init__(self, flows: _FlowIndex, idom: Mapping[str, str], split: str, join: str):
        self.flows, self.idom, self.split, self.join = flows, idom, split, join
        self.branches = [
            (
                flow,
                [] if flow.target == join else _reach([flow.target], flows.successors, stop=join),
            )
            for flow in flows.outgoing[split]
        ]

    def problems(self) -> list[Problem]:
        flows, split, join = self.flows, self.split, self.join
        problems: list[Problem] = []
        owners: dict[str, list[str]] = {}
        for flow, branch in self.branches:
            for node_id in branch:
                owners.setdefault(node_id, []).append(flow.id)
            escape = next((n for n in branch if self._escapes(n)), None)
            if escape:
                how = "结束" if flows.graph.nodes[escape].type == NodeType.END else "离开并行区域"
                problems.append(
                    Problem(
                        split,
                        f"{_not_joined(flows, split)}：分支 {flow.id} 可以不经过 "
                        f"{flows.ref(join)} 就{how}（到达 {flows.ref(escape)}）",
                    )
                )
        shared = next((n for n, branch_ids in owners.items() if len(branch_ids) > 1), None)
        if shared and not problems:
            problems.append(
                Problem(
                    split,
                    f"{_not_joined(flows, split)}：分支 {'、'.join(owners[shared])} "
                    f"都经过 {flows.ref(shared)}",
                )
            )
        arriving: dict[str, int] = {flow.id: 0 for flow, _ in self.branches}
        for incoming in flows.incoming[join]:
            came_from = owners.get(incoming.source, [])
            if incoming.id in arriving:
                arriving[incoming.id] += 1
            elif came_from:
                arriving[came_from[0]] += 1
            else:
                problems.append(
                    Problem(
                        join,
                        f"并行汇聚网关 {flows.ref(join)} 的进入连线 {incoming.id} "
                        f"不来自并行网关 {flows.ref(split)} 的任何分支，汇聚网关会一直等待",
                    )
                )
        expected, actual = len(self.branches), len(flows.incoming[join])
        if expected != actual:
            problems.append(
                Problem(
                    join,
                    f"并行汇聚网关 {flows.ref(join)} 有 {actual} 条进入连线，"
                    f"但对应的并行网关 {flows.ref(split)} 有 {expected} 条分支，两者必须一一对应",
                )
            )
        for flow_id, count in arriving.items():
            if count == 0 and not problems:
                problems.append(
                    Problem(
                        split,
                        f"{_not_joined(flows, split)}：分支 {flow_id} 到达不了 {flows.ref(join)}",
                    )
                )
        return problems

    def _escapes(self, node_id: str) -> bool:
        if self.flows.graph.nodes[node_id].type == NodeType.END:
            return True
        dominator = node_id
        while dominator != self.idom[dominator]:
            dominator = self.idom[dominator]
            if dominator == self.split:
                return False
        return True


def _check_lanes(graph: ProcessGraph, roles: Collection[str]) -> Iterable[Problem]:
    for lane in graph.lanes.values():
        if lane.role and lane.role not in roles:
            yield Problem(lane.id, f"泳道的角色 {lane.role} 不存在")


def _check_user_tasks(
    graph: ProcessGraph,
    roles: Collection[str],
    form_fields: Mapping[str, Collection[str]],
    duration_ok: Callable[[str], bool],
    users: Collection[str] | None,
    attachment_kinds: Collection[str] | None,
) -> Iterable[Problem]:
    for node in _of_type(graph, NodeType.USER_TASK):
        task = node.task or TaskSpec()
        messages = [
            *_assignment_problems(graph, node.id, task, roles, users),
            *_timing_problems(task, roles, duration_ok),
        ]
        if task.form_key and task.form_key not in form_fields:
            messages.append(f"表单 {task.form_key} 不存在")
        if attachment_kinds is not None:
            unknown = [kind for kind in task.attachments if kind not in attachment_kinds]
            if unknown:
                messages.append(f"未知的附件类型：{'、'.join(unknown)}")
        yield from (Problem(node.id, message) for message in messages)


def _timing_problems(
    task: TaskSpec, roles: Collection[str], duration_ok: Callable[[str], bool]
) -> Iterable[str]:
    if task.sla and not duration_ok(task.sla):
        yield f"无法识别的时限（ruwang:sla）：{task.sla}"
    if task.remind_before and not duration_ok(task.remind_before):
        yield f"无法识别的提醒时间（ruwang:remindBefore）：{task.remind_before}"
    if task.sla_from and not task.sla:
        yield "设置了时限起算点（ruwang:slaFrom），但没有设置时限（ruwang:sla）"
    if task.remind_before and not task.sla:
        yield "设置了提前提醒（ruwang:remindBefore），但没有设置时限（ruwang:sla）"
    if task.escalation and not task.sla:
        yield "设置了升级规则（ruwang:escalation），但没有设置时限（ruwang:sla），升级不会发生"
    for rule in task.escalation:
        if rule == "supervisor":
            continue
        if not rule.startswith("role:"):
            yield f"无法识别的升级规则 {rule}（可用：supervisor、role:角色代码）"
        elif rule.removeprefix("role:") not in roles:
            yield f"升级规则中的角色 {rule.removeprefix('role:') or '（空）'} 不存在"


def _assignment_problems(
    graph: ProcessGraph,
    node_id: str,
    task: TaskSpec,
    roles: Collection[str],
    users: Collection[str] | None,
) -> Iterable[str]:
    assignment = str(task.assignment)
    if assignment not in {a.value for a in Assignment}:
        yield f"未知的分配方式 {assignment}（可选：{_ASSIGNMENTS}）"
    if task.role and task.role not in roles:
        yield f"角色 {task.role} 不存在"
    if assignment == Assignment.USER:
        if not task.user:
            yield "分配方式为指定用户（user），但没有填写用户（ruwang:user）"
        elif users is not None and task.user not in users:
            yield f"用户 {task.user} 不存在或已停用"
        return
    if task.user:
        yield f"填写了用户（ruwang:user），但分配方式是 {assignment}，不是 user"
    if not graph.task_role(node_id):
        fallback = (
            "按客户负责人或片区分配时，也需要角色作为找不到人时的候选范围；"
            if assignment in (Assignment.OWNER, Assignment.TERRITORY, Assignment.STARTER)
            else ""
        )
        yield (
            f"用户任务没有角色：{fallback}请在任务上设置 ruwang:role，或把任务放进设置了角色的泳道"
        )


def _check_service_tasks(graph: ProcessGraph, handlers: Collection[str]) -> Iterable[Problem]:
    for node in _of_type(graph, NodeType.SERVICE_TASK):
        if not node.handler:
            yield Problem(node.id, "服务任务没有指定处理程序（ruwang:handler）")
        elif node.handler not in handlers:
            yield Problem(node.id, f"处理程序 {node.handler} 未注册")


def _check_conditions(
    graph: ProcessGraph,
    form_fields: Mapping[str, Collection[str]],
    data_names: Collection[str],
) -> Iterable[Problem]:
    available = set(data_names)
    for node in _of_type(graph, NodeType.USER_TASK):
        if node.task and node.task.form_key in form_fields:
            available.update(form_fields[node.task.form_key])
    for flow in graph.flows.values():
        if not flow.condition:
            continue
        try:
            names = conditions.referenced_names(flow.condition)
        except conditions.ConditionError as exc:
            yield Problem(flow.id, exc.message)
            continue
        unknown = sorted(names - available)
        if unknown:
            yield Problem(flow.id, f"条件引用了未知的数据：{'、'.join(unknown)}")


def _in_document_order(graph: ProcessGraph, problems: list[Problem]) -> list[Problem]:
    """Document-level problems first, then lanes, nodes and flows each in document order.

    ProcessGraph keeps nodes and flows in separate dicts, so their interleaving is lost.
    """
    order = {"": 0, graph.id: 1}
    for element_id in [*graph.lanes, *graph.nodes, *graph.flows]:
        order.setdefault(element_id, len(order))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: order.get(p.element_id, len(order)))
