from django.urls import URLPattern, path

from care import greeting_views, task_views

urlpatterns: list[URLPattern] = [
    path("tasks/", task_views.task_list, name="tasks"),
    path("tasks/new/", task_views.task_create, name="task_create"),
    path("tasks/<int:pk>/", task_views.task_detail, name="task"),
    path("tasks/<int:pk>/close/", task_views.task_close, name="task_close"),
    path("tasks/<int:pk>/cancel/", task_views.task_cancel, name="task_cancel"),
    path("tasks/<int:pk>/reassign/", task_views.task_reassign, name="task_reassign"),
    path("settings/", task_views.care_settings, name="settings"),
    path("greetings/", greeting_views.greetings_page, name="greetings"),
    path("greetings/audience/", greeting_views.greeting_audience, name="greeting_audience"),
]
