"""The token engine on small hand-built graphs, one behaviour at a time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from workflow.engine import (
    EndReached,
    Engine,
    EngineError,
    GatewayPassed,
    JoinFired,
    JoinWaiting,
    Result,
    ServiceCalled,
    State,
    TaskCancelled,
    TaskOpened,
    Token,
)
from workflow.graph import Flow, Node, NodeType, ProcessGraph


def evaluate(condition: str, data: Mapping[str, Any]) -> bool:
    """The two condition shapes the tests write: `name` (truthy variable) and `name < number`."""
    match condition.split():
        case [name]:
            return bool(data.get(name))
        case [name, "<", number]:
            return int(data.get(name, 0)) < int(number)
    raise AssertionError(f"unexpected test condition {condition!r}")


def no_handler(handler: str, data: dict[str, Any]) -> Mapping[str, Any] | None:
    raise AssertionError(f"no service handler expected, got {handler}")


def process(*parts: Node | Flow) -> ProcessGraph:
    graph = ProcessGraph(id="p", name="测试流程")
    for part in parts:
        if isinstance(part, Node):
            graph.nodes[part.id] = part
        else:
            graph.flows[part.id] = part
    return graph


def start(node_id: str = "start") -> Node:
    return Node(node_id, NodeType.START)


def end(node_id: str = "end") -> Node:
    return Node(node_id, NodeType.END)


def user(node_id: str) -> Node:
    return Node(node_id, NodeType.USER_TASK, name=f"任务{node_id}")


def service(node_id: str, handler: str) -> Node:
    return Node(node_id, NodeType.SERVICE_TASK, handler=handler)


def xor(node_id: str, default: str = "") -> Node:
    return Node(node_id, NodeType.EXCLUSIVE, default_flow=default)


def par(node_id: str) -> Node:
    return Node(node_id, NodeType.PARALLEL)


def flow(flow_id: str, source: str, target: str, condition: str = "") -> Flow:
    return Flow(flow_id, source, target, condition=condition)


def engine(graph: ProcessGraph, call_handler=no_handler, max_steps: int = 10_000) -> Engine:
    return Engine(graph, evaluate=evaluate, call_handler=call_handler, max_steps=max_steps)


def open_tasks(eng: Engine, result: Result) -> dict[str, int]:
    """Open user task node → its token id (these graphs never hold two tokens on one task)."""
    nodes = eng.graph.nodes
    return {t.node_id: t.id for t in result.state.tokens if nodes[t.node_id].type == "userTask"}


def complete_task(eng: Engine, result: Result, node_id: str, **updates: Any) -> Result:
    return eng.complete(result.state, open_tasks(eng, result)[node_id], result.data | updates)


def events_of(result: Result, kind: type) -> list[Any]:
    return [e for e in result.events if isinstance(e, kind)]


# A straight line

LINE = process(
    start(),
    user("taskA"),
    end(),
    flow("f1", "start", "taskA"),
    flow("f2", "taskA", "end"),
)


def test_start_parks_a_token_at_the_first_user_task():
    result = engine(LINE).start({"客户": "甲"})
    assert result.state == State(tokens=(Token(2, "taskA", "f1"),), next_id=3, ended=False)
    assert result.events == (TaskOpened(2, "taskA"),)
    assert result.data == {"客户": "甲"}


def test_completing_the_last_task_ends_the_case():
    eng = engine(LINE)
    result = complete_task(eng, eng.start({}), "taskA", 结果="通过")
    assert result.state == State(tokens=(), next_id=4, ended=True)
    assert result.events == (EndReached("end"),)
    assert result.data == {"结果": "通过"}


def test_a_process_without_user_tasks_ends_at_start():
    graph = process(start(), end(), flow("f1", "start", "end"))
    result = engine(graph).start({})
    assert result.state.ended
    assert result.state.tokens == ()


def test_a_graph_needs_exactly_one_start_event():
    with pytest.raises(EngineError, match="开始事件"):
        engine(process(user("taskA")))
    with pytest.raises(EngineError, match="开始事件"):
        engine(process(start("s1"), start("s2"), end(), flow("f1", "s1", "end")))


def test_a_task_with_two_outgoing_flows_is_refused():
    graph = process(
        start(),
        user("taskA"),
        end("e1"),
        end("e2"),
        flow("f1", "start", "taskA"),
        flow("f2", "taskA", "e1"),
        flow("f3", "taskA", "e2"),
    )
    eng = engine(graph)
    with pytest.raises(EngineError, match="出口"):
        complete_task(eng, eng.start({}), "taskA")


# Completing and cancelling


def test_completing_an_unknown_token_raises():
    eng = engine(LINE)
    started = eng.start({})
    with pytest.raises(EngineError, match="没有编号为 99 的等待令牌"):
        eng.complete(started.state, 99, {})


def test_completing_a_task_twice_raises():
    eng = engine(LINE)
    started = eng.start({})
    token_id = open_tasks(eng, started)["taskA"]
    done = eng.complete(started.state, token_id, {})
    with pytest.raises(EngineError, match="等待令牌"):
        eng.complete(done.state, token_id, {})


def test_completing_a_token_waiting_at_a_join_raises():
    eng = engine(SPLIT_JOIN)
    started = eng.start({})
    after_a = complete_task(eng, started, "taskA")
    [waiting] = events_of(after_a, JoinWaiting)
    with pytest.raises(EngineError, match="不是用户任务"):
        eng.complete(after_a.state, waiting.token_id, {})


def test_cancel_drops_every_token_and_reports_the_open_tasks():
    eng = engine(SPLIT_JOIN)
    after_a = complete_task(eng, eng.start({}), "taskA")
    result = eng.cancel(after_a.state, {"客户": "甲"})
    assert result.state == State(tokens=(), next_id=after_a.state.next_id, ended=False)
    assert result.events == (TaskCancelled(open_tasks(eng, after_a)["taskB"], "taskB"),)
    assert result.data == {"客户": "甲"}


def test_the_callers_data_and_state_are_left_untouched():
    eng = engine(SERVICE_LINE, call_handler=lambda handler, data: {"编号": 7})
    data = {"客户": "甲"}
    started = eng.start(data)
    assert data == {"客户": "甲"}
    before = started.state
    eng.complete(started.state, open_tasks(eng, started)["taskA"], started.data)
    assert started.state == before
    assert started.data == {"客户": "甲", "编号": 7}


# Service tasks

SERVICE_LINE = process(
    start(),
    service("svc", "crm.assign_number"),
    user("taskA"),
    end(),
    flow("f1", "start", "svc"),
    flow("f2", "svc", "taskA"),
    flow("f3", "taskA", "end"),
)


def test_a_service_task_is_called_once_and_its_updates_are_merged() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def call_handler(handler: str, data: dict[str, Any]) -> Mapping[str, Any]:
        calls.append((handler, dict(data)))
        return {"编号": "KH-001", "客户": "乙"}

    result = engine(SERVICE_LINE, call_handler=call_handler).start({"客户": "甲", "区": "东"})
    assert calls == [("crm.assign_number", {"客户": "甲", "区": "东"})]
    assert result.data == {"客户": "乙", "区": "东", "编号": "KH-001"}
    assert result.events == (ServiceCalled("svc", "crm.assign_number"), TaskOpened(3, "taskA"))


def test_a_service_task_returning_nothing_leaves_the_data_alone():
    result = engine(SERVICE_LINE, call_handler=lambda handler, data: None).start({"客户": "甲"})
    assert result.data == {"客户": "甲"}


def test_a_service_handler_cannot_change_data_by_mutating_its_argument():
    def call_handler(handler: str, data: dict[str, Any]) -> None:
        data["偷改"] = True

    result = engine(SERVICE_LINE, call_handler=call_handler).start({})
    assert result.data == {}


# Exclusive gateways

CHOICE = process(
    start(),
    xor("gw", default="f_default"),
    user("taskDefault"),
    user("taskBig"),
    user("taskVip"),
    end(),
    flow("f1", "start", "gw"),
    flow("f_default", "gw", "taskDefault"),
    flow("f_big", "gw", "taskBig", "big"),
    flow("f_vip", "gw", "taskVip", "vip"),
    flow("f2", "taskDefault", "end"),
    flow("f3", "taskBig", "end"),
    flow("f4", "taskVip", "end"),
)


def test_exclusive_gateway_takes_the_first_true_condition_in_document_order():
    eng = engine(CHOICE)
    result = eng.start({"big": True, "vip": True})
    assert list(open_tasks(eng, result)) == ["taskBig"]
    assert GatewayPassed("gw", ("f_big",)) in result.events
    assert list(open_tasks(eng, eng.start({"vip": True}))) == ["taskVip"]


def test_exclusive_gateway_takes_the_default_flow_when_nothing_matches():
    eng = engine(CHOICE)
    assert list(open_tasks(eng, eng.start({"big": False}))) == ["taskDefault"]


def test_exclusive_gateway_treats_an_unconditional_flow_as_true():
    graph = process(
        start(),
        xor("gw"),
        user("taskVip"),
        user("taskOther"),
        end(),
        flow("f1", "start", "gw"),
        flow("f_vip", "gw", "taskVip", "vip"),
        flow("f_other", "gw", "taskOther"),
        flow("f2", "taskVip", "end"),
        flow("f3", "taskOther", "end"),
    )
    eng = engine(graph)
    assert list(open_tasks(eng, eng.start({"vip": True}))) == ["taskVip"]
    assert list(open_tasks(eng, eng.start({}))) == ["taskOther"]


def test_exclusive_gateway_without_a_match_or_default_raises():
    graph = process(
        start(),
        xor("gw"),
        user("taskVip"),
        end(),
        flow("f1", "start", "gw"),
        flow("f_vip", "gw", "taskVip", "vip"),
        flow("f2", "taskVip", "end"),
    )
    with pytest.raises(EngineError, match="排他网关 gw 没有满足条件的出口"):
        engine(graph).start({"vip": False})


def test_exclusive_merge_lets_every_arriving_token_through():
    graph = process(
        start(),
        par("split"),
        user("taskA"),
        user("taskB"),
        xor("merge"),
        service("svc", "log"),
        end(),
        flow("f1", "start", "split"),
        flow("fa", "split", "taskA"),
        flow("fb", "split", "taskB"),
        flow("fa2", "taskA", "merge"),
        flow("fb2", "taskB", "merge"),
        flow("fm", "merge", "svc"),
        flow("fe", "svc", "end"),
    )
    eng = engine(graph, call_handler=lambda handler, data: None)
    started = eng.start({})
    after_a = complete_task(eng, started, "taskA")
    assert events_of(after_a, EndReached) == [EndReached("end")]
    assert not after_a.state.ended
    after_b = complete_task(eng, after_a, "taskB")
    assert events_of(after_b, ServiceCalled) == [ServiceCalled("svc", "log")]
    assert after_b.state.ended


# Parallel gateways

SPLIT_JOIN = process(
    start(),
    par("split"),
    user("taskA"),
    user("taskB"),
    par("join"),
    user("taskC"),
    end(),
    flow("f1", "start", "split"),
    flow("fa", "split", "taskA"),
    flow("fb", "split", "taskB"),
    flow("fa2", "taskA", "join"),
    flow("fb2", "taskB", "join"),
    flow("fc", "join", "taskC"),
    flow("f2", "taskC", "end"),
)


def test_parallel_split_opens_one_task_per_branch():
    result = engine(SPLIT_JOIN).start({})
    assert result.events == (
        GatewayPassed("split", ("fa", "fb")),
        TaskOpened(3, "taskA"),
        TaskOpened(4, "taskB"),
    )


@pytest.mark.parametrize("first, second", [("taskA", "taskB"), ("taskB", "taskA")])
def test_parallel_join_waits_for_every_branch_and_fires_once(first, second):
    eng = engine(SPLIT_JOIN)
    after_first = complete_task(eng, eng.start({}), first)
    [waiting] = events_of(after_first, JoinWaiting)
    assert waiting.node_id == "join"
    assert waiting.token_id in {t.id for t in after_first.state.tokens}
    assert set(open_tasks(eng, after_first)) == {second}

    after_second = complete_task(eng, after_first, second)
    [fired] = events_of(after_second, JoinFired)
    assert waiting.token_id in fired.consumed and len(fired.consumed) == 2
    assert events_of(after_second, JoinWaiting) == []
    assert [t.node_id for t in after_second.state.tokens] == ["taskC"]

    assert complete_task(eng, after_second, "taskC").state.ended


def test_parallel_join_consumes_the_oldest_token_of_each_flow():
    # Two arrivals on fa wait; the one from fb pairs with the older of them.
    state = State(
        tokens=(Token(9, "join", "fa2"), Token(4, "join", "fa2"), Token(7, "taskB", "fb")),
        next_id=10,
        ended=False,
    )
    result = engine(SPLIT_JOIN).complete(state, 7, {})
    [fired] = events_of(result, JoinFired)
    assert fired.consumed == (4, 10)
    assert result.state.tokens == (Token(9, "join", "fa2"), Token(11, "taskC", "fc"))


def test_moving_tokens_advance_breadth_first_in_id_order():
    graph = process(
        start(),
        par("split"),
        service("a1", "a1"),
        service("a2", "a2"),
        service("b1", "b1"),
        par("join"),
        end(),
        flow("f1", "start", "split"),
        flow("fa", "split", "a1"),
        flow("fb", "split", "b1"),
        flow("fa1", "a1", "a2"),
        flow("fa2", "a2", "join"),
        flow("fb1", "b1", "join"),
        flow("fj", "join", "end"),
    )
    result = engine(graph, call_handler=lambda handler, data: None).start({})
    assert [e.handler for e in events_of(result, ServiceCalled)] == ["a1", "b1", "a2"]
    assert result.state.ended


# A join inside a rejection loop

REVIEW_LOOP = process(
    start(),
    xor("again"),
    par("split"),
    user("taskA"),
    user("taskB"),
    par("join"),
    user("taskReview"),
    xor("decide", default="f_rework"),
    end(),
    flow("f1", "start", "again"),
    flow("f_again", "again", "split"),
    flow("fa", "split", "taskA"),
    flow("fb", "split", "taskB"),
    flow("fa2", "taskA", "join"),
    flow("fb2", "taskB", "join"),
    flow("fj", "join", "taskReview"),
    flow("fr", "taskReview", "decide"),
    flow("f_rework", "decide", "again"),
    flow("f_done", "decide", "end", "approved"),
)


def test_a_join_inside_a_rejection_loop_opens_one_review_per_iteration() -> None:
    eng = engine(REVIEW_LOOP)
    result = eng.start({})
    reviews: list[int] = []
    for order, approved in [(("taskA", "taskB"), False), (("taskB", "taskA"), True)]:
        assert set(open_tasks(eng, result)) == {"taskA", "taskB"}
        for node_id in order:
            assert "taskReview" not in open_tasks(eng, result)
            result = complete_task(eng, result, node_id)
        assert list(open_tasks(eng, result)) == ["taskReview"]
        assert len(result.state.tokens) == 1
        reviews.append(open_tasks(eng, result)["taskReview"])
        result = complete_task(eng, result, "taskReview", approved=approved)
    assert len(set(reviews)) == 2
    assert result.state == State(tokens=(), next_id=result.state.next_id, ended=True)
    assert events_of(result, EndReached) == [EndReached("end")]


# Automatic loops


def test_an_exclusive_gateway_cycle_without_user_tasks_raises():
    graph = process(
        start(),
        xor("g1"),
        xor("g2"),
        end(),
        flow("f1", "start", "g1"),
        flow("f2", "g1", "g2"),
        flow("f3", "g2", "g1", "forever"),
        flow("f4", "g2", "end"),
    )
    with pytest.raises(EngineError, match="流程在自动节点之间循环"):
        engine(graph, max_steps=50).start({"forever": True})
    assert engine(graph, max_steps=50).start({"forever": False}).state.ended


def test_a_service_task_loop_raises_after_max_steps() -> None:
    calls: list[str] = []
    graph = process(
        start(),
        service("svc", "poll"),
        xor("gw", default="f_back"),
        end(),
        flow("f1", "start", "svc"),
        flow("f2", "svc", "gw"),
        flow("f_back", "gw", "svc"),
        flow("f_done", "gw", "end", "done"),
    )

    def call_handler(handler: str, data: dict[str, Any]) -> None:
        calls.append(handler)

    with pytest.raises(EngineError, match="流程在自动节点之间循环"):
        engine(graph, call_handler=call_handler, max_steps=100).start({})
    assert 0 < len(calls) <= 50
