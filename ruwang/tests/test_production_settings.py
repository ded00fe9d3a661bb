"""Production refuses to start without its secrets, and passes Django's deployment checklist."""

import os
import subprocess
import sys

SECRET = "k3J9-vQx7_pL2mZ8wR4tY6uB1nC5eH0aS9dF3gJ7kL2zX8cV4bN6m"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    dropped = {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUWANG_") and k not in dropped}
    base.update(env)
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "ruwang.cli", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = _run(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        RUWANG_ENV="production",
        RUWANG_SECRET_KEY=SECRET,
        RUWANG_AUDIT_HMAC_KEY=SECRET[::-1],
        RUWANG_FIELD_KEY=SECRET.upper(),
        RUWANG_ALLOWED_HOSTS="ruwang.example.internal",
        RUWANG_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path}/prod.sqlite3",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run(
        "check",
        RUWANG_ENV="production",
        RUWANG_AUDIT_HMAC_KEY=SECRET[::-1],
        RUWANG_FIELD_KEY=SECRET.upper(),
        RUWANG_ALLOWED_HOSTS="ruwang.example.internal",
        RUWANG_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "RUWANG_SECRET_KEY is required" in result.stderr


def test_production_refuses_to_start_without_an_audit_key(tmp_path):
    result = _run(
        "check",
        RUWANG_ENV="production",
        RUWANG_SECRET_KEY=SECRET,
        RUWANG_ALLOWED_HOSTS="ruwang.example.internal",
        RUWANG_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "RUWANG_AUDIT_HMAC_KEY is required" in result.stderr


def test_production_refuses_debug(tmp_path):
    result = _run(
        "check",
        RUWANG_ENV="production",
        RUWANG_DEBUG="true",
        RUWANG_SECRET_KEY=SECRET,
        RUWANG_AUDIT_HMAC_KEY=SECRET[::-1],
        RUWANG_FIELD_KEY=SECRET.upper(),
        RUWANG_ALLOWED_HOSTS="x",
        RUWANG_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "RUWANG_DEBUG" in result.stderr


def test_a_malformed_setting_is_refused_with_its_name(tmp_path):
    result = _run("check", RUWANG_SESSION_IDLE_MINUTES="half an hour", RUWANG_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "RUWANG_SESSION_IDLE_MINUTES must be an integer" in result.stderr


def test_production_refuses_a_short_secret(tmp_path):
    result = _run(
        "check",
        RUWANG_ENV="production",
        RUWANG_SECRET_KEY="short-secret",
        RUWANG_AUDIT_HMAC_KEY=SECRET,
        RUWANG_FIELD_KEY=SECRET,
        RUWANG_ALLOWED_HOSTS="x",
        RUWANG_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_production_refuses_to_start_without_a_field_key(tmp_path):
    result = _run(
        "check",
        RUWANG_ENV="production",
        RUWANG_SECRET_KEY=SECRET,
        RUWANG_AUDIT_HMAC_KEY=SECRET[::-1],
        RUWANG_ALLOWED_HOSTS="x",
        RUWANG_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "RUWANG_FIELD_KEY is required" in result.stderr
