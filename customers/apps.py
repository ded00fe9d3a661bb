from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_search_objects(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from customers.search import ensure_sqlite_search_objects

    ensure_sqlite_search_objects(using)


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = _("Customer records")

    def ready(self) -> None:
        # SQLite rebuilds a table to alter it, which silently drops its triggers: after every
        # migrate, put the search triggers back (and re-index) if a migration removed them.
        post_migrate.connect(
            _ensure_search_objects, sender=self, dispatch_uid="customers_search_objects"
        )
