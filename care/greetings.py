"""Holiday greetings (节日问候): the coming Chinese holidays and a greeting to a saved segment,
sent as a scheduled notice (inquiries.notices) at 09:00 on the holiday's first day or a chosen
time.

Holiday dates come from chinese_calendar (the State Council's yearly arrangement, first day of
the statutory break) for the years it has; for later years the festival day itself is used and
marked as estimated: 元旦, 劳动节 and 国庆 by the solar date, 清明 by its solar term
(chinese_calendar computes those for any year), and 春节, 端午 and 中秋 from the lunar dates
below (the first day of the first month, the 5th of the 5th, the 15th of the 8th)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import chinese_calendar
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.services import require_perm
from customers.models import Segment
from inquiries import notices
from inquiries.models import Notice

SEND_PERM = "inquiries.send_notice"
SEND_HOUR = 9
HORIZON_DAYS = 400

# Gregorian dates of the lunar festivals past chinese_calendar's data (checked against a lunar
# calendar conversion): 春节 (正月初一), 端午 (五月初五), 中秋 (八月十五).
LUNAR_FESTIVALS: dict[int, tuple[dt.date, dt.date, dt.date]] = {
    2027: (dt.date(2027, 2, 6), dt.date(2027, 6, 9), dt.date(2027, 9, 15)),
    2028: (dt.date(2028, 1, 26), dt.date(2028, 5, 28), dt.date(2028, 10, 3)),
    2029: (dt.date(2029, 2, 13), dt.date(2029, 6, 16), dt.date(2029, 9, 22)),
    2030: (dt.date(2030, 2, 3), dt.date(2030, 6, 5), dt.date(2030, 9, 12)),
    2031: (dt.date(2031, 1, 23), dt.date(2031, 6, 24), dt.date(2031, 10, 1)),
    2032: (dt.date(2032, 2, 11), dt.date(2032, 6, 12), dt.date(2032, 9, 19)),
    2033: (dt.date(2033, 1, 31), dt.date(2033, 6, 1), dt.date(2033, 9, 8)),
    2034: (dt.date(2034, 2, 19), dt.date(2034, 6, 20), dt.date(2034, 9, 27)),
    2035: (dt.date(2035, 2, 8), dt.date(2035, 6, 10), dt.date(2035, 9, 16)),
}


@dataclass(frozen=True)
class HolidaySpec:
    key: str  # chinese_calendar.Holiday member name
    name: Promise
    title: Promise  # the default greeting's title
    body: Promise  # … and text


HOLIDAYS: tuple[HolidaySpec, ...] = (
    HolidaySpec(
        "new_years_day",
        gettext_lazy("New Year's Day"),
        gettext_lazy("Happy New Year"),
        gettext_lazy(
            "Thank you for your trust and support over the past year. We wish you a happy New "
            "Year, good health and every success. Your fire-safety monitoring keeps running "
            "around the clock over the holiday."
        ),
    ),
    HolidaySpec(
        "spring_festival",
        gettext_lazy("Spring Festival"),
        gettext_lazy("Happy Spring Festival"),
        gettext_lazy(
            "Wishing you and your family a happy and prosperous Spring Festival. Please take "
            "care with fireworks and electricity over the festival; our monitoring centre is on "
            "duty throughout the holiday."
        ),
    ),
    HolidaySpec(
        "tomb_sweeping_day",
        gettext_lazy("Qingming Festival"),
        gettext_lazy("Qingming Festival reminder"),
        gettext_lazy(
            "As Qingming approaches, please remember fire safety when honouring your ancestors "
            "and travelling in spring. We wish you a peaceful and safe holiday."
        ),
    ),
    HolidaySpec(
        "labour_day",
        gettext_lazy("Labour Day"),
        gettext_lazy("Happy Labour Day"),
        gettext_lazy(
            "Thank you for your hard work. We wish you a pleasant Labour Day holiday; our "
            "monitoring centre stays on duty throughout."
        ),
    ),
    HolidaySpec(
        "dragon_boat_festival",
        gettext_lazy("Dragon Boat Festival"),
        gettext_lazy("Happy Dragon Boat Festival"),
        gettext_lazy(
            "We wish you good health and happiness this Dragon Boat Festival. Thank you for "
            "your continued trust in our service."
        ),
    ),
    HolidaySpec(
        "mid_autumn_festival",
        gettext_lazy("Mid-Autumn Festival"),
        gettext_lazy("Happy Mid-Autumn Festival"),
        gettext_lazy(
            "May the full moon bring you and your family a joyful reunion. Thank you for your "
            "support; we wish you a happy Mid-Autumn Festival."
        ),
    ),
    HolidaySpec(
        "national_day",
        gettext_lazy("National Day"),
        gettext_lazy("Happy National Day"),
        gettext_lazy(
            "We wish you a happy National Day holiday. Crowds gather during the Golden Week: "
            "please check your fire exits and equipment. Our monitoring centre is on duty "
            "throughout the holiday."
        ),
    ),
)
HOLIDAYS_BY_KEY = {h.key: h for h in HOLIDAYS}


@dataclass(frozen=True)
class Holiday:
    spec: HolidaySpec
    first_day: dt.date
    last_day: dt.date
    official: bool  # from the published arrangement (else the festival day, estimated)

    @property
    def code(self) -> str:
        return f"{self.spec.key}:{self.first_day.isoformat()}"

    @property
    def name(self) -> Promise:
        return self.spec.name

    def default_send_at(self) -> dt.datetime:
        return timezone.make_aware(
            dt.datetime.combine(self.first_day, dt.time(SEND_HOUR, 0)),
            timezone.get_current_timezone(),
        )


def _published(year: int) -> dict[str, list[dt.date]]:
    days: dict[str, list[dt.date]] = {}
    for day, name in chinese_calendar.holidays.items():
        if day.year != year:
            continue
        for member in chinese_calendar.Holiday:
            if member.value == name:
                days.setdefault(member.name, []).append(day)
    return days


def _has_data(year: int) -> bool:
    return any(day.year == year for day in chinese_calendar.holidays)


def _qingming(year: int) -> dt.date:
    terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 10))
    return next((day for day, _name in terms if _name == "清明"), dt.date(year, 4, 5))


def _estimated(year: int) -> dict[str, dt.date]:
    days = {
        "new_years_day": dt.date(year, 1, 1),
        "tomb_sweeping_day": _qingming(year),
        "labour_day": dt.date(year, 5, 1),
        "national_day": dt.date(year, 10, 1),
    }
    lunar = LUNAR_FESTIVALS.get(year)
    if lunar is not None:
        days["spring_festival"], days["dragon_boat_festival"], days["mid_autumn_festival"] = lunar
    return days


def holidays_of_year(year: int) -> list[Holiday]:
    found: list[Holiday] = []
    if _has_data(year):
        for key, days in _published(year).items():
            spec = HOLIDAYS_BY_KEY.get(key)
            if spec is not None:
                found.append(Holiday(spec, min(days), max(days), official=True))
    else:
        for key, day in _estimated(year).items():
            found.append(Holiday(HOLIDAYS_BY_KEY[key], day, day, official=False))
    return sorted(found, key=lambda h: h.first_day)


def upcoming_holidays(today: dt.date | None = None, days: int = HORIZON_DAYS) -> list[Holiday]:
    """The holidays that have not ended yet and start within `days` days, by date."""
    today = today or timezone.localdate()
    until = today + dt.timedelta(days=days)
    found = [
        h
        for year in range(today.year, until.year + 1)
        for h in holidays_of_year(year)
        if h.last_day >= today and h.first_day <= until
    ]
    return sorted(found, key=lambda h: h.first_day)


def holiday_by_code(code: str, today: dt.date | None = None) -> Holiday | None:
    return next((h for h in upcoming_holidays(today) if h.code == code), None)


def greeting_schedule(
    *,
    actor: User,
    holiday: Holiday | None,
    segment: Segment | None,
    channels: Sequence[str],
    title: str,
    body: str,
    at: dt.datetime | None,
) -> Notice:
    """A notice to the segment's customers (those the actor may see), scheduled for `at`: the
    notice services check and audit it; both steps are one transaction."""
    require_perm(actor, SEND_PERM)
    errors: dict[str, str] = {}
    if holiday is None:
        errors["holiday"] = _("Choose one of the coming holidays.")
    if segment is None:
        errors["segment"] = _("Choose the saved segment to greet.")
    if at is None:
        errors["scheduled_for"] = _("Fill in this field.")
    if errors:
        raise ValidationError(errors)
    assert segment is not None and at is not None
    with transaction.atomic():
        notice = notices.notice_save(
            actor=actor,
            notice=None,
            title=title,
            body=body,
            project=None,
            audience={"segment": segment.pk},
            channels=channels,
            is_public=False,
            scheduled_for=at,
        )
        return notices.notice_schedule(actor=actor, notice=notice, at=at)
