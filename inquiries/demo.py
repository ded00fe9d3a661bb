"""Demo inquiry desk: a month of a property developer's customer centre (网上客户信息管理).

Loaded after the other demos (ruwang.demo.DEMO_STEPS). Four projects, one in each stage of the
seed's 3.2 (滨江壹号 on sale, 青山湖畔 before its sales team, 红谷名邸 waiting for delivery,
象湖花园 delivered), the matrix's teams with the demo people (吴婷 and 罗丹 in the customer
centre and its support and promotion teams, 刘芳 in the sales team, 何静 in the property
department, 徐静 leading them all), and about forty questions from the public form, e-mail,
forums and social media over the last 30 days: most answered (some late), contentious ones
approved or returned by the supervisor, some waiting in review or in draft, some new and one
overdue; notices (a delivery notice sent and public on 象湖花园's page, an event notice scheduled,
a draft) and a saved segment.

Every row is written through the services (intake, replies, review, notices, segments), as
people would have. The services stamp replies with the real time; afterwards each reply, its
thread message and its inquiry's reply times are moved onto the moment the story gives them
(the audit log keeps the real times: it is append-only). Mails go to an in-memory outbox.

Idempotent: nothing is added once any project exists.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone, translation

from accounts.models import Region, RegionLevel, User
from customers.models import CustomerStatus
from customers.segments import segment_save
from inquiries import notices, replies, services
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    POSTED_CHANNELS,
    DeskSettings,
    Inquiry,
    InquiryChannel,
    InquiryMessage,
    Notice,
    Project,
    ProjectStage,
    Reply,
    SignAs,
    Topic,
)
from inquiries.sla import inquiry_sla_tick
from service.models import Team, TeamMember

SEED = 8

PROJECTS = (
    # code, name, stage, district
    ("binjiang", "滨江壹号", ProjectStage.ON_SALE, "360102"),
    ("qingshanhu", "青山湖畔", ProjectStage.PRE_SALES, "360111"),
    ("honggu", "红谷名邸", ProjectStage.PRE_DELIVERY, "360113"),
    ("xianghu", "象湖花园", ProjectStage.DELIVERED, "360104"),
)

TEAM_PEOPLE = {
    "customer-centre": ("agent", "agent2"),
    "sales": ("sales",),
    "property": ("property",),
    "support": ("agent2",),
    "promotion": ("agent",),
}

QUESTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    Topic.PROPERTY: (
        ("电梯经常停运", "3 号楼电梯这周停了两次，什么时候彻底修好？"),
        ("物业费标准", "请问物业费的收费标准是多少？可以按年交吗？"),
        ("楼道灯不亮", "5 栋 2 单元楼道灯坏了好几天了，晚上很不安全。"),
        ("地下车库漏水", "地下车库 B 区顶上漏水，车都被弄脏了，要求赔偿洗车费用。"),
        ("快递柜位置", "小区的快递柜能不能放到北门附近？"),
    ),
    Topic.GENERAL: (
        ("学校划片", "请问小区对应的小学和初中是哪所？"),
        ("样板间开放时间", "周末样板间几点开放？需要预约吗？"),
        ("公积金贷款", "用公积金贷款需要准备哪些材料？"),
        ("交房时间", "合同写的是明年六月交房，会不会推迟？"),
        ("户型图", "能发一下 120 平的户型图吗？"),
        ("周边规划", "小区东边那块地规划的是什么？"),
    ),
    Topic.CLUB: (
        ("俱乐部入会", "客户俱乐部怎么入会？网上登记表在哪里下载？"),
        ("会员积分", "俱乐部积分可以兑换什么？"),
    ),
    Topic.CONTRACT: (
        ("领证时间", "房产证什么时候可以领取？需要带什么？"),
        ("合同备案", "我的购房合同备案了吗？怎么查询？"),
        ("办证材料", "办理产权证需要提供哪些材料？"),
    ),
    Topic.PROMOTION: (
        ("老带新活动", "老业主推荐新客户还有奖励吗？"),
        ("暖场活动报名", "这周六的亲子暖场活动需要报名吗？"),
    ),
}

CONTENTIOUS = (
    (Topic.GENERAL, "虚假宣传", "销售说小区旁边要建地铁站，现在说没有，这是虚假宣传，要求退房！"),
    (
        Topic.PROPERTY,
        "墙面开裂",
        "客厅墙面开裂了，这是质量问题，开发商要给个说法，否则找媒体曝光。",
    ),
    (Topic.CONTRACT, "延期交房违约金", "如果延期交房，违约金怎么算？我要咨询律师。"),
)

NAMES = (
    "陈晓",
    "林峰",
    "黄蕾",
    "赵磊",
    "周婷",
    "吴迪",
    "郑洁",
    "孙倩",
    "朱军",
    "何丽",
    "高敏",
    "罗成",
)
SITES = (
    (InquiryChannel.FORUM, "搜房网业主论坛", "https://bbs.example.com/thread/"),
    (InquiryChannel.SOCIAL, "微博", "https://weibo.example.com/status/"),
    (InquiryChannel.EXTERNAL, "本地生活网", "https://life.example.com/ask/"),
)

ANSWERS: dict[str, str] = {
    Topic.PROPERTY: (
        "您反映的问题已转物业服务中心处理，维修人员会在一个工作日内联系您，处理结果会再告知您。"
    ),
    Topic.GENERAL: (
        "感谢关注。您问到的情况我们已核实，详细资料已整理好，欢迎到售楼处或致电客户中心了解。"
    ),
    Topic.CLUB: "客户俱乐部网上登记申请表可在公司网站“客户俱乐部”栏目下载，填写后发回本邮箱即可。",
    Topic.CONTRACT: (
        "您的合同已完成备案，产权证预计下月可领取，届时我们会以短信和书面通知告知领证时间与材料。"
    ),
    Topic.PROMOTION: "活动需要提前报名，名额有限，请在活动页面或致电客户中心报名。",
}


@dataclass(frozen=True)
class Story:
    asked: dt.datetime
    channel: str
    project: str
    topic: str
    subject: str
    body: str
    author: str
    outcome: str  # replied / late / approved / returned / in_review / drafting / new / closed
    contentious: bool = False


def _people() -> dict[str, User]:
    names = ("agent", "agent2", "sales", "property", "supervisor", "market_mgr")
    return {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}


def _district(code: str) -> Region | None:
    return (
        Region.objects.filter(code=code).first()
        or Region.objects.filter(level=RegionLevel.DISTRICT, code__startswith="3601").first()
    )


def _teams(people: dict[str, User]) -> None:
    teams = {t.code: t for t in Team.objects.filter(code__in=TEAM_PEOPLE)}
    lead = people.get("supervisor")
    for code, usernames in TEAM_PEOPLE.items():
        team = teams.get(code)
        if team is None:
            continue
        for username in usernames:
            if username in people:
                TeamMember.objects.get_or_create(team=team, user=people[username])
        if lead is not None and team.lead_id is None:
            team.lead = lead
            team.save(update_fields=["lead"])


def _projects() -> dict[str, Project]:
    projects = {}
    for code, name, stage, district in PROJECTS:
        projects[code] = Project.objects.create(
            code=code, name=name, stage=stage, region=_district(district)
        )
    return projects


def _stories(rng: random.Random, now: dt.datetime) -> list[Story]:
    stories: list[Story] = []
    topics = list(QUESTIONS)
    codes = [p[0] for p in PROJECTS]
    for n in range(36):
        age_hours = rng.uniform(2, 30 * 24) if n >= 9 else rng.uniform(1, 40)
        asked = now - dt.timedelta(hours=age_hours)
        topic = topics[n % len(topics)]
        subject, body = QUESTIONS[topic][n % len(QUESTIONS[topic])]
        channel = rng.choice(
            [InquiryChannel.WEB, InquiryChannel.WEB, InquiryChannel.EMAIL, *(s[0] for s in SITES)]
        )
        if age_hours > 48:
            outcome = rng.choice(["replied", "replied", "replied", "late", "closed"])
        elif age_hours > 24:
            outcome = "new"  # an overdue one, escalated
        else:
            outcome = rng.choice(["replied", "drafting", "new"])
        stories.append(
            Story(
                asked=asked,
                channel=channel,
                project=codes[n % len(codes)],
                topic=topic,
                subject=subject,
                body=body,
                author=NAMES[n % len(NAMES)],
                outcome=outcome,
            )
        )
    for n, (topic, subject, body) in enumerate(CONTENTIOUS):
        stories.append(
            Story(
                asked=now - dt.timedelta(hours=(60, 10, 5)[n]),
                channel=InquiryChannel.WEB if n != 1 else InquiryChannel.FORUM,
                project=("binjiang", "xianghu", "honggu")[n],
                topic=topic,
                subject=subject,
                body=body,
                author=NAMES[-1 - n],
                outcome=("approved", "returned", "in_review")[n],
                contentious=True,
            )
        )
    return sorted(stories, key=lambda s: s.asked)


def _source(story: Story, n: int) -> dict[str, Any]:
    if story.channel in POSTED_CHANNELS:
        site = next(s for s in SITES if s[0] == story.channel)
        return {
            "source_site": site[1],
            "source_url": f"{site[2]}{20260000 + n}",
            "author_handle": f"owner_{n:03d}",
            "posted_at": story.asked,
        }
    return {
        "author_name": story.author,
        "author_email": f"owner{n:03d}@example.com",
        "author_phone": f"139{n:08d}",
    }


def _ask(story: Story, n: int, projects: dict[str, Project], people: dict[str, User]) -> Inquiry:
    extra = _source(story, n)
    entered = story.channel in POSTED_CHANNELS
    found_at = story.asked + dt.timedelta(minutes=40) if entered else story.asked
    return services.inquiry_create(
        actor=people["agent"] if entered else None,
        channel=story.channel,
        subject=story.subject,
        body=story.body,
        topic=story.topic,
        project=projects[story.project],
        now=found_at,
        **extra,
    )


def _answerer(inquiry: Inquiry, people: dict[str, User]) -> User:
    if inquiry.assignee is not None:
        return inquiry.assignee
    return people["agent"]


def _answer_text(story: Story, inquiry: Inquiry) -> str:
    return f"{inquiry.customer.name}您好：\n\n{ANSWERS[story.topic]}"


def _deliver(actor: User, reply: Reply) -> Reply:
    if reply.inquiry.channel in POSTED_CHANNELS:
        return replies.reply_mark_posted(
            actor=actor,
            reply=reply,
            posted_url=f"{reply.inquiry.source_url or 'https://bbs.example.com/thread/1'}#reply",
        )
    return replies.reply_send(actor=actor, reply=reply)


def _move(reply: Reply, inquiry: Inquiry, **moments: dt.datetime) -> None:
    """Put the reply's steps on their story moments (the services stamped real time)."""
    Reply.objects.filter(pk=reply.pk).update(**moments)
    sent = moments.get("sent_at")
    if sent is not None:
        InquiryMessage.objects.filter(reply=reply).update(created_at=sent)
        changes: dict[str, Any] = {"replied_at": sent}
        if inquiry.first_replied_at is None or inquiry.first_replied_at > sent:
            changes["first_replied_at"] = sent
        Inquiry.objects.filter(pk=inquiry.pk).update(**changes)
        Inquiry.objects.filter(pk=inquiry.pk, closed_at__isnull=False).update(
            closed_at=min(sent + dt.timedelta(days=1), timezone.now())
        )


