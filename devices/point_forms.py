"""Forms of the point table: one point, the import upload, the list filters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from customers.models import Floor
from devices.gb26875 import codes
from devices.models import MAX_COMPONENT_ADDRESS, AddressScheme, FireSystem, Point
from devices.point_import import AddressError, address_from_parts

ADDRESS_BY_PARTS = "parts"
ADDRESS_RAW = "raw"


def code_choices(table: Mapping[int, codes.CodeName], extra: Iterable[int] = ()) -> list[Any]:
    """`code name` options of a GB/T 26875.3 table, plus codes in use that it does not name
    (vendor codes 128–255), so editing such a record keeps its value."""
    known = [(code, f"{code} {name.zh}") for code, name in table.items()]
    others = [
        (code, f"{code} {codes.VENDOR_DEFINED.zh}")
        for code in sorted(set(extra))
        if code not in table
    ]
    return known + others


def floor_label(floor: Floor, several_sites: bool) -> str:
    return f"{floor.site.name} · {floor.name}" if several_sites else floor.name


class FloorChoiceField(forms.ModelChoiceField):
    several_sites = False

    def label_from_instance(self, obj: Any) -> str:
        return floor_label(obj, self.several_sites)


class PointForm(forms.Form):
    """A point's address is entered as loop + number under its system's scheme, or raw."""

    address_entry = forms.ChoiceField(
        label=_("Address entered as"),
        choices=[
            (ADDRESS_BY_PARTS, _("Loop and point number")),
            (ADDRESS_RAW, _("Raw component address")),
        ],
        initial=ADDRESS_BY_PARTS,
        widget=forms.RadioSelect,
    )
    loop = forms.IntegerField(label=_("Loop / zone"), min_value=0, required=False)
    number = forms.IntegerField(label=_("Point number"), min_value=0, required=False)
    component_address = forms.IntegerField(
        label=_("Raw component address"),
        min_value=0,
        max_value=MAX_COMPONENT_ADDRESS,
        required=False,
        help_text=_("The 4-byte address the panel reports, in decimal."),
    )
    native_code = forms.CharField(
        label=_("Panel code"),
        max_length=40,
        required=False,
        help_text=_("The code the panel shows for this point."),
    )
    component_type = forms.TypedChoiceField(label=_("Component type"), coerce=int)
    floor = FloorChoiceField(label=_("Floor"), queryset=Floor.objects.none(), required=False)
    location = forms.CharField(label=_("Location"), max_length=120, required=False)
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        system: FireSystem,
        floors: Any,
        point: Point | None = None,
        **kwargs: Any,
    ) -> None:
        if point is not None:
            kwargs.setdefault(
                "initial",
                {
                    "address_entry": ADDRESS_BY_PARTS,
                    "loop": point.loop,
                    "number": point.number,
                    "component_address": point.component_address,
                    "native_code": point.native_code,
                    "component_type": point.component_type,
                    "floor": point.floor_id,
                    "location": point.location,
                    "enabled": point.enabled,
                },
            )
        super().__init__(*args, **kwargs)
        self.system = system
        self.point = point
        self.splits = system.address_scheme != AddressScheme.NONE
        if not self.splits:
            self.fields["address_entry"].initial = ADDRESS_RAW
            self.initial["address_entry"] = ADDRESS_RAW
        type_field = self.fields["component_type"]
        assert isinstance(type_field, forms.TypedChoiceField)
        type_field.choices = [
            ("", "---------"),
            *code_choices(codes.COMPONENT_TYPES, [point.component_type] if point else []),
        ]
        floor_field = self.fields["floor"]
        assert isinstance(floor_field, FloorChoiceField)
        floor_field.queryset = floors
        floor_field.several_sites = len({f.site_id for f in floors}) > 1

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        entry = data.get("address_entry")
        if entry == ADDRESS_RAW:
            if data.get("component_address") is None:
                if "component_address" not in self.errors:
                    self.add_error("component_address", _("Fill in the component address."))
                return data
            self._check_unique(data["component_address"], "component_address")
            return data
        if entry != ADDRESS_BY_PARTS or self.errors.keys() & {"loop", "number"}:
            return data
        if data.get("number") is None:
            self.add_error("number", _("Fill in the point number."))
            return data
        try:
            data["component_address"] = address_from_parts(
                self.system.address_scheme, data.get("loop"), data["number"]
            )
        except AddressError as exc:
            self.add_error(exc.column, exc.message)
            return data
        self._check_unique(data["component_address"], "number")
        return data

    def _check_unique(self, address: int, field: str) -> None:
        others = self.system.points.filter(component_address=address)
        if self.point is not None:
            others = others.exclude(pk=self.point.pk)
        other = others.first()
        if other is not None:
            self.add_error(
                field,
                _("Point %(point)s of this system already has this address.") % {"point": other},
            )

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "component_address": data["component_address"],
            "native_code": data["native_code"].strip(),
            "component_type": data["component_type"],
            "floor": data["floor"],
            "location": data["location"].strip(),
            "enabled": data["enabled"],
        }


class PointImportForm(forms.Form):
    file = forms.FileField(label=_("Point table (.xlsx)"))
    replace = forms.BooleanField(
        label=_("Update existing points"),
        required=False,
        help_text=_(
            "A row whose address is already in the point table updates that point. "
            "Without this, such a row is an error."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise forms.ValidationError(_("Upload an Excel workbook (.xlsx)."))
        if upload.size > settings.DOCUMENT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.")
                % {"mb": settings.DOCUMENT_MAX_BYTES // (1024 * 1024)}
            )
        return upload


class PointFilterForm(forms.Form):
    NO_FLOOR = "none"

    floor = forms.ChoiceField(label=_("Floor"), required=False)
    type = forms.TypedChoiceField(label=_("Component type"), coerce=int, required=False)

    def __init__(
        self, *args: Any, floors: list[Floor], types: Iterable[int], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        several_sites = len({f.site_id for f in floors}) > 1
        floor_field = self.fields["floor"]
        assert isinstance(floor_field, forms.ChoiceField)
        floor_field.choices = [
            ("", _("All floors")),
            *[(str(f.pk), floor_label(f, several_sites)) for f in floors],
            (self.NO_FLOOR, _("No floor")),
        ]
        type_field = self.fields["type"]
        assert isinstance(type_field, forms.TypedChoiceField)
        type_field.choices = [
            ("", _("All types")),
            *[(code, f"{code} {codes.component_type_name(code)}") for code in sorted(types)],
        ]
