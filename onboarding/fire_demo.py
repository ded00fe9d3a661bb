"""Demo cases of the fire-monitoring onboarding SOP: thirty buildings spread over every step.

The demo users walk each case through the step forms (`fire_steps`), as the people of an
operator's week would have: notices wait for the director or came back rejected, engineering
and technical work side by side, procurement is partly delivered, surveys found differences, a
drawing verification and joint tests failed, and a few cases are handed over and archived.

The steps run now. Each case is first given a past of its own — when it started and when each
step was done, in working hours, counted back from now — and the dated form fields (contract,
survey, installation …) carry those days. Once a case is walked, its workflow timeline (case,
tasks, timeline, notifications, joint-test signals) is moved onto those moments and every
deadline is computed again from there with the business calendar, so inboxes and dashboards
show waiting, due-soon and overdue work. Printed forms and uploaded documents keep today's date.

Idempotent: nothing is added once a fire-monitoring case exists.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, TextIO

from django.db import transaction
from django.db.models import Case as DjangoCase
from django.db.models import F, Q, Value, When
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region, User
from customers import services as customer_services
from customers.demo import GIVEN, SURNAMES
from customers.models import Customer, CustomerCategory, CustomerKind, CustomerStatus
from devices import demo as devices_demo
from devices import services as device_services
from devices.models import (
    Collector,
    CollectorStatus,
    CommunicationLine,
    DeviceEvent,
    JointTest,
    Point,
    Verdict,
)
from onboarding import fire_steps
from onboarding.models import InstallationFile, MaterialLine, PurchaseOrder
from ruwang.lib.validators import make_credit_code
from workflow import registry
from workflow import services as workflow_services
from workflow.business_calendar import current_calendar
from workflow.calendar import parse_duration
from workflow.models import (
    OPEN_TASK_STATUSES,
    Case,
    CaseEvent,
    Notification,
    Task,
    TaskStatus,
)

PROCESS_KEY = fire_steps.PROCESS_KEY
# Collectors added when the devices demo left too few in stock (distinct from its RWD26…).
COLLECTOR_PREFIX = "RWF26"
# Left in stock after the cases took theirs, as the devices demo leaves a few.
SPARE_COLLECTORS = devices_demo.IN_STOCK

KEY = CustomerCategory.KEY_UNIT
GENERAL = CustomerCategory.GENERAL


@dataclass(frozen=True)
class Building:
    """A demo customer: one organisation with one building to connect."""

    name: str
    short_name: str
    district: str  # GB/T 2260 code
    category: str
    industry: str
    address: str
    site: str
    use: str
    floors_above: int
    floors_below: int


BUILDINGS: tuple[Building, ...] = (
    Building("南昌星河汇购物中心", "星河汇", "360113", KEY, "商业", "红谷滩区会展路 1288 号",
             "购物中心主楼", "商业", 6, 2),
    Building("南昌锦绣时代广场", "锦绣时代", "360102", KEY, "商业", "东湖区中山路 188 号",
             "A 座商场", "商业", 8, 2),
    Building("南昌悦荟商业广场", "悦荟广场", "360111", KEY, "商业", "青山湖区北京东路 566 号",
             "主楼", "商业", 5, 1),
    Building("南昌县莲塘国际商贸城", "莲塘商贸城", "360121", KEY, "商业",
             "南昌县莲塘镇澄湖西路 99 号", "一期市场", "商业", 4, 1),
    Building("南昌滕王阁江景酒店", "江景酒店", "360102", KEY, "住宿餐饮",
             "东湖区沿江北大道 36 号", "酒店主楼", "住宿", 18, 1),
    Building("南昌凯旋国际酒店", "凯旋酒店", "360113", KEY, "住宿餐饮",
             "红谷滩区赣江中大道 1099 号", "酒店主楼", "住宿", 22, 2),
    Building("南昌瑶湖假日酒店", "瑶湖假日", "360111", KEY, "住宿餐饮",
             "青山湖区天祥大道 2399 号", "客房楼", "住宿", 12, 1),
    Building("安义古村度假酒店", "古村酒店", "360123", GENERAL, "住宿餐饮",
             "安义县石鼻镇京台村 8 号", "接待中心", "住宿", 4, 0),
    Building("南昌仁济康复医院", "仁济康复", "360102", KEY, "医疗", "东湖区阳明路 215 号",
             "门诊住院综合楼", "医疗", 12, 1),
    Building("南昌洪都仁爱医院", "仁爱医院", "360104", KEY, "医疗",
             "青云谱区井冈山大道 1168 号", "住院楼", "医疗", 16, 1),
    Building("进贤县民和医院", "民和医院", "360124", KEY, "医疗", "进贤县民和镇胜利路 57 号",
             "综合楼", "医疗", 9, 1),
    Building("南昌新建博爱口腔医院", "博爱口腔", "360112", GENERAL, "医疗",
             "新建区长堎大道 318 号", "门诊楼", "医疗", 5, 0),
    Building("南昌青云谱实验小学", "青云谱实小", "360104", KEY, "教育",
             "青云谱区洪都中大道 420 号", "教学楼", "教学", 5, 0),
    Building("南昌红谷滩外国语学校", "红谷外国语", "360113", KEY, "教育",
             "红谷滩区丰和中大道 1555 号", "综合教学楼", "教学", 6, 1),
    Building("南昌县职业技术学校", "南昌县职校", "360121", KEY, "教育",
             "南昌县向塘镇迎宾大道 36 号", "实训楼", "教学", 5, 0),
    Building("南昌青山湖育才中学", "育才中学", "360111", KEY, "教育",
             "青山湖区湖滨东路 1218 号", "教学楼", "教学", 6, 0),
    Building("南昌红谷滩金融中心", "金融中心", "360113", KEY, "商务办公",
             "红谷滩区红谷中大道 1368 号", "A 座写字楼", "办公", 32, 3),
    Building("南昌八一广场国贸大厦", "国贸大厦", "360102", KEY, "商务办公",
             "东湖区八一大道 268 号", "大厦主楼", "办公", 24, 2),
    Building("南昌绳金塔商务中心", "绳金塔商务", "360103", KEY, "商务办公",
             "西湖区绳金塔街 66 号", "商务楼", "办公", 15, 1),
    Building("南昌艾溪湖软件园", "艾溪湖软件园", "360111", GENERAL, "商务办公",
             "青山湖区高新大道 699 号", "研发楼 2 号", "办公", 10, 1),
    Building("南昌象湖颐养中心", "象湖颐养", "360103", KEY, "养老服务", "西湖区象湖东路 88 号",
             "颐养楼", "养老", 7, 0),
    Building("南昌新建长堎文体中心", "长堎文体中心", "360112", KEY, "文化体育",
             "新建区子实路 1888 号", "体育馆", "文体", 3, 1),
    Building("南昌东湖区文化馆", "东湖文化馆", "360102", KEY, "文化体育", "东湖区胜利路 97 号",
             "文化馆", "文体", 5, 1),
    Building("南昌万众影城红谷滩店", "万众影城", "360113", KEY, "娱乐",
             "红谷滩区凤凰中大道 890 号", "影城", "娱乐", 4, 0),
    Building("小蓝经开区鑫达电子厂", "鑫达电子", "360121", GENERAL, "制造业",
             "南昌县小蓝经开区金沙大道 1099 号", "1 号厂房", "厂房", 4, 0),
    Building("进贤文港笔业商城", "文港笔业商城", "360124", GENERAL, "商业",
             "进贤县文港镇华夏大道 18 号", "商城", "商业", 3, 0),
    Building("安义门窗产业园仓储中心", "门窗仓储", "360123", GENERAL, "仓储物流",
             "安义县工业园区东阳大道 66 号", "2 号仓库", "仓储", 2, 0),
    Building("南昌洪都艺术剧院", "洪都剧院", "360104", KEY, "文化体育",
             "青云谱区京山老街 29 号", "剧院", "文体", 4, 1),
    Building("南昌朝阳新城社区卫生服务中心", "朝阳社区卫生", "360103", GENERAL, "医疗",
             "西湖区朝阳中路 566 号", "服务中心", "医疗", 4, 0),
    Building("南昌湖滨万家购物广场", "万家购物广场", "360111", KEY, "商业",
             "青山湖区湖滨南路 1008 号", "商场主楼", "商业", 5, 2),
)  # fmt: skip

# The steps in the order a demo case walks them: the process's parallel branches (engineering
# and technical; broadband, materials and survey) are interleaved as they usually go.
STEPS = (
    "notice",
    "approve",
    "feasibility",
    "intake",
    "broadband_request",
    "material_plan",
    "procurement_partial",
    "survey",
    "update_drawings",
    "broadband_ready",
    "procurement",
    "drawings_handover",
    "digitisation",
    "verification",
    "install",
    "joint_test",
    "handover",
    "archive",
)

# Working hours between the previous step and this one (fewest, most).
GAPS: dict[str, tuple[int, int]] = {
    "notice": (2, 6),
    "reject": (1, 5),
    "approve": (1, 5),
    "feasibility": (6, 14),
    "intake": (4, 10),
    "broadband_request": (2, 6),
    "material_plan": (2, 6),
    "procurement_partial": (7, 15),
    "survey": (4, 12),
    "update_drawings": (4, 10),
    "broadband_ready": (10, 20),
    "procurement": (4, 12),
    "drawings_handover": (2, 6),
    "digitisation": (8, 18),
    "verification_fail": (3, 10),
    "verification": (3, 10),
    "install": (8, 20),
    "joint_test_fail": (2, 6),
    "rectification": (4, 10),
    "joint_test": (2, 6),
    "handover": (3, 10),
    "archive": (4, 12),
}


@dataclass(frozen=True)
class Plan:
    """How far a demo case got: every step up to the last `until` is done (none when empty),
    the next ones are open and have waited `idle` (a duration; for an archived case, the time
    since it was archived). The flags add the detours of a real case."""

    until: str
    idle: str
    reject: bool = False  # the director sent the notice back once
    differs: bool = False  # the survey found differences: the drawings were updated
    verify_fail: bool = False  # the drawing verification failed once
    joint_fail: bool = False  # the first joint test failed: rectification

    def actions(self) -> list[str]:
        done: list[str] = []
        for step in STEPS:
            if step == "approve" and self.reject:
                done += ["reject", "notice"]
            if step == "update_drawings" and not self.differs:
                continue
            if step == "verification" and self.verify_fail:
                done += ["verification_fail", "digitisation"]
            if step == "joint_test" and self.joint_fail:
                done += ["joint_test_fail", "rectification"]
            done.append(step)
        if not self.until:
            return []
        last = len(done) - 1 - done[::-1].index(self.until)
        return done[: last + 1]


# SLAs of the open steps: notice 2 workdays, approval 1, feasibility and intake 2, broadband
# request and material plan 1, procurement 5, survey 2, drawings update 2, handover of the
# drawings 1, digitisation 3, verification 2, installation 5 from the verification, joint test 2,
# rectification 3, handover 2, archive 3. An idle time past the SLA makes the case overdue.
PLANS: tuple[Plan, ...] = (
    Plan("", "3 work hours"),  # market: notice to fill in
    Plan("", "3 workdays"),  # market: notice overdue
    Plan("notice", "2 work hours"),  # director: approval
    Plan("notice", "2 workdays"),  # director: approval overdue
    Plan("reject", "5 work hours", reject=True),  # market: notice sent back
    Plan("reject", "4 workdays", reject=True),  # market: sent back, overdue
    Plan("approve", "1 workdays", reject=True),  # engineering + technical, after a rejection
    Plan("approve", "3 workdays"),  # engineering + technical, both overdue
    Plan("feasibility", "4 work hours"),  # technical: intake
    Plan("intake", "2 work hours"),  # engineering: broadband, materials and survey at once
    Plan("procurement_partial", "2 workdays"),  # procurement partly received
    Plan("procurement_partial", "4 workdays"),  # … and overdue
    Plan("survey", "1 workdays", differs=True),  # engineering: update the drawings
    Plan("survey", "3 workdays", differs=True),  # … overdue
    Plan("procurement", "3 work hours"),  # engineering: hand the drawings over
    Plan("drawings_handover", "1 workdays"),  # technical: digitisation
    Plan("digitisation", "1 workdays", differs=True),  # monitoring: verification
    Plan("verification_fail", "4 workdays", verify_fail=True),  # technical: redo, overdue
    Plan("verification", "2 workdays", reject=True),  # engineering: installation
    Plan("verification", "7 workdays"),  # engineering: installation overdue
    Plan("install", "4 work hours"),  # engineering: joint test
    Plan("joint_test_fail", "1 workdays", joint_fail=True),  # engineering: rectification
    Plan("joint_test_fail", "5 workdays", joint_fail=True, differs=True),  # … overdue
    Plan("joint_test", "3 work hours"),  # monitoring: handover
    Plan("joint_test", "3 workdays", joint_fail=True),  # monitoring: handover overdue
    Plan("handover", "1 workdays"),  # engineering: archive
    Plan("archive", "2 workdays", reject=True),
    Plan("archive", "6 workdays", differs=True, verify_fail=True),
    Plan("archive", "9 workdays", joint_fail=True),
    Plan("archive", "12 workdays"),
)

REJECTIONS = (
    "合同附件缺少火灾自动报警系统图，请补充后再提交",
    "年服务费与报价单不一致，请核对合同金额",
    "控制室位置填写不清，请注明楼层和方位",
)
SURVEY_DIFFERENCES = (
    "二层东侧新增两间办公室，平面图未标注",
    "地下一层车库改为仓库，探测器位置有调整",
    "三层会议室隔墙拆除，原有两只感烟探测器已合并",
)
VERIFICATION_PROBLEMS = "二层 2 号感烟探测器位置与平面图不符，请核对后重新标注"
RECTIFICATION = "更换二层 2 号探测器底座接线，复测信号正常"
CARRIERS = ("telecom", "unicom", "mobile")


# The roles of the SOP's lanes, in the order of Team's fields.
TEAM_ROLES = (
    "market_staff",
    "operations_director",
    "engineer",
    "technical_staff",
    "procurement",
    "monitoring_operator",
)


@dataclass(frozen=True)
class Team:
    """The demo users who work the SOP's steps, one per role of TEAM_ROLES."""

    market: User
    director: User
    engineer: User
    technical: User
    buyer: User
    monitor: User

    def for_role(self, role: str) -> User:
        members = [getattr(self, f.name) for f in fields(self)]
        return dict(zip(TEAM_ROLES, members, strict=True))[role]


