"""Property tests: random structured processes, driven to the end in random orders.

A structured process is built by nesting sequences, exclusive choices, parallel blocks and loops.
The same structure is also run by a small reference interpreter written with continuations (the
Model below); after every step the engine must agree with it on the open tasks and the case data.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow.engine import EndReached, Engine, Result, ServiceCalled, State, Token
from workflow.graph import Flow, Node, NodeType, ProcessGraph
from workflow.tests.test_engine import evaluate

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# The structures


@dataclass(frozen=True)
class UserStep:
    node: str


@dataclass(frozen=True)
class ServiceStep:
    node: str
    handler: str  # "touch:<var>" counts its calls in data; "noop" returns nothing


@dataclass(frozen=True)
class Sequence:
    parts: tuple[Block, ...]


@dataclass(frozen=True)
class Choice:
    split: str
    merge: str
    branches: tuple[Block, ...]
    conditions: tuple[str, ...]  # "" marks the default branch
    default_flow_first: bool  # the default flow comes first in document order


@dataclass(frozen=True)
class Parallel:
    split: str
    join: str
    branches: tuple[Block, ...]


@dataclass(frozen=True)
class Loop:
    """reset → merge → increment → body → review → test: `counter < limit` back to merge."""

    counter: str
    limit: int
    reset: str
    merge: str
    increment: str
    body: Block
    review: str
    test: str


Block = UserStep | ServiceStep | Sequence | Choice | Parallel | Loop


def blocks(depth: int, ids: Iterator[int]) -> st.SearchStrategy[Block]:
    @st.composite
    def block(draw: st.DrawFn) -> Block:
        kinds = ["user", "service"] + (["sequence", "choice", "parallel", "loop"] if depth else [])
        kind = draw(st.sampled_from(kinds))
        n = next(ids)
        inner = blocks(depth - 1, ids)
        if kind == "user":
            return UserStep(f"task{n}")
        if kind == "service":
            return ServiceStep(f"svc{n}", draw(st.sampled_from([f"touch:s{n}", "noop"])))
        if kind == "sequence":
            return Sequence(tuple(draw(st.lists(inner, min_size=2, max_size=3))))
        if kind == "parallel":
            branches = tuple(draw(st.lists(inner, min_size=2, max_size=3)))
            return Parallel(f"split{n}", f"join{n}", branches)
        if kind == "choice":
            branches = tuple(draw(st.lists(inner, min_size=2, max_size=3)))
            default = draw(st.integers(0, len(branches) - 1))
            conditions = tuple("" if i == default else f"c{n}_{i}" for i in range(len(branches)))
            return Choice(f"xsplit{n}", f"xmerge{n}", branches, conditions, draw(st.booleans()))
        return Loop(
            counter=f"loop{n}",
            limit=draw(st.integers(1, 3)),
            reset=f"reset{n}",
            merge=f"lmerge{n}",
            increment=f"incr{n}",
            body=draw(inner),
            review=f"task{n}review",
            test=f"ltest{n}",
        )

    return block()


@st.composite
def structures(draw: st.DrawFn) -> Block:
    return draw(blocks(3, itertools.count(1)))


def condition_variables(block: Block) -> list[str]:
    match block:
        case Sequence(parts):
            return [v for part in parts for v in condition_variables(part)]
        case Choice(branches=branches, conditions=conditions):
            own = [c for c in conditions if c]
            return own + [v for b in branches for v in condition_variables(b)]
        case Parallel(branches=branches):
            return [v for b in branches for v in condition_variables(b)]
        case Loop(body=body):
            return condition_variables(body)
    return []


def call_handler(handler: str, data: dict[str, Any]) -> Mapping[str, Any] | None:
    action, _, var = handler.partition(":")
    match action:
        case "touch" | "increment":
            return {var: data.get(var, 0) + 1}
        case "reset":
            return {var: 0}
    return None


# Structure → ProcessGraph


class GraphBuilder:
    def __init__(self) -> None:
        self.graph = ProcessGraph(id="random", name="随机流程")
        self.flow_ids = itertools.count(1)
        # Loop tests whose forward flow (their default) is only drawn when the parent connects them.
        self.default_pending: set[str] = set()

    def node(self, node_id: str, node_type: NodeType, handler: str = "") -> str:
        self.graph.nodes[node_id] = Node(node_id, node_type, handler=handler)
        return node_id

    def connect(self, source: str, target: str, condition: str = "") -> str:
        flow_id = f"flow{next(self.flow_ids)}"
        self.graph.flows[flow_id] = Flow(flow_id, source, target, condition=condition)
        if source in self.default_pending:
            self.default_pending.discard(source)
            self.set_default(source, flow_id)
        return flow_id

    def set_default(self, gateway: str, flow_id: str) -> None:
        self.graph.nodes[gateway] = replace(self.graph.nodes[gateway], default_flow=flow_id)

    def build(self, block: Block) -> tuple[str, str]:
        """Add the block's nodes and inner flows; returns its entry and exit node ids."""
        match block:
            case UserStep(node):
                return self.node(node, NodeType.USER_TASK), node
            case ServiceStep(node, handler):
                return self.node(node, NodeType.SERVICE_TASK, handler), node
            case Sequence(parts):
                ends = [self.build(part) for part in parts]
                for (_, exit_), (entry, _) in itertools.pairwise(ends):
                    self.connect(exit_, entry)
                return ends[0][0], ends[-1][1]
            case Choice(split, merge, branches, conditions, default_flow_first):
                self.node(split, NodeType.EXCLUSIVE)
                self.node(merge, NodeType.EXCLUSIVE)
                ends = [self.build(b) for b in branches]
                default = conditions.index("")
                order = list(range(len(branches)))
                if default_flow_first:
                    order.remove(default)
                    order.insert(0, default)
                for i in order:
                    flow_id = self.connect(split, ends[i][0], conditions[i])
                    if i == default:
                        self.set_default(split, flow_id)
                for _, exit_ in ends:
                    self.connect(exit_, merge)
                return split, merge
            case Parallel(split, join, branches):
                self.node(split, NodeType.PARALLEL)
                self.node(join, NodeType.PARALLEL)
                for entry, exit_ in [self.build(b) for b in branches]:
                    self.connect(split, entry)
                    self.connect(exit_, join)
                return split, join
            case Loop(counter, limit, reset, merge, increment, body, review, test):
                self.node(reset, NodeType.SERVICE_TASK, f"reset:{counter}")
                self.node(merge, NodeType.EXCLUSIVE)
                self.node(increment, NodeType.SERVICE_TASK, f"increment:{counter}")
                entry, exit_ = self.build(body)
                self.node(review, NodeType.USER_TASK)
                self.node(test, NodeType.EXCLUSIVE)
                self.connect(reset, merge)
                self.connect(merge, increment)
                self.connect(increment, entry)
                self.connect(exit_, review)
                self.connect(review, test)
                self.connect(test, merge, f"{counter} < {limit}")
                self.default_pending.add(test)
                return reset, test
        raise AssertionError(block)


