from django import forms
from django.utils.translation import gettext_lazy as _


class OtpTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Verification code"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        error_messages={
            "required": _("Enter the 6-digit code from your authenticator app."),
            "min_length": _("Enter the 6-digit code from your authenticator app."),
        },
    )
