"""Saved customer segments (客户细分): every condition type filters, AND/OR, nested groups and
negation combine, a segment never shows customers its user may not see, validation names the
bad condition, and the pages (list, builder with its live preview, export, delete)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AuditEntry
from customers.models import (
    Customer,
    CustomerCategory,
    CustomerKind,
    CustomerStatus,
    Segment,
    Tag,
)
from customers.segments import (
    CONDITION_TYPES,
    ConditionType,
    ValueKind,
    condition_type_register,
    describe,
    segment_count,
    segment_delete,
    segment_queryset,
    segment_save,
    segment_validate,
    segments_visible_to,
)
from customers.tests.factories import make_contact, make_customer
from inquiries.models import Notice, NoticeStatus, Project
from ruwang.testing import STRONG_PASSWORD, PersonaTestCase, make_regions, make_user

SEGMENT_USERS = ["agent", "supervisor", "market_manager"]


def cond(field: str, *values: Any, negate: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "values": list(values)}
    if negate:
        node["negate"] = True
    return node


def tree(*items: dict[str, Any], op: str = "and") -> dict[str, Any]:
    return {"op": op, "items": list(items)}


class SegmentWorld(PersonaTestCase):
    """Four customers: 东湖医院 (Donghu, key unit, 医疗卫生, active, tagged 医院, the market
    persona's, in project 滨江一期, created 2025-03-10), 西湖学校 (Xihu, general, 教育, onboarding,
    tagged 学校, created 2025-06-01), 九江商场 (Lianxi, small venue, 零售, prospect, tagged 商场,
    created 2025-09-20) and 张三 (a person in Donghu, prospect, no tags, created 2025-12-31)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        cls.hospital_tag = Tag.objects.create(name="医院")
        cls.school_tag = Tag.objects.create(name="学校")
        cls.mall_tag = Tag.objects.create(name="商场")
        cls.hospital = make_customer(
            "东湖医院",
            cls.regions["360102"],
            owner=cls.users["market"],
            category=CustomerCategory.KEY_UNIT,
            industry="医疗卫生",
        )
        cls.school = make_customer(
            "西湖学校", cls.regions["360103"], category=CustomerCategory.GENERAL, industry="教育"
        )
        cls.mall = make_customer(
            "九江商场",
            cls.regions["360402"],
            category=CustomerCategory.SMALL_VENUE,
            industry="Retail 零售",
        )
        cls.person = make_customer(
            "张三", cls.regions["360102"], kind=CustomerKind.PERSON, category=CustomerCategory.OTHER
        )
        cls.hospital.tags.set([cls.hospital_tag])
        cls.school.tags.set([cls.school_tag])
        cls.mall.tags.set([cls.mall_tag])
        Customer.objects.filter(pk=cls.hospital.pk).update(status=CustomerStatus.ACTIVE)
        Customer.objects.filter(pk=cls.school.pk).update(status=CustomerStatus.ONBOARDING)
        for customer, day in (
            (cls.hospital, dt.date(2025, 3, 10)),
            (cls.school, dt.date(2025, 6, 1)),
            (cls.mall, dt.date(2025, 9, 20)),
            (cls.person, dt.date(2025, 12, 31)),
        ):
            moment = timezone.make_aware(dt.datetime.combine(day, dt.time(23, 30)))
            Customer.objects.filter(pk=customer.pk).update(created_at=moment)
        cls.project = Project.objects.create(code="binjiang-1", name="滨江一期")
        cls.project.customers.add(cls.hospital)
        Project.objects.create(code="binjiang-2", name="滨江二期").customers.add(cls.school)
        make_contact(cls.hospital, name="李主任", mobile="13800001111", is_primary=True)

    def names(self, definition: dict[str, Any], persona: str = "agent") -> set[str]:
        return set(segment_queryset(self.users[persona], definition).values_list("name", flat=True))