@dataclass
class Walk:
    """One demo case being walked: what each step needs, and when each step (in the case's
    past) was done. `marks` pairs the real moment a step finished with its moment in the past."""

    number: int
    plan: Plan
    case: Case
    team: Team
    rng: random.Random
    moments: list[dt.datetime]
    collector: Collector | None = None
    marks: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    done_at: dict[str, dt.datetime] = field(default_factory=dict)


def _team() -> Team | None:
    found = [
        User.objects.filter(groups__role__code=role, is_demo=True).order_by("id").first()
        for role in TEAM_ROLES
    ]
    people = [user for user in found if user is not None]
    return Team(*people) if len(people) == len(TEAM_ROLES) else None


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"


def _landline(rng: random.Random) -> str:
    return f"0791-{rng.randint(80_000_000, 89_999_999)}"


def _customer(n: int, building: Building, owner: User, rng: random.Random) -> Customer:
    """The customer with what the installation notice needs: address, region, a contact with a
    mobile, the building with its control room, and the four drawings."""
    region = Region.objects.get(code=building.district)
    customer = customer_services.customer_create(
        actor=None,
        data={
            "kind": CustomerKind.ORGANISATION,
            "name": building.name,
            "short_name": building.short_name,
            "credit_code": make_credit_code(f"9136{building.district[2:]}MF{n:07d}"),
            "category": building.category,
            "industry": building.industry,
            "region": region,
            "address": building.address,
            "owner": owner,
            "source_channel": ("authority", "visit", "referral", "tender")[n % 4],
        },
    )
    customer_services.contact_save(
        actor=None,
        customer=customer,
        data={
            "name": _person(rng),
            "role": "safety_responsible",
            "mobile": _mobile(rng),
            "landline": _landline(rng),
            "is_primary": True,
        },
    )
    customer_services.contact_save(
        actor=None,
        customer=customer,
        data={"name": _person(rng), "role": "duty_operator", "mobile": _mobile(rng)},
    )
    side = ("东侧", "西侧", "南侧", "北侧")[n % 4]
    site = customer_services.site_save(
        actor=None,
        customer=customer,
        data={
            "name": building.site,
            "address": building.address,
            "use": building.use,
            "structure": "frame",
            "fire_resistance": "1" if building.category == KEY else "2",
            "height_m": Decimal(building.floors_above) * Decimal("4.2"),
            "floors_above": building.floors_above,
            "floors_below": building.floors_below,
            "construction_year": rng.randint(1998, 2023),
            "control_room_location": f"一层{side}消防控制室",
            "control_room_phone": _landline(rng),
            "max_occupancy": rng.randint(200, 5000),
        },
    )
    fire_steps.attach_drawings(customer, site)
    return customer


