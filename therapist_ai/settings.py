"""Therapist AI settings: one module, driven by environment variables.

Long because one module holds every setting on purpose (STYLE.md): the strict reader ``Env``
and every setting with its reason.

Safe defaults for a developer machine (with ``DEBUG=1``); production (``DEBUG=0``)
refuses to start without ``SECRET_KEY`` and ``ALLOWED_HOSTS``. Every variable is read
once, through ``env`` below, and listed in docs/configuration.md. A value that cannot be
read (a misspelt boolean, a number with a unit) stops start-up with ImproperlyConfigured
naming the variable and the value, instead of silently becoming a default.
"""

import ipaddress
import math
import os
import sys
from pathlib import Path

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# numpy's OpenBLAS starts one thread per core for every matrix product; the safety screen's
# small per-message products then fight each other (and the other workers) for the cores:
# measured 450 ms vs 32 ms per screened message on 2 busy cores. Must be set before numpy
# is imported, which settings always are. Training (torch) uses its own thread pool.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class Env(environ.Env):
    """django-environ, strict where it is lenient.

    - booleans: only 1/0, true/false, yes/no, on/off (any case); anything else is an error
      (django-environ reads every unknown word, a typo included, as false);
    - integers and numbers: an error naming the variable (plain ``float()``: django-environ
      strips characters it does not expect, so ``2e-4`` fails there and ``30s`` passes);
    - set but empty: the default, as if unset (strings stay empty);
    - values are literal: no ``$OTHER_VARIABLE`` expansion (a secret may start with ``$``);
    - lists: comma-separated, items stripped, empty items dropped.
    """

    TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
    FALSE_WORDS = frozenset({"0", "false", "no", "off"})

    def __init__(self):
        super().__init__()
        self.raw: dict[str, str] = {}  # what each variable held, for error messages

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        value = self.ENVIRON.get(var)
        if value is None or (value == "" and cast not in (None, str)):
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable")
            return default
        self.raw[var] = value
        try:
            return self.parse_value(value, cast)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{var} must be {exc}, got {value!r}") from None

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool:
            word = value.strip().lower()
            if word in cls.TRUE_WORDS or word in cls.FALSE_WORDS:
                return word in cls.TRUE_WORDS
            raise ValueError("a boolean (1/0, true/false, yes/no, on/off, any case)")
        if cast is int:
            try:
                return int(value)
            except ValueError:
                raise ValueError("an integer") from None
        if cast is float:
            try:
                number = float(value)
            except ValueError:
                raise ValueError("a number") from None
            if not math.isfinite(number):
                raise ValueError("a finite number")
            return number
        if cast is list:
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().parse_value(value, cast)

    def choice(self, var: str, *, default: int, choices: tuple[int, ...], reason: str) -> int:
        """An integer that must be one of ``choices`` (``reason`` says why, in the error)."""
        value = self.int(var, default=default)
        if value not in choices:
            allowed = " or ".join(str(choice) for choice in choices)
            raise ImproperlyConfigured(f"{var} must be {allowed}, got {self.raw[var]!r}: {reason}")
        return value

    def networks(self, var: str) -> list[str]:
        """Comma-separated IP addresses or CIDR networks, each checked; ``*`` is refused."""
        items = self.list(var, default=[])
        for item in items:
            if item == "*":
                raise ImproperlyConfigured(
                    f"{var} must list addresses or networks, got {self.raw[var]!r}: '*' would believe "
                    "any client's X-Forwarded-For, which defeats the login lockout and API throttling"
                )
            try:
                ipaddress.ip_network(item)
            except ValueError:
                raise ImproperlyConfigured(
                    f"{var} must be IP addresses or networks (10.0.0.5, 10.0.0.0/8), got {self.raw[var]!r}: "
                    f"{item!r} is neither"
                ) from None
        return items


env = Env()

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("THERAPIST_TESTING", default=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=0) refuses to start without it: "
            "set SECRET_KEY to a long random string, or DEBUG=1 on a developer machine."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. Production (DEBUG=0) refuses to start without it: "
            "set ALLOWED_HOSTS to a comma-separated list of host names."
        )
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "csp",
    "therapist_ai",
    "conversations",
    "conversations.safety",
    "clinicians",
    "training",
]

