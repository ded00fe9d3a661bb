"""The demo organisation: a fire-monitoring operator in 南昌. Idempotent: only adds what is missing.

Later features extend the demo by adding loaders to `DEMO_STEPS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from accounts.models import Department, Region, Territory, User
from accounts.services import (
    department_create,
    generate_password,
    regions_sync,
    roles_sync,
    territory_create,
    user_create,
    user_set_password,
)

DEPARTMENTS = [
    ("market", "市场部"),
    ("operations_office", "运行总监办公室"),
    ("engineering", "工程部"),
    ("technical", "技术部"),
    ("procurement", "采购部"),
    ("monitoring_centre", "远程监控中心"),
    ("customer_centre", "营销部客户中心"),
    ("property", "物业部"),
    ("network_ops", "网管运维部"),
]

TERRITORIES = [
    ("nanchang_east", "南昌东片区", ["360102", "360104", "360111", "360121", "360124"]),
    ("nanchang_west", "南昌西片区", ["360103", "360112", "360113", "360123"]),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    department: str
    role: str
    supervisor: str = ""
    territory: str = ""


# Supervisors come before their subordinates.
USERS = [
    DemoUser("director", "王建国", "operations_office", "operations_director"),
    DemoUser("market_mgr", "李娜", "market", "market_manager", "director"),
    DemoUser("market", "张伟", "market", "market_staff", "market_mgr"),
    DemoUser("am_east", "黄敏", "market", "account_manager", "market_mgr", "nanchang_east"),
    DemoUser("am_west", "周杰", "market", "account_manager", "market_mgr", "nanchang_west"),
    DemoUser("engineer", "刘洋", "engineering", "engineer", "director"),
    DemoUser("engineer2", "邓磊", "engineering", "engineer", "director"),
    DemoUser("engineer3", "彭涛", "engineering", "engineer", "director"),
    DemoUser("tech", "陈静", "technical", "technical_staff", "director"),
    DemoUser("buyer", "杨帆", "procurement", "procurement", "director"),
    DemoUser("monitor", "赵磊", "monitoring_centre", "monitoring_operator", "director"),
    DemoUser("supervisor", "徐静", "customer_centre", "supervisor", "director"),
    DemoUser("agent", "吴婷", "customer_centre", "customer_centre_agent", "supervisor"),
    DemoUser("agent2", "罗丹", "customer_centre", "customer_centre_agent", "supervisor"),
    DemoUser("sales", "刘芳", "market", "inquiry_responder", "market_mgr", "nanchang_east"),
    DemoUser("property", "何静", "property", "inquiry_responder", "director"),
    DemoUser("netadmin", "孙浩", "network_ops", "network_admin", "director"),
    DemoUser("sysadmin", "马超", "network_ops", "system_admin"),
    DemoUser("auditor", "胡敏", "operations_office", "audit_admin"),
]


def logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.json"


def read_logins() -> dict[str, str]:
    path = logins_file()
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    return {}


def _write_logins(logins: dict[str, str]) -> None:
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(logins, ensure_ascii=False, indent=2))
    path.chmod(0o600)


def load_organisation(reset_passwords: bool = False) -> dict[str, str]:
    """Departments, regions, territories and one user per role; returns username → password."""
    roles_sync()
    regions_sync()
    logins = read_logins()
    with transaction.atomic():
        departments = {d.code: d for d in Department.objects.all()}
        for order, (code, name) in enumerate(DEPARTMENTS):
            if code not in departments:
                departments[code] = department_create(
                    actor=None, code=code, name=name, sort_order=order * 10
                )
        territories = {t.code: t for t in Territory.objects.all()}
        for code, name, district_codes in TERRITORIES:
            if code not in territories:
                territories[code] = territory_create(
                    actor=None,
                    code=code,
                    name=name,
                    districts=Region.objects.filter(code__in=district_codes),
                )
        nanchang = Region.objects.filter(code="360100").first()
        users = {
            u.username: u for u in User.objects.filter(username__in=[d.username for d in USERS])
        }
        for spec in USERS:
            user = users.get(spec.username)
            if user is None:
                territory = territories.get(spec.territory)
                user, password = user_create(
                    actor=None,
                    username=spec.username,
                    display_name=spec.display_name,
                    department=departments[spec.department],
                    supervisor=users.get(spec.supervisor),
                    role_codes=[spec.role],
                    regions=[nanchang]
                    if nanchang and spec.role in ("market_manager", "supervisor")
                    else [],
                    territories=[territory] if territory else [],
                    password=generate_password(12, symbols="-"),
                    must_change_password=False,
                    is_demo=True,
                )
                users[spec.username] = user
                logins[spec.username] = password
            elif reset_passwords and user.is_demo:
                password = generate_password(12, symbols="-")
                user_set_password(actor=None, user=user, password=password, temporary=False)
                logins[spec.username] = password
    _write_logins(logins)
    return logins


# Each feature's demo loader, run in order after the organisation (each is idempotent).
DEMO_STEPS = [
    "customers.demo.load_customers",
    "onboarding.demo.load_cases",
    "devices.demo.load_demo",
    "onboarding.fire_demo.load_cases",
    "service.demo.load_demo",
    "inquiries.demo.load_demo",
    "insights.churn_demo.load_demo",
    "insights.demo.load_demo",
]


def demo_load(reset_passwords: bool = False) -> dict[str, str]:
    logins = load_organisation(reset_passwords=reset_passwords)
    for dotted in DEMO_STEPS:
        step: Callable[[], object] = import_string(dotted)
        step()
    return logins


def demo_logins_table(logins: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(username, password, name, role) for every demo user, in the order of USERS."""
    from accounts.roles import ROLES_BY_CODE

    return [
        (
            spec.username,
            logins.get(spec.username, "?"),
            spec.display_name,
            str(ROLES_BY_CODE[spec.role].label),
        )
        for spec in USERS
    ]