def build_graph(structure: Block) -> ProcessGraph:
    builder = GraphBuilder()
    entry, exit_ = builder.build(structure)
    builder.node("start", NodeType.START)
    builder.node("end", NodeType.END)
    builder.connect("start", entry)
    builder.connect(exit_, "end")
    return builder.graph


# The reference interpreter


class Model:
    """Runs a structure directly: each open task holds the continuation to call on completion."""

    def __init__(self, structure: Block, data: dict[str, Any]) -> None:
        self.data = dict(data)
        self.open: dict[str, Callable[[], None]] = {}
        self.calls: list[str] = []
        self.ended = False
        self.run(structure, self.end)

    def end(self) -> None:
        self.ended = True

    def complete(self, node: str, updates: Mapping[str, Any]) -> None:
        self.data.update(updates)
        self.calls = []
        self.open.pop(node)()

    def call(self, handler: str) -> None:
        self.calls.append(handler)
        self.data.update(call_handler(handler, dict(self.data)) or {})

    def open_task(self, node: str, then: Callable[[], None]) -> None:
        assert node not in self.open, f"{node} opened twice"
        self.open[node] = then

    def run(self, block: Block, then: Callable[[], None]) -> None:
        match block:
            case UserStep(node):
                self.open_task(node, then)
            case ServiceStep(handler=handler):
                self.call(handler)
                then()
            case Sequence(parts):
                self.run_sequence(parts, then)
            case Choice(branches=branches, conditions=conditions):
                taken = next(
                    (b for b, c in zip(branches, conditions, strict=True) if c and self.data[c]),
                    branches[conditions.index("")],
                )
                self.run(taken, then)
            case Parallel(branches=branches):
                remaining = [len(branches)]

                def branch_done() -> None:
                    remaining[0] -= 1
                    if not remaining[0]:
                        then()

                for b in branches:
                    self.run(b, branch_done)
            case Loop() as loop:
                self.call(f"reset:{loop.counter}")
                self.run_loop(loop, then)

    def run_sequence(self, parts: tuple[Block, ...], then: Callable[[], None]) -> None:
        if not parts:
            then()
        else:
            self.run(parts[0], lambda: self.run_sequence(parts[1:], then))

    def run_loop(self, loop: Loop, then: Callable[[], None]) -> None:
        def test() -> None:
            if self.data[loop.counter] < loop.limit:
                self.run_loop(loop, then)
            else:
                then()

        self.call(f"increment:{loop.counter}")
        self.run(loop.body, lambda: self.open_task(loop.review, test))


