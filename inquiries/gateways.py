"""Gateways for short messages to customers: SMS and WeCom (企业微信).

Which class serves a channel is a setting (a dotted path), so a deployment plugs in its
provider without touching the notices: `INQUIRY_SMS_GATEWAY`, `INQUIRY_WECOM_GATEWAY`. The
default, `LoggingGateway`, sends nothing: it logs each message and keeps it in memory, which is
what development and the tests need."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from inquiries.models import DeliveryChannel

logger = logging.getLogger(__name__)

DEFAULT_GATEWAY = "inquiries.gateways.LoggingGateway"
# channel → the setting naming its gateway class
GATEWAY_SETTINGS = {
    DeliveryChannel.SMS: "INQUIRY_SMS_GATEWAY",
    DeliveryChannel.WECOM: "INQUIRY_WECOM_GATEWAY",
}


class GatewayError(Exception):
    """The provider refused or could not take the message; the text is kept in the delivery
    log, so it should say what went wrong in words staff can act on."""


class MessageGateway(Protocol):
    """A provider of short messages. Classes are constructed with the keyword `channel` (the
    delivery channel they serve, "sms" or "wecom") and may keep a connection for their
    lifetime: one instance sends one batch of a notice."""

    def send(self, to: str, text: str) -> str:
        """Send `text` to `to` (a mobile number) and return the provider's message id; raise
        GatewayError when the message was not accepted."""
        ...


@dataclass(frozen=True)
class SentMessage:
    channel: str
    to: str
    text: str
    message_id: str


class LoggingGateway:
    """Sends nothing: logs the message and appends it to `LoggingGateway.sent` (tests read and
    clear that list)."""

    sent: ClassVar[list[SentMessage]] = []

    def __init__(self, channel: str = "") -> None:
        self.channel = channel

    def send(self, to: str, text: str) -> str:
        if not to.strip():
            raise GatewayError("no recipient")
        message_id = f"log-{uuid.uuid4().hex[:16]}"
        logger.info("%s message %s to %s: %s", self.channel or "gateway", message_id, to, text)
        LoggingGateway.sent.append(SentMessage(self.channel, to, text, message_id))
        return message_id


def gateway_for(channel: str) -> MessageGateway:
    """The configured gateway for "sms" or "wecom"; ImproperlyConfigured when the setting
    names no importable class."""
    setting = GATEWAY_SETTINGS.get(channel)  # type: ignore[call-overload]
    if setting is None:
        raise ValueError(f"no message gateway for channel {channel!r}")
    path = getattr(settings, setting, "") or DEFAULT_GATEWAY
    try:
        gateway_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{setting} = {path!r} cannot be imported: {exc}") from exc
    gateway: MessageGateway = gateway_class(channel=channel)
    return gateway
