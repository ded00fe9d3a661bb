"""Ruwang settings: one file, driven by environment variables (see `.env.example`).

RUWANG_ENV selects defaults: `development` (the default; `make run`), `test` (pytest) or
`production` (refuses to start without real secrets, turns on the HTTPS hardening).
"""

from __future__ import annotations

import re
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from ruwang.lib.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
if "pytest" not in sys.modules:
    load_env_file(BASE_DIR / ".env")
VAR_DIR = Path(env_str("RUWANG_VAR_DIR", str(BASE_DIR / "var")))

# Under pytest the settings are imported before any conftest runs, so default to `test` there.
RUWANG_ENV = env_choice(
    "RUWANG_ENV",
    "test" if "pytest" in sys.modules else "development",
    {"development", "test", "production"},
)
PRODUCTION = RUWANG_ENV == "production"
TESTING = RUWANG_ENV == "test"

DEBUG = env_bool("RUWANG_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ConfigError("RUWANG_DEBUG must be off when RUWANG_ENV=production")


def _local_secret(name: str) -> str:
    """Development and test only: a random secret kept in var/ so restarts keep sessions."""
    if TESTING:
        return f"test-{name}-not-secret"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / f"{name}.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _secret(env_name: str, local_name: str) -> str:
    value = env_str(env_name)
    if value:
        if PRODUCTION and (len(value) < 50 or len(set(value)) < 5):
            raise ConfigError(f"{env_name} must be a random value of at least 50 characters")
        return value
    if PRODUCTION:
        raise ConfigError(f"{env_name} is required when RUWANG_ENV=production")
    return _local_secret(local_name)


SECRET_KEY = _secret("RUWANG_SECRET_KEY", "secret_key")
# The audit chain key lives outside the database: someone who can write the audit table
# cannot recompute valid hashes without it.
AUDIT_HMAC_KEY = _secret("RUWANG_AUDIT_HMAC_KEY", "audit_hmac")
# Encrypts personal data fields (ID numbers) and keys their lookup hashes.
FIELD_ENCRYPTION_KEY = _secret("RUWANG_FIELD_KEY", "field_key")

ALLOWED_HOSTS = env_list(
    "RUWANG_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("RUWANG_ALLOWED_HOSTS is required when RUWANG_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("RUWANG_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "ruwang.apps.RuwangAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rules.apps.AutodiscoverRulesConfig",
    "ruwang",
    "accounts",
    "audit",
    "customers",
    "workflow",
    "onboarding",
    "devices",
    "service",
    "inquiries",
    "insights",
    "care",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.SlidingSessionMiddleware",
    "ruwang.lib.locale.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ruwang.lib.request_context.RequestContextMiddleware",
    "accounts.middleware.SecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ruwang.urls"
WSGI_APPLICATION = "ruwang.wsgi.application"
ASGI_APPLICATION = "ruwang.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ruwang.navigation.navigation",
                "workflow.context.bell",
            ],
        },
    },
]

