#!/usr/bin/env python
"""Benchmark of the customer list and search page (/customers/) at scale.

Seeds N customers (default 1,000,000) into a database of its own, then times the real view
through Django's test client (server time: middleware, queries, template rendering) for a user
who sees every customer and for an account manager limited by owner and sales territory.

    .venv/bin/python bench/customers.py --customers 20000              # quick check, SQLite
    .venv/bin/python bench/customers.py                                # 1,000,000 rows, SQLite
    .venv/bin/python bench/customers.py \\
        --database-url postgres://postgres@127.0.0.1:5432/ruwang_bench  # PostgreSQL

The developer's database is never touched: SQLite lives in a fresh RUWANG_VAR_DIR under /tmp
(or --var-dir), PostgreSQL in the database named by --database-url, created when missing and
dropped at the end unless --keep. With --keep (or an existing --var-dir) a second run reuses
the seeded rows when there are already enough of them. See bench/README.md.
"""

from __future__ import annotations

import argparse
import random
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - after the project root is on the path

BATCH = 10_000
ACCOUNT_MANAGERS = 50

# --- data pools ----------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
)
COMPOUND_SURNAMES = ["欧阳", "欧阳", "欧阳", "司马", "诸葛", "上官", "皇甫", "慕容"]
GIVEN = [
    *"伟芳娜敏静磊洋勇军杰涛明超强平刚英华丽艳霞玲兰红梅鹏飞斌浩宇轩欣怡婷雪琳峰波辉",
    "秀英",
    "建国",
    "志强",
    "海燕",
    "丽华",
    "晓东",
    "文博",
    "子涵",
    "浩然",
    "欣怡",
    "宇轩",
    "俊杰",
    "雨桐",
    "梓萱",
    "佳怡",
    "思远",
    "建华",
    "国强",
    "春梅",
    "建军",
    "志明",
    "红霞",
    "小龙",
    "金凤",
]
ORG_STEMS = [
    "赣江",
    "滕王阁",
    "红谷",
    "青山湖",
    "象湖",
    "艾溪湖",
    "瑶湖",
    "梅岭",
    "八一",
    "洪都",
    "昌北",
    "朝阳",
    "九龙湖",
    "前湖",
    "秋水",
    "华兴",
    "宏达",
    "金盛",
    "新世纪",
    "东方",
    "恒信",
    "鑫源",
    "万象",
    "天成",
    "博雅",
    "长青",
    "永安",
    "盛世",
    "锦绣",
    "中联",
]
# (suffix, industry, category)
ORG_KINDS = [
    ("大厦", "商务办公", "key_unit"),
    ("购物中心", "商业", "key_unit"),
    ("人民医院", "医疗", "key_unit"),
    ("中医院", "医疗", "key_unit"),
    ("实验学校", "教育", "key_unit"),
    ("中学", "教育", "key_unit"),
    ("幼儿园", "教育", "key_unit"),
    ("大酒店", "住宿餐饮", "key_unit"),
    ("宾馆", "住宿餐饮", "small_venue"),
    ("物流园", "仓储物流", "general"),
    ("电子厂", "制造业", "general"),
    ("小区物业服务中心", "物业管理", "general"),
    ("养老院", "养老服务", "key_unit"),
    ("网吧", "娱乐", "small_venue"),
    ("KTV", "娱乐", "small_venue"),
    ("农贸市场", "商业", "general"),
    ("科技有限公司", "信息技术", "general"),
    ("商贸有限公司", "批发零售", "general"),
    ("建筑工程有限公司", "建筑", "general"),
    ("物业管理有限公司", "物业管理", "general"),
    ("餐饮管理有限公司", "住宿餐饮", "small_venue"),
    ("汽车销售服务有限公司", "汽车", "general"),
]
RETAIL_KINDS = ["便利店", "烟酒店", "副食店", "超市", "小卖部", "五金店", "药店", "餐馆"]
STATUS_WEIGHTS = [
    ("prospect", 20),
    ("onboarding", 10),
    ("active", 45),
    ("suspended", 10),
    ("terminated", 15),
]
SOURCES = ["visit", "phone", "referral", "web", "tender", "authority", "import"]
CONTACT_ROLES = ["safety_responsible", "safety_manager", "legal_representative", "contact"]

# Filled in by the parent before the worker pool forks.
_POOL: dict[str, Any] = {}


