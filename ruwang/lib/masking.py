"""Masking (脱敏) of personal data shown on screens and written to the audit log."""

from __future__ import annotations

import re

MASK = "******"

# Field names whose values never appear in the audit log, whatever the model.
SECRET_FIELDS = frozenset(
    {"password", "secret", "key", "token", "otp_secret", "id_number", "id_number_hash"}
)
# Field names whose values appear masked (mobile 138****5678, e-mail z***@example.com).
PERSONAL_FIELDS = frozenset({"mobile", "phone", "landline", "email"})


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return MASK


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return MASK
    return (local[:1] or "") + "***@" + domain


_PHONE_RE = re.compile(r"^\+?\d[\d\- ]{6,}$")


def mask_name(value: str) -> str:
    """李四 → 李*, 欧阳娜娜 → 欧***: the family name stays readable."""
    value = value.strip()
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def mask_field(name: str, value: object) -> object:
    """The value to store in the audit log for field `name`."""
    if value in (None, ""):
        return value
    lowered = name.lower()
    if lowered in SECRET_FIELDS or lowered.endswith(("_secret", "_token", "_key", "_encrypted")):
        return MASK
    if lowered in PERSONAL_FIELDS or lowered.endswith(("_mobile", "_phone", "_email")):
        text = str(value)
        if "@" in text:
            return mask_email(text)
        if _PHONE_RE.match(text):
            return mask_phone(text)
        return MASK
    return value