class ConditionTypeTests(SegmentWorld):
    def test_district_includes_everything_below_a_city(self):
        nanchang = self.regions["360100"]
        assert self.names(tree(cond("region", nanchang.pk))) == {"东湖医院", "西湖学校", "张三"}
        assert self.names(tree(cond("region", self.regions["360402"].pk))) == {"九江商场"}

    def test_kind_filters(self):
        assert self.names(tree(cond("kind", CustomerKind.PERSON))) == {"张三"}

    def test_category_filters_any_of(self):
        chosen = tree(cond("category", CustomerCategory.KEY_UNIT, CustomerCategory.SMALL_VENUE))
        assert self.names(chosen) == {"东湖医院", "九江商场"}

    def test_industry_matches_text_contained_case_insensitively(self):
        assert self.names(tree(cond("industry", "医疗"))) == {"东湖医院"}
        assert self.names(tree(cond("industry", "retail", "教育"))) == {"九江商场", "西湖学校"}

    def test_status_filters(self):
        statuses = tree(cond("status", CustomerStatus.ACTIVE, CustomerStatus.ONBOARDING))
        assert self.names(statuses) == {"东湖医院", "西湖学校"}
        assert self.names(tree(cond("status", CustomerStatus.PROSPECT))) == {"九江商场", "张三"}

    def test_tags_match_any_of_the_chosen_tags(self):
        tags = tree(cond("tag", self.hospital_tag.pk, self.school_tag.pk))
        assert self.names(tags) == {"东湖医院", "西湖学校"}

    def test_account_manager_filters(self):
        assert self.names(tree(cond("owner", self.users["market"].pk))) == {"东湖医院"}

    def test_inquiry_project_filters(self):
        assert self.names(tree(cond("inquiry_project", self.project.pk))) == {"东湖医院"}

    def test_created_between_counts_whole_local_days(self):
        # Created 23:30 local time on 2025-06-01: that day is inside, whatever UTC says.
        assert self.names(tree(cond("created", "2025-06-01", "2025-09-20"))) == {
            "西湖学校",
            "九江商场",
        }
        assert self.names(tree(cond("created", "2025-12-01", ""))) == {"张三"}
        assert self.names(tree(cond("created", "", "2025-03-10"))) == {"东湖医院"}

    def test_a_later_feature_registers_its_own_condition_type(self):
        from django.db.models import Q

        condition_type_register(
            ConditionType(
                "has_contact_mobile",
                "有手机号",
                ValueKind.CHOICES,
                lambda values: Q(contacts__mobile__gt="") if "yes" in values else Q(),
                options=lambda: [("yes", "是")],
            )
        )
        try:
            assert self.names(tree(cond("has_contact_mobile", "yes"))) == {"东湖医院"}
        finally:
            del CONDITION_TYPES["has_contact_mobile"]


class CombinationTests(SegmentWorld):
    def test_and_requires_every_condition(self):
        both = tree(cond("region", self.regions["360100"].pk), cond("status", "prospect"))
        assert self.names(both) == {"张三"}

    def test_or_accepts_any_condition(self):
        either = tree(cond("kind", "person"), cond("tag", self.mall_tag.pk), op="or")
        assert self.names(either) == {"张三", "九江商场"}

    def test_nested_group_combines_with_its_parent(self):
        # In Nanchang AND (a hospital OR onboarding)
        nested = tree(
            cond("region", self.regions["360100"].pk),
            tree(cond("tag", self.hospital_tag.pk), cond("status", "onboarding"), op="or"),
        )
        assert self.names(nested) == {"东湖医院", "西湖学校"}

    def test_negated_condition_excludes_its_matches(self):
        not_prospects = tree(cond("status", "prospect", negate=True))
        assert self.names(not_prospects) == {"东湖医院", "西湖学校"}

    def test_negated_owner_keeps_customers_without_an_owner(self):
        others = tree(cond("owner", self.users["market"].pk, negate=True))
        assert self.names(others) == {"西湖学校", "九江商场", "张三"}

    def test_negated_tag_keeps_untagged_customers(self):
        assert self.names(tree(cond("tag", self.hospital_tag.pk, negate=True))) == {
            "西湖学校",
            "九江商场",
            "张三",
        }

    def test_a_customer_with_several_matching_tags_is_counted_once(self):
        self.school.tags.add(self.hospital_tag)
        tags = tree(cond("tag", self.hospital_tag.pk, self.school_tag.pk))
        assert segment_count(self.users["agent"], tags) == 2

    def test_conditions_read_as_a_sentence(self):
        text = describe(
            tree(
                cond("region", self.regions["360100"].pk),
                tree(cond("status", "active"), cond("kind", "person", negate=True), op="or"),
            )
        )
        assert text == "区县 是 江西省南昌市 且 （状态 是 在网 或 客户类型 不是 个人）"


