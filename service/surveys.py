"""Satisfaction surveys (满意度调查): send a one-time link, take the answer, follow up low scores.

A survey is an invitation with a random, unguessable token. The customer's contact gets the link
by e-mail (and staff can copy it into an SMS or a WeCom chat); the public page needs no sign-in,
takes one answer and stops working after settings.RUWANG_SURVEY_DAYS. A low score (CSAT ≤ 2 or
NPS ≤ 6, an NPS "detractor") opens a follow-up ticket for a supervisor.

Sent after a ticket is resolved (`survey_after_resolve`, from service.notify.resolved), after a
revisit and after the onboarding handover (the `fire.go_live` step handler).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from customers.models import Customer
from customers.selectors import customer_visible, customers_visible_to, users_who_see
from service.models import (
    Channel,
    EntryKind,
    LinkKind,
    Priority,
    ScheduledRevisit,
    Survey,
    SurveyTrigger,
    Ticket,
    TicketEntry,
    TicketKind,
    TicketLink,
    TicketStatus,
)
from workflow.models import Case

log = logging.getLogger(__name__)

VIEW_PERM = "service.view_survey"
# Who may send a survey by hand: those who work tickets or close revisits.
SEND_PERMS = ("service.work_ticket", "service.close_revisit")
# Tickets whose resolution asks the customer; revisits and upgrades are asked about by the
# revisit's own survey, not once per work item.
SURVEY_KINDS = (TicketKind.FAULT, TicketKind.COMPLAINT, TicketKind.CONSULTATION, TicketKind.OTHER)
CSAT_CHOICES = (1, 2, 3, 4, 5)
NPS_CHOICES = tuple(range(11))
# A low score: dissatisfied (1–2 stars) or an NPS detractor (0–6).
LOW_CSAT = 2
LOW_NPS = 6
# NPS = % promoters (9–10) − % detractors (0–6).
PROMOTER_NPS = 9
COMMENT_MAX = 2000
SUPERVISOR_ROLE = "supervisor"
FOLLOW_UP_SOURCE = "survey:"


def survey_link(survey: Survey) -> str:
    """The absolute public link of the survey (for the e-mail, an SMS or a WeCom message)."""
    path = reverse("service:survey_answer", args=[survey.token])
    return f"{settings.RUWANG_BASE_URL.rstrip('/')}{path}"


def survey_is_expired(survey: Survey, now: dt.datetime | None = None) -> bool:
    return survey.expires_at <= (now or timezone.now())


def survey_is_low(survey: Survey) -> bool:
    return (survey.csat is not None and survey.csat <= LOW_CSAT) or (
        survey.nps is not None and survey.nps <= LOW_NPS
    )


def _open_q(now: dt.datetime) -> Q:
    return Q(answered_at__isnull=True, expires_at__gt=now)


def customer_email(customer: Customer) -> str:
    """The e-mail address of the customer's contact to ask: the primary contact first."""
    contact = (
        customer.contacts.filter(anonymised_at__isnull=True)
        .exclude(email="")
        .order_by("-is_primary", "id")
        .first()
    )
    return contact.email if contact else ""


# --- send ------------------------------------------------------------------------------------


def _check_sender(actor: User | None, customer: Customer) -> None:
    if actor is None:  # the system (a step handler, a resolved ticket)
        return
    if not any(actor.has_perm(perm) for perm in SEND_PERMS):
        raise PermissionDenied(" / ".join(SEND_PERMS))
    if not customer_visible(actor, customer):
        raise PermissionDenied("customer not visible")


def _check_subject(
    customer: Customer,
    trigger: str,
    ticket: Ticket | None,
    revisit: ScheduledRevisit | None,
    case: Case | None,
) -> None:
    if trigger not in SurveyTrigger.values:
        raise ValidationError({"trigger": _("Unknown survey occasion.")})
    needed = {
        SurveyTrigger.TICKET: (ticket, "ticket", _("Name the ticket the survey is about.")),
        SurveyTrigger.REVISIT: (revisit, "revisit", _("Name the revisit the survey is about.")),
        SurveyTrigger.HANDOVER: (case, "case", _("Name the onboarding case the survey is about.")),
    }
    subject, field_name, message = needed[SurveyTrigger(trigger)]
    if subject is None:
        raise ValidationError({field_name: message})
    for item, name in ((ticket, "ticket"), (revisit, "revisit"), (case, "case")):
        if item is not None and item.customer_id != customer.pk:
            raise ValidationError({name: _("It belongs to another customer than the survey's.")})


