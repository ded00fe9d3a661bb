"""The business calendar: durations, working hours, Chinese holidays and the company table."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.calendar import (
    LIBRARY_LAST_YEAR,
    BusinessCalendar,
    Duration,
    DurationError,
    Unit,
    WorkingHours,
    duration_ok,
    parse_duration,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar()


def at(year, month, day, hour=0, minute=0, tz=SHANGHAI):
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def work_hours(amount):
    return Duration(Decimal(amount), Unit.WORK_HOURS)


def workdays(amount):
    return Duration(Decimal(amount), Unit.WORKDAYS)


def days_between(first, last):
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# The acceptance case: National Day 2026 ---------------------------------------------------


def test_two_workdays_from_the_eve_of_national_day_2026_land_after_the_holiday():
    # chinesecalendar 1.11.0 says: 2026-10-01..10-07 are the National Day holiday, 10-08 and
    # 10-09 are ordinary workdays, and 10-10 (a Saturday) is the adjusted working day.
    holiday_week = days_between(date(2026, 10, 1), date(2026, 10, 7))
    assert all(chinese_calendar.is_holiday(day) for day in holiday_week)
    assert {chinese_calendar.get_holiday_detail(day)[1] for day in holiday_week} == {"National Day"}
    assert chinese_calendar.is_workday(date(2026, 10, 8))
    assert chinese_calendar.is_workday(date(2026, 10, 9))

    # 2 workdays = 15 working hours: 2h on 09-30 (16–18), 7.5h on 10-08, 5.5h on 10-09.
    due = CALENDAR.add(at(2026, 9, 30, 16), parse_duration("2 workdays"))

    assert due == at(2026, 10, 9, 16)
    assert due.tzinfo == SHANGHAI


def test_an_adjusted_saturday_in_2026_is_a_workday_and_an_ordinary_saturday_is_not():
    adjusted = date(2026, 10, 10)
    assert adjusted.weekday() == 5
    assert adjusted in chinese_calendar.workdays  # 调休 for National Day

    ordinary = date(2026, 10, 17)
    assert ordinary.weekday() == 5

    assert CALENDAR.is_workday(adjusted)
    assert not CALENDAR.is_workday(ordinary)


def test_one_workday_from_friday_before_the_adjusted_saturday_lands_on_that_saturday():
    assert CALENDAR.add(at(2026, 10, 9, 16), workdays(1)) == at(2026, 10, 10, 16)


# Years chinese_calendar does not know ------------------------------------------------------


def test_the_library_covers_2026_but_not_2027():
    assert LIBRARY_LAST_YEAR == 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


def test_a_deadline_in_2027_without_data_falls_back_to_monday_to_friday():
    assert date(2027, 1, 1).weekday() == 4  # a Friday

    due = CALENDAR.add(at(2026, 12, 31, 16), workdays(1))

    assert due == at(2027, 1, 1, 16)
    assert not CALENDAR.is_workday(date(2027, 1, 2))
    assert CALENDAR.add(at(2027, 1, 1, 17), work_hours(2)) == at(2027, 1, 4, 10)


def test_an_admin_entered_holiday_in_2027_is_skipped():
    calendar = BusinessCalendar(holidays=[date(2027, 1, 1)])

    due = calendar.add(at(2026, 12, 31, 16), workdays(1))

    assert due == at(2027, 1, 4, 16)


def test_2027_is_reported_unofficial_until_the_admin_marks_it_announced():
    start, due = at(2026, 12, 31, 16), at(2027, 1, 4, 16)

    assert not CALENDAR.has_official_data(2027)
    assert CALENDAR.has_official_data(2026)
    assert CALENDAR.unofficial_years(start, due) == [2027]
    assert CALENDAR.unofficial_years(start, at(2026, 12, 31, 18)) == []

    announced = BusinessCalendar(holidays=[date(2027, 1, 1)], announced_years=[2027])
    assert announced.has_official_data(2027)
    assert announced.unofficial_years(start, due) == []


def test_unofficial_years_uses_the_calendar_time_zone():
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai.
    moment = datetime(2026, 12, 31, 17, tzinfo=UTC)
    assert CALENDAR.unofficial_years(moment, moment) == [2027]


@pytest.mark.parametrize("year", [1990, 2035])
def test_years_far_outside_the_library_work_without_an_exception(year):
    start = at(year, 3, 1, 10)

    due = CALENDAR.add(start, workdays(5))

    assert due.date().weekday() < 5
    assert CALENDAR.work_seconds_between(start, due) == 5 * 7.5 * 3600
    assert CALENDAR.subtract(due, workdays(5)) == start
    assert CALENDAR.unofficial_years(start, due) == [year]
    assert CALENDAR.is_workday(date(year, 3, 1)) == (date(year, 3, 1).weekday() < 5)


# Work hours ---------------------------------------------------------------------------------

MONDAY = (2026, 9, 28)  # an ordinary week: Mon 09-28 .. Wed 09-30 are workdays


def test_work_hours_within_one_period():
    assert CALENDAR.add(at(*MONDAY, 9, 30), work_hours(2)) == at(*MONDAY, 11, 30)
    assert CALENDAR.add(at(*MONDAY, 14), work_hours("1.5")) == at(*MONDAY, 15, 30)


def test_work_hours_across_lunch_skip_the_break():
    assert CALENDAR.add(at(*MONDAY, 11), work_hours(2)) == at(*MONDAY, 14, 30)


def test_work_hours_starting_during_lunch_begin_at_1330():
    assert CALENDAR.add(at(*MONDAY, 12, 30), work_hours(1)) == at(*MONDAY, 14, 30)


def test_work_hours_across_the_evening_continue_next_morning():
    assert CALENDAR.add(at(*MONDAY, 17), work_hours(2)) == at(2026, 9, 29, 10)


def test_work_hours_starting_at_night_begin_next_morning():
    assert CALENDAR.add(at(*MONDAY, 20), work_hours(1)) == at(2026, 9, 29, 10)
    assert CALENDAR.add(at(2026, 9, 29, 3), work_hours(1)) == at(2026, 9, 29, 10)


def test_work_hours_starting_on_a_weekend_begin_on_monday():
    saturday = date(2026, 11, 7)
    assert saturday.weekday() == 5 and chinese_calendar.is_holiday(saturday)

    assert CALENDAR.add(at(2026, 11, 7, 10), work_hours(1)) == at(2026, 11, 9, 10)


def test_a_deadline_landing_exactly_on_a_period_end_stays_there():
    assert CALENDAR.add(at(*MONDAY, 9), work_hours(3)) == at(*MONDAY, 12)
    assert CALENDAR.add(at(*MONDAY, 9), work_hours("7.5")) == at(*MONDAY, 18)


def test_a_start_exactly_at_a_period_end_continues_in_the_next_period():
    assert CALENDAR.add(at(*MONDAY, 12), work_hours(1)) == at(*MONDAY, 14, 30)


def test_start_times_in_other_time_zones_are_converted_to_the_calendar_zone():
    start = datetime(2026, 9, 28, 1, tzinfo=UTC)  # 09:00 in Shanghai

    due = CALENDAR.add(start, work_hours(1))

    assert due == at(*MONDAY, 10)
    assert due.tzinfo == SHANGHAI


def test_naive_datetimes_are_rejected():
    naive = datetime(2026, 9, 28, 9)
    with pytest.raises(ValueError, match="时区"):
        CALENDAR.add(naive, work_hours(1))
    with pytest.raises(ValueError, match="时区"):
        CALENDAR.add(naive, parse_duration("24 hours"))
    with pytest.raises(ValueError, match="时区"):
        CALENDAR.work_seconds_between(naive, at(*MONDAY, 10))


def test_calendar_units_ignore_working_time():
    friday_evening = at(2026, 11, 6, 20)
    assert CALENDAR.add(friday_evening, parse_duration("24 hours")) == at(2026, 11, 7, 20)
    assert CALENDAR.add(friday_evening, parse_duration("3 days")) == at(2026, 11, 9, 20)
    assert CALENDAR.add(friday_evening, parse_duration("30 minutes")) == at(2026, 11, 6, 20, 30)
    assert CALENDAR.subtract(friday_evening, parse_duration("1 hour")) == at(2026, 11, 6, 19)


def test_work_seconds_between_counts_only_working_time():
    assert CALENDAR.work_seconds_between(at(*MONDAY, 11), at(*MONDAY, 14, 30)) == 2 * 3600
    assert CALENDAR.work_seconds_between(at(*MONDAY, 17), at(2026, 9, 29, 10)) == 2 * 3600
    assert CALENDAR.work_seconds_between(at(2026, 9, 30, 16), at(2026, 10, 9, 16)) == 15 * 3600
    assert CALENDAR.work_seconds_between(at(*MONDAY, 14), at(*MONDAY, 11)) == 0


def test_next_working_moment():
    assert CALENDAR.next_working_moment(at(*MONDAY, 10)) == at(*MONDAY, 10)
    assert CALENDAR.next_working_moment(at(*MONDAY, 12)) == at(*MONDAY, 13, 30)
    assert CALENDAR.next_working_moment(at(2026, 9, 30, 18)) == at(2026, 10, 8, 9)


# The company table -------------------------------------------------------------------------


def test_company_holidays_and_workdays_override_chinese_calendar():
    library_workday = date(2026, 9, 29)
    library_holiday = date(2026, 10, 3)  # National Day, a Saturday
    assert chinese_calendar.is_workday(library_workday)
    assert chinese_calendar.is_holiday(library_holiday)

    calendar = BusinessCalendar(holidays=[library_workday], workdays=[library_holiday])

    assert not calendar.is_workday(library_workday)
    assert calendar.is_workday(library_holiday)
    assert calendar.add(at(*MONDAY, 17), work_hours(2)) == at(2026, 9, 30, 10)
    assert calendar.add(at(2026, 9, 30, 17), work_hours(2)) == at(2026, 10, 3, 10)


def test_a_day_cannot_be_both_a_company_holiday_and_a_company_workday():
    with pytest.raises(ValueError, match="2026-10-03"):
        BusinessCalendar(holidays=[date(2026, 10, 3)], workdays=[date(2026, 10, 3)])


def test_custom_working_hours_define_the_length_of_a_workday():
    calendar = BusinessCalendar(hours=WorkingHours(((time(8), time(17)),)))

    assert calendar.add(at(*MONDAY, 8), workdays(1)) == at(*MONDAY, 17)
    assert calendar.add(at(*MONDAY, 16), workdays("0.5")) == at(2026, 9, 29, 11, 30)


def test_a_table_without_any_working_day_raises_instead_of_hanging():
    start = date(2026, 1, 1)
    every_day = days_between(start, start + timedelta(days=4 * 366))
    calendar = BusinessCalendar(holidays=every_day)

    with pytest.raises(ValueError, match="找不到足够的工作时间"):
        calendar.add(at(2026, 1, 1, 9), work_hours(1))
    with pytest.raises(ValueError, match="找不到足够的工作时间"):
        calendar.subtract(at(2030, 1, 1, 9), work_hours(1))


def test_an_absurd_duration_raises_instead_of_walking_for_centuries():
    with pytest.raises(ValueError, match="找不到足够的工作时间"):
        CALENDAR.add(at(*MONDAY, 9), workdays(100_000))
    with pytest.raises(ValueError, match="日期范围"):
        CALENDAR.subtract(at(*MONDAY, 9), Duration(Decimal(999_999), Unit.DAYS))


def test_is_workday_refuses_a_datetime():
    with pytest.raises(TypeError):
        CALENDAR.is_workday(at(*MONDAY, 9))


# Subtract, the inverse of add ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (at(2026, 9, 30, 16), workdays(2)),
        (at(*MONDAY, 11), work_hours(2)),
        (at(*MONDAY, 17), work_hours(2)),
        (at(*MONDAY, 9), work_hours(3)),
        (at(2026, 10, 9, 16), workdays(1)),
        (at(2026, 12, 31, 16), workdays(3)),
        (at(*MONDAY, 13, 30), work_hours(40)),
    ],
)
def test_subtract_undoes_add_for_work_units(start, duration):
    due = CALENDAR.add(start, duration)

    assert CALENDAR.subtract(due, duration) == start


def test_a_reminder_four_work_hours_before_due_walks_back_over_the_night():
    assert CALENDAR.subtract(at(2026, 9, 29, 10), work_hours(4)) == at(*MONDAY, 15)
    assert CALENDAR.subtract(at(2026, 10, 8, 10), work_hours(4)) == at(2026, 9, 30, 15)


def test_subtract_from_outside_working_time_starts_at_the_previous_period_end():
    assert CALENDAR.subtract(at(*MONDAY, 20), work_hours(1)) == at(*MONDAY, 17)
    assert CALENDAR.subtract(at(*MONDAY, 13), work_hours(1)) == at(*MONDAY, 11)


ZONES = [SHANGHAI, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2027, 12, 31, 23, 59),
        timezones=st.sampled_from(ZONES),
        allow_imaginary=False,
    ),
    tenths=st.integers(min_value=10, max_value=400),
)
def test_adding_work_hours_adds_exactly_that_much_working_time(start, tenths):
    duration = work_hours(Decimal(tenths) / 10)
    first_working_moment = CALENDAR.next_working_moment(start)

    due = CALENDAR.add(start, duration)

    assert CALENDAR.work_seconds_between(first_working_moment, due) == tenths * 360
    assert CALENDAR.subtract(due, duration) == first_working_moment


# Parsing durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("2 workdays", 2, Unit.WORKDAYS),
        ("1 workday", 1, Unit.WORKDAYS),
        ("4 work hours", 4, Unit.WORK_HOURS),
        ("1 work hour", 1, Unit.WORK_HOURS),
        ("24 hours", 24, Unit.HOURS),
        ("1 hour", 1, Unit.HOURS),
        ("3 days", 3, Unit.DAYS),
        ("30 minutes", 30, Unit.MINUTES),
        ("2个工作日", 2, Unit.WORKDAYS),
        ("2工作日", 2, Unit.WORKDAYS),
        ("4工作小时", 4, Unit.WORK_HOURS),
        ("4个工作小时", 4, Unit.WORK_HOURS),
        ("24小时", 24, Unit.HOURS),
        ("3天", 3, Unit.DAYS),
        ("30分钟", 30, Unit.MINUTES),
        ("2WORKDAYS", 2, Unit.WORKDAYS),
        ("  4 Work Hours ", 4, Unit.WORK_HOURS),
        ("2 个工作日", 2, Unit.WORKDAYS),
        ("２个工作日", 2, Unit.WORKDAYS),  # full-width digit from a Chinese IME
        ("1.5 work hours", Decimal("1.5"), Unit.WORK_HOURS),
    ],
)
def test_parse_duration_accepts_each_listed_form(text, amount, unit):
    assert parse_duration(text) == Duration(Decimal(amount), unit)
    assert duration_ok(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 hours", "大于 0"),
        ("0个工作日", "大于 0"),
        ("two days", "无法识别的时长“two days”"),
        ("5 weeks", "无法识别的时长“5 weeks”"),
        ("-1 days", "无法识别"),
        ("1.25 hours", "一位小数"),
        ("1000000 minutes", "时长过长"),
        ("99999999999999999999999999999999 hours", "时长过长"),
        ("", "请填写时长"),
        ("   ", "请填写时长"),
    ],
)
def test_parse_duration_rejects_bad_text_with_a_chinese_message(text, message):
    with pytest.raises(DurationError, match=message):
        parse_duration(text)
    assert not duration_ok(text)


def test_a_duration_prints_as_text_that_parses_back():
    for text in ("1 workday", "2 workdays", "1.5 work hours", "1 hour", "3 days", "30 minutes"):
        assert str(parse_duration(text)) == text
    assert str(parse_duration("2个工作日")) == "2 workdays"


def test_a_duration_rejects_zero_and_more_than_one_decimal_place():
    with pytest.raises(DurationError):
        Duration(Decimal(0), Unit.HOURS)
    with pytest.raises(DurationError):
        Duration(Decimal("0.25"), Unit.HOURS)


# Working hours -------------------------------------------------------------------------------


def test_default_working_hours_make_a_seven_and_a_half_hour_day():
    assert WorkingHours().day_length == timedelta(hours=7, minutes=30)


@pytest.mark.parametrize(
    "periods",
    [
        pytest.param(((time(9), time(12)), (time(11), time(14))), id="overlapping"),
        pytest.param(((time(12), time(9)),), id="inverted"),
        pytest.param(((time(9), time(9)),), id="empty period"),
        pytest.param(((time(13, 30), time(18)), (time(9), time(12))), id="unsorted"),
        pytest.param((), id="no periods"),
    ],
)
def test_working_hours_reject_bad_periods(periods):
    with pytest.raises(ValueError, match="工作时段"):
        WorkingHours(periods)
