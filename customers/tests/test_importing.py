"""Customer import from Excel and CSV: reading, checking every row, all-or-nothing commit."""

import io
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from openpyxl import Workbook, load_workbook

from accounts.models import Department, Region, RegionLevel, User
from audit.models import AuditEntry
from customers import importing
from customers.importing import (
    TEMPLATE_COLUMNS,
    ImportFileError,
    build_template,
    commit,
    read_rows,
    run_import,
    validate,
)
from customers.models import Contact, Customer, SourceChannel
from customers.tests.factories import make_customer
from ruwang.lib.validators import CREDIT_CODE_ALPHABET, make_credit_code
from ruwang.testing import make_regions, make_user

pytestmark = pytest.mark.django_db

HEADERS = [
    "客户名称",
    "类型",
    "统一社会信用代码",
    "单位类别",
    "区县代码",
    "区县",
    "客户经理",
    "标签",
    "联系人",
    "联系人角色",
    "手机",
    "电子邮箱",
]
ROWS = 10_000


@pytest.fixture(autouse=True)
def english():
    """Messages in English (the msgids), so the assertions do not depend on the catalogue."""
    with translation.override("en"):
        yield


@pytest.fixture
def regions():
    return make_regions()


@pytest.fixture
def department():
    return Department.objects.create(code="market", name="市场部")


@pytest.fixture
def actor(department):
    return make_user("importer", "market_manager", department=department)


@pytest.fixture
def manager(department):
    return make_user("am_li", "account_manager", department=department)


def xlsx(rows, headers=HEADERS):
    """A workbook as an upload would bring it (write-only mode: fast for 10,000 rows)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(headers)
    for row in rows:
        sheet.append([row.get(h, "") for h in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(lines, encoding, delimiter=","):
    return ("\r\n".join(delimiter.join(cells) for cells in lines) + "\r\n").encode(encoding)


# --- the 10,000-row sheet -------------------------------------------------------------------


def good_row(i):
    """Data row i (spreadsheet row i + 2): valid, unique, with its district given three ways."""
    row = {
        "客户名称": f"导入测试客户{i:05d}",
        "类型": ("组织", "个体零售户", "person")[i % 3],
        "统一社会信用代码": make_credit_code(f"91360102MA{i:07d}"),
        "单位类别": ("重点单位", "一般单位", "九小场所", "other")[i % 4],
        "联系人": f"联系人{i}",
        "联系人角色": ("消防安全管理人", "法定代表人", "contact")[i % 3],
        # Numbers as a spreadsheet holds them when the column is not formatted as text.
        "手机": 13900000000 + i if i % 2 else f"139{i:08d}",
    }
    if i % 3 == 0:
        row["区县代码"] = 360102
    elif i % 3 == 1:
        row["区县"] = "西湖区"
    else:
        row["区县"] = "江西省九江市濂溪区"
    if i % 5 == 0:
        row["客户经理"] = "am_li"
    if i % 7 == 0:
        row["标签"] = "商场、高层"
    if i % 11 == 0:
        row["电子邮箱"] = f"c{i}@example.com"
    return row


def existing_customers(regions):
    """Ten customers already in the database: credit code, mobile and name to collide with."""
    for k in range(10):
        make_customer(
            f"已有客户{k}",
            regions["360102"],
            credit_code=make_credit_code(f"91360102MB{k:07d}"),
            contacts=[{"name": f"老联系人{k}", "mobile": f"137{k:08d}"}],
        )


def wrong_check_char(code):
    return code[:17] + next(c for c in CREDIT_CODE_ALPHABET if c != code[17])


BAD_MOBILES = ["1234567", "2391234567890", "139abc12345", "12012345678", "1390000000"]
BAD_REGIONS = [
    ("区县代码", "999999"),
    ("区县代码", "360100"),  # a city, not a district
    ("区县代码", "36010"),
    ("区县", "火星区"),
]


def spoil(k, i, rows):
    """Make row i the k-th of the 50 bad rows: k < 36 an error, the others a duplicate."""
    row = rows[i]
    earlier = rows[i - 5]
    if k < 10:
        row["统一社会信用代码"] = wrong_check_char(row["统一社会信用代码"])
    elif k < 20:
        row["手机"] = BAD_MOBILES[k % len(BAD_MOBILES)]
    elif k < 28:
        row["客户名称"] = ""
    elif k < 36:
        header, value = BAD_REGIONS[k % len(BAD_REGIONS)]
        row.pop("区县代码", None)
        row.pop("区县", None)
        row[header] = value
    elif k < 38:  # same credit code as a row above
        row["统一社会信用代码"] = earlier["统一社会信用代码"]
    elif k < 40:  # same mobile as a row above, written differently
        row["手机"] = f"+86 {earlier['手机']}"
    elif k < 42:  # same name (up to spaces and punctuation) in the same district
        row["客户名称"] = earlier["客户名称"].replace("客户", "客户 ·")
        for header in ("区县代码", "区县"):
            row.pop(header, None)
            if header in earlier:
                row[header] = earlier[header]
    elif k < 45:  # credit code already in the database
        row["统一社会信用代码"] = make_credit_code(f"91360102MB{k - 42:07d}")
    elif k < 48:  # mobile already in the database
        mobile = f"137{k - 45:08d}"
        row["手机"] = f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    else:  # name already in the database, same district
        row["客户名称"] = f"已有客户 {k - 48}"
        row.pop("区县", None)
        row["区县代码"] = "360102"


def spoiled_sheet():
    """10,000 rows, 50 of them bad (one every 100 rows), and the bad rows' numbers."""
    rows = [good_row(i) for i in range(ROWS)]
    bad_indices = [100 * k + 37 for k in range(50)]
    for k, i in enumerate(bad_indices):
        spoil(k, i, rows)
    return rows, [i + 2 for i in bad_indices]


