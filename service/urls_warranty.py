"""URLs of the warranty pages and of the revisit form on revisit tickets (see service/urls.py)."""

from django.urls import URLPattern, path

from service import revisit_ticket_views, warranty_views

urlpatterns: list[URLPattern] = [
    path("warranties/", warranty_views.warranty_list, name="warranties"),
    path("warranties/export.xlsx", warranty_views.warranty_export, name="warranties_export"),
    path(
        "tickets/<int:pk>/revisit/",
        revisit_ticket_views.revisit_ticket_record,
        name="ticket_revisit_record",
    ),
]
