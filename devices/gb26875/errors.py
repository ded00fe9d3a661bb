"""The one exception the codec raises on bad input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from devices.gb26875.frame import Header

__all__ = ["FRAME_ERROR_KINDS", "FrameError", "FrameErrorKind"]

# GB/T 26875.3-2011 §6.5 lists the check errors a receiver answers with a deny: checksum, an
# unrecognised command byte, an over-long ADU, a wrong start or end marker. "truncated" and "adu"
# (undecodable information objects) are this codec's own additions.
FrameErrorKind = Literal["start", "end", "checksum", "length", "command", "truncated", "adu"]
FRAME_ERROR_KINDS: tuple[FrameErrorKind, ...] = (
    "start",
    "end",
    "checksum",
    "length",
    "command",
    "truncated",
    "adu",
)


class FrameError(Exception):
    """A frame (or the bytes that were meant to be one) the codec rejects.

    `header` is the control unit as read when the error was found after it, so a gateway can answer
    with a deny (`nak_for(error.header)`); `raw` holds the rejected bytes for the log.
    """

    def __init__(
        self,
        kind: FrameErrorKind,
        message: str,
        *,
        header: Header | None = None,
        raw: bytes = b"",
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: FrameErrorKind = kind
        self.message = message
        self.header = header
        self.raw = raw
