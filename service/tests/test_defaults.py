"""Installation defaults: a fresh installation starts with SLA policies, the standard revisit
template and the two service teams; later migrates leave an administrator's set-up alone."""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.db.models.signals import post_migrate
from django.test import TestCase, override_settings

from audit.models import AuditEntry
from service.defaults import SLA_POLICIES, service_defaults_ensure
from service.models import (
    AssignmentRule,
    RevisitTemplate,
    SlaPolicy,
    Team,
    TicketKind,
)
from service.services import default_revisit_months
from service.tickets import default_team, policy_for
from workflow.business_calendar import current_calendar
from workflow.calendar import parse_duration

# A working Monday morning (2 March 2026).
OPENED = dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))


class ServiceDefaultsTests(TestCase):
    def test_a_fresh_installation_gets_sla_policies_a_revisit_template_and_two_teams(self):
        created = service_defaults_ensure()
        assert created == SlaPolicy.objects.count() + 1 + 2
        assert RevisitTemplate.objects.get(is_default=True).months == "1,3,6,12"
        assert default_revisit_months(12) == [1, 3, 6, 12]
        teams = {t.code: t for t in Team.objects.all()}
        assert teams["after-sales"].name == "工程部售后组"
        assert teams["after-sales"].rule == AssignmentRule.LEAST_OPEN
        assert teams["customer-centre"].name == "客户中心"
        assert teams["customer-centre"].rule == AssignmentRule.ROUND_ROBIN
        assert not teams["after-sales"].members.exists()
        # the routing finds them
        assert default_team(TicketKind.FAULT) == teams["after-sales"]
        assert default_team(TicketKind.COMPLAINT) == teams["customer-centre"]
        # every creation is audited, as the administration pages audit theirs
        assert AuditEntry.objects.filter(action="slapolicy.create").count() == len(SLA_POLICIES)
        assert AuditEntry.objects.filter(action="team.create").count() == 2

    def test_every_ticket_gets_a_policy_and_urgent_faults_run_around_the_clock(self):
        service_defaults_ensure()
        urgent = policy_for(TicketKind.FAULT, "urgent", "key_unit")
        assert urgent is not None and urgent.name.startswith("紧急故障")
        assert not parse_duration(urgent.resolution).is_work_time
        assert policy_for(TicketKind.FAULT, "high", "").name == "重要故障"
        assert policy_for(TicketKind.FAULT, "low", "").name == "一般故障"
        assert policy_for(TicketKind.COMPLAINT, "normal", "").name == "投诉"
        assert policy_for(TicketKind.OTHER, "low", "").name == "通用"
        for kind in TicketKind.values:
            for priority in ("urgent", "high", "normal", "low"):
                assert policy_for(kind, priority, "") is not None, (kind, priority)

    def test_a_ticket_is_not_at_risk_the_moment_it_is_opened(self):
        # The warning applies to both deadlines: it must come after the ticket is opened.
        service_defaults_ensure()
        calendar = current_calendar()
        opened = OPENED
        for policy in SlaPolicy.objects.all():
            response_due = calendar.add(opened, parse_duration(policy.first_response))
            resolution_due = calendar.add(opened, parse_duration(policy.resolution))
            warning = parse_duration(policy.warn_before)
            assert calendar.subtract(response_due, warning) > opened, policy.name
            assert resolution_due > response_due, policy.name

    def test_a_later_migrate_adds_nothing_and_keeps_the_administrators_changes(self):
        service_defaults_ensure()
        SlaPolicy.objects.filter(name="投诉").update(resolution="3 workdays")
        Team.objects.filter(code="customer-centre").delete()
        RevisitTemplate.objects.update(months="1,6,12")
        counts = (SlaPolicy.objects.count(), RevisitTemplate.objects.count())
        assert service_defaults_ensure() == 0
        assert (SlaPolicy.objects.count(), RevisitTemplate.objects.count()) == counts
        assert SlaPolicy.objects.get(name="投诉").resolution == "3 workdays"
        assert not Team.objects.filter(code="customer-centre").exists()
        assert RevisitTemplate.objects.get().months == "1,6,12"

    def test_defaults_come_back_only_into_an_empty_table(self):
        service_defaults_ensure()
        SlaPolicy.objects.all().delete()
        assert service_defaults_ensure() == len(SLA_POLICIES)
        assert Team.objects.count() == 2

    def test_migrate_creates_the_defaults_outside_the_test_suite(self):
        config = apps.get_app_config("service")
        send = {
            "sender": config,
            "app_config": config,
            "verbosity": 0,
            "interactive": False,
            "using": "default",
            "apps": apps,
            "plan": [],
        }
        post_migrate.send(**send)
        assert not SlaPolicy.objects.exists()  # the test database starts bare
        with override_settings(TESTING=False):
            post_migrate.send(**send)
            post_migrate.send(**send)
        assert SlaPolicy.objects.count() == len(SLA_POLICIES)
        assert Team.objects.count() == 2
