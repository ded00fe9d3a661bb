"""Forms of the collector registry (采集机台账): collectors, installation, removal, fire systems."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Site
from devices.gb26875.codes import SYSTEM_TYPES
from devices.models import (
    MAX_COLLECTOR_ADDRESS,
    AddressScheme,
    CollectorStatus,
    CommunicationLine,
)

# GB/T 26875.3-2011 §6: a collector address is 6 bytes.
ADDRESS_BYTES = 6
_SEPARATORS = re.compile(r"[\s:\-]+")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _hex_bytes(text: str) -> int | None:
    """The address of up to six hex bytes as printed on the label: little-endian, as the bytes
    travel (GB/T 26875.3-2011 §6), spaced ("01 00 00 00 00 00") or not ("010000000000")."""
    parts = [p for p in _SEPARATORS.split(text.strip()) if p]
    if len(parts) > 1:
        if not all(len(p) <= 2 and _HEX.match(p) for p in parts):
            return None
        raw = "".join(p.zfill(2) for p in parts)
    else:
        raw = parts[0] if parts else ""
        if not raw or not _HEX.match(raw) or len(raw) % 2:
            return None
    if len(raw) > 2 * ADDRESS_BYTES:
        return None
    return int.from_bytes(bytes.fromhex(raw), "little")


def address_candidates(text: str) -> set[int]:
    """Every address `text` may denote: decimal, a 0x-prefixed number, and label hex bytes.

    Twelve digits such as "010000000000" read both as a decimal number and as six hex bytes;
    a search matches either."""
    text = text.strip()
    found: set[int] = set()
    if not text:
        return found
    if text.isdigit() and int(text) <= MAX_COLLECTOR_ADDRESS:
        found.add(int(text))
    if text[:2].lower() == "0x" and _HEX.match(text[2:]):
        number = int(text[2:], 16)
        if number <= MAX_COLLECTOR_ADDRESS:
            found.add(number)
    elif (value := _hex_bytes(text)) is not None:
        found.add(value)
    return found


def parse_address(text: str) -> int:
    """One address from a form: digits only are decimal, anything else must be hex (label bytes,
    little-endian, or a 0x-prefixed number). Raises ValidationError naming the accepted forms."""
    text = text.strip()
    value: int | None
    if text.isdigit():
        value = int(text)
    elif text[:2].lower() == "0x" and _HEX.match(text[2:]):
        value = int(text[2:], 16)
    else:
        value = _hex_bytes(text)
    if value is None or value > MAX_COLLECTOR_ADDRESS:
        raise ValidationError(
            _(
                "Enter the address in decimal (0 to %(max)s) or as at most six hex bytes "
                "as on the label, e.g. 01 00 00 00 00 00."
            ),
            code="invalid",
            params={"max": MAX_COLLECTOR_ADDRESS},
        )
    return value


class AddressField(forms.Field):
    """A collector's protocol address typed in decimal or hex; cleans to an int."""

    widget = forms.TextInput(attrs={"maxlength": 40, "autocomplete": "off"})

    def to_python(self, value: Any) -> int | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        if len(text) > 40:
            raise ValidationError(
                _("Enter the address in decimal or hex, at most 40 characters."), code="invalid"
            )
        return parse_address(text)


class CollectorFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Address or serial number"),
        required=False,
        max_length=60,
        widget=forms.TextInput(
            attrs={"placeholder": _("e.g. 360102000001 or 01 00 00 00 00 00"), "type": "search"}
        ),
    )
    customer = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": _("Customer name"), "type": "search"}),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *CollectorStatus.choices]
    )
    line = forms.ChoiceField(
        label=_("Line"), required=False, choices=[("", _("All")), *CommunicationLine.choices]
    )


