#!/usr/bin/env python
"""Benchmark of the process engine at scale: the inbox, the workbench, task completions.

Seeds N running cases (default 100,000) of the approval process (workflow/tests/bpmn/
approval_loop.bpmn), each parked at its first user task "Fill", into a database of its own.
Then it times the inbox (/work/tasks/) and the workbench (/) through Django's test client
(server time: middleware, session, queries, template rendering) for a market staff member, an
account manager and a market manager, and measures task completions per second with N worker
threads calling workflow.services.task_complete, each on its own connection and its own tasks.

    .venv/bin/python bench/workflow.py --cases 5000                     # quick check, SQLite
    .venv/bin/python bench/workflow.py                                  # 100,000 cases, SQLite
    .venv/bin/python bench/workflow.py \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_wfbench  # PostgreSQL

Targets (issue): inbox p95 <= 50 ms server time; >= 200 task completions/s on PostgreSQL.

The developer's database is never touched: SQLite lives in a fresh RUWANG_VAR_DIR under /tmp
(or --var-dir), PostgreSQL in the database named by --database-url, created when missing and
dropped at the end unless --keep. With --keep (or an existing --var-dir) a second run reuses
the seeded rows (the completions of the first run stay completed). See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import shlex
import statistics
import sys
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

BPMN = ROOT / "workflow" / "tests" / "bpmn" / "approval_loop.bpmn"
PROCESS_KEY = "test-approval"  # the key definition_upload derives from the process id
BATCH = 10_000
NOTIFICATION_CHUNK = 50_000
MARKET_STAFF = 40
MARKET_MANAGERS = 10
ACCOUNT_MANAGERS = 20
CLAIMED_SHARE = 0.60  # of the open "Fill" tasks, the rest waits in the market_staff pool
DELEGATED_SHARE = 0.05  # of the claimed tasks: handed to the customer's account manager
OWNED_SHARE = 0.80  # customers owned by the account manager of their district's territory
DUE_SPREAD = timedelta(days=10)  # due_at uniformly within now ± 10 days
DELEGATE_REASON = "基准：转客户经理跟进"
NOTE = {"note": "bench"}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
)
GIVEN = [*"伟芳娜敏静磊洋勇军杰涛明超强平刚英华丽艳霞玲兰红梅鹏飞斌浩宇", "秀英", "建国", "志强"]
ORG_STEMS = [
    "赣江", "滕王阁", "红谷", "青山湖", "象湖", "瑶湖", "梅岭", "八一", "洪都", "庐山",
    "鄱阳湖", "井冈", "三清", "龙虎山", "华兴", "宏达", "金盛", "新世纪", "东方", "恒信",
]  # fmt: skip
# (suffix, category)
ORG_KINDS = [
    ("大厦", "key_unit"),
    ("购物中心", "key_unit"),
    ("人民医院", "key_unit"),
    ("实验学校", "key_unit"),
    ("大酒店", "key_unit"),
    ("宾馆", "small_venue"),
    ("物流园", "general"),
    ("电子厂", "general"),
    ("科技有限公司", "general"),
    ("商贸有限公司", "general"),
    ("餐饮管理有限公司", "small_venue"),
]
RETAIL_KINDS = ["便利店", "烟酒店", "超市", "药店", "餐馆"]
SEARCH_FRAGMENTS = ["赣江", "医院", "便利", "大厦", "滕王阁", "科技", "张", "超市"]


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _short(name: str) -> str:
    """南昌市 → 南昌, 青山湖区 → 青山湖 (a one-character name keeps its suffix)."""
    return name[:-1] if len(name) > 2 and name[-1] in "市区县" else name


# --- setup ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=100_000, help="open cases to seed (100,000)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per scenario (200)")
    p.add_argument("--warmup", type=int, default=5, help="discarded requests per scenario (5)")
    common.add_database_options(p)
    p.add_argument("--threads", type=int, default=4, help="completion worker threads (4)")
    p.add_argument(
        "--processes",
        type=int,
        default=0,
        help="also run the completions in this many forked processes (0: no): threads share "
        "the GIL, processes show what several server workers would do",
    )
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per completion run (20)")
    p.add_argument("--seed", type=int, default=20261125, help="random seed (20261125)")
    p.add_argument("--slow-ms", type=float, default=50.0, help="explain scenarios above p95 (50)")
    p.add_argument(
        "--unread-hours",
        type=float,
        default=24.0,
        help="seeded notifications older than this are marked read (24): as if everyone "
        "cleared the bell once a day",
    )
    return p.parse_args()


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/workflow.py", "--cases", str(args.cases)]
    parts += ["--requests", str(args.requests), "--threads", str(args.threads)]
    parts += ["--seconds", f"{args.seconds:g}", "--seed", str(args.seed)]
    parts += common.database_option_parts(args)
    if args.warmup != 5:
        parts += ["--warmup", str(args.warmup)]
    if args.processes:
        parts += ["--processes", str(args.processes)]
    if args.slow_ms != 50.0:
        parts += ["--slow-ms", f"{args.slow_ms:g}"]
    if args.unread_hours != 24.0:
        parts += ["--unread-hours", f"{args.unread_hours:g}"]
    return shlex.join(parts)


# --- organisation and process --------------------------------------------------------------------


def setup_organisation(seed: int) -> dict[str, Any]:
    """Regions; a market department; a head, 10 market managers, 40 market staff (each serving
    one 江西 city) and 20 account managers (territories partitioning 江西's districts)."""
    from django.test.utils import override_settings

    from accounts.models import Department, Region, RegionLevel, Territory, User
    from accounts.services import (
        department_create,
        generate_password,
        regions_sync,
        roles_sync,
        territory_create,
        user_create,
    )

    roles_sync()
    regions_sync()
    rng = random.Random(seed)  # noqa: S311 - test data
    cities = list(Region.objects.filter(level=RegionLevel.CITY, code__startswith="36"))
    districts = list(
        Region.objects.filter(level=RegionLevel.DISTRICT, code__startswith="36")
        .select_related("parent")
        .order_by("code")
    )
    department = Department.objects.filter(code="bench_wf_market").first() or department_create(
        actor=None, code="bench_wf_market", name="市场部（流程基准）"
    )
    users = {u.username: u for u in User.objects.filter(username__startswith="bench_wf_")}

    def make(username: str, role: str, **extra: Any) -> User:
        if username not in users:
            users[username], _pw = user_create(
                actor=None,
                username=username,
                display_name=person_name(rng),
                department=department,
                role_codes=[role],
                password=generate_password(12, symbols="-"),
                must_change_password=False,
                **extra,
            )
        return users[username]

    # Benchmark users only: a fast hasher keeps creating 71 users from taking half a minute.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        head = make("bench_wf_head", "operations_director")
        managers = [
            make(f"bench_wf_mgr{n:02d}", "market_manager", supervisor=head)
            for n in range(1, MARKET_MANAGERS + 1)
        ]
        # Staff n serves city n mod 11 (南昌 first): 3–4 staff per city.
        staff = [
            make(
                f"bench_wf_staff{n:02d}",
                "market_staff",
                supervisor=managers[(n - 1) % MARKET_MANAGERS],
                regions=[cities[(n - 1) % len(cities)]],
            )
            for n in range(1, MARKET_STAFF + 1)
        ]
        per_am = -(-len(districts) // ACCOUNT_MANAGERS)
        ams = []
        for n in range(1, ACCOUNT_MANAGERS + 1):
            area = districts[(n - 1) * per_am : n * per_am]
            territory = Territory.objects.filter(code=f"bench_wf_t{n:02d}").first() or (
                territory_create(
                    actor=None,
                    code=f"bench_wf_t{n:02d}",
                    name=f"流程基准片区{n:02d}",
                    districts=area,
                )
            )
            ams.append(
                make(
                    f"bench_wf_am{n:02d}",
                    "account_manager",
                    supervisor=managers[(n - 1) % MARKET_MANAGERS],
                    territories=[territory],
                )
            )
    am_of_district = {
        d: u
        for u in ams
        for d in Region.objects.filter(territories__staff=u).values_list("id", flat=True)
    }
    staff_of_city: dict[int, list[int]] = {}
    for n, user in enumerate(staff):
        staff_of_city.setdefault(cities[n % len(cities)].pk, []).append(user.pk)
    return {
        "department": department,
        "districts": districts,
        "staff": staff,
        "managers": managers,
        "ams": ams,
        "am_of_district": {d: u.pk for d, u in am_of_district.items()},
        "staff_of_city": staff_of_city,
        "city_of_district": {d.pk: d.parent_id for d in districts},
    }


def publish_process() -> Any:
    from workflow import services
    from workflow.models import DefinitionVersion, VersionStatus

    version = (
        DefinitionVersion.objects.filter(
            definition__key=PROCESS_KEY, status=VersionStatus.PUBLISHED
        )
        .select_related("definition")
        .first()
    )
    if version is None:
        draft = services.definition_upload(actor=None, xml=BPMN.read_text(encoding="utf-8"))
        version = services.version_publish(actor=None, version=draft)
        print(f"published {version}")
    return services.published_version(PROCESS_KEY)


# --- seeding -------------------------------------------------------------------------------------


def seed_customers(args: argparse.Namespace, org: dict[str, Any]) -> None:
    """One customer per case, by bulk_create (search columns left empty: not measured here)."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import Customer

    existing = Customer.objects.count()
    todo = args.cases - existing
    if todo <= 0:
        print(f"reusing {existing:,} customers")
        return
    districts = org["districts"]
    department_id = org["department"].pk
    now = timezone.now()
    started = time.perf_counter()
    done = 0
    while done < todo:
        rng = random.Random(args.seed * 7919 + existing + done)  # noqa: S311 - test data
        rows = []
        for _i in range(min(BATCH, todo - done)):
            district = rng.choice(districts)
            roll = rng.random()
            if roll < 0.7:
                kind = "organisation"
                suffix, category = rng.choice(ORG_KINDS)
                place = (
                    _short(district.parent.name) if rng.random() < 0.6 else _short(district.name)
                )
                name = f"{place}{rng.choice(ORG_STEMS)}{suffix}"
                if rng.random() < 0.5:
                    name += f"{rng.randint(1, 99)}{rng.choice(['号', '分店', '店'])}"
            elif roll < 0.9:
                kind, category = "retailer", "small_venue"
                name = f"{_short(district.name)}{person_name(rng)}{rng.choice(RETAIL_KINDS)}"
            else:
                kind, category = "person", "other"
                name = person_name(rng)
            owner_id = (
                org["am_of_district"].get(district.pk) if rng.random() < OWNED_SHARE else None
            )
            rows.append(
                Customer(
                    kind=kind,
                    name=name,
                    category=category,
                    region_id=district.pk,
                    status="prospect",
                    status_changed_at=now,
                    owner_id=owner_id,
                    department_id=department_id,
                )
            )
        with transaction.atomic():
            Customer.objects.bulk_create(rows)
        done += len(rows)
    elapsed = time.perf_counter() - started
    print(f"seeded {todo:,} customers in {elapsed:.1f} s ({todo / elapsed:,.0f} rows/s)")


def notification_text(task_name: str, number: str, customer: str, due_at: datetime | None) -> str:
    """What notifications.task_assigned writes (same gettext calls, same active language)."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    text = _("New task: %(task)s · %(case)s · %(customer)s") % {
        "task": task_name,
        "case": number,
        "customer": customer,
    }
    if due_at:
        text += " · " + _("due %(due)s") % {
            "due": timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M")
        }
    return text


def reference_cases(org: dict[str, Any], version: Any) -> list[int]:
    """Three cases through the services: started; started+claimed; started+claimed+delegated.
    Their customers are the first three of staff01's city with an owner."""
    from customers.models import Customer
    from workflow import services
    from workflow.models import Task

    staff = org["staff"][0]
    city = staff.regions.get()
    customers = list(
        Customer.objects.filter(region__parent=city, owner__isnull=False).order_by("id")[:3]
    )
    ids = []
    for n, customer in enumerate(customers):
        case = services.case_start(actor=staff, customer=customer, version=version)
        task = Task.objects.get(case=case)
        if n >= 1:
            task = services.task_claim(actor=staff, task=task)
        if n == 2:
            services.task_delegate(
                actor=staff, task=task, to=customer.owner, reason=DELEGATE_REASON
            )
        ids.append(case.pk)
    return ids


def insert_notifications(rows: list[tuple[Any, ...]]) -> int:
    """Notification rows by executemany: bulk_create spends most of the seeding time compiling
    the 40 fan-out rows per case; the values are the ones bulk_create would bind."""
    from django.db import connection

    from workflow.models import Notification

    if not rows:
        return 0
    table = connection.ops.quote_name(Notification._meta.db_table)
    columns = "recipient_id, kind, text, url, task_id, created_at, read_at"
    with connection.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
            rows,
        )
    return len(rows)


