from inquiries import urls_desk, urls_notices, urls_public, urls_stats

app_name = "inquiries"

urlpatterns = [
    *urls_desk.urlpatterns,
    *urls_public.urlpatterns,
    *urls_notices.urlpatterns,
    *urls_stats.urlpatterns,
]