def test_ten_thousand_rows_dry_run_reports_exactly_the_bad_rows(regions, actor, manager, capsys):
    existing_customers(regions)
    rows, bad_row_numbers = spoiled_sheet()
    data = xlsx(rows)
    before = Customer.objects.count()
    audit_before = AuditEntry.objects.count()

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        report = run_import("客户.xlsx", data, actor=actor, dry_run=True)
    seconds = time.perf_counter() - started

    assert report.total == ROWS
    assert report.problem_rows == bad_row_numbers
    assert report.valid == ROWS - 50
    assert not report.ok
    assert {e.row for e in report.errors} == set(bad_row_numbers[:36])
    assert {d.row for d in report.duplicates} == set(bad_row_numbers[36:])
    by_row = {e.row: e for e in [*report.errors, *report.duplicates]}
    assert by_row[bad_row_numbers[0]].column == "统一社会信用代码"
    assert by_row[bad_row_numbers[10]].column == "手机"
    assert by_row[bad_row_numbers[20]].column == "客户名称"
    assert by_row[bad_row_numbers[28]].value == "999999"
    assert "火星区" in by_row[bad_row_numbers[31]].message
    assert str(bad_row_numbers[36] - 5) in by_row[bad_row_numbers[36]].message
    assert "已有客户2" in by_row[bad_row_numbers[44]].message
    assert by_row[bad_row_numbers[49]].column == "客户名称"
    assert Customer.objects.count() == before
    assert AuditEntry.objects.count() == audit_before
    assert len(queries) < 60, "validation must not query per row"
    assert seconds < 60
    with capsys.disabled():
        print(f"\n{ROWS} rows: read and validate {seconds:.1f} s, {len(queries)} queries")


