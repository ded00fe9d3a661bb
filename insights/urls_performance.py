from django.urls import URLPattern, path

from insights import performance_views

urlpatterns: list[URLPattern] = [
    path("performance/", performance_views.performance_page, name="performance"),
    path(
        "performance/export.xlsx",
        performance_views.performance_export,
        name="performance_export",
    ),
]
