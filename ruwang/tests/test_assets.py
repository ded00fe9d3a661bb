"""Intranets are offline: pages load nothing from outside, and translations are complete."""

import re
from pathlib import Path

import polib
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# A reference the browser would fetch or navigate to (not licence comments or XML namespaces).
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:\b(?:fetch|importScripts)\(\s*["'](?:https?:)?//)""",
    re.IGNORECASE,
)
# Tags whose URL attribute text reaches the network in a template, written with single quotes too.
SCANNED = {".html", ".css", ".js", ".svg", ".txt"}


def _files() -> list[Path]:
    roots = [ROOT / "templates", ROOT / "static"]
    roots += [p / "templates" for p in ROOT.iterdir() if (p / "templates").is_dir()]
    return [p for r in roots for p in r.rglob("*") if p.is_file() and p.suffix in SCANNED]


def test_scanner_catches_external_references():
    for sample in (
        '<script src="https://cdn.example.com/x.js">',
        "<link href='//fonts.example.com/css'>",
        "background: url(https://example.com/a.png)",
        '@import "https://example.com/a.css";',
    ):
        assert EXTERNAL.search(sample), sample
    assert not EXTERNAL.search('<svg xmlns="http://www.w3.org/2000/svg">')
    assert not EXTERNAL.search("/*! Bootstrap v5 (https://getbootstrap.com/) */")


# The bpmn.io watermark is a link the user may click (its licence forbids removing it); nothing
# is fetched from it.
ALLOWED = {("static/vendor/bpmn-js", "bpmn.io")}


def _allowed(path: Path, text: str, match: re.Match[str]) -> bool:
    relative = str(path.relative_to(ROOT))
    following = text[match.end() : match.end() + 20]
    return any(
        relative.startswith(prefix) and following.startswith(host) for prefix, host in ALLOWED
    )


def test_no_template_or_static_file_references_an_external_url():
    files = _files()
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in files
        for text in [path.read_text(encoding="utf-8", errors="ignore")]
        for match in EXTERNAL.finditer(text)
        if not _allowed(path, text, match)
    ]
    assert offenders == []


def test_every_chinese_translation_is_filled_and_compiled():
    po_path = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    po = polib.pofile(str(po_path))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert untranslated == [] and fuzzy == []
    mo = polib.mofile(str(po_path.with_suffix(".mo")))
    # Keyed by context too: "Sent" as a reply status is not "Sent" as a column heading.
    compiled = {(e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural) for e in mo}
    missing_in_mo = [e.msgid for e in po if (e.msgctxt, e.msgid) not in compiled]
    assert missing_in_mo == [], "run `make messages` to recompile the catalogue"
    stale = [
        e.msgid for e in po if not e.msgid_plural and compiled[(e.msgctxt, e.msgid)] != e.msgstr
    ]
    assert stale == [], "run `make messages` to recompile the catalogue"
