from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_shipped_processes(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from onboarding.fire_services import form_headers_ensure
    from onboarding.services import shipped_processes_sync

    shipped_processes_sync()
    form_headers_ensure()


class OnboardingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "onboarding"
    verbose_name = _("Onboarding SOPs")

    def ready(self) -> None:
        from onboarding import fire_forms, forms, handlers  # noqa: F401 - register forms/handlers

        # The shipped SOPs are published after migrate when missing or changed in code.
        post_migrate.connect(
            _sync_shipped_processes, sender=self, dispatch_uid="onboarding_shipped_processes"
        )
