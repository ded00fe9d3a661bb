"""Every write to customer records: transaction, permission check, audit row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import RegionLevel, User
from accounts.services import require_perm
from audit.services import audit_record, changes_between, field_values
from customers import search
from customers.models import (
    STATUS_TRANSITIONS,
    Consent,
    Contact,
    Customer,
    CustomerStatus,
    Document,
    DocumentVersion,
    Floor,
    Site,
    Tag,
)
from customers.selectors import customer_visible
from ruwang.lib import crypto, files, validators
from ruwang.lib.masking import mask_name

CUSTOMER_FIELDS = (
    "kind",
    "name",
    "short_name",
    "credit_code",
    "licence_number",
    "category",
    "industry",
    "region",
    "address",
    "latitude",
    "longitude",
    "owner",
    "source_channel",
    "notes",
)


def _check_visible(actor: User | None, customer: Customer) -> None:
    if actor is not None and not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")


def _set_search_fields(customer: Customer, phones: list[str]) -> dict[str, str]:
    """Compute the search columns onto the instance; returns the ones that changed."""
    fields = search.search_fields(
        name=customer.name,
        short_name=customer.short_name,
        credit_code=customer.credit_code or "",
        phones=phones,
    )
    changed = {k: v for k, v in fields.__dict__.items() if getattr(customer, k) != v}
    for name, value in changed.items():
        setattr(customer, name, value)
    return changed


def refresh_search(customer: Customer) -> None:
    """Rewrite the search columns from the name, short name, credit code and contact phones."""
    phones: list[str] = []
    for mobile, landline in customer.contacts.filter(anonymised_at__isnull=True).values_list(
        "mobile", "landline"
    ):
        phones += [p for p in (mobile, "".join(c for c in landline if c.isdigit())) if p]
    changed = _set_search_fields(customer, phones)
    if changed:  # the SQLite FTS trigger re-indexes the row on every update: skip no-ops
        Customer.objects.filter(pk=customer.pk).update(**changed)


def _forget_region_options() -> None:
    """A customer in a new district must show up in the list's region filter at once."""
    from django.core.cache import cache

    cache.delete_many(["customers:region-options", "customers:region-options-html"])


def _clean_customer(customer: Customer) -> None:
    errors: dict[str, list[str]] = {}
    customer.credit_code = (customer.credit_code or "").strip().upper() or None
    if customer.credit_code:
        try:
            validators.validate_credit_code(customer.credit_code)
        except ValidationError as exc:
            errors["credit_code"] = exc.messages
        duplicate = (
            Customer.objects.filter(credit_code=customer.credit_code)
            .exclude(pk=customer.pk)
            .only("name")
            .first()
        )
        if duplicate is not None:
            errors.setdefault("credit_code", []).append(
                _("Another customer already has this credit code: %(name)s") % {"name": duplicate}
            )
    if customer.region_id and customer.region.level != RegionLevel.DISTRICT:
        errors["region"] = [_("Choose a district (区/县), not a province or city.")]
    if errors:
        raise ValidationError(errors)
    # Foreign keys arrive as instances and the database enforces them: skip the lookups.
    customer.full_clean(
        exclude=["credit_code", "created_by", "updated_by", "region", "owner", "department"]
    )


def customer_create(
    *, actor: User | None, data: Mapping[str, Any], tags: Iterable[Tag] = ()
) -> Customer:
    require_perm(actor, "customers.add_customer")
    customer = Customer(**{k: v for k, v in data.items() if k in CUSTOMER_FIELDS})
    if customer.owner_id is None and actor is not None and actor.has_role("account_manager"):
        customer.owner = actor
    responsible = customer.owner if customer.owner_id else actor
    customer.department_id = responsible.department_id if responsible is not None else None
    customer.created_by = actor
    customer.updated_by = actor
    customer.status = CustomerStatus.PROSPECT
    customer.status_changed_at = timezone.now()
    _clean_customer(customer)
    _set_search_fields(customer, phones=[])  # a new customer has no contacts yet
    with transaction.atomic():
        customer.save()
        transaction.on_commit(_forget_region_options)
        customer.tags.set(list(tags))
        audit_record(
            actor=actor,
            action="customer.create",
            obj=customer,
            changes=changes_between({}, field_values(customer, (*CUSTOMER_FIELDS, "tags"))),
        )
    return customer


