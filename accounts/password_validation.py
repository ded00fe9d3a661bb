"""Password rules of the 等保 2.0 level 3 baseline, on top of Django's length and common checks."""

from __future__ import annotations

import string
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def character_classes(password: str) -> int:
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        # Anything else counts as a symbol, including full-width punctuation and CJK characters.
        any(not (c.isascii() and c.isalnum()) for c in password),
    ]
    return sum(classes)


class CharacterClassesValidator:
    """At least N of: lowercase, uppercase, digits, symbols."""

    def __init__(self, min_classes: int = 3) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        if character_classes(password) < self.min_classes:
            raise ValidationError(
                ngettext(
                    "The password must mix at least %(n)d kind of character "
                    "(lowercase, uppercase, digits, symbols).",
                    "The password must mix at least %(n)d kinds of characters "
                    "(lowercase, uppercase, digits, symbols).",
                    self.min_classes,
                )
                % {"n": self.min_classes},
                code="password_too_few_classes",
            )

    def get_help_text(self) -> str:
        return _(
            "Use at least %(n)d of: lowercase letters, uppercase letters, digits, symbols."
        ) % {"n": self.min_classes}


class NotUsernameValidator:
    """The password may not be the username (in any letter case, or reversed)."""

    def validate(self, password: str, user: Any = None) -> None:
        username = getattr(user, "username", "") or ""
        if not username:
            return
        lowered = password.lower()
        name = username.lower()
        if lowered in (name, name[::-1]):
            raise ValidationError(
                _("The password may not be the same as the username."),
                code="password_is_username",
            )

    def get_help_text(self) -> str:
        return _("The password may not be the same as the username.")
