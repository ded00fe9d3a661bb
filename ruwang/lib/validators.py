"""Validators for Chinese identifiers: 统一社会信用代码, 居民身份证号码 and mainland mobile numbers.

Standards cited:

* GB 32100-2015 《法人和其他组织统一社会信用代码编码规则》 — the 18-character unified social
  credit code of companies and other organisations.
* GB 11643-1999 《公民身份号码》 — the 18-character citizen identity number; its check character
  follows ISO 7064:1983 MOD 11-2.

Input is cleaned before checking: Unicode NFKC folds full-width characters typed through Chinese
input methods (e.g. "１３８") to ASCII, whitespace is removed and letters are upper-cased. Only
ASCII digits count as digits (``str.isdigit`` would accept "²" or Arabic-Indic digits).

The ``validate_*`` callables follow Django's validator protocol (raise ``ValidationError``) and can
be listed in a model or form field's ``validators``. Their messages are English msgids for the
Chinese catalogue in ``locale/zh_Hans`` (``make messages``); each failure reason has its own.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "credit_code_check_char",
    "id_number_check_digit",
    "is_valid_credit_code",
    "is_valid_id_number",
    "is_valid_mobile",
    "make_credit_code",
    "make_id_number",
    "normalise_mobile",
    "validate_credit_code",
    "validate_id_number",
    "validate_mobile",
]

_ASCII_DIGITS = frozenset("0123456789")
_WHITESPACE_RE = re.compile(r"\s+")


def _clean(value: str) -> str:
    """NFKC-fold (full-width → ASCII), drop all whitespace, upper-case."""
    return _WHITESPACE_RE.sub("", unicodedata.normalize("NFKC", value)).upper()


def _all_digits(value: str) -> bool:
    return bool(value) and all(ch in _ASCII_DIGITS for ch in value)


# ---------------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码), GB 32100-2015
# ---------------------------------------------------------------------------------------------

# GB 32100-2015 §4 / 附录 A: the 31-character code set — digits and upper-case Latin letters
# without I, O, Z, S, V (too easily confused with 1, 0, 2, 5, U). The position of a character in
# this string is its numeric value in the check-character calculation (A=10 … Y=30).
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_ALPHABET)}
_CREDIT_CODE_LENGTH = 18  # GB 32100-2015 §4.1: 18 characters

# GB 32100-2015 §5 (校验码计算): W_i = 3^(i-1) mod 31 for positions i = 1..17.
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a credit code.

    GB 32100-2015 §5: C18 = 31 - (Σ C_i × W_i mod 31); a result of 31 is written as '0', and the
    result is then encoded with the code set (so 30 → 'Y'). Raises ValueError unless `first17`
    is 17 characters of the code set (after cleaning).
    """
    chars = _clean(first17)
    if len(chars) != _CREDIT_CODE_LENGTH - 1:
        raise ValueError(f"expected 17 characters, got {len(chars)}")
    bad = sorted({ch for ch in chars if ch not in _CREDIT_CODE_VALUE})
    if bad:
        raise ValueError(f"characters outside the GB 32100-2015 code set: {''.join(bad)!r}")
    total = sum(
        _CREDIT_CODE_VALUE[ch] * w for ch, w in zip(chars, _CREDIT_CODE_WEIGHTS, strict=True)
    )
    check = 31 - total % 31
    return CREDIT_CODE_ALPHABET[0 if check == 31 else check]


def _credit_code_error(value: str) -> str | None:
    """The first reason `value` is not a valid credit code, or None if it is valid."""
    code = _clean(value)
    if len(code) != _CREDIT_CODE_LENGTH:
        return "length"
    if any(ch not in _CREDIT_CODE_VALUE for ch in code):
        return "characters"
    # GB 32100-2015 §4.2: positions 3-8 are the administrative division code of the registration
    # authority (GB/T 2260), six digits.
    if not _all_digits(code[2:8]):
        return "division"
    if credit_code_check_char(code[:17]) != code[17]:
        return "check"
    return None


def is_valid_credit_code(code: str) -> bool:
    """True if `code` is an 18-character GB 32100-2015 code with a correct check character.

    Checks length, the code set, that positions 3-8 are digits, and the check character. The
    registration-authority and organisation-type codes (positions 1-2) are not checked.
    """
    return isinstance(code, str) and _credit_code_error(code) is None


