from django.urls import path

from workflow import views

app_name = "workflow"

urlpatterns = [
    path("tasks/", views.inbox, name="inbox"),
    path("tasks/<int:pk>/", views.task_detail, name="task"),
    path("tasks/<int:pk>/claim/", views.task_claim, name="task_claim"),
    path("tasks/<int:pk>/unclaim/", views.task_unclaim, name="task_unclaim"),
    path("tasks/<int:pk>/delegate/", views.task_delegate, name="task_delegate"),
    path("cases/", views.case_list, name="cases"),
    path("cases/start/", views.case_start, name="case_start"),
    path("cases/<int:pk>/", views.case_detail, name="case"),
    path("cases/<int:pk>/<str:action>/", views.case_action, name="case_action"),
    path("processes/", views.definition_list, name="definitions"),
    path("processes/versions/<int:pk>/", views.version_detail, name="version"),
    path("processes/versions/<int:pk>/xml/", views.version_xml, name="version_xml"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/", views.notification_open, name="notification"),
]
