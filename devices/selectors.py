"""Reads of the device registry and traffic, limited to what the user may see.

A collector is visible with its customer (customers.selectors' visibility rules); collectors in
stock (no customer yet) are visible to users who see every customer.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import User
from customers.selectors import customer_visible, customers_visible_to
from devices.models import Collector, DeviceEvent, Point


def collectors_visible_to(user: User) -> QuerySet[Collector]:
    qs = Collector.objects.all()
    if user.has_perm("customers.view_all_customers"):
        return qs
    return qs.filter(Q(customer__in=customers_visible_to(user)))


def collector_visible(user: User, collector: Collector) -> bool:
    if collector.customer is None:
        return user.has_perm("customers.view_all_customers")
    return customer_visible(user, collector.customer)


def collector_get(user: User, pk: int) -> Collector:
    """The collector, or Collector.DoesNotExist (shown as 404) when the user may not see it."""
    collector = Collector.objects.select_related("customer", "site").get(pk=pk)
    if not collector_visible(user, collector):
        raise Collector.DoesNotExist
    return collector


def events_visible_to(user: User) -> QuerySet[DeviceEvent]:
    qs = DeviceEvent.objects.all()
    if user.has_perm("customers.view_all_customers"):
        return qs
    return qs.filter(collector__customer__in=customers_visible_to(user))


def points_of_collector(collector: Collector) -> QuerySet[Point]:
    return (
        Point.objects.filter(system__collector=collector)
        .select_related("system", "floor")
        .order_by("system__system_type", "system__system_address", "component_address")
    )
