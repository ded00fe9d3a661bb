from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_defaults(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # The test database starts bare: each test sets up the teams and SLA policies it is about
    # (installation defaults would route and time every ticket of every test). The defaults
    # have their own test (service/tests/test_defaults.py).
    if settings.TESTING:
        return
    from service.defaults import service_defaults_ensure

    service_defaults_ensure()


class ServiceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "service"
    verbose_name = _("After-sales service")

    def ready(self) -> None:
        # A fresh installation gets its SLA policies, revisit template and service teams after
        # migrate; later migrates add nothing (see service.defaults).
        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="service_defaults")
