from collections.abc import Callable, Collection
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from workflow.bpmn import BpmnError, Problem, parse, validate
from workflow.graph import Assignment, NodeType, ProcessGraph

ONBOARDING = (Path(__file__).parent / "bpmn" / "onboarding.bpmn").read_text(encoding="utf-8")

ROLES = {"market_staff", "engineer", "monitor", "director"}
FORMS = {
    "install_notice": {"contract_amount", "address", "building_type"},
    "site_survey": {"cabling_ok", "notes"},
    "credit_check": {"credit_ok"},
    "approval": {"decision", "comment"},
}
HANDLERS = {"monitoring.register_device"}
USERS = {"zhang.wei", "li.na"}

NAMESPACES = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:ruwang="urn:ruwang:bpmn:1"'
)
EXPORTER = (
    'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" '
    'exporter="Camunda Modeler" exporterVersion="5.20.0"'
)


def bpmn(*elements: str, process_id: str = "Process_1", extra: str = "") -> str:
    """A definitions document the way Camunda Modeler writes one, around the given elements."""
    body = "\n    ".join(elements)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NAMESPACES} {EXPORTER}>
  <bpmn:process id="{process_id}" name="测试流程" isExecutable="true">
    {body}
  </bpmn:process>{extra}
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{process_id}">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="152" y="82" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def attrs(values: dict[str, str]) -> str:
    return "".join(f' {key}="{value}"' for key, value in values.items())


def start(id: str = "StartEvent_1") -> str:
    return f'<bpmn:startEvent id="{id}" name="开始" />'


def end(id: str = "EndEvent_1") -> str:
    return f'<bpmn:endEvent id="{id}" name="结束" />'


def user_task(id: str, **ruwang: str) -> str:
    ruwang.setdefault("role", "engineer")
    extension = attrs({f"ruwang:{key}": value for key, value in ruwang.items() if value})
    return f'<bpmn:userTask id="{id}" name="{id}"{extension} />'


def service_task(id: str, handler: str = "monitoring.register_device") -> str:
    handler_attr = f' ruwang:handler="{handler}"' if handler else ""
    return f'<bpmn:serviceTask id="{id}" name="{id}"{handler_attr} />'


def xor(id: str, default: str = "") -> str:
    return f'<bpmn:exclusiveGateway id="{id}"{attrs({"default": default} if default else {})} />'


def parallel(id: str) -> str:
    return f'<bpmn:parallelGateway id="{id}" />'


def flow(id: str, source: str, target: str, condition: str = "") -> str:
    if not condition:
        return f'<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def check(
    graph: ProcessGraph | str,
    *,
    duration_ok: Callable[[str], bool] = lambda text: "day" in text or "hour" in text,
    attachment_kinds: Collection[str] | None = None,
    **overrides: Any,
) -> list[Problem]:
    options: dict[str, Any] = {
        "handlers": HANDLERS,
        "form_fields": FORMS,
        "roles": ROLES,
        "data_names": {"customer"},
        "users": USERS,
        **overrides,
    }
    if isinstance(graph, str):
        graph = parse(graph)
    return validate(graph, duration_ok=duration_ok, attachment_kinds=attachment_kinds, **options)


def only_problem(graph: ProcessGraph | str, **options: Any) -> Problem:
    problems = check(graph, **options)
    assert len(problems) == 1, problems
    return problems[0]


def parse_errors(xml: str | bytes) -> list[Problem]:
    with pytest.raises(BpmnError) as raised:
        parse(xml)
    return raised.value.errors


# The onboarding SOP: lanes, an XOR with a default, a parallel split/join inside the rejection
# loop, a user-assigned task, a service task and a plain Camunda task.


def test_the_onboarding_process_validates_without_problems():
    assert check(ONBOARDING, attachment_kinds={"contract", "site_photo"}) == []


