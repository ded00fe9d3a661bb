"""Safety checks for uploaded customer documents (合同、平面图、系统图、说明书、照片、证照).

The policy is an allow-list: a file is accepted only when its extension is on ``ALLOWED_TYPES``
*and* its first bytes prove it really is that kind of file. Anything unrecognised is refused, so
new attack formats are refused by default rather than needing a rule each. Programs, scripts and
web pages are recognised by name only so that the refusal can say why ("dangerous") instead of a
vague "wrong type".

Office Open XML files (docx/xlsx/pptx) are zip archives and get extra checks: the archive must
open, look like the promised kind of document, and not be a zip-slip or zip-bomb. Plain archives
(.zip, .rar, …) are refused outright — their contents could not be checked or previewed.

Messages are English msgids for the Chinese catalogue in ``locale/zh_Hans``; the file name and
limits are passed as ``params`` so the message is rendered in the language active when shown.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import io
import re
import struct
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ALLOWED_TYPES",
    "DANGEROUS_TYPES",
    "IMAGE_EXTENSIONS",
    "UploadInfo",
    "check_upload",
    "digest_matches",
    "safe_download_name",
    "sha256_of",
    "sniff",
]

# ---------------------------------------------------------------------------------------------
# Limits. Module-level so that tests (and a deployment that must be stricter) can change them.
# ---------------------------------------------------------------------------------------------

MIB = 1024 * 1024
HEAD_SIZE = 8 * 1024  # enough for every signature below and for a text/markup sniff
CHUNK_SIZE = MIB  # hashing reads this much at a time: bounded memory whatever the file size
MAX_NAME_LENGTH = 255  # what common file systems and the browser accept for one name
MAX_ARCHIVE_MEMBERS = 10_000  # a large real pptx has a few hundred parts
MAX_UNCOMPRESSED_BYTES = 200 * MIB  # what unpacking an Office file may cost a previewer
MAX_COMPRESSION_RATIO = 100  # real Office files compress 3–20×; zip bombs 1000× and more
# Below this uncompressed total a high ratio cannot hurt anyone, and tiny repetitive XML parts
# can legitimately compress very well; the ratio test only starts above it.
RATIO_CHECK_FLOOR = MIB

# ---------------------------------------------------------------------------------------------
# Allowed types
# ---------------------------------------------------------------------------------------------

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# Extension (lower case, no dot) → the canonical MIME type we store and serve it with.
# Read-only: a stray ``ALLOWED_TYPES["zip"] = …`` elsewhere must not widen the policy.
ALLOWED_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "pdf": "application/pdf",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "bmp": "image/bmp",
        "tif": "image/tiff",
        "tiff": "image/tiff",
        "docx": _DOCX,
        "xlsx": _XLSX,
        "pptx": _PPTX,
        "doc": "application/msword",
        "xls": "application/vnd.ms-excel",
        "dwg": "image/vnd.dwg",  # IANA-registered types for AutoCAD drawings
        "dxf": "image/vnd.dxf",
        "txt": "text/plain",
        "csv": "text/csv",
    }
)

# Images every current browser can show inline (thumbnails, <img>). BMP and TIFF are allowed
# uploads but are offered as downloads only.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({"png", "jpg", "jpeg", "gif", "webp"})

# What ``sniff`` returns for containers whose exact kind needs more than the first bytes.
ZIP_TYPE = "application/zip"
OLE2_TYPE = "application/x-ole-storage"  # legacy doc/xls (and msi/msg — told apart by name only)
TEXT_TYPE = "text/plain"

# Sniffed types that are refused as dangerous whatever the file is called.
EXE_TYPE = "application/x-msdownload"
ELF_TYPE = "application/x-executable"
MACHO_TYPE = "application/x-mach-binary"
PHP_TYPE = "application/x-php"
SCRIPT_TYPE = "application/x-shellscript"
HTML_TYPE = "text/html"
SVG_TYPE = "image/svg+xml"  # SVG can carry <script>: served from our origin it is stored XSS
DANGEROUS_TYPES: frozenset[str] = frozenset(
    {EXE_TYPE, ELF_TYPE, MACHO_TYPE, PHP_TYPE, SCRIPT_TYPE, HTML_TYPE, SVG_TYPE}
)

_OOXML_FOLDERS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}

# Which sniffed types satisfy each extension, where that is not simply ALLOWED_TYPES[ext].
_ACCEPTED_SNIFFS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        **{ext: frozenset({mime}) for ext, mime in ALLOWED_TYPES.items()},
        **{ext: frozenset({ZIP_TYPE}) for ext in _OOXML_FOLDERS},
        "doc": frozenset({OLE2_TYPE}),
        "xls": frozenset({OLE2_TYPE}),
        # DXF files that start with a comment or unusual header are still plain text.
        "dxf": frozenset({"image/vnd.dxf", TEXT_TYPE}),
        "csv": frozenset({TEXT_TYPE}),  # CSV cannot be told from other text by its bytes
    }
)

# Extensions that run as code somewhere (Windows, a web server, a shell, a browser). Found in
# the middle of a name ("invoice.exe.pdf") they suggest a disguise, so a content mismatch is then
# reported as dangerous rather than as an innocent mistake.
_EXECUTABLE_EXTENSIONS = frozenset(
    {
        "exe", "dll", "com", "scr", "pif", "cpl", "msi", "msp", "bat", "cmd", "ps1", "psm1",
        "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "hta", "lnk", "reg", "jar", "apk",
        "app", "dmg", "sh", "bash", "zsh", "csh", "py", "pl", "rb", "cgi", "php", "php3",
        "php4", "php5", "php7", "php8", "phtml", "phar", "asp", "aspx", "ashx", "jsp",
        "jspx", "html", "htm", "xhtml", "shtml", "svg", "so", "dylib", "elf", "bin",
    }
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Sniffing
# ---------------------------------------------------------------------------------------------

_MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # universal binary (also a Java class file: code either way)
)
_BMP_DIB_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# ASCII DXF: group code 0 then SECTION, optionally after a 999 comment, with any line endings
# and the right-aligned group codes some writers emit ("  0\r\nSECTION").
_DXF_RE = re.compile(rb"\A\s*(?:999\r?\n[^\r\n]*\r?\n\s*)?0\r?\n\s*SECTION\s", re.ASCII)
_DXF_BINARY = b"AutoCAD Binary DXF\r\n\x1a\x00"
_DWG_RE = re.compile(rb"\AAC10\d\d")  # AC1012 (R13) … AC1032 (2018+)
_PHP_MARK = b"<?php"
# Markup a browser would render (and run scripts in) if it ever sniffed the file as HTML.
_MARKUP_MARKS: tuple[tuple[str, str], ...] = (
    ("<svg", SVG_TYPE),
    ("<!doctype html", HTML_TYPE),
    ("<html", HTML_TYPE),
    ("<script", HTML_TYPE),
    ("<body", HTML_TYPE),
    ("<iframe", HTML_TYPE),
)
_MARKUP_WINDOW = 1024  # "near the start": browsers' own sniffing looks about this far
# C0/C1 controls other than tab, line feed, vertical tab, form feed, carriage return and the
# DOS end-of-file ^Z: real text files do not contain them, binary data almost always does.
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f-\x9f]")


def _decode_text(head: bytes) -> str | None:
    """The head as text, or None if it is not plausibly a text file.

    UTF-8 and GB18030 (a superset of GBK/GB2312, what Chinese Windows writes) without NUL bytes;
    also UTF-16 with a byte-order mark, which Excel's "Unicode text" export produces. Incremental
    decoders with ``final=False`` accept a multi-byte character cut off by the 8 KiB window.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    elif b"\x00" in head:
        return None
    else:
        candidates = ("utf-8-sig", "gb18030")
    for encoding in candidates:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or _TEXT_CONTROL_RE.search(text):
            return None
        return text
    return None


