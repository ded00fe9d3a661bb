from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workflow"
    verbose_name = _("Processes")

    def ready(self) -> None:
        from workflow import handlers, registry  # noqa: F401 - registers built-in forms/handlers
