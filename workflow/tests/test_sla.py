"""SLA: reminders, breaches and escalations at the right times, by e-mail through a real SMTP
server, in the bell, and to group robots."""

import json
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import time_machine
from aiosmtpd.controller import Controller
from django.test import override_settings

from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from workflow import services
from workflow.models import Notification, RobotWebhook
from workflow.tests.test_cases import publish

SHANGHAI = ZoneInfo("Asia/Shanghai")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(message["Subject"])))
        self.messages.append((list(envelope.rcpt_tos), subject))
        return "250 OK"


class RobotServer(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        RobotServer.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"errcode": 0}')

    def log_message(self, *args):
        pass


class SlaTickTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.version = publish()
        market, manager, director = (cls.users[p] for p in ("market", "market_manager", "director"))
        for user, supervisor in ((market, manager), (manager, director)):
            user.supervisor = supervisor
            user.email = f"{user.username}@example.test"
            user.save()
        director.email = "director@example.test"
        director.save()
        cls.customer = make_customer("时限客户", cls.regions["360102"], owner=market)

    def setUp(self) -> None:
        self.smtp = Inbox()
        port = free_port()
        self.controller = Controller(self.smtp, hostname="127.0.0.1", port=port)
        self.controller.start()
        mail = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
        )
        mail.enable()
        self.addCleanup(mail.disable)
        self.addCleanup(self.controller.stop)
        self.robot = HTTPServer(("127.0.0.1", 0), RobotServer)
        threading.Thread(target=self.robot.serve_forever, daemon=True).start()
        self.addCleanup(self.robot.shutdown)
        RobotServer.received = []
        RobotWebhook.objects.create(
            name="值班群",
            kind="wecom",
            url=f"http://127.0.0.1:{self.robot.server_address[1]}/send",
        )

    def tick(self, at: datetime) -> dict[str, int]:
        with time_machine.travel(at, tick=False), self.captureOnCommitCallbacks(execute=True):
            return services.sla_tick()

    def recipients(self) -> list[str]:
        return [to for tos, _subject in self.smtp.messages for to in tos]

    def test_reminder_breach_and_two_escalations_reach_the_right_people_at_the_right_times(self):
        start = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
        with time_machine.travel(start, tick=False), self.captureOnCommitCallbacks(execute=True):
            case = services.case_start(actor=None, customer=self.customer, version=self.version)
            task = case.tasks.get()
            services.task_claim(actor=self.users["market"], task=task)
        task.refresh_from_db()
        # 2 workdays = 15 working hours: Monday 09:00 → Tuesday 18:00; reminder 4 work hours
        # before → Tuesday 14:00; second escalation one more SLA period later → Thursday 18:00.
        assert task.due_at == datetime(2026, 11, 3, 18, 0, tzinfo=SHANGHAI)
        assert task.remind_at == datetime(2026, 11, 3, 14, 0, tzinfo=SHANGHAI)

        assert self.tick(datetime(2026, 11, 3, 13, 59, tzinfo=SHANGHAI)) == {
            "reminded": 0,
            "breached": 0,
            "escalated": 0,
        }
        assert self.recipients() == ["market@example.test"]  # the new task, to its role's pool
        assert self.tick(datetime(2026, 11, 3, 14, 0, tzinfo=SHANGHAI))["reminded"] == 1
        assert self.recipients()[1:] == ["market@example.test"]

        counts = self.tick(datetime(2026, 11, 3, 18, 1, tzinfo=SHANGHAI))
        assert (counts["breached"], counts["escalated"]) == (1, 1)
        task.refresh_from_db()
        assert task.escalation_level == 1
        # breach → the assignee; level 1 → the assignee's supervisor
        assert self.recipients()[2:] == ["market@example.test", "market_manager@example.test"]

        assert self.tick(datetime(2026, 11, 5, 17, 59, tzinfo=SHANGHAI))["escalated"] == 0
        assert self.tick(datetime(2026, 11, 5, 18, 0, tzinfo=SHANGHAI))["escalated"] == 1
        assert self.recipients()[-1] == "director@example.test"  # supervisor's supervisor
        assert self.tick(datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))["escalated"] == 0

        subjects = [s for _tos, s in self.smtp.messages]
        assert all(case.number in s for s in subjects)  # every subject names the case
        bell = Notification.objects.filter(recipient=self.users["market"]).values_list(
            "kind", flat=True
        )
        assert sorted(bell) == ["assigned", "breached", "reminder"]
        assert len(RobotServer.received) == 4  # reminder, breach, two escalations
        assert RobotServer.received[0]["msgtype"] == "text"

    def test_a_held_case_is_neither_reminded_nor_breached(self):
        start = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
        with time_machine.travel(start, tick=False):
            case = services.case_start(actor=None, customer=self.customer, version=self.version)
            services.case_hold(actor=self.users["director"], case=case, reason="等待客户")
        counts = self.tick(start + timedelta(days=10))
        assert counts == {"reminded": 0, "breached": 0, "escalated": 0}
        assert self.smtp.messages == []