def test_parse_reads_the_process_id_and_name():
    graph = parse(ONBOARDING)
    assert (graph.id, graph.name) == ("Process_Onboarding", "入网安装流程")


def test_the_process_name_falls_back_to_the_pool_name():
    graph = parse(ONBOARDING.replace(' name="入网安装流程"', ""))
    assert graph.name == "入网安装"


def test_parse_maps_nodes_to_lanes_and_reads_lane_attributes():
    graph = parse(ONBOARDING)
    market = graph.lanes["Lane_Market"]
    assert (market.name, market.role, market.department) == ("市场部", "market_staff", "market")
    assert list(graph.lanes) == ["Lane_Market", "Lane_Engineering", "Lane_Monitoring"]
    assert graph.nodes["Activity_Survey"].lane == "Lane_Engineering"
    assert graph.nodes["EndEvent_Done"].lane == "Lane_Monitoring"
    assert graph.task_role("Activity_Survey") == "engineer"
    assert graph.task_role("Activity_Approve") == "director"


def test_parse_reads_the_user_task_extension_attributes():
    task = parse(ONBOARDING).nodes["Activity_Notice"].task
    assert task is not None
    assert task.assignment == Assignment.ROLE
    assert task.form_key == "install_notice"
    assert task.attachments == ("contract", "site_photo")
    assert (task.sla, task.remind_before) == ("2 workdays", "4 work hours")
    assert task.escalation == ("supervisor", "supervisor", "role:director")


def test_parse_reads_assignments_handlers_defaults_and_conditions():
    graph = parse(ONBOARDING)
    director = graph.nodes["Activity_Director"].task
    assert director is not None
    assert (director.assignment, director.user) == (Assignment.USER, "zhang.wei")
    assert graph.nodes["Activity_Register"].handler == "monitoring.register_device"
    assert graph.nodes["Gateway_Decision"].default_flow == "Flow_Approved"
    assert graph.flows["Flow_Rejected"].condition == 'decision == "reject"'
    assert graph.flows["Flow_Rejected"].name == "驳回"
    assert graph.flows["Flow_Large"].condition.startswith("contract_amount > 100000")
    assert graph.flows["Flow_Approved"].condition == ""


def test_a_plain_camunda_task_is_read_as_a_user_task():
    test = parse(ONBOARDING).nodes["Activity_Test"]
    assert test.type == NodeType.USER_TASK
    assert test.task is not None


def test_parse_keeps_nodes_and_flows_in_document_order():
    graph = parse(ONBOARDING)
    assert list(graph.nodes)[:3] == ["StartEvent_1", "Activity_Notice", "Gateway_Retry"]
    assert list(graph.flows)[:3] == ["Flow_0start", "Flow_1notice", "Flow_2split"]


def test_a_nested_lane_inherits_its_parents_role_and_wins_the_node():
    xml = bpmn(
        '<bpmn:laneSet id="LaneSet_1">'
        '<bpmn:lane id="Lane_Eng" name="工程部" ruwang:role="engineer" ruwang:department="eng">'
        "<bpmn:flowNodeRef>Activity_1</bpmn:flowNodeRef>"
        '<bpmn:childLaneSet id="LaneSet_2"><bpmn:lane id="Lane_Team" name="一组">'
        "<bpmn:flowNodeRef>Activity_1</bpmn:flowNodeRef></bpmn:lane></bpmn:childLaneSet>"
        "</bpmn:lane></bpmn:laneSet>",
        start(),
        user_task("Activity_1", role=""),
        end(),
        flow("Flow_1", "StartEvent_1", "Activity_1"),
        flow("Flow_2", "Activity_1", "EndEvent_1"),
    )
    graph = parse(xml)
    assert graph.nodes["Activity_1"].lane == "Lane_Team"
    assert graph.lanes["Lane_Team"].role == "engineer"
    assert check(graph) == []


# Documents parse refuses.


