"""The printable forms (附件一…八) as a person reads them: the text is read back from the PDF.

pypdf extracts STSong-Light text as real Chinese: the font is a CID font with the predefined
UniGB-UCS2-H encoding, whose codes pypdf maps back to Unicode. What extraction does not keep is
the layout: every table cell and every wrapped line comes out as its own line, sometimes with a
leading space, so a value that wraps in its cell is compared with the whitespace removed
(``flat``).
"""

import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from onboarding.pdf import (
    FieldRows,
    Letterhead,
    Paragraphs,
    Signature,
    TableSection,
    form_pdf,
)

COMPANY = Letterhead(
    company_name="南昌安消远程监控有限公司",
    address="南昌市东湖区八一大道 100 号",
    phone="0791-86000000",
)
GENERATED = datetime(2026, 11, 26, 9, 30)


def render(**overrides):
    arguments = {
        "letterhead": COMPANY,
        "title": "客户入网安装通知书",
        "doc_number": "FM-QR-03",
        "version": "A/1",
        "case_number": "RW-2026-0012",
        "customer_name": "南昌万达广场物业管理有限公司",
        "sections": [
            FieldRows(
                heading="客户信息",
                rows=[("客户名称", "南昌万达广场物业管理有限公司"), ("联系人", "张伟")],
            )
        ],
        "signatures": [Signature(label="填表人", name="李娜", date="2026-11-26")],
        "generated_at": GENERATED,
    }
    arguments.update(overrides)
    return form_pdf(**arguments)


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_first_page_names_company_form_number_and_customer():
    first = pages(render())[0]

    assert "南昌安消远程监控有限公司" in first
    assert "南昌市东湖区八一大道 100 号" in first
    assert "0791-86000000" in first
    assert "客户入网安装通知书" in first
    assert "文件编号 FM-QR-03" in first
    assert "版本 A/1" in first
    assert "案卷 RW-2026-0012" in first
    assert "客户 南昌万达广场物业管理有限公司" in first
    assert "客户信息" in first
    assert "联系人\n张伟" in first


def test_markup_in_values_is_printed_literally():
    pdf = render(
        customer_name="<b>万达</b> & 物业",
        sections=[
            FieldRows(heading="<u>客户信息</u>", rows=[("备注", 'R&D <a href="x">链接</a>')]),
            TableSection(heading="物料清单", columns=["<i>物料</i>"], rows=[["A&amp;B <br/>"]]),
            Paragraphs(heading="说明", text="<font color='red'>红字</font> & 更多"),
        ],
        signatures=[Signature(label="填表人", name="<b>李娜</b>", date="2026-11-26")],
    )
    text = "\n".join(pages(pdf))

    assert "客户 <b>万达</b> & 物业" in text
    assert "<u>客户信息</u>" in text
    assert 'R&D <a href="x">链接</a>' in text
    assert "<i>物料</i>" in text
    assert "A&amp;B <br/>" in text
    assert "<font color='red'>红字</font> & 更多" in text
    assert "<b>李娜</b>" in text


def test_long_table_spans_pages_repeats_its_header_and_numbers_every_page():
    rows = [[f"{n}", f"用户信息传输装置 {n:03d}", "XF-3000", "1"] for n in range(1, 121)]
    pdf = render(
        sections=[
            TableSection(
                heading="物料清单",
                columns=["序号", "物料名称", "规格型号", "数量"],
                rows=rows,
                widths=[1, 5, 3, 1],
            )
        ]
    )
    texts = pages(pdf)

    assert len(texts) >= 3
    assert "FM-QR-03 第 2 页" in texts[1]
    for number, text in enumerate(texts, start=1):
        assert f"FM-QR-03 第 {number} 页" in text
        assert "生成时间 2026-11-26 09:30" in text
        assert "序号\n物料名称\n规格型号\n数量" in text, f"header missing on page {number}"
    # Every row printed exactly once, none lost or doubled where the table breaks.
    everything = "\n".join(texts)
    for n in range(1, 121):
        assert everything.count(f"用户信息传输装置 {n:03d}") == 1


def test_empty_values_print_a_dash():
    pdf = render(
        case_number="",
        sections=[
            FieldRows(
                heading="客户信息", rows=[("联系人", ""), ("电话", "   "), ("邮箱", "a@b.cn")]
            ),
            TableSection(heading="点位", columns=["编码", "位置"], rows=[["001", ""]]),
            TableSection(heading="附件", columns=["名称"], rows=[]),
            Paragraphs(heading="备注", text=""),
        ],
        signatures=[Signature(label="审批人", name="", date="")],
    )
    text = pages(pdf)[0]

    assert "案卷 —" in text
    assert "联系人\n—" in text
    assert "电话\n—" in text
    assert "001\n—" in text
    assert "名称\n—" in text
    assert "备注\n—" in text
    assert "审批人：\n—\n日期：\n—" in text
    assert text.count("—") == 8


def test_signatures_close_the_form_with_name_and_date():
    pdf = render(
        signatures=[
            Signature(label="填表人", name="李娜", date="2026-11-26"),
            Signature(label="审批人", name="王强", date="2026-11-27"),
        ]
    )
    text = pages(pdf)[-1]

    assert "填表人：\n李娜\n日期：\n2026-11-26" in text
    assert "审批人：\n王强\n日期：\n2026-11-27" in text
    assert text.index("客户信息") < text.index("填表人")


def test_free_text_keeps_its_lines_and_long_values_wrap_without_loss():
    remark = "消防控制室位于地下一层，" * 40
    pdf = render(
        sections=[
            FieldRows(heading="", rows=[("安装位置", remark)]),
            Paragraphs(heading="说明", text="一、三个工作日内安装。\n二、安装后通知联调。"),
        ]
    )
    text = "\n".join(pages(pdf))

    assert flat(remark) in flat(text)
    assert "一、三个工作日内安装。\n二、安装后通知联调。" in text


def test_aware_time_prints_in_the_site_time_zone_and_dates_the_document():
    pdf = render(generated_at=datetime(2026, 11, 26, 1, 30, tzinfo=UTC))

    assert "生成时间 2026-11-26 09:30" in pages(pdf)[0]
    created = PdfReader(io.BytesIO(pdf)).metadata.creation_date
    assert created == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def test_same_input_gives_the_same_bytes():
    assert render() == render()


def test_table_rows_must_match_its_columns():
    with pytest.raises(ValueError, match=r"物料清单.*row 2 has 1 cells, the header has 2"):
        render(
            sections=[
                TableSection(
                    heading="物料清单", columns=["名称", "数量"], rows=[["甲", "1"], ["乙"]]
                )
            ]
        )
    with pytest.raises(ValueError, match=r"物料清单.*3 widths for 2 columns"):
        render(
            sections=[
                TableSection(
                    heading="物料清单", columns=["名称", "数量"], rows=[], widths=[1, 2, 3]
                )
            ]
        )
