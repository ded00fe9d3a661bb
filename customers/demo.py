"""Demo customers: 320 realistic records across the 南昌 districts, in every status."""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Region, User
from customers import services
from customers.models import (
    STATUS_TRANSITIONS,
    Customer,
    CustomerCategory,
    CustomerKind,
    CustomerStatus,
    SourceChannel,
)
from ruwang.lib.validators import make_credit_code, make_id_number

DEMO_CUSTOMERS = 320
DISTRICTS = [
    "360102",
    "360103",
    "360104",
    "360111",
    "360112",
    "360113",
    "360121",
    "360123",
    "360124",
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "军",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "建国",
    "志强",
    "海燕",
    "丽华",
    "晓东",
    "文博",
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
]
ORG_KINDS = [
    ("大厦", "商务办公", "key_unit"),
    ("购物中心", "商业", "key_unit"),
    ("人民医院", "医疗", "key_unit"),
    ("实验学校", "教育", "key_unit"),
    ("大酒店", "住宿餐饮", "key_unit"),
    ("物流园", "仓储物流", "general"),
    ("电子厂", "制造业", "general"),
    ("小区物业服务中心", "物业管理", "general"),
    ("养老院", "养老服务", "key_unit"),
    ("网吧", "娱乐", "small_venue"),
    ("KTV", "娱乐", "small_venue"),
    ("农贸市场", "商业", "general"),
]
RETAIL_KINDS = ["便利店", "烟酒店", "副食店", "超市", "小卖部"]
USES = ["办公", "商业", "医疗", "教学", "住宿", "仓储", "厂房", "住宅"]


def _png(width: int, height: int, rooms: int, seed: int) -> bytes:
    """A simple floor-plan picture: outer walls and a row of rooms, drawn without any library."""
    rng = random.Random(seed)  # noqa: S311 - demo drawings, not security
    pixels = [[255] * width for _ in range(height)]

    def line(x0: int, y0: int, x1: int, y1: int) -> None:
        for x in range(min(x0, x1), max(x0, x1) + 1):
            for y in range(min(y0, y1), max(y0, y1) + 1):
                pixels[y][x] = 40

    line(10, 10, width - 11, 10)
    line(10, height - 11, width - 11, height - 11)
    line(10, 10, 10, height - 11)
    line(width - 11, 10, width - 11, height - 11)
    corridor = height // 2
    line(10, corridor - 15, width - 11, corridor - 15)
    line(10, corridor + 15, width - 11, corridor + 15)
    step = (width - 20) // max(rooms, 1)
    for i in range(1, rooms):
        x = 10 + i * step + rng.randint(-5, 5)
        line(x, 10, x, corridor - 15)
        line(x, corridor + 15, x, height - 11)
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _pdf(title: str) -> bytes:
    text = title.encode("ascii", "ignore") or b"Ruwang demo document"
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        b"% " + text + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _walk_to(customer: Customer, target: str, actor: User | None) -> None:
    """Move a new (prospect) customer along allowed transitions until it reaches `target`."""
    path = {
        CustomerStatus.PROSPECT: [],
        CustomerStatus.ONBOARDING: [CustomerStatus.ONBOARDING],
        CustomerStatus.ACTIVE: [CustomerStatus.ONBOARDING, CustomerStatus.ACTIVE],
        CustomerStatus.SUSPENDED: [
            CustomerStatus.ONBOARDING,
            CustomerStatus.ACTIVE,
            CustomerStatus.SUSPENDED,
        ],
        CustomerStatus.TERMINATED: [CustomerStatus.TERMINATED],
    }[CustomerStatus(target)]
    reasons = {
        CustomerStatus.ONBOARDING: "签订入网安装合同",
        CustomerStatus.ACTIVE: "联调完成，移交远程监控中心",
        CustomerStatus.SUSPENDED: "客户欠费暂停服务",
        CustomerStatus.TERMINATED: "客户放弃入网",
    }
    for status in path:
        assert status in STATUS_TRANSITIONS[customer.status]
        services.customer_change_status(
            actor=actor, customer=customer, status=status, reason=reasons[status]
        )


