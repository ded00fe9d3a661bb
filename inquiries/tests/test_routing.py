"""The responsibility matrix (the seed's 3.2) and intake: every default row routes to its team,
project rules win, customers are matched or created as prospects, keywords mark contentious."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase

from audit.models import AuditEntry
from customers.models import Contact, Customer, CustomerKind, CustomerStatus
from inquiries.defaults import inquiry_defaults_ensure
from inquiries.models import (
    Inquiry,
    InquiryChannel,
    InquiryStatus,
    MessageKind,
    ProjectStage,
    RoutingRule,
    Topic,
)
from inquiries.services import inquiry_create, inquiry_reroute
from inquiries.tests.factories import desk_region, project_make, team_join
from ruwang.testing import make_regions, make_user
from service.models import Team

SEED_MATRIX = [
    # (stage, topic, team code) — 网上客户信息管理作业指导书 3.2.1–3.2.7
    (ProjectStage.PRE_SALES, Topic.GENERAL, "customer-centre"),
    (ProjectStage.PRE_SALES, Topic.PROPERTY, "customer-centre"),
    (ProjectStage.ON_SALE, Topic.GENERAL, "sales"),
    (ProjectStage.ON_SALE, Topic.PROPERTY, "sales"),
    (ProjectStage.PRE_DELIVERY, Topic.GENERAL, "customer-centre"),
    (ProjectStage.DELIVERED, Topic.PROPERTY, "property"),
    (ProjectStage.DELIVERED, Topic.GENERAL, "customer-centre"),
    (ProjectStage.ON_SALE, Topic.CLUB, "customer-centre"),
    (ProjectStage.DELIVERED, Topic.CLUB, "customer-centre"),
    (ProjectStage.ON_SALE, Topic.CONTRACT, "support"),
    (ProjectStage.DELIVERED, Topic.CONTRACT, "support"),
    (ProjectStage.PRE_SALES, Topic.PROMOTION, "promotion"),
    (ProjectStage.DELIVERED, Topic.PROMOTION, "promotion"),
]


class MatrixTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.regions = make_regions()
        inquiry_defaults_ensure()
        desk_region(cls.regions["360102"])

    def ask(self, stage: str, topic: str, **extra: object) -> Inquiry:
        project = project_make(f"p-{stage}-{topic}", stage, self.regions["360103"])
        return inquiry_create(
            actor=None,
            channel=InquiryChannel.WEB,
            subject="请问",
            body="请问一下情况",
            topic=topic,
            project=project,
            author_email="buyer@example.com",
            **extra,  # type: ignore[arg-type]
        )

    def test_each_default_row_of_the_seed_routes_to_its_team(self) -> None:
        for stage, topic, code in SEED_MATRIX:
            with self.subTest(stage=stage, topic=topic):
                inquiry = self.ask(stage, topic)
                assert inquiry.team is not None
                self.assertEqual(inquiry.team.code, code)

    def test_an_inquiry_without_a_project_goes_to_the_customer_centre(self) -> None:
        inquiry = inquiry_create(
            actor=None, channel=InquiryChannel.WEB, body="你们公司在哪里？", author_name="路人"
        )
        assert inquiry.team is not None
        self.assertEqual(inquiry.team.code, "customer-centre")

    def test_a_project_rule_beats_the_default_matrix(self) -> None:
        project = project_make("lakeside", ProjectStage.ON_SALE)
        own = Team.objects.create(code="lakeside-sales", name="滨湖销售组")
        RoutingRule.objects.create(project=project, team=own, note="滨湖项目自己的销售组")
        inquiry = inquiry_create(
            actor=None, channel=InquiryChannel.WEB, body="还有房吗", project=project
        )
        self.assertEqual(inquiry.team, own)

    def test_an_inactive_rule_is_skipped(self) -> None:
        RoutingRule.objects.filter(topic=Topic.PROMOTION).update(is_active=False)
        inquiry = self.ask(ProjectStage.ON_SALE, Topic.PROMOTION)
        assert inquiry.team is not None
        self.assertEqual(inquiry.team.code, "sales")

    def test_a_member_of_the_team_is_assigned_and_the_defaults_are_audited(self) -> None:
        agent = make_user("agent_a", "customer_centre_agent")
        team_join(Team.objects.get(code="customer-centre"), agent)
        inquiry = self.ask(ProjectStage.PRE_SALES, Topic.GENERAL)
        self.assertEqual(inquiry.assignee, agent)
        self.assertEqual(inquiry.status, InquiryStatus.ASSIGNED)
        self.assertTrue(AuditEntry.objects.filter(action="routingrule.create").exists())
        self.assertTrue(AuditEntry.objects.filter(action="inquiry.create").exists())

    def test_nobody_in_the_team_leaves_the_inquiry_new(self) -> None:
        inquiry = self.ask(ProjectStage.DELIVERED, Topic.PROPERTY)
        self.assertIsNone(inquiry.assignee)
        self.assertEqual(inquiry.status, InquiryStatus.NEW)

    def test_running_the_defaults_again_changes_nothing(self) -> None:
        RoutingRule.objects.filter(topic=Topic.CLUB).delete()
        self.assertEqual(inquiry_defaults_ensure(), 0)
        self.assertFalse(RoutingRule.objects.filter(topic=Topic.CLUB).exists())


class IntakeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.regions = make_regions()
        inquiry_defaults_ensure()
        desk_region(cls.regions["360102"])
        cls.known = Customer.objects.create(
            name="王芳", kind=CustomerKind.PERSON, region=cls.regions["360103"]
        )
        Contact.objects.create(
            customer=cls.known, name="王芳", email="wangfang@example.com", mobile="13907910001"
        )

    def test_a_known_e_mail_address_files_the_question_under_its_customer(self) -> None:
        inquiry = inquiry_create(
            actor=None,
            channel=InquiryChannel.EMAIL,
            body="物业费怎么交？",
            author_email="WangFang@example.com",
        )
        self.assertEqual(inquiry.customer, self.known)

    def test_a_known_mobile_number_files_the_question_under_its_customer(self) -> None:
        inquiry = inquiry_create(
            actor=None,
            channel=InquiryChannel.WEB,
            body="物业费怎么交？",
            author_phone="139 0791 0001",
        )
        self.assertEqual(inquiry.customer, self.known)

    def test_a_stranger_becomes_a_prospect_with_a_contact(self) -> None:
        project = project_make("garden", ProjectStage.ON_SALE, self.regions["360103"])
        inquiry = inquiry_create(
            actor=None,
            channel=InquiryChannel.WEB,
            body="样板间几点开放？",
            author_name="李雷",
            author_email="lilei@example.com",
            author_phone="13800001111",
            project=project,
        )
        customer = inquiry.customer
        self.assertNotEqual(customer, self.known)
        self.assertEqual(customer.status, CustomerStatus.PROSPECT)
        self.assertEqual(customer.name, "李雷")
        self.assertEqual(customer.region, self.regions["360103"])  # the project's district
        contact = customer.contacts.get()
        self.assertEqual((contact.email, contact.mobile), ("lilei@example.com", "13800001111"))
        self.assertIn(customer, project.customers.all())
        self.assertEqual(inquiry.number, f"WZ-{inquiry.received_at.year}-{inquiry.pk:06d}")
        question = inquiry.messages.get(kind=MessageKind.QUESTION)
        self.assertEqual(question.body, "样板间几点开放？")

    def test_a_keyword_marks_the_inquiry_contentious(self) -> None:
        inquiry = inquiry_create(
            actor=None,
            channel=InquiryChannel.WEB,
            body="房子漏水了，要求赔偿！",
            author_name="张三",
        )
        self.assertTrue(inquiry.contentious)
        self.assertIn("赔偿", inquiry.contentious_reason)
        self.assertIn("漏水", inquiry.contentious_reason)

    def test_an_empty_question_is_refused_and_nothing_is_created(self) -> None:
        before = Customer.objects.count()
        with self.assertRaises(ValidationError) as raised:
            inquiry_create(actor=None, channel=InquiryChannel.WEB, body="   ", author_name="x")
        self.assertIn("body", raised.exception.message_dict)
        self.assertEqual(Customer.objects.count(), before)
        self.assertFalse(Inquiry.objects.exists())

    def test_a_question_from_a_forum_needs_its_site_and_its_clock_starts_when_posted(self) -> None:
        with self.assertRaises(ValidationError) as raised:
            inquiry_create(actor=None, channel=InquiryChannel.FORUM, body="交房时间？")
        self.assertIn("source_site", raised.exception.message_dict)
        from django.utils import timezone

        posted = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=5)
        inquiry = inquiry_create(
            actor=None,
            channel=InquiryChannel.FORUM,
            body="交房时间？",
            source_site="搜房网业主论坛",
            author_handle="lake_owner",
            posted_at=posted,
        )
        self.assertEqual(inquiry.due_at, posted + timezone.timedelta(hours=24))
        self.assertEqual(inquiry.warn_at, posted + timezone.timedelta(hours=20))

    def test_staff_without_the_permission_cannot_enter_an_inquiry(self) -> None:
        engineer = make_user("eng", "engineer")
        with self.assertRaises(PermissionDenied):
            inquiry_create(
                actor=engineer, channel=InquiryChannel.FORUM, body="?", source_site="论坛"
            )

    def test_rerouting_needs_a_reason_and_moves_the_inquiry(self) -> None:
        supervisor = make_user("sup", "supervisor")
        inquiry = inquiry_create(actor=None, channel=InquiryChannel.WEB, body="会所何时开放？")
        with self.assertRaises(ValidationError):
            inquiry_reroute(actor=supervisor, inquiry=inquiry, reason=" ", topic=Topic.CLUB)
        moved = inquiry_reroute(
            actor=supervisor, inquiry=inquiry, reason="属于客户俱乐部事务", topic=Topic.PROMOTION
        )
        assert moved.team is not None
        self.assertEqual(moved.team.code, "promotion")
        event = moved.messages.get(event="rerouted")
        self.assertEqual(event.body, "属于客户俱乐部事务")
        entry = AuditEntry.objects.get(action="inquiry.reroute")
        self.assertIn("team", entry.changes)

    def test_an_account_manager_cannot_reroute(self) -> None:
        manager = make_user("am", "account_manager")
        inquiry = inquiry_create(actor=None, channel=InquiryChannel.WEB, body="?")
        with self.assertRaises(PermissionDenied):
            inquiry_reroute(actor=manager, inquiry=inquiry, reason="不是我", topic=Topic.CLUB)
