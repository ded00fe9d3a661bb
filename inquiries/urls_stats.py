from django.urls import URLPattern, path

from inquiries import stats_views

urlpatterns: list[URLPattern] = [
    path("stats/", stats_views.inquiry_stats_page, name="stats"),
    path("stats/export.xlsx", stats_views.inquiry_export, name="export"),
]
