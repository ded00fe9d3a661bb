"""Installation defaults of the inquiry desk: the seed's responsibility matrix (网上客户信息管理
作业指导书 3.1–3.2), the teams it names, the contentious keywords and a few reply templates.

`inquiry_defaults_ensure()` runs after every `migrate` (inquiries.apps). As with the service
defaults, each kind is created only while its table is empty, so an administrator's changes are
never undone; a team is created only when no team has its code. Every row is audited.

The seed, as rules (most specific wins, inquiries.routing):
- 3.1 总负责人 / no rule matches: 营销部客户中心 (customer centre)
- 3.2.1 before the sales team is formed: customer centre
- 3.2.2 sales team on site: sales team
- 3.2.3 sales team withdrawn, before delivery: customer centre
- 3.2.4 after delivery: property matters → property department; the rest → customer centre
- 3.2.5 customer club, any stage: customer centre
- 3.2.6 contract procedures (办证、领证 notices), any stage: support team
- 3.2.7 promotions, any stage: promotion team
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import Model

from accounts.models import Department
from audit.models import AuditEntry
from audit.services import audit_record, changes_between, field_values
from inquiries.models import (
    ContentiousKeyword,
    DeskSettings,
    ProjectStage,
    ReplyTemplate,
    RoutingRule,
    Topic,
)
from service.models import AssignmentRule, Team


@dataclass(frozen=True)
class TeamSpec:
    code: str
    name: str
    department_code: str
    rule: str


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("customer-centre", "客户中心", "customer_centre", AssignmentRule.ROUND_ROBIN),
    TeamSpec("sales", "项目销售组", "market", AssignmentRule.LEAST_OPEN),
    TeamSpec("property", "物业部", "property", AssignmentRule.LEAST_OPEN),
    TeamSpec("support", "支持组", "customer_centre", AssignmentRule.LEAST_OPEN),
    TeamSpec("promotion", "推广组", "market", AssignmentRule.LEAST_OPEN),
)


@dataclass(frozen=True)
class RuleSpec:
    stage: str
    topic: str
    team_code: str
    note: str


MATRIX: tuple[RuleSpec, ...] = (
    RuleSpec(ProjectStage.PRE_SALES, "", "customer-centre", "3.2.1 项目销售组组建前"),
    RuleSpec(ProjectStage.ON_SALE, "", "sales", "3.2.2 销售组组建后、撤消前"),
    RuleSpec(ProjectStage.PRE_DELIVERY, "", "customer-centre", "3.2.3 销售组撤消后、交房前"),
    RuleSpec(ProjectStage.DELIVERED, Topic.PROPERTY, "property", "3.2.4 交房后：物管内容"),
    RuleSpec(ProjectStage.DELIVERED, Topic.GENERAL, "customer-centre", "3.2.4 交房后：非物业内容"),
    RuleSpec(ProjectStage.DELIVERED, "", "customer-centre", "3.2.4 交房后：其他内容"),
    RuleSpec("", Topic.CLUB, "customer-centre", "3.2.5 客户俱乐部事务"),
    RuleSpec("", Topic.CONTRACT, "support", "3.2.6 客户合同手续（办证、领证）"),
    RuleSpec("", Topic.PROMOTION, "promotion", "3.2.7 推广活动"),
)

# Words that usually mean a question the company has no settled answer to (the seed's
# "可能有争议的问题"): the reply goes to a supervisor first.
KEYWORDS = (
    "投诉", "赔偿", "退房", "退款", "维权", "起诉", "律师", "法院", "媒体", "曝光",
    "质量问题", "漏水", "开裂", "延期交房", "虚假宣传", "欺诈",
)  # fmt: skip

TEMPLATES: tuple[tuple[str, str, str], ...] = (
    (
        "通用回复",
        "",
        "{customer}您好：\n\n感谢您的来信（编号 {number}）。关于您提出的问题，答复如下：\n\n\n"
        "如有其他疑问，欢迎随时与我们联系。\n\n{signature}",
    ),
    (
        "办证进度",
        Topic.CONTRACT,
        "{customer}您好：\n\n您咨询的产权证办理事宜（编号 {number}），目前正在办理中，"
        "办理完成后我们将以短信和书面通知的方式告知领证时间与所需材料。\n\n{signature}",
    ),
    (
        "物业报修",
        Topic.PROPERTY,
        "{customer}您好：\n\n您反映的问题（编号 {number}）已转物业服务中心，"
        "维修人员将在一个工作日内与您联系上门处理。\n\n{signature}",
    ),
    (
        "客户俱乐部入会",
        Topic.CLUB,
        "{customer}您好：\n\n欢迎加入客户俱乐部。请填写网上登记申请表，"
        "我们审核后将寄送会员卡并告知会员权益。\n\n{signature}",
    ),
)

_TABLES = (
    RoutingRule,
    ContentiousKeyword,
    ReplyTemplate,
    DeskSettings,
    Team,
    Department,
    AuditEntry,
)


def _tables_exist() -> bool:
    try:
        with connection.cursor() as cursor:
            names = set(connection.introspection.table_names(cursor))
    except DatabaseError:
        return False
    return {m._meta.db_table for m in _TABLES} <= names


def _create(obj: Model) -> None:
    obj.save()
    audit_record(
        actor=None,
        action=f"{obj._meta.model_name}.create",
        obj=obj,
        changes=changes_between({}, field_values(obj)),
    )


def teams_ensure() -> dict[str, Team]:
    """The matrix's teams by code, creating those missing (without members)."""
    departments = {d.code: d for d in Department.objects.all()}
    teams = {t.code: t for t in Team.objects.filter(code__in=[s.code for s in TEAMS])}
    for spec in TEAMS:
        if spec.code not in teams:
            team = Team(
                code=spec.code,
                name=spec.name,
                department=departments.get(spec.department_code),
                rule=spec.rule,
            )
            _create(team)
            teams[spec.code] = team
    return teams


def inquiry_defaults_ensure() -> int:
    """Create the defaults whose table is empty; returns how many rows were created."""
    if not _tables_exist():
        return 0
    created = 0
    with transaction.atomic():
        if not RoutingRule.objects.exists():
            teams = teams_ensure()
            for position, rule in enumerate(MATRIX, start=1):
                _create(
                    RoutingRule(
                        stage=rule.stage,
                        topic=rule.topic,
                        team=teams[rule.team_code],
                        position=position * 10,
                        note=rule.note,
                    )
                )
                created += 1
        if not DeskSettings.objects.exists():
            _create(DeskSettings(default_team=Team.objects.filter(code="customer-centre").first()))
            created += 1
        if not ContentiousKeyword.objects.exists():
            for word in KEYWORDS:
                _create(ContentiousKeyword(word=word))
                created += 1
        if not ReplyTemplate.objects.exists():
            for name, topic, body in TEMPLATES:
                _create(ReplyTemplate(name=name, topic=topic, body=body))
                created += 1
    return created