def test_xml_that_is_not_well_formed_is_refused():
    [problem] = parse_errors(ONBOARDING.replace("</bpmn:process>", ""))
    assert problem.element_id == ""
    assert "不是格式正确的 XML" in problem.message


def test_a_document_without_a_process_is_refused():
    xml = (
        f'<bpmn:definitions {NAMESPACES} id="Definitions_1">'
        '<bpmn:collaboration id="Collaboration_1" /></bpmn:definitions>'
    )
    [problem] = parse_errors(xml)
    assert "没有流程" in problem.message


def test_a_document_that_is_not_bpmn_is_refused():
    [problem] = parse_errors('<?xml version="1.0"?><html><body>你好</body></html>')
    assert "不是 BPMN 2.0 文件" in problem.message


def test_two_executable_processes_are_refused():
    second = '<bpmn:process id="Process_2" isExecutable="true" />'
    [problem] = parse_errors(
        ONBOARDING.replace("<bpmndi:BPMNDiagram", second + "<bpmndi:BPMNDiagram")
    )
    assert "只能包含一个可执行流程" in problem.message
    assert "Process_Onboarding" in problem.message and "Process_2" in problem.message


def test_a_non_executable_partner_pool_is_ignored():
    partner = '<bpmn:process id="Process_Customer" isExecutable="false" />'
    graph = parse(ONBOARDING.replace("<bpmndi:BPMNDiagram", partner + "<bpmndi:BPMNDiagram"))
    assert graph.id == "Process_Onboarding"


@pytest.mark.parametrize(
    ("element", "kind"),
    [
        (
            '<bpmn:intermediateCatchEvent id="Event_Wait"><bpmn:timerEventDefinition '
            'id="TimerEventDefinition_1" /></bpmn:intermediateCatchEvent>',
            "intermediateCatchEvent（中间捕获事件）",
        ),
        ('<bpmn:subProcess id="Event_Wait" />', "subProcess（子流程）"),
        ('<bpmn:inclusiveGateway id="Event_Wait" />', "inclusiveGateway（包容网关）"),
        ('<bpmn:scriptTask id="Event_Wait" scriptFormat="groovy" />', "scriptTask（脚本任务）"),
        (
            '<bpmn:boundaryEvent id="Event_Wait" attachedToRef="Activity_1">'
            '<bpmn:timerEventDefinition id="TimerEventDefinition_1" /></bpmn:boundaryEvent>',
            "boundaryEvent（边界事件）",
        ),
    ],
)
def test_elements_outside_the_subset_are_refused_by_name(element, kind):
    xml = bpmn(
        start(),
        user_task("Activity_1"),
        element,
        end(),
        flow("Flow_1", "StartEvent_1", "Activity_1"),
        flow("Flow_2", "Activity_1", "EndEvent_1"),
    )
    assert parse_errors(xml) == [Problem("Event_Wait", f"不支持 BPMN 元素类型 {kind}")]


def test_flows_to_an_unsupported_element_are_not_reported_twice():
    xml = bpmn(
        start(),
        '<bpmn:sendTask id="Activity_Mail" name="发邮件" />',
        end(),
        flow("Flow_1", "StartEvent_1", "Activity_Mail"),
        flow("Flow_2", "Activity_Mail", "EndEvent_1"),
    )
    [problem] = parse_errors(xml)
    assert problem.element_id == "Activity_Mail"


def test_a_timer_start_event_is_refused():
    timer = (
        '<bpmn:startEvent id="StartEvent_1"><bpmn:timerEventDefinition id="Timer_1">'
        '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/P1D</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>"
    )
    xml = bpmn(timer, end(), flow("Flow_1", "StartEvent_1", "EndEvent_1"))
    [problem] = parse_errors(xml)
    assert problem.element_id == "StartEvent_1"
    assert "开始事件上不支持" in problem.message and "timerEventDefinition" in problem.message


