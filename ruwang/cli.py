"""The `ruwang` command: Django's management commands with the project's settings preset.

ruwang migrate | ruwang demo | ruwang createadmin | ruwang audit verify | ruwang serve
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruwang.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ruwang", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
