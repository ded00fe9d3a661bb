from django.urls import URLPattern, path

from care import keyaccount_views as views

urlpatterns: list[URLPattern] = [
    path("key-accounts/", views.keyaccount_list, name="keyaccounts"),
    path("key-accounts/export/", views.keyaccount_export, name="keyaccounts_export"),
    path("key-accounts/flag/", views.keyaccount_flag, name="keyaccount_flag"),
    path("key-accounts/rules/", views.rule_list, name="keyaccount_rules"),
    path("key-accounts/rules/new/", views.rule_edit, name="keyaccount_rule_create"),
    path("key-accounts/rules/apply/", views.rules_apply, name="keyaccount_rules_apply"),
    path("key-accounts/rules/<int:rule_pk>/", views.rule_edit, name="keyaccount_rule_edit"),
    path(
        "key-accounts/rules/<int:rule_pk>/delete/",
        views.rule_delete,
        name="keyaccount_rule_delete",
    ),
    path("key-accounts/<int:pk>/", views.keyaccount_detail, name="keyaccount_detail"),
    path("key-accounts/<int:pk>/edit/", views.keyaccount_edit, name="keyaccount_edit"),
    path("key-accounts/<int:pk>/unflag/", views.keyaccount_unflag, name="keyaccount_unflag"),
    path(
        "key-accounts/<int:pk>/decision-makers/new/",
        views.decision_maker_edit,
        name="keyaccount_maker_create",
    ),
    path(
        "key-accounts/<int:pk>/decision-makers/<int:maker_pk>/",
        views.decision_maker_edit,
        name="keyaccount_maker_edit",
    ),
    path(
        "key-accounts/<int:pk>/decision-makers/<int:maker_pk>/delete/",
        views.decision_maker_delete,
        name="keyaccount_maker_delete",
    ),
    path("key-accounts/<int:pk>/plan/new/", views.plan_item_edit, name="keyaccount_plan_create"),
    path(
        "key-accounts/<int:pk>/plan/<int:item_pk>/",
        views.plan_item_edit,
        name="keyaccount_plan_edit",
    ),
    path(
        "key-accounts/<int:pk>/plan/<int:item_pk>/delete/",
        views.plan_item_delete,
        name="keyaccount_plan_delete",
    ),
    path(
        "key-accounts/<int:pk>/reviews/new/", views.review_create, name="keyaccount_review_create"
    ),
]