def seed_cases(args: argparse.Namespace, org: dict[str, Any], version: Any) -> list[int] | None:
    """Bulk-create the running cases, parked at "Fill", exactly as the services store them.

    Per case: Case (token 2 parked at Fill via Flow_1), Task (ready, or claimed by a market staff
    member of the customer's city, 5% of those delegated to the customer's account manager),
    CaseEvents started/task_opened(/claimed/delegated) and the notifications (task_assigned
    fans out to every market staff member; +1 to the delegate). Not written: the hash-chained
    AuditEntry rows of case.start/task.delegate (nothing measured reads them).
    Returns the ids of the reference cases started through the services (None when reused).
    """
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.urls import reverse
    from django.utils import timezone

    from customers.models import Customer
    from workflow.business_calendar import current_calendar
    from workflow.calendar import parse_duration
    from workflow.models import Case, CaseEvent, Task, TaskStatus
    from workflow.services import version_graph

    existing = Case.objects.count()
    if existing >= args.cases:
        print(f"reusing {existing:,} seeded cases")
        return None
    refs = reference_cases(org, version) if existing == 0 else []
    graph = version_graph(version)
    fill = graph.nodes["Fill"]
    assert fill.task is not None
    task_name, form_key = fill.name, fill.task.form_key
    role = graph.task_role("Fill")
    remind_before = parse_duration(fill.task.remind_before)
    calendar = current_calendar()
    staff_ids = [u.pk for u in org["staff"]]
    staff_set = set(staff_ids)
    staff_of_city, city_of_district = org["staff_of_city"], org["city_of_district"]
    unread_after = timedelta(hours=args.unread_hours)
    url_prefix = reverse("workflow:task", args=[0])[: -len("0/")]
    definition_name = version.definition.name
    todo_customers = (
        Customer.objects.filter(cases__isnull=True)
        .order_by("id")
        .values_list("id", "region_id", "owner_id", "department_id", "name")
    )
    pending = list(todo_customers[: args.cases - existing - len(refs)])
    print(f"seeding {len(pending):,} cases (batches of {BATCH:,})")
    now = timezone.now()
    started = time.perf_counter()
    done = notifications = 0
    next_case_id = (Case.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    for offset in range(0, len(pending), BATCH):
        rng = random.Random(args.seed * 104_729 + next_case_id)  # noqa: S311 - test data
        chunk = pending[offset : offset + BATCH]
        cases, tasks, plans = [], [], []
        for customer_id, region_id, owner_id, department_id, customer_name in chunk:
            city_staff = staff_of_city[city_of_district[region_id]]
            due_at = calendar.next_working_moment(
                now + timedelta(seconds=rng.uniform(-1, 1) * DUE_SPREAD.total_seconds())
            ).replace(second=0, microsecond=0)
            start_at = min(due_at - timedelta(days=2), now) - timedelta(
                seconds=rng.uniform(60, 2 * 86_400)
            )
            opened_at = start_at + timedelta(milliseconds=2)
            number = f"RW-{timezone.localtime(start_at).year}-{next_case_id:06d}"
            cases.append(
                Case(
                    id=next_case_id,
                    number=number,
                    version=version,
                    customer_id=customer_id,
                    data={},
                    tokens=[[2, "Fill", "Flow_1"]],
                    next_token=3,
                    started_by_id=rng.choice(city_staff),
                    started_at=start_at,
                )
            )
            task = Task(
                customer_id=customer_id,
                customer_owner_id=owner_id,
                customer_region_id=region_id,
                customer_department_id=department_id,
                case_id=next_case_id,
                token=2,
                node_id="Fill",
                name=task_name,
                form_key=form_key,
                status=TaskStatus.READY,
                role=role,
                created_at=opened_at,
                due_at=due_at,
                remind_at=calendar.subtract(due_at, remind_before),
                next_escalation_at=due_at,
            )
            plan: dict[str, Any] = {
                "number": number,
                "customer": customer_name,
                # The services notify the role's members who may see the customer: the staff
                # serving its city, and its owner when a staff member owns it.
                "seeing": sorted(set(city_staff) | ({owner_id} & staff_set)),
            }
            if rng.random() < CLAIMED_SHARE:
                claimer = rng.choice(city_staff)
                room = max((now - opened_at).total_seconds(), 1.0)
                claimed_at = opened_at + timedelta(seconds=rng.uniform(0, min(room, 86_400)))
                task.status, task.assignee_id, task.claimed_at = (
                    TaskStatus.CLAIMED,
                    claimer,
                    claimed_at,
                )
                plan["claimed"] = (claimer, claimed_at)
                if owner_id and rng.random() < DELEGATED_SHARE:
                    room = max((now - claimed_at).total_seconds(), 1.0)
                    delegated_at = claimed_at + timedelta(seconds=rng.uniform(0, min(room, 3600)))
                    task.delegated_by_id, task.assignee_id, task.claimed_at = (
                        claimer,
                        owner_id,
                        delegated_at,
                    )
                    plan["delegated"] = (claimer, owner_id, delegated_at)
            tasks.append(task)
            plans.append(plan)
            next_case_id += 1
        with transaction.atomic():
            Case.objects.bulk_create(cases)
            Task.objects.bulk_create(tasks)  # sets task.pk (RETURNING) on both databases
            events = []
            notes: list[tuple[Any, ...]] = []
            for case, task, plan in zip(cases, tasks, plans, strict=True):
                events.append(
                    CaseEvent(
                        case_id=case.pk,
                        at=case.started_at,
                        actor_id=case.started_by_id,
                        kind="started",
                        text=definition_name,
                    )
                )
                events.append(
                    CaseEvent(
                        case_id=case.pk,
                        task_id=task.pk,
                        at=task.created_at,
                        kind="task_opened",
                        node_id="Fill",
                        text=task_name,
                        detail={"assignee": None, "role": role},
                    )
                )
                text = notification_text(task_name, plan["number"], plan["customer"], task.due_at)
                url = f"{url_prefix}{task.pk}/"
                sent = [(uid, task.created_at) for uid in plan["seeing"]]
                if "claimed" in plan:
                    claimer, claimed_at = plan["claimed"]
                    events.append(
                        CaseEvent(
                            case_id=case.pk,
                            task_id=task.pk,
                            at=claimed_at,
                            actor_id=claimer,
                            kind="claimed",
                            node_id="Fill",
                            text=task_name,
                        )
                    )
                if "delegated" in plan:
                    claimer, owner_id, delegated_at = plan["delegated"]
                    events.append(
                        CaseEvent(
                            case_id=case.pk,
                            task_id=task.pk,
                            at=delegated_at,
                            actor_id=claimer,
                            kind="delegated",
                            node_id="Fill",
                            text=DELEGATE_REASON,
                            detail={"to": owner_id, "previous": claimer},
                        )
                    )
                    sent.append((owner_id, delegated_at))
                adapt = connection.ops.adapt_datetimefield_value
                for uid, at in sent:
                    read_at = None
                    if now - at > unread_after:
                        read_at = min(now, at + timedelta(seconds=rng.uniform(1800, 86_400)))
                    notes.append(
                        (uid, "assigned", text[:300], url, task.pk, adapt(at), adapt(read_at))
                    )
                if len(notes) >= NOTIFICATION_CHUNK:
                    notifications += insert_notifications(notes)
                    notes = []
            CaseEvent.objects.bulk_create(events)
            notifications += insert_notifications(notes)
        done += len(chunk)
        elapsed = time.perf_counter() - started
        print(
            f"  {done:>9,} cases  {elapsed:7.1f} s  {done / elapsed:8,.0f} cases/s "
            f"({notifications:,} notifications)",
            flush=True,
        )
    with connection.cursor() as cur:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Case]):
            cur.execute(sql)
    elapsed = time.perf_counter() - started
    if pending:
        print(
            f"seeded {len(pending):,} cases in {elapsed:.1f} s ({len(pending) / elapsed:,.0f} "
            f"cases/s, {notifications:,} notifications)"
        )
    return refs


