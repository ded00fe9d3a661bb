import pytest
from django.db import connection

from customers.models import Customer
from customers.search import search_condition, search_fields
from customers.selectors import CustomerFilters, customer_list
from customers.tests.factories import make_customer
from ruwang.lib.validators import make_credit_code
from ruwang.testing import PersonaTestCase, make_regions


def test_search_fields_hold_pinyin_initials_and_grams():
    fields = search_fields(
        name="张伟国消防设备", short_name="张伟", credit_code="", phones=["13812345678"]
    )
    assert fields.pinyin.startswith("zhangweiguo")
    assert fields.initials.startswith("zwgxfsb")
    assert "张伟" in fields.grams_name.split()
    assert "5678" in fields.grams_digits.split()


class SearchTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.zhang = make_customer(
            "张伟国", regions["360102"], contacts=[{"name": "张伟国", "mobile": "13912345678"}]
        )
        cls.ouyang = make_customer("欧阳娜娜", regions["360102"])
        cls.zhangwei = make_customer(
            "张伟", regions["360103"], credit_code=make_credit_code("91360100MA35F0QX3")
        )
        cls.other = make_customer("南昌市第一医院", regions["360103"], short_name="一院")

    def _names(self, q: str) -> set[str]:
        qs = customer_list(self.users["director"], CustomerFilters(q=q))
        return {c.name for c in qs}

    def test_two_character_chinese_finds_longer_names(self):
        assert self._names("张伟") == {"张伟国", "张伟"}

    def test_compound_surname_is_found(self):
        assert self._names("欧阳") == {"欧阳娜娜"}

    def test_pinyin_initials_find_the_name(self):
        assert "张伟" in self._names("zw")
        assert self._names("zwg") == {"张伟国"}

    def test_full_pinyin_finds_the_name(self):
        assert self._names("ouyang") == {"欧阳娜娜"}
        assert self._names("zhangwei") == {"张伟国", "张伟"}

    def test_phone_fragment_finds_the_customer(self):
        assert self._names("5678") == {"张伟国"}
        assert self._names("139 1234") == {"张伟国"}

    def test_credit_code_fragment_finds_the_customer(self):
        assert self._names("MA35F0") == {"张伟"}

    def test_short_name_is_searched(self):
        assert self._names("一院") == {"南昌市第一医院"}

    def test_nothing_matches_nonsense(self):
        assert self._names("不存在的客户") == set()
        assert self._names("qqqq") == set()

    def test_renaming_updates_the_search(self):
        from customers.services import customer_update

        customer_update(actor=None, customer=self.other, data={"name": "南昌市妇幼保健院"})
        assert self._names("妇幼") == {"南昌市妇幼保健院"}
        assert self._names("第一") == set()

    def test_list_page_highlights_the_match(self):
        page = self.client_as("director").get("/customers/", {"q": "欧阳"}).content.decode()
        assert "<mark>欧阳</mark>娜娜" in page


@pytest.mark.postgres
class PostgresPlanTests(PersonaTestCase):
    def test_two_character_search_uses_an_index(self):
        if connection.vendor != "postgresql":
            pytest.skip("EXPLAIN plans are checked on PostgreSQL")
        regions = make_regions()
        for i in range(50):
            make_customer(f"测试客户{i}", regions["360102"])
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")  # small table: show the index is usable
            condition = search_condition("张伟")
            assert condition is not None
            sql, params = Customer.objects.filter(condition).query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("SET enable_seqscan = on")
        assert "customer_grams_name" in plan, plan


class SqliteSearchRepairTests(PersonaTestCase):
    def test_search_triggers_come_back_after_a_table_rebuild(self):
        if connection.vendor != "sqlite":
            pytest.skip("only SQLite keeps the search index in triggers")
        from customers.search import ensure_sqlite_search_objects

        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER customers_search_ai")  # what ALTER TABLE rebuilds do
        assert ensure_sqlite_search_objects() is True
        make_customer("欧阳修文具店", make_regions()["360102"])
        names = {c.name for c in customer_list(self.users["director"], CustomerFilters(q="欧阳"))}
        assert names == {"欧阳修文具店"}
        assert ensure_sqlite_search_objects() is False


class SearchPagingTests(PersonaTestCase):
    def test_search_pages_are_newest_first_complete_and_counted(self):
        from customers import selectors

        regions = make_regions()
        made = [make_customer(f"赣江{i}号店", regions["360102"]).pk for i in range(57)]
        make_customer("别的店", regions["360102"])
        for sort, expected in (("-id", made[::-1]), ("id", made), ("name", None)):
            query = selectors.customer_query(
                self.users["director"], selectors.CustomerFilters(q="赣江", sort=sort)
            )
            first = selectors.customer_page(query, size=50)
            assert first.total_label == "57"
            second = selectors.customer_page(query, first.next_cursor or "", size=50)
            seen = [c.pk for c in first.rows + second.rows]
            assert second.next_cursor is None and sorted(seen) == sorted(made)
            if expected is not None:
                assert seen == expected, sort

    def test_a_broad_search_shows_a_capped_count(self):
        from customers import selectors

        regions = make_regions()
        for i in range(6):
            make_customer(f"医院{i}", regions["360102"])
        query = selectors.customer_query(
            self.users["director"], selectors.CustomerFilters(q="医院")
        )
        original = selectors.SEARCH_CAP
        selectors.SEARCH_CAP = 5
        try:
            page = selectors.customer_page(query, size=4)
        finally:
            selectors.SEARCH_CAP = original
        assert page.total_label == "5+"
        assert [c.name for c in page.rows] == ["医院5", "医院4", "医院3", "医院2"]
