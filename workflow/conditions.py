"""Gateway conditions: CEL expressions evaluated against a case's data.

Parsing and evaluation use cel-python's tree-walking interpreter (never its transpiler, which
runs generated Python through exec). Error messages are Chinese: they are shown to the people
who draw the processes.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache, wraps
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import bool_eq, bool_ge, bool_gt, bool_le, bool_lt, bool_ne

MAX_LENGTH = 2000

# Comprehension macros: the first argument names a variable bound inside the second.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Standard CEL functions and methods. celpy's `matches` uses Python regexes, which can backtrack
# catastrophically on case data, and its `reduce`/`min` are not CEL: all three are left out.
_ALLOWED_FUNCTIONS = _MACROS | {
    "has", "size", "contains", "startsWith", "endsWith", "type",
    "bool", "bytes", "double", "int", "uint", "string", "timestamp", "duration",
    "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getMonth",
    "getHours", "getMilliseconds", "getMinutes", "getSeconds",
}  # fmt: skip
# Type denotations that may appear as bare identifiers, e.g. `type(x) == int`.
_TYPE_NAMES = frozenset(
    {"bool", "bytes", "double", "int", "uint", "string", "list", "map", "null_type", "type"}
)


class ConditionError(Exception):
    """A condition that cannot be compiled or evaluated; the message is Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, eq=False)
class Compiled:
    text: str
    names: frozenset[str]  # top-level data names the expression reads
    runner: celpy.Runner


