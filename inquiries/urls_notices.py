# Staff pages live under notice/ (singular): notices/<project code>/ is the public notices page.
from django.urls import path

from inquiries import notice_views

urlpatterns = [
    path("notice/", notice_views.notice_list, name="notices"),
    path("notice/new/", notice_views.notice_create, name="notice_create"),
    path("notice/audience/", notice_views.notice_audience, name="notice_audience"),
    path("notice/<int:pk>/", notice_views.notice_detail, name="notice"),
    path("notice/<int:pk>/edit/", notice_views.notice_edit, name="notice_edit"),
    path("notice/<int:pk>/send/", notice_views.notice_send, name="notice_send"),
    path("notice/<int:pk>/schedule/", notice_views.notice_schedule, name="notice_schedule"),
    path("notice/<int:pk>/cancel/", notice_views.notice_cancel, name="notice_cancel"),
    path("notice/<int:pk>/retry/", notice_views.notice_retry, name="notice_retry"),
    path(
        "notice/<int:pk>/deliveries.xlsx",
        notice_views.notice_deliveries_export,
        name="notice_deliveries_export",
    ),
    path("notice/<int:pk>/files/<int:file_pk>/", notice_views.notice_file, name="notice_file"),
    path(
        "notice/<int:pk>/files/<int:file_pk>/remove/",
        notice_views.notice_file_remove,
        name="notice_file_remove",
    ),
]