class VisibilityTests(SegmentWorld):
    def test_segment_never_returns_customers_the_user_cannot_see(self):
        everyone = tree(cond("region", self.regions["360000"].pk))
        assert self.names(everyone, "agent") == {"东湖医院", "西湖学校", "九江商场", "张三"}
        assert self.names(everyone, "market") == {"东湖医院"}
        assert self.names(everyone, "outsider") == set()

    def test_merged_customers_are_left_out(self):
        Customer.objects.filter(pk=self.person.pk).update(merged_into=self.hospital)
        assert "张三" not in self.names(tree(cond("kind", "person", "organisation")))

    def test_private_segment_is_seen_by_its_owner_only(self):
        mine = segment_save(
            actor=self.users["agent"],
            segment=None,
            name="我的",
            description="",
            definition=tree(cond("kind", "person")),
            is_shared=False,
        )
        shared = segment_save(
            actor=self.users["agent"],
            segment=None,
            name="共享",
            description="",
            definition=tree(cond("kind", "person")),
            is_shared=True,
        )
        assert set(segments_visible_to(self.users["agent"])) == {mine, shared}
        assert set(segments_visible_to(self.users["supervisor"])) == {shared}
        assert not segments_visible_to(self.users["market"]).exists()
        with self.assertRaises(PermissionDenied):
            segment_save(
                actor=self.users["supervisor"],
                segment=mine,
                name="改名",
                description="",
                definition=mine.definition,
                is_shared=True,
            )


class ValidationTests(SegmentWorld):
    def assert_refused(self, definition: object, message: str) -> None:
        with self.assertRaises(ValidationError) as caught:
            segment_validate(definition)
        assert message in " ".join(caught.exception.messages), caught.exception.messages

    def test_the_bad_condition_is_named_by_its_number(self):
        definition = tree(cond("kind", "person"), tree(cond("status", "active"), cond("status")))
        self.assert_refused(definition, "条件 2.2（状态）：请至少选择一个值。")

    def test_unknown_condition_type_is_refused(self):
        self.assert_refused(tree(cond("shoe_size", "42")), "条件 1：未知的条件类型“shoe_size”。")

    def test_a_value_outside_the_choices_is_refused(self):
        self.assert_refused(tree(cond("status", "happy")), "“happy”不是可选的值")

    def test_ids_that_no_longer_exist_are_refused(self):
        self.assert_refused(tree(cond("tag", 999_999)), "部分已选的值已不存在")

    def test_dates_must_be_in_order_and_well_formed(self):
        self.assert_refused(
            tree(cond("created", "2025-05-01", "2025-01-01")), "开始日期晚于结束日期"
        )
        self.assert_refused(tree(cond("created", "2025/05/01", "")), "YYYY-MM-DD")
        self.assert_refused(tree(cond("created", "", "")), "请填写开始日期、结束日期或两者")

    def test_empty_segment_and_empty_group_are_refused(self):
        self.assert_refused(tree(), "请至少添加一个条件。")
        self.assert_refused(tree(cond("kind", "person"), tree()), "组 2 是空的")

    def test_nesting_and_size_are_bounded(self):
        deep: dict[str, Any] = tree(cond("kind", "person"))
        for _level in range(4):
            deep = tree(deep)
        self.assert_refused(deep, "最多嵌套")
        self.assert_refused(tree(*[cond("kind", "person")] * 51), "最多 50 个条件")

    def test_malformed_definitions_are_refused(self):
        self.assert_refused("region=1", "条件的格式不正确")
        self.assert_refused({"op": "xor", "items": [cond("kind", "person")]}, "请选择“且”或“或”")

    def test_validation_cleans_values(self):
        cleaned = segment_validate(
            tree(cond("tag", str(self.school_tag.pk), self.hospital_tag.pk, self.hospital_tag.pk))
        )
        assert cleaned["items"][0]["values"] == sorted([self.school_tag.pk, self.hospital_tag.pk])


