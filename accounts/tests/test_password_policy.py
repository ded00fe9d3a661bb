import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation

from accounts.models import User


def _errors(password: str, username: str = "zhangwei") -> list[str]:
    try:
        validate_password(password, User(username=username))
    except ValidationError as exc:
        return [str(e.code) for e in exc.error_list]
    return []


def test_strong_password_is_accepted():
    assert _errors("Fire-Alarm-2026") == []


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1!xyz", "password_too_short"),
        ("alllowercaseletters", "password_too_few_classes"),
        ("lowercase123456", "password_too_few_classes"),
        ("Zhangwei1", "password_is_username"),
        ("Password123", "password_too_common"),
    ],
)
def test_weak_password_is_refused_with_reason(password, code):
    assert code in _errors(password, username="zhangwei1")


def test_password_equal_to_username_in_other_case_is_refused():
    assert "password_is_username" in _errors("ZhangWei-01", username="zhangwei-01")


def test_refusal_reason_is_in_chinese_by_default():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as exc:
        validate_password("alllowercaseletters", User(username="x"))
    assert "至少" in " ".join(exc.value.messages)


@override_settings(
    AUTH_PASSWORD_VALIDATORS=[
        {
            "NAME": "accounts.password_validation.CharacterClassesValidator",
            "OPTIONS": {"min_classes": 4},
        }
    ]
)
def test_required_character_classes_follow_settings():
    assert "password_too_few_classes" in _errors("Abcdef123")
    assert _errors("Abcdef123!") == []