def _work(story: Story, inquiry: Inquiry, people: dict[str, User], rng: random.Random) -> None:
    outcome = story.outcome
    if outcome == "new":
        return
    who = _answerer(inquiry, people)
    if inquiry.assignee is None:
        inquiry = services.inquiry_claim(actor=who, inquiry=inquiry)
    sign_as = SignAs.STAFF if rng.random() < 0.3 else SignAs.COMPANY
    reply = replies.reply_save(
        actor=who, inquiry=inquiry, body=_answer_text(story, inquiry), sign_as=sign_as
    )
    if outcome == "drafting":
        return
    start = inquiry.posted_at or inquiry.received_at
    if outcome in ("replied", "closed", "late"):
        hours = rng.uniform(26, 40) if outcome == "late" else rng.uniform(0.5, 18)
        # Never in the future, and after the question was seen.
        latest = timezone.now() - dt.timedelta(minutes=5)
        sent_at = max(min(start + dt.timedelta(hours=hours), latest), inquiry.received_at)
        reply = _deliver(who, reply)
        if outcome == "closed":
            services.inquiry_close(actor=who, inquiry=inquiry)
        _move(reply, inquiry, sent_at=sent_at)
        return
    supervisor = people["supervisor"]
    reply = replies.reply_submit(actor=who, reply=reply)
    submitted = start + dt.timedelta(hours=2)
    if outcome == "in_review":
        Reply.objects.filter(pk=reply.pk).update(submitted_at=submitted)
        return
    if outcome == "returned":
        replies.reply_review(
            actor=supervisor,
            reply=reply,
            decision="return",
            comment="不要承诺赔偿，先说明已安排工程人员上门查看，并给出客户中心电话。",
        )
        Reply.objects.filter(pk=reply.pk).update(
            submitted_at=submitted, reviewed_at=submitted + dt.timedelta(hours=1)
        )
        return
    reply = replies.reply_review(
        actor=supervisor,
        reply=reply,
        decision="approve",
        comment="可以发送，已补充地铁规划的官方信息来源。",
        body=reply.body + "\n\n地铁线路以南昌市轨道交通规划公示为准，我们可提供公示文件。",
    )
    reviewed = submitted + dt.timedelta(hours=3)
    reply = _deliver(who, reply)
    _move(
        reply,
        inquiry,
        submitted_at=submitted,
        reviewed_at=reviewed,
        sent_at=reviewed + dt.timedelta(minutes=20),
    )