def test_a_multi_instance_task_is_refused():
    task = (
        '<bpmn:userTask id="Activity_1" ruwang:role="engineer">'
        '<bpmn:multiInstanceLoopCharacteristics isSequential="true" /></bpmn:userTask>'
    )
    xml = bpmn(start(), task, end(), flow("F1", "StartEvent_1", "Activity_1"))
    [problem] = parse_errors(xml)
    assert problem.element_id == "Activity_1"
    assert "multiInstanceLoopCharacteristics（多实例）" in problem.message


def test_an_unknown_assignment_is_refused_when_parsing():
    xml = ONBOARDING.replace('ruwang:assignment="owner"', 'ruwang:assignment="boss"')
    [problem] = parse_errors(xml)
    assert problem.element_id == "Activity_Revise"
    assert "未知的分配方式 boss" in problem.message


def test_duplicate_ids_are_refused():
    xml = bpmn(start(), end(), end("StartEvent_1"), flow("Flow_1", "StartEvent_1", "EndEvent_1"))
    assert Problem("StartEvent_1", "元素 ID StartEvent_1 重复") in parse_errors(xml)


def test_a_flow_to_a_missing_element_is_refused():
    xml = bpmn(start(), end(), flow("Flow_1", "StartEvent_1", "Activity_Gone"))
    [problem] = parse_errors(xml)
    assert problem.element_id == "Flow_1"
    assert "Activity_Gone" in problem.message


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Process_1" name="&lol9;" isExecutable="true" />
</bpmn:definitions>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Process_1" name="&secret;" isExecutable="true" />
</bpmn:definitions>
"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["bomb", "external"])
def test_entity_tricks_are_refused_without_being_expanded(xml):
    for document in (xml, xml.encode()):
        [problem] = parse_errors(document)
        assert "出于安全原因拒绝处理" in problem.message
        assert "lol" not in problem.message and "root" not in problem.message


# Publish-time checks, one kind of mistake each.


def straight(*middle: str, flows: tuple[str, ...] = ()) -> str:
    """start → each id of `middle` in turn → end, plus the given extra elements."""
    ids = ["StartEvent_1", *middle, "EndEvent_1"]
    links = [flow(f"Flow_{i}", a, b) for i, (a, b) in enumerate(pairwise(ids))]
    return bpmn(start(), *flows, end(), *links)


def test_a_process_without_a_start_event_is_reported():
    xml = bpmn(user_task("Activity_1"), end(), flow("Flow_1", "Activity_1", "EndEvent_1"))
    assert check(xml) == [Problem("Process_1", "流程没有开始事件")]


def test_a_second_start_event_is_reported():
    xml = bpmn(
        start(),
        start("StartEvent_2"),
        end(),
        flow("Flow_1", "StartEvent_1", "EndEvent_1"),
        flow("Flow_2", "StartEvent_2", "EndEvent_1"),
    )
    problem = only_problem(xml)
    assert problem.element_id == "StartEvent_2"
    assert "只能有一个开始事件" in problem.message


def test_a_process_without_an_end_event_is_reported():
    xml = bpmn(start(), user_task("Activity_1"), flow("Flow_1", "StartEvent_1", "Activity_1"))
    assert check(xml) == [
        Problem("Process_1", "流程没有结束事件"),
        Problem("Activity_1", "此节点没有出口连线，流程会停在这里"),
    ]


def test_a_node_that_cannot_be_reached_from_the_start_is_reported():
    xml = straight(
        "Activity_1",
        flows=(
            user_task("Activity_1"),
            user_task("Activity_Orphan"),
            flow("Flow_X", "Activity_Orphan", "EndEvent_1"),
        ),
    )
    assert check(xml) == [Problem("Activity_Orphan", "从开始事件无法到达此节点")]


