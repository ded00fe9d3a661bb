"""The token engine: runs a ProcessGraph one step at a time, without database, clock or randomness.

The caller keeps the State (as rows) and the case data between calls; every call returns the next
State, the data after service handlers ran, and the events needed to open or cancel task rows and to
write the timeline.

Each move along a sequence flow consumes the moving token and creates a new one with a fresh id,
so a token id names one arrival at one node for the whole life of the case: a task row can keep
its token id as a stable key even when a loop opens the same user task again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workflow.graph import Flow, Node, NodeType, ProcessGraph

Evaluate = Callable[[str, Mapping[str, Any]], bool]
CallHandler = Callable[[str, dict[str, Any]], Mapping[str, Any] | None]


class EngineError(Exception):
    """The process cannot go on: bad call, dead-end gateway, automatic loop or malformed graph."""


@dataclass(frozen=True)
class Token:
    id: int  # unique within a case, increasing
    node_id: str  # where it is parked
    flow_id: str  # the flow it arrived by ("" for the start)


@dataclass(frozen=True)
class State:
    tokens: tuple[Token, ...]  # parked at user tasks or parallel joins, sorted by id
    next_id: int
    ended: bool  # True once no token remains and an end event was reached


@dataclass(frozen=True)
class TaskOpened:
    token_id: int
    node_id: str


@dataclass(frozen=True)
class TaskCancelled:
    token_id: int
    node_id: str


@dataclass(frozen=True)
class ServiceCalled:
    node_id: str
    handler: str


@dataclass(frozen=True)
class GatewayPassed:
    node_id: str
    flow_ids: tuple[str, ...]


@dataclass(frozen=True)
class EndReached:
    node_id: str


@dataclass(frozen=True)
class JoinWaiting:
    node_id: str
    token_id: int


@dataclass(frozen=True)
class JoinFired:
    node_id: str
    consumed: tuple[int, ...]


Event = (
    TaskOpened
    | TaskCancelled
    | ServiceCalled
    | GatewayPassed
    | EndReached
    | JoinWaiting
    | JoinFired
)


@dataclass(frozen=True)
class Result:
    state: State
    data: dict[str, Any]  # case data after service handlers merged their returned updates
    events: tuple[Event, ...]


def _label(node: Node) -> str:
    return f"{node.id}（{node.name}）" if node.name else node.id


class Engine:
    def __init__(
        self,
        graph: ProcessGraph,
        *,
        evaluate: Evaluate,
        call_handler: CallHandler,
        max_steps: int = 10_000,
    ) -> None:
        starts = graph.start_nodes()
        if len(starts) != 1:
            raise EngineError(f"流程 {graph.id} 必须有且只有一个开始事件，实际有 {len(starts)} 个")
        for flow in graph.flows.values():
            if flow.source not in graph.nodes or flow.target not in graph.nodes:
                raise EngineError(f"顺序流 {flow.id} 连接了不存在的节点")
        self.graph = graph
        self.evaluate = evaluate
        self.call_handler = call_handler
        self.max_steps = max_steps
        self._start = starts[0]
        # graph.outgoing/incoming scan every flow; a run asks them at every step.
        self._outgoing: dict[str, tuple[Flow, ...]] = {n: () for n in graph.nodes}
        self._incoming: dict[str, tuple[str, ...]] = {n: () for n in graph.nodes}
        for flow in graph.flows.values():
            self._outgoing[flow.source] += (flow,)
            self._incoming[flow.target] += (flow.id,)

    def start(self, data: dict[str, Any]) -> Result:
        """Put a token on the start event and advance it until every token waits or has ended."""
        run = _Run(self, State(tokens=(), next_id=1, ended=False), data)
        run.move(run.new_token(self._start.id, ""))
        return run.finish()

    def complete(self, state: State, token_id: int, data: dict[str, Any]) -> Result:
        """Move the token parked at a user task on, with `data` as the case data from now on."""
        token = next((t for t in state.tokens if t.id == token_id), None)
        if token is None:
            raise EngineError(f"没有编号为 {token_id} 的等待令牌，任务可能已完成或已取消")
        node = self.graph.nodes.get(token.node_id)
        if node is None or node.type != NodeType.USER_TASK:
            raise EngineError(f"令牌 {token_id} 停在 {token.node_id}，不是用户任务，不能完成")
        run = _Run(self, state, data)
        run.parked.remove(token)
        run.leave(node)
        return run.finish()

    def cancel(self, state: State, data: Mapping[str, Any] | None = None) -> Result:
        """Drop every token. `data` is handed back untouched, so `result.data` can be stored as
        after any other call; the state does not claim an end was reached unless one was."""
        tokens = sorted(state.tokens, key=lambda t: t.id)
        events: tuple[Event, ...] = tuple(
            TaskCancelled(t.id, t.node_id)
            for t in tokens
            if (node := self.graph.nodes.get(t.node_id)) and node.type == NodeType.USER_TASK
        )
        return Result(
            state=State(tokens=(), next_id=state.next_id, ended=state.ended),
            data=dict(data or {}),
            events=events,
        )


class _Run:
    """The working state of one engine call."""

    def __init__(self, engine: Engine, state: State, data: Mapping[str, Any]) -> None:
        self.engine = engine
        self.nodes = engine.graph.nodes
        self.parked: list[Token] = list(state.tokens)
        self.next_id = state.next_id
        self.data: dict[str, Any] = dict(data)
        self.events: list[Event] = []
        # Ids only grow, so first-in-first-out is the same as lowest id first.
        self.moving: deque[Token] = deque()
        self.steps = 0
        self.reached_end = False

    def new_token(self, node_id: str, flow_id: str) -> Token:
        token = Token(id=self.next_id, node_id=node_id, flow_id=flow_id)
        self.next_id += 1
        return token

    def send(self, flow: Flow) -> None:
        self.moving.append(self.new_token(flow.target, flow.id))

    def move(self, token: Token) -> None:
        self.moving.append(token)

    def finish(self) -> Result:
        while self.moving:
            self.steps += 1
            if self.steps > self.engine.max_steps:
                raise EngineError(
                    f"流程在自动节点之间循环，走了 {self.engine.max_steps} 步仍未停在用户任务上，"
                    "请检查排他网关的条件"
                )
            self.arrive(self.moving.popleft())
        parked = tuple(sorted(self.parked, key=lambda t: t.id))
        state = State(tokens=parked, next_id=self.next_id, ended=self.reached_end and not parked)
        return Result(state=state, data=self.data, events=tuple(self.events))

    def arrive(self, token: Token) -> None:
        node = self.nodes[token.node_id]
        match node.type:
            case NodeType.START:
                self.leave(node)
            case NodeType.USER_TASK:
                self.parked.append(token)
                self.events.append(TaskOpened(token.id, node.id))
            case NodeType.SERVICE_TASK:
                # A copy: handlers report changes only through what they return.
                updates = self.engine.call_handler(node.handler, dict(self.data))
                self.events.append(ServiceCalled(node.id, node.handler))
                if updates:
                    self.data.update(updates)
                self.leave(node)
            case NodeType.EXCLUSIVE:
                flow = self.choose(node)
                self.events.append(GatewayPassed(node.id, (flow.id,)))
                self.send(flow)
            case NodeType.PARALLEL:
                self.parallel(node, token)
            case NodeType.END:
                self.reached_end = True
                self.events.append(EndReached(node.id))
            case _:
                raise EngineError(f"引擎不支持节点 {_label(node)} 的类型 {node.type}")

    def leave(self, node: Node) -> None:
        """Follow the single outgoing flow of an event or task."""
        outgoing = self.engine._outgoing[node.id]
        if len(outgoing) != 1:
            raise EngineError(f"节点 {_label(node)} 应有且只有一个出口，实际有 {len(outgoing)} 个")
        self.send(outgoing[0])

    def choose(self, node: Node) -> Flow:
        outgoing = self.engine._outgoing[node.id]
        for flow in outgoing:
            if flow.id == node.default_flow:
                continue
            if not flow.condition or self.engine.evaluate(flow.condition, self.data):
                return flow
        default = next((f for f in outgoing if f.id == node.default_flow), None)
        if default is None:
            raise EngineError(f"排他网关 {_label(node)} 没有满足条件的出口，也没有默认出口")
        return default

    def parallel(self, node: Node, token: Token) -> None:
        outgoing = self.engine._outgoing[node.id]
        if not outgoing:
            raise EngineError(f"并行网关 {_label(node)} 没有出口")
        incoming = self.engine._incoming[node.id]
        if len(incoming) > 1:
            waiting = [t for t in self.parked if t.node_id == node.id] + [token]
            # The oldest token of each incoming flow: in a rejection loop a branch that runs
            # again early must wait for the other branches of its own iteration.
            oldest: dict[str, Token] = {}
            for t in sorted(waiting, key=lambda t: t.id):
                oldest.setdefault(t.flow_id, t)
            if any(flow_id not in oldest for flow_id in incoming):
                self.parked.append(token)
                self.events.append(JoinWaiting(node.id, token.id))
                return
            consumed = tuple(sorted(oldest[flow_id].id for flow_id in incoming))
            self.parked = [t for t in self.parked if t.id not in consumed]
            self.events.append(JoinFired(node.id, consumed))
        self.events.append(GatewayPassed(node.id, tuple(f.id for f in outgoing)))
        for flow in outgoing:
            self.send(flow)
