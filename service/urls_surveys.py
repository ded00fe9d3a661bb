"""URLs of the surveys pages (included by service/urls.py)."""

from django.urls import URLPattern, path

from service import survey_views

urlpatterns: list[URLPattern] = [
    # Public: the customer's link (no sign-in; the token is the proof).
    path("s/<str:token>/", survey_views.survey_answer, name="survey_answer"),
    path("surveys/", survey_views.survey_list, name="surveys"),
    path(
        "surveys/ticket/<int:pk>/send/",
        survey_views.survey_send_ticket,
        name="survey_send_ticket",
    ),
]
