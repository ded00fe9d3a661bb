"""The built-in roles. Each is a Django group (named in Chinese) with a stable code.

Later features add their permissions to the roles here; `roles_sync` (run after every migrate)
creates missing roles and grants permissions that are new in code, and never removes what an
administrator granted by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class RoleSpec:
    code: str
    name: str  # the group name stored in the database (Chinese, the default language)
    label: Promise  # translatable label for the UI
    permissions: tuple[str, ...] = field(default=())
    is_staff: bool = False  # may open the administration pages


ORGANISATION_ADMIN_PERMISSIONS = (
    *(
        f"{app}.{action}_{model}"
        for app, model in [
            ("accounts", "user"),
            ("accounts", "department"),
            ("accounts", "role"),
            ("accounts", "region"),
            ("accounts", "territory"),
            ("auth", "group"),
        ]
        for action in ("add", "change", "delete", "view")
    ),
    "auth.view_permission",
    "otp_totp.view_totpdevice",
    "otp_totp.delete_totpdevice",
)

AUDIT_PERMISSIONS = ("audit.view_auditentry", "audit.export_auditentry")

# Customer records (客户档案). Scope: account managers see their own customers and those of their
# regions/territories, managers their department's, the rest below see every customer.
CUSTOMER_VIEW = ("customers.view_customer",)
CUSTOMER_VIEW_ALL = ("customers.view_customer", "customers.view_all_customers")
CUSTOMER_EDIT = ("customers.add_customer", "customers.change_customer")
CUSTOMER_MANAGE = (
    *CUSTOMER_EDIT,
    "customers.reveal_personal_data",
    "customers.import_customers",
    "customers.export_customers",
    "customers.merge_customers",
)

# Processes (作业指导书 run as BPMN). Everyone who works tasks sees cases (of the customers they
# may see) and may start them; managers reassign tasks and hold/resume/cancel any case.
WORKFLOW_WORK = ("workflow.view_case", "workflow.add_case")
WORKFLOW_MANAGE = (*WORKFLOW_WORK, "workflow.change_case", "workflow.reassign_task")
PROCESS_ADMIN = (
    "workflow.view_processdefinition",
    "workflow.change_processdefinition",
    "workflow.publish_processdefinition",
    *(
        f"workflow.{action}_{model}"
        for model in ("calendarday", "calendaryear", "workinghourssetting", "robotwebhook")
        for action in ("add", "change", "delete", "view")
    ),
    # The letterhead and headers printed on the onboarding forms (附件一…八).
    "onboarding.add_companyprofile",
    "onboarding.change_companyprofile",
    "onboarding.view_companyprofile",
    "onboarding.change_formheader",
    "onboarding.view_formheader",
)

# Devices (采集机, 点位表, 监控台, 联调, 网管). Collectors are seen with their customers.
DEVICE_VIEW = ("devices.view_collector",)
DEVICE_REGISTRY = (*DEVICE_VIEW, "devices.add_collector", "devices.change_collector")
DEVICE_POINTS = (*DEVICE_VIEW, "devices.change_point_table")
DEVICE_BOARD = (*DEVICE_VIEW, "devices.view_board")
DEVICE_WATCH = (*DEVICE_BOARD, "devices.handle_event")
JOINT_TEST = (*DEVICE_VIEW, "devices.run_joint_test")
NETWORK_OPS = (*DEVICE_REGISTRY, *DEVICE_BOARD, "devices.manage_network")

# After-sales service (售后服务, 回访): plans and revisits are seen with their customers; the
# engineering side (engineers, supervisors) records revisits as done or cancels them.
# After-sales service (售后服务): tickets, revisits, surveys, knowledge base. Everyone who
# serves customers sees tickets (of the customers they see) and may open one; engineers and the
# customer centre work them; supervisors and managers (re)assign and review complaints.
SERVICE_TICKETS = (
    "service.view_ticket",
    "service.add_ticket",
    "service.view_survey",
    "service.view_article",
)
SERVICE_VIEW = ("service.view_aftersalesplan", "service.view_scheduledrevisit", *SERVICE_TICKETS)
SERVICE_REVISIT = (*SERVICE_VIEW, "service.close_revisit")
SERVICE_WORK = (
    *SERVICE_VIEW,
    "service.work_ticket",
    "service.add_article",
    "service.change_article",
)
# Leading the service: routing, complaint reviews, the dashboard, SLA policies, teams, leave.
SERVICE_LEAD = (
    "service.assign_ticket",
    "service.review_complaint",
    "service.view_service_dashboard",
    "service.add_slapolicy",
    "service.change_slapolicy",
    "service.view_slapolicy",
    "service.add_team",
    "service.change_team",
    "service.view_team",
    "service.add_teammember",
    "service.change_teammember",
    "service.delete_teammember",
    "service.view_teammember",
    "service.add_leave",
    "service.change_leave",
    "service.delete_leave",
    "service.view_leave",
    "service.add_revisittemplate",
    "service.change_revisittemplate",
    "service.view_revisittemplate",
)

# Online inquiry desk (网上客户信息管理). Other staff read inquiries and leave internal comments
# (the seed's 3.4.2); only the desk replies in the company's name; contentious replies wait for a
# supervisor. Notices go to customers chosen by project, region, tag, status or a saved segment.
INQUIRY_READ = ("inquiries.view_inquiry",)
SEGMENT_USE = (
    "customers.view_segment",
    "customers.add_segment",
    "customers.change_segment",
    "customers.delete_segment",
)
INQUIRY_WORK = (
    *INQUIRY_READ,
    "inquiries.add_inquiry",
    "inquiries.reply_inquiry",
    "inquiries.view_notice",
    "inquiries.add_notice",
    "inquiries.change_notice",
    "inquiries.send_notice",
    *SEGMENT_USE,
)
INQUIRY_LEAD = (
    "inquiries.view_all_inquiries",
    "inquiries.review_reply",
    "inquiries.assign_inquiry",
    "inquiries.view_inquiry_stats",
    "inquiries.export_inquiries",
    *(
        f"inquiries.{action}_{model}"
        for model in (
            "project",
            "routingrule",
            "contentiouskeyword",
            "replytemplate",
            "mailbox",
        )
        for action in ("add", "change", "delete", "view")
    ),
    "inquiries.change_desksettings",
    "inquiries.view_desksettings",
)

ROLES: tuple[RoleSpec, ...] = (
    RoleSpec(
        "market_staff",
        "市场专员",
        _("Market staff"),
        permissions=(
            "insights.view_churn",
            "care.view_caretask",
            "care.add_caretask",
            "care.view_keyaccount",
            "insights.view_value",
            *INQUIRY_READ,
            *CUSTOMER_VIEW,
            *CUSTOMER_EDIT,
            *WORKFLOW_WORK,
            *SERVICE_TICKETS,
        ),
    ),
    RoleSpec(
        "market_manager",
        "市场经理",
        _("Market manager"),
        permissions=(
            "reports.view_reports",
            "reports.export_reports",
            "insights.view_churn",
            "insights.recompute_churn",
            "care.view_caretask",
            "care.add_caretask",
            "care.change_caretask",
            "care.view_caresettings",
            "care.change_caresettings",
            "care.view_keyaccount",
            "care.change_keyaccount",
            "care.manage_keyaccount_rules",
            "care.export_keyaccounts",
            "insights.view_value",
            "insights.recompute_value",
            *INQUIRY_READ,
            *SEGMENT_USE,
            "inquiries.view_inquiry_stats",
            "inquiries.export_inquiries",
            "inquiries.view_notice",
            *CUSTOMER_VIEW,
            *CUSTOMER_MANAGE,
            *WORKFLOW_MANAGE,
            *SERVICE_VIEW,
            "service.view_service_dashboard",
        ),
    ),
    RoleSpec(
        "operations_director",
        "运行总监",
        _("Operations director"),
        permissions=(
            "reports.view_reports",
            "reports.export_reports",
            "reports.refresh_reports",
            "insights.view_churn",
            "insights.recompute_churn",
            "insights.view_churnsettings",
            "insights.change_churnsettings",
            "care.view_caretask",
            "care.add_caretask",
            "care.change_caretask",
            "care.view_caresettings",
            "care.change_caresettings",
            "care.view_all_care_tasks",
            "care.view_keyaccount",
            "care.change_keyaccount",
            "care.manage_keyaccount_rules",
            "care.export_keyaccounts",
            "care.manage_all_keyaccounts",
            "care.view_keyaccountsettings",
            "care.change_keyaccountsettings",
            "insights.view_value",
            "insights.recompute_value",
            "insights.view_valuesettings",
            "insights.change_valuesettings",
            *INQUIRY_READ,
            "inquiries.view_inquiry_stats",
            *CUSTOMER_VIEW_ALL,
            "customers.export_customers",
            *WORKFLOW_MANAGE,
            *DEVICE_BOARD,
            *SERVICE_VIEW,
            *SERVICE_LEAD,
        ),
        # may open the service configuration pages (SLA policies, teams, leave)
        is_staff=True,
    ),
    RoleSpec(
        "engineer",
        "工程师",
        _("Engineer"),
        permissions=(
            *CUSTOMER_VIEW_ALL,
            "customers.change_customer",
            *WORKFLOW_WORK,
            *DEVICE_REGISTRY,
            *DEVICE_POINTS,
            *JOINT_TEST,
            *SERVICE_WORK,
            *SERVICE_REVISIT,
        ),
    ),
    RoleSpec(
        "technical_staff",
        "技术员",
        _("Technical staff"),
        permissions=(
            *CUSTOMER_VIEW_ALL,
            "customers.change_customer",
            *WORKFLOW_WORK,
            *DEVICE_POINTS,
            *JOINT_TEST,
        ),
    ),
    RoleSpec(
        "procurement", "采购员", _("Procurement"), permissions=(*CUSTOMER_VIEW_ALL, *WORKFLOW_WORK)
    ),
    RoleSpec(
        "monitoring_operator",
        "监控值班员",
        _("Monitoring operator"),
        permissions=(
            *CUSTOMER_VIEW_ALL,
            *WORKFLOW_WORK,
            *DEVICE_WATCH,
            *JOINT_TEST,
            *SERVICE_TICKETS,
        ),
    ),
    RoleSpec(
        "account_manager",
        "客户经理",
        _("Account manager"),
        permissions=(
            "reports.view_reports",
            "insights.view_churn",
            "care.view_caretask",
            "care.add_caretask",
            "care.view_keyaccount",
            "care.change_keyaccount",
            "insights.view_value",
            *INQUIRY_READ,
            *CUSTOMER_VIEW,
            *CUSTOMER_EDIT,
            *WORKFLOW_WORK,
            *DEVICE_VIEW,
            *SERVICE_TICKETS,
            # tickets routed to the customer's own account manager (team rule "owner")
            "service.work_ticket",
        ),
    ),
    RoleSpec(
        "customer_centre_agent",
        "客户中心专员",
        _("Customer-centre agent"),
        permissions=(
            "reports.view_reports",
            *INQUIRY_WORK,
            *CUSTOMER_VIEW_ALL,
            *CUSTOMER_EDIT,
            *WORKFLOW_WORK,
            *DEVICE_VIEW,
            *SERVICE_WORK,
        ),
    ),
    RoleSpec(
        "supervisor",
        "主管",
        _("Supervisor"),
        permissions=(
            "reports.view_reports",
            "reports.export_reports",
            "insights.view_churn",
            "care.view_caretask",
            "care.add_caretask",
            "care.change_caretask",
            "care.view_caresettings",
            "care.change_caresettings",
            "care.view_keyaccount",
            "care.change_keyaccount",
            "care.manage_all_keyaccounts",
            "care.manage_keyaccount_rules",
            "care.export_keyaccounts",
            "insights.view_value",
            *INQUIRY_WORK,
            *INQUIRY_LEAD,
            *CUSTOMER_VIEW,
            *CUSTOMER_MANAGE,
            *WORKFLOW_MANAGE,
            *DEVICE_VIEW,
            *SERVICE_WORK,
            *SERVICE_REVISIT,
            *SERVICE_LEAD,
        ),
        # may open the service configuration pages (SLA policies, teams, leave)
        is_staff=True,
    ),
    RoleSpec(
        "inquiry_responder",
        "网上答复员",
        _("Inquiry responder"),
        # Sales-team and property-department staff who answer the inquiries of their team (the
        # seed's 3.2.2 and 3.2.4): they see those inquiries, not the customer records.
        permissions=(*INQUIRY_READ, "inquiries.add_inquiry", "inquiries.reply_inquiry"),
    ),
    RoleSpec(
        "network_admin",
        "网管",
        _("Network administrator"),
        permissions=(*CUSTOMER_VIEW_ALL, *NETWORK_OPS),
    ),
    RoleSpec(
        "system_admin",
        "系统管理员",
        _("System administrator"),
        permissions=(
            *ORGANISATION_ADMIN_PERMISSIONS,
            *CUSTOMER_VIEW_ALL,
            *CUSTOMER_EDIT,
            *WORKFLOW_WORK,
            *PROCESS_ADMIN,
        ),
        is_staff=True,
    ),
    RoleSpec("audit_admin", "审计管理员", _("Audit administrator"), permissions=AUDIT_PERMISSIONS),
)

ROLES_BY_CODE = {spec.code: spec for spec in ROLES}

# 三员分立: these pairs of roles may not be held by one person.
INCOMPATIBLE_ROLES = (("system_admin", "audit_admin"),)
# The audit administrator reads the audit log and nothing else.
AUDIT_ONLY_ROLES = frozenset({"audit_admin"})


def role_label(code: str, fallback: str) -> str:
    spec = ROLES_BY_CODE.get(code)
    return str(spec.label) if spec else fallback