def _lock_subject(
    trigger: str, ticket: Ticket | None, revisit: ScheduledRevisit | None, case: Case | None
) -> Q:
    """Lock the row the survey is about (two resolutions at once send one survey) and return
    the filter of that row's surveys."""
    if trigger == SurveyTrigger.TICKET and ticket is not None:
        Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("pk").first()
        return Q(ticket=ticket)
    if trigger == SurveyTrigger.REVISIT and revisit is not None:
        ScheduledRevisit.objects.select_for_update().filter(pk=revisit.pk).values_list("pk").first()
        return Q(revisit=revisit)
    assert case is not None  # _check_subject made sure the trigger's subject is given
    Case.objects.select_for_update().filter(pk=case.pk).values_list("pk").first()
    return Q(case=case)


def _ticket_entry(ticket: Ticket, text: str, **data: Any) -> None:
    TicketEntry.objects.create(
        ticket=ticket,
        kind=EntryKind.SYSTEM,
        text=text,
        data=data,
        created_at=timezone.now(),
    )


def _subject_label(survey: Survey) -> str:
    if survey.ticket is not None:
        return f"{survey.ticket.number} {survey.ticket.subject}"
    if survey.revisit is not None:
        return _("Revisit of %(day)s") % {"day": f"{survey.revisit.due_on:%Y-%m-%d}"}
    if survey.case is not None:
        return _("Onboarding %(case)s") % {"case": survey.case.number}
    return survey.get_trigger_display()


def _mail_survey(survey: Survey) -> None:
    """The invitation, in the site's language (the customer does not choose one)."""
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Please rate our service: %(about)s") % {"about": _subject_label(survey)}
        body = _(
            "Dear customer,\n\n"
            "thank you for using our service. Please take one minute to tell us how satisfied "
            "you are (%(about)s):\n\n"
            "%(link)s\n\n"
            "The link works once and until %(expires)s."
        ) % {
            "about": _subject_label(survey),
            "link": survey_link(survey),
            "expires": f"{timezone.localtime(survey.expires_at):%Y-%m-%d %H:%M}",
        }
    try:
        send_mail(subject[:150], body, None, [survey.email], fail_silently=False)
    except Exception:  # a mail outage must not undo the work that sent the survey
        log.exception("survey e-mail to %s failed", survey.email)


def survey_send(
    *,
    actor: User | None,
    customer: Customer,
    trigger: str,
    ticket: Ticket | None = None,
    revisit: ScheduledRevisit | None = None,
    case: Case | None = None,
    email: str = "",
) -> Survey:
    """Invite the customer to a survey about a resolved ticket, a revisit or the onboarding
    handover: a one-time link valid for settings.RUWANG_SURVEY_DAYS, e-mailed (after the commit)
    to `email` or else the customer's contact with an e-mail address (primary first). Without
    any address the survey is still created; its link is copied from the ticket page or the
    customer profile. While a survey about the same ticket / revisit / case is still open
    (unanswered, unexpired) that survey is returned and nothing is sent again."""
    _check_sender(actor, customer)
    _check_subject(customer, trigger, ticket, revisit, case)
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": _("Enter a valid e-mail address.")}) from None
    now = timezone.now()
    with transaction.atomic():
        about = _lock_subject(trigger, ticket, revisit, case)
        existing = Survey.objects.filter(about, _open_q(now)).order_by("-sent_at", "-id").first()
        if existing is not None:
            return existing
        survey = Survey.objects.create(
            token=secrets.token_urlsafe(32),
            customer=customer,
            trigger=trigger,
            ticket=ticket,
            revisit=revisit,
            case=case,
            email=email or customer_email(customer),
            sent_at=now,
            expires_at=now + dt.timedelta(days=settings.RUWANG_SURVEY_DAYS),
        )
        if ticket is not None:
            with translation.override(settings.LANGUAGE_CODE):
                text = (
                    _("Satisfaction survey sent by e-mail.")
                    if survey.email
                    else _("Satisfaction survey created; no e-mail address, copy its link.")
                )
            _ticket_entry(ticket, text, event="survey_sent", survey=survey.pk)
        audit_record(
            actor=actor,
            action="survey.send",
            obj=survey,
            changes={
                "trigger": trigger,
                "ticket": ticket.number if ticket else None,
                "revisit": revisit.pk if revisit else None,
                "case": case.number if case else None,
                "emailed": bool(survey.email),
                "expires_at": survey.expires_at,
            },
        )
        if survey.email:
            transaction.on_commit(lambda: _mail_survey(survey))
    return survey


