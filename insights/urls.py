from insights import urls_association, urls_churn, urls_performance, urls_value

app_name = "insights"

urlpatterns = [
    *urls_value.urlpatterns,
    *urls_association.urlpatterns,
    *urls_performance.urlpatterns,
    *urls_churn.urlpatterns,
]
