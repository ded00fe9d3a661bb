from django.urls import path

from onboarding import views

app_name = "onboarding"

urlpatterns = [
    path("licences/", views.licences, name="licences"),
    path("licences/start/", views.licences_start, name="licences_start"),
    path("licences/template/", views.licences_template, name="licences_template"),
    path("archive/", views.archive, name="archive"),
]
