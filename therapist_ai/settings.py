"""Therapist AI settings: one module, driven by environment variables.

Long because every setting of the service is read here, in one place (STYLE.md: one settings.py).

Safe defaults for a developer machine (with ``DEBUG=1``); production (``DEBUG=0``)
refuses to start without ``SECRET_KEY`` and ``ALLOWED_HOSTS``. Every variable is
listed in the README's configuration table.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# numpy's OpenBLAS starts one thread per core for every matrix product; the safety screen's
# small per-message products then fight each other (and the other workers) for the cores:
# measured 450 ms vs 32 ms per screened message on 2 busy cores. Must be set before numpy
# is imported, which settings always are. Training (torch) uses its own thread pool.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("THERAPIST_TESTING", False)

DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=0) refuses to start without it: "
            "set SECRET_KEY to a long random string, or DEBUG=1 on a developer machine."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. Production (DEBUG=0) refuses to start without it: "
            "set ALLOWED_HOSTS to a comma-separated list of host names."
        )
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

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
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Keep each thread's connection between requests (opening one costs ~0.6 ms: the file,
    # the PRAGMAs below, Django's SQL functions); web requests run on pooled, long-lived
    # threads (therapist_ai/handlers.py). Not in the worker cluster, which forks.
    _db["CONN_MAX_AGE"] = 0 if "qcluster" in sys.argv else env_int("DB_CONN_MAX_AGE", 600)
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
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": env_int("DB_POOL_MAX_SIZE", 20),
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
        },
    }
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
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", 1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("PROXY_COUNT", 0)
AXES_LOCKOUT_CALLABLE = "therapist_ai.middleware.lockout_response"

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
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
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)
if not DEBUG:
    # TLS terminates at the proxy (Railway, a load balancer): trust its header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
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
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 8000)
# Bodies over this many bytes are refused with 413 before anything parses them.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES

# A chat turn's response says how long the input safety screen took, in a Server-Timing
# header (benchmarks read it; off in production: it tells clients about server internals).
SERVER_TIMING = env_bool("SERVER_TIMING", False)

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
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_THROTTLE_RATES": {
        "message_post": env("MESSAGE_THROTTLE_RATE", "30/min"),
        "anon": "60/min",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Client address for throttling: REMOTE_ADDR, or the PROXY_COUNT-th address from the
    # right of X-Forwarded-For (never a client-chosen header value).
    "NUM_PROXIES": env_int("PROXY_COUNT", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Therapist AI API",
    "DESCRIPTION": "Patients chat with an AI; clinicians curate; staff train and promote models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
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
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background worker (django-q2) ----------------------------------------------------
# The chat worker ("default" cluster) runs short jobs (notifications, reaping);
# training has its own single-worker cluster so a run never starves chat jobs.
Q_CLUSTER = {
    "name": "therapist_ai",
    "workers": env_int("Q_WORKERS", 2),
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
_train_timeout = env_int("TRAIN_TIMEOUT", 3 * 3600)
Q_CLUSTER["ALT_CLUSTERS"] = {
    "training": {
        "workers": 1,
        "recycle": 1,
        "timeout": _train_timeout,
        "retry": _train_timeout + 600,
        "max_attempts": 2,
        "queue_limit": 1,
        "label": "Training",
    }
}
# Worker heartbeat older than this makes /readyz report the worker as down.
WORKER_HEARTBEAT_MAX_AGE = env_int("WORKER_HEARTBEAT_MAX_AGE", 120)

# --- Hosted LLM (Groq) ----------------------------------------------------------------
GROQ_API_KEY = env("GROQ_API_KEY")
GROQ_MODEL = env("GROQ_MODEL", "llama-3.1-8b-instant")
GROQ_BASE_URL = env("GROQ_BASE_URL") or None
GROQ_TIMEOUT = env_float("GROQ_TIMEOUT", 30.0)
GROQ_CONNECT_TIMEOUT = env_float("GROQ_CONNECT_TIMEOUT", 5.0)
GROQ_MAX_RETRIES = min(env_int("GROQ_MAX_RETRIES", 1), 1)
GROQ_MAX_TOKENS = env_int("GROQ_MAX_TOKENS", 512)
GROQ_TEMPERATURE = env_float("GROQ_TEMPERATURE", 0.7)
# Set by the run command when it starts the development responder (never in production).
DEV_RESPONDER = env_bool("DEV_RESPONDER", False) and DEBUG
CHAT_HISTORY_MESSAGES = env_int("CHAT_HISTORY_MESSAGES", 20)

_DEFAULT_SYSTEM_PROMPT = (
    "You are Therapist AI, a supportive conversational assistant. You are an AI, not a human "
    "and not a licensed therapist, and you say so if asked. Listen carefully, reflect feelings, "
    "ask gentle open questions and suggest evidence-based coping ideas (grounding, breathing, "
    "journaling, reaching out to trusted people). Keep replies short and warm. Never give "
    "medical, legal or medication advice. If someone may be in danger, encourage them to "
    "contact emergency services or a crisis line right away."
)
_prompt_file = env("THERAPIST_SYSTEM_PROMPT_FILE")
THERAPIST_SYSTEM_PROMPT = (
    Path(_prompt_file).read_text(encoding="utf-8").strip()
    if _prompt_file
    else env("THERAPIST_SYSTEM_PROMPT", _DEFAULT_SYSTEM_PROMPT)
)

# --- Safety ---------------------------------------------------------------------------
CRISIS_LOCALE = env("CRISIS_LOCALE", "en-US")
CLINICIAN_ALERT_EMAILS = env_list("CLINICIAN_ALERT_EMAILS")
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "therapist-ai@localhost")

# --- Training and local models --------------------------------------------------------
ENABLE_AUTO_TRAINING = env_bool("ENABLE_AUTO_TRAINING", False)
AUTO_TRAIN_THRESHOLD = env_int("AUTO_TRAIN_THRESHOLD", 100)
USE_LOCAL_AI = env_bool("USE_LOCAL_AI", False)
MODEL_STORAGE_DIR = Path(env("MODEL_STORAGE_DIR", str(BASE_DIR / "trained_models"))).resolve()
BASE_MODEL = env("BASE_MODEL")  # empty: the bootstrap base model under DATA_DIR

# --- Serving local model versions (training/serving/) ---------------------------------
# The local inference server (Procfile "inference") or vLLM: an OpenAI-compatible base URL.
INFERENCE_URL = env("INFERENCE_URL", "http://127.0.0.1:8766/v1")
INFERENCE_API_KEY = env("INFERENCE_API_KEY")
INFERENCE_TIMEOUT = env_float("INFERENCE_TIMEOUT", 30.0)
INFERENCE_CONNECT_TIMEOUT = env_float("INFERENCE_CONNECT_TIMEOUT", 2.0)
INFERENCE_MAX_TOKENS = env_int("INFERENCE_MAX_TOKENS", 256)
INFERENCE_TEMPERATURE = env_float("INFERENCE_TEMPERATURE", 0.7)
SERVING_SIGNOFFS_REQUIRED = env_int("SERVING_SIGNOFFS_REQUIRED", 1)
# How stale a process's view of the serving state may get (a promotion reaches every process
# within this many seconds, without a restart).
SERVING_STATE_TTL = env_float("SERVING_STATE_TTL", 1.0)
# Automatic revert to hosted: local failures (fallbacks) plus output-screen replacements of
# local replies over this share of local attempts in the window, once there are enough attempts.
SERVING_REVERT_WINDOW = env_int("SERVING_REVERT_WINDOW", 300)
SERVING_REVERT_MAX_RATE = env_float("SERVING_REVERT_MAX_RATE", 0.5)
SERVING_REVERT_MIN_REQUESTS = env_int("SERVING_REVERT_MIN_REQUESTS", 5)
# Fine-tuning hyper-parameters (training/pipeline.py TrainConfig; README "training").
TRAIN_EPOCHS = env_float("TRAIN_EPOCHS", 3.0)
TRAIN_MAX_STEPS = env_int("TRAIN_MAX_STEPS", 0)  # 0: as many as the epochs need
TRAIN_LEARNING_RATE = env_float("TRAIN_LEARNING_RATE", 1e-3)
TRAIN_BATCH_SIZE = env_int("TRAIN_BATCH_SIZE", 8)
TRAIN_GRADIENT_ACCUMULATION = env_int("TRAIN_GRADIENT_ACCUMULATION", 1)
TRAIN_MAX_LENGTH = env_int("TRAIN_MAX_LENGTH", 1024)
TRAIN_LORA_R = env_int("TRAIN_LORA_R", 16)
TRAIN_LORA_ALPHA = env_int("TRAIN_LORA_ALPHA", 32)
TRAIN_LORA_DROPOUT = env_float("TRAIN_LORA_DROPOUT", 0.05)
TRAIN_LORA_TARGET_MODULES = env("TRAIN_LORA_TARGET_MODULES", "all-linear")
TRAIN_EVAL_FRACTION = env_float("TRAIN_EVAL_FRACTION", 0.1)
TRAIN_SEED = env_int("TRAIN_SEED", 42)
TRAIN_DEVICE = env("TRAIN_DEVICE", "auto")  # auto | cpu | cuda
# One run may take this long on the worker; the broker redelivers only after TRAIN_RETRY.
TRAIN_TIMEOUT = env_int("TRAIN_TIMEOUT", 3 * 3600)
TRAIN_HEARTBEAT_INTERVAL = env_float("TRAIN_HEARTBEAT_INTERVAL", 5.0)
# A running run whose heartbeat is older than this is failed by the reaper (worker died).
TRAIN_HEARTBEAT_TIMEOUT = env_int("TRAIN_HEARTBEAT_TIMEOUT", 120)
# A queued run no worker picked up within this long is failed (its task was lost).
TRAIN_QUEUE_TIMEOUT = env_int("TRAIN_QUEUE_TIMEOUT", 6 * 3600)
TRAINING_CLUSTER = "training"
# The training cluster lowers its CPU priority by this much so chat stays responsive.
TRAIN_WORKER_NICE = env_int("TRAIN_WORKER_NICE", 10)
# CPU threads a training run may use: by default all cores but one, left for the web process.
TRAIN_TORCH_THREADS = env_int("TRAIN_TORCH_THREADS", max(1, (os.cpu_count() or 2) - 1))

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
