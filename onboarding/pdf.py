"""Printable forms of the onboarding SOPs (附件一…八 of 客户入网作业指导书) as A4 PDFs.

One renderer for every form: a letterhead, the form's title and document line, then blocks of
label/value pairs, ruled tables and free text, a signature block and a footer on every page.
Callers describe *what* is on the form with the dataclasses below; this module decides *how* it
looks, so all forms share one layout.

Text is drawn with ReportLab's built-in CID font STSong-Light (Adobe-GB1, UniGB-UCS2-H), so no
font file is shipped and the text stays real, searchable, extractable text: pypdf maps
UniGB-UCS2-H codes back to Unicode (see onboarding/tests/test_pdf.py).

Every caller-supplied string is escaped before it reaches a ReportLab ``Paragraph``, whose
mini-markup would otherwise interpret ``<b>``, ``<a href>`` or ``&amp;`` in a customer's name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone

__all__ = [
    "EMPTY",
    "FieldRows",
    "Letterhead",
    "Paragraphs",
    "Section",
    "Signature",
    "TableSection",
    "form_pdf",
]

FONT = "STSong-Light"
# Printed in place of an empty value, so a blank on the form is visibly "nothing", not "forgotten".
EMPTY = "—"

# C0 controls (except tab and newline) and DEL: never meaningful on paper.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Letterhead:
    company_name: str
    address: str = ""
    phone: str = ""


@dataclass(frozen=True)
class FieldRows:
    """A block of label/value pairs, printed two pairs per table row."""

    heading: str  # "" for no heading
    rows: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class TableSection:
    """A ruled table whose header row repeats on every page it spans."""

    heading: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[float] | None = None  # relative widths, one per column


@dataclass(frozen=True)
class Paragraphs:
    """Free text; its line breaks are kept."""

    heading: str
    text: str


@dataclass(frozen=True)
class Signature:
    label: str  # e.g. "填表人", "审批人"
    name: str
    date: str  # already formatted, e.g. "2026-11-26"


Section = FieldRows | TableSection | Paragraphs


def _clean(value: object) -> str:
    """The caller's value as plain text: None → "", controls dropped, line ends normalised."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub("", text)


def _or_empty(value: object) -> str:
    text = _clean(value)
    return text if text.strip() else EMPTY


def _markup(value: object) -> str:
    """Paragraph markup that prints ``value`` literally, its newlines as line breaks."""
    return "<br/>".join(escape(line) for line in _or_empty(value).split("\n"))


def _local(moment: datetime) -> datetime:
    # An aware time (timezone.now()) prints in the site's time zone; a naive one as given.
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def _pdf_date(moment: datetime) -> str:
    """PDF date string (ISO 32000-1 §7.9.4) for the document's creation and modification date."""
    offset = moment.utcoffset()
    if offset is None:
        return f"D:{moment:%Y%m%d%H%M%S}"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"D:{moment:%Y%m%d%H%M%S}{sign}{hours:02d}'{mins:02d}'"


