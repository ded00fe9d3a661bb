"""URLs of the knowledge base and of a ticket's complaint and article actions (included by
service/urls.py)."""

from django.urls import URLPattern, path

from service import kb_views

urlpatterns: list[URLPattern] = [
    path("kb/", kb_views.article_list, name="articles"),
    path("kb/new/", kb_views.article_create, name="article_create"),
    path("kb/<int:pk>/", kb_views.article_detail, name="article"),
    path("kb/<int:pk>/edit/", kb_views.article_edit, name="article_edit"),
    path(
        "tickets/<int:pk>/articles/link/",
        kb_views.ticket_article_link,
        name="ticket_article_link",
    ),
    path(
        "tickets/<int:pk>/articles/<int:article_pk>/solved/",
        kb_views.ticket_article_solved,
        name="ticket_article_solved",
    ),
    path(
        "tickets/<int:pk>/complaint/analysis/",
        kb_views.complaint_analysis,
        name="complaint_analysis",
    ),
    path("tickets/<int:pk>/complaint/submit/", kb_views.complaint_submit, name="complaint_submit"),
    path("tickets/<int:pk>/complaint/review/", kb_views.complaint_review, name="complaint_review"),
    path(
        "tickets/<int:pk>/complaint/tell-customer/",
        kb_views.complaint_tell_customer,
        name="complaint_tell_customer",
    ),
]
