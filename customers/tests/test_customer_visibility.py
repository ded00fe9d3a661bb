"""Who sees which customer: own, regions/territories, department, or everyone."""

from accounts.services import territory_create
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user


class VisibilityTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()
        east = territory_create(
            actor=None, code="east", name="东片区", districts=[cls.regions["360102"]]
        )
        cls.am_a = make_user("am_a", "account_manager")
        cls.am_a.territories.add(east)
        cls.am_b = make_user("am_b", "account_manager")
        cls.am_b.regions.add(cls.regions["360400"])  # a city: all its districts
        cls.in_a = make_customer("东湖区客户", cls.regions["360102"])
        cls.in_b = make_customer("九江客户", cls.regions["360402"])
        cls.owned_by_a = make_customer("甲经理自己的客户", cls.regions["360402"], owner=cls.am_a)

    def _ids(self, client, **params) -> set[int]:
        response = client.get("/customers/", params)
        return {c.pk for c in response.context["page"].rows}

    def test_account_manager_sees_territory_and_own_customers_only(self):
        client = self.client_as_user(self.am_a)
        assert self._ids(client) == {self.in_a.pk, self.owned_by_a.pk}

    def test_city_region_covers_its_districts(self):
        client = self.client_as_user(self.am_b)
        assert self._ids(client) == {self.in_b.pk, self.owned_by_a.pk}

    def test_customer_of_another_region_is_404_not_403(self):
        client = self.client_as_user(self.am_a)
        assert client.get(f"/customers/{self.in_b.pk}/").status_code == 404
        assert client.get(f"/customers/{self.in_b.pk}/edit/").status_code == 404
        assert client.get(f"/customers/{self.in_a.pk}/").status_code == 200

    def test_search_does_not_leak_other_regions(self):
        client = self.client_as_user(self.am_a)
        assert self._ids(client, q="九江") == set()

    def test_searches_of_a_user_with_several_visibility_branches_find_each_branch_once(self):
        # Own customers elsewhere, the territory's districts, a customer in both; others not.
        both = make_customer("东湖区南昌医院", self.regions["360102"], owner=self.am_a)
        own = make_customer("濂溪区南昌医院", self.regions["360402"], owner=self.am_a)
        territory = make_customer("东湖南昌医院", self.regions["360102"])
        make_customer("九江南昌医院", self.regions["360402"])  # in no branch of am_a
        make_customer("东湖区昌南医院", self.regions["360102"])  # candidate bigrams, no match
        merged = make_customer("东湖南昌医院分部", self.regions["360102"], owner=self.am_a)
        type(merged).objects.filter(pk=merged.pk).update(merged_into=territory)
        client = self.client_as_user(self.am_a)
        expected = {both.pk, own.pk, territory.pk}
        for q in ("南昌医院", "南昌", "nanchang", "ncyy"):
            assert self._ids(client, q=q) == expected, q
        assert self._ids(client, q="九江") == set()
        assert self._ids(client, q="昌南医院") == {
            c.pk for c in type(both).objects.filter(name="东湖区昌南医院")
        }
        response = client.get("/customers/", {"q": "南昌医院"})
        assert response.context["page"].total_label == "3"

    def test_global_roles_see_every_customer(self):
        for persona in ("director", "engineer", "technical", "monitoring", "agent", "netadmin"):
            ids = self._ids(self.client_as(persona))
            assert {self.in_a.pk, self.in_b.pk, self.owned_by_a.pk} <= ids, persona

    def test_manager_sees_the_departments_customers(self):
        manager = self.users["market_manager"]
        colleague = make_user("colleague", "account_manager", department=manager.department)
        theirs = make_customer("同部门客户", self.regions["360402"], owner=colleague)
        ids = self._ids(self.client_as("market_manager"))
        assert theirs.pk in ids
        assert self.in_a.pk not in ids

    def test_pages_of_a_user_with_several_visibility_branches_are_complete_and_ordered(self):
        # Pages are read branch by branch (own customers, territory districts) and merged.
        make_customer("片区内自有", self.regions["360102"], owner=self.am_a)  # in both branches
        for i in range(4):
            make_customer(f"自有{i}", self.regions["360402"], owner=self.am_a)
            make_customer(f"片区{i}", self.regions["360102"])
            make_customer(f"他区{i}", self.regions["360402"])
        from customers import selectors

        expected = list(
            selectors.customers_visible_to(self.am_a).order_by("-id").values_list("id", flat=True)
        )
        for sort, order in (("-id", expected), ("id", expected[::-1])):
            query = selectors.customer_query(self.am_a, selectors.CustomerFilters(sort=sort))
            seen, cursor = [], ""
            while True:
                page = selectors.customer_page(query, cursor, size=3)
                seen += [c.pk for c in page.rows]
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
            assert seen == order, sort
        assert len(expected) == 11
        query = selectors.customer_query(self.am_a, selectors.CustomerFilters())
        assert selectors.customer_page(query).total_label == "11"  # counted once each

    def test_who_sees_a_customer_in_one_query_agrees_with_the_per_user_rule(self):
        from accounts.models import User
        from customers.selectors import customer_visible, users_who_see

        manager = self.users["market_manager"]
        dept_customer = make_customer("部门客户", self.regions["360402"], owner=self.am_b)
        dept_customer.department = manager.department
        dept_customer.save()
        for customer in (self.in_a, self.in_b, self.owned_by_a, dept_customer):
            expected = {u.pk for u in User.objects.all() if customer_visible(u, customer)}
            found = set(users_who_see(customer, User.objects.all()).values_list("pk", flat=True))
            assert found == expected, customer.name

    def client_as_user(self, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client


class CustomerPageAccessTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("访问测试客户", make_regions()["360102"])

    VIEWERS = {
        "market",
        "market_manager",
        "director",
        "engineer",
        "technical",
        "monitoring",
        "account_manager",
        "agent",
        "supervisor",
        "netadmin",
        "procurement",
        "sysadmin",
    }

    def test_who_may_open_the_customer_list(self):
        self.assert_access("/customers/", allowed=self.VIEWERS)

    def test_who_may_open_the_new_customer_form(self):
        self.assert_access(
            "/customers/new/",
            allowed={
                "market",
                "market_manager",
                "account_manager",
                "agent",
                "supervisor",
                "sysadmin",  # registers new retailers (新入网户登记)
            },
        )

    def test_who_may_open_the_profile_of_a_customer_in_no_ones_region(self):
        url = f"/customers/{self.customer.pk}/"
        global_viewers = {
            "director",
            "engineer",
            "technical",
            "monitoring",
            "agent",
            "netadmin",
            "procurement",
            "sysadmin",
        }
        for persona in self.VIEWERS | {"auditor", "outsider"}:
            status = self.client_as(persona).get(url).status_code
            expected = 200 if persona in global_viewers else 404
            assert status == expected, (persona, status)


class EditPageAccessTests(PersonaTestCase):
    """Editing pages: those who may change customers and see this one; 404 for those who
    cannot see it; 403 for those who see it but may not change it."""

    EDITORS = {"engineer", "technical", "agent", "sysadmin"}  # global view + change permission
    READ_ONLY = {"director", "monitoring", "netadmin", "procurement"}  # global view only
    HIDDEN = {
        "market",
        "market_manager",
        "account_manager",
        "supervisor",
        "auditor",
        "outsider",
        "responder",
    }

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        from customers import services
        from customers.tests.factories import make_contact

        cls.customer = make_customer("编辑权限客户", make_regions()["360102"])
        cls.contact = make_contact(cls.customer, name="赵四")
        cls.site = services.site_save(actor=None, customer=cls.customer, data={"name": "主楼"})

    def test_who_may_open_each_editing_page(self):
        pk = self.customer.pk
        for url in (
            f"/customers/{pk}/edit/",
            f"/customers/{pk}/contacts/new/",
            f"/customers/{pk}/contacts/{self.contact.pk}/",
            f"/customers/{pk}/contacts/{self.contact.pk}/privacy/",
            f"/customers/{pk}/sites/new/",
            f"/customers/{pk}/sites/{self.site.pk}/",
            f"/customers/{pk}/sites/{self.site.pk}/floors/new/",
            f"/customers/{pk}/documents/new/",
        ):
            self.assert_access(url, allowed=self.EDITORS, not_found=self.HIDDEN)
