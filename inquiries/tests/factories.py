"""Small builders shared by the inquiry tests."""

from __future__ import annotations

from typing import Any

from accounts.models import Region, User
from inquiries.models import DeskSettings, Project
from service.models import Team, TeamMember


def project_make(code: str, stage: str, region: Region | None = None, **extra: Any) -> Project:
    return Project.objects.create(
        code=code, name=extra.pop("name", f"{code}项目"), stage=stage, region=region, **extra
    )


def team_join(team: Team, *users: User, lead: User | None = None) -> Team:
    for user in users:
        TeamMember.objects.get_or_create(team=team, user=user)
    if lead is not None:
        team.lead = lead
        team.save(update_fields=["lead"])
    return team


def desk_region(region: Region) -> None:
    """File prospects created from inquiries without a project in `region`."""
    desk = DeskSettings.objects.first() or DeskSettings.objects.create()
    desk.default_region = region
    desk.save(update_fields=["default_region"])
