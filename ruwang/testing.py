"""Test helpers shared by every app: personas (one user per role) and access assertions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.test import Client, TestCase
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Department, Region, RegionLevel, User
from accounts.services import user_create

STRONG_PASSWORD = "Ruwang-Test-2026"  # noqa: S105 - test accounts only

# persona → role code (None: a signed-in user without any role)
PERSONAS: dict[str, str | None] = {
    "market": "market_staff",
    "market_manager": "market_manager",
    "director": "operations_director",
    "engineer": "engineer",
    "technical": "technical_staff",
    "procurement": "procurement",
    "monitoring": "monitoring_operator",
    "account_manager": "account_manager",
    "agent": "customer_centre_agent",
    "supervisor": "supervisor",
    "responder": "inquiry_responder",
    "netadmin": "network_admin",
    "sysadmin": "system_admin",
    "auditor": "audit_admin",
    "outsider": None,
}


def totp_token(device: TOTPDevice) -> str:
    """The code an authenticator app would show now for `device`."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def make_user(username: str, role: str | None = None, **extra: Any) -> User:
    user, _password = user_create(
        actor=None,
        username=username,
        display_name=extra.pop("display_name", username),
        role_codes=[role] if role else [],
        password=extra.pop("password", STRONG_PASSWORD),
        must_change_password=extra.pop("must_change_password", False),
        **extra,
    )
    return user


class PersonaTestCase(TestCase):
    """One user per role, signed in on demand; `assert_access` proves who may and who may not."""

    users: ClassVar[dict[str, User]]
    devices: ClassVar[dict[str, TOTPDevice]]

    @classmethod
    def setUpTestData(cls) -> None:
        department = Department.objects.create(code="test_dept", name="测试部")
        cls.users = {}
        cls.devices = {}
        for persona, role in PERSONAS.items():
            cls.users[persona] = make_user(persona, role, department=department)
        for persona in ("sysadmin", "auditor"):
            cls.devices[persona] = TOTPDevice.objects.create(
                user=cls.users[persona], name="TOTP", confirmed=True
            )

    def client_as(self, persona: str) -> Client:
        """A client signed in as `persona`, second factor done where the role has one."""
        client = Client()
        client.force_login(self.users[persona])
        device = self.devices.get(persona)
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        return client

    def assert_access(
        self,
        url: str,
        allowed: Iterable[str],
        *,
        method: str = "get",
        data: dict[str, Any] | None = None,
        ok_status: Iterable[int] = (200,),
        not_found: Iterable[str] = (),
    ) -> None:
        """Every persona in `allowed` gets an OK status; those in `not_found` (who may not know
        the record exists) get 404; every other persona gets 403; an anonymous visitor is sent
        to the sign-in page."""
        allowed_set = set(allowed)
        hidden = set(not_found)
        unknown = allowed_set - set(PERSONAS)
        assert not unknown, f"unknown personas: {unknown}"
        ok = set(ok_status)
        for persona in PERSONAS:
            response = getattr(self.client_as(persona), method)(url, data or {})
            if persona in allowed_set:
                assert response.status_code in ok, (
                    f"{persona} should be allowed {method.upper()} {url}, "
                    f"got {response.status_code}"
                )
            elif persona in hidden:
                assert response.status_code == 404, (
                    f"{persona} should get 404 for {method.upper()} {url}, "
                    f"got {response.status_code}"
                )
            else:
                assert response.status_code == 403, (
                    f"{persona} should be refused {method.upper()} {url}, "
                    f"got {response.status_code}"
                )
        anonymous = getattr(Client(), method)(url, data or {}, follow=True)
        assert anonymous.redirect_chain, f"anonymous {url}: {anonymous.status_code}, no redirect"
        assert anonymous.request["PATH_INFO"] == "/accounts/login/", anonymous.redirect_chain


def make_regions() -> dict[str, Region]:
    """A small GB/T 2260 tree: 江西省 › 南昌市 › 东湖区/西湖区, 九江市 › 濂溪区."""
    rows = [
        ("360000", "江西省", RegionLevel.PROVINCE, None),
        ("360100", "南昌市", RegionLevel.CITY, "360000"),
        ("360102", "东湖区", RegionLevel.DISTRICT, "360100"),
        ("360103", "西湖区", RegionLevel.DISTRICT, "360100"),
        ("360400", "九江市", RegionLevel.CITY, "360000"),
        ("360402", "濂溪区", RegionLevel.DISTRICT, "360400"),
    ]
    regions: dict[str, Region] = {}
    for code, name, level, parent in rows:
        parent_region = regions.get(parent) if parent else None
        full = (parent_region.full_name if parent_region else "") + name
        regions[code], _created = Region.objects.get_or_create(
            code=code,
            defaults={"name": name, "level": level, "parent": parent_region, "full_name": full},
        )
    return regions
