"""Demo after-sales service: three months of a fire-monitoring operator's service desk.

Loaded after the customers, devices and onboarding demos (ruwang.demo.DEMO_STEPS). The service
teams get their people (the demo engineers in 工程部售后组, the agents in 客户中心, two more
engineers and an agent as their colleagues, the demo supervisor leading both teams and given
the 南昌 region so that she sees the customers she reviews; one engineer is on leave this
week), the knowledge base eight articles, and the demo customers about 120 tickets of every
kind, priority, channel and status: faults, complaints at each step of their review,
consultations, upgrades, fault tickets the system raised for offline collectors, revisit
tickets of after-sales plans, resolved tickets with their satisfaction surveys (one low score
and its follow-up). Open tickets are on track, at risk or breached, so every service page has
something to show.

Every ticket is written through the services (tickets, complaints, surveys, knowledge base,
automation), as people would have. The services stamp their rows with the real time, so — as
onboarding.fire_demo does — each step is given its moment in the past, the steps of all
tickets run in the order of those moments (`Demo.run`), and `Clock` pairs the real moment each
step finished with its moment. Afterwards every row the demo wrote is moved onto the moment of
the step that wrote it, the SLA deadlines are computed again from there (pauses and reopenings
included), tickets closed after missing a deadline are marked breached, and the SLA tick
(service.sla) runs at each past moment an open ticket missed a deadline or was due to be
escalated, then now. Last, the dashboard figures are rebuilt.

Idempotent: nothing is added once any ticket opened by a person exists (the devices demo's
offline collectors raise system tickets before this runs).
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Model, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Department, Region, User
from accounts.services import generate_password, user_create
from audit.services import audit_record, changes_between, field_values
from customers.models import Customer, CustomerStatus, Site
from devices.models import Collector, CollectorStatus, Fault, FaultKind, FaultStatus
from service import automation, complaints, knowledge, services, surveys, tickets
from service.dashboard import stats_refresh
from service.defaults import service_defaults_ensure
from service.models import (
    AfterSalesPlan,
    Article,
    Channel,
    EntryKind,
    Leave,
    Priority,
    ScheduledRevisit,
    SlaState,
    Survey,
    Team,
    TeamMember,
    Ticket,
    TicketArticle,
    TicketEntry,
    TicketKind,
    TicketStatus,
)
from service.sla import LIVE_STATES, RUNNING_STATUSES, ticket_sla_tick
from workflow.business_calendar import current_calendar
from workflow.calendar import BusinessCalendar, parse_duration
from workflow.models import Notification

T = TypeVar("T")

SEED = 20261128
HISTORY_DAYS = 90
# Tickets of the desk's everyday flow over HISTORY_DAYS (besides the scenarios below).
DESK_TICKETS = 78
# Share of the surveys sent that customers answer.
ANSWER_RATE = 0.65
# A step planned later than this before now has not happened yet: the ticket stays open there.
NOT_YET = dt.timedelta(minutes=5)
# Revisits due in this many days before today are still open as tickets; older ones are done.
REVISIT_WINDOW_DAYS = 20


@dataclass(frozen=True)
class Colleague:
    """A demo colleague of the service teams besides the organisation's one-per-role users."""

    username: str
    display_name: str
    department: str
    role: str
    supervisor_role: str


COLLEAGUES = (
    Colleague("engineer2", "邓磊", "engineering", "engineer", "operations_director"),
    Colleague("engineer3", "彭涛", "engineering", "engineer", "operations_director"),
    Colleague("agent2", "罗丹", "customer_centre", "customer_centre_agent", "supervisor"),
)
ON_LEAVE = "engineer3"


# --- what the desk hears about -----------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """A ticket's subject and description, and the knowledge article that solves it ("")."""

    subject: str
    description: str
    article: str = ""
    answer: str = ""  # the first message to the customer
    resolution: str = ""  # the note resolving the ticket


