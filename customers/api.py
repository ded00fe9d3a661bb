from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from accounts.models import User
from customers import selectors
from customers.models import Customer
from ruwang.lib.masking import mask_phone

router = Router(tags=["customers"])


class CustomerOut(Schema):
    id: int
    name: str
    short_name: str
    kind: str
    category: str
    status: str
    credit_code: str | None
    region_code: str
    region_name: str
    address: str
    owner: str | None
    created_at: datetime

    @staticmethod
    def from_customer(c: Customer) -> CustomerOut:
        return CustomerOut(
            id=c.pk,
            name=c.name,
            short_name=c.short_name,
            kind=c.kind,
            category=c.category,
            status=c.status,
            credit_code=c.credit_code,
            region_code=c.region.code,
            region_name=c.region.full_name,
            address=c.address,
            owner=c.owner.username if c.owner else None,
            created_at=c.created_at,
        )


class ContactOut(Schema):
    id: int
    name: str
    role: str
    mobile_masked: str
    is_primary: bool


class CustomerDetailOut(CustomerOut):
    contacts: list[ContactOut]


class CustomerPageOut(Schema):
    results: list[CustomerOut]
    next: str | None
    total: str


class ListFilters(Schema):
    q: str = ""
    status: str = ""
    category: str = ""
    kind: str = ""
    sort: str = "-id"
    after: str = ""


def _user(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_perm("customers.view_customer"):
        raise HttpError(403, "customers.view_customer")
    return user


@router.get("", response=CustomerPageOut, summary="List the customers you may see")
def list_customers(request: HttpRequest, filters: Query[ListFilters]) -> CustomerPageOut:
    user = _user(request)
    criteria = selectors.CustomerFilters(
        q=filters.q,
        status=filters.status,
        category=filters.category,
        kind=filters.kind,
        sort=filters.sort if filters.sort in selectors.SORTS else "-id",
    )
    page = selectors.customer_page(selectors.customer_query(user, criteria), filters.after)
    return CustomerPageOut(
        results=[CustomerOut.from_customer(c) for c in page.rows],
        next=page.next_cursor,
        total=page.total_label,
    )


@router.get("/{customer_id}", response=CustomerDetailOut, summary="One customer")
def get_customer(request: HttpRequest, customer_id: int) -> CustomerDetailOut:
    user = _user(request)
    try:
        customer = selectors.customer_get(user, customer_id)
    except Customer.DoesNotExist as exc:
        raise HttpError(404, "Not found") from exc
    base = CustomerOut.from_customer(customer)
    return CustomerDetailOut(
        **base.model_dump(),
        contacts=[
            ContactOut(
                id=c.pk,
                name=c.name,
                role=c.role,
                mobile_masked=mask_phone(c.mobile) if c.mobile else "",
                is_primary=c.is_primary,
            )
            for c in customer.contacts.all()
        ],
    )