def survey_after_resolve(ticket: Ticket) -> Survey | None:
    """The survey sent when a ticket is resolved, when its kind asks for one and the customer
    has a contact. Tickets the system opened and closed by itself (a collector that came back
    online, nobody took it over) and follow-ups of earlier surveys ask nothing."""
    if ticket.kind not in SURVEY_KINDS or ticket.status != TicketStatus.RESOLVED:
        return None
    if ticket.source_key.startswith(FOLLOW_UP_SOURCE):
        return None
    if ticket.source_key and not ticket.taken_over:
        return None
    if not ticket.customer.contacts.filter(anonymised_at__isnull=True).exists():
        return None
    return survey_send(
        actor=None, customer=ticket.customer, trigger=SurveyTrigger.TICKET, ticket=ticket
    )


# --- answer ----------------------------------------------------------------------------------


def _follow_up_owner(survey: Survey) -> User | None:
    """The supervisor who follows up: the account manager's supervisor, else the lead of the
    ticket's team, else a supervisor who may see the customer."""
    customer = survey.customer
    candidates: list[User | None] = []
    owner = customer.owner
    candidates.append(owner.supervisor if owner is not None else None)
    ticket = survey.ticket
    candidates.append(ticket.team.lead if ticket is not None and ticket.team else None)
    for person in candidates:
        # only someone who may work the follow-up ticket (e.g. not a market manager)
        if (
            person is not None
            and person.is_active
            and person.has_perm("service.work_ticket")
            and customer_visible(person, customer)
        ):
            return person
    supervisors = User.objects.filter(is_active=True, groups__role__code=SUPERVISOR_ROLE)
    return users_who_see(customer, supervisors).order_by("pk").first()


def _open_follow_up(survey: Survey) -> Ticket:
    from service.tickets import ticket_create

    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Satisfaction follow-up: %(customer)s") % {"customer": survey.customer.name}
        lines = [
            _("The customer gave a low score in the satisfaction survey about %(about)s.")
            % {"about": _subject_label(survey)},
            _("Satisfaction: %(csat)s / 5") % {"csat": survey.csat},
        ]
        if survey.nps is not None:
            lines.append(_("Likely to recommend: %(nps)s / 10") % {"nps": survey.nps})
        if survey.comment:
            lines.append(_("Comment: %(comment)s") % {"comment": survey.comment})
        lines.append(_("Call the customer back, find out what went wrong and put it right."))
    follow_up = ticket_create(
        actor=None,
        customer=survey.customer,
        kind=TicketKind.OTHER,
        subject=subject[:120],
        description="\n".join(lines),
        priority=Priority.HIGH,
        channel=Channel.SYSTEM,
        site=survey.ticket.site if survey.ticket else None,
        assignee=_follow_up_owner(survey),
        source_key=f"{FOLLOW_UP_SOURCE}{survey.pk}",
    )
    if survey.ticket is not None:
        TicketLink.objects.get_or_create(
            source=follow_up, target=survey.ticket, defaults={"kind": LinkKind.FOLLOW_UP}
        )
    return follow_up


def _clean_answer(csat: Any, nps: Any, comment: str) -> tuple[int, int | None, str]:
    errors: dict[str, str] = {}
    if csat in (None, ""):
        errors["csat"] = _("Choose how satisfied you are (1 to 5 stars).")
    elif isinstance(csat, bool) or not isinstance(csat, int) or csat not in CSAT_CHOICES:
        errors["csat"] = _("Satisfaction is a score from 1 to 5.")
    if nps == "":
        nps = None
    if nps is not None and (
        isinstance(nps, bool) or not isinstance(nps, int) or nps not in NPS_CHOICES
    ):
        errors["nps"] = _("Likelihood to recommend is a score from 0 to 10.")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        errors["comment"] = _("Keep the comment under %(max)d characters.") % {"max": COMMENT_MAX}
    if errors:
        raise ValidationError(errors)
    return csat, nps, comment


