"""Demo cases of the tobacco retailer SOP at every step, so each demo inbox has work in it."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from django import forms
from django.db import transaction

from accounts.models import User
from customers import services as customer_services
from customers.models import Customer, CustomerKind, CustomerStatus
from onboarding.forms import RegistrationForm, VerificationForm
from workflow import services
from workflow.models import Case, Task

PROCESS = "tobacco-retailer-onboarding"
# How far each demo case gets: 0 registration, 1 verification, 2 review, 3 archived.
STAGES = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]

# A one-pixel PNG: the licence scan the verification step requires.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)


def _clean(form_class: type[forms.Form], data: dict[str, Any]) -> dict[str, Any]:
    form = form_class(data=data)
    if not form.is_valid():
        raise ValueError(f"demo data for {form_class.__name__}: {form.errors.as_json()}")
    return form.cleaned_data


def _open_task(case: Case) -> Task:
    return case.tasks.get(status__in=["ready", "claimed"])


def load_cases() -> int:
    """Start the demo cases once (when there are none); returns how many were started."""
    if Case.objects.exists():
        return 0
    clerk = User.objects.filter(groups__role__code="system_admin", is_demo=True).first()
    manager = User.objects.filter(groups__role__code="market_manager", is_demo=True).first()
    retailers = list(
        Customer.objects.filter(kind=CustomerKind.RETAILER, status=CustomerStatus.PROSPECT)
        .select_related("region")
        .order_by("id")[: len(STAGES)]
    )
    if clerk is None or manager is None or not retailers:
        return 0
    started = 0
    for i, (customer, stage) in enumerate(zip(retailers, STAGES, strict=False)):
        with transaction.atomic():
            case = services.case_start(actor=manager, customer=customer, key=PROCESS)
            started += 1
            if _open_task(case).node_id == "Activity_Assign":
                # No territory manager for this district: the market manager picks one.
                am = User.objects.filter(groups__role__code="account_manager", is_demo=True)[0]
                services.task_complete(
                    actor=manager,
                    task=_open_task(case),
                    data={"account_manager": am, "assign_note": "演示：按片区指定"},
                )
            if stage < 1:
                continue
            services.task_complete(
                actor=clerk,
                task=_open_task(case),
                data=_clean(
                    RegistrationForm,
                    {
                        "licence_number": f"36010{i:07d}",
                        "shop_name": customer.name,
                        "operator_name": f"经营者{i}",
                        "operator_mobile": f"1390791{i:04d}",
                        "business_address": f"{customer.region.full_name}新村路{i + 1}号",
                        "business_type": "convenience",
                        "licence_issued_on": date(2026, 11, 1).isoformat(),
                        "licence_valid_until": date(2031, 10, 31).isoformat(),
                    },
                ),
            )
            if stage < 2:
                continue
            customer.refresh_from_db()
            customer_services.document_upload(
                actor=None,
                customer=customer,
                kind="licence",
                title="烟草专卖零售许可证",
                file_name="licence.png",
                fileobj=io.BytesIO(PNG),
                size=len(PNG),
            )
            verify = _open_task(case)
            owner = verify.assignee or customer.owner
            assert owner is not None
            services.task_complete(
                actor=owner,
                task=verify,
                data=_clean(
                    VerificationForm,
                    {
                        "verified_on_site": "on",
                        "business_status": "open",
                        "order_day": ["mon", "wed", "fri"][i % 3],
                        "grade": 8 + i,
                        "delivery_route": f"南昌东{i % 4 + 1}线",
                        "order_method": "online",
                        "policy_explained": "on",
                        "supply_introduced": "on",
                        "ordering_explained": "on",
                    },
                ),
            )
            if stage < 3:
                continue
            services.task_complete(
                actor=manager, task=_open_task(case), data={"decision": "approve", "reason": ""}
            )
    return started
