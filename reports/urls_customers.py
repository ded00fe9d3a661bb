from django.urls import URLPattern, path

from reports import customer_views as views

urlpatterns: list[URLPattern] = [
    path("customers/", views.customers_page, name="customers"),
    path("customers/export/", views.customers_export, name="customers_export"),
    path("value/", views.value_page, name="value"),
    path("value/export/", views.value_export, name="value_export"),
    path("satisfaction/", views.satisfaction_page, name="satisfaction"),
    path("satisfaction/export/", views.satisfaction_export, name="satisfaction_export"),
    path("sla/", views.sla_page, name="sla"),
    path("sla/export/", views.sla_export, name="sla_export"),
    path("refresh/", views.refresh_now, name="refresh_customers"),
]
