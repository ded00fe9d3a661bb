from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User


class DefinitionUploadForm(forms.Form):
    file = forms.FileField(
        label=_("BPMN file"),
        help_text=_("A .bpmn or .xml file saved by bpmn-js or Camunda Modeler."),
    )

    MAX_BYTES = 2 * 1024 * 1024

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        if not upload.name.lower().endswith((".bpmn", ".xml")):
            raise forms.ValidationError(_("Choose a .bpmn or .xml file."))
        raw = upload.read()
        try:
            self._xml = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from exc
        return upload

    def xml(self) -> str:
        return self._xml


class DelegateForm(forms.Form):
    to = forms.ModelChoiceField(label=_("Hand over to"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args: Any, candidates: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["to"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = candidates
        field.label_from_instance = lambda u: u.display_name or u.username  # type: ignore[method-assign,assignment]
