"""Business calendar for task deadlines (SLA): durations, working hours and Chinese workdays.

Pure module: no database, no Django. The company calendar table (company holidays, 调休
working weekends, years whose State Council announcement an admin has entered) is passed in
by the caller.

Which days are working days, in order of precedence:
1. the company table (`holidays` / `workdays`);
2. `chinese_calendar` for the years it ships data for;
3. Monday–Friday. Years in this fallback are reported by `unofficial_years` so the admin
   pages and the SLA tick can warn that the deadline may move once the holidays are known.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")

# Same bounds chinese_calendar checks before raising NotImplementedError.
LIBRARY_FIRST_YEAR = min(chinese_calendar.holidays).year
LIBRARY_LAST_YEAR = max(chinese_calendar.holidays).year

# A walk that finds no (or not enough) working time in this many days means the company table
# marks everything as a holiday or the duration is absurd; fail instead of spinning to year 9999.
MAX_SEARCH_DAYS = 3 * 366

_EXAMPLES = "2 workdays、4 work hours、24 hours 或 2个工作日"


class DurationError(ValueError):
    """A duration text that cannot be used; the message is shown to the user as is."""


class Unit(StrEnum):
    WORKDAYS = "workdays"
    WORK_HOURS = "work_hours"
    HOURS = "hours"  # calendar hours, nights and holidays included
    DAYS = "days"  # calendar days
    MINUTES = "minutes"  # calendar minutes


_WORK_UNITS = frozenset({Unit.WORKDAYS, Unit.WORK_HOURS})

_UNIT_PATTERNS: dict[Unit, str] = {
    Unit.WORKDAYS: r"work\s*days?|(?:个\s*)?工作日",
    Unit.WORK_HOURS: r"work\s*hours?|(?:个\s*)?工作小时",
    Unit.HOURS: r"hours?|(?:个\s*)?小时",
    Unit.DAYS: r"days?|天",
    Unit.MINUTES: r"minutes?|分钟",
}
_DURATION_RE = re.compile(
    r"(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?:"
    + "|".join(f"(?P<{unit.name}>{pattern})" for unit, pattern in _UNIT_PATTERNS.items())
    + r")",
    re.IGNORECASE,
)

_SINGULAR: dict[Unit, str] = {
    Unit.WORKDAYS: "workday",
    Unit.WORK_HOURS: "work hour",
    Unit.HOURS: "hour",
    Unit.DAYS: "day",
    Unit.MINUTES: "minute",
}
_PLURAL: dict[Unit, str] = {
    Unit.WORKDAYS: "workdays",
    Unit.WORK_HOURS: "work hours",
    Unit.HOURS: "hours",
    Unit.DAYS: "days",
    Unit.MINUTES: "minutes",
}
_CALENDAR_SECONDS: dict[Unit, int] = {Unit.HOURS: 3600, Unit.DAYS: 86400, Unit.MINUTES: 60}
_ONE_DECIMAL = Decimal("0.1")
# Keeps Decimal and timedelta arithmetic far from their limits; a year is 525600 minutes.
MAX_AMOUNT = Decimal(1_000_000)


@dataclass(frozen=True)
class Duration:
    """An amount (> 0, at most one decimal place) of a unit."""

    amount: Decimal
    unit: Unit

    def __post_init__(self) -> None:
        amount: object = self.amount
        if isinstance(amount, int) and not isinstance(amount, bool):
            amount = Decimal(amount)
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise DurationError(f"时长必须是数字：{self.amount!r}")
        if amount <= 0:
            raise DurationError(f"时长必须大于 0：{self.amount}")
        if amount >= MAX_AMOUNT:
            raise DurationError(f"时长过长：{self.amount}")
        if not _one_decimal_at_most(amount):
            raise DurationError(f"时长最多保留一位小数：{self.amount}")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "unit", Unit(self.unit))

    def __str__(self) -> str:
        """The canonical text, accepted by `parse_duration`."""
        if self.amount == self.amount.to_integral_value():
            amount = self.amount.quantize(Decimal(1))
        else:
            amount = self.amount.quantize(_ONE_DECIMAL)
        words = _SINGULAR[self.unit] if amount == 1 else _PLURAL[self.unit]
        return f"{amount} {words}"

    @property
    def is_work_time(self) -> bool:
        return self.unit in _WORK_UNITS


def parse_duration(text: str) -> Duration:
    # NFKC folds full-width digits and letters typed with a Chinese IME (２个工作日).
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise DurationError(f"请填写时长，例如 {_EXAMPLES}")
    match = _DURATION_RE.fullmatch(cleaned)
    if match is None:
        raise DurationError(f"无法识别的时长“{text.strip()}”：请写成 {_EXAMPLES}")
    unit = next(unit for unit in _UNIT_PATTERNS if match.group(unit.name) is not None)
    amount = Decimal(match.group("amount"))
    if amount <= 0:
        raise DurationError(f"时长必须大于 0：“{text.strip()}”")
    if amount >= MAX_AMOUNT:
        raise DurationError(f"时长过长：“{text.strip()}”")
    if not _one_decimal_at_most(amount):
        raise DurationError(f"时长最多保留一位小数：“{text.strip()}”")
    return Duration(amount, unit)


def _one_decimal_at_most(amount: Decimal) -> bool:
    # Not quantize(): it raises InvalidOperation for amounts longer than the context precision.
    exponent = amount.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -1


def duration_ok(text: str) -> bool:
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


@dataclass(frozen=True)
class WorkingHours:
    """The working periods of a working day, in local wall-clock time."""

    periods: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13, 30), time(18)))

    def __post_init__(self) -> None:
        periods = tuple((start, end) for start, end in self.periods)
        if not periods:
            raise ValueError("工作时段不能为空")
        previous_end: time | None = None
        for start, end in periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("工作时段请写当地时间，不要带时区")
            if start >= end:
                raise ValueError(f"工作时段 {start:%H:%M}–{end:%H:%M} 的开始时间必须早于结束时间")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"工作时段 {start:%H:%M}–{end:%H:%M} 与前一时段重叠或顺序颠倒：请按时间先后填写"
                )
            previous_end = end
        object.__setattr__(self, "periods", periods)

    @property
    def day_length(self) -> timedelta:
        return sum(
            (
                datetime.combine(date.min, end) - datetime.combine(date.min, start)
                for start, end in self.periods
            ),
            timedelta(),
        )


DEFAULT_WORKING_HOURS = WorkingHours()

_Interval = tuple[datetime, datetime]


class BusinessCalendar:
    """Working-time arithmetic on the Chinese business calendar plus the company table.

    Working time is counted in local wall-clock time of `tz`: a working period lasts as long
    as it reads on the office clock.
    """

    def __init__(
        self,
        *,
        hours: WorkingHours = DEFAULT_WORKING_HOURS,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        announced_years: Iterable[int] = (),
        tz: tzinfo | None = None,
    ) -> None:
        self.hours = hours
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        self.announced_years = frozenset(announced_years)
        self.tz: tzinfo = tz if tz is not None else DEFAULT_TZ
        for day in (*self.holidays, *self.workdays):
            if isinstance(day, datetime):
                raise TypeError(f"公司日历请填写日期而不是时间：{day!r}")
        conflicts = sorted(self.holidays & self.workdays)
        if conflicts:
            listed = "、".join(day.isoformat() for day in conflicts)
            raise ValueError(f"以下日期同时被设为公司假日和调休工作日：{listed}")

    # Days ---------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        if isinstance(day, datetime):
            # A datetime's date depends on its time zone; make the caller pick it explicitly.
            raise TypeError("is_workday 需要 date；datetime 请先换算到日历时区再取 .date()")
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if _library_knows(day.year):
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:  # a gap inside the library's range: fall through
                pass
        return day.weekday() < 5

    def has_official_data(self, year: int) -> bool:
        return _library_knows(year) or year in self.announced_years

    def unofficial_years(self, start: datetime, end: datetime) -> list[int]:
        first, last = sorted((self._to_local(start).year, self._to_local(end).year))
        return [year for year in range(first, last + 1) if not self.has_official_data(year)]

    # Working time -------------------------------------------------------------------------

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` itself when it is working time, else the start of the next working period."""
        local = self._to_local(at)
        for start, end in self._intervals_from(local):
            if max(start, local) < end:
                return self._from_local(max(start, local))
        raise AssertionError("unreachable: _intervals_from raises when it runs out")

    def add(self, start: datetime, duration: Duration) -> datetime:
        if duration.is_work_time:
            return self._from_local(self._walk_forward(self._to_local(start), self._work(duration)))
        return self._shift(start, duration, 1)

    def add_work_time(self, start: datetime, work: timedelta) -> datetime:
        """`start` moved forward by an exact amount of working time (e.g. a paused interval)."""
        if work <= timedelta():
            return start
        return self._from_local(self._walk_forward(self._to_local(start), work))

    def subtract(self, due: datetime, duration: Duration) -> datetime:
        if duration.is_work_time:
            return self._from_local(self._walk_backward(self._to_local(due), self._work(duration)))
        return self._shift(due, duration, -1)

    def work_seconds_between(self, a: datetime, b: datetime) -> int:
        local_a, local_b = self._to_local(a), self._to_local(b)
        if b <= a or local_b <= local_a:
            return 0
        total = timedelta()
        day = local_a.date()
        while day <= local_b.date():
            for start, end in self._day_intervals(day):
                overlap = min(end, local_b) - max(start, local_a)
                if overlap > timedelta():
                    total += overlap
            day += timedelta(days=1)
        return total // timedelta(seconds=1)

    # Internals ----------------------------------------------------------------------------

    def _work(self, duration: Duration) -> timedelta:
        if duration.unit is Unit.WORK_HOURS:
            return timedelta(seconds=int(duration.amount * 3600))
        day_us = self.hours.day_length // timedelta(microseconds=1)
        return timedelta(microseconds=int(duration.amount * day_us))

    def _shift(self, moment: datetime, duration: Duration, sign: int) -> datetime:
        self._to_local(moment)  # rejects naive datetimes
        seconds = sign * int(duration.amount * _CALENDAR_SECONDS[duration.unit])
        try:
            delta = timedelta(seconds=seconds)
            if duration.unit is Unit.DAYS:
                # "3 days" keeps the wall-clock time even across a DST change.
                return self._from_local(self._to_local(moment) + delta)
            return (moment.astimezone(UTC) + delta).astimezone(self.tz)
        except OverflowError:
            raise ValueError(f"时长 {duration} 超出可计算的日期范围") from None

    def _to_local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"需要带时区的时间，收到的是无时区时间：{moment.isoformat()}")
        return moment.astimezone(self.tz).replace(tzinfo=None)

    def _from_local(self, local: datetime) -> datetime:
        # The UTC round trip moves a wall time that falls into a DST gap to a real instant.
        return local.replace(tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)

    def _day_intervals(self, day: date) -> list[_Interval]:
        if not self.is_workday(day):
            return []
        return [
            (datetime.combine(day, start), datetime.combine(day, end))
            for start, end in self.hours.periods
        ]

    def _intervals_from(self, local: datetime) -> Iterator[_Interval]:
        day = local.date()
        for _ in range(MAX_SEARCH_DAYS):
            yield from self._day_intervals(day)
            day = _step(day, 1, local)
        raise self._search_error(local)

    def _intervals_before(self, local: datetime) -> Iterator[_Interval]:
        day = local.date()
        for _ in range(MAX_SEARCH_DAYS):
            yield from reversed(self._day_intervals(day))
            day = _step(day, -1, local)
        raise self._search_error(local)

    def _walk_forward(self, local: datetime, work: timedelta) -> datetime:
        remaining = work
        for start, end in self._intervals_from(local):
            start = max(start, local)
            if start >= end:
                continue
            # `<=` keeps a deadline that uses up a period exactly at its end (12:00, not 13:30).
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise AssertionError("unreachable: _intervals_from raises when it runs out")

    def _walk_backward(self, local: datetime, work: timedelta) -> datetime:
        remaining = work
        for start, end in self._intervals_before(local):
            end = min(end, local)
            if start >= end:
                continue
            if remaining <= end - start:
                return end - remaining
            remaining -= end - start
        raise AssertionError("unreachable: _intervals_before raises when it runs out")

    def _search_error(self, local: datetime) -> ValueError:
        return ValueError(
            f"从 {local:%Y-%m-%d %H:%M} 起 {MAX_SEARCH_DAYS} 天内找不到足够的工作时间："
            "请检查公司日历（假日/调休）和时长设置"
        )


def _library_knows(year: int) -> bool:
    return LIBRARY_FIRST_YEAR <= year <= LIBRARY_LAST_YEAR


def _step(day: date, days: int, origin: datetime) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"从 {origin:%Y-%m-%d %H:%M} 起的计算超出了可表示的日期范围") from None
