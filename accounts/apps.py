from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    from accounts.services import roles_sync

    # `migrate accounts` on a fresh database runs before the audit table exists; the next full
    # migrate (post_migrate fires on every run) syncs the roles then.
    if "audit_auditentry" not in connections[using].introspection.table_names():
        return
    roles_sync()


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Organisation and accounts")

    def ready(self) -> None:
        from accounts import auth_events

        auth_events.connect()
        # Roles need the permissions that migrate creates, so they follow every migrate.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="accounts_roles_sync")
