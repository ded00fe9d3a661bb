from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import RegionLevel, User
from audit.selectors import object_history
from audit.services import audit_record
from customers import exports, importing, selectors, services, tasks
from customers.forms import (
    ConsentForm,
    ContactForm,
    CustomerFilterForm,
    CustomerForm,
    DocumentForm,
    FloorForm,
    IdNumberForm,
    ImportForm,
    SiteForm,
    StatusForm,
    VersionForm,
)
from customers.models import Contact, Customer, DocumentVersion, ImportJob, Site
from customers.segments import segment_for_filter
from ruwang.lib import files
from ruwang.lib.masking import mask_phone
from ruwang.lib.views import apply_errors


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _customer_or_404(request: HttpRequest, pk: int) -> Customer:
    try:
        return selectors.customer_get(_user(request), pk)
    except Customer.DoesNotExist as exc:
        raise Http404 from exc


def _changeable_customer(request: HttpRequest, pk: int) -> Customer:
    """The customer to edit: 404 when the user may not see it, 403 when they may not edit."""
    customer = _customer_or_404(request, pk)
    if not _user(request).has_perm("customers.change_customer"):
        raise PermissionDenied("customers.change_customer")
    return customer


def _region_options_html() -> str:
    """The <option>s of the region filter, built once per cache period: rendering thousands
    of options through the template engine would dominate the list page's time."""
    from django.core.cache import cache
    from django.utils.html import format_html_join

    html: str | None = cache.get("customers:region-options-html")
    if html is None:
        html = format_html_join(
            "",
            '<option value="{}">{}{}</option>',
            (
                (pk, "\u3000" if level == RegionLevel.DISTRICT else "", label)
                for pk, label, level in selectors.region_filter_options()
            ),
        )
        cache.set("customers:region-options-html", html, 300)
    return html


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_perm("customers.view_customer"):
        raise PermissionDenied("customers.view_customer")
    # Cities, and the districts that have customers: one indexed EXISTS probe per district.
    form, filters = _filters_from(request, user)
    page = selectors.customer_page(
        selectors.customer_query(user, filters), request.GET.get("after", "")
    )
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "highlight": filters.q.strip(),
        "can_add": user.has_perm("customers.add_customer"),
        "can_export": user.has_perm("customers.export_customers"),
        "region_options": _region_options_html(),
        "region_selected": str(filters.region.pk) if filters.region else "",
    }
    htmx = getattr(request, "htmx", False)
    if htmx and "after" in request.GET:
        template = "customers/_list_rows.html"  # the next page of rows
    elif htmx:
        template = "customers/_list_results.html"  # new filters: count and table
    else:
        template = "customers/list.html"
    return render(request, template, context)


