from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_defaults(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # As in service.apps: the test database starts bare, tests install what they are about
    # (inquiries/tests/test_defaults.py covers the defaults themselves).
    if settings.TESTING:
        return
    from inquiries.defaults import inquiry_defaults_ensure

    inquiry_defaults_ensure()


class InquiriesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inquiries"
    verbose_name = _("Online inquiries")

    def ready(self) -> None:
        # The seed's responsibility matrix, its teams and the contentious keywords after
        # migrate; later migrates add nothing (see inquiries.defaults). The service app's
        # defaults create the teams' shared table first.
        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="inquiry_defaults")