def test_a_task_without_an_outgoing_flow_is_reported():
    xml = bpmn(
        start(),
        xor("Gateway_1", default="Flow_3"),
        user_task("Activity_Stuck"),
        end(),
        flow("Flow_1", "StartEvent_1", "Gateway_1"),
        flow("Flow_2", "Gateway_1", "Activity_Stuck", "customer.vip"),
        flow("Flow_3", "Gateway_1", "EndEvent_1"),
    )
    assert check(xml) == [Problem("Activity_Stuck", "此节点没有出口连线，流程会停在这里")]


def test_a_loop_without_a_way_out_is_reported():
    xml = bpmn(
        start(),
        xor("Gateway_1", default="Flow_3"),
        user_task("Activity_A"),
        user_task("Activity_B"),
        end(),
        flow("Flow_1", "StartEvent_1", "Gateway_1"),
        flow("Flow_2", "Gateway_1", "Activity_A", "customer.vip"),
        flow("Flow_3", "Gateway_1", "EndEvent_1"),
        flow("Flow_4", "Activity_A", "Activity_B"),
        flow("Flow_5", "Activity_B", "Activity_A"),
    )
    problems = check(xml)
    assert [p.element_id for p in problems] == ["Activity_A", "Activity_B"]
    assert all("无法到达任何结束事件" in p.message for p in problems)


def test_a_flow_into_the_start_event_is_reported():
    xml = bpmn(
        start(),
        xor("Gateway_1", default="Flow_3"),
        end(),
        flow("Flow_1", "StartEvent_1", "Gateway_1"),
        flow("Flow_2", "Gateway_1", "StartEvent_1", "customer.vip"),
        flow("Flow_3", "Gateway_1", "EndEvent_1"),
    )
    assert check(xml) == [Problem("StartEvent_1", "开始事件不能有进入的连线")]


def test_a_flow_out_of_an_end_event_is_reported():
    xml = straight(flows=(user_task("Activity_1"), flow("Flow_X", "EndEvent_1", "Activity_1")))
    problems = check(xml)
    assert Problem("EndEvent_1", "结束事件不能有出口连线") in problems


def test_a_task_with_two_outgoing_flows_must_use_a_gateway():
    xml = bpmn(
        start(),
        user_task("Activity_1"),
        end(),
        end("EndEvent_2"),
        flow("Flow_1", "StartEvent_1", "Activity_1"),
        flow("Flow_2", "Activity_1", "EndEvent_1"),
        flow("Flow_3", "Activity_1", "EndEvent_2"),
    )
    problem = only_problem(xml)
    assert problem.element_id == "Activity_1"
    assert "只能有一条出口连线" in problem.message and "网关" in problem.message


def exclusive_choice(
    *, default: str = "Flow_3", first: str = "customer.vip", second: str = ""
) -> str:
    return bpmn(
        start(),
        xor("Gateway_1", default=default),
        end(),
        end("EndEvent_2"),
        flow("Flow_1", "StartEvent_1", "Gateway_1"),
        flow("Flow_2", "Gateway_1", "EndEvent_1", first),
        flow("Flow_3", "Gateway_1", "EndEvent_2", second),
    )


def test_an_exclusive_choice_with_a_condition_and_a_default_is_fine():
    assert check(exclusive_choice()) == []


def test_an_exclusive_branch_without_a_condition_is_reported():
    problem = only_problem(exclusive_choice(default=""))
    assert problem.element_id == "Flow_3"
    assert "需要条件" in problem.message and "默认连线" in problem.message


def test_a_default_that_is_not_an_outgoing_flow_is_reported():
    problems = check(exclusive_choice(default="Flow_1", second="customer.level == 'A'"))
    assert problems == [Problem("Gateway_1", "默认连线 Flow_1 不是此网关的出口连线")]


def test_a_default_flow_with_a_condition_is_reported():
    problems = check(exclusive_choice(second="customer.level == 'A'"))
    assert problems == [Problem("Flow_3", "默认连线不能带条件")]