def _sniff_markup(text: str) -> str | None:
    if text.lstrip("\ufeff").startswith("#!"):
        return SCRIPT_TYPE  # a shebang makes the file directly runnable on Unix
    lowered = text.lower()
    if "<?php" in lowered:  # UTF-16 case; the byte-level check below covers the rest
        return PHP_TYPE
    window = lowered[:_MARKUP_WINDOW]
    for mark, mime in _MARKUP_MARKS:
        if mark in window:
            return mime
    return None


def sniff(head: bytes) -> str | None:
    """The real type of a file from its first bytes (up to 8 KiB), or None if unrecognised.

    Returns a MIME type from ``ALLOWED_TYPES``, one of ``DANGEROUS_TYPES``, ``ZIP_TYPE`` for any
    zip (which Office kind it is needs the whole archive: see ``check_upload``), ``OLE2_TYPE``
    for legacy Office files or ``TEXT_TYPE``.
    """
    head = head[:HEAD_SIZE]
    if not head:
        return None
    # Executables first: nothing may talk them out of being refused.
    # "MZ" alone could start a text file ("MZ-001,…"); a real DOS/PE header has NUL bytes.
    if head.startswith(b"MZ") and b"\x00" in head[:64]:
        return EXE_TYPE
    if head.startswith(b"\x7fELF"):
        return ELF_TYPE
    if head.startswith(_MACHO_MAGICS):
        return MACHO_TYPE
    # PHP is found anywhere in the head, not only at the start: an image with PHP in its
    # metadata is the classic upload web shell, and a PHP interpreter skips everything else.
    if _PHP_MARK in head.lower():
        return PHP_TYPE

    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if _is_bmp(head):
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):  # TIFF, BigTIFF
        return "image/tiff"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE2_TYPE
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip, or an empty one
        return ZIP_TYPE
    if _DWG_RE.match(head):
        return "image/vnd.dwg"
    if head.startswith(_DXF_BINARY):
        return "image/vnd.dxf"

    text = _decode_text(head)
    if text is None:
        return None
    markup = _sniff_markup(text)
    if markup is not None:
        return markup
    if _DXF_RE.match(head):
        return "image/vnd.dxf"
    return TEXT_TYPE