def customer_update(
    *,
    actor: User | None,
    customer: Customer,
    data: Mapping[str, Any],
    tags: Iterable[Tag] | None = None,
) -> Customer:
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, customer)
    before = field_values(customer, (*CUSTOMER_FIELDS, "tags"))
    keys_before = customer.visibility_keys()
    for key, value in data.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    if "owner" in data and customer.owner is not None:
        customer.department_id = customer.owner.department_id
    customer.updated_by = actor
    _clean_customer(customer)
    with transaction.atomic():
        customer.save()
        if customer.visibility_keys() != keys_before:
            # Process tasks carry copies of these keys (workflow inbox lists filter on them).
            customer.tasks.update(**customer.visibility_keys("customer_"))
        if tags is not None:
            customer.tags.set(list(tags))
        refresh_search(customer)
        if "region" in data:
            transaction.on_commit(_forget_region_options)
        changes = changes_between(before, field_values(customer, (*CUSTOMER_FIELDS, "tags")))
        if changes:
            audit_record(actor=actor, action="customer.update", obj=customer, changes=changes)
    return customer


def customer_change_status(
    *, actor: User | None, customer: Customer, status: str, reason: str
) -> Customer:
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, customer)
    if status not in STATUS_TRANSITIONS.get(customer.status, frozenset()):
        raise ValidationError(
            {
                "status": _("A customer cannot go from %(old)s to %(new)s.")
                % {
                    "old": CustomerStatus(customer.status).label,
                    "new": CustomerStatus(status).label
                    if status in CustomerStatus.values
                    else status,
                }
            }
        )
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the status change.")})
    old = customer.status
    with transaction.atomic():
        customer.status = status
        customer.status_changed_at = timezone.now()
        customer.updated_by = actor
        customer.save(update_fields=["status", "status_changed_at", "updated_by", "updated_at"])
        audit_record(
            actor=actor,
            action="customer.status",
            obj=customer,
            changes={"status": [old, status], "reason": [None, reason.strip()]},
        )
    return customer


# --- contacts -----------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "role", "mobile", "landline", "email", "is_primary")


def contact_pseudonym(contact: Contact) -> str:
    """How the audit log names a person: never their name (PIPL erasure leaves it behind)."""
    return f"contact#{contact.pk}"


def _contact_snapshot(contact: Contact) -> dict[str, Any]:
    values = field_values(contact, CONTACT_FIELDS)
    values["name"] = mask_name(values["name"] or "")
    return values


def _clean_contact(contact: Contact) -> None:
    errors: dict[str, list[str]] = {}
    if contact.mobile:
        try:
            contact.mobile = validators.normalise_mobile(contact.mobile)
        except ValueError:
            errors["mobile"] = [_("Enter an 11-digit mainland mobile number, e.g. 13812345678.")]
    if not contact.name.strip():
        errors["name"] = [_("The contact needs a name.")]
    if errors:
        raise ValidationError(errors)
    contact.full_clean(exclude=["customer"])


def contact_save(
    *,
    actor: User | None,
    customer: Customer,
    data: Mapping[str, Any],
    contact: Contact | None = None,
) -> Contact:
    """Create (contact=None) or update a contact."""
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, customer)
    created = contact is None
    contact = contact or Contact(customer=customer)
    before = {} if created else _contact_snapshot(contact)
    for key in CONTACT_FIELDS:
        if key in data:
            setattr(contact, key, data[key])
    _clean_contact(contact)
    with transaction.atomic():
        if contact.is_primary:
            Contact.objects.filter(customer=customer, is_primary=True).exclude(
                pk=contact.pk
            ).update(is_primary=False)
        contact.save()
        refresh_search(customer)
        audit_record(
            actor=actor,
            action="contact.create" if created else "contact.update",
            obj=contact,
            object_repr=contact_pseudonym(contact),
            changes=changes_between(before, _contact_snapshot(contact)),
        )
    return contact