def _free_collectors(needed: int) -> list[Collector]:
    """Demo collectors in stock and set aside for nobody, topped up to `needed` plus a few
    spare ones to stay in stock."""
    demo = Q(serial_number__startswith=devices_demo.SERIAL_PREFIX) | Q(
        serial_number__startswith=COLLECTOR_PREFIX
    )
    free = list(
        Collector.objects.filter(demo, status=CollectorStatus.IN_STOCK, customer=None).order_by(
            "serial_number"
        )
    )
    missing = needed + SPARE_COLLECTORS - len(free)
    if missing > 0:
        start = Collector.objects.filter(serial_number__startswith=COLLECTOR_PREFIX).count() + 1
        with transaction.atomic():
            for n in range(start, start + missing):
                manufacturer, model = devices_demo.MODELS[n % len(devices_demo.MODELS)]
                free.append(
                    device_services.collector_save(
                        actor=None,
                        data={
                            "address": int(f"3601009{n:05d}"),
                            "serial_number": f"{COLLECTOR_PREFIX}{n:05d}",
                            "manufacturer": manufacturer,
                            "model": model,
                            "firmware_version": "2.4.1",
                            "line": CommunicationLine.BROADBAND,
                            "heartbeat_seconds": 60,
                        },
                    )
                )
    return free[:needed]