# --- checking the seeded shape -------------------------------------------------------------------


def _normalise(obj: Any, masked: set[str]) -> dict[str, Any]:
    """Field values with ids and times replaced by markers (None stays None)."""
    from django.db import models

    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        value = getattr(obj, field.attname)
        if field.name in masked:
            continue
        if value is not None and (field.primary_key or field.is_relation):
            value = "<id>"
        elif value is not None and isinstance(field, models.DateTimeField):
            value = "<time>"
        elif isinstance(value, dict):
            value = {k: ("<id>" if isinstance(v, int) else v) for k, v in sorted(value.items())}
        out[field.name] = value
    return out


def case_shape(case_id: int) -> dict[str, Any]:
    """Everything the services store for one case, normalised; raises on derived values that
    do not follow the services' formulas (number, notification text and URL)."""
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import User
    from workflow.models import Case, CaseEvent, Notification, Task

    case = Case.objects.select_related("customer").get(pk=case_id)
    tasks = list(Task.objects.filter(case=case).order_by("id"))
    expected = f"RW-{timezone.localtime(case.started_at).year}-{case.pk:06d}"
    assert case.number == expected, (case.number, expected)
    events = list(CaseEvent.objects.filter(case=case).order_by("at", "id"))
    assert events[0].kind == "started" and events[0].at == case.started_at, events[0].__dict__
    opened = [e for e in events if e.kind == "task_opened"]
    assert [e.at for e in opened] == [t.created_at for t in tasks], "task_opened.at != created_at"
    notes = list(Notification.objects.filter(task__case=case).order_by("recipient_id", "id"))
    from customers.selectors import customer_visible

    staff = User.objects.filter(is_active=True, groups__role__code="market_staff")
    seeing = {u.pk for u in staff if customer_visible(u, case.customer)}
    for task in tasks:
        first = {n.recipient_id for n in notes if n.task_id == task.pk and n.created_at}
        assert seeing <= first, "the pool notification missed a staff member who sees the customer"
    for note in notes:
        task = next(t for t in tasks if t.pk == note.task_id)
        text = notification_text(task.name, case.number, case.customer.name, task.due_at)
        assert note.text == text[:300], (note.text, text)
        assert note.url == reverse("workflow:task", args=[task.pk]), note.url
    return {
        "case": _normalise(case, {"number"}),
        "tasks": [_normalise(t, set()) for t in tasks],
        "events": [_normalise(e, set()) for e in events],
        "notifications": sorted(
            (_normalise(n, {"text", "url", "read_at"}) for n in notes), key=repr
        ),
    }


