"""The sidebar: sections by department function, each item shown only to users allowed to open it.

Features add their items here; a section without a visible item is not shown at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    label: Promise
    url_name: str
    icon: str
    allowed: Callable[[Any], bool]


@dataclass(frozen=True)
class NavSection:
    key: str
    label: Promise
    icon: str
    items: tuple[NavItem, ...]


def _perm(perm: str) -> Callable[[Any], bool]:
    return lambda user: user.has_perm(perm)


def _everyone(user: Any) -> bool:
    return True


SECTIONS: tuple[NavSection, ...] = (
    NavSection(
        "workbench",
        _("Workbench"),
        "speedometer2",
        (
            NavItem(_("My workbench"), "dashboard", "speedometer2", _everyone),
            NavItem(_("My care tasks"), "care:tasks", "heart-pulse", _perm("care.view_caretask")),
            NavItem(_("Staff performance"), "insights:performance", "person-check", _everyone),
        ),
    ),
    NavSection(
        "work",
        _("Processes"),
        "kanban",
        (
            NavItem(_("My tasks"), "workflow:inbox", "inbox", _perm("workflow.view_case")),
            NavItem(_("Cases"), "workflow:cases", "folder2-open", _perm("workflow.view_case")),
            NavItem(
                _("Archived onboarding cases"),
                "onboarding:archive",
                "archive",
                _perm("workflow.view_case"),
            ),
            NavItem(
                _("New retailer licences"),
                "onboarding:licences",
                "shop",
                lambda user: (
                    user.has_perm("workflow.add_case") and user.has_perm("customers.add_customer")
                ),
            ),
            NavItem(
                _("Process definitions"),
                "workflow:definitions",
                "diagram-2",
                _perm("workflow.view_processdefinition"),
            ),
            NavItem(
                _("Business calendar"),
                "admin:workflow_calendarday_changelist",
                "calendar3",
                _perm("workflow.view_calendarday"),
            ),
            NavItem(
                _("Group robots"),
                "admin:workflow_robotwebhook_changelist",
                "robot",
                _perm("workflow.view_robotwebhook"),
            ),
            NavItem(
                _("Printed form headers"),
                "admin:onboarding_formheader_changelist",
                "printer",
                _perm("onboarding.view_formheader"),
            ),
        ),
    ),
    NavSection(
        "customers",
        _("Customers"),
        "buildings",
        (
            NavItem(
                _("Customer records"),
                "customers:list",
                "buildings",
                _perm("customers.view_customer"),
            ),
            NavItem(
                _("New customer"),
                "customers:create",
                "plus-circle",
                _perm("customers.add_customer"),
            ),
            NavItem(
                _("Import"),
                "customers:import",
                "box-arrow-in-down",
                _perm("customers.import_customers"),
            ),
            NavItem(
                _("Duplicates"),
                "customers:duplicates",
                "union",
                _perm("customers.merge_customers"),
            ),
        ),
    ),
    NavSection(
        "devices",
        _("Devices and monitoring"),
        "broadcast",
        (
            NavItem(_("Alarm board"), "devices:board", "bell", _perm("devices.view_board")),
            NavItem(
                _("Collectors"), "devices:collectors", "router", _perm("devices.view_collector")
            ),
            NavItem(
                _("Joint tests"),
                "devices:joint_tests",
                "check2-square",
                _perm("devices.view_collector"),
            ),
            NavItem(
                _("Network operations"),
                "devices:network",
                "hdd-network",
                lambda user: (
                    user.has_perm("devices.manage_network") or user.has_perm("devices.view_board")
                ),
            ),
        ),
    ),
    NavSection(
        "service",
        _("After-sales service"),
        "headset",
        (
            NavItem(
                _("My tickets"), "service:my_tickets", "person-check", _perm("service.view_ticket")
            ),
            NavItem(
                _("All tickets"), "service:tickets", "ticket-detailed", _perm("service.view_ticket")
            ),
            NavItem(
                _("New ticket"), "service:ticket_create", "plus-circle", _perm("service.add_ticket")
            ),
            NavItem(
                _("Revisits"),
                "service:revisits",
                "telephone-outbound",
                _perm("service.view_scheduledrevisit"),
            ),
            NavItem(
                _("Warranties ending"),
                "service:warranties",
                "shield-exclamation",
                _perm("service.view_ticket"),
            ),
            NavItem(
                _("Satisfaction surveys"),
                "service:surveys",
                "emoji-smile",
                _perm("service.view_survey"),
            ),
            NavItem(
                _("Knowledge base"),
                "service:articles",
                "journal-text",
                _perm("service.view_article"),
            ),
            NavItem(
                _("Service dashboard"),
                "service:dashboard",
                "bar-chart-line",
                _perm("service.view_service_dashboard"),
            ),
            NavItem(
                _("SLA policies"),
                "admin:service_slapolicy_changelist",
                "stopwatch",
                _perm("service.view_slapolicy"),
            ),
            NavItem(
                _("Service teams"),
                "admin:service_team_changelist",
                "people",
                _perm("service.view_team"),
            ),
            NavItem(
                _("Leave"),
                "admin:service_leave_changelist",
                "calendar-x",
                _perm("service.view_leave"),
            ),
            NavItem(
                _("Revisit templates"),
                "admin:service_revisittemplate_changelist",
                "list-ol",
                _perm("service.view_revisittemplate"),
            ),
        ),
    ),
    NavSection(
        "insights",
        _("Customer insights"),
        "graph-up",
        (
            NavItem(_("Reports"), "reports:index", "bar-chart-line", _perm("reports.view_reports")),
            NavItem(
                _("Customer segments"),
                "customers:segments",
                "funnel",
                _perm("customers.view_segment"),
            ),
            NavItem(
                _("Customer value classes"),
                "insights:value",
                "gem",
                _perm("insights.view_value"),
            ),
            NavItem(_("Churn risk"), "insights:churn", "person-dash", _perm("insights.view_churn")),
            NavItem(_("Key accounts"), "care:keyaccounts", "star", _perm("care.view_keyaccount")),
            NavItem(
                _("Holiday greetings"), "care:greetings", "gift", _perm("inquiries.send_notice")
            ),
            NavItem(_("Care rules"), "care:settings", "sliders", _perm("care.change_caresettings")),
            NavItem(
                _("Association analysis"),
                "insights:association",
                "diagram-3",
                _perm("service.view_service_dashboard"),
            ),
        ),
    ),
    NavSection(
        "inquiries",
        _("Online inquiries"),
        "chat-left-text",
        (
            NavItem(
                _("Inquiry queue"), "inquiries:queue", "inbox", _perm("inquiries.view_inquiry")
            ),
            NavItem(
                _("Enter a question found online"),
                "inquiries:create",
                "plus-circle",
                _perm("inquiries.add_inquiry"),
            ),
            NavItem(
                _("Customer notices"),
                "inquiries:notices",
                "megaphone",
                _perm("inquiries.view_notice"),
            ),
            NavItem(
                _("Inquiry statistics"),
                "inquiries:stats",
                "bar-chart-line",
                _perm("inquiries.view_inquiry_stats"),
            ),
            NavItem(
                _("Public links"),
                "inquiries:public_links",
                "link-45deg",
                _perm("inquiries.view_project"),
            ),
            NavItem(
                _("Projects"),
                "admin:inquiries_project_changelist",
                "building",
                _perm("inquiries.view_project"),
            ),
            NavItem(
                _("Responsibility matrix"),
                "admin:inquiries_routingrule_changelist",
                "diagram-3",
                _perm("inquiries.view_routingrule"),
            ),
            NavItem(
                _("Reply templates"),
                "admin:inquiries_replytemplate_changelist",
                "file-text",
                _perm("inquiries.view_replytemplate"),
            ),
            NavItem(
                _("Contentious keywords"),
                "admin:inquiries_contentiouskeyword_changelist",
                "exclamation-triangle",
                _perm("inquiries.view_contentiouskeyword"),
            ),
            NavItem(
                _("Mailboxes"),
                "admin:inquiries_mailbox_changelist",
                "envelope",
                _perm("inquiries.view_mailbox"),
            ),
            NavItem(
                _("Inquiry desk settings"),
                "admin:inquiries_desksettings_changelist",
                "sliders",
                _perm("inquiries.view_desksettings"),
            ),
        ),
    ),
    NavSection(
        "system",
        _("System administration"),
        "gear",
        (
            NavItem(
                _("Users"), "admin:accounts_user_changelist", "people", _perm("accounts.view_user")
            ),
            NavItem(
                _("Departments"),
                "admin:accounts_department_changelist",
                "diagram-3",
                _perm("accounts.view_department"),
            ),
            NavItem(
                _("Roles"), "admin:auth_group_changelist", "person-badge", _perm("auth.view_group")
            ),
            NavItem(
                _("Regions"),
                "admin:accounts_region_changelist",
                "geo-alt",
                _perm("accounts.view_region"),
            ),
            NavItem(
                _("Sales territories"),
                "admin:accounts_territory_changelist",
                "map",
                _perm("accounts.view_territory"),
            ),
            NavItem(
                _("Locked accounts"), "accounts:lockouts", "lock", _perm("accounts.change_user")
            ),
            NavItem(_("Audit log"), "audit:list", "journal-check", _perm("audit.view_auditentry")),
        ),
    ),
)


def visible_sections(user: Any, current_path: str = "") -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    for section in SECTIONS:
        items: list[dict[str, Any]] = [
            {"label": item.label, "url": reverse(item.url_name), "icon": item.icon, "active": False}
            for item in section.items
            if item.allowed(user)
        ]
        if items:
            sections.append(
                {"key": section.key, "label": section.label, "icon": section.icon, "items": items}
            )
    # The active item is the longest menu URL the current page lives under.
    matches = [
        item
        for section in sections
        for item in section["items"]
        if current_path == item["url"]
        or (item["url"] != "/" and current_path.startswith(item["url"]))
    ]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
    return sections


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": []}
    return {"nav_sections": visible_sections(user, request.path)}
