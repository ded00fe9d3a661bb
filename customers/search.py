"""Customer search by any name substring (2-character Chinese too), pinyin, initials, phone, code.

Each customer carries n-gram columns written by the services:
  grams_name      bigrams of the name and short name (CJK and latin, lower case)
  grams_pinyin    trigrams of the full pinyin
  grams_initials  bigrams of the pinyin initials
  grams_digits    4-grams of contact phone numbers and of the credit code
A query is split into the same n-grams; rows holding all of them are candidates (an index
lookup), and the candidates are checked against the real text. PostgreSQL indexes each column
as a text array with GIN; SQLite keeps an FTS5 table in step by triggers. pg_trgm is not used:
it cannot index infixes shorter than three characters, and two-character names are common.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from pypinyin import Style, lazy_pinyin

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NON_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")

GRAM_COLUMNS = ("grams_name", "grams_pinyin", "grams_initials", "grams_digits")


def normalise(text: str) -> str:
    """Lower case, no spaces or punctuation: what substring matching compares."""
    return _NON_WORD.sub("", text).lower()


def ngrams(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def _join(grams: set[str]) -> str:
    return " ".join(sorted(grams))


def to_pinyin(text: str) -> tuple[str, str]:
    """Full pinyin and initials of a name (latin letters and digits kept as they are)."""
    words = lazy_pinyin(normalise(text), errors="default")
    full = "".join(words).lower()
    initials = "".join(w[0] for w in lazy_pinyin(normalise(text), style=Style.NORMAL) if w)
    return normalise(full), normalise(initials)


@dataclass(frozen=True)
class SearchFields:
    pinyin: str
    initials: str
    phones: str
    grams_name: str
    grams_pinyin: str
    grams_initials: str
    grams_digits: str


def search_fields(
    *, name: str, short_name: str, credit_code: str, phones: list[str]
) -> SearchFields:
    names = [normalise(n) for n in (name, short_name) if n]
    pinyins = [to_pinyin(n) for n in (name, short_name) if n]
    digit_sources = [p for p in phones if p] + ([credit_code.lower()] if credit_code else [])
    return SearchFields(
        pinyin=" ".join(p for p, _ in pinyins),
        initials=" ".join(i for _, i in pinyins),
        phones=" ".join(phones),
        grams_name=_join({g for n in names for g in ngrams(n, 2)}),
        grams_pinyin=_join({g for p, _ in pinyins for g in ngrams(p, 3)}),
        grams_initials=_join({g for _, i in pinyins for g in ngrams(i, 2)}),
        grams_digits=_join({g for s in digit_sources for g in ngrams(s, 4)}),
    )


def _gram_match(column: str, grams: list[str]) -> Q:
    """Rows whose `column` holds every gram, answered by the column's index."""
    # `column` is one of GRAM_COLUMNS (never user input); the grams are bound parameters.
    if column not in GRAM_COLUMNS:
        raise ValueError(column)
    if connection.vendor == "postgresql":
        where = f"string_to_array({column}, ' ') @> %s::text[]"
        sql = "SELECT id FROM customers_customer WHERE " + where  # noqa: S608
        return Q(id__in=RawSQL(sql, (grams,)))  # noqa: S611
    terms = " AND ".join('"' + g.replace('"', "") + '"' for g in grams)
    sql = "SELECT rowid FROM customers_search WHERE customers_search MATCH %s"
    return Q(id__in=RawSQL(sql, (f"{column} : ({terms})",)))  # noqa: S611


def search_condition(query: str) -> Q | None:
    """The filter for one search box entry; None when the entry has nothing to search for."""
    text = normalise(query)
    if not text:
        return None
    conditions: list[Q] = []
    if _CJK.search(text) or not text.isascii():
        if len(text) >= 2:
            conditions.append(
                _gram_match("grams_name", ngrams(text, 2))
                & (Q(name__icontains=text) | Q(short_name__icontains=text))
            )
        else:
            conditions.append(Q(name__contains=text) | Q(short_name__contains=text))
    else:
        if len(text) >= 2:
            conditions.append(
                _gram_match("grams_name", ngrams(text, 2))
                & (Q(name__icontains=text) | Q(short_name__icontains=text))
            )
        if text.isalpha():
            if len(text) >= 2:
                conditions.append(
                    _gram_match("grams_initials", ngrams(text, 2)) & Q(initials__contains=text)
                )
            if len(text) >= 3:
                conditions.append(
                    _gram_match("grams_pinyin", ngrams(text, 3)) & Q(pinyin__contains=text)
                )
        if any(c.isdigit() for c in text) and len(text) >= 4:
            conditions.append(
                _gram_match("grams_digits", ngrams(text, 4))
                & (Q(phones__contains=text) | Q(credit_code__icontains=text))
            )
        elif text.isdigit():
            # Fewer than four digits: too common to be useful, match whole phone endings only.
            conditions.append(Q(phones__endswith=text))
    if not conditions:
        return None
    combined = conditions[0]
    for extra in conditions[1:]:
        combined |= extra
    return combined


def apply_search(qs: QuerySet, query: str) -> QuerySet:
    condition = search_condition(query)
    return qs if condition is None else qs.filter(condition)


def highlight_terms(query: str) -> str:
    return normalise(query)


# --- database objects: created by the migration ---------------------------------------------

SQLITE_CREATE = [
    """
    CREATE VIRTUAL TABLE customers_search USING fts5(
        grams_name, grams_pinyin, grams_initials, grams_digits,
        content='customers_customer', content_rowid='id', tokenize='unicode61'
    )
    """,
    """
    CREATE TRIGGER customers_search_ai AFTER INSERT ON customers_customer BEGIN
        INSERT INTO customers_search(rowid, grams_name, grams_pinyin, grams_initials, grams_digits)
        VALUES (new.id, new.grams_name, new.grams_pinyin, new.grams_initials, new.grams_digits);
    END
    """,
    """
    CREATE TRIGGER customers_search_ad AFTER DELETE ON customers_customer BEGIN
        INSERT INTO customers_search(customers_search, rowid, grams_name, grams_pinyin,
            grams_initials, grams_digits)
        VALUES ('delete', old.id, old.grams_name, old.grams_pinyin, old.grams_initials,
            old.grams_digits);
    END
    """,
    """
    CREATE TRIGGER customers_search_au AFTER UPDATE OF grams_name, grams_pinyin, grams_initials,
        grams_digits ON customers_customer BEGIN
        INSERT INTO customers_search(customers_search, rowid, grams_name, grams_pinyin,
            grams_initials, grams_digits)
        VALUES ('delete', old.id, old.grams_name, old.grams_pinyin, old.grams_initials,
            old.grams_digits);
        INSERT INTO customers_search(rowid, grams_name, grams_pinyin, grams_initials, grams_digits)
        VALUES (new.id, new.grams_name, new.grams_pinyin, new.grams_initials, new.grams_digits);
    END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS customers_search_au",
    "DROP TRIGGER IF EXISTS customers_search_ad",
    "DROP TRIGGER IF EXISTS customers_search_ai",
    "DROP TABLE IF EXISTS customers_search",
]
POSTGRES_CREATE = [
    f"CREATE INDEX customer_{col} ON customers_customer USING gin (string_to_array({col}, ' '))"
    for col in GRAM_COLUMNS
]
POSTGRES_DROP = [f"DROP INDEX IF EXISTS customer_{col}" for col in GRAM_COLUMNS]
