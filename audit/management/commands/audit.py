from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import chain_verify


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` walks the hash chain and names the first tampered row."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="verify the HMAC chain of the whole audit log")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "verify":
            result = chain_verify()
            if not result.ok:
                raise CommandError(
                    f"audit log TAMPERED at entry id={result.bad_entry_id}: {result.reason} "
                    f"({result.checked} entries before it verified)"
                )
            self.stdout.write(self.style.SUCCESS(f"audit log intact: {result.checked} entries"))