# Database: SQLite in var/ unless DATABASE_URL is set (PostgreSQL in production).
_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Parameters bound by the server; statements are prepared only where the code asks for
        # it (ruwang.db.prepared_statements: process steps), never by repetition alone. The
        # working set is cached or on SSD: a random page read costs about a sequential one,
        # and with PostgreSQL's default (4) the planner prefers scanning thousands of customers
        # to probing the few dozen rows an inbox page or a search needs.
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "server_side_binding": True,
            "prepare_threshold": 1,
            "options": "-c random_page_cost=" + env_str("RUWANG_PG_RANDOM_PAGE_COST", "1.1"),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "ruwang.sqlite3"),
            "OPTIONS": {
                # Writers take the lock at BEGIN, so concurrent writers wait (busy_timeout)
                # instead of failing half-way with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- Login security (等保 2.0 level 3 defaults) -------------------------------------------
PASSWORD_MIN_LENGTH = env_int("RUWANG_PASSWORD_MIN_LENGTH", 8, minimum=6)
PASSWORD_MIN_CHARACTER_CLASSES = env_int("RUWANG_PASSWORD_MIN_CLASSES", 3, minimum=1)
# Days before a password must be changed; 0 turns the forced change off.
PASSWORD_MAX_AGE_DAYS = env_int("RUWANG_PASSWORD_MAX_AGE_DAYS", 90, minimum=0)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {
        "NAME": "accounts.password_validation.CharacterClassesValidator",
        "OPTIONS": {"min_classes": PASSWORD_MIN_CHARACTER_CLASSES},
    },
    {"NAME": "accounts.password_validation.NotUsernameValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_FAILURE_LIMIT = env_int("RUWANG_LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("RUWANG_LOGIN_LOCKOUT_MINUTES", 30, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Lock the account name, whether or not it exists: the answer must not reveal which names exist.
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 suggests locking by IP too; behind an office NAT every user shares one address, so
# five typos by anyone would lock the whole office out. The account is what 等保 asks us to lock.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
AXES_CLIENT_IP_CALLABLE = "ruwang.lib.request_context.client_ip"

SESSION_IDLE_MINUTES = env_int("RUWANG_SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# Sliding expiry: the timeout counts from the last request (accounts.middleware.SlidingSession…
# saves a session in use once a minute).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Roles that must use TOTP two-factor authentication (codes from accounts.roles).
OTP_REQUIRED_ROLES = env_list("RUWANG_OTP_REQUIRED_ROLES", ["system_admin", "audit_admin"])
OTP_TOTP_ISSUER = env_str("RUWANG_OTP_ISSUER", "Ruwang")
# Forwarded-for header is trusted only behind a reverse proxy that sets it.
TRUST_X_FORWARDED_FOR = env_bool("RUWANG_TRUST_X_FORWARDED_FOR", False)

# --- Production hardening ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("RUWANG_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("RUWANG_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("RUWANG_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_COOKIE_HTTPONLY = True

# --- Internationalisation: Chinese first, English kept working -------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("RUWANG_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files: vendored, served by WhiteNoise ---------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("RUWANG_STATIC_ROOT", str(VAR_DIR / "static")))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing folder
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
MEDIA_ROOT = Path(env_str("RUWANG_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# The cache is shared by the web processes and the worker (import progress): Redis when
# configured, else files in var/ (one machine), in-process memory under tests.
if env_str("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("REDIS_URL"),
        }
    }
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Background work (django-tasks): a database queue worked by `ruwang db_worker`, started by
# `ruwang serve`; tasks run at once, in the request, under tests.
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if TESTING
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("RUWANG_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

SITE_NAME = _("Ruwang")

# Notifications: e-mail over SMTP (console output when no host is set), links back to this site.
RUWANG_BASE_URL = env_str("RUWANG_BASE_URL", "http://127.0.0.1:8000")
EMAIL_HOST = env_str("RUWANG_EMAIL_HOST")
EMAIL_PORT = env_int("RUWANG_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("RUWANG_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("RUWANG_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("RUWANG_EMAIL_TLS", False)
EMAIL_USE_SSL = env_bool("RUWANG_EMAIL_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("RUWANG_EMAIL_FROM", "ruwang@localhost")
if not TESTING:
    EMAIL_BACKEND = (
        "django.core.mail.backends.smtp.EmailBackend"
        if EMAIL_HOST
        else "django.core.mail.backends.console.EmailBackend"
    )

# The GB/T 26875.3 gateway collectors connect to (`ruwang gateway`, started by `ruwang serve`).
GATEWAY_HOST = env_str("RUWANG_GATEWAY_HOST", "127.0.0.1")
GATEWAY_PORT = env_int("RUWANG_GATEWAY_PORT", 9026, minimum=1)

# After-sales revisits (回访): months after handover at which each one is due, e.g. "1,3,6,12".
_revisit_months = env_list("RUWANG_REVISIT_MONTHS", ["1", "3", "6", "12"])
if not _revisit_months or not all(m.isdigit() and 1 <= int(m) <= 120 for m in _revisit_months):
    raise ConfigError(
        f"RUWANG_REVISIT_MONTHS must be whole months from 1 to 120, got {_revisit_months!r}"
    )
RUWANG_REVISIT_MONTHS = tuple(sorted({int(m) for m in _revisit_months}))
# Satisfaction surveys (满意度调查): days a survey link stays open for the customer's answer.
RUWANG_SURVEY_DAYS = env_int("RUWANG_SURVEY_DAYS", 14, minimum=1)

# Public question form (网上提问): at most this many submissions per client IP per window
# ("hits/seconds"). Behind a reverse proxy set RUWANG_TRUST_X_FORWARDED_FOR, or every visitor
# shares the proxy's address and so one limit.
INQUIRY_FORM_RATE = env_str("RUWANG_INQUIRY_FORM_RATE", "5/600")
if not re.fullmatch(r"[1-9]\d*/[1-9]\d*", INQUIRY_FORM_RATE):
    raise ConfigError(
        f"RUWANG_INQUIRY_FORM_RATE must be 'hits/seconds', e.g. 5/600; got {INQUIRY_FORM_RATE!r}"
    )
# Customer notices by SMS and WeCom (企业微信): dotted paths of the gateway classes (the default
# only logs each message; a provider's class implements inquiries.gateways.MessageGateway).
INQUIRY_SMS_GATEWAY = env_str("RUWANG_SMS_GATEWAY", "inquiries.gateways.LoggingGateway")
INQUIRY_WECOM_GATEWAY = env_str("RUWANG_WECOM_GATEWAY", "inquiries.gateways.LoggingGateway")

# Largest accepted upload (customer documents, floor plans), in megabytes.
DOCUMENT_MAX_BYTES = env_int("RUWANG_DOCUMENT_MAX_MB", 50, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