# Under ASGI, the handler (therapist_ai/handlers.py) loads the on-loop subclasses of Django's
# and django-csp's middleware from therapist_ai/middleware.py in place of these: same hooks,
# without a thread hop for each. The names stay Django's so that `check --deploy` sees them.
MIDDLEWARE = [
    "therapist_ai.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "therapist_ai.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # async-native already
]

ROOT_URLCONF = "therapist_ai.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "therapist_ai.context_processors.service",
                "conversations.safety.context_processors.open_flags",
            ],
        },
    },
]

WSGI_APPLICATION = "therapist_ai.wsgi.application"
ASGI_APPLICATION = "therapist_ai.asgi.application"

# --- Database -----------------------------------------------------------------------
# SQLite (default): WAL so readers never block the writer, IMMEDIATE transactions so
# writers queue on the lock instead of failing with "database is locked" on upgrade.
# PostgreSQL (DATABASE_URL): psycopg 3 with Django's built-in connection pool.
SQLITE_PATH = DATA_DIR / "therapist_ai.sqlite3"
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Keep each thread's connection between requests (opening one costs ~0.6 ms: the file,
    # the PRAGMAs below, Django's SQL functions); web requests run on pooled, long-lived
    # threads (therapist_ai/handlers.py). Not in the worker cluster, which forks.
    _db["CONN_MAX_AGE"] = 0 if "qcluster" in sys.argv else env.int("DB_CONN_MAX_AGE", default=600)
    _db["CONN_HEALTH_CHECKS"] = True
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=30000;"
            "PRAGMA foreign_keys=ON;"
        ),
    }
    _db.setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test_therapist_ai.sqlite3")
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["OPTIONS"] = {
        **_db.get("OPTIONS", {}),
        "pool": {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.int("DB_POOL_TIMEOUT", default=10),
        },
    }
    # The pool checks a connection before lending it: after a PostgreSQL restart its idle
    # connections are dead, and a chat turn must get a fresh one, not an error.
    _db["CONN_HEALTH_CHECKS"] = True
    if "qcluster" in sys.argv:
        # django-q2 forks its workers: a pool opened before the fork would hand the same
        # sockets to parent and children (seen as "the last operation didn't produce
        # records" errors), so cluster processes use plain per-thread connections.
        del _db["OPTIONS"]["pool"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Fast hashing in the test suite only (the default PBKDF2 costs ~0.3 s per user).
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversations:list"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection: lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client address is REMOTE_ADDR, which the web server has already set from a trusted
# proxy's X-Forwarded-For (see TRUSTED_PROXIES below): axes must not read forwarded headers
# or count proxies itself (with django-ipware installed these keep it on REMOTE_ADDR too).
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_IPWARE_PROXY_COUNT = None
AXES_IPWARE_PROXY_TRUSTED_IPS = None
AXES_LOCKOUT_CALLABLE = "therapist_ai.middleware.lockout_response"

# --- Client address behind proxies ------------------------------------------------------
# The proxies (load balancer, platform router) whose X-Forwarded-For is believed: IPs or CIDR
# networks. gunicorn.conf.py (production) and Procfile.dev (uvicorn) hand this list to the
# server, which sets the client address (REMOTE_ADDR) from the header only when the connecting
# peer is one of them, taking the right-most address that is not; everything above reads
# REMOTE_ADDR only. Empty (the default): no forwarded header is believed, the peer is the
# client. Behind a proxy, an empty list makes every client look like the proxy (one shared
# lockout and throttle): docs/deploy.md says how to find the proxy's address.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
if env.int("PROXY_COUNT", default=0):
    raise ImproperlyConfigured(
        f"PROXY_COUNT is no longer supported, got {env.raw['PROXY_COUNT']!r}: list the proxies' addresses "
        "in TRUSTED_PROXIES instead (a count of proxies cannot tell a proxy from a client that "
        "connects directly with a forged X-Forwarded-For)."
    )
if env.str("FORWARDED_ALLOW_IPS", default=""):
    raise ImproperlyConfigured(
        f"FORWARDED_ALLOW_IPS is replaced by TRUSTED_PROXIES, got {env.raw['FORWARDED_ALLOW_IPS']!r}: "
        "set TRUSTED_PROXIES to your proxies' addresses and remove FORWARDED_ALLOW_IPS."
    )

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Without collectstatic (developer machine, a fresh clone under test) serve from the apps'
# static folders; pytest-django turns DEBUG off before the middleware reads its default.
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- Security (production) ------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
if not DEBUG:
    # TLS terminates at the proxy (Railway, a load balancer): trust its header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Content Security Policy: everything from our own origin, no inline scripts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Request limits -------------------------------------------------------------------
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=8000)
# Bodies over this many bytes are refused with 413 before anything parses them.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES

# A chat turn's response says how long the input safety screen took, in a Server-Timing
# header (benchmarks read it; off in production: it tells clients about server internals).
SERVER_TIMING = env.bool("SERVER_TIMING", default=False)

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: any other content type gets 415 (the token endpoint also takes forms).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # Documents every operation's error responses too (therapist_ai/api_schema.py).
    "DEFAULT_SCHEMA_CLASS": "therapist_ai.api_schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_THROTTLE_RATES": {
        "message_post": env.str("MESSAGE_THROTTLE_RATE", default="30/min"),
        "signup": env.str("SIGNUP_THROTTLE_RATE", default="10/hour"),
        "anon": "60/min",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Client address for throttling: REMOTE_ADDR only (0 = never X-Forwarded-For), which the
    # web server set from a trusted proxy's header (TRUSTED_PROXIES). Counting proxies here
    # too would believe a forged header from a client that connects directly.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Therapist AI API",
    "DESCRIPTION": "Patients chat with an AI; clinicians curate; staff train and promote models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own (``...Request``): what the server takes (input
    # rules, writable fields) is documented apart from what it answers.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set; `check --deploy` fails on schema warnings (tests/ops).
    "ENUM_NAME_OVERRIDES": {
        "SafetyLevelEnum": "conversations.models.Message.SafetyLevel",
        "MessageStatusEnum": "conversations.models.Message.Status",
        "ModelVersionStatusEnum": "training.models.ModelVersion.Status",
        "TrainingRunStatusEnum": "training.models.TrainingRun.Status",
    },
}

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background worker (django-q2) ----------------------------------------------------
# The chat worker ("default" cluster) runs short jobs (notifications, reaping);
# training has its own single-worker cluster so a run never starves chat jobs.
Q_CLUSTER = {
    "name": "therapist_ai",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 1,
    "catch_up": False,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# Training cluster: `Q_CLUSTER_NAME=training manage.py qcluster` (Procfile "training").
# One worker, recycled after every run; timeout below retry so a run is never redelivered
# while it is still going; bounded attempts (a redelivery finds the run claimed and exits).
TRAIN_TIMEOUT = env.int("TRAIN_TIMEOUT", default=3 * 3600)  # one run may take this long
Q_CLUSTER["ALT_CLUSTERS"] = {
    "training": {
        "workers": 1,
        "recycle": 1,
        "timeout": TRAIN_TIMEOUT,
        "retry": TRAIN_TIMEOUT + 600,
        "max_attempts": 2,
        "queue_limit": 1,
        "label": "Training",
    }
}
# Worker heartbeat older than this makes /readyz report the worker as down.
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=120)

# --- Hosted LLM (Groq) ----------------------------------------------------------------
GROQ_API_KEY = env.str("GROQ_API_KEY", default="")
GROQ_MODEL = env.str("GROQ_MODEL", default="llama-3.1-8b-instant")
GROQ_BASE_URL = env.str("GROQ_BASE_URL", default="") or None
GROQ_TIMEOUT = env.float("GROQ_TIMEOUT", default=30.0)
GROQ_CONNECT_TIMEOUT = env.float("GROQ_CONNECT_TIMEOUT", default=5.0)
GROQ_MAX_RETRIES = env.choice(
    "GROQ_MAX_RETRIES", default=1, choices=(0, 1),
    reason="a patient waits through every retry (up to GROQ_TIMEOUT each) before seeing the failure "
    "and a Retry button; more attempts belong to the patient's Retry, not to one request",
)
GROQ_MAX_TOKENS = env.int("GROQ_MAX_TOKENS", default=512)
GROQ_TEMPERATURE = env.float("GROQ_TEMPERATURE", default=0.7)
# Set by the run command when it starts the development responder (never in production).
DEV_RESPONDER = env.bool("DEV_RESPONDER", default=False) and DEBUG
CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", default=20)