def _notices(projects: dict[str, Project], people: dict[str, User], now: dt.datetime) -> None:
    agent, supervisor = people["agent"], people["supervisor"]
    delivered = projects["xianghu"]
    notice = notices.notice_save(
        actor=agent,
        notice=None,
        title="象湖花园二期交房通知",
        body=(
            "尊敬的业主：\n\n象湖花园二期将于下月 8 日至 20 日集中交房。请携带购房合同、身份证及"
            "交房通知书到售楼处办理交房手续，物业服务中心同步办理入住。\n\n营销部客户中心"
        ),
        project=delivered,
        audience={"projects": [delivered.pk]},
        channels=["email", "sms"],
        is_public=True,
        scheduled_for=None,
    )
    notices.notice_send(actor=supervisor, notice=notice)
    # The logging SMS gateway would print every message of the demo's notice.
    gateway_log = logging.getLogger("inquiries.gateways")
    level = gateway_log.level
    gateway_log.setLevel(logging.WARNING)
    try:
        notices.notice_deliver(notice=notice)
    finally:
        gateway_log.setLevel(level)
    on_sale = projects["binjiang"]
    event = notices.notice_save(
        actor=agent,
        notice=None,
        title="滨江壹号业主亲子活动邀请",
        body="本周六上午 9:30 在滨江壹号中心花园举办亲子嘉年华，欢迎业主携家人参加。",
        project=on_sale,
        audience={"projects": [on_sale.pk]},
        channels=["email"],
        is_public=True,
        scheduled_for=None,
    )
    notices.notice_schedule(actor=supervisor, notice=event, at=now + dt.timedelta(days=2))
    notices.notice_save(
        actor=agent,
        notice=None,
        title="物业费缴纳提醒",
        body="2027 年度物业费即日起开始缴纳，可在物业服务中心或线上缴纳。",
        project=delivered,
        audience={"projects": [delivered.pk], "statuses": [CustomerStatus.PROSPECT]},
        channels=["sms"],
        is_public=False,
        scheduled_for=None,
    )
    region = delivered.region
    if region is not None:
        segment_save(
            actor=supervisor,
            segment=None,
            name="象湖花园意向客户",
            description="象湖花园所在区的意向客户（网上咨询后建档）",
            definition={
                "op": "and",
                "items": [
                    {"field": "region", "values": [region.pk]},
                    {"field": "status", "values": [CustomerStatus.PROSPECT]},
                ],
            },
            is_shared=True,
        )