class ServiceTests(SegmentWorld):
    def test_saving_and_changing_a_segment_is_audited(self):
        segment = segment_save(
            actor=self.users["agent"],
            segment=None,
            name=" 南昌客户 ",
            description="全部",
            definition=tree(cond("region", str(self.regions["360100"].pk))),
            is_shared=True,
        )
        assert segment.name == "南昌客户"
        assert segment.owner == self.users["agent"]
        assert segment.definition == tree(cond("region", self.regions["360100"].pk))
        segment_save(
            actor=self.users["supervisor"],
            segment=segment,
            name="南昌客户",
            description="全部",
            definition=tree(cond("status", "active")),
            is_shared=True,
        )
        actions = list(
            AuditEntry.objects.filter(object_type="customers.segment")
            .order_by("pk")
            .values_list("action", flat=True)
        )
        assert actions == ["segment.create", "segment.update"]

    def test_invalid_segment_is_not_saved(self):
        with self.assertRaises(ValidationError) as caught:
            segment_save(
                actor=self.users["agent"],
                segment=None,
                name="",
                description="",
                definition=tree(cond("status")),
                is_shared=True,
            )
        assert set(caught.exception.message_dict) == {"name", "definition"}
        assert not Segment.objects.exists()

    def test_saving_needs_the_segment_permissions(self):
        with self.assertRaises(PermissionDenied):
            segment_save(
                actor=self.users["market"],
                segment=None,
                name="x",
                description="",
                definition=tree(cond("kind", "person")),
                is_shared=True,
            )

    def test_a_segment_waiting_notices_use_cannot_be_deleted(self):
        segment = segment_save(
            actor=self.users["agent"],
            segment=None,
            name="个人客户",
            description="",
            definition=tree(cond("kind", "person")),
            is_shared=True,
        )
        Notice.objects.create(
            title="停水通知",
            body="明日停水",
            audience={"segment": segment.pk},
            channels=["email"],
            status=NoticeStatus.SCHEDULED,
            scheduled_for=timezone.now() + dt.timedelta(days=1),
        )
        with self.assertRaises(ValidationError) as caught:
            segment_delete(actor=self.users["agent"], segment=segment)
        assert "停水通知" in caught.exception.messages[0]
        Notice.objects.update(status=NoticeStatus.SENT)
        segment_delete(actor=self.users["agent"], segment=segment)
        assert not Segment.objects.exists()
        assert AuditEntry.objects.filter(action="segment.delete").count() == 1