def _moments(
    plan: Plan, actions: list[str], rng: random.Random, now: dt.datetime
) -> list[dt.datetime]:
    """When the case started and each action was done, in working time, counted back from now
    (the last action `plan.idle` ago)."""
    calendar = current_calendar()
    at = calendar.subtract(now, parse_duration(plan.idle))
    moments = [at]
    for action in reversed(actions):
        low, high = GAPS[action]
        hours = rng.randint(low * 10, high * 10) / 10  # the calendar takes one decimal
        at = calendar.subtract(at, parse_duration(f"{hours:.1f} work hours"))
        moments.append(at)
    moments.reverse()  # the start of the case, then each action
    return moments


def _day(at: dt.datetime) -> str:
    return timezone.localtime(at).date().isoformat()


# --- the steps, each at its moment in the case's past ---------------------------------------


def _notice(walk: Walk, at: dt.datetime) -> None:
    signed = timezone.localtime(walk.moments[0]).date()
    starts = signed + dt.timedelta(days=30)
    data = fire_steps.notice_data(walk.case.customer, f"HT{signed:%Y%m}-{walk.number:03d}")
    data.update(
        signed_on=signed.isoformat(),
        starts_on=starts.isoformat(),
        ends_on=(starts + dt.timedelta(days=3 * 365)).isoformat(),
        annual_fee=f"{walk.rng.choice((3600, 4800, 6000, 7200, 9600))}.00",
        notice_notes=f"控制室在{walk.case.customer.sites.order_by('id')[0].control_room_location}",
    )
    fire_steps.complete(
        walk.case,
        "fire_notice",
        walk.team.market,
        data,
        {"contract_file": fire_steps.pdf_upload("contract.pdf", "Contract")},
    )


