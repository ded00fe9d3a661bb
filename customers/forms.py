from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Region, RegionLevel, User
from accounts.widgets import DistrictSelect
from customers.models import (
    STATUS_TRANSITIONS,
    ConsentChannel,
    Contact,
    Customer,
    CustomerCategory,
    CustomerKind,
    CustomerStatus,
    DocumentKind,
    Site,
    Tag,
)


class CustomerForm(forms.ModelForm):
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        help_text=_("Separate tags with commas, e.g. 医院, 高层"),
    )

    class Meta:
        model = Customer
        fields = (
            "kind",
            "name",
            "short_name",
            "credit_code",
            "licence_number",
            "category",
            "industry",
            "region",
            "address",
            "latitude",
            "longitude",
            "owner",
            "source_channel",
            "notes",
        )
        widgets = {"notes": forms.Textarea(attrs={"rows": 3}), "region": DistrictSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region = self.fields["region"]
        assert isinstance(region, forms.ModelChoiceField)
        region.queryset = Region.objects.filter(level=RegionLevel.DISTRICT, is_active=True)
        region.label_from_instance = lambda r: r.full_name  # type: ignore[method-assign,assignment]
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = User.objects.filter(
            is_active=True, groups__role__code__in=["account_manager", "market_manager"]
        ).distinct()
        if self.instance.pk:
            self.initial["tags"] = ", ".join(t.name for t in self.instance.tags.all())

    def validate_unique(self) -> None:
        """Uniqueness is checked by the service, whose message names the existing customer."""

    def clean_credit_code(self) -> str | None:
        return (self.cleaned_data.get("credit_code") or "").strip().upper() or None

    def tag_objects(self) -> list[Tag]:
        names = [n.strip() for n in self.cleaned_data.get("tags", "").replace("，", ",").split(",")]
        return [Tag.objects.get_or_create(name=n[:30])[0] for n in names if n]

    def service_data(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "tags"}


class CustomerFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("Name, pinyin, initials, phone, credit code or ID number"),
                "type": "search",
            }
        ),
    )
    # Validated against the region table; the page renders the options itself
    # (selectors.region_filter_options) because thousands of widget options render slowly.
    region = forms.ModelChoiceField(
        label=_("Region"),
        required=False,
        queryset=Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.DISTRICT]),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *CustomerStatus.choices]
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All")), *CustomerCategory.choices]
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *CustomerKind.choices]
    )
    owner = forms.ModelChoiceField(
        label=_("Account manager"),
        required=False,
        queryset=User.objects.filter(groups__role__code="account_manager").distinct(),
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=30)
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            ("-id", _("Newest first")),
            ("id", _("Oldest first")),
            ("name", _("Name A–Z")),
            ("-name", _("Name Z–A")),
            ("-updated", _("Recently updated")),
        ],
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=CustomerStatus.choices)
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = STATUS_TRANSITIONS.get(current, frozenset())
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.choices = [(v, label) for v, label in CustomerStatus.choices if v in allowed]


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("name", "role", "mobile", "landline", "email", "is_primary")


class ConsentForm(forms.Form):
    notice_version = forms.CharField(label=_("Privacy notice version"), max_length=20)
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    given_at = forms.DateTimeField(
        label=_("Given at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    covers_id_number = forms.BooleanField(
        label=_("Covers the ID number"), required=False, initial=True
    )


class IdNumberForm(forms.Form):
    id_number = forms.CharField(label=_("ID number"), min_length=18, max_length=18)


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = (
            "name",
            "address",
            "use",
            "structure",
            "fire_resistance",
            "height_m",
            "floors_above",
            "floors_below",
            "floor_area_m2",
            "construction_year",
            "control_room_location",
            "control_room_phone",
            "max_occupancy",
        )


class FloorForm(forms.Form):
    number = forms.IntegerField(
        label=_("Floor number"), help_text=_("1, 2 … above ground; -1, -2 … basement")
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=40)
    area_m2 = forms.DecimalField(label=_("Area (m²)"), required=False, max_digits=10)
    plan = forms.FileField(label=_("Floor plan (image or PDF)"), required=False)


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=DocumentKind.choices)
    title = forms.CharField(label=_("Title"), max_length=120)
    site = forms.ModelChoiceField(label=_("Site"), required=False, queryset=Site.objects.none())
    file = forms.FileField(label=_("File"))

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        assert isinstance(site, forms.ModelChoiceField)
        site.queryset = Site.objects.filter(customer=customer)


class VersionForm(forms.Form):
    file = forms.FileField(label=_("File"))


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Spreadsheet (.xlsx or .csv)"),
        help_text=_("CSV files may be UTF-8 (with or without BOM) or GBK/GB18030."),
    )

    def clean_file(self) -> Any:
        from django.conf import settings

        upload = self.cleaned_data["file"]
        name = upload.name.lower()
        if not name.endswith((".xlsx", ".csv")):
            raise forms.ValidationError(_("Upload an Excel workbook (.xlsx) or a CSV file (.csv)."))
        if upload.size > settings.DOCUMENT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.")
                % {"mb": settings.DOCUMENT_MAX_BYTES // (1024 * 1024)}
            )
        return upload
