from django.urls import path

from service import urls_dashboard, urls_kb, urls_surveys, urls_tickets, urls_warranty, views

app_name = "service"

urlpatterns = [
    path("revisits/", views.revisit_list, name="revisits"),
    path("revisits/<int:pk>/complete/", views.revisit_complete, name="revisit_complete"),
    path("revisits/<int:pk>/cancel/", views.revisit_cancel, name="revisit_cancel"),
    *urls_tickets.urlpatterns,
    *urls_surveys.urlpatterns,
    *urls_kb.urlpatterns,
    *urls_warranty.urlpatterns,
    *urls_dashboard.urlpatterns,
]
