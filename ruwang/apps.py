from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class RuwangConfig(AppConfig):
    default = True
    name = "ruwang"
    verbose_name = _("Ruwang")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from ruwang.db import use_preparing_cursors

        connection_created.connect(use_preparing_cursors, dispatch_uid="ruwang-preparing-cursors")


class RuwangAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "ruwang.admin_site.RuwangAdminSite"