def make_credit_code(prefix17: str) -> str:
    """`prefix17` (cleaned) followed by its GB 32100-2015 check character."""
    chars = _clean(prefix17)
    return chars + credit_code_check_char(chars)


# ---------------------------------------------------------------------------------------------
# Citizen identity number (公民身份号码), GB 11643-1999
# ---------------------------------------------------------------------------------------------

_ID_NUMBER_LENGTH = 18  # GB 11643-1999 §4: 17-digit body + 1 check character

# GB 11643-1999 §7.1 / ISO 7064 MOD 11-2: W_i = 2^(18-i) mod 11 for positions i = 1..17.
_ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999 §7.2: check character indexed by (Σ a_i × W_i) mod 11; 10 is written 'X'.
_ID_NUMBER_CHECK = "10X98765432"
# Earliest birth date accepted. GB 11643-1999 does not set one; dates before 1900 are typos.
_ID_NUMBER_EARLIEST_BIRTH = datetime.date(1900, 1, 1)


def id_number_check_digit(first17: str) -> str:
    """The check character (position 18, '0'-'9' or 'X') for the 17-digit body of an ID number.

    GB 11643-1999 §7: ISO 7064 MOD 11-2 with weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2.
    Raises ValueError unless `first17` is 17 ASCII digits (after cleaning).
    """
    body = _clean(first17)
    if len(body) != _ID_NUMBER_LENGTH - 1 or not _all_digits(body):
        raise ValueError(f"expected 17 digits, got {body!r}")
    total = sum(int(ch) * w for ch, w in zip(body, _ID_NUMBER_WEIGHTS, strict=True))
    return _ID_NUMBER_CHECK[total % 11]


def _id_number_birth_date(number: str) -> datetime.date | None:
    """The birth date in positions 7-14 (GB 11643-1999 §6.2, YYYYMMDD), if it is a real date."""
    digits = number[6:14]
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _id_number_error(value: str) -> str | None:
    """The first reason `value` is not a valid ID number, or None if it is valid."""
    number = _clean(value)  # also normalises a trailing 'x' to 'X'
    if len(number) != _ID_NUMBER_LENGTH:
        return "length"
    # GB 11643-1999 §5: six-digit address code, eight-digit birth date, three-digit sequence code,
    # then the check character, which alone may be 'X'.
    if not _all_digits(number[:17]) or number[17] not in _ID_NUMBER_CHECK:
        return "characters"
    birth = _id_number_birth_date(number)
    if birth is None or not (_ID_NUMBER_EARLIEST_BIRTH <= birth <= datetime.date.today()):
        return "birth_date"
    if id_number_check_digit(number[:17]) != number[17]:
        return "check"
    return None


def is_valid_id_number(value: str) -> bool:
    """True if `value` is an 18-character GB 11643-1999 ID number.

    Checks the digits, that positions 7-14 are a calendar date from 1900-01-01 to today, and the
    check character ('x' is accepted as 'X'). 15-digit first-generation numbers are rejected.
    """
    return isinstance(value, str) and _id_number_error(value) is None


def make_id_number(region6: str, birth: datetime.date, seq3: str) -> str:
    """An ID number from a 6-digit address code, birth date and 3-digit sequence code.

    The sequence code's last digit is odd for men and even for women (GB 11643-1999 §6.3).
    Raises ValueError if `region6` or `seq3` is not 6 or 3 ASCII digits.
    """
    if len(region6) != 6 or not _all_digits(region6):
        raise ValueError(f"region6 must be 6 digits, got {region6!r}")
    if len(seq3) != 3 or not _all_digits(seq3):
        raise ValueError(f"seq3 must be 3 digits, got {seq3!r}")
    body = f"{region6}{birth:%Y%m%d}{seq3}"
    if len(body) != 17:  # years before 1000 format with fewer than four digits
        raise ValueError(f"birth year must have four digits, got {birth.year}")
    return body + id_number_check_digit(body)


# ---------------------------------------------------------------------------------------------
# Mainland mobile numbers
# ---------------------------------------------------------------------------------------------