def test_ten_thousand_rows_commit_once_fixed(regions, actor, manager, capsys):
    existing_customers(regions)
    rows, bad_row_numbers = spoiled_sheet()
    for number in bad_row_numbers:
        rows[number - 2] = good_row(number - 2)
    data = xlsx(rows)
    before = Customer.objects.count()

    started = time.perf_counter()
    report = run_import("客户.xlsx", data, actor=actor, dry_run=False)
    seconds = time.perf_counter() - started

    assert report.ok, report.problem_rows[:10]
    assert report.valid == ROWS
    assert Customer.objects.count() == before + ROWS
    assert Contact.objects.filter(customer__name__startswith="导入测试客户").count() == ROWS
    sample = Customer.objects.get(name="导入测试客户00035")
    assert sample.source_channel == SourceChannel.IMPORT
    assert sample.region.code == "360402"
    assert sample.owner == manager
    assert sorted(t.name for t in sample.tags.all()) == ["商场", "高层"]
    assert sample.kind == "person"
    contact = sample.contacts.get()
    assert contact.is_primary and contact.mobile == "13900000035" and contact.role == "contact"
    assert Customer.objects.get(name="导入测试客户00004").created_by == actor
    with capsys.disabled():
        print(f"\n{ROWS} rows: read, validate and commit {seconds:.1f} s")


# --- reading files --------------------------------------------------------------------------


def test_gbk_csv_imports_with_chinese_headers_and_values(regions):
    data = csv_bytes(
        [
            ["客户名称", "区县", "详细地址", "联系人", "手机", "标签"],
            ["南昌市洪都百货商店", "东湖区", "中山路 88 号", "王芳", "13912345678", "商场、零售"],
        ],
        "gbk",
    )
    report = run_import("客户.csv", data, actor=None, dry_run=False)
    assert report.ok and report.valid == 1
    customer = Customer.objects.get(name="南昌市洪都百货商店")
    assert customer.address == "中山路 88 号"
    assert customer.region.name == "东湖区"
    assert customer.contacts.get().name == "王芳"
    assert sorted(t.name for t in customer.tags.all()) == ["商场", "零售"]


def test_utf8_bom_csv_imports_tab_separated(regions):
    data = csv_bytes(
        [
            ["客户名称", "区县代码", "单位类别", "联系人", "联系人角色", "手机"],
            ["濂溪区第一小学", "360402", "重点单位", "李明", "消防安全责任人", "139 1234 5679"],
        ],
        "utf-8-sig",
        delimiter="\t",
    )
    assert data.startswith(b"\xef\xbb\xbf")
    report = run_import("customers.CSV", data, actor=None, dry_run=False)
    assert report.ok
    customer = Customer.objects.get(name="濂溪区第一小学")
    assert customer.category == "key_unit"
    contact = customer.contacts.get()
    assert (contact.name, contact.role, contact.mobile) == (
        "李明",
        "safety_responsible",
        "13912345679",
    )


def test_english_keys_are_accepted_and_row_numbers_skip_empty_rows(regions):
    data = csv_bytes(
        [["name", "region_code", "mobile"], ["甲商店", "360102", ""], ["", "", ""], ["", "", "1"]],
        "utf-8",
    )
    rows = read_rows("a.csv", data)
    assert [dict(r) for r in rows] == [
        {"name": "甲商店", "region_code": "360102", "mobile": ""},
        {"name": "", "region_code": "", "mobile": "1"},
    ]
    report, prepared = validate(rows, actor=None)
    assert [p.row for p in prepared] == [2]
    assert {(e.row, e.column) for e in report.errors} == {
        (4, "name"),
        (4, "region_code"),
        (4, "联系人"),  # not in the file: the template's header
        (4, "mobile"),
    }


def test_xlsx_cells_become_text(regions):
    rows = read_rows(
        "a.xlsx",
        xlsx(
            [{"客户名称": "  乙商店 ", "区县代码": 360102, "手机": 13912345678.0}],
            headers=["客户名称", "区县代码", "手机"],
        ),
    )
    assert rows == [{"客户名称": "乙商店", "区县代码": "360102", "手机": "13912345678"}]
    assert rows[0].number == 2


