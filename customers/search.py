"""Customer search by any name substring (2-character Chinese too), pinyin, initials, phone, code.

Each customer carries n-gram columns written by the services:
  grams_name      bigrams of the name and short name (CJK and latin, lower case)
  grams_pinyin    trigrams of the full pinyin
  grams_initials  bigrams of the pinyin initials
  grams_digits    4-grams of contact phone numbers and of the credit code
A query is split into the same n-grams; rows holding all of them are candidates (an index
lookup), and the candidates are checked against the real text — unless the entry is itself one
n-gram (`张伟`, `zw`, `5678`), when holding it is the match. PostgreSQL indexes each column
as a text array with GIN; SQLite keeps an FTS5 table in step by triggers. pg_trgm is not used:
it cannot index infixes shorter than three characters, and two-character names are common.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from pypinyin import Style, lazy_pinyin

from ruwang.lib.crypto import keyed_hash
from ruwang.lib.validators import is_valid_id_number

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NON_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")

GRAM_COLUMNS = ("grams_name", "grams_pinyin", "grams_initials", "grams_digits")


def normalise(text: str) -> str:
    """Lower case, no spaces or punctuation: what substring matching compares."""
    return _NON_WORD.sub("", text).lower()


def ngrams(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def covering_ngrams(text: str, n: int) -> list[str]:
    """Fewer n-grams that still cover every character: every n-th one plus the last.

    Rows holding these are a superset of the rows holding all n-grams, and every candidate is
    checked against the real text anyway; the index then intersects fewer posting lists."""
    grams = ngrams(text, n)
    chosen = grams[::n]
    if grams and grams[-1] not in chosen:
        chosen.append(grams[-1])
    return list(dict.fromkeys(chosen))


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


@dataclass(frozen=True)
class _Alternative:
    column: str  # one of GRAM_COLUMNS
    grams: list[str]
    check: Q  # the real-text test of this alternative
    exact: bool  # the one gram is the whole entry: holding it IS the match, no check needed


def _pg_gram(column: str) -> str:
    # Columns are from GRAM_COLUMNS (never user input); the grams are bound parameters.
    if column not in GRAM_COLUMNS:
        raise ValueError(column)
    return f'string_to_array("customers_customer"."{column}", \' \') @> %s::text[]'


def _postgres_match(alternatives: list[_Alternative]) -> Q:
    """On the customer rows themselves (no self-join): the planner then estimates each gram
    from the column statistics and can walk the primary key for a newest-first page."""
    condition = Q()
    for alt in alternatives:
        sql = _pg_gram(alt.column)
        held = Q(RawSQL(sql, (alt.grams,), output_field=BooleanField()))  # noqa: S611
        condition |= held if alt.exact else held & alt.check
    return condition


@dataclass(frozen=True)
class SqliteSearch:
    """A search on SQLite in two parts: the candidates' ids from the FTS5 table (`ids_sql`, a
    plain SELECT of rowids, so it can join a compound SELECT) and the real-text check of the
    candidates (None when every alternative is exact)."""

    ids_sql: str
    params: tuple[Any, ...]
    check: Q | None

    def condition(self) -> Q:
        found = Q(id__in=RawSQL(self.ids_sql, self.params))  # noqa: S611
        return found if self.check is None else found & self.check


def _sqlite_search(alternatives: list[_Alternative]) -> SqliteSearch:
    """One FTS5 lookup for all alternatives, then (unless every one is exact) the text check."""
    if any(alt.column not in GRAM_COLUMNS for alt in alternatives):
        raise ValueError(alternatives)

    def phrase(grams: list[str]) -> str:
        return " AND ".join('"' + g.replace('"', "") + '"' for g in grams)

    expression = " OR ".join(f"{alt.column} : ({phrase(alt.grams)})" for alt in alternatives)
    sql = "SELECT rowid FROM customers_search WHERE customers_search MATCH %s"
    if all(alt.exact for alt in alternatives):
        return SqliteSearch(sql, (expression,), None)
    verify = Q()
    for alt in alternatives:
        verify |= alt.check
    return SqliteSearch(sql, (expression,), verify)


def _alternative(column: str, text: str, n: int, check: Q) -> _Alternative:
    grams = covering_ngrams(text, n)
    return _Alternative(column, grams, check, exact=grams == [text])


def search_condition(query: str) -> Q | None:
    """The filter for one search box entry; None when the entry has nothing to search for."""
    found = search_parts(query)
    return found.condition() if isinstance(found, SqliteSearch) else found


def search_parts(query: str) -> Q | SqliteSearch | None:
    """What `search_condition` filters by; on SQLite, for an n-gram search, its two parts
    (see SqliteSearch), so that a list can intersect the candidates with other id sets.

    Candidates come from the n-gram index; each is then checked against the real text, so a
    row is returned only when the entry is a substring of its name, pinyin, initials, phones
    or credit code."""
    text = normalise(query)
    if not text:
        return None
    if len(text) == 18 and is_valid_id_number(text.upper()):
        # A citizen ID number is stored encrypted: found by exact match on its keyed hash only.
        from customers.models import Contact

        return Q(id__in=Contact.objects.filter(id_number_hash=keyed_hash(text)).values("customer"))
    alternatives: list[_Alternative] = []
    if len(text) >= 2:
        check = Q(name__icontains=text) | Q(short_name__icontains=text)
        alternatives.append(_alternative("grams_name", text, 2, check))
    if text.isascii() and text.isalpha():
        if len(text) >= 2:
            alternatives.append(_alternative("grams_initials", text, 2, Q(initials__contains=text)))
        if len(text) >= 3:
            alternatives.append(_alternative("grams_pinyin", text, 3, Q(pinyin__contains=text)))
    if text.isascii() and any(c.isdigit() for c in text) and len(text) >= 4:
        check = Q(phones__contains=text) | Q(credit_code__icontains=text)
        alternatives.append(_alternative("grams_digits", text, 4, check))
    if not alternatives:
        if len(text) == 1 and not text.isascii():
            # One Chinese character: no bigram to look up; a plain scan, newest first.
            return Q(name__contains=text) | Q(short_name__contains=text)
        if text.isdigit():
            # Fewer than four digits: too common to be useful, match whole phone endings only.
            return Q(phones__endswith=text)
        return None
    if connection.vendor == "postgresql":
        return _postgres_match(alternatives)
    return _sqlite_search(alternatives)


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

SQLITE_TRIGGERS = ("customers_search_ai", "customers_search_ad", "customers_search_au")


def ensure_sqlite_search_objects(using: str = "default") -> bool:
    """Recreate the FTS table and triggers if missing; returns True when it had to."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'customers_search%%' "
            "AND type IN ('table', 'trigger')"
        )
        present = {row[0] for row in cursor.fetchall()}
        if "customers_customer" not in conn.introspection.table_names(cursor):
            return False
        if {"customers_search", *SQLITE_TRIGGERS} <= present:
            return False
        if "customers_search" not in present:
            cursor.execute(SQLITE_CREATE[0])
        for statement, name in zip(SQLITE_CREATE[1:], SQLITE_TRIGGERS, strict=True):
            if name not in present:
                cursor.execute(statement)
        cursor.execute("INSERT INTO customers_search(customers_search) VALUES ('rebuild')")
    return True
