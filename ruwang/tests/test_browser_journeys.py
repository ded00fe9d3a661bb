"""Main journeys walked in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import TOTP

from ruwang.testing import STRONG_PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, username: str, password: str = STRONG_PASSWORD) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#rw-main form button[type=submit]")


def test_engineer_signs_in_switches_language_and_signs_out(page, live_server):
    make_user("liuyang", "engineer", display_name="刘洋")
    _sign_in(page, live_server.url, "liuyang")
    page.wait_for_selector("text=您好，刘洋")
    assert page.locator("[data-section=system]").count() == 0  # no administration for engineers
    page.click("#rw-user-menu")
    page.click("button[lang=en]")
    page.wait_for_selector("text=Hello, 刘洋")
    assert page.locator("text=Workbench").first.is_visible()
    page.click("#rw-user-menu")
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url


def test_wrong_password_shows_a_chinese_message(page, live_server):
    _sign_in(page, live_server.url, "nobody", "Wrong-Password-1")
    assert "用户名" in page.inner_text("#rw-login-error")


def test_new_system_administrator_enrols_a_second_factor_then_reaches_administration(
    page, live_server
):
    make_user("chief", "system_admin", display_name="马超")
    _sign_in(page, live_server.url, "chief")
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url(re.compile(r"/accounts/2fa/setup/"))
    assert page.locator(".rw-qr svg").is_visible()
    import base64

    secret = page.inner_text("#rw-otp-secret").strip()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_token", f"{TOTP(key).token():06d}")
    page.click("#rw-main form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.locator("text=入网 · 系统管理").first.is_visible()


def test_sidebar_folds_into_a_menu_on_a_phone(phone_page, live_server):
    make_user("mobileuser", "engineer")
    page = phone_page
    _sign_in(page, live_server.url, "mobileuser")
    page.wait_for_selector("#rw-main")
    menu_link = page.locator("#rw-sidebar a[href='/']")
    assert not menu_link.is_visible()
    page.click("[data-bs-target='#rw-sidebar']")
    menu_link.wait_for(state="visible")