@pytest.mark.parametrize(
    ("filename", "data", "fragment"),
    [
        ("customers.xls", b"\xd0\xcf\x11\xe0", ".xls"),
        ("customers", b"name\n", "customers"),
        ("customers.xlsx", b"not a zip file", ".xlsx"),
        (
            "customers.csv",
            csv_bytes([["区县", "手机"], ["东湖区", "13912345678"]], "utf-8"),
            "客户名称",
        ),
        (
            "customers.csv",
            csv_bytes([["客户名称", "手机"], ["丙", "13912345678"]], "utf-8"),
            "区县",
        ),
        (
            "customers.csv",
            csv_bytes([["客户名称", "区县", "备注", "QQ"], ["丙"]], "utf-8"),
            "备注、QQ",
        ),
        ("customers.csv", csv_bytes([["客户名称", "name", "区县"]], "utf-8"), "name"),
        ("customers.csv", b"\r\n\r\n", "header"),
        ("customers.csv", csv_bytes([["客户名称", "区县"]], "utf-8"), "no customers"),
        ("customers.csv", b"\xff\xfe\x00\xd8", "CSV"),
    ],
)
def test_file_level_errors(filename, data, fragment):
    with pytest.raises(ImportFileError) as caught:
        read_rows(filename, data)
    assert fragment in caught.value.message


def test_more_rows_than_the_limit_is_a_file_error(monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    lines = [["客户名称", "区县代码"]] + [[f"客户{i}", "360102"] for i in range(4)]
    assert len(read_rows("a.csv", csv_bytes(lines[:4], "utf-8"))) == 3
    with pytest.raises(ImportFileError, match="3"):
        read_rows("a.csv", csv_bytes(lines, "utf-8"))


# --- checks -----------------------------------------------------------------------------------


def test_district_names_must_be_unambiguous(regions):
    hubei = Region.objects.create(
        code="420000", name="湖北省", level=RegionLevel.PROVINCE, full_name="湖北省"
    )
    wuhan = Region.objects.create(
        code="420100", name="武汉市", level=RegionLevel.CITY, parent=hubei, full_name="湖北省武汉市"
    )
    Region.objects.create(
        code="420102",
        name="东湖区",
        level=RegionLevel.DISTRICT,
        parent=wuhan,
        full_name="湖北省武汉市东湖区",
    )
    rows = [
        {"客户名称": "一", "区县": "东湖区"},
        {"客户名称": "二", "区县": "江西省南昌市东湖区"},
        {"客户名称": "三", "区县": "武汉市东湖区"},
        {"客户名称": "四", "区县代码": "360102", "区县": "武汉市东湖区"},
    ]
    report, prepared = validate(rows, actor=None)
    assert [(e.row, e.column) for e in report.errors] == [(2, "区县"), (5, "区县代码")]
    assert "江西省南昌市东湖区" in report.errors[0].message
    assert "湖北省武汉市东湖区" in report.errors[0].message
    assert [p.customer["region"].code for p in prepared] == ["360102", "420102"]


def test_values_are_checked(regions, manager, department):
    old_hand = make_user("old_hand", "account_manager", department=department)
    User.objects.filter(pk=old_hand.pk).update(is_active=False)
    make_user("auditor_wu", "audit_admin")
    rows = [
        {"客户名称": "一", "区县代码": "360102", "客户经理": "nobody"},
        {"客户名称": "二", "区县代码": "360102", "客户经理": "old_hand"},
        {"客户名称": "三", "区县代码": "360102", "客户经理": "auditor_wu"},
        {"客户名称": "四", "区县代码": "360102", "类型": "公司"},
        {"客户名称": "五", "区县代码": "360102", "单位类别": "特级"},
        {"客户名称": "六", "区县代码": "360102", "联系人": "甲", "电子邮箱": "not-an-email"},
        {"客户名称": "七", "区县代码": "360102", "手机": "13912345678"},
        {"客户名称": "八", "区县代码": "360102", "联系人": "乙", "联系人角色": "老板"},
        {"客户名称": "九" * 121, "区县代码": "360102"},
        {"客户名称": "十", "区县代码": "360102", "标签": "好," + "长" * 31},
        {"客户名称": "十一", "区县代码": "360102", "客户经理": "AM_Li", "统一社会信用代码": "123"},
    ]
    report, prepared = validate(rows, actor=None)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "客户经理"),
        (3, "客户经理"),
        (4, "客户经理"),
        (5, "类型"),
        (6, "单位类别"),
        (7, "电子邮箱"),
        (8, "联系人"),
        (9, "联系人角色"),
        (10, "客户名称"),
        (11, "标签"),
        (12, "统一社会信用代码"),
    ]
    assert prepared == []


