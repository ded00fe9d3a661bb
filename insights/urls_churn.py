from django.urls import URLPattern, path

from insights import churn_views

urlpatterns: list[URLPattern] = [
    path("churn/", churn_views.churn_list, name="churn"),
    path("churn/export/", churn_views.churn_export, name="churn_export"),
    path("churn/model/", churn_views.churn_model_card, name="churn_model"),
    path("churn/recompute/", churn_views.churn_recompute_now, name="churn_recompute"),
]