FAULTS = (
    Topic(
        "监控中心报火灾报警控制器通讯故障",
        "监控中心值班员发现该单位火灾报警控制器与用户信息传输装置通讯中断，控制器状态无法上传。",
        "controller",
        "您好，已收到通讯故障报修，工程师今天会先远程检查，必要时上门处理。",
        "RS-232 接口松动，重新压接并紧固，控制器状态上传恢复正常。",
    ),
    Topic(
        "三层走廊感烟探测器频繁误报",
        "值班室反映三层东侧走廊感烟探测器一周内误报 4 次，现场无烟无火。",
        "false_alarm",
        "您好，已安排工程师上门检查误报的探测器，请值班人员配合。",
        "探测器迷宫积灰，已清洗并测试正常；建议装修期间加装防尘罩。",
    ),
    Topic(
        "采集机频繁掉线",
        "采集机近三天多次离线又恢复，每次持续 10 到 30 分钟。",
        "offline",
        "您好，已收到报修，我们正在查看采集机的在线记录，稍后与您联系。",
        "网线水晶头氧化，已重做水晶头并更换跳线，连续观察 24 小时在线稳定。",
    ),
    Topic(
        "宽带中断，采集机离线",
        "客户反映单位宽带故障，运营商已报修，采集机离线。",
        "broadband",
        "您好，宽带恢复前监控中心会加强电话巡查，恢复后请告知我们。",
        "运营商已修复光缆，采集机自动上线，心跳正常。",
    ),
    Topic(
        "备电欠压告警",
        "采集机上报备用电源欠压，主电正常。",
        "power",
        "您好，备电欠压不影响当前监控，工程师会带备用电池上门更换。",
        "备用蓄电池老化，已更换 12V 7Ah 蓄电池，充电后电压正常。",
    ),
    Topic(
        "4G 信号弱导致采集机掉线",
        "地下一层消防控制室 4G 信号弱，采集机 4G 链路频繁断开。",
        "signal",
        "您好，我们会上门测试信号，必要时加装外置天线。",
        "加装外置吸盘天线引至一层，信号强度由 -105dBm 提升到 -83dBm。",
    ),
    Topic(
        "厨房感温探测器误报火警",
        "厨房感温探测器午餐时段误报火警，监控中心已电话核实为误报。",
        "false_alarm",
        "您好，已记录误报情况，工程师会检查探测器的安装位置。",
        "探测器距灶台过近，已移位并改为定温型，观察一周无误报。",
    ),
    Topic(
        "采集机指示灯全灭",
        "值班人员发现消防控制室采集机指示灯全部熄灭，监控中心显示离线。",
        "power",
        "您好，请先确认采集机电源插座是否有电，工程师正在赶往现场。",
        "电源适配器损坏，已更换，采集机上线正常。",
    ),
    Topic(
        "控制器复位后点位状态未上传",
        "控制器复位后，监控中心看不到部分回路的点位状态。",
        "controller",
        "您好，工程师会远程核对点位表，稍后与您联系。",
        "控制器复位后通讯波特率恢复为出厂值，已改回 9600 并核对点位，状态上传正常。",
    ),
    Topic(
        "手动报警按钮动作后监控中心未收到信号",
        "消防演练时按下二层手动报警按钮，控制器报警但监控中心未收到。",
        "controller",
        "您好，已收到，我们会核对该按钮在点位表中的编码。",
        "该按钮在控制器中的编码与点位表不一致，已修正点位表并联调确认。",
    ),
)
COMPLAINTS = (
    Topic(
        "工程师上门比约定时间晚了两个小时",
        "客户投诉：约定上午 9 点上门检修，工程师 11 点才到，值班人员一直等候。",
        answer="您好，非常抱歉耽误了您的时间，您的投诉已受理，我们会在 5 个工作日内答复。",
        resolution="已向客户致歉并说明改进措施。",
    ),
    Topic(
        "误报后监控中心没有及时通知值班人员",
        "客户投诉：上周三晚上误报火警，监控中心 20 分钟后才电话通知值班室。",
        answer="您好，您的投诉已受理，我们正在调取当晚的值班记录。",
        resolution="已调查并向客户说明处理结果。",
    ),
    Topic(
        "同一故障维修后一周内再次出现",
        "客户投诉：采集机离线问题维修后一周又出现，要求彻底解决。",
        answer="您好，非常抱歉，我们已安排高级工程师跟进。",
        resolution="已彻底处理并告知客户。",
    ),
    Topic(
        "服务费发票迟迟未开具",
        "客户投诉：年度监控服务费已付款一个月，发票仍未收到。",
        answer="您好，已转财务核实开票进度，今天内给您回复。",
        resolution="发票已开具寄出，已告知客户快递单号。",
    ),
    Topic(
        "客服电话多次无人接听",
        "客户投诉：周六上午拨打客服电话三次无人接听。",
        answer="您好，非常抱歉，您的投诉已受理，我们会核查当天的值班安排。",
        resolution="已向客户致歉并说明改进措施。",
    ),
    Topic(
        "安装施工后吊顶未恢复",
        "客户投诉：采集机布线施工后，消防控制室吊顶有两块未复原。",
        answer="您好，非常抱歉，我们会安排施工人员尽快上门恢复。",
        resolution="吊顶已恢复，客户确认。",
    ),
    Topic(
        "监控中心电话核实时态度生硬",
        "客户投诉：监控中心核实报警时语气生硬，值班人员感到不被尊重。",
        answer="您好，感谢您的反馈，您的投诉已受理，我们会调取通话录音核实。",
        resolution="已调查并向客户说明处理结果。",
    ),
    Topic(
        "报警短信仍发送到已离职人员手机",
        "客户投诉：已提交联系人变更，报警短信仍发给已离职的原安全负责人。",
        answer="您好，已先停发原号码，正在核查变更为何未生效。",
        resolution="联系人已更新并测试短信发送，客户确认。",
    ),
    Topic(
        "回访电话在营业高峰时段打扰客户",
        "客户投诉：回访电话在中午营业高峰打来，影响正常经营。",
        answer="您好，感谢您的反馈，您的投诉已受理。",
        resolution="已调整该客户的回访时段。",
    ),
)
# Root cause and corrective action of each complaint, in the order of COMPLAINTS.
COMPLAINT_ANALYSIS = (
    (
        "派工时未考虑工程师上一单的路程时间，上门时间承诺过紧。",
        "派工系统按路程预留时间；无法准时到达时提前 30 分钟电话告知客户。",
    ),
    (
        "当晚同时有 6 起报警，值班员按顺序处理，未按单位重要程度排序。",
        "报警处理按重点单位优先排序，夜间增加一名值班员。",
    ),
    (
        "第一次维修只更换了网线，未检查交换机端口，故障根源未排除。",
        "更换交换机端口并做 72 小时在线观察，同类故障维修后必须观察满 72 小时再关单。",
    ),
    ("开票申请在财务流转中遗漏。", "开票申请纳入工单跟踪，3 个工作日内开具。"),
    (
        "周六值班人员临时请假，电话未转接到备用号码。",
        "节假日值班电话设置无人接听自动转接，值班表提前一周公布。",
    ),
    ("施工完成后未按规范做现场恢复检查。", "施工交接单增加现场恢复确认项，由客户签字。"),
    ("值班员连续处理多起误报，沟通用语不规范。", "全员复训报警核实话术，通话录音每周抽查。"),
    (
        "联系人变更只改了客户档案，未同步到短信发送名单。",
        "联系人变更后由系统同步短信名单，并向新联系人发送测试短信。",
    ),
    ("回访未约定时段，按默认时间拨打。", "回访前先约定客户方便的时段并记入客户档案。"),
)
CONSULTATIONS = (
    Topic(
        "咨询监控服务年费续费流程",
        "客户来电询问服务到期后如何续费，续费是否需要重新签合同。",
        "fee",
        "您好，续费只需签续费确认单并按原标准付款，客户经理会把确认单发给您。",
        "已发送续费确认单和付款账户。",
    ),
    Topic(
        "咨询新建楼栋如何接入远程监控",
        "客户新建 2 号楼，询问接入远程监控需要准备哪些资料。",
        "",
        "您好，需要提供营业执照、新楼火灾自动报警系统图和平面图，客户经理会上门对接。",
        "已转客户经理，约定下周上门勘察。",
    ),
    Topic(
        "咨询消防检查需要的联网证明",
        "消防检查要求提供远程监控联网证明，客户询问如何开具。",
        "fee",
        "您好，联网证明可在 2 个工作日内开具，电子版和盖章原件都可以提供。",
        "已开具联网证明并发送电子版。",
    ),
    Topic(
        "咨询报警短信接收人如何变更",
        "客户安全负责人更换，询问如何变更报警短信接收人。",
        "",
        "您好，请发来新负责人的姓名和手机号，并加盖公章的变更函。",
        "短信接收人已变更。",
    ),
    Topic(
        "如何查看本单位近一个月的报警记录",
        "客户需要近一个月的报警记录用于内部检查。",
        "",
        "您好，我们已导出报警记录，稍后发到您的邮箱。",
        "报警记录已发送。",
    ),
    Topic(
        "咨询采集机断电后能坚持多久",
        "客户询问停电检修时采集机能工作多长时间。",
        "power",
        "您好，采集机备电充满时可工作 8 小时以上，停电超过 4 小时请提前告知监控中心。",
        "已解答，客户将在停电检修前报备。",
    ),
    Topic(
        "咨询误报太多是否需要更换探测器",
        "客户反映误报较多，询问是否需要整体更换探测器。",
        "false_alarm",
        "您好，多数误报清洗探测器即可解决，工程师会先做一次检测。",
        "检测后清洗 12 只探测器，更换 2 只老化探测器。",
    ),
    Topic(
        "咨询更换宽带运营商对监控的影响",
        "客户计划更换宽带运营商，询问监控是否会中断。",
        "broadband",
        "您好，切换当天请提前告知，我们会临时切到 4G 链路，监控不中断。",
        "已约定切换日期，切换期间使用 4G 链路。",
    ),
)
OTHERS = (
    Topic(
        "变更值班联系人电话",
        "客户消防控制室值班电话变更，需要更新档案。",
        "",
        "您好，新号码已记录，我们会拨打确认。",
        "值班电话已更新并拨打确认。",
    ),
    Topic(
        "申请开具消防远程监控联网证明",
        "客户年检需要联网证明原件。",
        "fee",
        "您好，原件将在 2 个工作日内寄出。",
        "联网证明原件已寄出。",
    ),
    Topic(
        "消防控制室搬迁，采集机需要移机",
        "客户消防控制室从一层搬到负一层，采集机需移机并重新联调。",
        "",
        "您好，移机需要先勘察新位置的网络和电源，工程师会与您约时间。",
        "采集机已移机并完成联调。",
    ),
    Topic(
        "申请增加报警短信接收人",
        "客户希望增加一名副总为报警短信接收人。",
        "",
        "您好，请提供接收人姓名和手机号。",
        "已增加短信接收人。",
    ),
    Topic(
        "单位更名，需要更新合同和档案信息",
        "客户单位名称变更，营业执照已换发。",
        "",
        "您好，请提供新营业执照复印件，我们会更新档案并出具补充协议。",
        "档案已更新，补充协议已签回。",
    ),
)
UPGRADES = (
    Topic("采集机固件升级至 2.4.1", "厂家发布 2.4.1 固件，修复 4G 断线后重连慢的问题，需升级。",
          "firmware", "您好，我们将远程升级采集机固件，升级期间约中断监控 5 分钟。",
          "已远程升级至 2.4.1，重启后心跳正常。"),
    Topic("采集机固件升级失败后无法启动", "远程升级中断电，采集机反复重启，需现场恢复。",
          "firmware", "您好，工程师今天上门用串口恢复固件。",
          "串口刷写 2.4.1 固件后启动正常，联调通过。"),
)  # fmt: skip
TOPICS: dict[str, tuple[Topic, ...]] = {
    TicketKind.FAULT: FAULTS,
    TicketKind.CONSULTATION: CONSULTATIONS,
    TicketKind.OTHER: OTHERS,
    TicketKind.UPGRADE: UPGRADES,
}
WAITING_REASONS = (
    "已电话联系客户，等待客户确认上门时间。",
    "等待运营商修复宽带。",
    "等待客户提供营业执照复印件。",
    "等待厂家寄送备件，客户同意延后处理。",
)
RESUMED = "客户已回复，继续处理。"
REOPENED = "客户来电反映问题再次出现，重新处理。"
CLOSED = "已电话回访，客户确认问题解决。"
TWICE = Topic(
    "",
    "",
    "offline",
    "您好，采集机今天两次离线，工程师马上到现场检查。",
    "现场检查：交换机电源适配器损坏，已更换，采集机恢复在线。",
)
DEVICE_FAULT_ANSWER = "您好，采集机电源模块故障，已安排更换，备件明天上午到。"
FOLLOW_UP_CALL = (
    "您好，我是客户中心主管，非常抱歉这次维修耽误了您的时间，我们明天安排高级工程师上门复查。"
)
FOLLOW_UP_DONE = (
    "高级工程师复查：交换机端口老化已更换，连续观察 48 小时在线稳定；已向客户致歉，客户表示认可。"
    "派工规则已调整：同一故障第二次报修由高级工程师处理。"
)


@dataclass(frozen=True)
class ArticleSpec:
    key: str
    title: str
    problem: str
    cause: str
    solution: str
    keywords: str


