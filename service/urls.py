from django.urls import path

from service import views

app_name = "service"

urlpatterns = [
    path("revisits/", views.revisit_list, name="revisits"),
    path("revisits/<int:pk>/complete/", views.revisit_complete, name="revisit_complete"),
    path("revisits/<int:pk>/cancel/", views.revisit_cancel, name="revisit_cancel"),
]