# 11 digits, 1 then 3-9: the mobile number blocks of the national numbering plan
# (《电信网编号计划》, MIIT). The country code +86 (ITU-T E.164) is optional on input.
_MOBILE_SEPARATORS_RE = re.compile(r"[\s\-]+")
_MOBILE_RE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")


def _mobile_digits(value: str) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = _MOBILE_SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", value))
    match = _MOBILE_RE.fullmatch(cleaned)
    return match.group(1) if match else None


def is_valid_mobile(value: str) -> bool:
    """True if `value` is a mainland mobile number, allowing spaces, hyphens and +86 / 86."""
    return _mobile_digits(value) is not None


def normalise_mobile(value: str) -> str:
    """The 11 digits of a mainland mobile number; ValueError if `value` is not one."""
    digits = _mobile_digits(value)
    if digits is None:
        raise ValueError(f"not a mainland mobile number: {value!r}")
    return digits


def _mobile_error(value: str) -> str | None:
    if _mobile_digits(value) is not None:
        return None
    cleaned = _MOBILE_SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", value))
    national = re.sub(r"^(?:\+86|86(?=[0-9]{11}$))", "", cleaned)
    if any(ch not in _ASCII_DIGITS for ch in national):
        return "characters"
    if len(national) != 11:
        return "length"
    return "prefix"


# ---------------------------------------------------------------------------------------------
# Django validators
# ---------------------------------------------------------------------------------------------

_CREDIT_CODE_MESSAGES = {
    "length": _(
        "Enter a valid unified social credit code (18 characters, GB 32100-2015); "
        "this one has %(length)d characters."
    ),
    "characters": _(
        "Enter a valid unified social credit code (GB 32100-2015); it may contain only digits "
        "and the capital letters A–Y except I, O, S, V and Z."
    ),
    "division": _(
        "Enter a valid unified social credit code (GB 32100-2015); characters 3 to 8 must be "
        "the six-digit administrative division code."
    ),
    "check": _(
        "Enter a valid unified social credit code (18 characters, GB 32100-2015); "
        "the check character does not match."
    ),
}

_ID_NUMBER_MESSAGES = {
    "length": _(
        "Enter a valid 18-character citizen ID number (GB 11643-1999); "
        "this one has %(length)d characters."
    ),
    "characters": _(
        "Enter a valid citizen ID number (GB 11643-1999); the first 17 characters must be "
        "digits and the last a digit or X."
    ),
    "birth_date": _(
        "Enter a valid citizen ID number (GB 11643-1999); characters 7 to 14 must be a real "
        "birth date between 1900-01-01 and today."
    ),
    "check": _(
        "Enter a valid citizen ID number (GB 11643-1999); the check character (the last one) "
        "does not match."
    ),
}

_MOBILE_MESSAGES = {
    "characters": _(
        "Enter a valid mainland China mobile number; only digits, spaces, hyphens and a +86 "
        "prefix are allowed."
    ),
    "length": _("Enter a valid mainland China mobile number; it must have 11 digits."),
    "prefix": _(
        "Enter a valid mainland China mobile number; it must start with 13 to 19 "
        "(11 digits in all)."
    ),
}


def validate_credit_code(value: str) -> None:
    """Django validator for a GB 32100-2015 unified social credit code."""
    reason = _credit_code_error(value) if isinstance(value, str) else "characters"
    if reason is not None:
        raise ValidationError(
            _CREDIT_CODE_MESSAGES[reason],
            code="invalid_credit_code",
            params={"value": value, "length": len(_clean(value)) if reason == "length" else 0},
        )


def validate_id_number(value: str) -> None:
    """Django validator for a GB 11643-1999 18-character citizen ID number."""
    reason = _id_number_error(value) if isinstance(value, str) else "characters"
    if reason is not None:
        raise ValidationError(
            _ID_NUMBER_MESSAGES[reason],
            code="invalid_id_number",
            params={"value": value, "length": len(_clean(value)) if reason == "length" else 0},
        )


def validate_mobile(value: str) -> None:
    """Django validator for a mainland China mobile number (spaces, hyphens, +86 allowed)."""
    reason = _mobile_error(value) if isinstance(value, str) else "characters"
    if reason is not None:
        raise ValidationError(
            _MOBILE_MESSAGES[reason], code="invalid_mobile", params={"value": value}
        )