def check_shape(refs: list[int]) -> None:
    """Compare a bulk-created case of each kind with its reference started by the services."""
    from workflow.models import Task, TaskStatus

    # The reference customers have an owner and lie in staff01's city: compare with bulk cases
    # of such customers (the pool's notifications go to the staff of the customer's city).
    city = Task.objects.filter(case_id=refs[0]).values_list("customer_region__parent", flat=True)
    bulk = Task.objects.exclude(case_id__in=refs).filter(
        customer_owner__isnull=False, customer_region__parent__in=list(city)
    )
    samples = [
        ("ready", bulk.filter(status=TaskStatus.READY)),
        ("claimed", bulk.filter(status=TaskStatus.CLAIMED, delegated_by__isnull=True)),
        ("delegated", bulk.filter(status=TaskStatus.CLAIMED, delegated_by__isnull=False)),
    ]
    for ref, (label, qs) in zip(refs, samples, strict=True):
        sample = qs.order_by("id").values_list("case_id", flat=True).first()
        if sample is None:
            print(f"shape check: no bulk case {label} at this size")
            continue
        want, got = case_shape(ref), case_shape(sample)
        if want != got:
            for key in want:
                if want[key] != got[key]:
                    print(f"  {key}:\n    service {want[key]}\n    bulk    {got[key]}")
            raise SystemExit(f"bulk case {sample} ({label}) differs from service case {ref}")
        print(
            f"shape check {label:<9}: case {sample} = service case {ref} "
            f"({len(got['events'])} events, {len(got['notifications'])} notifications)"
        )


