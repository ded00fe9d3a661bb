"""The filters of the inquiry statistics page and the record export."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy

from inquiries.models import DeskSettings, Inquiry, InquiryChannel, Project, RoutingRule, Topic
from inquiries.stats import DEFAULT_DAYS, StatsFilters
from ruwang.lib.forms import DateRangeForm
from service.models import Team


def inquiry_teams() -> Any:
    """Teams that answer inquiries: named in the matrix, the desk's default, or holding one."""
    return Team.objects.filter(
        Q(pk__in=RoutingRule.objects.values("team"))
        | Q(pk__in=DeskSettings.objects.exclude(default_team=None).values("default_team"))
        | Exists(Inquiry.objects.filter(team=OuterRef("pk")))
    ).order_by("name")


class StatsFilterForm(DateRangeForm):
    project = forms.ModelChoiceField(
        label=gettext_lazy("Project"),
        required=False,
        queryset=Project.objects.order_by("name"),
        empty_label=gettext_lazy("All projects"),
    )
    team = forms.ModelChoiceField(
        label=gettext_lazy("Responsible team"),
        required=False,
        queryset=Team.objects.none(),
        empty_label=gettext_lazy("All responsible teams"),
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Inquiry channel"),
        required=False,
        choices=[("", gettext_lazy("All channels")), *InquiryChannel.choices],
    )
    topic = forms.ChoiceField(
        label=gettext_lazy("Question topic"),
        required=False,
        choices=[("", gettext_lazy("All question topics")), *Topic.choices],
    )

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = inquiry_teams()

    def filters(self) -> StatsFilters:
        """The chosen filters; the last 30 days and nothing else while the form is unbound or
        invalid. A missing first day is 30 days before the last; a missing last day is today
        (or the first day, for a first day in the future)."""
        if not (self.is_bound and self.is_valid()):
            return StatsFilters.last_days(self.today)
        data = self.cleaned_data
        last: dt.date | None = data.get("date_to")
        first: dt.date | None = data.get("date_from")
        if last is None:
            last = max(self.today, first) if first is not None else self.today
        if first is None:
            first = last - dt.timedelta(days=DEFAULT_DAYS - 1)
        return StatsFilters(
            first_day=first,
            last_day=last,
            project=data.get("project"),
            team=data.get("team"),
            channel=data.get("channel") or "",
            topic=data.get("topic") or "",
        )
