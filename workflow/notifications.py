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
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from workflow.models import Notification, RobotWebhook, Task

log = logging.getLogger(__name__)


def _due_text(task: Task) -> str:
    if task.due_at is None:
        return ""
    return timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")


def notify(
    recipients: Iterable[User | None],
    *,
    kind: str,
    text: str,
    task: Task | None,
    robots: bool = False,
    url: str = "",
) -> int:
    """An in-app notification per recipient, an e-mail to those with an address, and
    (for reminders, breaches and escalations) a message to every active group robot.
    The link is the task's page, or `url` (a case, a ticket) for notifications without a task."""
    people = {u.pk: u for u in recipients if u is not None and u.is_active}
    if not people and not robots:
        return 0
    url = reverse("workflow:task", args=[task.pk]) if task else url
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(recipient=u, kind=kind, text=text[:300], url=url, task=task, created_at=now)
        for u in people.values()
    )
    _send_after_commit(text, url, [u.email for u in people.values() if u.email], robots)
    return len(people)


def notify_task(task: Task, *, kind: str, text: str, robots: bool = False) -> int:
    """Tell the people a task waits for: its assignee, or else the members of its role who may
    see the customer (nobody else can claim it). The pool's rows are written by one
    INSERT … SELECT: a pool task is opened on nearly every step of a process."""
    from customers.selectors import role_members_who_see_sql

    if task.assignee_id is not None or not task.role:
        people = [task.assignee] if task.assignee else []
        return notify(people, kind=kind, text=text, task=task, robots=robots)
    pool = role_members_who_see_sql(task.case.customer, task.role)
    emails: list[str] = []  # one per row written ("" for those without an address)
    url = reverse("workflow:task", args=[task.pk])
    if pool is not None:
        members, params = pool
        table, users = Notification._meta.db_table, User._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (recipient_id, kind, text, url, task_id, created_at)"  # noqa: S608
                f" SELECT id, %s, %s, %s, %s, %s FROM ({members}) pool"
                f" RETURNING (SELECT email FROM {users} WHERE id = recipient_id)",
                [kind, text[:300], url, task.pk, timezone.now(), *params],
            )
            emails = [email for (email,) in cursor.fetchall()]
    _send_after_commit(text, url, [e for e in emails if e], robots)
    return len(emails)


def _send_after_commit(text: str, url: str, addresses: list[str], robots: bool) -> None:
    if addresses:
        body = text + (f"\n\n{settings.RUWANG_BASE_URL.rstrip('/')}{url}" if url else "")
        transaction.on_commit(lambda: _mail(text, body, addresses))
    if robots:
        transaction.on_commit(lambda: _robots(text))


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
    return notify_task(task, kind="assigned", text=text)


def task_reminder(task: Task) -> int:
    text = _("Reminder: %(task)s · %(case)s is due %(due)s") % {
        "task": task.name,
        "case": task.case.number,
        "due": _due_text(task),
    }
    return notify_task(task, kind="reminder", text=text, robots=True)


def task_breached(task: Task) -> int:
    text = _("Overdue: %(task)s · %(case)s was due %(due)s") % {
        "task": task.name,
        "case": task.case.number,
        "due": _due_text(task),
    }
    return notify_task(task, kind="breached", text=text, robots=True)


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