def load_customers(count: int = DEMO_CUSTOMERS) -> int:
    """Create the demo customers if there are none yet; returns how many were created."""
    if Customer.objects.exists():
        return 0
    rng = random.Random(20261125)  # noqa: S311 - repeatable demo data
    districts = list(Region.objects.filter(code__in=DISTRICTS))
    if not districts:
        return 0
    managers = list(User.objects.filter(groups__role__code="account_manager", is_demo=True))
    statuses = [s for s, _ in CustomerStatus.choices]
    created = 0
    plan_cache: dict[int, bytes] = {}
    for i in range(count):
        district = districts[i % len(districts)]
        kind_roll = rng.random()
        with transaction.atomic():
            if kind_roll < 0.7:
                stem = rng.choice(ORG_STEMS)
                suffix, industry, category = rng.choice(ORG_KINDS)
                name = (
                    f"南昌{stem}{suffix}"
                    if i < 40
                    else f"南昌{district.name[:-1]}{stem}{suffix}{i}号"
                )
                data = {
                    "kind": CustomerKind.ORGANISATION,
                    "name": name,
                    "short_name": f"{stem}{suffix[:2]}",
                    "credit_code": make_credit_code(f"9136{district.code[2:6]}MA{i:07d}"[:17]),
                    "category": category,
                    "industry": industry,
                }
            elif kind_roll < 0.9:
                owner_name = rng.choice(SURNAMES) + rng.choice(GIVEN)
                data = {
                    "kind": CustomerKind.RETAILER,
                    "name": f"{district.name}{owner_name}{rng.choice(RETAIL_KINDS)}",
                    "licence_number": f"3601{i:08d}",
                    "category": CustomerCategory.SMALL_VENUE,
                    "industry": "烟草零售",
                }
            else:
                data = {
                    "kind": CustomerKind.PERSON,
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                    "category": CustomerCategory.OTHER,
                    "industry": "业主",
                }
            owner = managers[i % len(managers)] if managers and rng.random() < 0.8 else None
            customer = services.customer_create(
                actor=None,
                data={
                    **data,
                    "region": district,
                    "address": f"{rng.choice(ORG_STEMS)}路{rng.randint(1, 999)}号",
                    "owner": owner,
                    "source_channel": rng.choice(SourceChannel.values[:-2]),
                },
            )
            for n in range(rng.randint(1, 3)):
                person = rng.choice(SURNAMES) + rng.choice(GIVEN)
                contact = services.contact_save(
                    actor=None,
                    customer=customer,
                    data={
                        "name": person,
                        "role": ["safety_responsible", "safety_manager", "duty_operator"][n],
                        "mobile": f"1{rng.choice('3589')}{rng.randint(0, 999999999):09d}",
                        "landline": f"0791-{rng.randint(80000000, 89999999)}" if n == 0 else "",
                        "is_primary": n == 0,
                    },
                )
                if n == 0 and rng.random() < 0.3:
                    services.consent_record(
                        actor=None,
                        contact=contact,
                        notice_version="2026-01",
                        channel="contract",
                        given_at=timezone.now() - timedelta(days=rng.randint(1, 300)),
                    )
                    birth = date(1960, 1, 1) + timedelta(days=rng.randint(0, 14000))
                    services.contact_set_id_number(
                        actor=None,
                        contact=contact,
                        id_number=make_id_number(
                            district.code, birth, f"{rng.randint(0, 999):03d}"
                        ),
                    )
            if data["kind"] == CustomerKind.ORGANISATION:
                floors = rng.randint(2, 6)
                site = services.site_save(
                    actor=None,
                    customer=customer,
                    data={
                        "name": "主楼",
                        "address": customer.address,
                        "use": rng.choice(USES),
                        "structure": "frame",
                        "fire_resistance": rng.choice("12"),
                        "height_m": Decimal(floors) * Decimal("3.6"),
                        "floors_above": floors,
                        "floors_below": rng.randint(0, 2),
                        "construction_year": rng.randint(1995, 2024),
                        "control_room_location": "一层东侧消防控制室",
                        "control_room_phone": f"0791-{rng.randint(80000000, 89999999)}",
                        "max_occupancy": rng.randint(50, 3000),
                    },
                )
                for number in range(1, min(floors, 3) + 1):
                    rooms = 3 + (i + number) % 4
                    image = plan_cache.setdefault(rooms, _png(400, 260, rooms, rooms))
                    services.floor_save(
                        actor=None,
                        site=site,
                        number=number,
                        plan_upload=(f"{number}F.png", io.BytesIO(image), len(image)),
                    )
                if customer.name.startswith("南昌") and i % 3 == 0:
                    pdf = _pdf(f"Fire alarm system diagram {customer.pk}")
                    services.document_upload(
                        actor=None,
                        customer=customer,
                        kind="system_diagram",
                        title="火灾自动报警系统图",
                        file_name="火灾自动报警系统图.pdf",
                        fileobj=io.BytesIO(pdf),
                        size=len(pdf),
                        site=site,
                    )
            _walk_to(customer, statuses[i % len(statuses)], None)
            created += 1
    return created