def form_pdf(
    *,
    letterhead: Letterhead,
    title: str,
    doc_number: str,
    version: str,
    case_number: str,
    customer_name: str,
    sections: Sequence[FieldRows | TableSection | Paragraphs],
    signatures: Sequence[Signature],
    generated_at: datetime,
) -> bytes:
    """Render one printable form as A4 portrait PDF bytes.

    The same arguments always give the same bytes (the PDF's dates come from ``generated_at``,
    never from the clock), so a stored form can be compared or hashed. Empty values print as
    "—". Raises ValueError, naming the section, when a table's rows or widths do not match its
    columns.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import (
        CondPageBreak,
        Flowable,
        HRFlowable,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    for section in sections:
        if isinstance(section, TableSection):
            _check_table(section)

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))

    def style(name: str, size: float, **extra: Any) -> ParagraphStyle:
        # CJK word wrap: Chinese has no spaces, so lines may break between any two characters
        # (ReportLab still keeps closing punctuation off the start of a line).
        return ParagraphStyle(
            name, fontName=FONT, fontSize=size, leading=size * 1.35, wordWrap="CJK", **extra
        )

    company_style = style("company", 18, alignment=TA_CENTER, spaceAfter=2)
    contact_style = style("contact", 9, alignment=TA_CENTER, textColor=colors.HexColor("#495057"))
    title_style = style("title", 16, alignment=TA_CENTER, spaceBefore=4, spaceAfter=4)
    meta_style = style("meta", 9, spaceAfter=4)
    heading_style = style("heading", 11, spaceBefore=8, spaceAfter=3)
    cell_style = style("cell", 9)
    text_style = style("text", 10)

    margin = 15 * mm
    page_width = A4[0]
    frame_width = page_width - 2 * margin
    grid_colour = colors.HexColor("#adb5bd")
    shade = colors.HexColor("#e9ecef")
    grid = [
        ("GRID", (0, 0), (-1, -1), 0.4, grid_colour),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]

    def cell(value: object) -> Paragraph:
        return Paragraph(_markup(value), cell_style)

    def field_rows(section: FieldRows) -> list[Flowable]:
        if not section.rows:
            return [Paragraph(EMPTY, text_style)]
        label_width = 30 * mm
        value_width = frame_width / 2 - label_width
        data: list[list[Any]] = []
        commands: list[tuple[Any, ...]] = list(grid)
        pairs = list(section.rows)
        for index in range(0, len(pairs), 2):
            row = index // 2
            (label, value), rest = pairs[index], pairs[index + 1 : index + 2]
            if rest:
                data.append([cell(label), cell(value), cell(rest[0][0]), cell(rest[0][1])])
                commands.append(("BACKGROUND", (2, row), (2, row), shade))
            else:
                # An odd last pair takes the whole row instead of leaving a blank pair.
                data.append([cell(label), cell(value), "", ""])
                commands.append(("SPAN", (1, row), (3, row)))
            commands.append(("BACKGROUND", (0, row), (0, row), shade))
        table = Table(
            data,
            colWidths=[label_width, value_width, label_width, value_width],
            splitInRow=1,
        )
        table.setStyle(TableStyle(commands))
        return [table]

    def table_section(section: TableSection) -> list[Flowable]:
        count = len(section.columns)
        relative = list(section.widths) if section.widths is not None else [1.0] * count
        total = sum(relative)
        widths = [frame_width * w / total for w in relative]
        data: list[list[Any]] = [[cell(column) for column in section.columns]]
        commands: list[tuple[Any, ...]] = [*grid, ("BACKGROUND", (0, 0), (-1, 0), shade)]
        data += [[cell(value) for value in row] for row in section.rows]
        if not section.rows:
            data.append([cell("")] + [""] * (count - 1))
            commands.append(("SPAN", (0, 1), (-1, 1)))
        table = Table(data, colWidths=widths, repeatRows=1, splitInRow=1)
        table.setStyle(TableStyle(commands))
        return [table]

    def paragraphs(section: Paragraphs) -> list[Flowable]:
        # One Paragraph per line, so a long text breaks across pages between lines; a line's
        # leading spaces become an indent (a Paragraph would drop them).
        flowables: list[Flowable] = []
        for line in _or_empty(section.text).split("\n"):
            body = line.lstrip(" ")
            if not body.strip():
                flowables.append(Spacer(1, text_style.leading / 2))
                continue
            indent = (len(line) - len(body)) * text_style.fontSize / 2
            line_style = text_style if not indent else style("indented", 10, leftIndent=indent)
            flowables.append(Paragraph(escape(body), line_style))
        return flowables

    def signature_block() -> list[Flowable]:
        data = [
            [
                Paragraph(escape(_clean(s.label)) + "：", text_style),
                Paragraph(_markup(s.name), text_style),
                Paragraph("日期：", text_style),
                Paragraph(_markup(s.date), text_style),
            ]
            for s in signatures
        ]
        table = Table(data, colWidths=[30 * mm, 70 * mm, 16 * mm, 44 * mm], hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                    ("TOPPADDING", (0, 0), (-1, -1), 10),
                    ("LEFTPADDING", (0, 0), (0, -1), 0),
                    # A signing line under the name and the date, for the wet signature.
                    ("LINEBELOW", (1, 0), (1, -1), 0.5, colors.black),
                    ("LINEBELOW", (3, 0), (3, -1), 0.5, colors.black),
                ]
            )
        )
        return [Spacer(1, 8 * mm), KeepTogether([table])]

    renderers: dict[type, Callable[[Any], list[Flowable]]] = {
        FieldRows: field_rows,
        TableSection: table_section,
        Paragraphs: paragraphs,
    }

    def spaced_line(items: Sequence[str], line_style: ParagraphStyle) -> Flowable:
        """Items side by side with a clear gap (a Paragraph collapses runs of spaces, even
        ideographic ones), or two to a row when they do not fit on one line."""
        gap = 6 * mm
        natural = [pdfmetrics.stringWidth(item, FONT, line_style.fontSize) + 1 for item in items]
        cells = [Paragraph(escape(item), line_style) for item in items]
        if sum(natural) + gap * (len(items) - 1) <= frame_width:
            widths = [w + gap for w in natural[:-1]] + natural[-1:]
            rows: list[list[Any]] = [cells]
        else:
            widths = [frame_width / 2] * 2
            rows = [
                cells[i : i + 2] + [""] * (2 - len(cells[i : i + 2]))
                for i in range(0, len(cells), 2)
            ]
        table = Table(rows, colWidths=widths, hAlign=align_names[line_style.alignment])
        table.setStyle(
            TableStyle(
                [
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0 if len(rows) == 1 else gap / 2),
                    ("TOPPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return table

    align_names = {TA_CENTER: "CENTER", TA_LEFT: "LEFT"}
    address, phone = _clean(letterhead.address).strip(), _clean(letterhead.phone).strip()
    contact = [f"地址：{address}"] if address else []
    contact += [f"电话：{phone}"] if phone else []
    meta = [
        f"{label} {' '.join(_or_empty(value).split())}"
        for label, value in (
            ("文件编号", doc_number),
            ("版本", version),
            ("案卷", case_number),
            ("客户", customer_name),
        )
    ]
    story: list[Flowable] = [Paragraph(_markup(letterhead.company_name), company_style)]
    if contact:
        story.append(spaced_line(contact, contact_style))
    story += [
        HRFlowable(width="100%", thickness=0.8, color=colors.black, spaceBefore=4, spaceAfter=4),
        Paragraph(_markup(title), title_style),
        spaced_line(meta, meta_style),
        Spacer(1, 2 * mm),
    ]
    for section in sections:
        if _clean(section.heading).strip():
            # Not keepWithNext: that would push a long table whole onto the next page. A
            # heading only moves on when too little room is left for it and a few lines.
            story += [CondPageBreak(30 * mm), Paragraph(_markup(section.heading), heading_style)]
        render = renderers.get(type(section))
        if render is None:
            raise TypeError(f"not a form section: {section!r}")
        story += render(section)
    if signatures:
        story += signature_block()

    local = _local(generated_at)
    footer_number = _or_empty(doc_number).replace("\n", " ")
    footer_time = f"生成时间 {local:%Y-%m-%d %H:%M}"

    def footer(canvas: Any, doc: Any) -> None:
        # Dates in the PDF's info dictionary come from generated_at, not from the clock.
        canvas.setDateFormatter(lambda *_: _pdf_date(local))
        canvas.saveState()
        canvas.setStrokeColor(grid_colour)
        canvas.setLineWidth(0.4)
        canvas.line(margin, 11 * mm, page_width - margin, 11 * mm)
        canvas.setFont(FONT, 8)
        canvas.drawString(margin, 7.5 * mm, f"{footer_number} 第 {doc.page} 页")
        canvas.drawRightString(page_width - margin, 7.5 * mm, footer_time)
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 2 * mm,  # room for the footer below the frame
        title=f"{_clean(title)} {_clean(doc_number)}".strip(),
        author=_clean(letterhead.company_name),
        subject=_clean(customer_name),
        creator="Ruwang",
        # No clock, no random document id: equal input gives equal bytes.
        invariant=True,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _check_table(section: TableSection) -> None:
    name = section.heading or "(untitled table)"
    count = len(section.columns)
    if count == 0:
        raise ValueError(f"table {name!r}: columns must not be empty")
    if section.widths is not None:
        if len(section.widths) != count:
            raise ValueError(f"table {name!r}: {len(section.widths)} widths for {count} columns")
        if any(not w > 0 for w in section.widths):
            raise ValueError(f"table {name!r}: widths must be positive numbers")
    for number, row in enumerate(section.rows, start=1):
        if len(row) != count:
            raise ValueError(
                f"table {name!r}: row {number} has {len(row)} cells, the header has {count}"
            )