def _numeric_promotion(compare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Compare int with double as numbers (as current CEL does) instead of failing.

    Amounts arrive as Decimal → double, and `amount > 100000` must not need `100000.0`.
    """

    @wraps(compare)
    def compare_numbers(left: Any, right: Any) -> Any:
        if _is_int(left) and isinstance(right, celtypes.DoubleType):
            left = celtypes.DoubleType(left)
        elif isinstance(left, celtypes.DoubleType) and _is_int(right):
            right = celtypes.DoubleType(right)
        return compare(left, right)

    return compare_numbers


def _is_int(value: Any) -> bool:
    return isinstance(value, celtypes.IntType | celtypes.UintType)


_FUNCTIONS: dict[str, Any] = {
    "_<_": _numeric_promotion(bool_lt),
    "_<=_": _numeric_promotion(bool_le),
    "_>_": _numeric_promotion(bool_gt),
    "_>=_": _numeric_promotion(bool_ge),
    "_==_": _numeric_promotion(bool_eq),
    "_!=_": _numeric_promotion(bool_ne),
}

_environment = celpy.Environment()
# The lark parser and Environment.program keep per-call state on shared objects.
_compile_lock = threading.Lock()


@lru_cache(maxsize=1024)
def compile_condition(text: str) -> Compiled:
    source = text.strip()
    if not source:
        raise ConditionError("条件表达式为空")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"条件表达式过长（最多 {MAX_LENGTH} 个字符）")
    try:
        with _compile_lock:
            tree = _environment.compile(source)
            runner = _environment.program(tree, functions=_FUNCTIONS)
    except celpy.CELParseError as exc:
        raise ConditionError(f"条件表达式无法解析：{source}{_parse_position(exc)}") from exc
    except RecursionError as exc:
        raise ConditionError("条件表达式无法解析：嵌套层次过深") from exc
    unknown = sorted(_called_functions(tree) - _ALLOWED_FUNCTIONS)
    if unknown:
        raise ConditionError(f"条件表达式使用了不支持的函数：{'、'.join(unknown)}")
    return Compiled(text=source, names=frozenset(_names(tree, frozenset())), runner=runner)


def referenced_names(text: str) -> set[str]:
    return set(compile_condition(text).names)


def evaluate(text: str, data: Mapping[str, Any]) -> bool:
    compiled = compile_condition(text)
    missing = sorted(compiled.names - data.keys())
    if missing:
        raise ConditionError(f"条件「{compiled.text}」引用的数据不存在：{'、'.join(missing)}")
    activation = {name: _to_cel(data[name], name) for name in compiled.names}
    try:
        result = compiled.runner.evaluate(activation)
    except celpy.CELEvalError as exc:
        raise ConditionError(f"条件「{compiled.text}」求值失败：{_eval_reason(exc)}") from exc
    except Exception as exc:
        # celpy lets some Python errors through (overflow, bad conversions, recursion).
        raise ConditionError(f"条件「{compiled.text}」求值失败：{type(exc).__name__}") from exc
    if not isinstance(result, celtypes.BoolType):
        raise ConditionError(
            f"条件「{compiled.text}」的结果不是布尔值（true/false），而是 {_cel_type_name(result)}"
        )
    return bool(result)


def _children(tree: lark.Tree) -> Iterator[lark.Tree]:
    return (child for child in tree.children if isinstance(child, lark.Tree))


def _token(tree: lark.Tree, index: int = 0) -> str:
    return str(tree.children[index])


def _bound_variable(argument: lark.Tree) -> str | None:
    idents = list(argument.find_data("ident"))
    return _token(idents[0]) if len(idents) == 1 else None


def _called_functions(tree: lark.Tree) -> set[str]:
    called = {_token(call) for call in tree.find_data("ident_arg")}
    called |= {_token(call) for call in tree.find_data("dot_ident_arg")}
    called |= {_token(call, 1) for call in tree.find_data("member_dot_arg")}
    return called


def _names(tree: lark.Tree, bound: frozenset[str]) -> set[str]:
    kind = tree.data
    if kind == "ident":
        name = _token(tree)
        return set() if name in bound or name in _TYPE_NAMES else {name}
    if kind == "dot_ident":
        return {_token(tree)}
    if kind == "member_object":
        # `Type{field: value}`: the leading member is a message type name, not data.
        return _union(_names(child, bound) for child in list(_children(tree))[1:])
    if kind == "member_dot_arg":
        return _method_names(tree, bound)
    return _union(_names(child, bound) for child in _children(tree))


def _method_names(tree: lark.Tree, bound: frozenset[str]) -> set[str]:
    target, method = tree.children[0], str(tree.children[1])
    assert isinstance(target, lark.Tree)
    arguments: list[lark.Tree] = []
    if len(tree.children) > 2 and isinstance(tree.children[2], lark.Tree):
        arguments = list(_children(tree.children[2]))
    names = _names(target, bound)
    variable = _bound_variable(arguments[0]) if arguments else None
    if method in _MACROS and len(arguments) == 2 and variable:
        return names | _names(arguments[1], bound | {variable})
    return names | _union(_names(argument, bound) for argument in arguments)


def _union(parts: Iterator[set[str]]) -> set[str]:
    result: set[str] = set()
    for part in parts:
        result |= part
    return result


def _to_cel(value: Any, path: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        try:
            return celtypes.IntType(value)
        except ValueError as exc:
            raise ConditionError(f"数据 {path} 的整数超出范围") from exc
    if isinstance(value, float | Decimal):
        return celtypes.DoubleType(float(value))
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    if isinstance(value, datetime.datetime):
        return celtypes.TimestampType(value)
    if isinstance(value, datetime.date):
        # CEL has no date type: a date is its midnight UTC, so getFullYear() etc. work.
        return celtypes.TimestampType(
            datetime.datetime.combine(value, datetime.time(), datetime.UTC)
        )
    if isinstance(value, datetime.timedelta):
        return celtypes.DurationType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType(
            {celtypes.StringType(str(k)): _to_cel(v, f"{path}.{k}") for k, v in value.items()}
        )
    if isinstance(value, Sequence | Set):
        return celtypes.ListType([_to_cel(item, f"{path}[{i}]") for i, item in enumerate(value)])
    raise ConditionError(f"数据 {path} 的类型 {type(value).__name__} 不能用于条件表达式")


def _parse_position(exc: celpy.CELParseError) -> str:
    if exc.line and exc.column:
        return f"（第 {exc.line} 行第 {exc.column} 列附近有语法错误）"
    return ""


_QUOTED = re.compile(r"'([^']*)'")


def _eval_reason(exc: celpy.CELEvalError) -> str:
    detail = str(exc.args[0]) if exc.args else ""
    cause = exc.args[1] if len(exc.args) > 1 else None
    quoted = _QUOTED.search(detail)
    name = quoted.group(1) if quoted else ""
    if detail.startswith("no such member") or detail.startswith("no such key"):
        return f"数据中没有字段或键 {name}"
    if detail.startswith("undeclared reference"):
        return f"未知的函数或名称 {name}"
    if cause is ZeroDivisionError:
        return "除数为零"
    if "no matching overload" in detail or "no such overload" in detail:
        return "运算的数据类型不匹配（例如把文本和数字比较）"
    if cause is IndexError:
        return "列表下标越界"
    return f"无法计算（{detail[:100]}）"


def _cel_type_name(value: Any) -> str:
    names = {
        celtypes.IntType: "整数",
        celtypes.UintType: "整数",
        celtypes.DoubleType: "小数",
        celtypes.StringType: "文本",
        celtypes.ListType: "列表",
        celtypes.MapType: "映射",
        celtypes.TimestampType: "时间",
        celtypes.DurationType: "时长",
        celtypes.BytesType: "字节串",
    }
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