def finish_seeding() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        # Bulk-loaded tables have no statistics and no visibility map yet; autovacuum would
        # provide both within minutes in production.
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE in {time.perf_counter() - t:.1f} s")


# --- measuring the pages -------------------------------------------------------------------------

TASK_LINK_RE = re.compile(r'href="/work/tasks/\d+/"')


def build_scenarios(org: dict[str, Any]) -> list[tuple[str, str, Any, list[Any]]]:
    """(user label, scenario, user, [(path, params, htmx)]) — variants are cycled."""
    from workflow.models import Task

    staff, am, manager = org["staff"][0], org["ams"][0], org["managers"][0]
    numbers = list(
        Task.objects.filter(assignee=staff, status="claimed")
        .order_by("id")
        .values_list("case__number", flat=True)[:4]
    )
    searches = [{"view": "mine", "q": q} for q in SEARCH_FRAGMENTS]
    searches += [{"view": "mine", "q": n} for n in numbers]
    return [
        ("market staff", "inbox mine", staff, [("/work/tasks/", {"view": "mine"}, False)]),
        ("market staff", "inbox pool", staff, [("/work/tasks/", {"view": "pool"}, False)]),
        (
            "market staff",
            "inbox mine overdue",
            staff,
            [("/work/tasks/", {"view": "mine", "due": "overdue"}, True)],
        ),
        ("market staff", "inbox mine q=…", staff, [("/work/tasks/", s, True) for s in searches]),
        ("market staff", "workbench /", staff, [("/", {}, False)]),
        ("account manager", "inbox mine", am, [("/work/tasks/", {"view": "mine"}, False)]),
        ("market manager", "inbox all", manager, [("/work/tasks/", {"view": "all"}, False)]),
    ]


def _get(client: Any, variant: tuple[str, dict[str, str], bool]) -> Any:
    path, params, htmx = variant
    headers = {"HX-Request": "true"} if htmx else {}
    return client.get(path, params, headers=headers)


def run_scenarios(args: argparse.Namespace, scenarios: list[Any]) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    results = []
    for label, name, user, variants in scenarios:
        client = Client()
        client.force_login(user)
        for i in range(args.warmup):
            _get(client, variants[i % len(variants)])
        timings = []
        for i in range(args.requests):
            t = time.perf_counter()
            response = _get(client, variants[(args.warmup + i) % len(variants)])
            timings.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code} {response.get('Location')}")
        with CaptureQueriesContext(connection) as ctx:
            response = _get(client, variants[0])
        slowest = max(float(q["time"]) for q in ctx.captured_queries) * 1000
        timings.sort()
        results.append(
            {
                "user": label,
                "scenario": name,
                "user_obj": user,
                "n": len(timings),
                "p50": statistics.median(timings),
                "p95": common.p95(timings),
                "max": timings[-1],
                "queries": len(ctx.captured_queries),
                "slowest": slowest,
                "rows": len(TASK_LINK_RE.findall(response.content.decode())),
                "variants": variants,
            }
        )
        r = results[-1]
        print(
            f"  {label:<16} {name:<20} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  "
            f"max {r['max']:7.1f} ms  {r['queries']} queries  {r['rows']} rows",
            flush=True,
        )
    return results


def print_table(results: list[dict[str, Any]], vendor: str, cases: int) -> None:
    print(f"\nDB vendor: {vendor}   open cases: {cases:,}   (server time via django.test.Client)")
    header = (
        f"| {'user':<16} | {'scenario':<20} | {'n':>4} | {'p50 ms':>7} | {'p95 ms':>7} "
        f"| {'max ms':>7} | {'queries':>7} | {'slowest q ms':>12} | {'rows':>4} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['user']:<16} | {r['scenario']:<20} | {r['n']:>4} | {r['p50']:>7.1f} | "
            f"{r['p95']:>7.1f} | {r['max']:>7.1f} | {r['queries']:>7} | {r['slowest']:>12.1f} "
            f"| {r['rows']:>4} |"
        )