ARTICLES = (
    ArticleSpec("offline", "采集机（用户信息传输装置）离线的排查",
                "监控中心显示采集机离线，连续三个心跳周期未收到数据。",
                "常见原因：现场断电、网线或水晶头接触不良、交换机端口故障、采集机死机。",
                "1. 电话请值班人员查看采集机电源和网口指示灯；2. 指示灯全灭先查电源和适配器；"
                "3. 网口灯不亮时重做水晶头、更换跳线或交换机端口；4. 仍不恢复则断电重启采集机，"
                "并上门检查；5. 恢复后观察 24 小时在线记录。",
                "离线、掉线、心跳、采集机、指示灯"),
    ArticleSpec("controller", "火灾报警控制器与采集机通讯故障",
                "采集机在线，但监控中心收不到控制器的状态或报警。",
                "RS-232/RS-485 接口松动、接线错误、控制器复位后通讯参数恢复出厂值。",
                "1. 检查控制器通讯口接线并紧固；2. 核对波特率、数据位和协议（默认 9600、8N1）；"
                "3. 控制器复位后重新设置通讯参数；4. 在控制器上做一次自检，确认监控中心收到。",
                "通讯故障、控制器、RS-232、RS-485、波特率、复位"),
    ArticleSpec("false_alarm", "感烟、感温探测器误报的处理",
                "同一探测器反复报火警，现场确认无烟无火。",
                "探测器积灰或进虫、装修粉尘、厨房油烟和水汽、安装位置距热源过近、探测器老化。",
                "1. 监控中心电话核实并记录为误报；2. 工程师上门清洗探测器迷宫并测试；"
                "3. 厨房等场所改用感温探测器并远离灶台；4. 使用超过 10 年的探测器建议更换；"
                "5. 处理后观察一周，仍误报则更换探测器。",
                "误报、感烟、感温、探测器、油烟、灰尘"),
    ArticleSpec("broadband", "宽带中断导致采集机离线",
                "采集机使用宽带链路，单位网络故障时监控中断。",
                "宽带欠费停机、光猫断电或故障、运营商线路故障。",
                "1. 请客户确认单位其他电脑能否上网；2. 欠费或光猫故障由客户联系运营商；"
                "3. 双链路采集机确认已切到 4G；4. 恢复前监控中心每 2 小时电话巡查一次；"
                "5. 宽带恢复后确认采集机自动上线。",
                "宽带、断网、光猫、运营商、欠费"),
    ArticleSpec("firmware", "采集机固件升级失败的恢复",
                "远程升级固件后采集机不上线或反复重启。",
                "升级过程中断电或网络中断，固件写入不完整。",
                "1. 不要反复断电；2. 上门用串口线连接采集机维护口；3. 用厂家工具刷写当前版本"
                "固件（如 2.4.1）；4. 重启后核对版本号和心跳；5. 与监控中心做一次联调。",
                "固件、升级、失败、重启、刷写"),
    ArticleSpec("signal", "4G 信号弱导致频繁掉线",
                "4G 采集机在地下室或弱信号区域频繁掉线。",
                "消防控制室位于地下或金属屏蔽环境，信号强度低于 -100dBm。",
                "1. 在采集机维护页查看信号强度；2. 加装外置吸盘天线并引至信号较好的位置；"
                "3. 仍不稳定时更换运营商物联网卡或改用宽带链路。",
                "4G、信号、天线、物联网卡、掉线"),
    ArticleSpec("power", "采集机主电、备电故障",
                "采集机上报主电故障或备电欠压，或指示灯全灭。",
                "主电断电、电源适配器损坏、备用蓄电池老化（一般 3 年）。",
                "1. 主电故障先请值班人员查插座和空开；2. 指示灯全灭时更换电源适配器；"
                "3. 备电欠压时更换 12V 7Ah 蓄电池；4. 停电检修超过 4 小时请提前报备监控中心。",
                "主电、备电、电源、欠压、蓄电池、断电"),
    ArticleSpec("fee", "服务续费、发票与联网证明",
                "客户询问监控服务续费、开具发票或联网证明。",
                "",
                "1. 续费：签续费确认单，按原标准付款；2. 发票：付款后 3 个工作日内开具；"
                "3. 联网证明：2 个工作日内出具电子版，原件邮寄。",
                "续费、年费、发票、联网证明"),
)  # fmt: skip
LOW_SCORE_COMMENT = "工程师来了两次才修好，中间耽误了一个星期，希望以后响应快一点。"
COMMENTS = {
    5: ("工程师很专业，处理得很快。", "响应及时，态度很好。", "", "满意", ""),
    4: ("处理结果满意，就是等的时间有点长。", "", "总体不错。", ""),
    3: ("问题解决了，但沟通可以更主动一些。", "", "上门时间一改再改。"),
}
REVISIT_FINDINGS = (
    "采集机运行正常，在线率 100%；客户对监控服务满意。",
    "设备运行正常；值班人员已掌握报警确认流程。",
    "控制器有 2 个点位屏蔽未恢复，已提醒客户维保单位处理。",
    "客户反映误报减少，对上次维修满意。",
)
REVISIT_ISSUE = "二层手动报警按钮外壳破损，需要更换"
REVISIT_CANCELLED = "客户负责人出差，电话未接通，下次回访一并跟进"
REVISIT_ARRANGED = "您好，我们是售后服务部，想和您约一个时间做这次回访。"
# After-sales plans of customers onboarded before the demo's onboarding cases: how many days
# ago each began (handover). The 1-, 3-, 6- and 12-month revisits of these fall a few days ago
# (open revisit tickets), a week or two ago (recorded, or overdue), and in the coming days.
PLAN_STARTS_DAYS_AGO = (33, 38, 97, 45, 26, 186, 370, 88, 60, 130, 220, 280)


# --- the demo's past, step by step ---------------------------------------------------------

# A story is one strand of the demo's past (a ticket's life, the revisit tick …): a generator
# that yields each step as (its moment in the past, the work to run) and is sent the work's
# result. `Demo.run` runs the steps of all stories in the order of their moments, so tickets
# are numbered in the order they came in and routing sees the queues as they were.
Step = tuple[dt.datetime, Callable[[], Any]]
Story = Generator[Step, Any, T]


