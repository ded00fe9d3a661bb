"""The company's business calendar, built from `chinese-calendar` and the admin's own table."""

from __future__ import annotations

from datetime import datetime, time

from django.core.cache import cache
from django.utils import timezone

from workflow.calendar import BusinessCalendar, WorkingHours

CACHE_KEY = "workflow:calendar"


def parse_periods(text: str) -> WorkingHours:
    """ "09:00-12:00,13:30-18:00" → WorkingHours; ValueError (Chinese) when malformed."""
    periods = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            start, end = (time.fromisoformat(p.strip()) for p in part.split("-"))
        except ValueError as exc:
            raise ValueError(f"无法识别的工作时段“{part}”：请写成 09:00-12:00") from exc
        periods.append((start, end))
    return WorkingHours(periods=tuple(periods))


def current_calendar() -> BusinessCalendar:
    """The calendar with the company's entries; rebuilt when an admin changes them."""
    from workflow.models import CalendarDay, CalendarYear, WorkingHoursSetting

    cached: BusinessCalendar | None = cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    setting = WorkingHoursSetting.objects.first()
    hours = parse_periods(setting.periods) if setting else WorkingHours()
    days = list(CalendarDay.objects.values_list("date", "is_workday"))
    calendar = BusinessCalendar(
        hours=hours,
        holidays=[d for d, work in days if not work],
        workdays=[d for d, work in days if work],
        announced_years=CalendarYear.objects.filter(announced=True).values_list("year", flat=True),
        tz=timezone.get_default_timezone(),
    )
    cache.set(CACHE_KEY, calendar, 300)
    return calendar


def forget_calendar() -> None:
    cache.delete(CACHE_KEY)


def unofficial_years_ahead(now: datetime | None = None, days: int = 120) -> list[int]:
    """Years that deadlines set now can reach (this year and the next `days`) for which
    neither the holiday package nor an administrator has official data: warn loudly."""
    from datetime import timedelta

    now = now or timezone.now()
    return current_calendar().unofficial_years(now, now + timedelta(days=days))
