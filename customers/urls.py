from django.urls import path

from customers import urls_segments, views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("export.xlsx", views.customer_export, name="export"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("import/", views.import_start, name="import"),
    path("import/template.xlsx", views.import_template, name="import_template"),
    path("import/<int:job_id>/", views.import_job, name="import_job"),
    path("import/<int:job_id>/commit/", views.import_commit, name="import_commit"),
    path("merge/", views.customer_merge, name="merge"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/status/", views.customer_status, name="status"),
    path("<int:pk>/contacts/new/", views.contact_edit, name="contact_add"),
    path("<int:pk>/contacts/<int:contact_pk>/", views.contact_edit, name="contact_edit"),
    path(
        "<int:pk>/contacts/<int:contact_pk>/privacy/",
        views.contact_privacy,
        name="contact_privacy",
    ),
    path(
        "<int:pk>/contacts/<int:contact_pk>/data-request/",
        views.contact_data_request,
        name="contact_data_request",
    ),
    path(
        "<int:pk>/contacts/<int:contact_pk>/reveal/<str:field>/",
        views.contact_reveal,
        name="contact_reveal",
    ),
    path("<int:pk>/sites/new/", views.site_edit, name="site_add"),
    path("<int:pk>/sites/<int:site_pk>/", views.site_edit, name="site_edit"),
    path("<int:pk>/sites/<int:site_pk>/floors/new/", views.floor_add, name="floor_add"),
    path("<int:pk>/documents/new/", views.document_add, name="document_add"),
    path(
        "<int:pk>/documents/<int:document_pk>/version/", views.document_add, name="document_version"
    ),
    path("files/<int:version_pk>/", views.document_download, name="download"),
    *urls_segments.urlpatterns,
]
