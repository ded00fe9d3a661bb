from django.urls import URLPattern, path

from reports import funnel_views, workload_views

urlpatterns: list[URLPattern] = [
    path("funnel/", funnel_views.funnel_page, name="funnel"),
    path("funnel/export/", funnel_views.funnel_export, name="funnel_export"),
    path("workload/", workload_views.workload_page, name="workload"),
    path("workload/export/", workload_views.workload_export, name="workload_export"),
]
