from django.urls import URLPattern, path

from insights import association_views

urlpatterns: list[URLPattern] = [
    path("association/", association_views.association_report, name="association"),
    path("association/export/", association_views.association_export, name="association_export"),
]