def survey_answer(
    *, survey: Survey, csat: int, nps: int | None = None, comment: str = ""
) -> Survey:
    """Record the customer's answer (no sign-in: the token is the proof). Works once, and only
    before the survey expires; a low score opens a follow-up ticket for a supervisor."""
    csat, nps, comment = _clean_answer(csat, nps, comment)
    now = timezone.now()
    with transaction.atomic():
        current = Survey.objects.select_for_update().get(pk=survey.pk)
        if current.answered_at is not None:
            raise ValidationError(_("This survey has already been answered."), code="answered")
        if survey_is_expired(current, now):
            raise ValidationError(_("This survey link has expired."), code="expired")
        current.csat, current.nps, current.comment = csat, nps, comment
        current.answered_at = now
        current.save(update_fields=["csat", "nps", "comment", "answered_at"])
        if survey_is_low(current):
            current.follow_up = _open_follow_up(current)
            current.save(update_fields=["follow_up"])
        if current.ticket is not None:
            with translation.override(settings.LANGUAGE_CODE):
                text = _("The customer answered the satisfaction survey: %(csat)s / 5.") % {
                    "csat": csat
                }
            _ticket_entry(
                current.ticket,
                text,
                event="survey_answered",
                survey=current.pk,
                csat=csat,
                nps=nps,
            )
        audit_record(
            actor=None,
            action="survey.answer",
            obj=current,
            changes={
                "csat": csat,
                "nps": nps,
                "follow_up": current.follow_up.number if current.follow_up else None,
            },
        )
    return current


# --- reads -----------------------------------------------------------------------------------


def survey_by_token(token: str) -> Survey | None:
    """The survey of a public link, or None for an unknown token."""
    if not token or len(token) > 64:
        return None
    return (
        Survey.objects.select_related("customer", "ticket", "revisit", "case")
        .filter(token=token)
        .first()
    )


def surveys_visible_to(user: User) -> QuerySet[Survey]:
    """The surveys of the customers the user may see (none without the view permission)."""
    if not user.has_perm(VIEW_PERM):
        return Survey.objects.none()
    qs = Survey.objects.all()
    if user.has_perm("customers.view_all_customers"):
        return qs.filter(customer__merged_into__isnull=True)
    return qs.filter(customer__in=customers_visible_to(user).values("id"))


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def survey_stats(qs: QuerySet[Survey]) -> dict[str, Any]:
    """Roll-up of surveys in one query: `sent`, `answered`, `response_rate` (%), `csat` (mean
    of 1–5, one decimal), `nps` (% promoters − % detractors, −100…100, over answers with an
    NPS score), `nps_answers`, `promoters`, `passives`, `detractors`, `low` (answers with a low
    score). Averages are None when nothing was answered."""
    answered = Q(answered_at__isnull=False)
    row = qs.order_by().aggregate(
        sent=Count("id"),
        answered=Count("id", filter=answered),
        csat_mean=Avg("csat", filter=answered),
        nps_answers=Count("id", filter=answered & Q(nps__isnull=False)),
        promoters=Count("id", filter=answered & Q(nps__gte=PROMOTER_NPS)),
        detractors=Count("id", filter=answered & Q(nps__lte=LOW_NPS)),
        low=Count("id", filter=answered & (Q(csat__lte=LOW_CSAT) | Q(nps__lte=LOW_NPS))),
    )
    scored = row["nps_answers"]
    mean = row.pop("csat_mean")
    return {
        **row,
        # float(): PostgreSQL averages integers as numeric (Decimal); charts want numbers.
        "csat": round(float(mean), 1) if mean is not None else None,
        "passives": scored - row["promoters"] - row["detractors"],
        "nps": (round(100 * (row["promoters"] - row["detractors"]) / scored) if scored else None),
        "response_rate": _percent(row["answered"], row["sent"]),
    }


@dataclass
class SurveyRow:
    """A survey as lists show it: its state and, while it is open, its link."""

    survey: Survey
    state: str  # "answered" | "open" | "expired"
    link: str = ""
    low: bool = False


