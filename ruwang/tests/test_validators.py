"""Validators for credit codes (GB 32100-2015), ID numbers (GB 11643-1999) and mobiles. No DB."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from ruwang.lib.validators import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    id_number_check_digit,
    is_valid_credit_code,
    is_valid_id_number,
    is_valid_mobile,
    make_credit_code,
    make_id_number,
    normalise_mobile,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
)

GOOD_CREDIT_CODE = "91350100M000100Y43"  # textbook example of GB 32100-2015
GOOD_ID_NUMBER = "11010519491231002X"  # textbook example of GB 11643-1999
DIGITS = "0123456789"
ID_CHECK_CHARS = DIGITS + "X"


def validation_message(validator: Callable[[str], None], value: str) -> tuple[str | None, str]:
    """The (code, English message) of the ValidationError `validator` raises for `value`."""
    with pytest.raises(ValidationError) as exc_info, translation.override("en"):
        validator(value)
    error = exc_info.value
    with translation.override("en"):
        return error.code, " ".join(error.messages)


# --- Unified social credit code, GB 32100-2015 ---------------------------------------------------


def test_textbook_credit_code_is_valid():
    assert credit_code_check_char(GOOD_CREDIT_CODE[:17]) == "3"
    assert is_valid_credit_code(GOOD_CREDIT_CODE)
    assert make_credit_code(GOOD_CREDIT_CODE[:17]) == GOOD_CREDIT_CODE
    validate_credit_code(GOOD_CREDIT_CODE)


def test_credit_code_input_is_cleaned():
    assert is_valid_credit_code(" 91350100m000100y43 ")
    assert is_valid_credit_code("913501 00M000 100Y43")
    assert is_valid_credit_code("９１３５０１００Ｍ０００１００Ｙ４３")  # full-width input


def test_credit_code_check_value_31_is_written_zero():
    # Search a prefix whose weighted sum is ≡ 0 (mod 31): 31 - 0 = 31 → '0'.
    prefix = next(
        f"9111000000000{n:04d}"
        for n in range(10000)
        if credit_code_check_char(f"9111000000000{n:04d}") == "0"
    )
    assert is_valid_credit_code(prefix + "0")
    # ... and a value of 30 is written 'Y', the last character of the code set.
    prefix = next(
        f"9111000000000{n:04d}"
        for n in range(10000)
        if credit_code_check_char(f"9111000000000{n:04d}") == "Y"
    )
    assert is_valid_credit_code(prefix + "Y")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "has 0 characters"),
        ("91350100M000100Y4", "has 17 characters"),
        ("91350100M000100Y433", "has 19 characters"),
        ("91350100M000100I43", "except I, O, S, V and Z"),
        ("91350100M000100O43", "except I, O, S, V and Z"),
        ("91350100M000100S43", "except I, O, S, V and Z"),
        ("91350100M000100Y4-", "except I, O, S, V and Z"),
        (make_credit_code("9135A100M000100Y4"), "administrative division code"),
        ("91350100M000100Y44", "check character does not match"),
        ("91350100M000100Y34", "check character does not match"),
    ],
)
def test_invalid_credit_codes_say_why(value, fragment):
    assert not is_valid_credit_code(value)
    code, message = validation_message(validate_credit_code, value)
    assert code == "invalid_credit_code"
    assert fragment in message


def test_credit_code_check_char_refuses_bad_input():
    with pytest.raises(ValueError, match="17 characters"):
        credit_code_check_char("91350100M000100Y")
    with pytest.raises(ValueError, match="code set"):
        credit_code_check_char("91350100M000100I4")
    with pytest.raises(ValueError, match="17 characters"):
        make_credit_code(GOOD_CREDIT_CODE)


credit_code_prefixes = st.builds(
    lambda head, division, tail: head + division + tail,
    st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=2, max_size=2),
    st.text(alphabet=DIGITS, min_size=6, max_size=6),
    st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=9, max_size=9),
)


@settings(max_examples=200)
@given(credit_code_prefixes)
def test_generated_credit_codes_are_valid(prefix17):
    code = make_credit_code(prefix17)
    assert len(code) == 18 and code.startswith(prefix17)
    assert is_valid_credit_code(code)
    assert is_valid_credit_code(code.lower())
    validate_credit_code(code)


@settings(max_examples=200)
@given(credit_code_prefixes, st.integers(0, 17), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_any_single_character_change_breaks_a_credit_code(prefix17, position, replacement):
    code = make_credit_code(prefix17)
    if code[position] == replacement:
        replacement = CREDIT_CODE_ALPHABET[(CREDIT_CODE_ALPHABET.index(replacement) + 1) % 31]
    changed = code[:position] + replacement + code[position + 1 :]
    assert changed != code
    assert not is_valid_credit_code(changed)
    with pytest.raises(ValidationError):
        validate_credit_code(changed)


# --- Citizen ID number, GB 11643-1999 -------------------------------------------------------------


def test_textbook_id_number_is_valid():
    assert id_number_check_digit(GOOD_ID_NUMBER[:17]) == "X"
    assert is_valid_id_number(GOOD_ID_NUMBER)
    assert is_valid_id_number(GOOD_ID_NUMBER.lower())  # trailing 'x' is accepted as 'X'
    assert is_valid_id_number(f" {GOOD_ID_NUMBER} ")
    assert make_id_number("110105", datetime.date(1949, 12, 31), "002") == GOOD_ID_NUMBER
    validate_id_number(GOOD_ID_NUMBER.lower())


def _with_check(body17: str) -> str:
    return body17 + id_number_check_digit(body17)


def test_birth_date_bounds_are_inclusive():
    today = datetime.date.today()
    assert is_valid_id_number(make_id_number("110105", datetime.date(1900, 1, 1), "001"))
    assert is_valid_id_number(make_id_number("110105", today, "001"))
    assert not is_valid_id_number(make_id_number("110105", datetime.date(1899, 12, 31), "001"))
    assert not is_valid_id_number(make_id_number("110105", today + datetime.timedelta(1), "001"))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "has 0 characters"),
        ("110105491231002", "has 15 characters"),  # first-generation 15-digit number
        ("11010519491231002", "has 17 characters"),
        ("11010519491231002X1", "has 19 characters"),
        ("1101051949123100X2", "last a digit or X"),
        ("11010519491231002A", "last a digit or X"),
        ("11010519491231-02X", "last a digit or X"),
        (_with_check("11010519490230002"), "real birth date"),  # 30 February
        (_with_check("11010519491301002"), "real birth date"),  # month 13
        (_with_check("11010518991231002"), "real birth date"),  # before 1900
        (_with_check("11010599991231002"), "real birth date"),  # in the future
        ("110105194912310021", "check character"),
        ("11010519491231003X", "check character"),
    ],
)
def test_invalid_id_numbers_say_why(value, fragment):
    assert not is_valid_id_number(value)
    code, message = validation_message(validate_id_number, value)
    assert code == "invalid_id_number"
    assert fragment in message


def test_id_number_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="17 digits"):
        id_number_check_digit("1101051949123100")
    with pytest.raises(ValueError, match="17 digits"):
        id_number_check_digit("1101051949123100X")
    with pytest.raises(ValueError, match="region6"):
        make_id_number("11010", datetime.date(1990, 1, 1), "001")
    with pytest.raises(ValueError, match="seq3"):
        make_id_number("110105", datetime.date(1990, 1, 1), "01a")


id_number_parts = st.tuples(
    st.text(alphabet=DIGITS, min_size=6, max_size=6),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date.today()),
    st.text(alphabet=DIGITS, min_size=3, max_size=3),
)


@settings(max_examples=200)
@given(id_number_parts)
def test_generated_id_numbers_are_valid(parts):
    number = make_id_number(*parts)
    assert len(number) == 18
    assert is_valid_id_number(number)
    validate_id_number(number)


@settings(max_examples=200)
@given(id_number_parts, st.integers(0, 17), st.sampled_from(ID_CHECK_CHARS))
def test_any_single_character_change_breaks_an_id_number(parts, position, replacement):
    number = make_id_number(*parts)
    if number[position] == replacement:
        replacement = ID_CHECK_CHARS[(ID_CHECK_CHARS.index(replacement) + 1) % 11]
    changed = number[:position] + replacement + number[position + 1 :]
    assert changed != number
    assert not is_valid_id_number(changed)
    with pytest.raises(ValidationError):
        validate_id_number(changed)


# --- Mainland mobile numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "19912345678",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+86-13800138000",
        "8613800138000",
        "１３８００１３８０００",  # full-width digits from a Chinese input method
    ],
)
def test_valid_mobiles(value):
    assert is_valid_mobile(value)
    assert normalise_mobile(value) in {"13800138000", "19912345678"}
    validate_mobile(value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "11 digits"),
        ("1380013800", "11 digits"),
        ("138001380001", "11 digits"),
        ("+86 1380013800", "11 digits"),
        ("12800138000", "start with 13 to 19"),
        ("10000000000", "start with 13 to 19"),
        ("+86 12800138000", "start with 13 to 19"),
        ("23800138000", "start with 13 to 19"),
        ("138 0013 800a", "only digits"),
        ("(+86) 13800138000", "only digits"),
        ("+1 13800138000", "only digits"),
        ("13800138000+86", "only digits"),
    ],
)
def test_invalid_mobiles_say_why(value, fragment):
    assert not is_valid_mobile(value)
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile(value)
    code, message = validation_message(validate_mobile, value)
    assert code == "invalid_mobile"
    assert fragment in message


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@st.composite
def formatted_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(11-digit mobile, the same number written with a prefix and separators)."""
    digits = draw(mobiles)
    prefix = draw(st.sampled_from(["", "86", "+86", "+86 ", "+86-", " +86  "]))
    separators = st.text(alphabet=" -", max_size=2)
    body = "".join(draw(separators) + ch for ch in digits) + draw(separators)
    return digits, prefix + body


@settings(max_examples=200)
@given(formatted_mobiles())
def test_mobile_normalisation_round_trips(pair):
    digits, written = pair
    assert is_valid_mobile(written)
    assert normalise_mobile(written) == digits
    assert normalise_mobile(digits) == digits
    assert normalise_mobile("+86 " + normalise_mobile(written)) == digits