def test_a_condition_on_a_flow_leaving_a_task_is_reported():
    plain = flow("Flow_9test", "Activity_Register", "Activity_Test")
    assert plain in ONBOARDING
    conditional = plain.replace(
        " />",
        "><bpmn:conditionExpression>customer.vip</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    xml = ONBOARDING.replace(plain, conditional)
    assert check(xml) == [Problem("Flow_9test", "只有排他网关的出口连线可以带条件")]


def test_a_parallel_join_after_an_exclusive_choice_is_reported():
    xml = bpmn(
        start(),
        xor("Gateway_Choice", default="Flow_3"),
        user_task("Activity_A"),
        user_task("Activity_B"),
        parallel("Gateway_Join"),
        end(),
        flow("Flow_1", "StartEvent_1", "Gateway_Choice"),
        flow("Flow_2", "Gateway_Choice", "Activity_A", "customer.vip"),
        flow("Flow_3", "Gateway_Choice", "Activity_B"),
        flow("Flow_4", "Activity_A", "Gateway_Join"),
        flow("Flow_5", "Activity_B", "Gateway_Join"),
        flow("Flow_6", "Gateway_Join", "EndEvent_1"),
    )
    problem = only_problem(xml)
    assert problem.element_id == "Gateway_Join"
    assert "并行汇聚网关 Gateway_Join 没有对应的并行分支网关" in problem.message


def test_a_parallel_split_whose_branches_end_separately_is_reported():
    xml = bpmn(
        start(),
        parallel("Gateway_Split"),
        user_task("Activity_A"),
        user_task("Activity_B"),
        end(),
        end("EndEvent_2"),
        flow("Flow_1", "StartEvent_1", "Gateway_Split"),
        flow("Flow_2", "Gateway_Split", "Activity_A"),
        flow("Flow_3", "Gateway_Split", "Activity_B"),
        flow("Flow_4", "Activity_A", "EndEvent_1"),
        flow("Flow_5", "Activity_B", "EndEvent_2"),
    )
    assert check(xml) == [
        Problem("Gateway_Split", "并行网关 Gateway_Split 的分支没有在同一个汇聚网关汇合")
    ]


def split_join(*branch_b: str, links_b: tuple[str, ...], before: tuple[str, ...] = ()) -> str:
    """start → [before] → split → A → join → end, with branch B built by the caller."""
    into_split = ["StartEvent_1", *before, "Gateway_Split"]
    return bpmn(
        start(),
        *(xor(node) for node in before),
        parallel("Gateway_Split"),
        user_task("Activity_A"),
        *branch_b,
        parallel("Gateway_Join"),
        end(),
        *(flow(f"Flow_In{i}", a, b) for i, (a, b) in enumerate(pairwise(into_split))),
        flow("Flow_A1", "Gateway_Split", "Activity_A"),
        flow("Flow_A2", "Activity_A", "Gateway_Join"),
        *links_b,
        flow("Flow_Out", "Gateway_Join", "EndEvent_1"),
    )


def test_a_parallel_branch_that_can_end_without_the_join_is_reported():
    xml = split_join(
        user_task("Activity_B"),
        xor("Gateway_Check", default="Flow_B4"),
        end("EndEvent_Early"),
        links_b=(
            flow("Flow_B1", "Gateway_Split", "Activity_B"),
            flow("Flow_B2", "Activity_B", "Gateway_Check"),
            flow("Flow_B3", "Gateway_Check", "Gateway_Join", "customer.vip"),
            flow("Flow_B4", "Gateway_Check", "EndEvent_Early"),
        ),
    )
    problem = only_problem(xml)
    assert problem.element_id == "Gateway_Split"
    assert problem.message.startswith("并行网关 Gateway_Split 的分支没有在同一个汇聚网关汇合")
    assert "Flow_B1" in problem.message and "EndEvent_Early" in problem.message


def test_a_parallel_branch_that_loops_back_before_the_split_is_reported():
    xml = split_join(
        user_task("Activity_B"),
        xor("Gateway_Check", default="Flow_B3"),
        before=("Gateway_Again",),
        links_b=(
            flow("Flow_B1", "Gateway_Split", "Activity_B"),
            flow("Flow_B2", "Activity_B", "Gateway_Check"),
            flow("Flow_B3", "Gateway_Check", "Gateway_Join"),
            flow("Flow_B4", "Gateway_Check", "Gateway_Again", "customer.vip"),
        ),
    )
    problem = only_problem(xml)
    assert problem.element_id == "Gateway_Split"
    assert "离开并行区域" in problem.message and "Gateway_Again" in problem.message


def test_a_join_waiting_for_more_flows_than_the_split_has_branches_is_reported():
    xml = split_join(
        user_task("Activity_B"),
        xor("Gateway_Check", default="Flow_B4"),
        links_b=(
            flow("Flow_B1", "Gateway_Split", "Activity_B"),
            flow("Flow_B2", "Activity_B", "Gateway_Check"),
            flow("Flow_B3", "Gateway_Check", "Gateway_Join", "customer.vip"),
            flow("Flow_B4", "Gateway_Check", "Gateway_Join"),
        ),
    )
    problem = only_problem(xml)
    assert problem.element_id == "Gateway_Join"
    assert "有 3 条进入连线" in problem.message and "2 条分支" in problem.message


def test_a_loop_inside_a_parallel_branch_is_fine():
    xml = split_join(
        user_task("Activity_B"),
        xor("Gateway_Check", default="Flow_B3"),
        links_b=(
            flow("Flow_B1", "Gateway_Split", "Activity_B"),
            flow("Flow_B2", "Activity_B", "Gateway_Check"),
            flow("Flow_B3", "Gateway_Check", "Gateway_Join"),
            flow("Flow_B4", "Gateway_Check", "Activity_B", "!customer.vip"),
        ),
    )
    assert check(xml) == []


def test_nested_parallel_blocks_are_fine():
    xml = split_join(
        parallel("Gateway_Inner"),
        user_task("Activity_B1"),
        user_task("Activity_B2"),
        parallel("Gateway_InnerJoin"),
        links_b=(
            flow("Flow_B1", "Gateway_Split", "Gateway_Inner"),
            flow("Flow_B2", "Gateway_Inner", "Activity_B1"),
            flow("Flow_B3", "Gateway_Inner", "Activity_B2"),
            flow("Flow_B4", "Activity_B1", "Gateway_InnerJoin"),
            flow("Flow_B5", "Activity_B2", "Gateway_InnerJoin"),
            flow("Flow_B6", "Gateway_InnerJoin", "Gateway_Join"),
        ),
    )
    assert check(xml) == []


def test_a_user_task_without_any_role_is_reported():
    xml = straight("Activity_1", flows=(user_task("Activity_1", role=""),))
    problem = only_problem(xml)
    assert problem.element_id == "Activity_1"
    assert problem.message.startswith("用户任务没有角色")


def test_an_owner_assigned_task_still_needs_a_fallback_role():
    task = user_task("Activity_1", role="", assignment="owner")
    problem = only_problem(straight("Activity_1", flows=(task,)))
    assert "候选范围" in problem.message


def test_a_user_assigned_task_needs_the_user():
    task = user_task("Activity_1", role="", assignment="user")
    problem = only_problem(straight("Activity_1", flows=(task,)))
    assert problem.message == "分配方式为指定用户（user），但没有填写用户（ruwang:user）"


def test_an_unknown_user_is_reported():
    xml = ONBOARDING.replace('ruwang:user="zhang.wei"', 'ruwang:user="wang.fang"')
    assert check(xml) == [Problem("Activity_Director", "用户 wang.fang 不存在或已停用")]
    assert check(xml, users=None) == []


def test_a_user_given_without_user_assignment_is_reported():
    task = user_task("Activity_1", user="li.na")
    problem = only_problem(straight("Activity_1", flows=(task,)))
    assert "分配方式是 role" in problem.message


def test_an_unknown_task_role_is_reported():
    xml = ONBOARDING.replace('ruwang:role="director"', 'ruwang:role="boss"')
    assert check(xml) == [Problem("Activity_Approve", "角色 boss 不存在")]


def test_an_unknown_lane_role_is_reported_on_the_lane():
    xml = ONBOARDING.replace('ruwang:role="engineer"', 'ruwang:role="installer"')
    assert check(xml) == [Problem("Lane_Engineering", "泳道的角色 installer 不存在")]


def test_an_unknown_escalation_role_is_reported():
    xml = ONBOARDING.replace("role:director", "role:ceo")
    assert check(xml) == [Problem("Activity_Notice", "升级规则中的角色 ceo 不存在")]


def test_an_unknown_form_is_reported():
    xml = ONBOARDING.replace('ruwang:formKey="site_survey"', 'ruwang:formKey="survey_v2"')
    assert check(xml) == [Problem("Activity_Survey", "表单 survey_v2 不存在")]


def test_an_sla_the_calendar_cannot_read_is_reported():
    xml = ONBOARDING.replace('ruwang:sla="3 workdays"', 'ruwang:sla="三天"')
    assert check(xml) == [Problem("Activity_Survey", "无法识别的时限（ruwang:sla）：三天")]


def test_a_reminder_without_an_sla_is_reported():
    xml = ONBOARDING.replace(
        'ruwang:sla="2 workdays" ruwang:remindBefore="4 work hours" '
        'ruwang:escalation="supervisor,supervisor,role:director"',
        'ruwang:remindBefore="4 work hours"',
    )
    problem = only_problem(xml)
    assert problem.element_id == "Activity_Notice"
    assert "没有设置时限" in problem.message


def test_a_service_task_without_a_handler_is_reported():
    xml = straight("Activity_1", flows=(service_task("Activity_1", handler=""),))
    assert check(xml) == [Problem("Activity_1", "服务任务没有指定处理程序（ruwang:handler）")]


def test_an_unregistered_handler_is_reported():
    xml = ONBOARDING.replace("monitoring.register_device", "monitoring.register")
    assert check(xml) == [Problem("Activity_Register", "处理程序 monitoring.register 未注册")]


def test_a_condition_that_does_not_parse_is_reported():
    xml = exclusive_choice(first="customer.vip ==")
    problem = only_problem(xml)
    assert problem.element_id == "Flow_2"
    assert problem.message.startswith("条件表达式无法解析")


def test_a_condition_reading_unknown_data_is_reported():
    xml = ONBOARDING.replace('decision == "reject"', 'decison == "reject" &amp;&amp; !credit_ok')
    assert check(xml) == [Problem("Flow_Rejected", "条件引用了未知的数据：decison")]


def test_conditions_may_read_fields_of_every_form_in_the_process():
    xml = ONBOARDING.replace('decision == "reject"', "!credit_ok || size(notes) == 0")
    assert check(xml) == []


def test_an_unknown_attachment_kind_is_reported_when_kinds_are_given():
    problems = check(ONBOARDING, attachment_kinds={"contract"})
    assert problems == [Problem("Activity_Notice", "未知的附件类型：site_photo")]


def test_problems_come_in_document_order_without_duplicates():
    xml = bpmn(
        start(),
        user_task("Activity_1", role="nobody", formKey="nothing"),
        service_task("Activity_2", handler=""),
        end(),
        flow("Flow_1", "StartEvent_1", "Activity_1"),
        flow("Flow_2", "Activity_1", "Activity_2", "x > 1"),
        flow("Flow_3", "Activity_2", "EndEvent_1"),
    )
    problems = check(xml)
    assert [p.element_id for p in problems] == [
        "Activity_1",
        "Activity_1",
        "Activity_2",
        "Flow_2",
        "Flow_2",
    ]
    assert len(set(problems)) == len(problems)
