"""The segment builder's form: a segment's name and sharing, and its condition tree posted as
flat fields named by each node's path ("n" the root group, "n-1" its second item, "n-1-0" the
first item of that group …), so that htmx can re-render the builder after every change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from customers.segments import (
    CONDITION_TYPES,
    MAX_CONDITIONS,
    MAX_DEPTH,
    ConditionType,
    ValueKind,
    is_group,
)

ROOT = "n"
_PATH_RE = re.compile(r"^n(-\d{1,2}){0,%d}$" % (MAX_DEPTH - 1))  # noqa: UP031 - a regex
_SPLIT_RE = re.compile(r"[,，、;；\n]+")
MAX_NODES = MAX_CONDITIONS * 2


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Segment name"), max_length=60)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    is_shared = forms.BooleanField(
        label=_("Shared with everyone who uses segments"), required=False, initial=True
    )


def empty_definition() -> dict[str, Any]:
    first = next(iter(CONDITION_TYPES))
    return {"op": "and", "items": [{"field": first, "values": []}]}


# --- posted fields → tree --------------------------------------------------------------------


def _condition_from(data: QueryDict, path: str) -> dict[str, Any]:
    key = data.get(f"field-{path}", "")
    ctype = CONDITION_TYPES.get(key)
    node: dict[str, Any] = {"field": key, "values": []}
    if data.get(f"negate-{path}"):
        node["negate"] = True
    # A new condition type: the old values mean nothing to it.
    if ctype is None or data.get(f"was-{path}", key) != key:
        return node
    if ctype.kind == ValueKind.TEXT:
        node["values"] = [t.strip() for t in _SPLIT_RE.split(data.get(f"text-{path}", "")) if t]
    elif ctype.kind == ValueKind.DATE_RANGE:
        node["values"] = [data.get(f"from-{path}", ""), data.get(f"to-{path}", "")]
    elif ctype.kind == ValueKind.PARAMS:
        node["values"] = [data.get(f"p{i}-{path}", "") for i in range(len(ctype.params))]
    else:
        node["values"] = [v for v in data.getlist(f"values-{path}") if v]
    return node


def tree_from_post(data: QueryDict) -> dict[str, Any]:
    """The condition tree the builder's fields describe (not validated: the services do that).
    Unknown or malformed paths are ignored."""
    paths = [p for p in data.getlist("node")[:MAX_NODES] if _PATH_RE.match(p)]
    nodes: dict[str, dict[str, Any]] = {ROOT: {"op": "and", "items": []}}
    order: dict[str, list[tuple[int, str]]] = {ROOT: []}
    for path in paths:
        if path == ROOT:
            continue
        if data.get(f"type-{path}") == "group":
            nodes[path] = {"op": "and", "items": []}
            order[path] = []
        else:
            nodes[path] = _condition_from(data, path)
    for path in sorted(nodes, key=lambda p: p.count("-")):
        if path == ROOT:
            continue
        parent, _sep, index = path.rpartition("-")
        if parent in order:
            order[parent].append((int(index), path))
    for path, children in order.items():
        nodes[path]["op"] = "or" if data.get(f"op-{path}") == "or" else "and"
        nodes[path]["items"] = [nodes[child] for _index, child in sorted(children)]
    return nodes[ROOT]


# --- builder actions -------------------------------------------------------------------------


def _node_at(tree: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, int]:
    """The group holding the node at `path` and its index there (None: no such node)."""
    indexes = [int(i) for i in path.split("-")[1:]]
    if not indexes:
        return None, -1
    group = tree
    for index in indexes[:-1]:
        items = group.get("items", [])
        if index >= len(items) or not is_group(items[index]):
            return None, -1
        group = items[index]
    if indexes[-1] >= len(group.get("items", [])):
        return None, -1
    return group, indexes[-1]


def _group_at(tree: dict[str, Any], path: str) -> dict[str, Any] | None:
    if path == ROOT:
        return tree
    parent, index = _node_at(tree, path)
    if parent is None:
        return None
    node = parent["items"][index]
    return node if is_group(node) else None


def _count_conditions(node: dict[str, Any]) -> int:
    if is_group(node):
        return sum(_count_conditions(item) for item in node["items"])
    return 1


def tree_apply(tree: dict[str, Any], action: str) -> dict[str, Any]:
    """Apply one builder button: "add:<group path>" (a condition), "group:<group path>" (a
    nested group holding one condition), "remove:<path>". Impossible actions change nothing
    (the limits are the validation's to explain)."""
    verb, _sep, path = action.partition(":")
    if not _PATH_RE.match(path):
        return tree
    first = next(iter(CONDITION_TYPES))
    if verb in ("add", "group"):
        group = _group_at(tree, path)
        if group is None or _count_conditions(tree) >= MAX_CONDITIONS:
            return tree
        depth = path.count("-") + 1
        if verb == "group" and depth < MAX_DEPTH:
            group["items"].append({"op": "and", "items": [{"field": first, "values": []}]})
        elif verb == "add":
            group["items"].append({"field": first, "values": []})
    elif verb == "remove":
        parent, index = _node_at(tree, path)
        if parent is not None:
            del parent["items"][index]
    return tree


# --- tree → what the builder template renders ------------------------------------------------


@dataclass
class BuilderParam:
    """One input of a PARAMS condition as the template renders it."""

    name: str  # the posted field, "p<index>-<path>"
    label: str
    kind: str
    value: str
    unit: str = ""
    required: bool = False
    minimum: str = ""
    maximum: str = ""
    options: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass
class BuilderNode:
    path: str
    number: str
    depth: int
    is_group: bool
    op: str = "and"
    children: list[BuilderNode] = field(default_factory=list)
    key: str = ""
    negate: bool = False
    kind: str = ""
    label: str = ""
    help_text: str = ""
    options: list[tuple[str, str, bool]] = field(default_factory=list)
    text: str = ""
    date_from: str = ""
    date_to: str = ""
    can_nest: bool = False
    params: list[BuilderParam] = field(default_factory=list)


def _builder_condition(node: dict[str, Any], path: str, number: str, depth: int) -> BuilderNode:
    key = str(node.get("field", ""))
    ctype = CONDITION_TYPES.get(key)
    values = [str(v) for v in node.get("values", [])]
    item = BuilderNode(
        path=path,
        number=number,
        depth=depth,
        is_group=False,
        key=key,
        negate=bool(node.get("negate")),
    )
    if ctype is None:
        return item
    item.kind = ctype.kind.value
    item.label = str(ctype.label)
    item.help_text = str(ctype.help_text)
    if ctype.kind in (ValueKind.CHOICES, ValueKind.IDS) and ctype.options is not None:
        chosen = set(values)
        item.options = [(value, label, value in chosen) for value, label in ctype.options()]
    elif ctype.kind == ValueKind.TEXT:
        item.text = "，".join(values)
    elif ctype.kind == ValueKind.PARAMS:
        item.params = _builder_params(ctype, path, values)
    else:
        item.date_from, item.date_to = [*values, "", ""][:2]
    return item


def _builder_params(ctype: ConditionType, path: str, values: list[str]) -> list[BuilderParam]:
    shown = [*values, *[""] * len(ctype.params)]
    params = []
    for index, param in enumerate(ctype.params):
        value = shown[index]
        params.append(
            BuilderParam(
                name=f"p{index}-{path}",
                label=str(param.label),
                kind=param.kind.value,
                value=value,
                unit=str(param.unit),
                required=param.required,
                minimum=str(param.minimum),
                maximum="" if param.maximum is None else str(param.maximum),
                options=[
                    (code, label, code == value)
                    for code, label in (param.options() if param.options else [])
                ],
            )
        )
    return params


def builder_tree(
    definition: object, path: str = ROOT, number: str = "", depth: int = 1
) -> BuilderNode:
    """The tree as nested BuilderNodes for the template (a malformed definition shows as an
    empty group)."""
    group = definition if is_group(definition) else {"op": "and", "items": []}
    assert isinstance(group, dict)
    node = BuilderNode(
        path=path,
        number=number,
        depth=depth,
        is_group=True,
        op="or" if group.get("op") == "or" else "and",
        can_nest=depth < MAX_DEPTH,
    )
    for index, item in enumerate(group.get("items", [])):
        child_path = f"{path}-{index}"
        child_number = f"{number}.{index + 1}" if number else str(index + 1)
        if is_group(item):
            node.children.append(builder_tree(item, child_path, child_number, depth + 1))
        elif isinstance(item, dict):
            node.children.append(_builder_condition(item, child_path, child_number, depth + 1))
    return node


def condition_type_choices() -> list[tuple[str, str]]:
    return [(key, str(ctype.label)) for key, ctype in CONDITION_TYPES.items()]
