"""URLs of the public pages (no sign-in: the question form, its iframe version, each project's
notices) and the staff page listing them. Included by inquiries/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, path

from inquiries import public_views

urlpatterns: list[URLPattern] = [
    path("ask/", public_views.ask, name="ask"),
    path("ask/<slug:code>/", public_views.ask_project, name="ask_project"),
    path("ask/<slug:code>/embed/", public_views.ask_embed, name="ask_embed"),
    path("public-links/", public_views.public_links, name="public_links"),
    path("notices/<slug:code>/", public_views.notices, name="public_notices"),
    path("notices/<slug:code>/<int:pk>/", public_views.notice, name="public_notice"),
    path(
        "notices/<slug:code>/<int:pk>/files/<int:file_pk>/",
        public_views.notice_file,
        name="public_notice_file",
    ),
]
