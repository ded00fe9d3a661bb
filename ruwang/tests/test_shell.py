"""The UI shell: who sees which pages and menu sections, in Chinese and in English."""

from django.test import Client

from ruwang.testing import PERSONAS, PersonaTestCase


class AccessTests(PersonaTestCase):
    def test_every_signed_in_user_has_a_workbench(self):
        self.assert_access("/", allowed=set(PERSONAS))

    def test_every_signed_in_user_has_an_account_page(self):
        self.assert_access("/accounts/profile/", allowed=set(PERSONAS))

    def test_only_the_audit_administrator_reads_the_audit_log(self):
        self.assert_access("/audit/", allowed={"auditor"})

    def test_only_the_audit_administrator_exports_the_audit_log(self):
        self.assert_access("/audit/export.csv", allowed={"auditor"})

    def test_administration_opens_for_the_system_administrator_and_the_service_leads(self):
        # supervisors and the operations director configure SLA policies, teams and leave there
        self.assert_access("/admin/", allowed={"sysadmin", "supervisor", "director"})
        self.assert_access("/admin/service/slapolicy/", allowed={"supervisor", "director"})

    def test_only_the_system_administrator_manages_users(self):
        self.assert_access("/admin/accounts/user/", allowed={"sysadmin"})
        self.assert_access("/admin/accounts/user/add/", allowed={"sysadmin"})

    def test_only_the_system_administrator_manages_departments_roles_regions_territories(self):
        for url in (
            "/admin/accounts/department/",
            "/admin/auth/group/",
            "/admin/accounts/region/",
            "/admin/accounts/territory/",
            "/admin/accounts/territory/add/",
        ):
            self.assert_access(url, allowed={"sysadmin"})


class SidebarTests(PersonaTestCase):
    def _sections(self, persona: str) -> dict[str, list[str]]:
        response = self.client_as(persona).get("/")
        return {
            s["key"]: [str(i["label"]) for i in s["items"]]
            for s in response.context["nav_sections"]
        }

    def test_engineer_sees_no_system_administration(self):
        sections = self._sections("engineer")
        assert "system" not in sections
        assert "workbench" in sections

    def test_system_administrator_sees_organisation_pages_but_not_the_audit_log(self):
        items = self._sections("sysadmin")["system"]
        assert "用户" in items
        assert "部门" in items
        assert "审计日志" not in items

    def test_audit_administrator_sees_only_the_audit_log(self):
        assert self._sections("auditor")["system"] == ["审计日志"]


class LanguageTests(PersonaTestCase):
    def test_the_shell_is_chinese_by_default(self):
        page = self.client_as("sysadmin").get("/").content.decode()
        assert '<html lang="zh-hans">' in page
        for text in ("工作台", "系统管理", "退出登录", "账户安全", "您好"):
            assert text in page

    def test_the_shell_switches_to_english(self):
        client = self.client_as("sysadmin")
        response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
        assert response.status_code == 302
        page = client.get("/").content.decode()
        assert '<html lang="en">' in page
        for text in ("Workbench", "System administration", "Sign out", "Account security"):
            assert text in page
        assert "工作台" not in page

    def test_login_page_is_chinese_for_anonymous_visitors(self):
        page = Client().get("/accounts/login/").content.decode()
        assert "登录" in page and "用户名" in page


class ErrorPageTests(PersonaTestCase):
    def test_missing_page_is_a_friendly_chinese_404(self):
        response = self.client_as("engineer").get("/no-such-page/")
        assert response.status_code == 404
        assert "页面不存在" in response.content.decode()

    def test_refusal_is_a_friendly_chinese_403(self):
        response = self.client_as("engineer").get("/audit/")
        assert response.status_code == 403
        assert "无权访问" in response.content.decode()

    def test_server_error_page_needs_no_database(self):
        from django.test import RequestFactory

        from ruwang.views import server_error

        response = server_error(RequestFactory().get("/"))
        assert response.status_code == 500
        assert "系统出现错误" in response.content.decode()


class DashboardTests(PersonaTestCase):
    def test_workbench_shows_the_users_roles_and_security_state(self):
        page = self.client_as("engineer").get("/").content.decode()
        assert "工程师" in page
        assert "测试部" in page
        assert "未开启" in page  # second factor off, optional for engineers

    def test_audit_administrator_workbench_lists_latest_audit_entries(self):
        response = self.client_as("auditor").get("/")
        assert response.context["audit_recent"] is not None
        assert response.context["org_summary"] is None

    def test_workbench_query_count_is_bounded(self):
        client = self.client_as("sysadmin")
        client.get("/")
        with self.assertNumQueries(21):  # incl. the bell, task counts and the next tasks
            client.get("/")


class BrowserLanguageTests(PersonaTestCase):
    def test_an_english_browser_still_gets_chinese_until_english_is_chosen(self):
        client = Client(headers={"Accept-Language": "en-US,en;q=0.9"})
        assert "登录" in client.get("/accounts/login/").content.decode()
        client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
        assert "Sign in" in client.get("/accounts/login/").content.decode()


class ActiveMenuTests(PersonaTestCase):
    def test_only_the_most_specific_menu_item_is_active(self):
        response = self.client_as("market_manager").get("/customers/import/")
        active = [
            str(i["label"])
            for s in response.context["nav_sections"]
            for i in s["items"]
            if i["active"]
        ]
        assert active == ["批量导入"]
