from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import workflow
from customers.models import Customer
from service import services
from service.models import AfterSalesPlan
from workflow import services as workflow_services
from workflow.models import Case, DefinitionVersion

BPMN = Path(workflow.__file__).parent / "tests" / "bpmn" / "approval_loop.bpmn"


def publish_process() -> DefinitionVersion:
    version = workflow_services.definition_upload(actor=None, xml=BPMN.read_text())
    return workflow_services.version_publish(actor=None, version=version)


def make_case(customer: Customer, version: DefinitionVersion | None = None) -> Case:
    return workflow_services.case_start(
        actor=None, customer=customer, version=version or publish_process()
    )


def make_plan(customer: Customer, starts_on: dt.date, **extra: Any) -> AfterSalesPlan:
    return services.after_sales_plan_start(
        actor=None, customer=customer, starts_on=starts_on, **extra
    )