class CollectorForm(forms.Form):
    """A collector's own details (where it is installed is recorded by the install form)."""

    address = AddressField(
        label=_("Protocol address"),
        help_text=_(
            "Decimal (e.g. 360102000001) or the six hex bytes printed on the label "
            "(e.g. 01 00 00 00 00 00)."
        ),
    )
    serial_number = forms.CharField(label=_("Serial number"), max_length=40)
    manufacturer = forms.CharField(label=_("Manufacturer"), max_length=60, required=False)
    model = forms.CharField(label=_("Model"), max_length=60, required=False)
    firmware_version = forms.CharField(label=_("Firmware version"), max_length=20, required=False)
    line = forms.ChoiceField(label=_("Communication line"), choices=CommunicationLine.choices)
    iccid = forms.CharField(
        label=_("ICCID"),
        max_length=30,  # spaces allowed between groups of digits
        required=False,
        help_text=_("The SIM card number of a 4G collector: 19 or 20 digits from 89."),
    )
    heartbeat_seconds = forms.IntegerField(
        label=_("Heartbeat interval (s)"), min_value=10, max_value=86_400, initial=60
    )
    warranty_ends_on = forms.DateField(
        label=_("Warranty ends on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Left empty, it is set to one year after installation."),
    )

    def clean_serial_number(self) -> str:
        return str(self.cleaned_data["serial_number"]).strip()

    def clean_iccid(self) -> str:
        return re.sub(r"\s+", "", str(self.cleaned_data.get("iccid") or ""))


class CustomerLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Find the customer"),
        required=False,
        max_length=60,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("Customer number, name, pinyin or phone"),
                "type": "search",
                "autocomplete": "off",
            }
        ),
    )


class InstallForm(forms.Form):
    """备案: where the collector is installed, for one customer chosen beforehand."""

    site = forms.ModelChoiceField(label=_("Building"), queryset=Site.objects.none())
    location = forms.CharField(
        label=_("Location in the building"),
        max_length=120,
        widget=forms.TextInput(
            attrs={"placeholder": _("e.g. fire control room, ground floor east")}
        ),
    )
    installed_on = forms.DateField(
        label=_("Installed on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        assert isinstance(site, forms.ModelChoiceField)
        site.queryset = Site.objects.filter(customer=customer).order_by("id")
        if not self.is_bound:
            self.initial.setdefault("installed_on", timezone.localdate())

    def clean_location(self) -> str:
        return str(self.cleaned_data["location"]).strip()

    def clean_installed_on(self) -> Any:
        day = self.cleaned_data.get("installed_on")
        if day is not None and day > timezone.localdate():
            raise ValidationError(_("The installation date cannot be in the future."))
        return day


class RemoveForm(forms.Form):
    note = forms.CharField(
        label=_("Reason"),
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": _("e.g. customer left the service, sent for repair")}
        ),
    )
    retire = forms.BooleanField(
        label=_("Retire the collector for good (it can never be installed again)"),
        required=False,
    )
    confirm = forms.BooleanField(
        label=_("I confirm the collector is taken off the building"), required=True
    )

    def __init__(self, *args: Any, installed: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.installed = installed
        if not installed:
            self.fields["confirm"].label = _("I confirm the collector is retired")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.installed and not data.get("retire"):
            self.add_error(
                "retire",
                _("This collector is not installed anywhere: it can only be retired."),
            )
        return data


def system_type_choices() -> list[tuple[int, str]]:
    return [(code, f"{code} {name.zh}") for code, name in SYSTEM_TYPES.items()]


class FireSystemForm(forms.Form):
    system_type = forms.TypedChoiceField(
        label=_("System type"), coerce=int, choices=system_type_choices, initial=1
    )
    system_address = forms.IntegerField(
        label=_("System address"),
        min_value=0,
        max_value=255,
        initial=1,
        help_text=_("The panel's number on the collector, 0 to 255."),
    )
    brand = forms.CharField(label=_("Panel brand"), max_length=60, required=False)
    panel_model = forms.CharField(label=_("Panel model"), max_length=60, required=False)
    address_scheme = forms.ChoiceField(
        label=_("Component address scheme"),
        choices=AddressScheme.choices,
        initial=AddressScheme.HI16_LO16,
        help_text=_("How the panel splits a component address into loop and point number."),
    )
