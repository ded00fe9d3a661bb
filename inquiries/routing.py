"""The responsibility matrix (the seed's 3.2): which team answers an inquiry, and who in it.

The most specific active rule wins: a rule naming the project beats one that does not, then a
rule naming the topic, then one naming the stage (`position` breaks ties). With the seed's
defaults (inquiries.defaults) this gives: club matters → customer centre, contract procedures →
support team, promotions → promotion team whatever the stage; otherwise by stage, and after
delivery property matters → property department, the rest → customer centre.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, Q

from accounts.models import User
from inquiries.models import (
    OPEN_STATUSES,
    DeskSettings,
    Inquiry,
    Project,
    RoutingRule,
)
from service.models import AssignmentRule, Team
from service.tickets import team_candidates

REPLY_PERMISSION = "inquiries.reply_inquiry"


def desk_settings() -> DeskSettings:
    """The one settings row (created with its defaults on first use)."""
    found = DeskSettings.objects.select_related("default_team", "default_region").first()
    if found is not None:
        return found
    return DeskSettings.objects.create()


def rule_for(project: Project | None, topic: str) -> RoutingRule | None:
    stage = project.stage if project is not None else ""
    rules = RoutingRule.objects.filter(
        Q(project__isnull=True) | Q(project=project) if project is not None else Q(project=None),
        Q(stage="") | Q(stage=stage),
        Q(topic="") | Q(topic=topic),
        is_active=True,
        team__is_active=True,
    ).select_related("team")

    def specificity(rule: RoutingRule) -> tuple[int, int, int, int, int]:
        return (
            1 if rule.project_id else 0,
            1 if rule.topic else 0,
            1 if rule.stage else 0,
            -rule.position,
            -rule.pk,
        )

    return max(rules, key=specificity, default=None)


def team_for(project: Project | None, topic: str) -> Team | None:
    rule = rule_for(project, topic)
    if rule is not None:
        return rule.team
    fallback = desk_settings().default_team
    return fallback if fallback is not None and fallback.is_active else None


def may_answer(user: User, inquiry: Inquiry) -> bool:
    """May reply to this inquiry in the company's name (and so be its assignee)."""
    from inquiries.selectors import inquiry_visible

    return user.is_active and user.has_perm(REPLY_PERMISSION) and inquiry_visible(user, inquiry)


def assignee_for(inquiry: Inquiry, team: Team, today: dt.date | None = None) -> User | None:
    """Who of the team answers, by the team's rule; None when nobody present may (the team
    lead is then told)."""
    rule = team.rule
    if rule == AssignmentRule.MANUAL:
        return None
    if rule == AssignmentRule.OWNER:
        owner = inquiry.customer.owner
        if (
            owner is not None
            and owner in team_candidates(team, today)
            and may_answer(owner, inquiry)
        ):
            return owner
        rule = AssignmentRule.LEAST_OPEN
    people = [u for u in team_candidates(team, today) if may_answer(u, inquiry)]
    if not people:
        return None
    if rule == AssignmentRule.ROUND_ROBIN:
        with transaction.atomic():
            last = (
                Team.objects.select_for_update()
                .filter(pk=team.pk)
                .values_list("last_assigned_id", flat=True)
                .first()
            )
            following = [u for u in people if last is not None and u.pk > last]
            chosen = following[0] if following else people[0]
            Team.objects.filter(pk=team.pk).update(last_assigned=chosen)
        return chosen
    counts = dict(
        Inquiry.objects.filter(assignee__in=[u.pk for u in people], status__in=OPEN_STATUSES)
        .values_list("assignee")
        .annotate(n=Count("id"))
        .values_list("assignee", "n")
    )
    return min(people, key=lambda u: (counts.get(u.pk, 0), u.pk))
