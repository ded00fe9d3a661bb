from django.urls import path

from reports import urls_customers, urls_process, views

app_name = "reports"

# Customer, value, satisfaction and SLA reports (urls_customers); onboarding funnel and
# workload (urls_process).
urlpatterns = [
    path("", views.report_index, name="index"),
    *urls_customers.urlpatterns,
    *urls_process.urlpatterns,
]