# Driving a case


def make_engine(graph: ProcessGraph) -> Engine:
    return Engine(graph, evaluate=evaluate, call_handler=call_handler, max_steps=5_000)


def check_invariants(graph: ProcessGraph, before: State, result: Result, model: Model) -> None:
    state = result.state
    ids = [t.id for t in state.tokens]
    assert ids == sorted(set(ids)), "token ids repeated or out of order"
    assert all(
        before.next_id <= t.id < state.next_id for t in state.tokens if t not in before.tokens
    )
    assert state.next_id >= before.next_id

    user_tokens = [t for t in state.tokens if graph.nodes[t.node_id].type == NodeType.USER_TASK]
    join_tokens = [t for t in state.tokens if graph.nodes[t.node_id].type == NodeType.PARALLEL]
    assert len(user_tokens) + len(join_tokens) == len(state.tokens), "token parked elsewhere"
    assert all(len(graph.incoming(t.node_id)) > 1 for t in join_tokens), "token parked at a split"
    user_nodes = [t.node_id for t in user_tokens]
    assert len(user_nodes) == len(set(user_nodes)), "two tokens on one user task"
    join_flows = [t.flow_id for t in join_tokens]
    assert len(join_flows) == len(set(join_flows)), "two tokens waiting on one join flow"

    assert set(user_nodes) == set(model.open)
    assert result.data == model.data
    assert Counter(e.handler for e in result.events if isinstance(e, ServiceCalled)) == Counter(
        model.calls
    )

    assert state.ended == model.ended
    assert state.ended != bool(state.tokens), "token lost or case ended with tokens left"
    if not state.ended:
        assert user_tokens, "tokens wait at joins with no task open: deadlock"
    ends = [e for e in result.events if isinstance(e, EndReached)]
    assert len(ends) == (1 if state.ended else 0)


def as_rows_and_back(state: State, order: list[int]) -> State:
    """What the database hands back: plain values, rows in whatever order it likes."""
    rows = [(t.id, t.node_id, t.flow_id) for t in state.tokens]
    tokens = tuple(Token(*rows[i]) for i in order)
    return State(tokens=tokens, next_id=state.next_id, ended=state.ended)


@PROPERTY_SETTINGS
@given(structure=structures(), data=st.data())
def test_random_structured_processes_run_to_their_end_like_the_reference(structure, data):
    graph = build_graph(structure)
    variables = condition_variables(structure)
    engine = make_engine(graph)

    def draw_conditions() -> dict[str, bool]:
        return data.draw(st.fixed_dictionaries({v: st.booleans() for v in variables}))

    initial = draw_conditions()
    result = engine.start(initial)
    model = Model(structure, initial)
    check_invariants(graph, State((), 1, False), result, model)

    for _ in range(1_000):
        if result.state.ended:
            break
        open_nodes = sorted(model.open)
        node = open_nodes[data.draw(st.integers(0, len(open_nodes) - 1))]
        [token_id] = [t.id for t in result.state.tokens if t.node_id == node]
        case_data = result.data | draw_conditions()
        sent = dict(case_data)
        order = data.draw(st.permutations(range(len(result.state.tokens))))
        state = as_rows_and_back(result.state, order)

        before = result.state
        result = engine.complete(state, token_id, case_data)
        assert case_data == sent, "the caller's data was changed"
        assert engine.complete(state, token_id, case_data) == result, "not reproducible"
        model.complete(node, case_data)
        check_invariants(graph, before, result, model)
    assert result.state.ended
    assert result.state.tokens == ()
    assert not model.open