def consent_record(
    *,
    actor: User | None,
    contact: Contact,
    notice_version: str,
    channel: str,
    given_at: Any = None,
    covers_id_number: bool = True,
) -> Consent:
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, contact.customer)
    consent = Consent(
        contact=contact,
        notice_version=notice_version.strip(),
        channel=channel,
        given_at=given_at or timezone.now(),
        covers_id_number=covers_id_number,
        recorded_by=actor,
    )
    consent.full_clean(exclude=["recorded_by"])
    with transaction.atomic():
        consent.save()
        audit_record(
            actor=actor,
            action="consent.record",
            obj=contact,
            object_repr=contact_pseudonym(contact),
            changes={
                "notice_version": [None, consent.notice_version],
                "channel": [None, channel],
                "covers_id_number": [None, covers_id_number],
            },
        )
    return consent


def contact_set_id_number(*, actor: User | None, contact: Contact, id_number: str) -> None:
    """Store an ID number, encrypted; PIPL: only with a consent that covers it."""
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, contact.customer)
    value = id_number.strip().upper()
    try:
        validators.validate_id_number(value)
    except ValidationError as exc:
        raise ValidationError({"id_number": exc.messages}) from exc
    if not contact.consents.filter(covers_id_number=True, withdrawn_at__isnull=True).exists():
        raise ValidationError(
            {
                "id_number": _(
                    "Record the contact's consent (privacy notice version, time, channel) "
                    "before storing an ID number."
                )
            }
        )
    with transaction.atomic():
        contact.id_number_encrypted = crypto.encrypt_text(value)
        contact.id_number_hash = crypto.keyed_hash(value)
        contact.id_number_last4 = value[-4:]
        contact.save(update_fields=["id_number_encrypted", "id_number_hash", "id_number_last4"])
        audit_record(
            actor=actor,
            action="contact.id_number",
            obj=contact,
            object_repr=contact_pseudonym(contact),
            changes={"id_number": [None, "******"]},
        )


def contact_reveal(*, actor: User, contact: Contact, field: str) -> str:
    """The unmasked mobile, landline or ID number; every reveal is audited."""
    require_perm(actor, "customers.reveal_personal_data")
    _check_visible(actor, contact.customer)
    if field == "id_number":
        value = crypto.decrypt_text(contact.id_number_encrypted) if contact.has_id_number else ""
    elif field in ("mobile", "landline"):
        value = getattr(contact, field)
    else:
        raise ValidationError(_("Unknown field."))
    audit_record(
        actor=actor,
        action="contact.reveal",
        obj=contact,
        object_repr=contact_pseudonym(contact),
        changes={"field": [None, field]},
    )
    return value


# --- sites and floors -----------------------------------------------------------------------

SITE_FIELDS = (
    "name",
    "address",
    "use",
    "structure",
    "fire_resistance",
    "height_m",
    "floors_above",
    "floors_below",
    "floor_area_m2",
    "construction_year",
    "control_room_location",
    "control_room_phone",
    "max_occupancy",
)


def site_save(
    *, actor: User | None, customer: Customer, data: Mapping[str, Any], site: Site | None = None
) -> Site:
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, customer)
    created = site is None
    site = site or Site(customer=customer)
    before = {} if created else field_values(site, SITE_FIELDS)
    for key in SITE_FIELDS:
        if key in data:
            setattr(site, key, data[key])
    year = site.construction_year
    if year and not 1800 <= year <= timezone.now().year + 5:
        raise ValidationError({"construction_year": _("Enter a year between 1800 and now.")})
    site.full_clean(exclude=["customer"])
    with transaction.atomic():
        site.save()
        audit_record(
            actor=actor,
            action="site.create" if created else "site.update",
            obj=site,
            changes=changes_between(before, field_values(site, SITE_FIELDS)),
        )
    return site