class Clock:
    """Pairs the real moment each demo step finished with the moment in the past it stands
    for; `past` maps a time the services wrote during a step onto that step's moment."""

    def __init__(self) -> None:
        self.started = timezone.now()
        self._reals: list[dt.datetime] = []
        self._pasts: list[dt.datetime] = []

    def mark(self, past: dt.datetime) -> None:
        self._reals.append(timezone.now())
        self._pasts.append(past)

    def past(self, moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None or moment < self.started:
            return moment
        index = bisect.bisect_left(self._reals, moment)
        return self._pasts[index] if index < len(self._reals) else moment


@dataclass
class Staff:
    engineers: list[User]
    agents: list[User]
    lead: User
    monitor: User


@dataclass
class Demo:
    rng: random.Random
    now: dt.datetime
    calendar: BusinessCalendar
    clock: Clock
    staff: Staff
    after_sales: Team
    centre: Team
    articles: dict[str, Article]
    customers: list[Customer]
    unowned: list[Customer]
    collectors: dict[int, Collector]
    sites: dict[int, Site]
    week_start: dt.datetime
    rotation: dict[int, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    _queue: list[tuple[dt.datetime, int, Story[Any], Callable[[], Any]]] = field(
        default_factory=list
    )
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _current: dt.datetime | None = None  # the moment of the step running (or last run)

    def happened(self, at: dt.datetime) -> bool:
        return at <= self.now - NOT_YET

    def spawn(self, story: Story[Any]) -> None:
        """Add a story; its first step runs at its moment."""
        self._advance(story, None)

    def _advance(self, story: Story[Any], result: Any) -> None:
        try:
            at, work = story.send(result)
        except StopIteration:
            return
        # A story's next step may fall before a step of another story that already ran (its
        # time worked out from its own earlier steps): it runs at once, at the current moment,
        # so that what the steps write (tickets, numbered as they come) stays in time order.
        if self._current is not None and at < self._current:
            at = self._current
        heapq.heappush(self._queue, (at, next(self._order), story, work))

    def run(self) -> None:
        while self._queue:
            at, _order, story, work = heapq.heappop(self._queue)
            self._current = at
            result = work()
            self.clock.mark(at)
            self._advance(story, result)


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_default_timezone())


def _between(
    demo: Demo, start: dt.datetime, end: dt.datetime, fraction: float, work: bool
) -> dt.datetime:
    """The moment `fraction` of the way from start to end, counting working time only when
    `work` (a reply to a work-hours target comes in office hours)."""
    if end <= start:
        return start + dt.timedelta(minutes=5)
    if not work:
        return start + (end - start) * fraction
    total = demo.calendar.work_seconds_between(start, end)
    moment = demo.calendar.add_work_time(start, dt.timedelta(seconds=max(total * fraction, 60)))
    return min(moment, end) if fraction <= 1 else moment


def _later(demo: Demo, start: dt.datetime, text: str, fraction: float) -> dt.datetime:
    """`fraction` of the duration `text` after start, on the duration's own clock."""
    duration = parse_duration(text)
    end = demo.calendar.add(start, duration)
    return _between(demo, start, end, fraction, duration.is_work_time)


def _ago(demo: Demo, text: str) -> dt.datetime:
    return demo.calendar.subtract(demo.now, parse_duration(text))


def _shift(
    calendar: BusinessCalendar, due: dt.datetime, text: str, since: dt.datetime, until: dt.datetime
) -> dt.datetime:
    """A deadline moved by the time paused between since and until (as service.tickets does
    when a ticket stops waiting)."""
    if parse_duration(text).is_work_time:
        paused = calendar.work_seconds_between(since, until)
        return calendar.add_work_time(due, dt.timedelta(seconds=paused))
    return due + (until - since)


# --- people ----------------------------------------------------------------------------------


def _audited(obj: Model, before: dict[str, Any] | None = None) -> None:
    """Save a set-up row as the administration pages do: with its audit row (no actor)."""
    created = obj.pk is None
    obj.save()
    audit_record(
        actor=None,
        action=f"{obj._meta.model_name}.{'create' if created else 'update'}",
        obj=obj,
        changes=changes_between(before or {}, field_values(obj)),
    )


def _demo_users(role: str) -> list[User]:
    return list(
        User.objects.filter(groups__role__code=role, is_demo=True, is_active=True).order_by("id")
    )


def _colleagues() -> None:
    """The service teams' colleagues besides the organisation's one user per role (their
    passwords are not printed: they are people the routing hands tickets to)."""
    departments = {d.code: d for d in Department.objects.all()}
    for spec in COLLEAGUES:
        if User.objects.filter(username=spec.username).exists():
            continue
        supervisors = _demo_users(spec.supervisor_role)
        user_create(
            actor=None,
            username=spec.username,
            display_name=spec.display_name,
            department=departments.get(spec.department),
            supervisor=supervisors[0] if supervisors else None,
            role_codes=[spec.role],
            password=generate_password(16, symbols="-"),
            must_change_password=False,
            is_demo=True,
        )


def _lead_sees_customers(lead: User) -> None:
    """The customer-centre supervisor leads the service: she reviews complaints and follows up
    low scores of every customer of 南昌 (the demo organisation gives her no region)."""
    nanchang = Region.objects.filter(code="360100").first()
    if nanchang is None or lead.regions.filter(pk=nanchang.pk).exists():
        return
    before = sorted(lead.regions.values_list("pk", flat=True))
    lead.regions.add(nanchang)
    audit_record(
        actor=None,
        action="user.update",
        obj=lead,
        changes=changes_between({"regions": before}, {"regions": sorted([*before, nanchang.pk])}),
    )
    lead.__dict__.pop("_customer_scope", None)


def _teams(today: dt.date) -> tuple[Staff, Team, Team] | None:
    """The teams' members and lead, and this week's leave."""
    service_defaults_ensure()
    _colleagues()
    engineers = _demo_users("engineer")
    agents = _demo_users("customer_centre_agent")
    leads, monitors = _demo_users("supervisor"), _demo_users("monitoring_operator")
    after_sales = Team.objects.filter(code="after-sales").first()
    centre = Team.objects.filter(code="customer-centre").first()
    if not (engineers and agents and leads and monitors and after_sales and centre):
        return None
    lead = leads[0]
    _lead_sees_customers(lead)
    departments = {d.code: d for d in Department.objects.all()}
    for team, people, department in (
        (after_sales, engineers, "engineering"),
        (centre, agents, "customer_centre"),
    ):
        before = field_values(team)
        team.lead = lead
        team.department = team.department or departments.get(department)
        _audited(team, before)
        for person in people:
            if not TeamMember.objects.filter(team=team, user=person).exists():
                _audited(TeamMember(team=team, user=person))
    away = User.objects.filter(username=ON_LEAVE, is_demo=True).first()
    if away is not None:
        monday = today - dt.timedelta(days=today.weekday())
        _audited(
            Leave(user=away, starts_on=monday, ends_on=monday + dt.timedelta(days=6), note="年假")
        )
    staff = Staff(engineers=engineers, agents=agents, lead=lead, monitor=monitors[0])
    return staff, after_sales, centre


# --- knowledge base --------------------------------------------------------------------------


def _articles(author: User, now: dt.datetime, rng: random.Random) -> dict[str, Article]:
    articles = {}
    for spec in ARTICLES:
        article = knowledge.article_create(
            actor=author,
            data={
                "title": spec.title,
                "problem": spec.problem,
                "cause": spec.cause,
                "solution": spec.solution,
                "keywords": spec.keywords,
                "is_published": True,
            },
        )
        Article.objects.filter(pk=article.pk).update(
            updated_at=now - dt.timedelta(days=rng.randint(HISTORY_DAYS, HISTORY_DAYS + 60))
        )
        articles[spec.key] = article
    return articles


# --- one ticket's life ---------------------------------------------------------------------------

FAULT_NOTES = (
    "已联系值班人员，约定明天上午上门。",
    "远程查看采集机日志，近三天有多次重启记录。",
    "备件已申领，到货后上门更换。",
    "已请监控中心协助核对点位表。",
)


def _team_for(demo: Demo, kind: str) -> Team:
    routed = (TicketKind.FAULT, TicketKind.REVISIT, TicketKind.UPGRADE)
    return demo.after_sales if kind in routed else demo.centre


def _assignee_for(demo: Demo, team: Team, created: dt.datetime) -> User | None:
    """This week's tickets are routed by the team's rule (skipping whoever is on leave); older
    ones went round the team as it was then."""
    if created >= demo.week_start:
        return None
    people = demo.staff.engineers if team.pk == demo.after_sales.pk else demo.staff.agents
    turn = demo.rotation.get(team.pk, 0)
    demo.rotation[team.pk] = turn + 1
    return people[turn % len(people)]


def _creator(demo: Demo, kind: str, channel: str) -> User:
    if channel == Channel.MONITORING:
        return demo.staff.monitor
    if kind == TicketKind.UPGRADE or channel == Channel.VISIT:
        return demo.staff.engineers[0]
    return demo.rng.choice(demo.staff.agents)


def _open(
    demo: Demo,
    *,
    kind: str,
    priority: str,
    channel: str,
    topic: Topic,
    created: dt.datetime,
    customer: Customer | None = None,
) -> Story[Ticket]:
    customer = customer or _customer(demo, kind)
    team = _team_for(demo, kind)
    collector = (
        demo.collectors.get(customer.pk) if kind in (TicketKind.FAULT, TicketKind.UPGRADE) else None
    )
    site = collector.site if collector is not None else demo.sites.get(customer.pk)

    def work() -> Ticket:
        return tickets.ticket_create(
            actor=_creator(demo, kind, channel),
            customer=customer,
            kind=kind,
            subject=topic.subject,
            description=topic.description,
            priority=priority,
            channel=channel,
            site=site,
            collector=collector,
            team=team,
            assignee=_assignee_for(demo, team, created),
            now=created,
        )

    ticket: Ticket = yield created, work
    return ticket


def _worker(demo: Demo, ticket: Ticket) -> User:
    return ticket.assignee or demo.staff.lead


def _respond(demo: Demo, ticket: Ticket, at: dt.datetime, text: str) -> Story[Ticket]:
    """Taken on: in progress, and the first message to the customer."""
    worker = _worker(demo, ticket)

    def work() -> Ticket:
        current = tickets.ticket_set_status(
            actor=worker, ticket=ticket, status=TicketStatus.IN_PROGRESS
        )
        tickets.ticket_note(actor=worker, ticket=current, text=text, to_customer=True)
        return current

    current: Ticket = yield at, work
    return current


def _note(demo: Demo, ticket: Ticket, at: dt.datetime, text: str) -> Story[None]:
    worker = _worker(demo, ticket)
    yield at, lambda: tickets.ticket_note(actor=worker, ticket=ticket, text=text)


def _status(
    demo: Demo, ticket: Ticket, at: dt.datetime, status: str, text: str = ""
) -> Story[Ticket]:
    worker = _worker(demo, ticket)
    current: Ticket = yield (
        at,
        lambda: tickets.ticket_set_status(actor=worker, ticket=ticket, status=status, text=text),
    )
    return current


def _link(demo: Demo, ticket: Ticket, at: dt.datetime, key: str) -> Story[None]:
    article = demo.articles.get(key)
    if article is not None:
        worker = _worker(demo, ticket)
        yield (
            at,
            lambda: knowledge.ticket_article_link(actor=worker, ticket=ticket, article=article),
        )


def _resolve(demo: Demo, ticket: Ticket, at: dt.datetime, topic: Topic) -> Story[Ticket]:
    """Resolved (the customer is sent a survey), with the article that solved it when one did."""
    worker = _worker(demo, ticket)
    article = demo.articles.get(topic.article) if topic.article else None
    solved = article is not None and demo.rng.random() < 0.6

    def work() -> Ticket:
        if solved and article is not None:
            knowledge.ticket_article_solved(actor=worker, ticket=ticket, article=article)
        return tickets.ticket_set_status(
            actor=worker,
            ticket=ticket,
            status=TicketStatus.RESOLVED,
            text=topic.resolution or CLOSED,
        )

    current: Ticket = yield at, work
    return current


def _scores(rng: random.Random) -> tuple[int, int, str]:
    """A customer's answer: mostly satisfied, some passive, no detractors (the one low score
    of the demo is its own scenario)."""
    csat = rng.choices((5, 4, 3), weights=(50, 33, 17))[0]
    nps = rng.choice({5: (9, 10, 10, 9, 8), 4: (7, 8, 8, 9), 3: (7, 7, 8)}[csat])
    return csat, nps, rng.choice(COMMENTS[csat])


def _answer(
    demo: Demo,
    at: dt.datetime,
    *,
    ticket: Ticket | None = None,
    survey: Survey | None = None,
    scores: tuple[int, int, str] | None = None,
) -> Story[Survey | None]:
    """The customer answers the survey about the ticket (or the one given), when it is sent."""
    if not demo.happened(at):
        return None
    csat, nps, comment = scores or _scores(demo.rng)

    def work() -> Survey | None:
        found = survey or Survey.objects.filter(ticket=ticket, answered_at__isnull=True).first()
        if found is None:  # the customer has no contact to ask
            return None
        demo.counts["answers"] += 1
        return surveys.survey_answer(survey=found, csat=csat, nps=nps, comment=comment)

    answered: Survey | None = yield at, work
    return answered


@dataclass(frozen=True)
class Life:
    """How a desk ticket goes: late or on time, with a wait on the customer, reopened once,
    and whether the customer answers the survey (None: as most do)."""

    late_response: bool = False
    late_resolution: bool = False
    waits: bool = False
    reopens: bool = False
    answers: bool | None = None


def _policy_texts(ticket: Ticket) -> tuple[str, str]:
    policy = ticket.policy
    if policy is None:
        return "1 workdays", "5 workdays"
    return policy.first_response, policy.resolution


def _live(demo: Demo, ticket: Ticket, topic: Topic, life: Life) -> Story[dt.datetime | None]:
    """Walk a ticket through its life as far as its planned moments have come by now; returns
    when it was resolved (None: still open)."""
    rng = demo.rng
    response_text, resolution_text = _policy_texts(ticket)
    created = ticket.created_at
    response_due = demo.calendar.add(created, parse_duration(response_text))
    resolution_due = demo.calendar.add(created, parse_duration(resolution_text))
    if life.late_response:
        respond_at = _later(demo, response_due, response_text, rng.uniform(0.3, 1.0))
    else:
        work = parse_duration(response_text).is_work_time
        respond_at = _between(demo, created, response_due, rng.uniform(0.1, 0.8), work)
    if not demo.happened(respond_at):
        return None
    if topic.article and ticket.kind == TicketKind.FAULT and rng.random() < 0.3:
        yield from _link(demo, ticket, respond_at, topic.article)
    ticket = yield from _respond(demo, ticket, respond_at, topic.answer or CLOSED)
    cursor = respond_at
    if ticket.kind == TicketKind.FAULT and rng.random() < 0.4:
        note_at = _later(demo, cursor, "2 work hours", rng.uniform(0.2, 1.0))
        if not demo.happened(note_at):
            return None
        yield from _note(demo, ticket, note_at, rng.choice(FAULT_NOTES))
        cursor = note_at
    if life.waits:
        wait_at = _later(demo, cursor, "4 work hours", rng.uniform(0.2, 1.0))
        if not demo.happened(wait_at):
            return None
        reason = rng.choice(WAITING_REASONS)
        ticket = yield from _status(demo, ticket, wait_at, TicketStatus.WAITING, reason)
        resume_at = _later(demo, wait_at, "2 workdays", rng.uniform(0.3, 1.0))
        if not demo.happened(resume_at):
            return None
        ticket = yield from _status(demo, ticket, resume_at, TicketStatus.IN_PROGRESS, RESUMED)
        resolution_due = _shift(demo.calendar, resolution_due, resolution_text, wait_at, resume_at)
        cursor = resume_at
    if life.late_resolution or resolution_due <= cursor:
        start = max(resolution_due, cursor)
        resolve_at = _later(demo, start, resolution_text, rng.uniform(0.2, 0.8))
    else:
        work = parse_duration(resolution_text).is_work_time
        resolve_at = _between(demo, cursor, resolution_due, rng.uniform(0.2, 0.9), work)
    if not demo.happened(resolve_at):
        return None
    ticket = yield from _resolve(demo, ticket, resolve_at, topic)
    if life.reopens:
        reopen_at = _later(demo, resolve_at, "1 workdays", rng.uniform(0.3, 1.0))
        if not demo.happened(reopen_at):
            return resolve_at
        ticket = yield from _status(demo, ticket, reopen_at, TicketStatus.IN_PROGRESS, REOPENED)
        resolve_at = _later(demo, reopen_at, "4 work hours", rng.uniform(0.3, 1.0))
        if not demo.happened(resolve_at):
            return None
        ticket = yield from _resolve(demo, ticket, resolve_at, topic)
    answers = life.answers if life.answers is not None else rng.random() < ANSWER_RATE
    if answers:
        answer_at = resolve_at + dt.timedelta(hours=rng.uniform(1, 72))
        yield from _answer(demo, answer_at, ticket=ticket)
    close_at = _later(demo, resolve_at, "1 workdays", rng.uniform(0.3, 2.0))
    if demo.happened(close_at):
        yield from _status(demo, ticket, close_at, TicketStatus.CLOSED, CLOSED)
    return resolve_at


# --- the desk's everyday flow ----------------------------------------------------------------

KIND_MIX = (
    (TicketKind.FAULT, 34),
    (TicketKind.CONSULTATION, 24),
    (TicketKind.OTHER, 13),
    (TicketKind.UPGRADE, 7),
)
PRIORITIES: dict[str, tuple[tuple[str, int], ...]] = {
    TicketKind.FAULT: ((Priority.URGENT, 8), (Priority.HIGH, 32), (Priority.NORMAL, 48),
                       (Priority.LOW, 12)),
    TicketKind.CONSULTATION: ((Priority.NORMAL, 70), (Priority.LOW, 30)),
    TicketKind.OTHER: ((Priority.NORMAL, 75), (Priority.LOW, 25)),
    TicketKind.UPGRADE: ((Priority.NORMAL, 100),),
    TicketKind.COMPLAINT: ((Priority.HIGH, 50), (Priority.NORMAL, 50)),
}  # fmt: skip
CHANNELS: dict[str, tuple[tuple[str, int], ...]] = {
    TicketKind.FAULT: ((Channel.MONITORING, 45), (Channel.PHONE, 40), (Channel.WEB, 10),
                       (Channel.EMAIL, 5)),
    TicketKind.CONSULTATION: ((Channel.PHONE, 60), (Channel.WEB, 20), (Channel.EMAIL, 20)),
    TicketKind.OTHER: ((Channel.PHONE, 50), (Channel.EMAIL, 30), (Channel.VISIT, 20)),
    TicketKind.UPGRADE: ((Channel.VISIT, 100),),
    TicketKind.COMPLAINT: ((Channel.PHONE, 70), (Channel.EMAIL, 20), (Channel.VISIT, 10)),
}  # fmt: skip


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _w in weighted], weights=[w for _v, w in weighted])[0]