def person_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.01:
        return "张伟"  # the most common full name in China
    if roll < 0.025:
        return rng.choice(COMPOUND_SURNAMES) + rng.choice(GIVEN)
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _short(name: str) -> str:
    """南昌市 → 南昌, 青山湖区 → 青山湖 (a one-character name keeps its suffix)."""
    return name[:-1] if len(name) > 2 and name[-1] in "市区县" else name


def gen_batch(batch_no: int, start: int, count: int, seed: int) -> list[tuple[Any, ...]]:
    """Rows for customers start … start+count-1 (runs in a worker process)."""
    from customers.search import search_fields
    from ruwang.lib.validators import make_credit_code

    rng = random.Random(seed * 1_000_003 + batch_no)  # noqa: S311 - test data
    nanchang, jiangxi, everywhere = _POOL["nanchang"], _POOL["jiangxi"], _POOL["everywhere"]
    managers, department_id = _POOL["managers"], _POOL["department_id"]
    statuses = [s for s, _w in STATUS_WEIGHTS]
    weights = [w for _s, w in STATUS_WEIGHTS]
    rows = []
    for seq in range(start, start + count):
        roll = rng.random()
        # Weighted toward 江西 (360xxx): a quarter in 南昌, another third elsewhere in 江西.
        region = rng.choice(nanchang if roll < 0.25 else jiangxi if roll < 0.6 else everywhere)
        region_id, code, district, city = region
        kind_roll = rng.random()
        credit_code = None
        licence = ""
        short_name = ""
        if kind_roll < 0.7:
            kind = "organisation"
            stem = rng.choice(ORG_STEMS)
            suffix, industry, category = rng.choice(ORG_KINDS)
            place = _short(city) if rng.random() < 0.6 else _short(district)
            name = f"{place}{stem}{suffix}"
            if rng.random() < 0.5:
                ordinal, number = rng.choice(["第", ""]), rng.randint(1, 99)
                name += f"{ordinal}{number}{rng.choice(['号', '分店', '店'])}"
            short_name = f"{stem}{suffix[:2]}"
            credit_code = make_credit_code(f"91{code}MA{seq:07d}")
        elif kind_roll < 0.9:
            kind = "retailer"
            name = f"{_short(district)}{person_name(rng)}{rng.choice(RETAIL_KINDS)}"
            category, industry = "small_venue", rng.choice(["烟草零售", "食品零售", "餐饮"])
            licence = f"{code}{seq:09d}"
            if rng.random() < 0.5:
                credit_code = make_credit_code(f"92{code}MA{seq:07d}")
        else:
            kind = "person"
            name = person_name(rng)
            category, industry = "other", "业主"
        owner_id = rng.choice(managers) if rng.random() < 0.8 else None
        contact = person_name(rng)
        mobile = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        landline = ""
        if kind == "organisation" and rng.random() < 0.5:
            area = "0791" if code.startswith("3601") else f"0{rng.randint(10, 999)}"
            landline = f"{area}-{rng.randint(2_000_0000, 8_999_9999)}"
        phones = [p for p in (mobile, "".join(c for c in landline if c.isdigit())) if p]
        fields = search_fields(
            name=name, short_name=short_name, credit_code=credit_code or "", phones=phones
        )
        rows.append(
            (
                kind,
                name,
                short_name,
                credit_code,
                licence,
                category,
                industry,
                region_id,
                f"{rng.choice(ORG_STEMS)}路{rng.randint(1, 999)}号",
                rng.choices(statuses, weights)[0],
                owner_id,
                department_id if owner_id else None,
                rng.choice(SOURCES),
                contact,
                rng.choice(CONTACT_ROLES),
                mobile,
                landline,
                fields.__dict__,
            )
        )
    return rows


# --- setup ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--customers", type=int, default=1_000_000, help="rows to seed (1,000,000)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per scenario (200)")
    p.add_argument("--warmup", type=int, default=5, help="discarded requests per scenario (5)")
    common.add_database_options(p)
    p.add_argument(
        "--copy-from",
        default="",
        help="seed by copying the customers (search columns included) of a SQLite database "
        "seeded by an earlier run with the same --seed (skips the pinyin work)",
    )
    p.add_argument("--seed", type=int, default=20261125, help="random seed (20261125)")
    p.add_argument("--workers", type=int, default=2, help="processes computing rows (2)")
    p.add_argument("--slow-ms", type=float, default=100.0, help="explain scenarios above p95")
    p.add_argument(
        "--scenario-seconds",
        type=float,
        default=45.0,
        help="stop a scenario after this long once 20 requests are timed (45); n shows the count",
    )
    p.add_argument(
        "--full-page",
        action="store_true",
        help="request every scenario as a full page (default: filters, searches and page 2 "
        "as the htmx partials the page itself requests)",
    )
    return p.parse_args()


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/customers.py", "--customers", str(args.customers)]
    parts += ["--requests", str(args.requests), "--seed", str(args.seed)]
    parts += common.database_option_parts(args)
    if args.scenario_seconds != 45.0:
        parts += ["--scenario-seconds", f"{args.scenario_seconds:g}"]
    if args.copy_from:
        parts += ["--copy-from", args.copy_from]
    if args.full_page:
        parts.append("--full-page")
    return shlex.join(parts)


