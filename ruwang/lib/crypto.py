"""Field encryption for personal data (ID numbers) and keyed hashes for exact lookup.

The key (RUWANG_FIELD_KEY) lives outside the database, like the audit key: a stolen database
dump reveals neither the numbers nor, through the hash, a dictionary of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _derive(purpose: bytes) -> bytes:
    return hmac.new(settings.FIELD_ENCRYPTION_KEY.encode(), purpose, hashlib.sha256).digest()


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"ruwang-field-encryption-v1")))


def encrypt_text(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("the stored value cannot be decrypted with the configured key") from exc


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised value, for exact-match lookup of encrypted fields."""
    return hmac.new(
        _derive(b"ruwang-lookup-hash-v1"), value.strip().upper().encode(), hashlib.sha256
    ).hexdigest()
