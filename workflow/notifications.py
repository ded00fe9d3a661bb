"""Telling people about their tasks: in-app (the bell), e-mail, and group-chat robots.

E-mail and robot messages are sent after the transaction commits, so a rolled-back
completion never mails anyone; a failing mail server or robot is logged, never raised.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from workflow.models import Notification, RobotWebhook, Task

log = logging.getLogger(__name__)


def _people_for(task: Task) -> list[User]:
    if task.assignee is not None:
        return [task.assignee]
    if not task.role:
        return []
    from customers.selectors import users_who_see

    members = User.objects.filter(groups__role__code=task.role)
    # Only those who may see the customer can claim the task: tell nobody else.
    return list(users_who_see(task.case.customer, members).distinct())


def _due_text(task: Task) -> str:
    if task.due_at is None:
        return ""
    return timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")


def notify(
    recipients: Iterable[User], *, kind: str, text: str, task: Task | None, robots: bool = False
) -> int:
    """An in-app notification per recipient, an e-mail to those with an address, and
    (for reminders, breaches and escalations) a message to every active group robot."""
    people = {u.pk: u for u in recipients if u is not None and u.is_active}
    if not people and not robots:
        return 0
    url = reverse("workflow:task", args=[task.pk]) if task else ""
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(recipient=u, kind=kind, text=text[:300], url=url, task=task, created_at=now)
        for u in people.values()
    )
    addresses = [u.email for u in people.values() if u.email]
    if addresses:
        body = text + (f"\n\n{settings.RUWANG_BASE_URL.rstrip('/')}{url}" if url else "")
        transaction.on_commit(lambda: _mail(text, body, addresses))
    if robots:
        transaction.on_commit(lambda: _robots(text))
    return len(people)


def _mail(subject: str, body: str, addresses: list[str]) -> None:
    try:
        send_mail(f"[入网] {subject[:80]}", body, None, addresses, fail_silently=False)
    except Exception:  # a mail outage must not break the work that triggered it
        log.exception("notification e-mail to %s failed", addresses)


def _robots(text: str) -> None:
    for robot in RobotWebhook.objects.filter(is_active=True):
        # WeCom and DingTalk group robots both take {"msgtype": "text", "text": {"content": …}}.
        payload = json.dumps({"msgtype": "text", "text": {"content": text}}).encode()
        request = urllib.request.Request(  # noqa: S310 - an administrator's https robot URL
            robot.url, data=payload, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                response.read()
        except Exception:
            log.exception("group robot %s failed", robot.name)


def task_assigned(task: Task) -> int:
    text = _("New task: %(task)s · %(case)s · %(customer)s") % {
        "task": task.name,
        "case": task.case.number,
        "customer": task.case.customer.name,
    }
    if task.due_at:
        text += " · " + _("due %(due)s") % {"due": _due_text(task)}
    return notify(_people_for(task), kind="assigned", text=text, task=task)


def task_reminder(task: Task) -> int:
    text = _("Reminder: %(task)s · %(case)s is due %(due)s") % {
        "task": task.name,
        "case": task.case.number,
        "due": _due_text(task),
    }
    return notify(_people_for(task), kind="reminder", text=text, task=task, robots=True)


def task_breached(task: Task) -> int:
    text = _("Overdue: %(task)s · %(case)s was due %(due)s") % {
        "task": task.name,
        "case": task.case.number,
        "due": _due_text(task),
    }
    return notify(_people_for(task), kind="breached", text=text, task=task, robots=True)


def task_escalated(task: Task, targets: list[User], level: int) -> int:
    holder = task.assignee.display_name or task.assignee.username if task.assignee else task.role
    text = _("Escalation %(level)s: %(task)s · %(case)s (%(holder)s) was due %(due)s") % {
        "level": level,
        "task": task.name,
        "case": task.case.number,
        "holder": holder,
        "due": _due_text(task),
    }
    return notify(targets, kind="escalated", text=text, task=task, robots=True)