def _customer(demo: Demo, kind: str) -> Customer:
    with_collector = [c for c in demo.customers if c.pk in demo.collectors]
    if kind in (TicketKind.FAULT, TicketKind.UPGRADE) and with_collector:
        return demo.rng.choice(with_collector)
    return demo.rng.choice(demo.customers)


def _created(demo: Demo, days_ago: float, channel: str, priority: str) -> dt.datetime:
    """When a ticket came in: the monitoring centre and urgent faults at any hour, the rest in
    office hours."""
    rng = demo.rng
    day = timezone.localdate(demo.now) - dt.timedelta(days=int(days_ago))
    if channel == Channel.MONITORING or priority == Priority.URGENT:
        hour = rng.choice((1, 7, 8, 10, 11, 14, 15, 16, 19, 21, 23))
        moment = _local(day, hour, rng.randint(0, 59))
    else:
        hour = rng.choice((9, 9, 10, 10, 11, 14, 15, 16, 17))
        moment = demo.calendar.next_working_moment(_local(day, hour, rng.randint(0, 59)))
    return min(moment, demo.now - dt.timedelta(hours=1))


def _desk_ticket(demo: Demo, kind: str, reopens: bool) -> Story[None]:
    rng = demo.rng
    priority = _pick(rng, PRIORITIES[kind])
    channel = _pick(rng, CHANNELS[kind])
    days_ago = 1 + (HISTORY_DAYS - 1) * rng.random() ** 1.2
    topic = rng.choice(TOPICS[kind])
    life = Life(
        late_response=rng.random() < 0.08,
        late_resolution=rng.random() < 0.1,
        waits=rng.random() < 0.2,
        reopens=reopens and days_ago > 20,
    )
    created = _created(demo, days_ago, channel, priority)
    ticket = yield from _open(demo, kind=kind, priority=priority, channel=channel, topic=topic,
                              created=created)  # fmt: skip
    yield from _live(demo, ticket, topic, life)


def _desk(demo: Demo) -> None:
    kinds = [kind for kind, n in KIND_MIX for _i in range(n)]
    demo.rng.shuffle(kinds)
    first_consultation = kinds.index(TicketKind.CONSULTATION)
    for n, kind in enumerate(kinds[:DESK_TICKETS]):
        demo.spawn(_desk_ticket(demo, kind, reopens=n == first_consultation))


# --- scenarios: what a supervisor looks at today ----------------------------------------------


def _respond_on_time(demo: Demo, ticket: Ticket, topic: Topic) -> Story[dt.datetime]:
    """Answered halfway to the first-response deadline; returns when."""
    response_text, _resolution = _policy_texts(ticket)
    due = demo.calendar.add(ticket.created_at, parse_duration(response_text))
    work = parse_duration(response_text).is_work_time
    at = _between(demo, ticket.created_at, min(due, demo.now - NOT_YET), 0.5, work)
    yield from _respond(demo, ticket, at, topic.answer or CLOSED)
    return at


def _at_risk(demo: Demo, kind: str, priority: str, channel: str, topic: Topic,
             half_warning: str) -> Story[None]:  # fmt: skip
    """Resolution due within the warning time: the SLA tick marks it at risk."""
    policy = tickets.policy_for(kind, priority, "")
    resolution = policy.resolution if policy is not None else "5 workdays"
    due = demo.calendar.add(demo.now, parse_duration(half_warning))
    created = demo.calendar.subtract(due, parse_duration(resolution))
    ticket = yield from _open(demo, kind=kind, priority=priority, channel=channel, topic=topic,
                              created=created)  # fmt: skip
    yield from _respond_on_time(demo, ticket, topic)


