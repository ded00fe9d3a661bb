from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from accounts.admin import AuditedAdmin
from workflow.business_calendar import forget_calendar, unofficial_years_ahead
from workflow.models import CalendarDay, CalendarYear, RobotWebhook, WorkingHoursSetting


class CalendarAdmin(AuditedAdmin):
    """Calendar edits change deadlines: rebuild the cached calendar, and warn loudly while a
    year that deadlines can reach has no official holiday data."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        years = unofficial_years_ahead()
        if years:
            messages.warning(
                request,
                _(
                    "No official holiday data for %(years)s: deadlines in these years count "
                    "Monday to Friday only. Enter the State Council's announcement here (holidays "
                    "and adjusted working days) and mark the year as announced."
                )
                % {"years": ", ".join(map(str, years))},
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        forget_calendar()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        forget_calendar()

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        forget_calendar()


@admin.register(CalendarDay)
class CalendarDayAdmin(CalendarAdmin):
    list_display = ("date", "is_workday", "note")
    list_filter = ("is_workday",)
    date_hierarchy = "date"


@admin.register(CalendarYear)
class CalendarYearAdmin(CalendarAdmin):
    list_display = ("year", "announced", "note")


@admin.register(WorkingHoursSetting)
class WorkingHoursAdmin(CalendarAdmin):
    list_display = ("periods",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WorkingHoursSetting.objects.exists()


@admin.register(RobotWebhook)
class RobotWebhookAdmin(AuditedAdmin):
    list_display = ("name", "kind", "is_active")
