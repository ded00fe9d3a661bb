"""Saved customer segments (客户细分): a condition tree evaluated on the customers a user may see.

A definition is `{"op": "and" | "or", "items": [condition | group, ...]}`, a condition
`{"field": <condition type key>, "values": [...], "negate": bool}`. Condition types live in a
registry (`CONDITION_TYPES`) so that later features add their own (ticket counts, satisfaction,
device facts, contract value …) with `condition_type_register` without touching the builder,
the validation or the pages: each type names its value kind and builds a `Q` on Customer.

The set is never stored: it is evaluated when used, inside `customers_visible_to(user)`, so a
segment never yields a customer its user may not see (a shared segment shows each user their
own part of it)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Region, RegionLevel, User
from audit.services import audit_record, changes_between, field_values
from customers.models import (
    Customer,
    CustomerCategory,
    CustomerKind,
    CustomerStatus,
    Segment,
    Tag,
)
from customers.selectors import customers_visible_to, region_filter_options, region_subtree_ids

MAX_DEPTH = 4  # the root group is level 1
MAX_CONDITIONS = 50
MAX_VALUES = 500  # values of one condition (a list of districts, tags …)
TEXT_MAX = 60
PREVIEW_SIZE = 20
SEGMENT_FIELDS = ("name", "description", "definition", "is_shared")


class ValueKind(StrEnum):
    CHOICES = "choices"  # codes from a fixed list (status, kind …)
    IDS = "ids"  # primary keys of rows (districts, tags, people …)
    TEXT = "text"  # words any of which the field contains
    DATE_RANGE = "date_range"  # [from, to] as YYYY-MM-DD, either may be blank
    PARAMS = "params"  # one value per entry of ConditionType.params, in order ("" = blank)


class ParamKind(StrEnum):
    INT = "int"
    DECIMAL = "decimal"
    CHOICE = "choice"


@dataclass(frozen=True)
class Param:
    """One input of a PARAMS condition (a count, an amount, a number of days, a kind)."""

    name: str
    label: str | Promise
    kind: ParamKind = ParamKind.INT
    required: bool = False
    minimum: int | Decimal = 0
    maximum: int | Decimal | None = None
    options: Callable[[], list[tuple[str, str]]] | None = None  # CHOICE
    unit: str | Promise = ""  # shown after the input: 天, 张, 元


Options = Callable[[], list[tuple[str, str]]]


@dataclass(frozen=True)
class ConditionType:
    """One kind of condition: its key in definitions, its label, how its values look and the
    `Q` on Customer it builds from cleaned values (ints for IDS, dates for DATE_RANGE)."""

    key: str
    label: str | Promise
    kind: ValueKind
    build: Callable[[list[Any]], Q]
    # CHOICES and IDS: the (value, label) pairs the builder offers; CHOICES also validate
    # against them.
    options: Options | None = None
    # IDS: "app_label.Model" whose rows the ids must name.
    model: str = ""
    # Shown under the value input in the builder.
    help_text: str | Promise = ""
    # PARAMS: the inputs; `build`, `check` and `phrase` get their values in this order (None
    # for a blank one; ints, Decimals or choice codes otherwise).
    params: tuple[Param, ...] = ()
    # PARAMS: a problem with the values together ("the minimum is above the maximum"), or None.
    check: Callable[[list[Any]], str | None] | None = None
    # PARAMS: the condition in words for describe() (“近 30 天工单数 ≥ 3”).
    phrase: Callable[[list[Any]], str] | None = None


CONDITION_TYPES: dict[str, ConditionType] = {}


def condition_type_register(condition_type: ConditionType) -> ConditionType:
    """Add (or replace) a condition type; the builder offers types in registration order."""
    CONDITION_TYPES[condition_type.key] = condition_type
    return condition_type


# --- the built-in condition types ------------------------------------------------------------


def _customers_with(through: type[models.Model], column: str, ids: list[Any]) -> Q:
    # A subquery, not a join: no duplicate rows, and NOT/OR combine without surprises.
    return Q(pk__in=through._default_manager.filter(**{f"{column}__in": ids}).values("customer_id"))


def region_options() -> list[tuple[str, str]]:
    """The provinces, cities and districts that hold customers (the customer list's cached
    options plus the provinces above them), by code."""
    ids = [pk for pk, _label, _level in region_filter_options()]
    cities = Region.objects.filter(id__in=ids, level=RegionLevel.CITY).values("parent_id")
    rows = (
        Region.objects.filter(Q(id__in=ids) | Q(id__in=cities))
        .order_by("code")
        .values_list("id", "full_name")
    )
    return [(str(pk), label) for pk, label in rows]


def _tag_options() -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in Tag.objects.values_list("pk", "name")]


def _owner_options() -> list[tuple[str, str]]:
    owners = User.objects.filter(Exists(Customer.objects.filter(owner_id=OuterRef("pk"))))
    return [(str(u.pk), str(u)) for u in owners.order_by("display_name", "username")]


def _project_options() -> list[tuple[str, str]]:
    project = apps.get_model("inquiries", "Project")
    return [(str(pk), name) for pk, name in project.objects.values_list("pk", "name")]


def _choices(choices: Iterable[tuple[str, Any]]) -> Options:
    pairs = list(choices)
    return lambda: [(value, str(label)) for value, label in pairs]


def _local_day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _created_between(values: list[Any]) -> Q:
    start, end = values
    condition = Q()
    if start is not None:
        condition &= Q(created_at__gte=_local_day_start(start))
    if end is not None:  # the whole end day counts
        condition &= Q(created_at__lt=_local_day_start(end + dt.timedelta(days=1)))
    return condition


def _industry(values: list[Any]) -> Q:
    condition = Q()
    for text in values:
        condition |= Q(industry__icontains=text)
    return condition


condition_type_register(
    ConditionType(
        "region",
        gettext_lazy("District"),
        ValueKind.IDS,
        lambda ids: Q(region_id__in=region_subtree_ids(ids)),
        options=region_options,
        model="accounts.Region",
        help_text=gettext_lazy("A province or city includes every district in it."),
    )
)
condition_type_register(
    ConditionType(
        "kind",
        gettext_lazy("Customer kind"),
        ValueKind.CHOICES,
        lambda values: Q(kind__in=values),
        options=_choices(CustomerKind.choices),
    )
)
condition_type_register(
    ConditionType(
        "category",
        gettext_lazy("Category"),
        ValueKind.CHOICES,
        lambda values: Q(category__in=values),
        options=_choices(CustomerCategory.choices),
    )
)
condition_type_register(
    ConditionType(
        "industry",
        gettext_lazy("Industry"),
        ValueKind.TEXT,
        _industry,
        help_text=gettext_lazy("Any of the words, separated by commas."),
    )
)
condition_type_register(
    ConditionType(
        "status",
        gettext_lazy("Status"),
        ValueKind.CHOICES,
        lambda values: Q(status__in=values),
        options=_choices(CustomerStatus.choices),
    )
)
condition_type_register(
    ConditionType(
        "tag",
        gettext_lazy("Tags"),
        ValueKind.IDS,
        lambda ids: _customers_with(Customer.tags.through, "tag_id", ids),
        options=_tag_options,
        model="customers.Tag",
        help_text=gettext_lazy("Customers with any of the tags."),
    )
)
condition_type_register(
    ConditionType(
        "owner",
        gettext_lazy("Account manager"),
        ValueKind.IDS,
        lambda ids: Q(owner_id__in=ids),
        options=_owner_options,
        model="accounts.User",
    )
)
if apps.is_installed("inquiries"):
    condition_type_register(
        ConditionType(
            "inquiry_project",
            gettext_lazy("Inquiry project"),
            ValueKind.IDS,
            lambda ids: _customers_with(
                apps.get_model("inquiries", "Project").customers.through, "project_id", ids
            ),
            options=_project_options,
            model="inquiries.Project",
            help_text=gettext_lazy("Customers linked to any of the projects."),
        )
    )
condition_type_register(
    ConditionType(
        "created",
        gettext_lazy("Created between"),
        ValueKind.DATE_RANGE,
        _created_between,
        help_text=gettext_lazy("Either date may be left blank."),
    )
)


# --- validation ------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_group(node: object) -> bool:
    return isinstance(node, dict) and "items" in node


def _problem(number: str, label: str | Promise, text: str) -> ValidationError:
    return ValidationError(
        _("Condition %(number)s (%(label)s): %(problem)s")
        % {"number": number, "label": label, "problem": text}
    )


def _clean_ids(number: str, ctype: ConditionType, values: Sequence[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit():
            raise _problem(
                number, ctype.label, _("“%(value)s” is not one of the choices.") % {"value": text}
            )
        ids.append(int(text))
    ids = sorted(set(ids))
    model = apps.get_model(ctype.model)
    if model._default_manager.filter(pk__in=ids).count() != len(ids):
        raise _problem(number, ctype.label, _("some of the chosen values no longer exist."))
    return ids


def _clean_choices(number: str, ctype: ConditionType, values: Sequence[Any]) -> list[str]:
    allowed = {value for value, _label in ctype.options()} if ctype.options else set()
    cleaned: list[str] = []
    for value in values:
        text = str(value).strip()
        if text not in allowed:
            raise _problem(
                number, ctype.label, _("“%(value)s” is not one of the choices.") % {"value": text}
            )
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def _clean_text(number: str, ctype: ConditionType, values: Sequence[Any]) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        text = str(value).replace("\x00", "").strip()
        if len(text) > TEXT_MAX:
            raise _problem(
                number,
                ctype.label,
                _("each text is at most %(max)d characters.") % {"max": TEXT_MAX},
            )
        if text and text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise _problem(number, ctype.label, _("choose at least one value."))
    return cleaned


def _clean_dates(number: str, ctype: ConditionType, values: Sequence[Any]) -> list[str]:
    if len(values) != 2:
        raise _problem(number, ctype.label, _("give a start date, an end date or both."))
    days: list[dt.date | None] = []
    for value in values:
        text = str(value or "").strip()
        if not text:
            days.append(None)
            continue
        try:
            if not _DATE_RE.match(text):
                raise ValueError(text)
            days.append(dt.date.fromisoformat(text))
        except ValueError:
            raise _problem(number, ctype.label, _("enter dates as YYYY-MM-DD.")) from None
    start, end = days
    if start is None and end is None:
        raise _problem(number, ctype.label, _("give a start date, an end date or both."))
    if start is not None and end is not None and start > end:
        raise _problem(number, ctype.label, _("the start date is after the end date."))
    return [day.isoformat() if day else "" for day in days]


def _param_value(number: str, ctype: ConditionType, param: Param, text: str) -> Any:
    if param.kind == ParamKind.CHOICE:
        allowed = {value for value, _label in param.options()} if param.options else set()
        if text not in allowed:
            raise _problem(
                number, ctype.label, _("“%(value)s” is not one of the choices.") % {"value": text}
            )
        return text
    value: int | Decimal
    try:
        if param.kind == ParamKind.INT:
            if not re.fullmatch(r"-?\d{1,9}", text):
                raise ValueError(text)
            value = int(text)
        else:
            value = Decimal(text)
            if not value.is_finite() or abs(value) >= Decimal("1e12"):
                raise ValueError(text)
            value = value.quantize(Decimal("0.01"))
    except (ValueError, InvalidOperation):
        raise _problem(
            number,
            ctype.label,
            _("“%(param)s” must be a number.") % {"param": param.label},
        ) from None
    if value < param.minimum:
        raise _problem(
            number,
            ctype.label,
            _("“%(param)s” must be at least %(min)s.")
            % {"param": param.label, "min": param.minimum},
        )
    if param.maximum is not None and value > param.maximum:
        raise _problem(
            number,
            ctype.label,
            _("“%(param)s” must be at most %(max)s.")
            % {"param": param.label, "max": param.maximum},
        )
    return value


def _clean_params(number: str, ctype: ConditionType, raw: Sequence[Any]) -> list[str]:
    if len(raw) > len(ctype.params):
        raise _problem(number, ctype.label, _("too many values."))
    texts = [str(v if v is not None else "").replace("\x00", "").strip() for v in raw]
    texts += [""] * (len(ctype.params) - len(texts))
    typed: list[Any] = []
    for param, text in zip(ctype.params, texts, strict=True):
        if not text:
            if param.required:
                raise _problem(
                    number, ctype.label, _("fill in “%(param)s”.") % {"param": param.label}
                )
            typed.append(None)
            continue
        typed.append(_param_value(number, ctype, param, text))
    if ctype.check is not None:
        problem = ctype.check(typed)
        if problem:
            raise _problem(number, ctype.label, problem)
    return ["" if value is None else str(value) for value in typed]


def params_typed(ctype: ConditionType, values: Sequence[Any]) -> list[Any]:
    """Stored (already cleaned) PARAMS values as ints, Decimals, codes or None."""
    texts = [str(v) for v in values] + [""] * (len(ctype.params) - len(values))
    typed: list[Any] = []
    for param, text in zip(ctype.params, texts, strict=False):
        if not text:
            typed.append(None)
        elif param.kind == ParamKind.INT:
            typed.append(int(text))
        elif param.kind == ParamKind.DECIMAL:
            typed.append(Decimal(text))
        else:
            typed.append(text)
    return typed


def _clean_condition(node: dict[str, Any], number: str) -> dict[str, Any]:
    key = node.get("field")
    ctype = CONDITION_TYPES.get(key) if isinstance(key, str) else None
    if ctype is None:
        raise ValidationError(
            _("Condition %(number)s: unknown condition type “%(field)s”.")
            % {"number": number, "field": key}
        )
    raw = node.get("values", [])
    if not isinstance(raw, list | tuple):
        raw = [raw]
    if ctype.kind == ValueKind.PARAMS:
        cleaned_params: dict[str, Any] = {
            "field": ctype.key,
            "values": _clean_params(number, ctype, raw),
        }
        if node.get("negate"):
            cleaned_params["negate"] = True
        return cleaned_params
    if ctype.kind != ValueKind.DATE_RANGE and not [v for v in raw if str(v).strip()]:
        raise _problem(number, ctype.label, _("choose at least one value."))
    if len(raw) > MAX_VALUES:
        raise _problem(number, ctype.label, _("at most %(max)d values.") % {"max": MAX_VALUES})
    values: list[Any]
    if ctype.kind == ValueKind.IDS:
        values = _clean_ids(number, ctype, [v for v in raw if str(v).strip()])
    elif ctype.kind == ValueKind.CHOICES:
        values = _clean_choices(number, ctype, [v for v in raw if str(v).strip()])
    elif ctype.kind == ValueKind.TEXT:
        values = _clean_text(number, ctype, raw)
    else:
        values = _clean_dates(number, ctype, raw)
    cleaned: dict[str, Any] = {"field": ctype.key, "values": values}
    if node.get("negate"):
        cleaned["negate"] = True
    return cleaned


@dataclass
class _Counter:
    conditions: int = 0


def _clean_group(node: object, number: str, depth: int, counter: _Counter) -> dict[str, Any]:
    if not isinstance(node, dict) or not isinstance(node.get("items"), list):
        raise ValidationError(_("The conditions are not in the expected form."))
    if depth > MAX_DEPTH:
        raise ValidationError(
            _("Groups may be nested at most %(max)d levels deep.") % {"max": MAX_DEPTH - 1}
        )
    op = node.get("op", "and")
    if op not in ("and", "or"):
        raise ValidationError(_("Group %(number)s: choose AND or OR.") % {"number": number or "1"})
    items: list[dict[str, Any]] = []
    for index, item in enumerate(node["items"], start=1):
        item_number = f"{number}.{index}" if number else str(index)
        if is_group(item):
            group = _clean_group(item, item_number, depth + 1, counter)
            if not group["items"]:
                raise ValidationError(
                    _("Group %(number)s is empty: add a condition to it or remove it.")
                    % {"number": item_number}
                )
            items.append(group)
        elif isinstance(item, dict):
            counter.conditions += 1
            if counter.conditions > MAX_CONDITIONS:
                raise ValidationError(
                    _("A segment has at most %(max)d conditions.") % {"max": MAX_CONDITIONS}
                )
            items.append(_clean_condition(item, item_number))
        else:
            raise ValidationError(_("The conditions are not in the expected form."))
    return {"op": op, "items": items}


def segment_validate(definition: object) -> dict[str, Any]:
    """The definition cleaned (ids as sorted ints, texts trimmed, dates as YYYY-MM-DD), or a
    ValidationError naming the condition at fault by its number ("2.1": the first item of the
    second item's group)."""
    cleaned = _clean_group(definition, "", 1, counter := _Counter())
    if counter.conditions == 0:
        raise ValidationError(_("Add at least one condition."))
    return cleaned


def has_conditions(definition: object) -> bool:
    """Whether the tree holds at least one condition (so that validating it is worthwhile)."""
    if not is_group(definition):
        return False
    assert isinstance(definition, dict)
    return any(
        has_conditions(item) if is_group(item) else isinstance(item, dict)
        for item in definition.get("items", [])
    )


# --- evaluation ------------------------------------------------------------------------------


def _values_for_build(ctype: ConditionType, values: list[Any]) -> list[Any]:
    if ctype.kind == ValueKind.DATE_RANGE:
        return [dt.date.fromisoformat(v) if v else None for v in values]
    if ctype.kind == ValueKind.PARAMS:
        return params_typed(ctype, values)
    return values


def _q(node: dict[str, Any]) -> Q:
    if is_group(node):
        parts = [_q(item) for item in node["items"]]
        combined = Q()
        for part in parts:
            combined = (combined & part) if node["op"] == "and" else (combined | part)
        return combined
    ctype = CONDITION_TYPES[node["field"]]
    condition = ctype.build(_values_for_build(ctype, node["values"]))
    return ~condition if node.get("negate") else condition


def segment_q(definition: object) -> Q:
    """The definition (validated here) as a `Q` on Customer."""
    return _q(segment_validate(definition))


def segment_queryset(user: User, definition: object) -> QuerySet[Customer]:
    """The customers of the segment that `user` may see, never more."""
    return customers_visible_to(user).filter(segment_q(definition))


def segment_count(user: User, definition: object) -> int:
    return segment_queryset(user, definition).order_by().count()


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    rows: list[Customer]


def segment_preview(user: User, definition: object, size: int = PREVIEW_SIZE) -> SegmentPreview:
    qs = segment_queryset(user, definition)
    rows = list(qs.select_related("region", "owner").order_by("-id")[:size])
    count = len(rows) if len(rows) < size else qs.order_by().count()
    return SegmentPreview(count=count, rows=rows)


def describe(definition: object) -> str:
    """The conditions as one readable line: 区县 是 南昌市 且（状态 是 在服 或 标签 是 医院）."""
    if not is_group(definition):
        return ""
    assert isinstance(definition, dict)
    joiner = _(" and ") if definition.get("op", "and") == "and" else _(" or ")
    parts = []
    for item in definition.get("items", []):
        if is_group(item):
            parts.append(f"（{describe(item)}）")
            continue
        ctype = CONDITION_TYPES.get(item.get("field", ""))
        if ctype is None:
            continue
        if ctype.kind == ValueKind.PARAMS and ctype.phrase is not None:
            phrase = ctype.phrase(params_typed(ctype, list(item.get("values", []))))
            if item.get("negate"):
                phrase = _("not (%(condition)s)") % {"condition": phrase}
            parts.append(phrase)
            continue
        shown = _shown_values(ctype, [str(v) for v in item.get("values", [])])
        verb = _("is not") if item.get("negate") else _("is")
        parts.append(f"{ctype.label} {verb} {shown}")
    return joiner.join(parts)


def _shown_values(ctype: ConditionType, values: list[str]) -> str:
    if ctype.kind == ValueKind.DATE_RANGE:
        start, end = [*values, "", ""][:2]
        return f"{start or '…'} – {end or '…'}"
    if ctype.kind == ValueKind.IDS:
        model = apps.get_model(ctype.model)
        ids = [int(v) for v in values if v.isdigit()]
        labels = {str(obj.pk): str(obj) for obj in model._default_manager.filter(pk__in=ids)}
        return "、".join(labels.get(v, v) for v in values)
    if ctype.kind == ValueKind.CHOICES and ctype.options is not None:
        labels = dict(ctype.options())
        return "、".join(labels.get(v, v) for v in values)
    return "、".join(values)


# --- reads of saved segments -----------------------------------------------------------------


def segments_visible_to(user: User) -> QuerySet[Segment]:
    """Shared segments for everyone who may use segments; private ones for their owner."""
    if not user.is_active or not user.has_perm("customers.view_segment"):
        return Segment.objects.none()
    return Segment.objects.filter(Q(is_shared=True) | Q(owner=user)).select_related("owner")


def segment_get(user: User, pk: int) -> Segment:
    found = segments_visible_to(user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


# --- segments as list filters ----------------------------------------------------------------


def segment_filter_options(user: User) -> list[tuple[int, str]]:
    """The segments `user` may filter lists by (their own and the shared ones), by name."""
    return list(segments_visible_to(user).order_by("name", "pk").values_list("pk", "name"))


def segment_for_filter(user: User, raw: object) -> Segment | None:
    """The segment a list's `segment` parameter names, if `user` may use it; anything else
    (not a number, another user's private segment, no permission) is ignored as no filter."""
    text = str(raw or "").strip()
    if not text.isdigit() or len(text) > 12:
        return None
    return segments_visible_to(user).filter(pk=int(text)).first()


def segment_members_q(segment: Segment, prefix: str = "", user: User | None = None) -> Q:
    """A `Q` selecting the segment's customers (`prefix` "customer__" for rows that belong to a
    customer). Without `user` the definition alone narrows the list, for lists that already
    show only rows of customers their user may see (customers, tickets); with `user` the
    customers are limited to those `user` may see, for lists that also show rows by other
    routes (an inquiry assigned to its team). A definition that no longer validates (a tag
    deleted since) matches nothing rather than everything."""
    try:
        condition = segment_q(segment.definition)
    except ValidationError:
        return Q(pk__in=[])
    customers = customers_visible_to(user) if user is not None else Customer.objects.all()
    if not prefix:
        return condition if user is None else Q(pk__in=customers.filter(condition).values("pk"))
    return Q(**{f"{prefix}in": customers.filter(condition).values("pk")})


# --- writes ----------------------------------------------------------------------------------


def _require_visible(actor: User, segment: Segment, perm: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(perm)
    if not segments_visible_to(actor).filter(pk=segment.pk).exists():
        raise PermissionDenied("segment not visible")


def segment_save(
    *,
    actor: User,
    segment: Segment | None,
    name: str,
    description: str,
    definition: object,
    is_shared: bool,
) -> Segment:
    """Create a segment (`segment` None) or change one; the definition is validated first."""
    if segment is None:
        if not actor.has_perm("customers.add_segment"):
            raise PermissionDenied("customers.add_segment")
    else:
        _require_visible(actor, segment, "customers.change_segment")
    name = (name or "").replace("\x00", "").strip()
    description = (description or "").replace("\x00", "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Fill in this field.")]
    elif len(name) > 60:
        errors["name"] = [_("At most %(limit)d characters.") % {"limit": 60}]
    if len(description) > 200:
        errors["description"] = [_("At most %(limit)d characters.") % {"limit": 200}]
    try:
        cleaned = segment_validate(definition)
    except ValidationError as exc:
        errors["definition"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if segment is None:
            before: dict[str, Any] = {}
            segment = Segment(owner=actor)
            action = "segment.create"
        else:
            segment = Segment.objects.select_for_update().get(pk=segment.pk)
            before = field_values(segment, SEGMENT_FIELDS)
            action = "segment.update"
        redefined = action == "segment.update" and segment.definition != cleaned
        segment.name = name
        segment.description = description
        segment.definition = cleaned
        segment.is_shared = bool(is_shared)
        segment.save()
        if redefined:
            _report_figures_drop(segment)
        audit_record(
            actor=actor,
            action=action,
            obj=segment,
            changes=changes_between(before, field_values(segment, SEGMENT_FIELDS)),
        )
    return segment


def _scheduled_notices_using(segment: Segment) -> list[str]:
    """Titles of notices waiting to be sent to this segment (it must outlive them)."""
    if not apps.is_installed("inquiries"):
        return []
    notice = apps.get_model("inquiries", "Notice")
    return list(
        notice.objects.filter(
            status__in=["scheduled", "sending"], audience__segment=segment.pk
        ).values_list("title", flat=True)[:3]
    )


def _report_figures_drop(segment: Segment) -> None:
    """The reports' precomputed figures of the segment no longer hold (another definition, or
    the segment is going): they are dropped, the reports count live till the next refresh."""
    if apps.is_installed("reports"):
        from reports.segment_figures import segment_figures_drop

        segment_figures_drop(segment.pk)


def segment_delete(*, actor: User, segment: Segment) -> None:
    _require_visible(actor, segment, "customers.delete_segment")
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        waiting = _scheduled_notices_using(segment)
        if waiting:
            raise ValidationError(
                _("Notice “%(title)s” is waiting to be sent to this segment: change it first.")
                % {"title": waiting[0]}
            )
        audit_record(
            actor=actor,
            action="segment.delete",
            obj=segment,
            changes=changes_between(field_values(segment, SEGMENT_FIELDS), {}),
        )
        _report_figures_drop(segment)
        segment.delete()


# The condition types on customers' history (contracts, tickets, contacts, surveys, devices)
# register themselves when imported; they need this module's names, hence the late import.
from customers import segment_facts  # noqa: E402, F401