def _overdue(demo: Demo, kind: str, priority: str, channel: str, topic: Topic,
             overdue: str) -> Story[None]:  # fmt: skip
    """Past its resolution deadline: the tick breaches it (and escalates the oldest)."""
    policy = tickets.policy_for(kind, priority, "")
    resolution = policy.resolution if policy is not None else "5 workdays"
    created = demo.calendar.subtract(_ago(demo, overdue), parse_duration(resolution))
    ticket = yield from _open(demo, kind=kind, priority=priority, channel=channel, topic=topic,
                              created=created)  # fmt: skip
    responded = yield from _respond_on_time(demo, ticket, topic)
    at = _between(demo, responded, demo.now - NOT_YET, 0.6, True)
    yield from _note(demo, ticket, at, "等待厂家寄送备件，已告知客户预计到货时间。")


def _waiting(demo: Demo, kind: str, topic: Topic, ago: str, reason: str) -> Story[None]:
    """Waiting on the customer: its SLA clock is paused."""
    ticket = yield from _open(demo, kind=kind, priority=Priority.NORMAL, channel=Channel.PHONE,
                              topic=topic, created=_ago(demo, ago))  # fmt: skip
    responded = yield from _respond_on_time(demo, ticket, topic)
    at = _between(demo, responded, demo.now - NOT_YET, 0.5, True)
    yield from _status(demo, ticket, at, TicketStatus.WAITING, reason)


def _fresh(demo: Demo, kind: str, topic: Topic, ago: str) -> Story[None]:
    """Just came in; nobody has answered yet."""
    yield from _open(demo, kind=kind, priority=Priority.NORMAL, channel=Channel.PHONE,
                     topic=topic, created=_ago(demo, ago))  # fmt: skip


def _scenarios(demo: Demo) -> None:
    for args in (
        (TicketKind.FAULT, Priority.URGENT, Channel.MONITORING, FAULTS[7], "7 minutes"),
        (TicketKind.FAULT, Priority.HIGH, Channel.PHONE, FAULTS[0], "0.5 work hours"),
        (TicketKind.CONSULTATION, Priority.NORMAL, Channel.WEB, CONSULTATIONS[2], "0.5 work hours"),
    ):
        demo.spawn(_at_risk(demo, *args))
    for args in (
        (TicketKind.FAULT, Priority.NORMAL, Channel.PHONE, FAULTS[4], "1 workdays"),
        (TicketKind.FAULT, Priority.HIGH, Channel.MONITORING, FAULTS[5], "3 workdays"),
        (TicketKind.OTHER, Priority.NORMAL, Channel.EMAIL, OTHERS[2], "2 workdays"),
    ):
        demo.spawn(_overdue(demo, *args))
    for kind, topic, ago, reason in (
        (TicketKind.FAULT, FAULTS[3], "1 workdays", WAITING_REASONS[1]),
        (TicketKind.OTHER, OTHERS[4], "2 workdays", WAITING_REASONS[2]),
        (TicketKind.FAULT, FAULTS[2], "6 work hours", WAITING_REASONS[0]),
    ):
        demo.spawn(_waiting(demo, kind, topic, ago, reason))
    for kind, topic, ago in (
        (TicketKind.CONSULTATION, CONSULTATIONS[0], "1 work hours"),
        (TicketKind.FAULT, FAULTS[6], "2 work hours"),
        (TicketKind.OTHER, OTHERS[0], "3 work hours"),
        # nobody answered within the 4 work hours: its first response is breached
        (TicketKind.CONSULTATION, CONSULTATIONS[3], "2 workdays"),
    ):
        demo.spawn(_fresh(demo, kind, topic, ago))


# --- complaints (投诉) -------------------------------------------------------------------------

RETURNED_COMMENT = "根本原因写得太笼统，请写清是哪个环节、由谁负责；纠正措施要有完成时间。"
# How far each complaint of COMPLAINTS got; the unfinished ones came in during the past week.
COMPLAINT_STAGES = (
    "done", "done", "done", "done", "submitted", "done", "returned", "submitted", "approved",
)  # fmt: skip


def _complaint(demo: Demo, index: int, stage: str) -> Story[None]:
    rng = demo.rng
    topic = COMPLAINTS[index]
    root_cause, action = COMPLAINT_ANALYSIS[index]
    channel = _pick(rng, CHANNELS[TicketKind.COMPLAINT])
    priority = _pick(rng, PRIORITIES[TicketKind.COMPLAINT])
    if stage == "done":
        created = _created(demo, rng.uniform(12, HISTORY_DAYS - 5), channel, priority)
    else:
        created = _ago(demo, f"{rng.uniform(10, 30):.1f} work hours")
    ticket = yield from _open(demo, kind=TicketKind.COMPLAINT, priority=priority,
                              channel=channel, topic=topic, created=created)  # fmt: skip
    worker = _worker(demo, ticket)
    lead = demo.staff.lead
    responded = yield from _respond_on_time(demo, ticket, topic)
    analysed = _later(demo, responded, "1 workdays", rng.uniform(0.3, 1.0))

    def analyse() -> Ticket:
        current = complaints.complaint_save_analysis(
            actor=worker, ticket=ticket, root_cause=root_cause, corrective_action=action
        )
        return complaints.complaint_submit(actor=worker, ticket=current)

    ticket = yield analysed, analyse
    if stage == "submitted":
        return
    reviewed = _later(demo, analysed, "4 work hours", rng.uniform(0.2, 1.0))
    if stage == "returned":
        yield (
            reviewed,
            lambda: complaints.complaint_review(
                actor=lead, ticket=ticket, approve=False, comment=RETURNED_COMMENT
            ),
        )
        return
    ticket = yield (
        reviewed,
        lambda: complaints.complaint_review(actor=lead, ticket=ticket, approve=True),
    )
    if stage == "approved":
        return
    told = _later(demo, reviewed, "2 work hours", rng.uniform(0.2, 1.0))
    text = complaints.outcome_text(ticket)
    yield told, lambda: complaints.complaint_tell_customer(actor=worker, ticket=ticket, text=text)
    resolved = _later(demo, told, "1 work hours", rng.uniform(0.2, 1.0))
    ticket = yield from _resolve(demo, ticket, resolved, topic)
    if rng.random() < ANSWER_RATE:
        yield from _answer(demo, resolved + dt.timedelta(hours=rng.uniform(2, 48)), ticket=ticket)
    closed = _later(demo, resolved, "1 workdays", rng.uniform(0.2, 1.0))
    yield from _status(demo, ticket, closed, TicketStatus.CLOSED, CLOSED)


# --- a low score and its follow-up --------------------------------------------------------------


def _low_score(demo: Demo, customer: Customer) -> Story[None]:
    """A fault fixed late; the customer gives 2 stars, and the supervisor follows up."""
    topic = FAULTS[2]
    created = _created(demo, 16, Channel.PHONE, Priority.NORMAL)
    ticket = yield from _open(demo, kind=TicketKind.FAULT, priority=Priority.NORMAL,
                              channel=Channel.PHONE, topic=topic, created=created,
                              customer=customer)  # fmt: skip
    resolved = yield from _live(demo, ticket, topic, Life(late_resolution=True, answers=False))
    if resolved is None:
        return
    answered = resolved + dt.timedelta(hours=20)
    survey = yield from _answer(demo, answered, ticket=ticket, scores=(2, 3, LOW_SCORE_COMMENT))
    follow_up = survey.follow_up if survey is not None else None
    if follow_up is None:
        return
    called = _later(demo, answered, "2 work hours", 0.6)
    if not demo.happened(called):
        return
    follow_up = yield from _respond(demo, follow_up, called, FOLLOW_UP_CALL)
    done = _later(demo, called, "1 workdays", 0.8)
    if not demo.happened(done):
        return
    follow_up = yield from _status(demo, follow_up, done, TicketStatus.RESOLVED, FOLLOW_UP_DONE)
    closed = _later(demo, done, "1 workdays", 0.5)
    if demo.happened(closed):
        yield from _status(demo, follow_up, closed, TicketStatus.CLOSED, CLOSED)


# --- tickets the system raised ------------------------------------------------------------------


def _offline(demo: Demo, collector: Collector, at: dt.datetime) -> Story[Fault]:
    """The gateway's offline check (as devices.services.collectors_mark_offline): a fault, and
    through service.automation its ticket."""

    def work() -> Fault:
        fault = Fault.objects.create(collector=collector, kind=FaultKind.OFFLINE, opened_at=at)
        automation.fault_tickets_raise([fault])
        return fault

    fault: Fault = yield at, work
    return fault


def _recovered(
    demo: Demo, collector: Collector, faults: list[Fault], at: dt.datetime
) -> Story[None]:
    def work() -> None:
        Fault.objects.filter(pk__in=[f.pk for f in faults]).update(
            recovered_at=at,
            status=FaultStatus.CLOSED,
            closed_at=at + dt.timedelta(hours=1),
            handling="采集机恢复在线，已电话确认现场正常",
        )
        automation.collectors_recovered([collector.pk], at)

    yield at, work


def _offline_for_a_while(demo: Demo, collector: Collector, at: dt.datetime,
                         minutes: int) -> Story[None]:  # fmt: skip
    """Offline, then back by itself: the ticket closes automatically."""
    fault = yield from _offline(demo, collector, at)
    yield from _recovered(demo, collector, [fault], at + dt.timedelta(minutes=minutes))