def _reject(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_approve(
        walk.case, walk.team.director, reject=REJECTIONS[walk.number % len(REJECTIONS)]
    )


def _approve(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_approve(walk.case, walk.team.director)


def _feasibility(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_feasibility(walk.case, walk.team.engineer, direct=walk.number % 4 != 0)


def _intake(walk: Walk, at: dt.datetime) -> None:
    site = walk.case.customer.sites.order_by("id")[0]
    fire_steps.floors_with_plans(walk.case, floors=min(site.floors_above, 3))
    fire_steps.step_intake(walk.case, walk.team.technical)


def _broadband_request(walk: Walk, at: dt.datetime) -> None:
    day = timezone.localtime(at).date()
    fire_steps.complete(
        walk.case,
        "fire_broadband_request",
        walk.team.engineer,
        {
            "requested_on": day.isoformat(),
            "carrier": CARRIERS[walk.number % len(CARRIERS)],
            "line_type": "fibre",
            "bandwidth": "100M",
            "reference_number": f"KD{day:%Y%m%d}{walk.number:03d}",
            "promised_on": (day + dt.timedelta(days=5)).isoformat(),
        },
    )


def _material_plan(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_material_plan(walk.case, walk.team.engineer)


def _procurement_data(walk: Walk, *, all_received: bool) -> dict[str, Any]:
    data = fire_steps.procurement_data(walk.case, all_received=True)
    data["ordered_on"] = _day(walk.done_at.get("procurement_partial", walk.moments[-1]))
    if not all_received:
        # The cables and the power supply came first; the collectors are still on their way.
        first = MaterialLine.objects.filter(case=walk.case).order_by("position").first()
        if first is not None:
            data[f"received_{first.pk}"] = "0"
    return data


def _procurement_partial(walk: Walk, at: dt.datetime) -> None:
    task = fire_steps.open_task(walk.case, "fire_procurement")
    form = registry.bound_form(
        registry.FORMS["fire_procurement"],
        task,
        _procurement_data(walk, all_received=False),
        {},
        completing=False,
    )
    if not form.is_valid():
        raise ValueError(f"demo procurement of {walk.case.number}: {form.errors.as_json()}")
    workflow_services.task_save_progress(actor=walk.team.buyer, task=task, data=form.cleaned_data)


def _procurement(walk: Walk, at: dt.datetime) -> None:
    fire_steps.complete(
        walk.case, "fire_procurement", walk.team.buyer, _procurement_data(walk, all_received=True)
    )


def _survey(walk: Walk, at: dt.datetime) -> None:
    differences = (
        SURVEY_DIFFERENCES[walk.number % len(SURVEY_DIFFERENCES)] if walk.plan.differs else ""
    )
    fire_steps.complete(
        walk.case,
        "fire_survey",
        walk.team.engineer,
        {
            "surveyed_on": _day(at),
            "survey_result": "differs" if differences else "matches",
            "differences": differences,
            "control_room": "220V 电源就近，有网络接入点，机柜位置已确认",
        },
    )


def _update_drawings(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_update_drawings(walk.case, walk.team.engineer)


def _broadband_ready(walk: Walk, at: dt.datetime) -> None:
    fire_steps.complete(
        walk.case,
        "fire_broadband_ready",
        walk.team.engineer,
        {"line_ready_on": _day(at), "line_account": f"0791-{walk.case.pk:08d}"},
    )


def _drawings_handover(walk: Walk, at: dt.datetime) -> None:
    assert walk.collector is not None, "a collector is chosen for every case that gets this far"
    fire_steps.step_handover_drawings(walk.case, walk.team.engineer, walk.collector)


def _digitisation(walk: Walk, at: dt.datetime) -> None:
    if not Point.objects.filter(system__collector=walk.collector).exists():
        fire_steps.digitise(walk.case)
    fire_steps.step_digitisation(walk.case, walk.team.technical)


def _verification_fail(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_verification(walk.case, walk.team.monitor, problems=VERIFICATION_PROBLEMS)


def _verification(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_verification(walk.case, walk.team.monitor)
    # The installation form checks its date against this moment.
    InstallationFile.objects.filter(case=walk.case).update(verified_at=at)


def _install(walk: Walk, at: dt.datetime) -> None:
    assert walk.collector is not None
    site = walk.case.customer.sites.order_by("id")[0]
    fire_steps.complete(
        walk.case,
        "fire_install",
        walk.team.engineer,
        {
            "serial_number": walk.collector.serial_number,
            "site": str(site.pk),
            "location": site.control_room_location,
            "installed_on": _day(at),
            "firmware_version": "2.4.1",
            "line": "broadband",
            "install_notes": "采集机挂墙安装，RS-232 接报警控制器",
        },
        {"photo_1": fire_steps.png_upload("install.png", walk.number)},
    )


def _joint_test_fail(walk: Walk, at: dt.datetime) -> None:
    test = fire_steps.run_joint_test(walk.case, walk.team.engineer, skip=1)
    fire_steps.step_joint_test(walk.case, walk.team.engineer, test)


def _rectification(walk: Walk, at: dt.datetime) -> None:
    fire_steps.complete(
        walk.case,
        "fire_rectification",
        walk.team.engineer,
        {"rectified_on": _day(at), "actions": RECTIFICATION},
    )


def _joint_test(walk: Walk, at: dt.datetime) -> None:
    test = fire_steps.run_joint_test(walk.case, walk.team.engineer)
    fire_steps.step_joint_test(walk.case, walk.team.engineer, test)


def _handover(walk: Walk, at: dt.datetime) -> None:
    contact = walk.case.customer.contacts.order_by("-is_primary", "id").first()
    fire_steps.complete(
        walk.case,
        "fire_handover",
        walk.team.monitor,
        {
            "monitoring_starts_on": _day(at),
            "collector_confirmed": "on",
            "points_confirmed": "on",
            "customer_confirmed": "on",
            "duty_contact": str(contact.pk) if contact else "",
        },
    )


def _archive(walk: Walk, at: dt.datetime) -> None:
    fire_steps.step_archive(walk.case, walk.team.engineer)


ACTIONS: dict[str, Callable[[Walk, dt.datetime], None]] = {
    "notice": _notice,
    "reject": _reject,
    "approve": _approve,
    "feasibility": _feasibility,
    "intake": _intake,
    "broadband_request": _broadband_request,
    "material_plan": _material_plan,
    "procurement_partial": _procurement_partial,
    "survey": _survey,
    "update_drawings": _update_drawings,
    "broadband_ready": _broadband_ready,
    "procurement": _procurement,
    "drawings_handover": _drawings_handover,
    "digitisation": _digitisation,
    "verification_fail": _verification_fail,
    "verification": _verification,
    "install": _install,
    "joint_test_fail": _joint_test_fail,
    "rectification": _rectification,
    "joint_test": _joint_test,
    "handover": _handover,
    "archive": _archive,
}


# --- moving the case's timeline into its past ------------------------------------------------


def _due_text(at: dt.datetime) -> str:
    # As workflow.notifications writes a deadline into a task's notifications.
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def _backdate(walk: Walk, now: dt.datetime) -> None:
    """Put every workflow time of the case on the moment (in its past) of the step that wrote
    it, and compute the deadlines again from there, as the engine would have."""
    reals = [real for real, _past in walk.marks]

    def past(moment: dt.datetime) -> dt.datetime:
        index = bisect.bisect_left(reals, moment)
        return walk.marks[min(index, len(walk.marks) - 1)][1]

    def in_past(name: str) -> DjangoCase:
        """`past` as SQL, for rows written in bulk (one UPDATE per table)."""
        whens = [When(**{f"{name}__lte": real}, then=Value(moment)) for real, moment in walk.marks]
        return DjangoCase(*whens, default=F(name))

    case = Case.objects.get(pk=walk.case.pk)
    data = dict(case.data)
    if isinstance(data.get("verified_at"), str):
        data["verified_at"] = past(dt.datetime.fromisoformat(data["verified_at"])).isoformat()
    Case.objects.filter(pk=case.pk).update(
        started_at=walk.marks[0][1],
        ended_at=past(case.ended_at) if case.ended_at else None,
        data=data,
    )
    CaseEvent.objects.filter(case=case).update(at=in_past("at"))
    case_url = reverse("workflow:case", args=[case.pk])
    Notification.objects.filter(Q(task__case=case) | Q(url=case_url)).update(
        created_at=in_past("created_at")
    )
    # Read: those about finished tasks, and the process's older messages about the case.
    Notification.objects.filter(task__case=case).exclude(
        task__status__in=OPEN_TASK_STATUSES
    ).update(read_at=F("created_at"))
    Notification.objects.filter(url=case_url, created_at__lt=now - dt.timedelta(days=2)).update(
        read_at=F("created_at")
    )

    graph = workflow_services.case_graph(case)
    calendar = current_calendar()
    for task in case.tasks.all():
        changes: dict[str, Any] = {
            "created_at": past(task.created_at),
            "claimed_at": past(task.claimed_at) if task.claimed_at else None,
            "completed_at": past(task.completed_at) if task.completed_at else None,
        }
        if "verified_at" in task.data:
            changes["data"] = {**task.data, "verified_at": data.get("verified_at")}
        node = graph.nodes.get(task.node_id)
        spec = node.task if node else None
        if spec is not None and spec.sla:
            start = changes["created_at"]
            if spec.sla_from and isinstance(data.get(spec.sla_from), str):
                start = min(dt.datetime.fromisoformat(data[spec.sla_from]), start)
            due = calendar.add(start, parse_duration(spec.sla))
            remind = (
                calendar.subtract(due, parse_duration(spec.remind_before))
                if spec.remind_before
                else None
            )
            changes.update(
                due_at=due,
                remind_at=remind,
                next_escalation_at=due if spec.escalation else None,
                # A reminder whose time has passed went out then, not at the next SLA tick.
                reminded_at=remind if task.is_open and remind and remind <= now else None,
            )
            if task.due_at is not None:
                Notification.objects.filter(task=task).update(
                    text=Replace(F("text"), Value(_due_text(task.due_at)), Value(_due_text(due)))
                )
        Task.objects.filter(pk=task.pk).update(**changes)

    InstallationFile.objects.filter(case=case).update(archived_at=in_past("archived_at"))
    if "procurement" in walk.done_at:
        PurchaseOrder.objects.filter(case=case, received_on__isnull=False).update(
            received_on=timezone.localtime(walk.done_at["procurement"]).date()
        )
    JointTest.objects.filter(case=case).update(
        started_at=in_past("started_at"), finished_at=in_past("finished_at")
    )
    if walk.collector is not None:
        # The joint tests' signals, acknowledged as tests by the centre while they ran.
        moment = in_past("received_at")
        DeviceEvent.objects.filter(collector=walk.collector).update(
            occurred_at=moment,
            received_at=moment,
            handled_at=moment,
            verdict=Verdict.TEST,
            handled_by=walk.team.monitor,
            notes="联调测试信号",
        )


def _walk(walk: Walk, actions: list[str], now: dt.datetime) -> None:
    for action, at in zip(actions, walk.moments[1:], strict=True):
        walk.done_at[action] = at
        ACTIONS[action](walk, at)
        walk.marks.append((timezone.now(), at))
    if walk.number % 2 == 0:
        # Half the open work has been taken on by someone, half waits in the role's pool. Every
        # case has waited at least two working hours: the claim is before now.
        at = current_calendar().next_working_moment(walk.moments[-1] + dt.timedelta(minutes=30))
        for task in walk.case.tasks.filter(status=TaskStatus.READY).order_by("id"):
            workflow_services.task_claim(actor=walk.team.for_role(task.role), task=task)
        walk.marks.append((timezone.now(), at))
    _backdate(walk, now)


def load_cases(*, stdout: TextIO | None = None) -> int:
    """Start and walk the demo cases once (when there are none); returns how many were started."""
    if Case.objects.filter(version__definition__key=PROCESS_KEY).exists():
        return 0
    team = _team()
    if team is None:
        return 0
    rng = random.Random(20261127)  # noqa: S311 - repeatable demo data
    now = timezone.now()
    plans = [(plan, plan.actions()) for plan in PLANS]
    collectors = iter(
        _free_collectors(sum(1 for _plan, actions in plans if "drawings_handover" in actions))
    )
    started = 0
    for n, (plan, actions) in enumerate(plans, start=1):
        # Kinds of building spread over the steps (7 and 30 share no factor).
        building = BUILDINGS[(n * 7) % len(BUILDINGS)]
        with transaction.atomic():
            customer = _customer(n, building, team.market, rng)
            moments = _moments(plan, actions, rng, now)
            case = workflow_services.case_start(
                actor=team.market, customer=customer, key=PROCESS_KEY
            )
            customer_services.customer_change_status(
                actor=None,
                customer=customer,
                status=CustomerStatus.ONBOARDING,
                reason="签订入网安装合同",
            )
            walk = Walk(
                number=n,
                plan=plan,
                case=case,
                team=team,
                rng=rng,
                moments=moments,
                collector=next(collectors) if "drawings_handover" in actions else None,
                marks=[(timezone.now(), moments[0])],
            )
            _walk(walk, actions, now)
            started += 1
    if stdout is not None:
        stdout.write(f"Demo fire-monitoring cases: {started}\n")
    return started
