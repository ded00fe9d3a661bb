from django.urls import URLPattern, path

from insights import value_views

urlpatterns: list[URLPattern] = [
    path("value/", value_views.value_page, name="value"),
    path("value/recompute/", value_views.value_recompute_now, name="value_recompute"),
]