class PageTests(SegmentWorld):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.segment = segment_save(
            actor=cls.users["agent"],
            segment=None,
            name="南昌客户",
            description="南昌市的全部客户",
            definition=tree(cond("region", cls.regions["360100"].pk)),
            is_shared=True,
        )

    def builder_data(self, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "新细分",
            "description": "",
            "is_shared": "on",
            "node": ["n", "n-0"],
            "type-n": "group",
            "op-n": "and",
            "type-n-0": "condition",
            "field-n-0": "status",
            "was-n-0": "status",
            "values-n-0": ["prospect"],
        }
        data.update(extra)
        return data

    def test_who_may_open_the_segment_pages(self):
        self.assert_access(reverse("customers:segments"), allowed=SEGMENT_USERS)
        self.assert_access(reverse("customers:segment_create"), allowed=SEGMENT_USERS)
        self.assert_access(reverse("customers:segment", args=[self.segment.pk]), SEGMENT_USERS)
        self.assert_access(
            reverse("customers:segment_edit", args=[self.segment.pk]), allowed=SEGMENT_USERS
        )
        self.assert_access(
            reverse("customers:segment_builder"),
            allowed=SEGMENT_USERS,
            method="post",
            data=self.builder_data(),
        )
        # Exporting customers also needs the customer export permission.
        self.assert_access(
            reverse("customers:segment_export", args=[self.segment.pk]),
            allowed=["supervisor", "market_manager"],
        )

    def test_a_private_segment_of_someone_else_is_not_found(self):
        private = segment_save(
            actor=self.users["agent"],
            segment=None,
            name="私有",
            description="",
            definition=tree(cond("kind", "person")),
            is_shared=False,
        )
        client = self.client_as("supervisor")
        assert client.get(reverse("customers:segment", args=[private.pk])).status_code == 404
        own = self.client_as("agent").get(reverse("customers:segment", args=[private.pk]))
        assert own.status_code == 200

    def test_list_shows_the_segments(self):
        response = self.client_as("agent").get(reverse("customers:segments"))
        self.assertContains(response, "南昌客户")
        self.assertContains(response, "共享")

    def test_segment_page_shows_conditions_count_and_first_customers(self):
        response = self.client_as("agent").get(reverse("customers:segment", args=[self.segment.pk]))
        self.assertContains(response, "区县 是 江西省南昌市")
        self.assertContains(response, 'data-count="3"')
        self.assertContains(response, "西湖学校")
        self.assertNotContains(response, "九江商场")

    def test_creating_a_segment_through_the_builder(self):
        response = self.client_as("agent").post(
            reverse("customers:segment_create"), self.builder_data()
        )
        segment = Segment.objects.get(name="新细分")
        self.assertRedirects(response, reverse("customers:segment", args=[segment.pk]))
        assert segment.definition == tree(cond("status", "prospect"))
        assert segment.owner == self.users["agent"]

    def test_builder_errors_are_shown_in_chinese_and_nothing_is_saved(self):
        response = self.client_as("agent").post(
            reverse("customers:segment_create"), self.builder_data(**{"values-n-0": []})
        )
        assert response.status_code == 200
        self.assertContains(response, "条件 1（状态）：请至少选择一个值。")
        assert not Segment.objects.filter(name="新细分").exists()

    def test_editing_changes_the_conditions(self):
        client = self.client_as("supervisor")
        url = reverse("customers:segment_edit", args=[self.segment.pk])
        self.assertContains(client.get(url), 'name="field-n-0"')
        response = client.post(url, self.builder_data(name="南昌客户"))
        self.assertRedirects(response, reverse("customers:segment", args=[self.segment.pk]))
        self.segment.refresh_from_db()
        assert self.segment.definition == tree(cond("status", "prospect"))

    def test_builder_adds_and_removes_conditions_and_groups(self):
        client = self.client_as("agent")
        url = reverse("customers:segment_builder")
        added = client.post(url, self.builder_data(action="add:n"))
        self.assertContains(added, 'name="field-n-1"')
        grouped = client.post(url, self.builder_data(action="group:n"))
        self.assertContains(grouped, 'name="type-n-1" value="group"')
        self.assertContains(grouped, 'name="field-n-1-0"')
        removed = client.post(url, self.builder_data(action="remove:n-0"))
        self.assertNotContains(removed, 'name="field-n-0"')
        self.assertContains(removed, "请至少添加一个条件。")

    def test_builder_preview_follows_the_conditions(self):
        client = self.client_as("agent")
        response = client.post(reverse("customers:segment_builder"), self.builder_data())
        # The preview is swapped in out of band: the prospects 九江商场 and 张三.
        self.assertContains(response, 'hx-swap-oob="true"')
        self.assertContains(response, 'data-count="2"')
        self.assertContains(response, "张三")
        self.assertNotContains(response, "东湖医院")
        market = self.client_as("market_manager").post(
            reverse("customers:segment_builder"), self.builder_data()
        )
        # The market manager sees the department's customers only: none of these prospects.
        self.assertContains(market, 'data-count="0"')

    def test_changing_a_condition_type_clears_its_old_values(self):
        data = self.builder_data(**{"field-n-0": "tag", "values-n-0": ["prospect"]})
        response = self.client_as("agent").post(reverse("customers:segment_builder"), data)
        self.assertContains(response, "条件 1（标签）：请至少选择一个值。")
        self.assertContains(response, f'<option value="{self.mall_tag.pk}">商场</option>')

    def test_export_holds_the_segments_customers_masked_without_reveal(self):
        response = self.client_as("supervisor").get(
            reverse("customers:segment_export", args=[self.segment.pk])
        )
        assert response.status_code == 200
        # The supervisor sees the department's customers only: 东湖医院 (the market persona's).
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert [r[0] for r in rows[1:]] == ["东湖医院"]
        assert rows[1][12] == "13800001111"  # the supervisor may reveal personal data
        clerk = make_user("clerk", "operations_director")
        clerk.user_permissions.add(
            Permission.objects.get(codename="view_segment", content_type__app_label="customers")
        )
        client = self.client_as("agent")
        client.force_login(clerk)
        masked = client.get(reverse("customers:segment_export", args=[self.segment.pk]))
        rows = list(load_workbook(io.BytesIO(masked.content)).active.iter_rows(values_only=True))
        assert {r[0] for r in rows[1:]} == {"东湖医院", "西湖学校", "张三"}
        assert "138****1111" in [r[12] for r in rows]
        entry = AuditEntry.objects.filter(action="segment.export").latest("pk")
        assert entry.changes["rows"] == [None, 3]

    def test_deleting_a_segment(self):
        url = reverse("customers:segment_delete", args=[self.segment.pk])
        assert self.client_as("market").post(url).status_code == 403
        assert self.client_as("agent").get(url).status_code == 405
        response = self.client_as("supervisor").post(url)
        self.assertRedirects(response, reverse("customers:segments"))
        assert not Segment.objects.filter(pk=self.segment.pk).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_agent_builds_a_segment_and_watches_the_count(page, live_server):
    regions = make_regions()
    make_user("builder", "customer_centre_agent")
    make_customer("东湖医院", regions["360102"])
    make_customer("九江商场", regions["360402"])
    Customer.objects.filter(name="东湖医院").update(status=CustomerStatus.ACTIVE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "builder")
    page.fill("#id_password", STRONG_PASSWORD)
    page.click("#rw-main form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}{reverse('customers:segment_create')}")
    page.fill("#id_name", "南昌或意向")
    # The first condition is a district: 南昌市 holds 东湖医院.
    page.select_option("#values-n-0", str(regions["360100"].pk))
    page.wait_for_selector("#rw-segment-count[data-count='1']")
    page.click("[data-action='add:n']")
    page.wait_for_selector("#field-n-1")
    page.select_option("#field-n-1", "status")
    page.wait_for_selector("#values-n-1 option[value='prospect']")
    page.select_option("#values-n-1", "prospect")
    page.wait_for_selector("#rw-segment-errors", state="detached")
    # Both at once: nobody; either: both customers.
    page.wait_for_selector("#rw-segment-count[data-count='0']")
    page.click("label[for='op-or-n']")
    page.wait_for_selector("#rw-segment-count[data-count='2']")
    page.click("[data-action='group:n']")
    page.wait_for_selector("#field-n-2-0")
    page.click("[data-action='remove:n-2']")
    page.wait_for_selector("#field-n-2-0", state="detached")
    page.click("#rw-segment-save")
    page.wait_for_selector("#rw-segment-summary")
    assert page.inner_text("#rw-segment-summary") == "区县 是 江西省南昌市 或 状态 是 意向"
    segment = Segment.objects.get(name="南昌或意向")
    assert segment.definition["op"] == "or"