_DEFAULT_SYSTEM_PROMPT = (
    "You are Therapist AI, a supportive conversational assistant. You are an AI, not a human "
    "and not a licensed therapist, and you say so if asked. Listen carefully, reflect feelings, "
    "ask gentle open questions and suggest evidence-based coping ideas (grounding, breathing, "
    "journaling, reaching out to trusted people). Keep replies short and warm. Never give "
    "medical, legal or medication advice. If someone may be in danger, encourage them to "
    "contact emergency services or a crisis line right away."
)
_prompt_file = env.str("THERAPIST_SYSTEM_PROMPT_FILE", default="")
THERAPIST_SYSTEM_PROMPT = (
    Path(_prompt_file).read_text(encoding="utf-8").strip()
    if _prompt_file
    else env.str("THERAPIST_SYSTEM_PROMPT", default=_DEFAULT_SYSTEM_PROMPT)
)

# Keys for erasure records' pseudonymous subject hash, newest first (conversations/accounts/
# erasure_keys.py); rotating SECRET_KEY never touches them. Unset: SECRET_KEY's (a deploy warning).
ERASURE_KEYS = env.list("ERASURE_KEYS", default=[])

# --- Safety ---------------------------------------------------------------------------
# The numpy encoder's threads (conversations/safety/embedding.py): BLAS threads per product, the
# encoder's own threads for long passes, and the pass length from which it uses them.
SAFETY_BLAS_THREADS = env.int("SAFETY_BLAS_THREADS", default=1)
SAFETY_ENCODER_THREADS = env.int("SAFETY_ENCODER_THREADS", default=2)
SAFETY_PARALLEL_MIN_TOKENS = env.int("SAFETY_PARALLEL_MIN_TOKENS", default=32)
CRISIS_LOCALE = env.str("CRISIS_LOCALE", default="en-US")
CLINICIAN_ALERT_EMAILS = env.list("CLINICIAN_ALERT_EMAILS", default=[])
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="therapist-ai@localhost")
# The screening model (docs/safety.md): which version folder screens (empty: the one shipped
# in conversations/safety/data/screen_model), and what runs it in the web process.
SAFETY_SCREEN_MODEL_DIR = env.str("SAFETY_SCREEN_MODEL_DIR", default="")
SAFETY_SCREEN_RUNTIME = env.str("SAFETY_SCREEN_RUNTIME", default="auto")  # auto | onnx-int8 | onnx-fp32 | numpy
# The optional guard model on the Groq endpoint, asked beside the chat model (unset: off); the
# patient sees nothing until it answers or this many seconds have passed (then: the local verdict).
SAFETY_GUARD_MODEL = env.str("SAFETY_GUARD_MODEL", default="")
SAFETY_GUARD_TIMEOUT = env.float("SAFETY_GUARD_TIMEOUT", default=0.8)

