import datetime
from decimal import Decimal

import pytest

from workflow.conditions import ConditionError, compile_condition, evaluate, referenced_names

CASE = {
    "contract_amount": Decimal("128000.50"),
    "building_type": "商场",
    "floors": 12,
    "approved": True,
    "tags": ["重点客户", "连锁"],
    "customer": {"name": "南昌万达广场", "level": "A", "region": {"code": "360102"}},
    "signed_on": datetime.date(2024, 5, 20),
    "submitted_at": datetime.datetime(2024, 5, 21, 9, 30, tzinfo=datetime.UTC),
    "notes": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("floors >= 10", True),
        ("floors < 10", False),
        ('building_type == "商场"', True),
        ('building_type != "商场"', False),
        ("notes == null", True),
    ],
)
def test_comparisons(text, expected):
    assert evaluate(text, CASE) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approved && floors > 10", True),
        ("!approved || floors > 100", False),
        ('!(building_type == "住宅")', True),
        ("floors > 100 ? false : approved", True),
    ],
)
def test_logical_operators(text, expected):
    assert evaluate(text, CASE) is expected


def test_in_on_lists():
    assert evaluate('"重点客户" in tags', CASE) is True
    assert evaluate('building_type in ["住宅", "写字楼"]', CASE) is False


def test_string_functions():
    assert evaluate('customer.name.startsWith("南昌") && customer.name.contains("万达")', CASE)
    assert evaluate('building_type.endsWith("场") && size(building_type) == 2', CASE)


def test_nested_map_access():
    assert evaluate('customer.region.code == "360102"', CASE) is True
    assert evaluate('customer["level"] in ["A", "B"]', CASE) is True
    assert evaluate("has(customer.vip)", CASE) is False


def test_decimal_amounts_compare_with_integer_and_decimal_literals():
    assert evaluate("contract_amount > 100000", CASE) is True
    assert evaluate("contract_amount <= 128000.5", CASE) is True
    assert evaluate("contract_amount == 128000.50", CASE) is True


def test_dates_and_times_are_timestamps():
    assert evaluate("signed_on.getFullYear() == 2024", CASE) is True
    assert evaluate('submitted_at > timestamp("2024-05-20T00:00:00Z")', CASE) is True
    assert evaluate('submitted_at - signed_on > duration("24h")', CASE) is True


def test_list_macros():
    assert evaluate('tags.exists(t, t.startsWith("重点"))', CASE) is True
    assert evaluate("tags.all(t, size(t) >= 2)", CASE) is True
    assert evaluate("[1, 2, 3].filter(n, n > floors).size() == 0", CASE) is True


def test_a_missing_name_is_an_error_not_false():
    with pytest.raises(ConditionError, match="引用的数据不存在：budget"):
        evaluate("budget > 100 || approved", CASE)


def test_a_missing_map_key_is_an_error_naming_the_key():
    with pytest.raises(ConditionError, match="没有字段或键 vip"):
        evaluate("customer.vip", CASE)


def test_a_non_boolean_result_is_an_error():
    with pytest.raises(ConditionError, match=r"结果不是布尔值.*整数"):
        evaluate("floors + 1", CASE)


def test_a_type_mismatch_is_an_error():
    with pytest.raises(ConditionError, match="类型不匹配"):
        evaluate('floors > "10"', CASE)


def test_data_of_an_unsupported_type_is_an_error():
    with pytest.raises(ConditionError, match="不能用于条件表达式"):
        evaluate("thing == 1", {"thing": object()})


@pytest.mark.parametrize("text", ["floors >", "amount => 5", "(approved", "   "])
def test_unparsable_text_is_an_error(text):
    with pytest.raises(ConditionError) as raised:
        compile_condition(text)
    assert "条件表达式" in raised.value.message


def test_unknown_and_unsafe_functions_are_refused_when_compiling():
    with pytest.raises(ConditionError, match="不支持的函数：lower"):
        compile_condition("building_type.lower() == 'x'")
    with pytest.raises(ConditionError, match="不支持的函数：matches"):
        compile_condition('building_type.matches("(a+)+$")')


def test_compiled_conditions_are_cached():
    assert compile_condition("floors > 1") is compile_condition("floors > 1")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("a.b == 1 && size(c) > 0", {"a", "c"}),
        ("true && x != null", {"x"}),
        ('customer.level in ["A", "B"] || contract_amount > 1e5', {"customer", "contract_amount"}),
        ("items.exists(x, x.price > limit)", {"items", "limit"}),
        ("items.map(i, i.qty).all(q, q > 0)", {"items"}),
        ("rows.exists(r, r.tags.exists(t, t == r.kind))", {"rows"}),
        ("x.all(x, x > 0)", {"x"}),
        ("has(customer.vip) && type(floors) == int", {"customer", "floors"}),
        ("{k: v}[key] == 1", {"k", "v", "key"}),
        ("name.startsWith(prefix)", {"name", "prefix"}),
    ],
)
def test_referenced_names(text, names):
    assert referenced_names(text) == names


def test_referenced_names_of_unparsable_text_is_an_error():
    with pytest.raises(ConditionError):
        referenced_names("a ==")