def _offline_twice(demo: Demo, collector: Collector, at: dt.datetime) -> Story[None]:
    """Offline twice in an afternoon (one ticket, updated), repaired by an engineer."""
    first = yield from _offline(demo, collector, at)
    second = yield from _offline(demo, collector, at + dt.timedelta(hours=3))
    ticket = Ticket.objects.filter(fault=first).select_related("assignee").first()
    if ticket is None:
        return
    answered = at + dt.timedelta(hours=3, minutes=40)
    ticket = yield from _respond(demo, ticket, answered, TWICE.answer)
    back = answered + dt.timedelta(hours=1, minutes=10)
    ticket = yield from _resolve(demo, ticket, back, TWICE)
    yield from _recovered(demo, collector, [first, second], back)
    yield from _status(demo, ticket, back + dt.timedelta(hours=2), TicketStatus.CLOSED, CLOSED)


def _device_fault(demo: Demo, fault: Fault) -> Story[None]:
    """The devices demo's faulty collector: its fault raises a ticket an engineer takes on."""
    raised: list[Ticket] = yield (
        fault.opened_at,
        lambda: automation.fault_tickets_raise([fault]),
    )
    answered = fault.opened_at + dt.timedelta(hours=1)
    if raised and demo.happened(answered):
        yield from _respond(demo, raised[0], answered, DEVICE_FAULT_ANSWER)


def _system_faults(demo: Demo) -> None:
    """Offline collectors of the past, through service.automation as the gateway raises them:
    one back by itself at night, one offline twice and repaired, one back within the morning;
    and the devices demo's faulty collector."""
    today = timezone.localdate(demo.now)
    # Collectors reporting now first, then those of customers still being connected.
    serving = sorted(demo.collectors.values(), key=lambda c: c.status != CollectorStatus.ONLINE)
    afternoon = demo.calendar.next_working_moment(_local(today - dt.timedelta(days=8), 14))
    for n, collector in enumerate(serving[:3]):
        if n == 0:
            at = _local(today - dt.timedelta(days=20), 2, 10)
            demo.spawn(_offline_for_a_while(demo, collector, at, 40))
        elif n == 1:
            demo.spawn(_offline_twice(demo, collector, afternoon))
        else:
            at = _local(today - dt.timedelta(days=35), 9, 20)
            demo.spawn(_offline_for_a_while(demo, collector, at, 105))
    faulty = (
        Fault.objects.filter(
            kind=FaultKind.DEVICE,
            status__in=(FaultStatus.OPEN, FaultStatus.HANDLING),
            collector__customer__isnull=False,
            tickets__isnull=True,
        )
        .select_related("collector")
        .first()
    )
    if faulty is not None:
        demo.spawn(_device_fault(demo, faulty))


# --- revisits (回访) ---------------------------------------------------------------------------


def _plan(demo: Demo, customer: Customer, collector: Collector, starts_on: dt.date) -> Story[None]:
    """An after-sales plan begun at a handover before the demo's onboarding cases; its revisits
    before the past few weeks were done (a few cancelled)."""
    rng = demo.rng
    plan: AfterSalesPlan = yield (
        _local(starts_on, 16),
        lambda: services.after_sales_plan_start(
            actor=None, customer=customer, starts_on=starts_on, collector=collector
        ),
    )
    demo.counts["plans"] += 1
    engineer = demo.staff.engineers[0]
    done_before = timezone.localdate(demo.now) - dt.timedelta(days=REVISIT_WINDOW_DAYS)
    for revisit in plan.revisits.filter(due_on__lt=done_before).order_by("due_on"):
        at = demo.calendar.next_working_moment(_local(revisit.due_on, rng.choice((10, 14, 15))))
        if rng.random() < 0.12:
            yield (
                at,
                partial(
                    services.revisit_cancel,
                    actor=engineer,
                    revisit=revisit,
                    reason=REVISIT_CANCELLED,
                ),
            )
        else:
            method, findings = rng.choice(services.REVISIT_METHODS), rng.choice(REVISIT_FINDINGS)
            yield (
                at,
                partial(
                    services.revisit_complete,
                    actor=engineer,
                    revisit=revisit,
                    method=method,
                    findings=findings,
                ),
            )


def _revisit_tick(demo: Demo) -> Story[None]:
    """The daily revisit tick over the past weeks: each revisit's ticket opens on its due day
    (service.automation.revisit_tickets_open), and is worked from there."""
    today = timezone.localdate(demo.now)
    for days in range(REVISIT_WINDOW_DAYS, -1, -1):
        day = today - dt.timedelta(days=days)
        at = min(_local(day, 8, 30), demo.now - NOT_YET)
        opened: list[Ticket] = yield at, partial(automation.revisit_tickets_open, today=day)
        for ticket in opened:
            demo.counts["revisit tickets"] += 1
            demo.spawn(_revisit_ticket(demo, ticket, at))


def _revisit_ticket(demo: Demo, ticket: Ticket, opened: dt.datetime) -> Story[None]:
    """Revisits are recorded within two workdays on the ticket's revisit form (the first one
    raising an issue); those of the past few days are only arranged so far, and one of two
    weeks ago has been forgotten (overdue)."""
    rng = demo.rng
    assert ticket.revisit is not None
    age = (timezone.localdate(demo.now) - ticket.revisit.due_on).days
    if age >= 12 and not demo.counts["revisits forgotten"]:
        demo.counts["revisits forgotten"] += 1
        return
    recorded_at = _later(demo, opened, "2 workdays", rng.uniform(0.3, 1.0))
    if age <= 3 or not demo.happened(recorded_at):
        arranged = _later(demo, opened, "1 workdays", rng.uniform(0.3, 1.0))
        if demo.happened(arranged):
            yield from _respond(demo, ticket, arranged, REVISIT_ARRANGED)
        return
    issues = "" if demo.counts["revisit issues"] else REVISIT_ISSUE
    demo.counts["revisit issues"] += bool(issues)
    findings = rng.choice(REVISIT_FINDINGS)
    worker = _worker(demo, ticket)
    recorded: automation.RevisitRecorded = yield (
        recorded_at,
        lambda: automation.revisit_record(
            actor=worker,
            ticket=ticket,
            method="phone",
            findings=findings,
            issues=issues,
            issue_kind=TicketKind.FAULT,
        ),
    )
    if recorded.survey is not None and rng.random() < ANSWER_RATE:
        answered = recorded_at + dt.timedelta(hours=rng.uniform(2, 30))
        yield from _answer(demo, answered, survey=recorded.survey)


def _revisits(demo: Demo) -> None:
    today = timezone.localdate(demo.now)
    planned = set(AfterSalesPlan.objects.values_list("customer_id", flat=True))
    candidates = [c for c in demo.customers if c.pk in demo.collectors and c.pk not in planned]
    for days_ago, customer in zip(PLAN_STARTS_DAYS_AGO, candidates, strict=False):
        starts_on = today - dt.timedelta(days=days_ago)
        demo.spawn(_plan(demo, customer, demo.collectors[customer.pk], starts_on))
    demo.spawn(_revisit_tick(demo))


# --- into the past, then today's SLA judgement ---------------------------------------------


def _move(demo: Demo, rows: Sequence[Model], names: Sequence[str]) -> None:
    """Put the times the services wrote onto the moments of the steps that wrote them."""
    if not rows:
        return
    for row in rows:
        for name in names:
            setattr(row, name, demo.clock.past(getattr(row, name)))
    type(rows[0]).objects.bulk_update(rows, list(names), batch_size=200)  # type: ignore[attr-defined]


TICKET_TIMES = (
    "created_at", "updated_at", "first_responded_at", "resolved_at", "closed_at", "paused_at",
    "reviewed_at", "outcome_sent_at",
)  # fmt: skip


def _retime(demo: Demo, first_ticket: int, first_notification: int) -> None:
    since = demo.clock.started
    _move(
        demo,
        list(Ticket.objects.filter(Q(pk__gt=first_ticket) | Q(updated_at__gte=since))),
        TICKET_TIMES,
    )
    _move(demo, list(TicketEntry.objects.filter(created_at__gte=since)), ["created_at"])
    _move(
        demo,
        list(Notification.objects.filter(pk__gt=first_notification, created_at__gte=since)),
        ["created_at"],
    )
    _move(demo, list(TicketArticle.objects.filter(linked_at__gte=since)), ["linked_at"])
    _move(demo, list(ScheduledRevisit.objects.filter(done_at__gte=since)), ["done_at"])
    _move(demo, list(AfterSalesPlan.objects.filter(created_at__gte=since)), ["created_at"])
    sent = list(Survey.objects.filter(sent_at__gte=since))
    for survey in sent:
        valid_for = survey.expires_at - survey.sent_at
        survey.sent_at = demo.clock.past(survey.sent_at) or survey.sent_at
        survey.expires_at = survey.sent_at + valid_for
    Survey.objects.bulk_update(sent, ["sent_at", "expires_at"], batch_size=200)
    _move(demo, list(Survey.objects.filter(answered_at__gte=since)), ["answered_at"])


DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def _breach_entry(ticket: Ticket, missed: str, due: dt.datetime) -> TicketEntry:
    """The entry the SLA tick would have written when the deadline passed."""
    values = {
        "number": ticket.number,
        "due": f"{timezone.localtime(due):%Y-%m-%d %H:%M}",
        "subject": ticket.subject,
    }
    if missed == "first_response":
        text = _("Ticket %(number)s missed its first-response deadline (%(due)s): %(subject)s")
    else:
        text = _("Ticket %(number)s missed its resolution deadline (%(due)s): %(subject)s")
    lead = ticket.team.lead if ticket.team is not None else None
    return TicketEntry(
        ticket=ticket,
        kind=EntryKind.SYSTEM,
        text=text % values,
        data={
            "event": "sla_breached",
            "missed": missed,
            "level": 1,
            "to": [u.pk for u in (ticket.assignee, lead) if u is not None],
        },
        created_at=due,
    )


def _replay_sla(demo: Demo, first_ticket: int) -> None:
    """Deadlines again from the tickets' past (paused while waiting, renewed on reopening);
    tickets that missed one in the past are breached. The open ones still running are left on
    track for the SLA tick to judge now."""
    calendar = demo.calendar
    ours = list(
        Ticket.objects.filter(pk__gt=first_ticket, policy__isnull=False).select_related(
            "policy", "team__lead", "assignee"
        )
    )
    changes: dict[int, list[TicketEntry]] = {t.pk: [] for t in ours}
    for entry in TicketEntry.objects.filter(ticket__in=ours, kind=EntryKind.STATUS).order_by(
        "created_at", "id"
    ):
        changes[entry.ticket_id].append(entry)
    breaches: list[TicketEntry] = []
    for ticket in ours:
        policy = ticket.policy
        assert policy is not None
        response_due = calendar.add(ticket.created_at, parse_duration(policy.first_response))
        resolution_due = calendar.add(ticket.created_at, parse_duration(policy.resolution))
        paused: dt.datetime | None = None
        for entry in changes[ticket.pk]:
            before, after, at = entry.data.get("before"), entry.data.get("after"), entry.created_at
            if before == TicketStatus.WAITING and paused is not None:
                if ticket.first_responded_at is None or ticket.first_responded_at > at:
                    response_due = _shift(calendar, response_due, policy.first_response, paused, at)
                resolution_due = _shift(calendar, resolution_due, policy.resolution, paused, at)
                paused = None
            if after == TicketStatus.WAITING:
                paused = at
            if before in DONE and after not in DONE:
                resolution_due = calendar.add(at, parse_duration(policy.resolution))
        ticket.first_response_due_at, ticket.resolution_due_at = response_due, resolution_due
        ticket.warned_at = ticket.breached_at = ticket.next_escalation_at = None
        ticket.escalation_level = 0
        responded = ticket.first_responded_at or (None if ticket.is_open else ticket.resolved_at)
        missed = []
        if responded is not None and responded > response_due:
            missed.append(("first_response", response_due))
        if not ticket.is_open and ticket.resolved_at and ticket.resolved_at > resolution_due:
            missed.append(("resolution", resolution_due))
        if missed:
            what, due = min(missed, key=lambda m: m[1])
            ticket.sla_state = SlaState.BREACHED
            ticket.breached_at = due
            ticket.escalation_level = 1
            if ticket.is_open and ticket.status != TicketStatus.WAITING:
                ticket.next_escalation_at = calendar.add(due, parse_duration(policy.resolution))
            breaches.append(_breach_entry(ticket, what, due))
        else:
            ticket.sla_state = SlaState.ON_TRACK if ticket.is_open else SlaState.MET
    Ticket.objects.bulk_update(
        ours,
        [
            "first_response_due_at", "resolution_due_at", "sla_state", "warned_at",
            "breached_at", "escalation_level", "next_escalation_at",
        ],
        batch_size=200,
    )  # fmt: skip
    TicketEntry.objects.bulk_create(breaches)
    demo.counts["breached_before"] = len(breaches)


def _sla_ticks(demo: Demo) -> Counter[str]:
    """The SLA tick (service.sla) as it ran while the demo's past went by: at each moment a
    running ticket missed a deadline or was due to be escalated, then now (which also warns
    the tickets whose deadline is near). What the past ticks told people is dated then."""
    counts: Counter[str] = Counter()
    running = Ticket.objects.filter(status__in=RUNNING_STATUSES)
    for _round in range(500):  # each round moves every ticket it looks at past its moment
        pending = [
            running.filter(sla_state__in=LIVE_STATES, resolution_due_at__lte=demo.now).aggregate(
                at=Min("resolution_due_at")
            )["at"],
            running.filter(
                sla_state__in=LIVE_STATES,
                first_responded_at__isnull=True,
                first_response_due_at__lte=demo.now,
            ).aggregate(at=Min("first_response_due_at"))["at"],
            running.filter(sla_state=SlaState.BREACHED, next_escalation_at__lte=demo.now).aggregate(
                at=Min("next_escalation_at")
            )["at"],
        ]
        moments = [m for m in pending if m is not None]
        if not moments:
            break
        at = min(moments)
        told = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        counts.update(ticket_sla_tick(now=at))
        Notification.objects.filter(pk__gt=told).update(created_at=at)
    counts.update(ticket_sla_tick())
    return counts


def _read_old_notifications(demo: Demo, first_notification: int) -> None:
    """People have read what they were told about before the past two days."""
    Notification.objects.filter(
        pk__gt=first_notification,
        created_at__lt=demo.now - dt.timedelta(days=2),
        read_at__isnull=True,
    ).update(read_at=F("created_at"))


def _route_waiting_system_tickets(demo: Demo) -> None:
    """Half of the offline collectors' tickets the devices demo raised (before the teams had
    anyone) are handed out by the lead; the rest still wait in the team's queue."""
    waiting = list(
        Ticket.objects.filter(
            status=TicketStatus.NEW, assignee__isnull=True, channel=Channel.SYSTEM
        ).order_by("id")
    )
    for ticket in waiting[: len(waiting) // 2 + len(waiting) % 2]:
        tickets.ticket_assign(
            actor=demo.staff.lead, ticket=ticket, assignee=None, team=demo.after_sales
        )


# --- the loader --------------------------------------------------------------------------------


def _customers() -> tuple[list[Customer], list[Customer], dict[int, Collector], dict[int, Site]]:
    """Active customers served since before the demo's onboarding cases, their collectors and
    buildings."""
    customers = list(
        Customer.objects.filter(
            status=CustomerStatus.ACTIVE, merged_into__isnull=True, cases__isnull=True
        )
        .exclude(region__isnull=True)
        .select_related("owner", "region")
        .order_by("id")
    )
    ids = [c.pk for c in customers]
    collectors: dict[int, Collector] = {}
    for collector in (
        Collector.objects.filter(
            customer_id__in=ids,
            status__in=(CollectorStatus.ONLINE, CollectorStatus.INSTALLED),
        )
        .select_related("site")
        .order_by("id")
    ):
        assert collector.customer_id is not None
        collectors.setdefault(collector.customer_id, collector)
    sites: dict[int, Site] = {}
    for site in Site.objects.filter(customer_id__in=ids).order_by("id"):
        sites.setdefault(site.customer_id, site)
    unowned = [c for c in customers if c.owner_id is None]
    return customers, unowned, collectors, sites


def load_demo(*, stdout: TextIO | None = None) -> int:
    """Add the demo service desk once (when no person has opened a ticket yet); returns how
    many tickets the desk got (the system's included)."""
    if Ticket.objects.filter(source_key="").exists():
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        return _load(stdout)


def _load(stdout: TextIO | None) -> int:
    now = timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        set_up = _teams(today)
        customers, unowned, collectors, sites = _customers()
        if set_up is None or not customers:
            return 0
        staff, after_sales, centre = set_up
        rng = random.Random(SEED)  # noqa: S311 - repeatable demo data
        first_ticket = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        first_notification = (
            Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        )
        monday = today - dt.timedelta(days=today.weekday())
        demo = Demo(
            rng=rng,
            now=now,
            calendar=current_calendar(),
            clock=Clock(),
            staff=staff,
            after_sales=after_sales,
            centre=centre,
            articles=_articles(staff.engineers[0], now, rng),
            customers=customers,
            unowned=unowned,
            collectors=collectors,
            sites=sites,
            week_start=_local(monday, 0),
        )
        _desk(demo)
        for index, stage in enumerate(COMPLAINT_STAGES):
            demo.spawn(_complaint(demo, index, stage))
        if unowned:
            # The follow-up of a low score goes to the team lead when the customer has no
            # account manager (a building with a collector, when there is one).
            served = [c for c in unowned if c.pk in collectors] or unowned
            demo.spawn(_low_score(demo, served[0]))
        _scenarios(demo)
        _system_faults(demo)
        _revisits(demo)
        demo.run()
        _retime(demo, first_ticket, first_notification)
        _replay_sla(demo, first_ticket)
        _route_waiting_system_tickets(demo)
        sla = _sla_ticks(demo)
        _read_old_notifications(demo, first_notification)
        stats_refresh(full=True)
    total = Ticket.objects.count()
    if stdout is not None:
        stdout.write(
            f"Demo service desk: {total} tickets, {len(demo.articles)} articles, "
            f"{demo.counts['answers']} survey answers, {demo.counts['plans']} after-sales "
            f"plans; SLA: {dict(sla)}\n"
        )
    return total