def floor_save(
    *,
    actor: User | None,
    site: Site,
    number: int,
    name: str = "",
    area_m2: Any = None,
    plan_upload: tuple[str, IO[bytes], int] | None = None,
) -> Floor:
    """Create or update the floor `number` of a site, optionally with a new floor-plan file."""
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, site.customer)
    if number == 0:
        raise ValidationError(
            {"number": _("Floors are numbered 1, 2 … above ground and -1 … below.")}
        )
    label = name.strip() or (f"{number}F" if number > 0 else f"B{-number}")
    with transaction.atomic():
        floor, created = Floor.objects.get_or_create(
            site=site, number=number, defaults={"name": label, "area_m2": area_m2}
        )
        before = {} if created else field_values(floor, ("name", "area_m2", "plan"))
        floor.name, floor.area_m2 = label, area_m2
        if plan_upload is not None:
            file_name, fileobj, size = plan_upload
            version = document_upload(
                actor=actor,
                customer=site.customer,
                kind="floor_plan",
                title=f"{site.name} {label} 平面图",
                file_name=file_name,
                fileobj=fileobj,
                size=size,
                site=site,
                # An archived plan stays as it was filed; the new drawing starts a new document.
                document=floor.plan if floor.plan and not floor.plan.is_frozen else None,
            )
            floor.plan = version.document
        floor.save()
        audit_record(
            actor=actor,
            action="floor.create" if created else "floor.update",
            obj=floor,
            changes=changes_between(before, field_values(floor, ("name", "area_m2", "plan"))),
        )
    return floor


# --- documents ----------------------------------------------------------------------------


