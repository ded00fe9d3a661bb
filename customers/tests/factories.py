from __future__ import annotations

from typing import Any

from accounts.models import Region, User
from customers import services
from customers.models import Contact, Customer


def make_customer(name: str, region: Region, owner: User | None = None, **data: Any) -> Customer:
    contacts = data.pop("contacts", [])
    customer = services.customer_create(
        actor=None, data={"name": name, "region": region, "owner": owner, **data}
    )
    for contact in contacts:
        services.contact_save(actor=None, customer=customer, data=contact)
    customer.refresh_from_db()
    return customer


def make_contact(customer: Customer, **data: Any) -> Contact:
    return services.contact_save(
        actor=None, customer=customer, data={"name": "联系人", "role": "contact", **data}
    )
