"""URLs of the dashboard pages (included by service/urls.py)."""

from django.urls import URLPattern, path

from service import dashboard_views

urlpatterns: list[URLPattern] = [
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
]
