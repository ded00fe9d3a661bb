"""A small fixed-window rate limit on Django's cache: at most `limit` hits per `window` seconds
for one key (a client IP on the public question form).

Windows are aligned to the epoch, so the moment the current window ends — when the caller may
try again — is known without storing anything else. A burst straddling a boundary can reach
twice the limit; for keeping bots off a public form that is good enough, and it costs one cache
round trip.

The counter is created with `cache.add` (atomic: only one process creates it) and raised with
`cache.incr`, which is atomic on Redis and the in-process memory cache. The file cache's `incr`
reads then writes, so two simultaneous hits may count once: the limit can be exceeded by a
request or two, never wrongly applied.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, value: str) -> Rate:
        """'5/600' → 5 hits per 600 seconds; anything else is a configuration error."""
        count, _slash, seconds = value.strip().partition("/")
        if not (count.isdigit() and seconds.isdigit() and int(count) >= 1 and int(seconds) >= 1):
            raise ImproperlyConfigured(
                f"A rate is 'hits/seconds' with both at least 1, e.g. '5/600'; got {value!r}"
            )
        return cls(limit=int(count), window=int(seconds))


@dataclass(frozen=True)
class RateCheck:
    allowed: bool
    count: int  # hits in the current window, this one included
    limit: int
    reset_at: float  # epoch seconds when the current window ends

    @property
    def retry_after(self) -> int:
        """Whole seconds until a new window starts (at least 1)."""
        return max(1, math.ceil(self.reset_at - time.time()))


def rate_limit_hit(*, scope: str, key: str, rate: Rate | str) -> RateCheck:
    """Count one hit of `key` (e.g. an IP address) in `scope` (e.g. "inquiry-form") and say
    whether it is within the rate."""
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    now = time.time()
    window_start = int(now // rate.window) * rate.window
    reset_at = float(window_start + rate.window)
    # Hashed: keys stay short and valid for every backend whatever the key holds (IPv6, "").
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"ratelimit:{scope}:{rate.window}:{window_start}:{digest}"
    # Kept a little past the window's end so a slow clock between processes cannot reset it.
    timeout = int(reset_at - now) + 5
    cache.add(cache_key, 0, timeout=timeout)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: this hit starts the count again
        cache.add(cache_key, 1, timeout=timeout)
        count = 1
    return RateCheck(allowed=count <= rate.limit, count=count, limit=rate.limit, reset_at=reset_at)