def test_a_contact_the_importer_could_not_see_is_reported(regions, actor):
    other = Department.objects.create(code="eng", name="工程部")
    make_user("am_zhao", "account_manager", department=other)
    make_user("am_li", "account_manager", department=actor.department)
    rows = [
        {"客户名称": "一", "区县代码": "360102", "客户经理": "am_zhao", "联系人": "甲"},
        {"客户名称": "二", "区县代码": "360102", "客户经理": "am_li", "联系人": "乙"},
        {"客户名称": "三", "区县代码": "360102", "联系人": "丙"},
    ]
    report, prepared = validate(rows, actor=actor)
    assert [(e.row, e.column) for e in report.errors] == [(2, "客户经理")]
    assert commit(prepared, actor=actor) == 2


# --- commit -----------------------------------------------------------------------------------


def test_a_failure_in_a_later_row_imports_nothing(regions, actor):
    codes = [make_credit_code(f"91360102MC{i:07d}") for i in range(3)]
    rows = [
        {"客户名称": f"全有或全无{i}", "区县代码": "360102", "统一社会信用代码": codes[i]}
        | {"联系人": f"联系人{i}", "手机": f"1390000100{i}"}
        for i in range(3)
    ]
    report, prepared = validate(rows, actor=actor)
    assert report.ok and len(prepared) == 3
    # Someone else registers the third customer's code between the check and the commit.
    make_customer("抢先登记的客户", regions["360103"], credit_code=codes[2])
    audit_before = AuditEntry.objects.count()

    with pytest.raises(ImportFileError) as caught:
        commit(prepared, actor=actor)

    assert caught.value.row == 4
    assert "4" in caught.value.message
    assert "抢先登记的客户" in caught.value.message
    assert not Customer.objects.filter(name__startswith="全有或全无").exists()
    assert not Contact.objects.filter(name__startswith="联系人").exists()
    assert AuditEntry.objects.count() == audit_before


def test_run_import_does_not_write_when_a_row_is_bad(regions):
    data = csv_bytes(
        [["客户名称", "区县代码"], ["好客户", "360102"], ["坏客户", "999999"]], "utf-8"
    )
    report = run_import("a.csv", data, actor=None, dry_run=False)
    assert not report.ok and report.valid == 1
    assert not Customer.objects.exists()


# --- template ---------------------------------------------------------------------------------


def test_template_is_a_workbook_with_the_columns_and_instructions(regions):
    data = build_template()
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["客户", "说明"]
    sheet = workbook["客户"]
    assert [c.value for c in sheet[1]] == TEMPLATE_COLUMNS
    notes = workbook["说明"]
    described = [notes.cell(row=r, column=1).value for r in range(2, len(TEMPLATE_COLUMNS) + 2)]
    assert described == TEMPLATE_COLUMNS
    # The example row is itself valid.
    report, prepared = validate(read_rows("模板.xlsx", data), actor=None)
    assert report.ok and len(prepared) == 1
