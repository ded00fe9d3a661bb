"""The demo's customer insights: value classes, the association analysis's nightly figures,
key accounts flagged by a rule with a care plan, the care rules' first run and the reports'
figures — what the nightly and ten-minute jobs would have computed by the time someone looks.
Runs after every other demo step (it reads their customers, tickets, devices and cases)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from care.keyaccounts import key_accounts_apply_rules, plan_item_create, rule_save
from care.models import CarePlanKind, KeyAccount, KeyAccountRule, KeyAccountRuleKind
from care.rules import care_rules_run
from insights.association import association_precompute
from insights.models import ValueClass
from insights.value import value_recompute

RULE_NAME = "A 类客户"
# (days from today, kind, title) of the plan given to the first key accounts.
PLAN = (
    (-20, CarePlanKind.CONTACT, "季度电话回访"),
    (10, CarePlanKind.VISIT, "上门拜访消防安全管理人"),
    (45, CarePlanKind.EVENT, "邀请参加消防安全培训讲座"),
    (80, CarePlanKind.GIFT, "春节慰问品"),
)


def _key_accounts(director: User) -> None:
    if KeyAccountRule.objects.filter(name=RULE_NAME).exists():
        return
    rule = rule_save(
        actor=director,
        name=RULE_NAME,
        kind=KeyAccountRuleKind.VALUE_CLASS,
        value_class=ValueClass.A,
    )
    key_accounts_apply_rules(actor=director, rules=[rule])
    today = timezone.localdate()
    for account in KeyAccount.objects.filter(is_active=True).order_by("pk")[:5]:
        for days, kind, title in PLAN:
            plan_item_create(
                actor=director,
                account=account,
                kind=kind,
                planned_on=today + dt.timedelta(days=days),
                title=title,
            )


def load_demo() -> None:
    """Idempotent: each part recomputes or skips what exists."""
    director = User.objects.get(username="director")
    value_recompute(actor=director)
    association_precompute()
    with transaction.atomic():
        _key_accounts(director)
    care_rules_run()
    from reports.aggregates import reports_refresh
    from reports.funnel import funnel_refresh
    from reports.workload import workload_refresh

    reports_refresh(full=True)
    funnel_refresh(full=True)
    workload_refresh(full=True)
