"""Files of tickets: each is kept as one of the customer's documents (checked, hashed,
versioned by customers.services.document_upload) and linked to the ticket."""

from __future__ import annotations

from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from customers import services as customer_services
from customers.models import DocumentKind
from ruwang.lib import files
from service import tickets
from service.models import EntryKind, Ticket, TicketAttachment, TicketEntry

TITLE_MAX = 120


def _may_attach(actor: User, ticket: Ticket) -> bool:
    """Those who work the ticket, and whoever opened it (a photo of the fault they report)."""
    if tickets.may_work(actor, ticket):
        return True
    return ticket.created_by_id == actor.pk and actor.has_perm("service.add_ticket")


def ticket_attach(
    *, actor: User, ticket: Ticket, file_name: str, fileobj: IO[bytes], size: int
) -> TicketAttachment:
    """Store a file as the customer's document (a photo or "other") and attach it to the ticket.

    The document upload checks the file (allow-list of types, content sniffing, size) and
    needs customers.change_customer; a refused file raises ValidationError on "file"."""
    if not _may_attach(actor, ticket):
        raise PermissionDenied("service.work_ticket")
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    kind = DocumentKind.PHOTO if extension in files.IMAGE_EXTENSIONS else DocumentKind.OTHER
    title = f"{ticket.number} {file_name.strip()}"[:TITLE_MAX]
    with transaction.atomic():
        try:
            version = customer_services.document_upload(
                actor=actor,
                customer=ticket.customer,
                kind=kind,
                title=title,
                site=ticket.site,
                file_name=file_name,
                fileobj=fileobj,
                size=size,
            )
        except ValidationError as exc:
            raise ValidationError({"file": exc.messages}) from exc
        attachment = TicketAttachment.objects.create(ticket=ticket, document=version.document)
        TicketEntry.objects.create(
            ticket=ticket,
            kind=EntryKind.SYSTEM,
            author=actor,
            data={
                "event": "attached",
                "file": version.original_name,
                "document": version.document_id,
            },
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="ticket.attach",
            obj=ticket,
            changes={
                "file": [None, version.original_name],
                "document": [None, version.document_id],
            },
        )
    return attachment


def ticket_open(*, actor: User, attachment: UploadedFile | None = None, **fields: Any) -> Ticket:
    """Open a ticket (service.tickets.ticket_create, same arguments) with an optional file, all
    or nothing: a refused file leaves no ticket behind."""
    with transaction.atomic():
        ticket = tickets.ticket_create(actor=actor, **fields)
        if attachment is not None:
            ticket_attach(
                actor=actor,
                ticket=ticket,
                file_name=attachment.name or "",
                fileobj=attachment,
                size=attachment.size or 0,
            )
    return ticket