def explain_slow(result: dict[str, Any]) -> None:
    """Time each query of the scenario's slowest variant and show the plan of the slowest one."""
    elapsed, variant, queries = common.slowest_variant(
        result["user_obj"], result["variants"][:12], _get
    )
    print(
        f"\n--- {result['user']} / {result['scenario']}: slowest variant {variant[0]} "
        f"{variant[1]} {elapsed:.0f} ms, {len(queries)} queries "
        f"({sum(float(q['time']) for q in queries) * 1000:.1f} ms in the database)"
    )
    common.print_slowest(queries, top=4, width=900)


# --- measuring completions -----------------------------------------------------------------------


# (wait ms, held ms) per audit-chain lock taken by task_complete, filled by instrument_chain_lock.
CHAIN_LOCKS: list[tuple[float, float]] = []


def instrument_chain_lock() -> None:
    """Time the audit chain's pg_advisory_xact_lock: waiting for it, and holding it (from the
    lock to the end of the commit, via on_commit). Wraps audit.services._lock_chain in this
    process; the SQL is unchanged."""
    from django.db import connection, transaction

    from audit import services as audit_services

    original = audit_services._lock_chain
    if getattr(original, "bench_wrapped", False) or connection.vendor != "postgresql":
        return

    def _lock_chain() -> None:
        t = time.perf_counter()
        original()
        got = time.perf_counter()
        transaction.on_commit(
            lambda: CHAIN_LOCKS.append(((got - t) * 1000, (time.perf_counter() - got) * 1000))
        )

    _lock_chain.bench_wrapped = True  # type: ignore[attr-defined]
    audit_services._lock_chain = _lock_chain


def _completion_worker(
    k: int,
    workers: int,
    args: argparse.Namespace,
    staff_ids: list[int],
    ref_limit: int,
    wait_start: Any,
) -> dict[str, Any]:
    """One worker (thread or process): the claimed "Fill" tasks of staff k, k+workers, …,
    one user after the other in turn, completed through the service until the deadline."""
    from django.db import connection

    from accounts.models import User
    from workflow import services
    from workflow.models import Task, TaskStatus

    out: dict[str, Any] = {
        "latencies": [], "done": 0, "conflicts": 0, "errors": 0, "exhausted": 0, "end": 0.0,
        "messages": [],
    }  # fmt: skip
    try:
        users = {u.pk: u for u in User.objects.filter(pk__in=staff_ids[k::workers])}
        queues: list[deque[tuple[User, int, int]]] = []
        for uid, user in sorted(users.items()):
            rows = (
                Task.objects.filter(
                    assignee_id=uid, status=TaskStatus.CLAIMED, node_id="Fill", id__gt=ref_limit
                )
                .order_by("id")
                .values_list("id", "case_id")
            )
            queues.append(deque((user, pk, case_id) for pk, case_id in rows))
        order: deque[tuple[User, int, int]] = deque()
        while any(queues):
            for q in queues:
                if q:
                    order.append(q.popleft())
        for _i in range(2):  # warm-up: graph cache, permission caches, the connection
            if order:
                user, pk, case_id = order.popleft()
                services.task_complete(actor=user, task=Task(pk=pk, case_id=case_id), data=NOTE)
        t0 = wait_start()
        deadline = t0 + args.seconds
        while time.perf_counter() < deadline:
            if not order:
                out["exhausted"] = 1
                break
            user, pk, case_id = order.popleft()
            t = time.perf_counter()
            try:
                # What the view passes after task_get(); the service locks and re-reads it.
                services.task_complete(actor=user, task=Task(pk=pk, case_id=case_id), data=NOTE)
            except services.TaskConflict:
                out["conflicts"] += 1
                continue
            except Exception as exc:  # counted and reported, the run goes on
                out["errors"] += 1
                if len(out["messages"]) < 5:
                    out["messages"].append(f"{type(exc).__name__}: {exc}")
                continue
            out["latencies"].append((time.perf_counter() - t) * 1000)
            out["done"] += 1
        out["end"] = time.perf_counter()
    except threading.BrokenBarrierError:
        out["messages"].append(f"worker {k}: another worker failed before the start")
    except Exception as exc:
        out["messages"].append(f"worker {k} failed: {type(exc).__name__}: {exc}")
        out["failed"] = True
    finally:
        connection.close()
    return out


def _process_main(
    k: int,
    workers: int,
    args: argparse.Namespace,
    staff_ids: list[int],
    ref_limit: int,
    barrier: Any,
    t0: Any,
    results: Any,
) -> None:
    def wait_start() -> float:
        barrier.wait()
        return float(t0.value)

    CHAIN_LOCKS.clear()
    out = _completion_worker(k, workers, args, staff_ids, ref_limit, wait_start)
    if out.get("failed"):
        barrier.abort()
    out["chain_locks"] = list(CHAIN_LOCKS)
    results.put(out)


class LockSampler(threading.Thread):
    """PostgreSQL: how many sessions wait for a lock, sampled every 20 ms on its own connection
    (advisory = the audit chain's pg_advisory_xact_lock; other = row/transaction locks)."""

    def __init__(self) -> None:
        super().__init__(name="lock-sampler", daemon=True)
        self.stop = threading.Event()
        self.samples: list[tuple[int, int]] = []

    def run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute(
                        "SELECT count(*) FILTER (WHERE locktype = 'advisory'), "
                        "count(*) FILTER (WHERE locktype <> 'advisory') "
                        "FROM pg_locks WHERE NOT granted"
                    )
                    self.samples.append(cur.fetchone())
                    time.sleep(0.02)
        finally:
            connection.close()

    def means(self) -> tuple[float, float]:
        if not self.samples:
            return 0.0, 0.0
        n = len(self.samples)
        return sum(a for a, _b in self.samples) / n, sum(b for _a, b in self.samples) / n