@login_required
def customer_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_perm("customers.add_customer"):
        raise PermissionDenied("customers.add_customer")
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(
                actor=user, data=form.service_data(), tags=form.tag_objects()
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": None})


@login_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    customer = _changeable_customer(request, pk)
    form = CustomerForm(request.POST or None, instance=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                actor=user, customer=customer, data=form.service_data(), tags=form.tag_objects()
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": customer})


def _masked_contacts(user: User, contacts: list[Contact]) -> list[dict[str, Any]]:
    can_reveal = user.has_perm("customers.reveal_personal_data")
    return [
        {
            "contact": c,
            "mobile": mask_phone(c.mobile) if c.mobile else "",
            "landline": mask_phone(c.landline) if c.landline else "",
            # Only the last four characters are kept in clear: show those.
            "id_number": "*" * 14 + c.id_number_last4 if c.has_id_number else "",
            "can_reveal": can_reveal,
            "consent": next(iter(c.consents.all()), None),
        }
        for c in contacts
    ]


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    customer = _customer_or_404(request, pk)
    profile = selectors.customer_profile(customer)
    can_change = user.has_perm("customers.change_customer")
    context = {
        "customer": customer,
        "contacts": _masked_contacts(user, profile["contacts"]),
        "sites": profile["sites"],
        "documents": profile["documents"],
        "history": object_history("customers.customer", str(customer.pk), limit=50),
        "can_change": can_change,
        "status_form": StatusForm(current=customer.status) if can_change else None,
        "image_extensions": files.IMAGE_EXTENSIONS,
    }
    if user.has_perm("workflow.view_case"):
        from workflow import selectors as workflow_selectors

        context["cases"] = workflow_selectors.customer_cases(user, customer.pk)
        if user.has_perm("workflow.add_case"):
            context["processes"] = workflow_selectors.startable_processes()
    if user.has_perm("devices.view_collector"):
        from devices import selectors as device_selectors

        context["collectors"] = list(
            device_selectors.collectors_visible_to(user)
            .filter(customer=customer)
            .select_related("site")
            .order_by("-id")
        )
    from onboarding.models import ServiceContract
    from service import selectors as service_selectors
    from service import ticket_selectors

    context["after_sales"] = service_selectors.customer_after_sales(user, customer)
    context["ticket_card"] = ticket_selectors.customer_tickets(user, customer)
    from inquiries import selectors as inquiry_selectors

    context["inquiry_card"] = inquiry_selectors.customer_inquiries(user, customer)
    from insights.value import customer_value_card

    context["value_card"] = customer_value_card(user, customer)
    from insights.churn import churn_card_context

    context.update(churn_card_context(user, customer))
    from care.keyaccounts import key_account_card

    context["key_account_card"] = key_account_card(user, customer)
    from care.selectors import customer_care_card

    context["care_card"] = customer_care_card(user, customer)
    context["contracts"] = list(
        ServiceContract.objects.filter(customer=customer)
        .select_related("document__current")
        .order_by("-signed_on", "-id")
    )
    return render(request, "customers/detail.html", context)


@login_required
@require_POST
def customer_status(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    customer = _customer_or_404(request, pk)
    form = StatusForm(request.POST, current=customer.status)
    if form.is_valid():
        try:
            services.customer_change_status(
                actor=user,
                customer=customer,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Status changed."))
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("customers:detail", pk=customer.pk)


@login_required
def contact_edit(request: HttpRequest, pk: int, contact_pk: int | None = None) -> HttpResponse:
    user = _user(request)
    customer = _changeable_customer(request, pk)
    contact = customer.contacts.filter(pk=contact_pk).first() if contact_pk else None
    if contact_pk and contact is None:
        raise Http404
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_save(
                actor=user, customer=customer, data=form.cleaned_data, contact=contact
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Contact saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(
        request,
        "customers/contact_form.html",
        {"form": form, "customer": customer, "contact": contact},
    )


@login_required
def contact_privacy(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    """Consent records and the (encrypted) ID number of one contact."""
    user = _user(request)
    customer = _changeable_customer(request, pk)
    contact = customer.contacts.filter(pk=contact_pk).first()
    if contact is None:
        raise Http404
    consent_form = ConsentForm(request.POST if "consent" in request.POST else None)
    id_form = IdNumberForm(request.POST if "id_number" in request.POST else None)
    if request.method == "POST":
        try:
            if "consent" in request.POST and consent_form.is_valid():
                services.consent_record(actor=user, contact=contact, **consent_form.cleaned_data)
                messages.success(request, _("Consent recorded."))
                return redirect("customers:contact_privacy", pk=pk, contact_pk=contact_pk)
            if "id_number" in request.POST and id_form.is_valid():
                services.contact_set_id_number(
                    actor=user, contact=contact, id_number=id_form.cleaned_data["id_number"]
                )
                messages.success(request, _("ID number stored (encrypted)."))
                return redirect("customers:detail", pk=pk)
        except ValidationError as exc:
            apply_errors(id_form if "id_number" in request.POST else consent_form, exc)
    return render(
        request,
        "customers/contact_privacy.html",
        {
            "customer": customer,
            "contact": contact,
            "consents": contact.consents.all(),
            "consent_form": consent_form,
            "id_form": id_form,
        },
    )


@login_required
@require_POST
def contact_reveal(request: HttpRequest, pk: int, contact_pk: int, field: str) -> HttpResponse:
    user = _user(request)
    customer = _customer_or_404(request, pk)
    contact = customer.contacts.filter(pk=contact_pk).first()
    if contact is None:
        raise Http404
    try:
        value = services.contact_reveal(actor=user, contact=contact, field=field)
    except ValidationError as exc:
        raise Http404 from exc
    return HttpResponse(format_html('<span class="rw-mono">{}</span>', value))


@login_required
def site_edit(request: HttpRequest, pk: int, site_pk: int | None = None) -> HttpResponse:
    user = _user(request)
    customer = _changeable_customer(request, pk)
    site = customer.sites.filter(pk=site_pk).first() if site_pk else None
    if site_pk and site is None:
        raise Http404
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        try:
            services.site_save(actor=user, customer=customer, data=form.cleaned_data, site=site)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Site saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(
        request, "customers/site_form.html", {"form": form, "customer": customer, "site": site}
    )


@login_required
def floor_add(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    user = _user(request)
    customer = _changeable_customer(request, pk)
    site: Site | None = customer.sites.filter(pk=site_pk).first()
    if site is None:
        raise Http404
    form = FloorForm(request.POST or None, request.FILES or None)
    # A task page that sent the user here (e.g. setting up floors for a case) gets them back.
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("plan")
        try:
            services.floor_save(
                actor=user,
                site=site,
                number=form.cleaned_data["number"],
                name=form.cleaned_data["name"],
                area_m2=form.cleaned_data["area_m2"],
                plan_upload=(upload.name, upload, upload.size) if upload else None,
            )
        except ValidationError as exc:
            apply_errors(
                form, exc if hasattr(exc, "error_dict") else ValidationError({"plan": exc.messages})
            )
        else:
            messages.success(request, _("Floor saved."))
            return redirect(back or reverse("customers:detail", args=[customer.pk]))
    return render(
        request,
        "customers/floor_form.html",
        {"form": form, "customer": customer, "site": site, "next": back},
    )


@login_required
def document_add(request: HttpRequest, pk: int, document_pk: int | None = None) -> HttpResponse:
    user = _user(request)
    customer = _changeable_customer(request, pk)
    document = customer.documents.filter(pk=document_pk).first() if document_pk else None
    if document_pk and document is None:
        raise Http404
    # A page that sent the user here to upload a required document gets them back.
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if document is not None:
        try:
            services.document_ensure_changeable(document=document)
        except ValidationError as exc:  # archived: say why instead of offering a form
            return render(
                request,
                "customers/document_form.html",
                {"customer": customer, "document": document, "next": back, "refusal": exc.messages},
            )
    form: Form = (
        VersionForm(request.POST or None, request.FILES or None)
        if document
        else DocumentForm(
            request.POST or None,
            request.FILES or None,
            customer=customer,
            initial={"kind": request.GET.get("kind", "")},
        )
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.document_upload(
                actor=user,
                customer=customer,
                kind=document.kind if document else form.cleaned_data["kind"],
                title=document.title if document else form.cleaned_data["title"],
                site=document.site if document else form.cleaned_data.get("site"),
                file_name=upload.name,
                fileobj=upload,
                size=upload.size,
                document=document,
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            messages.success(request, _("Document uploaded."))
            return redirect(back or reverse("customers:detail", args=[customer.pk]))
    return render(
        request,
        "customers/document_form.html",
        {"form": form, "customer": customer, "document": document, "next": back},
    )


@login_required
def document_download(request: HttpRequest, version_pk: int) -> HttpResponseBase:
    user = _user(request)
    try:
        version = selectors.version_get(user, version_pk)
    except DocumentVersion.DoesNotExist as exc:
        raise Http404 from exc
    try:
        handle = services.document_open(actor=user, version=version)
    except services.CorruptedFile:
        return render(request, "customers/corrupted.html", {"version": version}, status=409)
    inline = request.GET.get("inline") == "1" and version.content_type.startswith("image/")
    return FileResponse(
        handle,
        as_attachment=not inline,
        filename=version.original_name,
        content_type=version.content_type,
    )


def _filters_from(
    request: HttpRequest, user: User
) -> tuple[CustomerFilterForm, selectors.CustomerFilters]:
    form = CustomerFilterForm(request.GET or None)
    filters = selectors.CustomerFilters()
    if form.is_bound and form.is_valid():
        filters = selectors.CustomerFilters(**{k: v for k, v in form.cleaned_data.items() if v})
    # A segment the user may not use (another's private one) is ignored, not an error.
    segment = segment_for_filter(user, request.GET.get("segment"))
    if segment is not None:
        filters = dataclasses.replace(filters, segment=segment)
    return form, filters


@login_required
def customer_export(request: HttpRequest) -> HttpResponse:
    """The current filtered list as .xlsx, masked unless the user may reveal personal data."""
    user = _user(request)
    if not user.has_perm("customers.export_customers"):
        raise PermissionDenied("customers.export_customers")
    _form, filters = _filters_from(request, user)
    qs = selectors.customer_list(user, filters)
    reveal = user.has_perm("customers.reveal_personal_data")
    content, count = exports.customers_xlsx(selectors.customer_export_rows(qs), reveal=reveal)
    audit_record(
        actor=user,
        action="customer.export",
        object_type="customers.customer",
        changes={
            "filters": [None, {k: str(v) for k, v in filters.__dict__.items() if v}],
            "rows": [None, count],
            "unmasked": [None, reveal],
        },
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.xlsx"'
    return response


@login_required
def duplicates(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_perm("customers.merge_customers"):
        raise PermissionDenied("customers.merge_customers")
    return render(
        request, "customers/duplicates.html", {"groups": selectors.duplicate_groups(user)}
    )


@login_required
@require_POST
def customer_merge(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_perm("customers.merge_customers"):
        raise PermissionDenied("customers.merge_customers")
    try:
        survivor = _customer_or_404(request, int(request.POST.get("survivor", "0")))
        duplicate = _customer_or_404(request, int(request.POST.get("duplicate", "0")))
    except ValueError as exc:
        raise Http404 from exc
    try:
        services.customer_merge(actor=user, survivor=survivor, duplicate=duplicate)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:duplicates")
    messages.success(
        request,
        _("%(dup)s was merged into %(survivor)s.") % {"dup": duplicate, "survivor": survivor},
    )
    return redirect("customers:detail", pk=survivor.pk)


@login_required
def contact_data_request(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    """Data-subject request: export all personal data of a contact, or erase it."""
    user = _user(request)
    customer = _customer_or_404(request, pk)
    if not user.has_perm("customers.reveal_personal_data"):
        raise PermissionDenied("customers.reveal_personal_data")
    contact = customer.contacts.filter(pk=contact_pk).first()
    if contact is None:
        raise Http404
    action = request.POST.get("action") if request.method == "POST" else request.GET.get("format")
    if action in ("json", "xlsx"):
        data = services.contact_personal_data(actor=user, contact=contact)
        if action == "json":
            response = HttpResponse(
                json.dumps(data, ensure_ascii=False, indent=2),
                content_type="application/json; charset=utf-8",
            )
        else:
            response = HttpResponse(
                exports.personal_data_xlsx(data), content_type=exports.XLSX_TYPE
            )
        response["Content-Disposition"] = (
            f'attachment; filename="personal-data-contact-{contact.pk}.{action}"'
        )
        return response
    if action == "anonymise":
        try:
            services.contact_anonymise(actor=user, contact=contact)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The contact's personal data has been erased."))
        return redirect("customers:detail", pk=customer.pk)
    return render(
        request, "customers/data_request.html", {"customer": customer, "contact": contact}
    )


def _import_job_or_404(request: HttpRequest, job_id: int) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id, created_by=_user(request)).first()
    if job is None:
        raise Http404
    return job


@login_required
def import_start(request: HttpRequest) -> HttpResponse:
    """Upload a spreadsheet; it is checked in the background (a dry run writes nothing)."""
    user = _user(request)
    if not user.has_perm("customers.import_customers"):
        raise PermissionDenied("customers.import_customers")
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = ImportJob(created_by=user, original_name=upload.name[:200], dry_run=True)
        job.file.save(upload.name, upload, save=False)
        job.save()
        tasks.import_job_run.enqueue(job.pk)
        return redirect("customers:import_job", job_id=job.pk)
    recent = ImportJob.objects.filter(created_by=user)[:10]
    return render(request, "customers/import.html", {"form": form, "recent": recent})


@login_required
def import_template(request: HttpRequest) -> HttpResponse:
    if not _user(request).has_perm("customers.import_customers"):
        raise PermissionDenied("customers.import_customers")
    response = HttpResponse(importing.build_template(), content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = 'attachment; filename="customer-import-template.xlsx"'
    return response


@login_required
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    if not _user(request).has_perm("customers.import_customers"):
        raise PermissionDenied("customers.import_customers")
    job = _import_job_or_404(request, job_id)
    progress = tasks.progress_of(job.pk)
    total = progress.get("total") or 0
    percent = int(100 * progress.get("done", 0) / total) if total else 0
    context = {"job": job, "progress": progress, "percent": percent}
    template = (
        "customers/_import_status.html"
        if getattr(request, "htmx", False)
        else ("customers/import_job.html")
    )
    return render(request, template, context)


@login_required
@require_POST
def import_commit(request: HttpRequest, job_id: int) -> HttpResponse:
    """Import a file whose dry run found no problem (checked again as it is imported)."""
    user = _user(request)
    if not user.has_perm("customers.import_customers"):
        raise PermissionDenied("customers.import_customers")
    checked = _import_job_or_404(request, job_id)
    if not (checked.dry_run and checked.ok):
        messages.error(request, _("Only a checked file without problems can be imported."))
        return redirect("customers:import_job", job_id=checked.pk)
    job = ImportJob.objects.create(
        created_by=user, original_name=checked.original_name, dry_run=False, file=checked.file.name
    )
    tasks.import_job_run.enqueue(job.pk)
    return redirect("customers:import_job", job_id=job.pk)