def document_upload(
    *,
    actor: User | None,
    customer: Customer,
    kind: str,
    title: str,
    file_name: str,
    fileobj: IO[bytes],
    size: int,
    site: Site | None = None,
    document: Document | None = None,
) -> DocumentVersion:
    """Add a document, or a new version of `document` (older versions are kept); an archived
    (frozen) document refuses new versions."""
    require_perm(actor, "customers.change_customer")
    _check_visible(actor, customer)
    if document is not None:
        document_ensure_changeable(document=document)
    info = files.check_upload(file_name, fileobj, size, settings.DOCUMENT_MAX_BYTES)
    with transaction.atomic():
        if document is not None:
            # Checked again under the row lock: a freeze may have landed since the page loaded.
            locked = Document.objects.select_for_update().get(pk=document.pk)
            document.frozen_at, document.frozen_reason = locked.frozen_at, locked.frozen_reason
            document_ensure_changeable(document=document)
        else:
            document = Document(customer=customer, site=site, kind=kind, title=title.strip())
            document.full_clean(exclude=["current"])
            document.save()
        number = (
            document.versions.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        version = DocumentVersion(
            document=document,
            number=number,
            original_name=files.safe_download_name(file_name),
            content_type=info.content_type,
            size=info.size,
            sha256=info.sha256,
            uploaded_by=actor,
        )
        version.file.save(info.sha256, File(fileobj), save=False)
        version.save()
        document.current = version
        document.save(update_fields=["current"])
        audit_record(
            actor=actor,
            action="document.upload",
            obj=document,
            changes={
                "version": [number - 1 or None, number],
                "file": [None, version.original_name],
                "sha256": [None, info.sha256],
                "size": [None, info.size],
            },
        )
    return version


def document_ensure_changeable(*, document: Document) -> None:
    """Raise ValidationError when `document` is archived: its versions are a closed record;
    a changed file is uploaded as a new document."""
    if document.is_frozen:
        raise ValidationError(
            _(
                "This document was archived (%(reason)s); it can no longer be changed. "
                "Upload it as a new document."
            )
            % {"reason": document.frozen_reason}
        )


def documents_freeze(*, actor: User | None, documents: Iterable[Document], reason: str) -> int:
    """Archive `documents`: no new versions from now on, every stored version kept and still
    downloadable. Already archived ones are left as they are. Returns how many were archived.
    `actor` None is the system (a process step archiving its case)."""
    require_perm(actor, "customers.change_customer")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason the documents are archived.")})
    limit = Document._meta.get_field("frozen_reason").max_length or 200
    if len(reason) > limit:
        raise ValidationError(
            {"reason": _("Keep the archive reason under %(limit)d characters.") % {"limit": limit}}
        )
    given = list(documents)
    with transaction.atomic():
        targets = list(
            Document.objects.select_for_update(of=("self",))
            .select_related("customer")
            .filter(pk__in=[d.pk for d in given], frozen_at__isnull=True)
            .order_by("pk")
        )
        for document in targets:
            _check_visible(actor, document.customer)
        frozen_at = timezone.now()
        for document in targets:
            document.frozen_at, document.frozen_reason = frozen_at, reason
            document.save(update_fields=["frozen_at", "frozen_reason"])
            audit_record(
                actor=actor,
                action="document.freeze",
                obj=document,
                changes={
                    "frozen_at": [None, frozen_at.isoformat()],
                    "frozen_reason": [None, reason],
                },
            )
    frozen = {d.pk: d for d in targets}
    for document in given:  # the caller's instances tell the truth too
        if document.pk in frozen:
            document.frozen_at, document.frozen_reason = frozen_at, reason
    return len(targets)


class CorruptedFile(Exception):
    """A stored file no longer matches the digest recorded at upload."""


def document_open(*, actor: User, version: DocumentVersion) -> IO[bytes]:
    """Open a stored version for download after checking its SHA-256; refusals are audited."""
    customer = version.document.customer
    if not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")
    handle = version.file.open("rb")
    if not files.digest_matches(handle, version.sha256):
        handle.close()
        audit_record(
            actor=actor,
            action="document.corrupted",
            obj=version.document,
            outcome="failure",
            changes={"version": [None, version.number], "sha256": [version.sha256, None]},
        )
        raise CorruptedFile(version.pk)
    audit_record(
        actor=actor,
        action="document.download",
        obj=version.document,
        changes={"version": [None, version.number]},
    )
    return handle


# --- duplicates and merge -------------------------------------------------------------------


def _merge_dependants(duplicate: Customer, survivor: Customer) -> None:
    """What later apps hang on a customer follows it too: collectors, onboarding files and
    contracts, after-sales plans and revisits, tickets and surveys."""
    from devices.models import Collector
    from onboarding.models import InstallationFile, ServiceContract
    from service.models import AfterSalesPlan, ScheduledRevisit, Survey, Ticket

    for model in (
        Collector,
        InstallationFile,
        ServiceContract,
        AfterSalesPlan,
        ScheduledRevisit,
        Ticket,
        Survey,
    ):
        model._default_manager.filter(customer=duplicate).update(customer=survivor)


def customer_merge(*, actor: User | None, survivor: Customer, duplicate: Customer) -> Customer:
    """Move everything of `duplicate` onto `survivor`; the duplicate stays, marked as merged."""
    require_perm(actor, "customers.merge_customers")
    _check_visible(actor, survivor)
    _check_visible(actor, duplicate)
    if survivor.pk == duplicate.pk:
        raise ValidationError(_("Choose two different customers to merge."))
    if survivor.merged_into_id or duplicate.merged_into_id:
        raise ValidationError(_("One of these customers has already been merged."))
    with transaction.atomic():
        moved = {
            "contacts": list(duplicate.contacts.values_list("pk", flat=True)),
            "sites": list(duplicate.sites.values_list("pk", flat=True)),
            "documents": list(duplicate.documents.values_list("pk", flat=True)),
            "cases": list(duplicate.cases.values_list("pk", flat=True)),
        }
        if survivor.contacts.filter(is_primary=True).exists():
            duplicate.contacts.filter(is_primary=True).update(is_primary=False)
        duplicate.contacts.update(customer=survivor)
        duplicate.sites.update(customer=survivor)
        duplicate.documents.update(customer=survivor)
        # Cases (and so their tasks) follow: a merged customer is hidden from every list.
        duplicate.cases.update(customer=survivor)
        duplicate.tasks.update(customer=survivor, **survivor.visibility_keys("customer_"))
        _merge_dependants(duplicate, survivor)
        survivor.tags.add(*duplicate.tags.all())
        for field_name in ("short_name", "credit_code", "licence_number", "industry", "address"):
            if not getattr(survivor, field_name) and getattr(duplicate, field_name):
                value = getattr(duplicate, field_name)
                if field_name == "credit_code":
                    Customer.objects.filter(pk=duplicate.pk).update(credit_code=None)
                setattr(survivor, field_name, value)
        survivor.updated_by = actor
        survivor.save()
        duplicate.merged_into = survivor
        duplicate.updated_by = actor
        duplicate.save(update_fields=["merged_into", "updated_by", "updated_at"])
        refresh_search(survivor)
        refresh_search(duplicate)
        audit_record(
            actor=actor,
            action="customer.merge",
            obj=survivor,
            changes={
                "merged_from": [None, duplicate.pk],
                **{k: [None, v] for k, v in moved.items()},
            },
        )
        audit_record(
            actor=actor,
            action="customer.merged_into",
            obj=duplicate,
            changes={"merged_into": [None, survivor.pk]},
        )
    return survivor


# --- data-subject requests (PIPL) -------------------------------------------------------------


def contact_personal_data(*, actor: User, contact: Contact) -> dict[str, Any]:
    """Everything stored about one person, unmasked, for a data-subject access request."""
    require_perm(actor, "customers.reveal_personal_data")
    _check_visible(actor, contact.customer)
    data = {
        "contact_id": contact.pk,
        "customer": contact.customer.name,
        "name": contact.name,
        "role": contact.get_role_display(),
        "mobile": contact.mobile,
        "landline": contact.landline,
        "email": contact.email,
        "id_number": crypto.decrypt_text(contact.id_number_encrypted)
        if contact.has_id_number
        else "",
        "is_primary": contact.is_primary,
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
        "consents": [
            {
                "notice_version": c.notice_version,
                "channel": c.get_channel_display(),
                "given_at": c.given_at.isoformat(),
                "covers_id_number": c.covers_id_number,
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in contact.consents.all()
        ],
    }
    audit_record(
        actor=actor,
        action="contact.dsr_export",
        obj=contact,
        object_repr=contact_pseudonym(contact),
    )
    return data


def contact_anonymise(*, actor: User, contact: Contact) -> Contact:
    """Erase a person's data; the row stays (history, counts) under a pseudonym."""
    require_perm(actor, "customers.reveal_personal_data")
    _check_visible(actor, contact.customer)
    if contact.anonymised_at:
        raise ValidationError(_("This contact has already been anonymised."))
    with transaction.atomic():
        contact.name = contact_pseudonym(contact)
        contact.mobile = contact.landline = contact.email = ""
        contact.id_number_encrypted = contact.id_number_hash = contact.id_number_last4 = ""
        contact.is_primary = False
        contact.anonymised_at = timezone.now()
        contact.save()
        contact.consents.filter(withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())
        refresh_search(contact.customer)
        audit_record(
            actor=actor,
            action="contact.anonymise",
            obj=contact,
            object_repr=contact_pseudonym(contact),
        )
    return contact
