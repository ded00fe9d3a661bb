"""The system administrator manages the organisation on admin pages; every save is audited."""

from django.contrib.auth.models import Group, Permission

from accounts.models import Department, Region, RegionLevel, Territory, User
from audit.models import AuditEntry
from ruwang.testing import STRONG_PASSWORD, PersonaTestCase


class DepartmentAdminTests(PersonaTestCase):
    def test_system_administrator_adds_and_renames_a_department_with_history(self):
        client = self.client_as("sysadmin")
        response = client.post(
            "/admin/accounts/department/add/",
            {"code": "training", "name": "培训部", "sort_order": 90, "is_active": "on"},
        )
        assert response.status_code == 302
        department = Department.objects.get(code="training")
        client.post(
            f"/admin/accounts/department/{department.pk}/change/",
            {"code": "training", "name": "消防培训部", "sort_order": 90, "is_active": "on"},
        )
        rows = AuditEntry.objects.filter(
            object_type="accounts.department", object_id=str(department.pk)
        ).order_by("id")
        assert [r.action for r in rows] == ["department.create", "department.update"]
        assert rows[1].changes == {"name": ["培训部", "消防培训部"]}
        history = client.get(f"/admin/accounts/department/{department.pk}/history/")
        assert history.status_code == 200
        assert "消防培训部" in history.content.decode()
        assert "department.update" in history.content.decode()

    def test_history_is_refused_to_other_users(self):
        department = Department.objects.get(code="test_dept")
        self.assert_access(
            f"/admin/accounts/department/{department.pk}/history/", allowed={"sysadmin"}
        )


class UserAdminTests(PersonaTestCase):
    def _form(self, user: User, **changes):
        data = {
            "username": user.username,
            "display_name": user.display_name,
            "first_name": "",
            "last_name": "",
            "email": "",
            "mobile": "",
            "department": user.department_id or "",
            "supervisor": "",
            "groups": [g.pk for g in user.groups.all()],
            "regions": [],
            "territories": [],
            "is_active": "on",
            "is_staff": "on" if user.is_staff else "",
            "is_demo": "",
            "must_change_password": "",
        }
        data.update(changes)
        return {k: v for k, v in data.items() if v != ""}

    def test_system_administrator_creates_a_user_who_must_change_the_password(self):
        client = self.client_as("sysadmin")
        response = client.post(
            "/admin/accounts/user/add/",
            {
                "username": "newengineer",
                "display_name": "新工程师",
                "usable_password": "true",
                "password1": STRONG_PASSWORD,
                "password2": STRONG_PASSWORD,
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        user = User.objects.get(username="newengineer")
        assert user.must_change_password
        row = AuditEntry.objects.get(action="user.create", object_id=str(user.pk))
        assert row.changes["password"] == [None, "******"]

    def test_weak_password_is_refused_on_the_admin_form(self):
        response = self.client_as("sysadmin").post(
            "/admin/accounts/user/add/",
            {
                "username": "weak",
                "usable_password": "true",
                "password1": "12345678",
                "password2": "12345678",
            },
        )
        assert response.status_code == 200
        assert not User.objects.filter(username="weak").exists()
        assert "密码" in response.content.decode()

    def test_supervisor_and_roles_are_assigned_and_audited(self):
        engineer = self.users["engineer"]
        director = self.users["director"]
        engineer_group = Group.objects.get(role__code="engineer")
        supervisor_group = Group.objects.get(role__code="supervisor")
        response = self.client_as("sysadmin").post(
            f"/admin/accounts/user/{engineer.pk}/change/",
            self._form(
                engineer,
                supervisor=director.pk,
                groups=[engineer_group.pk, supervisor_group.pk],
            ),
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        engineer.refresh_from_db()
        assert engineer.supervisor == director
        row = AuditEntry.objects.filter(action="user.update", object_id=str(engineer.pk)).get()
        assert row.changes["roles"] == [["engineer"], ["engineer", "supervisor"]]
        assert row.changes["supervisor"] == [None, director.pk]

    def test_one_person_cannot_be_both_system_and_audit_administrator(self):
        engineer = self.users["engineer"]
        groups = Group.objects.filter(role__code__in=["system_admin", "audit_admin"])
        response = self.client_as("sysadmin").post(
            f"/admin/accounts/user/{engineer.pk}/change/",
            self._form(engineer, groups=[g.pk for g in groups]),
        )
        assert response.status_code == 200
        assert "三员分立" in response.content.decode()
        assert not engineer.has_role("system_admin")

    def test_audit_administrator_role_cannot_be_given_business_permissions(self):
        group = Group.objects.get(role__code="audit_admin")
        change_user = Permission.objects.get(codename="change_user")
        response = self.client_as("sysadmin").post(
            f"/admin/auth/group/{group.pk}/change/",
            {
                "name": group.name,
                "permissions": [*group.permissions.values_list("pk", flat=True), change_user.pk],
                "role-TOTAL_FORMS": "1",
                "role-INITIAL_FORMS": "1",
                "role-MIN_NUM_FORMS": "0",
                "role-MAX_NUM_FORMS": "1",
                "role-0-id": group.role.pk,
                "role-0-group": group.pk,
                "role-0-code": "audit_admin",
                "role-0-description": "",
            },
        )
        assert response.status_code == 200
        assert not group.permissions.filter(codename="change_user").exists()

    def test_built_in_roles_cannot_be_deleted(self):
        group = Group.objects.get(role__code="engineer")
        response = self.client_as("sysadmin").get(f"/admin/auth/group/{group.pk}/delete/")
        assert response.status_code == 403


class TerritoryAdminTests(PersonaTestCase):
    def test_system_administrator_groups_districts_into_a_territory(self):
        province = Region.objects.create(
            code="360000", name="江西省", level=RegionLevel.PROVINCE, full_name="江西省"
        )
        city = Region.objects.create(
            code="360100",
            name="南昌市",
            level=RegionLevel.CITY,
            parent=province,
            full_name="江西省南昌市",
        )
        district = Region.objects.create(
            code="360102",
            name="东湖区",
            level=RegionLevel.DISTRICT,
            parent=city,
            full_name="江西省南昌市东湖区",
        )
        response = self.client_as("sysadmin").post(
            "/admin/accounts/territory/add/",
            {"code": "east", "name": "东片区", "districts": [district.pk], "is_active": "on"},
        )
        assert response.status_code == 302
        territory = Territory.objects.get(code="east")
        assert list(territory.districts.all()) == [district]
        row = AuditEntry.objects.get(action="territory.create", object_id=str(territory.pk))
        assert row.changes["districts"] == [None, [district.pk]]
