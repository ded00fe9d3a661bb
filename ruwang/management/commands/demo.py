from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ruwang.demo import demo_load, demo_logins_table


class Command(BaseCommand):
    help = "Load the demo organisation (idempotent) and print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords", action="store_true", help="give every demo user a new password"
        )
        parser.add_argument(
            "--force", action="store_true", help="allow loading demo data in production"
        )
        parser.add_argument("--quiet", action="store_true", help="do not print the logins")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError("refusing to load demo users in production (use --force)")
        logins = demo_load(reset_passwords=options["reset_passwords"])
        if not options["quiet"]:
            print_logins(self.stdout.write, logins)


def print_logins(write: Any, logins: dict[str, str]) -> None:
    write("Demo logins (demo users only; 系统管理员/审计管理员 set up two-factor at first login):")
    for username, password, name, role in demo_logins_table(logins):
        write(f"  {username:<12} {password:<16} {name}  {role}")
