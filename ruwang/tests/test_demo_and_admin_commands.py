from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Region, Territory, User
from audit.chain import chain_verify
from ruwang.demo import USERS


@pytest.fixture
def var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_a_fresh_database_has_no_user_accounts():
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_createadmin_generates_a_strong_password_and_prints_it_once(var_dir):
    out = StringIO()
    call_command("createadmin", "chief", "--generate", stdout=out)
    printed = out.getvalue()
    password = printed.split("login): ")[1].split()[0]
    user = User.objects.get(username="chief")
    assert user.check_password(password)
    assert user.has_role("system_admin")
    assert user.is_staff and not user.is_superuser
    assert user.must_change_password
    assert not user.is_demo


@pytest.mark.django_db
def test_createadmin_refuses_an_existing_name(var_dir):
    call_command("createadmin", "chief", "--generate", stdout=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("createadmin", "chief", "--generate", stdout=StringIO())


@pytest.mark.django_db
def test_demo_loads_the_organisation_once_and_prints_logins(var_dir):
    out = StringIO()
    call_command("demo", stdout=out)
    users = User.objects.count()
    # 15 roles, a second inquiry responder, two more engineers and another agent
    assert users == len(USERS) == 19
    assert User.objects.filter(is_demo=True).count() == users
    assert "sysadmin" in out.getvalue()
    # one user per built-in role
    for code in ("market_staff", "operations_director", "engineer", "audit_admin", "system_admin"):
        assert User.objects.filter(groups__role__code=code).exists()
    assert Region.objects.get(code="360102").full_name == "江西省南昌市东湖区"
    for am in User.objects.filter(groups__role__code="account_manager"):
        assert am.territories.count() == 1
    assert Territory.objects.count() == 2
    again = StringIO()
    call_command("demo", stdout=again)
    assert User.objects.count() == users
    assert (var_dir / "demo-logins.json").exists()
    logins = {line.split()[0]: line.split()[1] for line in again.getvalue().splitlines()[1:]}
    assert User.objects.get(username="engineer").check_password(logins["engineer"])
    assert chain_verify().ok


@pytest.mark.django_db
def test_demo_refuses_production_without_force(var_dir, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("demo", stdout=StringIO())
