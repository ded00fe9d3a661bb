"""Joint test pages: who may start, watch, finish and cancel."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devices.joint_test_services import joint_test_start
from devices.models import DeviceEvent, EventKind, ItemResult, JointTest, JointTestStatus
from devices.services import joint_tests_match
from devices.tests.factories import make_building, make_collector, make_points
from ruwang.testing import PersonaTestCase

RUNNERS = ["engineer", "technical", "monitoring"]
VIEWERS = [*RUNNERS, "netadmin", "director", "agent"]
# They may see devices, but only of the customers they see (not this one).
SCOPED = ["account_manager", "supervisor"]


class JointTestViewTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer, site, floors = make_building(floors=2)
        cls.collector = make_collector(site=site)
        _system, cls.points = make_points(cls.collector, floors, per_floor=1)

    def test_who_may_see_the_start_page(self):
        url = reverse("devices:joint_test_start", args=[self.collector.pk])
        self.assert_access(url, allowed=RUNNERS)

    def test_starting_opens_a_session_with_a_row_per_point(self):
        client = self.client_as("engineer")
        url = reverse("devices:joint_test_start", args=[self.collector.pk])
        response = client.post(url, {"max_delay_seconds": "8"})
        test = JointTest.objects.get(collector=self.collector)
        self.assertRedirects(response, reverse("devices:joint_test", args=[test.pk]))
        self.assertEqual(test.items.count(), 2)
        self.assertEqual(test.max_delay_seconds, 8)
        self.assertEqual(test.started_by, self.users["engineer"])
        self.assertTrue(AuditEntry.objects.filter(action="joint_test.start").exists())

    def test_bad_delay_is_refused_with_a_message_and_nothing_started(self):
        client = self.client_as("engineer")
        url = reverse("devices:joint_test_start", args=[self.collector.pk])
        response = client.post(url, {"max_delay_seconds": "soon"})
        self.assertContains(response, "请输入整数秒")
        response = client.post(url, {"max_delay_seconds": "0"})
        self.assertContains(response, "1 到 600 秒")
        self.assertFalse(JointTest.objects.exists())

    def test_who_may_watch_a_session_and_the_rows_update_from_signals(self):
        test = joint_test_start(actor=None, collector=self.collector)
        url = reverse("devices:joint_test", args=[test.pk])
        self.assert_access(url, allowed=VIEWERS, not_found=SCOPED)
        point = self.points[0]
        event = DeviceEvent.objects.create(
            collector=self.collector,
            kind=EventKind.FIRE,
            info_type=2,
            system_type=1,
            system_address=1,
            component_type=40,
            component_address=point.component_address,
            point=point,
            description=point.location,
            occurred_at=timezone.now(),
            received_at=timezone.now(),
        )
        joint_tests_match([event])
        rows = self.client_as("monitoring").get(url, headers={"HX-Request": "true"})
        self.assertTemplateUsed(rows, "devices/joint_tests/_rows.html")
        self.assertContains(rows, "table-success")
        self.assertEqual(test.items.get(point=point).result, ItemResult.PASSED)

    def test_finishing_writes_the_report_and_only_runners_may(self):
        test = joint_test_start(actor=None, collector=self.collector)
        url = reverse("devices:joint_test_finish", args=[test.pk])
        for persona in ("director", "netadmin", "agent", "account_manager", "outsider"):
            self.assertEqual(self.client_as(persona).post(url).status_code, 403, persona)
        response = self.client_as("technical").post(url, {"notes": "二层未测"}, follow=True)
        test.refresh_from_db()
        self.assertEqual(test.status, JointTestStatus.FAILED)  # nothing was triggered
        self.assertContains(response, "报告（PDF）")
        self.assertEqual(test.report.customer, self.customer)
        self.assertEqual(test.items.filter(result=ItemResult.MISSING).count(), 2)
        again = self.client_as("technical").post(url, follow=True)
        self.assertContains(again, "已经结束")

    def test_cancelling_needs_a_reason(self):
        test = joint_test_start(actor=None, collector=self.collector)
        url = reverse("devices:joint_test_cancel", args=[test.pk])
        response = self.client_as("engineer").post(url, {"reason": " "}, follow=True)
        self.assertContains(response, "请填写取消原因")
        test.refresh_from_db()
        self.assertEqual(test.status, JointTestStatus.OPEN)
        self.client_as("engineer").post(url, {"reason": "现场停电"})
        test.refresh_from_db()
        self.assertEqual(test.status, JointTestStatus.CANCELLED)

    def test_the_list_shows_visible_sessions_with_constant_queries(self):
        joint_test_start(actor=None, collector=self.collector)
        url = reverse("devices:joint_tests")
        self.assert_access(url, allowed=[*VIEWERS, *SCOPED])
        client = self.client_as("director")
        client.get(url)  # warm the session and permission caches
        with self.assertNumQueries(9) as one:
            client.get(url)
        for n in (2, 3):
            _c, site, floors = make_building(f"大厦{n}", floors=1)
            other = make_collector(360_102_000_000 + n, site=site)
            make_points(other, floors, per_floor=1)
            joint_test_start(actor=None, collector=other)
        with self.assertNumQueries(len(one.captured_queries)):
            response = client.get(url)
        self.assertContains(response, self.collector.serial_number)
        mine = self.client_as("account_manager").get(url)
        self.assertNotContains(mine, self.collector.serial_number)