def run_completions(
    args: argparse.Namespace, org: dict[str, Any], workers: int, processes: bool = False
) -> dict[str, Any]:
    """`workers` threads (or forked processes), each on its own connection with its own market
    staff members (worker k: staff k, k+workers, …), complete claimed tasks for --seconds."""
    import multiprocessing

    from django.db import connection, connections

    staff_ids = [u.pk for u in org["staff"]]
    ref_limit = org["ref_task_max"]
    outs: list[dict[str, Any]] = []
    sampler = LockSampler() if connection.vendor == "postgresql" else None
    instrument_chain_lock()
    CHAIN_LOCKS.clear()
    if processes:
        connections.close_all()  # the children fork: they must not share the connection
        # Like a server's workers forked from a loaded master: the benchmark's own objects are
        # left out of the children's garbage collections (which would otherwise walk, and
        # copy page by page, everything the parent seeded and measured).
        gc.collect()
        gc.freeze()
        ctx = multiprocessing.get_context("fork")
        t0 = ctx.Value("d", 0.0)

        def mark() -> None:
            t0.value = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process

        barrier = ctx.Barrier(workers, action=mark)
        queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_process_main,
                args=(k, workers, args, staff_ids, ref_limit, barrier, t0, queue),
                name=f"wf-{k}",
            )
            for k in range(workers)
        ]
        for proc in procs:
            proc.start()
        if sampler:
            sampler.start()
        outs = [queue.get() for _p in procs]
        for proc in procs:
            proc.join()
        start = float(t0.value)
    else:
        state = {"t0": 0.0}
        tbarrier = threading.Barrier(workers, action=lambda: state.update(t0=time.perf_counter()))

        def wait_start() -> float:
            tbarrier.wait()
            return state["t0"]

        lock = threading.Lock()

        def thread_main(k: int) -> None:
            out = _completion_worker(k, workers, args, staff_ids, ref_limit, wait_start)
            if out.get("failed"):
                tbarrier.abort()
            with lock:
                outs.append(out)

        threads = [
            threading.Thread(target=thread_main, args=(k,), name=f"wf-{k}") for k in range(workers)
        ]
        for th in threads:
            th.start()
        if sampler:
            sampler.start()
        for th in threads:
            th.join()
        start = state["t0"]
    if sampler:
        sampler.stop.set()
        sampler.join()
    for out in outs:
        for m in out["messages"]:
            print(f"  ! {m}")
    latencies = sorted(x for out in outs for x in out["latencies"])
    if not latencies:
        raise SystemExit("no completion measured (no claimed tasks left? seed more --cases)")
    elapsed = max(out["end"] for out in outs) - start
    done = sum(out["done"] for out in outs)
    waiting = sampler.means() if sampler else None
    chain = [x for out in outs for x in out.get("chain_locks", [])] if processes else CHAIN_LOCKS
    chain_wait = statistics.median(w for w, _h in chain) if chain else None
    chain_held = statistics.median(h for _w, h in chain) if chain else None
    result = {
        "workers": f"{workers} {'process' if processes else 'thread'}"
        + ("" if workers == 1 else "es" if processes else "s"),
        "seconds": elapsed,
        "done": done,
        "rate": done / elapsed,
        "p50": statistics.median(latencies),
        "p95": common.p95(latencies),
        "max": latencies[-1],
        "conflicts": sum(out["conflicts"] for out in outs),
        "errors": sum(out["errors"] for out in outs),
        "exhausted": sum(out["exhausted"] for out in outs),
        "waiting": waiting,
        "chain_wait": chain_wait,
        "chain_held": chain_held,
    }
    print(
        f"  {result['workers']}: {done:,} completions in {elapsed:.1f} s = "
        f"{result['rate']:.1f}/s  p50 {result['p50']:.1f}  p95 {result['p95']:.1f}  "
        f"max {result['max']:.1f} ms  conflicts {result['conflicts']}  errors {result['errors']}"
        + (
            f"  waiting for locks: advisory {waiting[0]:.2f}, other {waiting[1]:.2f}"
            if waiting
            else ""
        )
        + (
            f"  audit lock p50: wait {chain_wait:.1f} ms, held {chain_held:.1f} ms"
            if chain_held is not None
            else ""
        )
        + (f"  (workers out of tasks: {result['exhausted']})" if result["exhausted"] else ""),
        flush=True,
    )
    return result