# --- seeding -------------------------------------------------------------------------------------


def setup_organisation(seed: int) -> dict[str, Any]:
    """Regions, one market department, the director and 50 account managers with territories."""
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
    districts = list(
        Region.objects.filter(level=RegionLevel.DISTRICT).select_related("parent").order_by("code")
    )
    department = Department.objects.filter(code="bench_market").first() or department_create(
        actor=None, code="bench_market", name="市场部（基准）"
    )
    users = {u.username: u for u in User.objects.filter(username__startswith="bench_")}
    # Benchmark users only: a fast hasher keeps creating 51 users from taking half a minute.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        if "bench_director" not in users:
            users["bench_director"], _pw = user_create(
                actor=None,
                username="bench_director",
                display_name="王建国",
                department=department,
                role_codes=["operations_director"],
                password=generate_password(12, symbols="-"),
                must_change_password=False,
            )
        jiangxi = [
            d for d in districts if d.code.startswith("36") and not d.code.startswith("3601")
        ]
        nanchang = [d for d in districts if d.code.startswith("3601")]
        for n in range(1, ACCOUNT_MANAGERS + 1):
            username = f"bench_am{n:02d}"
            if username in users:
                continue
            if n == 1:
                area = nanchang[: len(nanchang) // 2]
            elif n == 2:
                area = nanchang[len(nanchang) // 2 :]
            elif n == 3:
                # The measured account manager: three districts of 九江 (a sparse territory).
                area = [d for d in districts if d.code.startswith("3604")][:3]
            else:
                area = rng.sample(jiangxi, 2)
            territory = Territory.objects.filter(code=f"bench_t{n:02d}").first() or (
                territory_create(
                    actor=None,
                    code=f"bench_t{n:02d}",
                    name=f"基准片区{n:02d}（{'、'.join(d.name for d in area)}）",
                    districts=area,
                )
            )
            users[username], _pw = user_create(
                actor=None,
                username=username,
                display_name=person_name(rng),
                department=department,
                role_codes=["account_manager"],
                territories=[territory],
                password=generate_password(12, symbols="-"),
                must_change_password=False,
            )
    return {
        "districts": districts,
        "department": department,
        "director": users["bench_director"],
        "am": users["bench_am03"],
        "managers": [users[f"bench_am{n:02d}"].pk for n in range(1, ACCOUNT_MANAGERS + 1)],
    }


def seed_customers(args: argparse.Namespace, org: dict[str, Any]) -> None:
    # Straight bulk_create, not customers.services: the services validate, audit and refresh the
    # search columns one row at a time, which would take hours for 1M rows. This benchmark
    # measures reads; the search columns are still computed by customers.search.search_fields(),
    # exactly as the services compute them, and SQLite's FTS table is filled by its insert trigger.
    import multiprocessing

    from django.db import connection, connections, transaction
    from django.utils import timezone

    from customers import search
    from customers.models import Contact, Customer

    def region_tuple(d: Any) -> tuple[int, str, str, str]:
        return (d.pk, d.code, d.name, d.parent.name if d.parent else d.name)

    districts = org["districts"]
    _POOL.update(
        nanchang=[region_tuple(d) for d in districts if d.code.startswith("3601")],
        jiangxi=[region_tuple(d) for d in districts if d.code.startswith("36")],
        everywhere=[region_tuple(d) for d in districts],
        managers=org["managers"],
        department_id=org["department"].pk,
    )
    existing = Customer.objects.count()
    todo = args.customers - existing
    if todo <= 0:
        print(f"reusing {existing:,} seeded customers")
        return
    print(f"seeding {todo:,} customers (batches of {BATCH:,}, {args.workers} worker processes)")
    postgres = connection.vendor == "postgresql"
    if postgres:
        # Same GIN definitions as the migration, built once after the load instead of per row.
        with connection.cursor() as cur:
            for sql in search.POSTGRES_DROP:
                cur.execute(sql)
    if args.copy_from:
        copy_from_sqlite(args, existing, todo)
        _finish_postgres(postgres)
        return
    connections.close_all()  # the workers fork: they must not share the connection
    batches = [
        (b, existing + b * BATCH, min(BATCH, todo - b * BATCH)) for b in range(0, -(-todo // BATCH))
    ]
    started = time.perf_counter()
    done = 0
    next_report = 100_000
    now = timezone.now()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.workers) as pool:
        pending = []
        queue = list(batches)
        while queue or pending:
            while queue and len(pending) < args.workers + 2:
                b, start, count = queue.pop(0)
                pending.append(pool.apply_async(gen_batch, (b, start, count, args.seed)))
            rows = pending.pop(0).get()
            customers = []
            for r in rows:
                c = Customer(
                    kind=r[0],
                    name=r[1],
                    short_name=r[2],
                    credit_code=r[3],
                    licence_number=r[4],
                    category=r[5],
                    industry=r[6],
                    region_id=r[7],
                    address=r[8],
                    status=r[9],
                    status_changed_at=now,
                    owner_id=r[10],
                    department_id=r[11],
                    source_channel=r[12],
                    **r[17],
                )
                customers.append(c)
            with transaction.atomic():
                Customer.objects.bulk_create(customers)
                Contact.objects.bulk_create(
                    [
                        Contact(
                            customer_id=c.pk,
                            name=r[13],
                            role=r[14],
                            mobile=r[15],
                            landline=r[16],
                            is_primary=True,
                        )
                        for c, r in zip(customers, rows, strict=True)
                    ]
                )
            done += len(rows)
            if done >= next_report or done == todo:
                elapsed = time.perf_counter() - started
                print(
                    f"  {done:>9,} rows  {elapsed:7.1f} s  {done / elapsed:8,.0f} rows/s",
                    flush=True,
                )
                next_report += 100_000
    elapsed = time.perf_counter() - started
    print(f"seeded {todo:,} customers in {elapsed:.1f} s ({todo / elapsed:,.0f} rows/s)")
    _finish_postgres(postgres)


def _finish_postgres(postgres: bool) -> None:
    from django.db import connection

    from customers import search

    if postgres:
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            for sql in search.POSTGRES_CREATE:
                cur.execute(sql)
        print(f"built GIN indexes in {time.perf_counter() - t:.1f} s")


COPIED_FIELDS = [
    "kind",
    "name",
    "short_name",
    "credit_code",
    "licence_number",
    "category",
    "industry",
    "address",
    "status",
    "source_channel",
    "pinyin",
    "initials",
    "phones",
    "grams_name",
    "grams_pinyin",
    "grams_initials",
    "grams_digits",
]


def copy_from_sqlite(args: argparse.Namespace, existing: int, todo: int) -> None:
    """Seed from an earlier SQLite run: same rows, ids of regions and users mapped by code/name."""
    import sqlite3

    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Department, Region, User
    from customers.models import Contact, Customer

    src = sqlite3.connect(f"file:{args.copy_from}?mode=ro", uri=True)
    region_ids = dict(Region.objects.values_list("code", "id"))
    regions = {i: region_ids[c] for i, c in src.execute("SELECT id, code FROM accounts_region")}
    user_ids = dict(User.objects.values_list("username", "id"))
    users = {
        i: user_ids[u]
        for i, u in src.execute("SELECT id, username FROM accounts_user")
        if u in user_ids
    }
    dept_ids = dict(Department.objects.values_list("code", "id"))
    depts = {
        i: dept_ids[c]
        for i, c in src.execute("SELECT id, code FROM accounts_department")
        if c in dept_ids
    }
    cols = ", ".join(f"c.{f}" for f in COPIED_FIELDS)
    # Column names come from COPIED_FIELDS; the values are bound parameters.
    sql = (
        f"SELECT c.id, c.region_id, c.owner_id, c.department_id, {cols}, "  # noqa: S608
        "k.name, k.role, k.mobile, k.landline FROM customers_customer c "
        "JOIN customers_contact k ON k.customer_id = c.id AND k.is_primary "
        "WHERE c.id > ? ORDER BY c.id LIMIT ?"
    )
    print(f"copying {todo:,} customers from {args.copy_from}")
    now = timezone.now()
    started = time.perf_counter()
    done, last_id, next_report = 0, 0, 100_000
    # Skip the rows an interrupted earlier copy already wrote.
    if existing:
        last_id = src.execute(
            "SELECT id FROM customers_customer ORDER BY id LIMIT 1 OFFSET ?", [existing - 1]
        ).fetchone()[0]
    while done < todo:
        rows = src.execute(sql, [last_id, min(BATCH, todo - done)]).fetchall()
        if not rows:
            raise SystemExit(f"{args.copy_from} holds only {existing + done:,} customers")
        last_id = rows[-1][0]
        n = len(COPIED_FIELDS)
        customers = [
            Customer(
                region_id=regions[r[1]],
                owner_id=users.get(r[2]) if r[2] else None,
                department_id=depts.get(r[3]) if r[3] else None,
                status_changed_at=now,
                **dict(zip(COPIED_FIELDS, r[4 : 4 + n], strict=True)),
            )
            for r in rows
        ]
        with transaction.atomic():
            Customer.objects.bulk_create(customers)
            Contact.objects.bulk_create(
                [
                    Contact(
                        customer_id=c.pk,
                        name=r[4 + n],
                        role=r[5 + n],
                        mobile=r[6 + n],
                        landline=r[7 + n],
                        is_primary=True,
                    )
                    for c, r in zip(customers, rows, strict=True)
                ]
            )
        done += len(rows)
        if done >= next_report or done == todo:
            elapsed = time.perf_counter() - started
            print(f"  {done:>9,} rows  {elapsed:7.1f} s  {done / elapsed:8,.0f} rows/s", flush=True)
            next_report += 100_000
    elapsed = time.perf_counter() - started
    print(f"seeded {todo:,} customers in {elapsed:.1f} s ({todo / elapsed:,.0f} rows/s)")


def check_search_index() -> None:
    from django.db import connection

    from customers.models import Customer

    customers = Customer.objects.count()
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT count(*) FROM customers_search")
            fts = cur.fetchone()[0]
            # External-content FTS: count(*) reads the content table; docsize counts indexed rows.
            cur.execute("SELECT count(*) FROM customers_search_docsize")
            indexed = cur.fetchone()[0]
            print(f"FTS: customers_search count(*) {fts:,}, indexed documents {indexed:,}")
            if indexed != customers:
                raise SystemExit(f"FTS index holds {indexed:,} rows, customers {customers:,}")
        else:
            # VACUUM as autovacuum eventually would after a bulk load: it sets the visibility
            # map, without which every index-only scan (the capped counts) reads the heap too.
            t = time.perf_counter()
            cur.execute("VACUUM (ANALYZE) customers_customer")
            cur.execute("ANALYZE")
            print(f"VACUUM (ANALYZE) in {time.perf_counter() - t:.1f} s")


# --- measuring -----------------------------------------------------------------------------------


def build_scenarios(args: argparse.Namespace, org: dict[str, Any], user: Any) -> list[Any]:
    """(name, [(params, htmx)]) — each scenario cycles through its variants."""
    from accounts.models import Region, RegionLevel
    from customers import selectors
    from customers.models import Customer

    rng = random.Random(args.seed + 7)  # noqa: S311 - test data
    partial = not args.full_page
    cities = list(Region.objects.filter(level=RegionLevel.CITY, code__startswith="36"))
    cities += list(
        Region.objects.filter(level=RegionLevel.CITY)
        .exclude(code__startswith="36")
        .order_by("?")[:5]
    )
    statuses = ["active", "prospect", "onboarding", "suspended", "terminated"]
    filters = [
        {"status": rng.choice(statuses), "region": str(rng.choice(cities).pk)} for _ in range(40)
    ]
    page2 = []
    for status in ["", *statuses]:
        query = selectors.customer_query(user, selectors.CustomerFilters(status=status))
        cursor = selectors.customer_page(query).next_cursor
        if cursor:
            page2.append(
                ({"status": status, "after": cursor} if status else {"after": cursor}, True)
            )
    codes = list(
        Customer.objects.filter(credit_code__isnull=False)
        .order_by("?")
        .values_list("credit_code", flat=True)[:60]
    )
    credit = []
    for code in codes:
        start = rng.randint(6, 10)
        credit.append(code[start : start + rng.randint(6, 8)])
    return [
        ("list", [({}, False)]),
        ("filter status+city", [(f, partial) for f in filters]),
        ("list page 2 (cursor)", page2),
        (
            "search 2-char Chinese",
            [
                ({"q": q}, partial)
                for q in ["张伟", "欧阳", "南昌", "赣江", "医院", "便利", "大厦", "王芳"]
            ],
        ),
        ("search initials", [({"q": q}, partial) for q in ["zw", "oy", "nc", "gj", "wf", "yy"]]),
        (
            "search full pinyin",
            [({"q": q}, partial) for q in ["zhangwei", "ouyang", "nanchang", "ganjiang", "yiyuan"]],
        ),
        (
            "search phone 4 digits",
            [({"q": f"{rng.randint(0, 9999):04d}"}, partial) for _ in range(60)],
        ),
        ("search credit code", [({"q": c}, partial) for c in credit] or [({"q": "MA00"}, partial)]),
    ]


COUNT_RE = re.compile(r'id="rw-customer-count">[^<0-9]*([0-9,]+\+?)')


def run_scenarios(
    args: argparse.Namespace, label: str, user: Any, scenarios: list[Any]
) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    results = []
    for name, variants in scenarios:
        if not variants:
            print(f"  {label:<16} {name:<24} skipped: no second page at this size")
            continue

        def get(i: int, variants: list[Any] = variants) -> Any:
            params, htmx = variants[i % len(variants)]
            headers = {"HX-Request": "true"} if htmx else {}
            return client.get("/customers/", params, headers=headers)

        timings = common.time_requests(
            get, args.requests, args.warmup, name, seconds=args.scenario_seconds
        )
        with CaptureQueriesContext(connection) as ctx:
            response = get(0)
        match = COUNT_RE.search(response.content.decode())
        results.append(
            {
                "user": label,
                "scenario": name,
                "n": len(timings),
                "p50": statistics.median(timings),
                "p95": common.p95(timings),
                "max": timings[-1],
                "queries": len(ctx.captured_queries),
                "matches": match.group(1).strip() if match else "",
                "variants": variants,
            }
        )
        r = results[-1]
        print(
            f"  {label:<16} {name:<24} p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  "
            f"max {r['max']:7.1f} ms  {r['queries']} queries",
            flush=True,
        )
    return results


def explain_slow(user: Any, result: dict[str, Any]) -> None:
    """Time each query of the scenario's slowest variant and show the plan of the slowest one."""

    def request(client: Any, variant: tuple[dict[str, str], bool]) -> None:
        params, htmx = variant
        client.get("/customers/", params, headers={"HX-Request": "true"} if htmx else {})

    elapsed, (params, _htmx), queries = common.slowest_variant(
        user, result["variants"][:6], request
    )
    print(
        f"\n--- {result['user']} / {result['scenario']}: slowest variant {params} {elapsed:.0f} ms"
    )
    common.print_slowest(queries, top=3, width=600)


def print_table(results: list[dict[str, Any]], vendor: str, rows: int) -> None:
    print(f"\nDB vendor: {vendor}   customers: {rows:,}   (server time via django.test.Client)")
    header = (
        f"| {'user':<16} | {'scenario':<24} | {'n':>4} | {'p50 ms':>7} | {'p95 ms':>7} "
        f"| {'max ms':>7} | {'queries':>7} | {'matches':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['user']:<16} | {r['scenario']:<24} | {r['n']:>4} | {r['p50']:>7.1f} | "
            f"{r['p95']:>7.1f} | {r['max']:>7.1f} | {r['queries']:>7} | {r['matches']:>8} |"
        )


def main() -> None:
    args = parse_args()
    command = reproduce_command(args)
    print(f"reproduce: {command}")
    var_dir, created_var = common.start(
        args,
        "ruwang-bench-",
        urls=["/customers/"],
        templates=[
            "base.html", "customers/list.html", "customers/_list_results.html",
            "customers/_list_rows.html",
        ],
    )  # fmt: skip
    from django.db import connection

    from customers.models import Customer

    try:
        common.migrate()
        org = setup_organisation(args.seed)
        seed_customers(args, org)
        check_search_index()
        rows = Customer.objects.count()
        from customers.selectors import customers_visible_to

        am_visible = customers_visible_to(org["am"]).count()
        print(f"{rows:,} customers; the account manager sees {am_visible:,}")
        results = []
        for label, user in [
            ("director (all)", org["director"]),
            ("account manager", org["am"]),
        ]:
            scenarios = build_scenarios(args, org, user)
            results += run_scenarios(args, label, user, scenarios)
        print_table(results, connection.vendor, rows)
        slow = [r for r in results if r["p95"] > args.slow_ms]
        for r in slow:
            user = org["director"] if r["user"].startswith("director") else org["am"]
            explain_slow(user, r)
        print(f"\nreproduce: {command}")
    finally:
        common.finish(args, var_dir, created_var)


if __name__ == "__main__":
    main()
