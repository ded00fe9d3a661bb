from django.urls import path

from customers import segment_views

urlpatterns = [
    path("segments/", segment_views.segment_list, name="segments"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/builder/", segment_views.segment_builder, name="segment_builder"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/export.xlsx", segment_views.segment_export, name="segment_export"),
    path("segments/<int:pk>/delete/", segment_views.segment_remove, name="segment_delete"),
]