def load_demo() -> int:
    """Add the demo inquiry desk once; returns how many inquiries it got."""
    if Project.objects.exists():
        return 0
    people = _people()
    if not {"agent", "supervisor"} <= set(people):
        return 0
    with (
        translation.override(settings.LANGUAGE_CODE),
        override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
    ):
        return _load(people)


def _load(people: dict[str, User]) -> int:
    now = timezone.now()
    rng = random.Random(SEED)  # noqa: S311 - repeatable demo data
    with transaction.atomic():
        inquiry_defaults_ensure()
        desk = DeskSettings.objects.first()
        region = _district("360102")
        if desk is not None and desk.default_region_id is None and region is not None:
            desk.default_region = region
            desk.save(update_fields=["default_region"])
        _teams(people)
        projects = _projects()
        count = 0
        for n, story in enumerate(_stories(rng, now)):
            inquiry = _ask(story, n, projects, people)
            _work(story, inquiry, people, rng)
            count += 1
        # Warnings and escalations of the month, at the moments they fell due, then now.
        for inquiry in Inquiry.objects.filter(due_at__lt=now, replied_at__isnull=True):
            assert inquiry.due_at is not None
            inquiry_sla_tick(now=inquiry.due_at)
        inquiry_sla_tick(now=now)
        _notices(projects, people, now)
        Notice.objects.filter(status="sent", sent_at__isnull=True).update(sent_at=now)
    return count
