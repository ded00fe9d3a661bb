from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from ruwang import views
from ruwang.api import api

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    path("customers/", include("customers.urls")),
    path("work/", include("workflow.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("devices/", include("devices.urls")),
    path("service/", include("service.urls")),
    path("inquiries/", include("inquiries.urls")),
    path("insights/", include("insights.urls")),
    path("care/", include("care.urls")),
    path("reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]

handler403 = "ruwang.views.permission_denied"
handler404 = "ruwang.views.page_not_found"
handler500 = "ruwang.views.server_error"
