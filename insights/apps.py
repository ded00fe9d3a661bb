from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "insights"
    verbose_name = _("Customer insights")

    def ready(self) -> None:
        from insights.value import register_segment_condition

        # Segments (and the customer list's segment filter) may select A/B/C customers.
        register_segment_condition()
