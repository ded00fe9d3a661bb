"""TOTP two-factor authentication (django-otp)."""

from __future__ import annotations

import base64

import segno
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


def otp_required_for(user: User) -> bool:
    """Required for the configured roles; once a user enrolled a device, it is always asked."""
    return user.has_role(*settings.OTP_REQUIRED_ROLES) or has_confirmed_device(user)


def has_confirmed_device(user: User) -> bool:
    """Asked by the security middleware and by pages of the same request: once per user object."""
    cached: bool | None = user.__dict__.get("_rw_has_device")
    if cached is None:
        cached = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        user.__dict__["_rw_has_device"] = cached
    return cached


def forget_device_state(user: User) -> None:
    user.__dict__.pop("_rw_has_device", None)


def pending_device(user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled (created on first visit to the setup page)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="TOTP", confirmed=False)
    return device


def secret_base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def provisioning_uri(device: TOTPDevice) -> str:
    issuer = settings.OTP_TOTP_ISSUER
    label = f"{issuer}:{device.user.username}"
    return (
        f"otpauth://totp/{label}?secret={secret_base32(device)}&issuer={issuer}"
        f"&digits={device.digits}&period={device.step}"
    )


def qr_svg(device: TOTPDevice) -> str:
    """An inline SVG QR code of the provisioning URI (rendered here, no external service)."""
    return str(segno.make(provisioning_uri(device), error="m").svg_inline(scale=4))
