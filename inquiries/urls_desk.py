"""URLs of the staff desk (included by inquiries/urls.py under /inquiries/)."""

from django.urls import URLPattern, path

from inquiries import desk_views as views

urlpatterns: list[URLPattern] = [
    path("", views.inquiry_queue, name="queue"),
    path("new/", views.inquiry_create, name="create"),
    path("<int:pk>/", views.inquiry_detail, name="detail"),
    path("<int:pk>/claim/", views.inquiry_claim, name="claim"),
    path("<int:pk>/comment/", views.inquiry_comment, name="comment"),
    path("<int:pk>/reroute/", views.inquiry_reroute, name="reroute"),
    path("<int:pk>/contentious/", views.inquiry_contentious, name="contentious"),
    path("<int:pk>/close/", views.inquiry_close, name="close"),
    path("<int:pk>/attach/", views.inquiry_attach, name="attach"),
    path("<int:pk>/reply/", views.inquiry_reply, name="reply"),
    path("<int:pk>/reply/compose/", views.inquiry_compose, name="compose"),
    path("<int:pk>/reply/review/", views.inquiry_review, name="review"),
]