def _rows(surveys: list[Survey], now: dt.datetime) -> list[SurveyRow]:
    rows = []
    for s in surveys:
        if s.answered_at is not None:
            rows.append(SurveyRow(s, "answered", low=survey_is_low(s)))
        elif survey_is_expired(s, now):
            rows.append(SurveyRow(s, "expired"))
        else:
            rows.append(SurveyRow(s, "open", link=survey_link(s)))
    return rows


@dataclass
class TicketSurveys:
    """What the ticket page shows about surveys: this ticket's surveys, the low-score survey
    this ticket follows up, and whether the user may send one."""

    rows: list[SurveyRow]
    source: Survey | None = None
    can_send: bool = False


def ticket_surveys(user: User, ticket: Ticket) -> TicketSurveys | None:
    """None when the user may not see surveys of this ticket's customer."""
    if not user.has_perm(VIEW_PERM) or not customer_visible(user, ticket.customer):
        return None
    now = timezone.now()
    surveys = list(Survey.objects.filter(ticket=ticket).select_related("follow_up"))
    source = None
    if ticket.source_key.startswith(FOLLOW_UP_SOURCE):
        source = (
            Survey.objects.filter(follow_up=ticket)
            .select_related("ticket", "revisit", "case")
            .first()
        )
    rows = _rows(surveys, now)
    can_send = (
        user.has_perm("service.work_ticket")
        and ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        and not ticket.source_key.startswith(FOLLOW_UP_SOURCE)
        and not any(r.state == "open" for r in rows)
    )
    return TicketSurveys(rows=rows, source=source, can_send=can_send)


RECENT_ANSWERS = 5


@dataclass
class CustomerSurveys:
    """The customer profile's survey card."""

    customer: Customer
    stats: dict[str, Any]
    recent: list[SurveyRow]
    waiting: list[SurveyRow] = field(default_factory=list)


def customer_surveys(user: User, customer: Customer) -> CustomerSurveys | None:
    """Averages over every survey of the customer, the last answers and the links still
    waiting for an answer (3 queries); None when the user may not see them or none was sent."""
    if not user.has_perm(VIEW_PERM) or not customer_visible(user, customer):
        return None
    qs = Survey.objects.filter(customer=customer)
    stats = survey_stats(qs)
    if not stats["sent"]:
        return None
    now = timezone.now()
    related = ("ticket", "revisit", "case", "follow_up")
    recent = list(
        qs.filter(answered_at__isnull=False)
        .select_related(*related)
        .order_by("-answered_at", "-id")[:RECENT_ANSWERS]
    )
    waiting = list(qs.filter(_open_q(now)).select_related(*related).order_by("-sent_at", "-id"))
    return CustomerSurveys(
        customer=customer,
        stats=stats,
        recent=_rows(recent, now),
        waiting=_rows(waiting, now),
    )


# The survey list's views: (key, what it shows).
SHOW_ANSWERED = "answered"
SHOW_LOW = "low"
SHOW_WAITING = "waiting"
SHOW_EXPIRED = "expired"
SHOW_ALL = "all"
SHOW_KEYS = (SHOW_ANSWERED, SHOW_LOW, SHOW_WAITING, SHOW_EXPIRED, SHOW_ALL)


def survey_list(
    user: User, *, show: str = SHOW_ANSWERED, now: dt.datetime | None = None
) -> QuerySet[Survey]:
    """The surveys of one list view, newest first."""
    now = now or timezone.now()
    qs = surveys_visible_to(user)
    if show == SHOW_ANSWERED:
        qs = qs.filter(answered_at__isnull=False)
    elif show == SHOW_LOW:
        qs = qs.filter(Q(answered_at__isnull=False) & (Q(csat__lte=LOW_CSAT) | Q(nps__lte=LOW_NPS)))
    elif show == SHOW_WAITING:
        qs = qs.filter(_open_q(now))
    elif show == SHOW_EXPIRED:
        qs = qs.filter(answered_at__isnull=True, expires_at__lte=now)
    order = ("-answered_at", "-id") if show in (SHOW_ANSWERED, SHOW_LOW) else ("-sent_at", "-id")
    return qs.select_related("customer", "ticket", "revisit", "case", "follow_up").order_by(*order)


def list_rows(surveys: list[Survey]) -> list[SurveyRow]:
    return _rows(surveys, timezone.now())
