from django.test import Client

from accounts.services import api_token_create, api_token_revoke
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user


class CustomerApiTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        regions = make_regions()
        cls.am_a = make_user("api_am_a", "account_manager")
        cls.am_a.regions.add(regions["360102"])
        cls.mine = make_customer("甲区客户", regions["360102"])
        cls.theirs = make_customer("乙区客户", regions["360402"])

    def _client(self, user) -> tuple[Client, dict[str, str]]:
        _row, token = api_token_create(actor=user, name="测试")
        return Client(), {"Authorization": f"Bearer {token}"}

    def test_account_manager_lists_and_fetches_only_visible_customers(self):
        client, headers = self._client(self.am_a)
        listing = client.get("/api/customers", headers=headers).json()
        assert [c["name"] for c in listing["results"]] == ["甲区客户"]
        assert client.get(f"/api/customers/{self.mine.pk}", headers=headers).status_code == 200
        assert client.get(f"/api/customers/{self.theirs.pk}", headers=headers).status_code == 404

    def test_search_through_the_api(self):
        client, headers = self._client(self.users["director"])
        found = client.get("/api/customers", {"q": "乙区"}, headers=headers).json()
        assert [c["name"] for c in found["results"]] == ["乙区客户"]

    def test_missing_wrong_or_revoked_token_is_refused(self):
        assert Client().get("/api/customers").status_code == 401
        bad = {"Authorization": "Bearer rw_not-a-token"}
        assert Client().get("/api/customers", headers=bad).status_code == 401
        row, token = api_token_create(actor=self.am_a, name="旧")
        api_token_revoke(actor=self.am_a, token_id=row.pk)
        revoked = {"Authorization": f"Bearer {token}"}
        assert Client().get("/api/customers", headers=revoked).status_code == 401

    def test_user_without_customer_access_gets_403(self):
        client, headers = self._client(self.users["auditor"])
        assert client.get("/api/customers", headers=headers).status_code == 403

    def test_openapi_schema_is_published_to_signed_in_users(self):
        schema = self.client_as("engineer").get("/api/openapi.json").json()
        assert "/api/customers" in schema["paths"]
        assert Client().get("/api/docs").status_code == 302
