from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import roles_sync, user_create


class Command(BaseCommand):
    help = (
        "Create a system administrator. Asks for a password, or generates a strong one and "
        "prints it once. There are no default accounts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--generate", action="store_true", help="generate the password instead of asking"
        )
        parser.add_argument(
            "--role",
            default="system_admin",
            choices=["system_admin", "audit_admin"],
            help="system_admin (default) or audit_admin",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        roles_sync()
        username = options["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"user {username!r} already exists")
        password: str | None = None
        if not options["generate"] and sys.stdin.isatty():
            password = getpass.getpass("Password (empty: generate one): ") or None
            if password and getpass.getpass("Password again: ") != password:
                raise CommandError("the passwords do not match")
        try:
            user, initial = user_create(
                actor=None,
                username=username,
                display_name=options["display_name"],
                email=options["email"],
                role_codes=[options["role"]],
                password=password,
                must_change_password=password is None,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created {options['role']} {user.username!r}")
        if password is None:
            self.stdout.write(f"password (shown once, change it at first login): {initial}")
        self.stdout.write("two-factor authentication will be set up at first login")
