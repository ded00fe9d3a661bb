from datetime import datetime, timedelta

import time_machine
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEntry
from ruwang.testing import STRONG_PASSWORD, PersonaTestCase, make_user, totp_token

LOGIN = "/accounts/login/"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.get_current_timezone())


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


class LoginTests(PersonaTestCase):
    def test_correct_password_signs_in_and_rotates_the_session(self):
        client = Client()
        client.get(LOGIN)
        client.session.save()
        before = client.session.session_key
        response = _login(client, "engineer", STRONG_PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert client.session.session_key != before
        assert (
            AuditEntry.objects.filter(action="auth.login", actor_username="engineer").count() == 1
        )

    def test_unknown_user_and_wrong_password_get_the_same_message(self):
        wrong = _login(Client(), "engineer", "Wrong-Password-1")
        unknown = _login(Client(), "nobody-here", "Wrong-Password-1")
        assert wrong.status_code == unknown.status_code == 200
        wrong_errors = wrong.context["form"].non_field_errors()
        assert wrong_errors == unknown.context["form"].non_field_errors()
        assert "用户名" in wrong_errors[0]
        assert AuditEntry.objects.filter(action="auth.login_failed").count() == 2

    def test_five_failures_lock_the_account_for_thirty_minutes(self):
        with time_machine.travel(START, tick=False) as clock:
            client = Client()
            for _ in range(5):
                _login(client, "engineer", "Wrong-Password-1")
            locked = _login(client, "engineer", STRONG_PASSWORD)
            assert locked.status_code == 429
            assert "锁定" in locked.content.decode()
            assert "_auth_user_id" not in client.session
            clock.shift(timedelta(minutes=29))
            assert _login(client, "engineer", STRONG_PASSWORD).status_code == 429
            clock.shift(timedelta(minutes=1, seconds=1))
            unlocked = _login(client, "engineer", STRONG_PASSWORD)
            assert unlocked.status_code == 302
        assert AuditEntry.objects.filter(action="auth.login_locked").exists()

    def test_unknown_user_name_locks_with_the_same_message(self):
        with time_machine.travel(START, tick=False):
            known, unknown = Client(), Client()
            for _ in range(5):
                _login(known, "engineer", "Wrong-Password-1")
                _login(unknown, "ghost", "Wrong-Password-1")
            known_page = _login(known, "engineer", "Wrong-Password-1")
            unknown_page = _login(unknown, "ghost", "Wrong-Password-1")
        assert known_page.status_code == unknown_page.status_code == 429
        assert known_page.context["lockout_message"] == unknown_page.context["lockout_message"]

    def test_system_administrator_unlocks_an_account(self):
        for _ in range(5):
            _login(Client(), "engineer", "Wrong-Password-1")
        page = self.client_as("sysadmin").get("/accounts/lockouts/")
        assert "engineer" in page.content.decode()
        self.client_as("sysadmin").post("/accounts/lockouts/", {"username": "engineer"})
        assert _login(Client(), "engineer", STRONG_PASSWORD).status_code == 302
        assert AuditEntry.objects.filter(action="user.unlock", object_repr="engineer").count() == 1

    def test_only_system_administrator_sees_locked_accounts(self):
        self.assert_access("/accounts/lockouts/", allowed={"sysadmin"})


class IdleTimeoutTests(PersonaTestCase):
    def test_thirty_one_idle_minutes_sign_the_user_out(self):
        with time_machine.travel(START, tick=False) as clock:
            client = Client()
            assert _login(client, "engineer", STRONG_PASSWORD).status_code == 302
            clock.shift(timedelta(minutes=29))
            assert client.get("/").status_code == 200  # activity restarts the 30 minutes
            clock.shift(timedelta(minutes=29))
            assert client.get("/").status_code == 200
            clock.shift(timedelta(minutes=31))
            response = client.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    def test_a_session_in_use_is_written_at_most_once_a_minute(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        def session_writes() -> int:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get("/").status_code == 200
            return sum(
                1
                for q in ctx.captured_queries
                if "django_session" in q["sql"] and "UPDATE" in q["sql"]
            )

        with time_machine.travel(START, tick=False) as clock:
            client = Client()
            _login(client, "engineer", STRONG_PASSWORD)
            clock.shift(timedelta(seconds=30))
            assert session_writes() == 0
            clock.shift(timedelta(seconds=31))
            assert session_writes() == 1  # a minute since the last write: the idle clock restarts
            assert session_writes() == 0

    @override_settings(SESSION_COOKIE_AGE=10 * 60)
    def test_idle_timeout_is_configurable(self):
        with time_machine.travel(START, tick=False) as clock:
            client = Client()
            _login(client, "engineer", STRONG_PASSWORD)
            clock.shift(timedelta(minutes=11))
            assert client.get("/").status_code == 302


class PasswordExpiryTests(PersonaTestCase):
    def test_password_older_than_ninety_days_must_be_changed(self):
        user = self.users["engineer"]
        User.objects.filter(pk=user.pk).update(password_changed_at=START - timedelta(days=91))
        with time_machine.travel(START, tick=False):
            client = Client()
            _login(client, "engineer", STRONG_PASSWORD)
            response = client.get("/")
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("accounts:password_change"))
            changed = client.post(
                reverse("accounts:password_change"),
                {
                    "old_password": STRONG_PASSWORD,
                    "new_password1": "New-Fire-Pass-77",
                    "new_password2": "New-Fire-Pass-77",
                },
            )
            assert changed.status_code == 302
            assert client.get("/").status_code == 200
        user.refresh_from_db()
        assert user.password_changed_at == START
        assert AuditEntry.objects.filter(
            action="user.password_change", object_id=str(user.pk)
        ).exists()

    def test_password_younger_than_ninety_days_is_not_asked(self):
        User.objects.filter(pk=self.users["engineer"].pk).update(
            password_changed_at=START - timedelta(days=89)
        )
        with time_machine.travel(START, tick=False):
            client = Client()
            _login(client, "engineer", STRONG_PASSWORD)
            assert client.get("/").status_code == 200

    @override_settings(PASSWORD_MAX_AGE_DAYS=0)
    def test_zero_days_turns_forced_change_off(self):
        User.objects.filter(pk=self.users["engineer"].pk).update(
            password_changed_at=START - timedelta(days=900)
        )
        with time_machine.travel(START, tick=False):
            client = Client()
            _login(client, "engineer", STRONG_PASSWORD)
            assert client.get("/").status_code == 200

    def test_password_set_by_an_administrator_must_be_changed_at_first_login(self):
        make_user("newbie", "engineer", must_change_password=True)
        client = Client()
        _login(client, "newbie", STRONG_PASSWORD)
        response = client.get("/")
        assert response["Location"].startswith(reverse("accounts:password_change"))

    def test_new_password_must_follow_the_policy(self):
        client = self.client_as("engineer")
        response = client.post(
            reverse("accounts:password_change"),
            {
                "old_password": STRONG_PASSWORD,
                "new_password1": "engineer",
                "new_password2": "engineer",
            },
        )
        assert response.status_code == 200
        assert response.context["form"].errors


class TwoFactorTests(PersonaTestCase):
    def _password_login(self, username: str) -> Client:
        client = Client()
        assert _login(client, username, STRONG_PASSWORD).status_code == 302
        return client

    def test_administrator_without_a_device_must_enrol_before_anything_else(self):
        admin = make_user("newadmin", "system_admin")
        client = self._password_login("newadmin")
        response = client.get("/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:otp_verify"))
        setup = client.get(reverse("accounts:otp_setup"))
        assert "<svg" in setup.content.decode()
        device = TOTPDevice.objects.get(user=admin, confirmed=False)
        done = client.post(reverse("accounts:otp_setup"), {"token": totp_token(device)})
        assert done.status_code == 302
        assert client.get("/admin/").status_code == 200
        assert AuditEntry.objects.filter(action="otp.enable", object_id=str(admin.pk)).exists()

    def test_administrator_with_a_device_must_enter_a_code(self):
        with time_machine.travel(START, tick=False) as clock:
            client = self._password_login("auditor")
            assert client.get("/audit/")["Location"].startswith(reverse("accounts:otp_verify"))
            wrong = client.post(reverse("accounts:otp_verify"), {"token": "000000"})
            assert wrong.status_code == 200
            assert wrong.context["form"].errors
            assert client.get("/audit/").status_code == 302
            clock.shift(timedelta(seconds=2))  # django-otp slows down guessing after a miss
            token = totp_token(self.devices["auditor"])
            assert client.post(reverse("accounts:otp_verify"), {"token": token}).status_code == 302
            assert client.get("/audit/").status_code == 200
        assert AuditEntry.objects.filter(action="otp.failed", actor_username="auditor").count() == 1

    def test_second_factor_is_optional_for_other_roles(self):
        client = self._password_login("engineer")
        assert client.get("/").status_code == 200

    def test_a_user_who_enrolled_is_always_asked(self):
        client = self._password_login("engineer")
        client.get(reverse("accounts:otp_setup"))
        device = TOTPDevice.objects.get(user=self.users["engineer"])
        client.post(reverse("accounts:otp_setup"), {"token": totp_token(device)})
        again = self._password_login("engineer")
        assert again.get("/")["Location"].startswith(reverse("accounts:otp_verify"))

    def test_administrator_cannot_turn_the_second_factor_off(self):
        response = self.client_as("sysadmin").post(reverse("accounts:otp_disable"))
        assert response.status_code == 403
        assert TOTPDevice.objects.filter(user=self.users["sysadmin"], confirmed=True).exists()

    def test_htmx_request_is_redirected_with_a_header(self):
        client = self._password_login("auditor")
        response = client.get("/audit/", headers={"HX-Request": "true"})
        assert response["HX-Redirect"] == reverse("accounts:otp_verify")


class ApiTokenPageTests(PersonaTestCase):
    def test_token_is_shown_once_and_can_be_revoked(self):
        client = self.client_as("engineer")
        page = client.post("/accounts/profile/", {"action": "create_token", "name": "对接系统"})
        token = page.context["new_token"]
        assert token.startswith("rw_")
        again = client.get("/accounts/profile/").content.decode()
        assert token not in again and "对接系统" in again
        row = self.users["engineer"].api_tokens.get()
        assert row.key_hash != token
        client.post("/accounts/profile/", {"action": "revoke_token", "token": row.pk})
        row.refresh_from_db()
        assert row.revoked_at is not None
        assert AuditEntry.objects.filter(action="api_token.revoke").count() == 1

    def test_a_user_cannot_revoke_someone_elses_token(self):
        from accounts.services import api_token_create

        row, _token = api_token_create(actor=self.users["market"], name="x")
        self.client_as("engineer").post(
            "/accounts/profile/", {"action": "revoke_token", "token": row.pk}
        )
        row.refresh_from_db()
        assert row.revoked_at is None