# --- Training and local models --------------------------------------------------------
ENABLE_AUTO_TRAINING = env.bool("ENABLE_AUTO_TRAINING", default=False)
AUTO_TRAIN_THRESHOLD = env.int("AUTO_TRAIN_THRESHOLD", default=100)
USE_LOCAL_AI = env.bool("USE_LOCAL_AI", default=False)
MODEL_STORAGE_DIR = Path(env.str("MODEL_STORAGE_DIR", default=str(BASE_DIR / "trained_models"))).resolve()
BASE_MODEL = env.str("BASE_MODEL", default="")  # empty: the bootstrap base model under DATA_DIR
# Fine-tuning hyper-parameters (training/pipeline.py TrainConfig; README "training").
# 0 (auto): 3 epochs in batches of 8, or 1 epoch in batches of 4 for a set smaller than
# TRAIN_SMALL_SET (on SmolLM2 and 2 CPU cores: ~100 s instead of ~275 s for 100 approved messages,
# held-out perplexity 12.1 instead of 9.3; docs/training.md).
TRAIN_EPOCHS = env.float("TRAIN_EPOCHS", default=0.0)
TRAIN_SMALL_SET = env.int("TRAIN_SMALL_SET", default=30)
TRAIN_MAX_STEPS = env.int("TRAIN_MAX_STEPS", default=0)  # 0: as many as the epochs need
TRAIN_LEARNING_RATE = env.float("TRAIN_LEARNING_RATE", default=1e-3)
TRAIN_BATCH_SIZE = env.int("TRAIN_BATCH_SIZE", default=0)  # 0 (auto): see TRAIN_EPOCHS
TRAIN_GRADIENT_ACCUMULATION = env.int("TRAIN_GRADIENT_ACCUMULATION", default=1)
TRAIN_MAX_LENGTH = env.int("TRAIN_MAX_LENGTH", default=1024)
TRAIN_LORA_R = env.int("TRAIN_LORA_R", default=16)
TRAIN_LORA_ALPHA = env.int("TRAIN_LORA_ALPHA", default=32)
TRAIN_LORA_DROPOUT = env.float("TRAIN_LORA_DROPOUT", default=0.05)
TRAIN_LORA_TARGET_MODULES = env.str("TRAIN_LORA_TARGET_MODULES", default="all-linear")
TRAIN_EVAL_FRACTION = env.float("TRAIN_EVAL_FRACTION", default=0.1)
TRAIN_SEED = env.int("TRAIN_SEED", default=42)
TRAIN_DEVICE = env.str("TRAIN_DEVICE", default="auto")  # auto | cpu | cuda
# TRAIN_TIMEOUT (how long one run may take) is read with the training cluster above.
TRAIN_HEARTBEAT_INTERVAL = env.float("TRAIN_HEARTBEAT_INTERVAL", default=5.0)
# A running run whose heartbeat is older than this is failed by the reaper (worker died).
TRAIN_HEARTBEAT_TIMEOUT = env.int("TRAIN_HEARTBEAT_TIMEOUT", default=120)
# A queued run no worker picked up within this long is failed (its task was lost).
TRAIN_QUEUE_TIMEOUT = env.int("TRAIN_QUEUE_TIMEOUT", default=6 * 3600)
TRAINING_CLUSTER = "training"
# The training cluster lowers its CPU priority by this much so chat stays responsive.
TRAIN_WORKER_NICE = env.int("TRAIN_WORKER_NICE", default=10)
# CPU threads a training run may use: by default all cores but one, left for the web process.
TRAIN_TORCH_THREADS = env.int("TRAIN_TORCH_THREADS", default=max(1, (os.cpu_count() or 2) - 1))

# --- Serving local model versions (training/serving/) ---------------------------------
# The local inference server (Procfile "inference") or vLLM: an OpenAI-compatible base URL.
INFERENCE_URL = env.str("INFERENCE_URL", default="http://127.0.0.1:8766/v1")
INFERENCE_API_KEY = env.str("INFERENCE_API_KEY", default="")
INFERENCE_TIMEOUT = env.float("INFERENCE_TIMEOUT", default=30.0)
INFERENCE_CONNECT_TIMEOUT = env.float("INFERENCE_CONNECT_TIMEOUT", default=2.0)
INFERENCE_MAX_TOKENS = env.int("INFERENCE_MAX_TOKENS", default=256)
INFERENCE_TEMPERATURE = env.float("INFERENCE_TEMPERATURE", default=0.7)
SERVING_SIGNOFFS_REQUIRED = env.int("SERVING_SIGNOFFS_REQUIRED", default=1)
# Seconds a process may answer from its view of the serving state without looking at the
# row's revision (0: every chat turn looks, so the very next reply follows a promotion).
SERVING_STATE_TTL = env.float("SERVING_STATE_TTL", default=0.0)
# Automatic revert to hosted: local failures (fallbacks) plus output-screen replacements of
# local replies over this share of local attempts in the window, once there are enough attempts.
SERVING_REVERT_WINDOW = env.int("SERVING_REVERT_WINDOW", default=300)
SERVING_REVERT_MAX_RATE = env.float("SERVING_REVERT_MAX_RATE", default=0.5)
SERVING_REVERT_MIN_REQUESTS = env.int("SERVING_REVERT_MIN_REQUESTS", default=5)

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
