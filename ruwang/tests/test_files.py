"""Upload safety checks (ruwang.lib.files). Real, tiny files are built in memory; no database.

Messages are translated later, so failures are asserted on their error codes.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from ruwang.lib import files
from ruwang.lib.files import (
    ALLOWED_TYPES,
    DANGEROUS_TYPES,
    IMAGE_EXTENSIONS,
    UploadInfo,
    check_upload,
    digest_matches,
    safe_download_name,
    sha256_of,
    sniff,
)

MB = 1024 * 1024
LIMIT = 20 * MB

# --- builders --------------------------------------------------------------------------------


def make_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(extra_chunks: bytes = b"") -> bytes:
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra_chunks + idat + _png_chunk(b"IEND", b"")


def make_jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def make_gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def make_webp() -> bytes:
    body = b"WEBPVP8 " + struct.pack("<I", 4) + b"\x00\x00\x00\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def make_bmp() -> bytes:
    pixels = b"\x00\x00\xff\x00"  # one red pixel, row padded to 4 bytes
    dib = struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(pixels), 0, 0, 14 + len(dib))
    return header + dib + pixels


def make_tiff() -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + b"\x00\x00" + b"\x00\x00\x00\x00"


def make_ole2() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def make_dwg() -> bytes:
    return b"AC1032" + bytes(122)


def make_dxf() -> bytes:
    return b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n"


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return buffer.getvalue()


def make_docx(**extra: bytes) -> bytes:
    return make_zip(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "word/document.xml": "<w:document><w:body>合同</w:body></w:document>".encode(),
            **extra,
        }
    )


def make_xlsx() -> bytes:
    return make_zip({"[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": b"<workbook/>"})


def make_pptx() -> bytes:
    return make_zip(
        {"[Content_Types].xml": CONTENT_TYPES, "ppt/presentation.xml": b"<presentation/>"}
    )


SAMPLES: dict[str, Callable[[], bytes]] = {
    "pdf": make_pdf,
    "png": make_png,
    "jpg": make_jpeg,
    "jpeg": make_jpeg,
    "gif": make_gif,
    "webp": make_webp,
    "bmp": make_bmp,
    "tif": make_tiff,
    "tiff": make_tiff,
    "docx": make_docx,
    "xlsx": make_xlsx,
    "pptx": make_pptx,
    "doc": make_ole2,
    "xls": make_ole2,
    "dwg": make_dwg,
    "dxf": make_dxf,
    "txt": lambda: "消防系统说明\r\n第一章 总则\r\n".encode(),
    "csv": lambda: "客户名称,联系电话\n上海某某物业有限公司,021-12345678\n".encode("gb18030"),
}


def check(name: str, data: bytes, max_bytes: int = LIMIT, size: int | None = None) -> UploadInfo:
    return check_upload(name, io.BytesIO(data), len(data) if size is None else size, max_bytes)


def refused(name: str, data: bytes, **kwargs: int) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        check(name, data, **kwargs)
    return excinfo.value


# --- accepted files --------------------------------------------------------------------------


def test_every_allowed_type_has_a_sample():
    assert set(SAMPLES) == set(ALLOWED_TYPES)
    assert "zip" not in ALLOWED_TYPES
    assert IMAGE_EXTENSIONS.issubset(ALLOWED_TYPES)


@pytest.mark.parametrize("extension", sorted(SAMPLES))
def test_each_allowed_type_is_accepted_with_its_digest(extension):
    data = SAMPLES[extension]()
    fileobj = io.BytesIO(data)
    info = check_upload(f"客户资料.{extension.upper()}", fileobj, len(data), LIMIT)
    assert info == UploadInfo(
        extension=extension,
        content_type=ALLOWED_TYPES[extension],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        is_image=extension in IMAGE_EXTENSIONS,
    )
    assert fileobj.tell() == 0


def test_a_program_extension_inside_the_name_is_fine_when_the_bytes_match():
    assert check("report.exe.pdf", make_pdf()).content_type == "application/pdf"


def test_surrounding_whitespace_in_the_name_is_ignored():
    assert check("  平面图.png ", make_png()).extension == "png"


def test_file_larger_than_one_chunk_is_hashed_completely():
    data = make_pdf() + bytes(3 * MB + 17)
    info = check("big.pdf", data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)


# --- dangerous contents ----------------------------------------------------------------------

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00"
PHP = b"<?php system($_GET['c']); ?>\n"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("contract.pdf", PHP, id="php-as-pdf"),
        pytest.param("x.php.pdf", PHP, id="php-double-extension"),
        pytest.param("photo.png", ELF, id="elf-as-png"),
        pytest.param("photo.png", PE, id="pe-as-png"),
        pytest.param("manual.pdf", b"\xcf\xfa\xed\xfe" + bytes(28), id="macho-as-pdf"),
        pytest.param("notes.txt", b"#!/bin/sh\nrm -rf /\n", id="shell-as-txt"),
        pytest.param("photo.jpg", b"<!DOCTYPE html><html><body>hi</body></html>", id="html"),
        pytest.param("photo.jpg", b"\xef\xbb\xbf\n  <SCRIPT>alert(1)</SCRIPT>", id="script"),
        pytest.param(
            "photo.jpg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            id="svg",
        ),
        pytest.param("list.csv", "<html>".encode("utf-16"), id="utf16-html-as-csv"),
        pytest.param(
            "photo.png",
            make_png(_png_chunk(b"tEXt", b"Comment\x00<?php eval($_POST[1]); ?>")),
            id="png-with-php-payload",
        ),
        pytest.param("invoice.exe.pdf", b"\x00\x01\x02garbage", id="hidden-exe-extension"),
    ],
)
def test_programs_scripts_and_web_pages_are_refused(name, data):
    assert refused(name, data).code == "dangerous"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ELF, "application/x-executable"),
        (PE, "application/x-msdownload"),
        (PHP, "application/x-php"),
        (b"#!/usr/bin/env python\n", "application/x-shellscript"),
        (b"<html><body></body></html>", "text/html"),
        (b"<svg/>", "image/svg+xml"),
    ],
)
def test_sniff_names_dangerous_types(head, expected):
    assert sniff(head) == expected
    assert expected in DANGEROUS_TYPES


# --- type mismatches -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("photo.png", make_pdf(), id="pdf-as-png"),
        pytest.param("contract.pdf", make_zip({"a.txt": b"x"}), id="zip-as-pdf"),
        pytest.param("contract.pdf", b"just some text", id="text-as-pdf"),
        pytest.param("notes.txt", bytes(range(256)) * 4, id="binary-as-txt"),
        pytest.param("plan.docx", make_pdf(), id="pdf-as-docx"),
        pytest.param("plan.docx", make_xlsx(), id="xlsx-as-docx"),
        pytest.param("plan.docx", make_ole2(), id="password-protected-docx"),
        pytest.param("plan.dwg", make_dxf(), id="dxf-as-dwg"),
    ],
)
def test_contents_must_match_the_extension(name, data):
    assert refused(name, data).code == "type_mismatch"


@pytest.mark.parametrize("name", ["a.zip", "a.rar", "a.exe", "a.svg", "a.html", "README", "a."])
def test_extensions_outside_the_allow_list_are_refused(name):
    assert refused(name, make_pdf()).code == "bad_extension"


# --- sizes -----------------------------------------------------------------------------------


def test_oversize_file_is_refused_and_the_message_shows_the_limit():
    data = make_pdf() + bytes(5 * MB)
    with translation.override("zh-hans"):
        error = refused("大文件.pdf", data, max_bytes=5 * MB)
        message = error.messages[0]
    assert error.code == "too_large"
    assert "5" in message
    assert "大文件.pdf" in message


def test_under_declared_size_is_caught_while_hashing():
    data = make_pdf() + bytes(2 * MB)
    assert refused("a.pdf", data, max_bytes=MB, size=100).code == "too_large"


@pytest.mark.parametrize("size", [0, 10])
def test_empty_file_is_refused(size):
    assert refused("a.pdf", b"", size=size).code == "empty"


def test_file_is_rewound_after_a_refusal():
    fileobj = io.BytesIO(PHP)
    with pytest.raises(ValidationError):
        check_upload("a.pdf", fileobj, len(PHP), LIMIT)
    assert fileobj.tell() == 0


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../a.pdf",
        "a/b.pdf",
        "a\\b.pdf",
        "C:\\fakepath\\a.pdf",
        "a\x00.pdf",
        "a\n.pdf",
        "invoice\u202efdp.pdf",
        "..",
        "",
        "   ",
        "a" * 300 + ".pdf",
    ],
)
def test_bad_names_are_refused(name):
    assert refused(name, make_pdf()).code == "bad_name"


# --- Office archives -------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["../../etc/passwd", "/etc/passwd", "word/..\\..\\x.xml"])
def test_zip_slip_member_is_refused(member):
    data = make_docx(**{member: b"root:x:0:0"})
    assert refused("plan.docx", data).code == "bad_archive"


def test_zip_bomb_is_refused():
    # 300 MB of zeros deflate to about 1 MB; written in chunks so memory stays small.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        with archive.open("word/document.xml", "w") as member:
            chunk = bytes(MB)
            for _ in range(300):
                member.write(chunk)
    assert refused("plan.docx", buffer.getvalue()).code == "bad_archive"


def test_high_compression_ratio_is_refused(monkeypatch):
    monkeypatch.setattr(files, "MAX_UNCOMPRESSED_BYTES", 10 * MB)
    monkeypatch.setattr(files, "RATIO_CHECK_FLOOR", 0)
    data = make_docx(**{"word/media/blank.bin": bytes(2 * MB)})
    assert refused("plan.docx", data).code == "bad_archive"
    monkeypatch.setattr(files, "MAX_COMPRESSION_RATIO", 10_000)
    assert check("plan.docx", data).extension == "docx"


def test_total_uncompressed_size_is_limited(monkeypatch):
    monkeypatch.setattr(files, "MAX_UNCOMPRESSED_BYTES", 1000)
    data = make_zip(
        {"[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": bytes(2000)},
        compression=zipfile.ZIP_STORED,
    )
    assert refused("sheet.xlsx", data).code == "bad_archive"


def test_too_many_members_is_refused(monkeypatch):
    monkeypatch.setattr(files, "MAX_ARCHIVE_MEMBERS", 5)
    data = make_docx(**{f"word/media/image{i}.png": b"x" for i in range(10)})
    assert refused("plan.docx", data).code == "bad_archive"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(make_zip({"word/document.xml": b"<w/>"}), id="no-content-types"),
        pytest.param(make_zip({"[Content_Types].xml": CONTENT_TYPES}), id="no-word-folder"),
        pytest.param(make_docx()[:60], id="truncated"),
    ],
)
def test_archives_that_are_not_office_documents_are_refused(data):
    assert refused("plan.docx", data).code == "bad_archive"


def test_macro_enabled_document_renamed_docx_is_refused():
    data = make_docx(**{"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})
    assert refused("plan.docx", data).code == "dangerous"


# --- sniffing details ------------------------------------------------------------------------


def test_sniff_recognises_containers_and_text():
    assert sniff(b"") is None
    assert sniff(make_docx()) == files.ZIP_TYPE
    assert sniff(make_ole2()) == files.OLE2_TYPE
    assert sniff(b"0\nSECTION\n2\nHEADER\n") == "image/vnd.dxf"
    assert sniff(b"BMW,X5\n") == "text/plain"  # "BM" alone is not a bitmap
    assert sniff(b"MZ-001,pump\n") == "text/plain"  # nor "MZ" alone a program
    assert sniff(bytes(range(256))) is None
    assert sniff("消防".encode("utf-16")) == "text/plain"


def test_text_cut_inside_a_character_at_the_sniff_window_is_still_text():
    data = "消".encode() * 3000  # 9000 bytes: the 8 KiB window ends inside a character
    assert len(data) > files.HEAD_SIZE
    assert files.HEAD_SIZE % 3 != 0
    assert check("说明.txt", data).content_type == "text/plain"


# --- digests ---------------------------------------------------------------------------------


def test_sha256_of_streams_and_rewinds():
    data = bytes(range(256)) * 5000
    fileobj = io.BytesIO(data)
    fileobj.seek(100)
    assert sha256_of(fileobj) == hashlib.sha256(data).hexdigest()
    assert fileobj.tell() == 0


def test_digest_matches_detects_a_single_flipped_byte():
    data = bytearray(make_pdf())
    expected = hashlib.sha256(data).hexdigest()
    assert digest_matches(io.BytesIO(bytes(data)), expected)
    assert digest_matches(io.BytesIO(bytes(data)), expected.upper())
    data[20] ^= 0x01
    fileobj = io.BytesIO(bytes(data))
    assert not digest_matches(fileobj, expected)
    assert fileobj.tell() == 0
    assert not digest_matches(io.BytesIO(bytes(data)), "不是摘要")


# --- download names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("消防系统图.pdf", "消防系统图.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张三\\合同.docx", "合同.docx"),
        ("a\x00b\r\n.pdf", "ab.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ('报价"单"?.xlsx', "报价_单__.xlsx"),
        ("  .hidden.txt. ", "hidden.txt"),
        ("CON.txt", "_CON.txt"),
        ("", "download"),
        ("..", "download"),
        ("/", "download"),
    ],
)
def test_safe_download_name(name, expected):
    assert safe_download_name(name) == expected


def test_safe_download_name_limits_length_but_keeps_the_extension():
    result = safe_download_name("图" * 200 + ".pdf")
    assert result.endswith(".pdf")
    assert len(result.encode()) <= 255