def _is_bmp(head: bytes) -> bool:
    # "BM" alone would match text such as "BMW,…": also require zero reserved fields and a
    # known DIB header size, which every BMP writer produces.
    if len(head) < 18 or not head.startswith(b"BM") or head[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES


# ---------------------------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------------------------


def _hash_stream(fileobj: IO[bytes], limit: int | None = None) -> tuple[str, int]:
    """(SHA-256 hex, byte count) of the whole file; stops early once `limit` is exceeded."""
    fileobj.seek(0)
    digest = hashlib.sha256()
    total = 0
    while chunk := fileobj.read(CHUNK_SIZE):
        digest.update(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            break
    fileobj.seek(0)
    return digest.hexdigest(), total


def sha256_of(fileobj: IO[bytes]) -> str:
    """SHA-256 (lower-case hex) of the whole file, read in 1 MiB chunks; leaves it at offset 0."""
    return _hash_stream(fileobj)[0]


def digest_matches(fileobj: IO[bytes], expected_hex: str) -> bool:
    """Whether the file's SHA-256 equals `expected_hex` (any case), compared in constant time.

    Constant time because the expected digest may come from a client (download integrity
    links); comparing bytes also avoids compare_digest's TypeError on non-ASCII input.
    """
    actual = sha256_of(fileobj).encode("ascii")
    return hmac.compare_digest(actual, expected_hex.strip().lower().encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------

# Bidirectional controls make "invoice\u202egpj.exe" display as "invoiceexe.jpg".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls incl. NUL and newlines; Cs: lone surrogates from undecodable bytes.
    return ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")


def _name_is_bad(name: str) -> bool:
    return (
        not name
        or len(name) > MAX_NAME_LENGTH
        or "/" in name
        or "\\" in name
        or ".." in name  # also catches "..", "a..pdf"; rename is a small price for no ambiguity
        or any(_is_control(ch) for ch in name)
    )


def _shown(name: str) -> str:
    """The name as it may appear in an error message: controls made visible, length bounded."""
    cleaned = "".join("\ufffd" if _is_control(ch) else ch for ch in name)
    return cleaned if len(cleaned) <= 80 else cleaned[:79] + "…"


# Windows refuses these characters in file names; '"' and '\\' also upset header quoting.
_DOWNLOAD_FORBIDDEN_RE = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_MAX_DOWNLOAD_NAME_BYTES = 255  # per-name limit of ext4, NTFS and APFS (UTF-8 bytes for ext4)


def safe_download_name(name: str) -> str:
    """A file name safe to offer in Content-Disposition and to save on any desktop OS.

    Keeps Chinese and other letters; drops directory parts, control and bidi characters and
    characters Windows forbids; never returns an empty, hidden or device name ("download").
    """
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFC", base)  # macOS sends decomposed (NFD) names
    base = "".join(ch for ch in base if not (_is_control(ch) or unicodedata.category(ch) == "Cf"))
    base = _DOWNLOAD_FORBIDDEN_RE.sub("_", base)
    base = " ".join(base.split())  # tabs/odd spaces → one space
    # Leading dots hide the file on Unix; trailing dots and spaces are stripped by Windows.
    base = base.strip(" .")
    if not base:
        return "download"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if stem.lower() in _WINDOWS_DEVICE_NAMES:
        stem = "_" + stem
    suffix = f".{ext}" if dot else ""
    if len(suffix.encode()) > _MAX_DOWNLOAD_NAME_BYTES // 2:
        suffix = ""  # an absurd "extension" is not worth keeping at the stem's expense
    while stem and len((stem + suffix).encode()) > _MAX_DOWNLOAD_NAME_BYTES:
        stem = stem[:-1]
    return (stem + suffix) or "download"


# ---------------------------------------------------------------------------------------------
# Upload check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """What ``check_upload`` learnt about an accepted file."""

    extension: str  # lower case, without the dot
    content_type: str  # canonical MIME type from ALLOWED_TYPES: store and serve with this
    size: int  # bytes actually read, not the size the client claimed
    sha256: str  # lower-case hex
    is_image: bool  # safe to show inline in a browser


def _too_large(name: str, max_bytes: int) -> ValidationError:
    limit = round(max_bytes / MIB, 1)
    return ValidationError(
        _("“%(name)s” is larger than the %(limit)s MB limit."),
        code="too_large",
        params={"name": _shown(name), "limit": f"{limit:g}"},
    )


def _empty(name: str) -> ValidationError:
    return ValidationError(_("“%(name)s” is empty."), code="empty", params={"name": _shown(name)})


def _mismatch(name: str, extension: str) -> ValidationError:
    return ValidationError(
        _("The contents of “%(name)s” are not a .%(extension)s file."),
        code="type_mismatch",
        params={"name": _shown(name), "extension": extension},
    )


def _dangerous(name: str) -> ValidationError:
    return ValidationError(
        _("“%(name)s” is a program, script or web page and cannot be uploaded."),
        code="dangerous",
        params={"name": _shown(name)},
    )


def _bad_archive(name: str, extension: str) -> ValidationError:
    return ValidationError(
        _("“%(name)s” is damaged or unsafe and cannot be accepted as a .%(extension)s file."),
        code="bad_archive",
        params={"name": _shown(name), "extension": extension},
    )


def _read_head(fileobj: IO[bytes]) -> bytes:
    # read() may return short counts on raw streams; loop until the window is full or EOF.
    fileobj.seek(0)
    parts: list[bytes] = []
    wanted = HEAD_SIZE
    while wanted > 0 and (part := fileobj.read(wanted)):
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _declared_member_count(fileobj: IO[bytes]) -> int | None:
    """The member count from the zip's end-of-central-directory record, read without zipfile.

    ``zipfile.ZipFile`` builds an object per member while opening, so a small archive declaring
    millions of members would exhaust memory before our limit could be checked. None when the
    record cannot be read here; zipfile then decides (bounded by the upload size limit).
    """
    end = fileobj.seek(0, io.SEEK_END)
    tail_size = min(end, 22 + 0xFFFF + 20)  # EOCD record + longest comment + zip64 locator
    fileobj.seek(end - tail_size)
    tail = fileobj.read(tail_size)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or pos + 22 > len(tail):
        return None
    (count,) = struct.unpack_from("<H", tail, pos + 10)
    if count != 0xFFFF:
        return int(count)
    # 0xFFFF means "see the zip64 end record", located by the 20-byte locator just before.
    locator = pos - 20
    if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
        return None
    (record_offset,) = struct.unpack_from("<Q", tail, locator + 8)
    fileobj.seek(record_offset)
    record = fileobj.read(56)
    if len(record) < 40 or not record.startswith(b"PK\x06\x06"):
        return None
    (count64,) = struct.unpack_from("<Q", record, 32)
    return int(count64)


def _unsafe_member_name(member: str) -> bool:
    # Zip-slip: an extractor joining these to its target directory would write outside it.
    path = member.replace("\\", "/")
    return (
        path.startswith("/")
        or re.match(r"[A-Za-z]:", path) is not None
        or ".." in path.split("/")
        or any(_is_control(ch) for ch in path)
    )


def _check_ooxml(name: str, extension: str, fileobj: IO[bytes]) -> None:
    """Refuse docx/xlsx/pptx archives that are broken, disguised, zip-slips or zip-bombs."""
    declared = _declared_member_count(fileobj)
    if declared is not None and declared > MAX_ARCHIVE_MEMBERS:
        raise _bad_archive(name, extension)
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _bad_archive(name, extension) from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise _bad_archive(name, extension)

    names = [m.filename.lower() for m in members]
    if any(_unsafe_member_name(m.filename) for m in members):
        raise _bad_archive(name, extension)
    # Encrypted members cannot be checked (and Office never encrypts parts this way).
    if any(m.flag_bits & 0x1 for m in members):
        raise _bad_archive(name, extension)

    # Sizes as declared in the central directory. Python's zipfile never inflates a member
    # beyond its declared size (and fails the CRC if the data says otherwise), so these bound
    # what any later zipfile-based reader (preview, text extraction) will unpack.
    uncompressed = sum(m.file_size for m in members)
    compressed = sum(m.compress_size for m in members)
    if uncompressed > MAX_UNCOMPRESSED_BYTES:
        raise _bad_archive(name, extension)
    if uncompressed > RATIO_CHECK_FLOOR and uncompressed > MAX_COMPRESSION_RATIO * max(
        compressed, 1
    ):
        raise _bad_archive(name, extension)

    # OPC packages (ECMA-376 Part 2) always have [Content_Types].xml at the root; part names are
    # case-insensitive.
    kinds = {
        ext for ext, folder in _OOXML_FOLDERS.items() if any(n.startswith(folder) for n in names)
    }
    if "[content_types].xml" not in names or not kinds:
        raise _bad_archive(name, extension)
    if extension not in kinds:
        raise _mismatch(name, extension)  # e.g. a workbook renamed .docx
    # VBA macros make it a docm/xlsm/pptm in disguise: Office runs those macros on opening.
    if any(n.rsplit("/", 1)[-1] == "vbaproject.bin" for n in names):
        raise ValidationError(
            _("“%(name)s” contains macros, which are not accepted. Save it without macros."),
            code="dangerous",
            params={"name": _shown(name)},
        )


def check_upload(name: str, fileobj: IO[bytes], size: int, max_bytes: int) -> UploadInfo:
    """Check an uploaded file and describe it, or raise ``ValidationError``.

    `name` is the client's file name, `size` the size the client declared (re-measured while
    hashing), `max_bytes` the caller's limit. Error codes: bad_name, bad_extension, empty,
    too_large, dangerous, type_mismatch, bad_archive. The file is left at offset 0.
    """
    try:
        return _check_upload(name.strip(), fileobj, size, max_bytes)
    finally:
        fileobj.seek(0)  # callers save the file next, errors or not


def _check_upload(name: str, fileobj: IO[bytes], size: int, max_bytes: int) -> UploadInfo:
    if _name_is_bad(name):
        raise ValidationError(
            _(
                "The file name “%(name)s” is not allowed: it must not contain slashes, “..” or"
                " control characters, and must be at most %(max)s characters long."
            ),
            code="bad_name",
            params={"name": _shown(name), "max": MAX_NAME_LENGTH},
        )
    parts = name.lower().split(".")
    extension = parts[-1] if len(parts) > 1 else ""
    if extension not in ALLOWED_TYPES:
        raise ValidationError(
            _("“%(name)s” is not an accepted file type. Accepted types: %(allowed)s."),
            code="bad_extension",
            params={"name": _shown(name), "allowed": ", ".join(sorted(ALLOWED_TYPES))},
        )
    # Cheap checks on the declared size first; the real size is measured below.
    if size <= 0:
        raise _empty(name)
    if size > max_bytes:
        raise _too_large(name, max_bytes)

    head = _read_head(fileobj)
    if not head:
        raise _empty(name)
    sniffed = sniff(head)
    if sniffed in DANGEROUS_TYPES:
        raise _dangerous(name)
    if sniffed not in _ACCEPTED_SNIFFS[extension]:
        # "report.exe.pdf" is fine when it is a PDF; when it is not, the inner program
        # extension makes it look like a deliberate disguise rather than a mistake.
        if any(part in _EXECUTABLE_EXTENSIONS for part in parts[1:-1]):
            raise _dangerous(name)
        if extension in _OOXML_FOLDERS and sniffed == OLE2_TYPE:
            # Password-protected Office files are OLE2 containers whatever their extension.
            raise ValidationError(
                _(
                    "“%(name)s” is password-protected or in an old format. Remove the password"
                    " or save it again as .%(extension)s, then upload it again."
                ),
                code="type_mismatch",
                params={"name": _shown(name), "extension": extension},
            )
        raise _mismatch(name, extension)
    if extension in _OOXML_FOLDERS:
        _check_ooxml(name, extension, fileobj)

    sha256, actual_size = _hash_stream(fileobj, limit=max_bytes)
    if actual_size == 0:
        raise _empty(name)
    if actual_size > max_bytes:  # the client under-declared the size
        raise _too_large(name, max_bytes)
    return UploadInfo(
        extension=extension,
        content_type=ALLOWED_TYPES[extension],
        size=actual_size,
        sha256=sha256,
        is_image=extension in IMAGE_EXTENSIONS,
    )
