"""URLs of the tickets pages (included by service/urls.py)."""

from django.urls import URLPattern, path

from service import ticket_views as views

urlpatterns: list[URLPattern] = [
    path("tickets/", views.ticket_list, name="tickets"),
    path("tickets/mine/", views.ticket_list, {"mine": True}, name="my_tickets"),
    path("tickets/new/", views.ticket_create, name="ticket_create"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket"),
    path("tickets/<int:pk>/note/", views.ticket_note, name="ticket_note"),
    path("tickets/<int:pk>/status/", views.ticket_status, name="ticket_status"),
    path("tickets/<int:pk>/assign/", views.ticket_assign, name="ticket_assign"),
    path("tickets/<int:pk>/link/", views.ticket_link, name="ticket_link"),
    path("tickets/<int:pk>/attach/", views.ticket_attach, name="ticket_attach"),
]