def completion_profile(org: dict[str, Any]) -> tuple[int, float]:
    """Queries and database time of one task_complete, each query listed (for the report)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workflow import services
    from workflow.models import Task, TaskStatus

    user = org["staff"][-1]
    tasks = [
        Task(pk=pk, case_id=case_id)
        for pk, case_id in Task.objects.filter(
            assignee=user, status=TaskStatus.CLAIMED, id__gt=org["ref_task_max"]
        )
        .order_by("-id")
        .values_list("id", "case_id")[:2]
    ]
    if len(tasks) < 2:
        print(f"\nno claimed task of {user.username} left to profile one task_complete")
        return 0, 0.0
    services.task_complete(actor=user, task=tasks[0], data=NOTE)  # warm-up
    task = tasks[1]
    t = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        services.task_complete(actor=user, task=task, data=NOTE)
    total = (time.perf_counter() - t) * 1000
    db = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
    print(
        f"\none task_complete: {total:.1f} ms, {len(ctx.captured_queries)} queries, "
        f"{db:.1f} ms of them in the database (timer resolution 1 ms on SQLite)"
    )
    for q in ctx.captured_queries:
        print(f"  {float(q['time']) * 1000:5.1f} ms  {q['sql'][:150]}")
    return len(ctx.captured_queries), db


def print_completions(results: list[dict[str, Any]], vendor: str, queries: int) -> None:
    label = "SQLite (writers serialised)" if vendor == "sqlite" else vendor
    per = f"{queries} queries per task_complete" if queries else "queries not profiled"
    print(f"\nTask completions, {label}; {per}")
    pg = vendor == "postgresql"
    header = (
        f"| {'workers':<16} | {'completions':>11} | {'per s':>7} | {'p50 ms':>7} "
        f"| {'p95 ms':>7} | {'max ms':>7} | {'conflicts':>9} | {'errors':>6} |"
        + (f" {'lock waiters':>12} | {'audit lock wait/held ms':>23} |" if pg else "")
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        extra = ""
        if pg:
            waiters = f"{r['waiting'][0]:.2f} + {r['waiting'][1]:.2f}" if r["waiting"] else ""
            chain = (
                f"{r['chain_wait']:.1f} / {r['chain_held']:.1f}"
                if r["chain_held"] is not None
                else ""
            )
            extra = f" {waiters:>12} | {chain:>23} |"
        print(
            f"| {r['workers']:<16} | {r['done']:>11,} | {r['rate']:>7.1f} "
            f"| {r['p50']:>7.1f} | {r['p95']:>7.1f} | {r['max']:>7.1f} | {r['conflicts']:>9} "
            f"| {r['errors']:>6} |" + extra
        )
    if pg:
        print(
            "lock waiters: mean sessions waiting for the audit advisory lock + for other locks "
            "(rows); audit lock: p50 wait for / hold of pg_advisory_xact_lock (hold = until "
            "commit)"
        )


def main() -> None:
    args = parse_args()
    command = reproduce_command(args)
    print(f"reproduce: {command}")
    var_dir, created_var = common.start(
        args,
        "ruwang-wfbench-",
        urls=["/work/tasks/", "/"],
        templates=[
            "base.html", "dashboard.html", "workflow/inbox.html", "workflow/_inbox_rows.html",
        ],
    )  # fmt: skip
    from django.db import connection, connections

    import workflow.services  # noqa: F401 - loaded before the threads start
    from accounts.models import User
    from workflow.models import OPEN_TASK_STATUSES, Case, Task, TaskStatus
    from workflow.selectors import inbox_counts, tasks_visible_to

    try:
        # The code measured: the working tree may change while other people work on it.
        sources = [
            "workflow/selectors.py", "workflow/services.py", "workflow/views.py",
            "workflow/models.py", "customers/selectors.py", "audit/services.py",
            "templates/workflow/_inbox_rows.html", "templates/dashboard.html",
        ]  # fmt: skip
        print(
            "source files modified at (UTC): "
            + ", ".join(
                f"{name.rsplit('/', 1)[-1]} "
                + time.strftime("%H:%M", time.gmtime((ROOT / name).stat().st_mtime))
                for name in sources
            )
        )
        common.migrate()
        org = setup_organisation(args.seed)
        version = publish_process()
        seed_customers(args, org)
        refs = seed_cases(args, org, version)
        if refs:
            check_shape(refs)
        first_cases = Case.objects.order_by("id").values_list("id", flat=True)[:3]
        org["ref_task_max"] = (
            Task.objects.filter(case_id__in=list(first_cases))
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
            or 0
        )
        finish_seeding()
        open_tasks = Task.objects.filter(status__in=[TaskStatus.READY, TaskStatus.CLAIMED])
        cases = Case.objects.filter(status="running").count()
        print(
            f"{cases:,} running cases; open tasks: {open_tasks.count():,} "
            f"({open_tasks.filter(status=TaskStatus.CLAIMED).count():,} claimed)"
        )
        scenarios = build_scenarios(org)
        seen = set()
        for label, _name, user, _v in scenarios:
            if user.pk in seen:
                continue
            seen.add(user.pk)
            user = User.objects.get(pk=user.pk)  # fresh permission cache
            c = inbox_counts(user)
            visible = tasks_visible_to(user).filter(status__in=OPEN_TASK_STATUSES).count()
            print(
                f"  {label} {user.username}: mine {c.mine:,}, pool {c.pool:,}, "
                f"overdue {c.overdue:,}, due soon {c.soon:,}; "
                f"open tasks of visible customers {visible:,}"
            )
        manager = User.objects.get(pk=org["managers"][0].pk)
        if not manager.has_perm("workflow.reassign_task"):
            print(
                "  WARNING: market managers lack workflow.reassign_task: the inbox shows them "
                "view=mine instead of view=all (scenario marked '(→ mine)')"
            )
            scenarios = [
                (lab, f"{name} (→ mine)" if name == "inbox all" else name, u, v)
                for lab, name, u, v in scenarios
            ]
        results = run_scenarios(args, scenarios)
        print_table(results, connection.vendor, cases)
        for r in results:
            if r["p95"] > args.slow_ms:
                explain_slow(r)
        connections.close_all()
        print(f"\nTask completions, {args.seconds:g} s per run")
        completions = [run_completions(args, org, 1)]
        if args.threads != 1:
            completions.append(run_completions(args, org, args.threads))
        if args.processes:
            completions.append(run_completions(args, org, args.processes, processes=True))
        queries, _db = completion_profile(org)
        print_table(results, connection.vendor, cases)
        print_completions(completions, connection.vendor, queries)
        print(f"\nreproduce: {command}")
    finally:
        common.finish(args, var_dir, created_var)


if __name__ == "__main__":
    main()
