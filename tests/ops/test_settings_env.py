"""Settings read through django-environ: the same values as the hand-written parsers they
replaced, strict booleans, clear errors that name the variable, every variable read once.

``settings_snapshot.json`` holds what the settings module produced, for the environments in
``CASES``, *before* django-environ replaced the hand-written parsers (recorded with
``python -m tests.ops.test_settings_env --record`` on commit 89cd23d). The test compares today's
settings against it; ``INTENDED_CHANGES`` lists, with the reason, the only values that differ.
Settings added later are not compared (nothing was recorded for them).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.ops.settings_probe import ROOT, probe, snapshot

SNAPSHOT = Path(__file__).with_name("settings_snapshot.json")
PROD = {"DEBUG": "0", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "therapist.example.com"}
POSTGRES = "postgres://user:pw@db.example.com:5432/therapist"

CASES: dict[str, dict] = {
    "developer": {"env": {"DEBUG": "1"}},
    "developer-qcluster": {"env": {"DEBUG": "1"}, "argv": ["qcluster"]},
    "production": {"env": PROD},
    "production-postgres-redis": {"env": {
        **PROD, "DATABASE_URL": POSTGRES, "REDIS_URL": "redis://redis.example.com:6379/0",
        "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "5", "DB_POOL_TIMEOUT": "3",
        "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "600",
        "THERAPIST_SYSTEM_PROMPT_FILE": "<DATA>/prompt.txt",
    }},
    "production-postgres-qcluster": {"env": {**PROD, "DATABASE_URL": POSTGRES}, "argv": ["qcluster"]},
    # A non-default value for every variable, written the ways people write them.
    "every-variable": {"env": {
        "DEBUG": "Yes", "THERAPIST_TESTING": "on", "SECRET_KEY": "k" * 50,
        "ALLOWED_HOSTS": " a.example.com , b.example.com ",
        "CSRF_TRUSTED_ORIGINS": "https://a.example.com,https://b.example.com",
        "DB_CONN_MAX_AGE": "30", "AXES_FAILURE_LIMIT": "7", "AXES_COOLOFF_HOURS": "0.5",
        "TIME_ZONE": "Europe/Berlin", "STATIC_ROOT": "/srv/static", "SESSION_COOKIE_AGE": "3600",
        "MESSAGE_MAX_CHARS": "4000", "REQUEST_BODY_MAX_BYTES": "131072", "SERVER_TIMING": "TRUE",
        "MESSAGE_THROTTLE_RATE": "10/min", "Q_WORKERS": "4", "TRAIN_TIMEOUT": "7200",
        "WORKER_HEARTBEAT_MAX_AGE": "60", "GROQ_API_KEY": "gsk_example", "GROQ_MODEL": "llama-3.3-70b",
        "GROQ_BASE_URL": "http://127.0.0.1:9/", "GROQ_TIMEOUT": "12.5", "GROQ_CONNECT_TIMEOUT": "2",
        "GROQ_MAX_RETRIES": "0", "GROQ_MAX_TOKENS": "256", "GROQ_TEMPERATURE": "0.2", "DEV_RESPONDER": "1",
        "CHAT_HISTORY_MESSAGES": "10", "THERAPIST_SYSTEM_PROMPT": "Be kind.", "CRISIS_LOCALE": "en-GB",
        "CLINICIAN_ALERT_EMAILS": "a@example.com, b@example.com,",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": "587", "EMAIL_HOST_USER": "mailer", "EMAIL_HOST_PASSWORD": "pw", "EMAIL_USE_TLS": "true",
        "DEFAULT_FROM_EMAIL": "care@example.com", "ENABLE_AUTO_TRAINING": "1", "AUTO_TRAIN_THRESHOLD": "50",
        "USE_LOCAL_AI": "1", "MODEL_STORAGE_DIR": "/srv/models", "BASE_MODEL": "/srv/base",
        "TRAIN_EPOCHS": "1.5", "TRAIN_MAX_STEPS": "10", "TRAIN_LEARNING_RATE": "2e-4", "TRAIN_BATCH_SIZE": "4",
        "TRAIN_GRADIENT_ACCUMULATION": "2", "TRAIN_MAX_LENGTH": "512", "TRAIN_LORA_R": "8",
        "TRAIN_LORA_ALPHA": "16", "TRAIN_LORA_DROPOUT": "0.1", "TRAIN_LORA_TARGET_MODULES": "q_proj,v_proj",
        "TRAIN_EVAL_FRACTION": "0.2", "TRAIN_SEED": "7", "TRAIN_DEVICE": "cpu",
        "TRAIN_HEARTBEAT_INTERVAL": "2.5", "TRAIN_HEARTBEAT_TIMEOUT": "60", "TRAIN_QUEUE_TIMEOUT": "3600",
        "TRAIN_WORKER_NICE": "5", "TRAIN_TORCH_THREADS": "3", "LOG_LEVEL": "DEBUG",
    }},
    # Set but empty: typed variables fall back to their defaults, strings stay empty.
    "empty-values": {"env": {
        **PROD, "DATABASE_URL": "", "REDIS_URL": "", "GROQ_BASE_URL": "", "GROQ_API_KEY": "",
        "THERAPIST_TESTING": "", "SERVER_TIMING": "", "ENABLE_AUTO_TRAINING": "", "EMAIL_USE_TLS": "",
        "AXES_FAILURE_LIMIT": "", "AXES_COOLOFF_HOURS": "", "GROQ_TIMEOUT": "", "GROQ_MAX_RETRIES": "",
        "TRAIN_EPOCHS": "", "TRAIN_TIMEOUT": "", "CLINICIAN_ALERT_EMAILS": "", "CSRF_TRUSTED_ORIGINS": "",
        "SECURE_SSL_REDIRECT": "", "SECURE_HSTS_SECONDS": "", "BASE_MODEL": "", "TRAIN_TORCH_THREADS": "",
    }},
}

# Values that differ from the recorded behaviour on purpose, with the reason.
INTENDED_CHANGES = {
    # The client address is resolved once, by the server, from TRUSTED_PROXIES (gunicorn.conf.py,
    # Procfile.dev): django-axes reads REMOTE_ADDR only, and would never count proxies itself.
    "AXES_IPWARE_PROXY_COUNT": None,
    "AXES_IPWARE_META_PRECEDENCE_ORDER": ["REMOTE_ADDR"],
    "AXES_IPWARE_PROXY_TRUSTED_IPS": None,
    "TRUSTED_PROXIES": [],
}
# Defaults changed on purpose since (a value set in the environment is unchanged): old -> new.
INTENDED_DEFAULTS = {
    # 0 = auto: the epochs and batch size follow the size of the set (docs/training.md).
    "TRAIN_EPOCHS": (3.0, 0.0),
    "TRAIN_BATCH_SIZE": (8, 0),
}
# Values inside recorded settings changed on purpose since: (setting, key, ...) -> the new value.
INTENDED_NESTED = {
    # Sign-up is rate-limited per client address (hardening: anyone could spend the Groq budget).
    ("REST_FRAMEWORK", "DEFAULT_THROTTLE_RATES", "signup"): "10/hour",
    # Pooled PostgreSQL connections are checked before use (a restart left dead idle connections).
    ("DATABASES", "default", "CONN_HEALTH_CHECKS"): True,
    # Every API operation documents its error responses (therapist_ai/api_schema.py).
    ("REST_FRAMEWORK", "DEFAULT_SCHEMA_CLASS"): "therapist_ai.api_schema.AutoSchema",
    # Request bodies get schema components of their own: input rules apart from responses.
    ("SPECTACULAR_SETTINGS", "COMPONENT_SPLIT_REQUEST"): True,
}


def _with_intended(recorded: dict) -> dict:
    import copy

    recorded = copy.deepcopy(recorded)
    for name, (old, new) in INTENDED_DEFAULTS.items():
        if recorded.get(name) == old:
            recorded[name] = new
    for (*path, leaf), value in INTENDED_NESTED.items():
        node = recorded
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = value
    return recorded


def _run_case(name: str, tmp_path: Path) -> subprocess.CompletedProcess:
    case = CASES[name]
    env = {k: v.replace("<DATA>", str(tmp_path)) for k, v in case["env"].items()}
    env.setdefault("DATA_DIR", str(tmp_path))
    (tmp_path / "prompt.txt").write_text("  A prompt from a file.\n")
    return probe(env, argv=tuple(case.get("argv", ())))


def _snapshot_case(name: str, tmp_path: Path) -> dict:
    done = _run_case(name, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_settings_have_the_values_the_hand_written_parsers_gave(case, tmp_path):
    expected = {**_with_intended(json.loads(SNAPSHOT.read_text())[case]), **INTENDED_CHANGES}
    now = _snapshot_case(case, tmp_path)
    # Every recorded setting keeps its value; settings added since may be anything.
    changed = {k: (v, now.get(k, "<absent>")) for k, v in sorted(expected.items()) if now.get(k, "<absent>") != v}
    assert changed == {}, "setting: (recorded, now)"


# --- Strict parsing: a clear error naming the variable and the value ---------------------------

BAD_VALUES = [
    ("DEBUG", "ture", "DEBUG must be a boolean"),
    ("USE_LOCAL_AI", "enabled", "USE_LOCAL_AI must be a boolean"),
    ("ENABLE_AUTO_TRAINING", "2", "ENABLE_AUTO_TRAINING must be a boolean"),
    ("SECURE_SSL_REDIRECT", "nope", "SECURE_SSL_REDIRECT must be a boolean"),
    ("AUTO_TRAIN_THRESHOLD", "100 messages", "AUTO_TRAIN_THRESHOLD must be an integer"),
    ("Q_WORKERS", "2.5", "Q_WORKERS must be an integer"),
    ("DB_POOL_MAX_SIZE", "many", "DB_POOL_MAX_SIZE must be an integer"),
    ("GROQ_TIMEOUT", "30s", "GROQ_TIMEOUT must be a number"),
    ("TRAIN_LEARNING_RATE", "1e-3x", "TRAIN_LEARNING_RATE must be a number"),
    ("AXES_COOLOFF_HOURS", "nan", "AXES_COOLOFF_HOURS must be a finite number"),
    ("GROQ_MAX_RETRIES", "3", "GROQ_MAX_RETRIES must be 0 or 1"),
    ("GROQ_MAX_RETRIES", "-1", "GROQ_MAX_RETRIES must be 0 or 1"),
    ("TRUSTED_PROXIES", "*", "TRUSTED_PROXIES must list addresses or networks"),
    ("TRUSTED_PROXIES", "10.0.0.5, 10.0.0.1/8", "TRUSTED_PROXIES must be IP addresses or networks"),
    ("TRUSTED_PROXIES", "proxy.internal", "TRUSTED_PROXIES must be IP addresses or networks"),
    ("PROXY_COUNT", "1", "PROXY_COUNT is no longer supported"),
    ("FORWARDED_ALLOW_IPS", "*", "FORWARDED_ALLOW_IPS is replaced by TRUSTED_PROXIES"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES])
def test_a_bad_value_stops_start_up_with_an_error_naming_the_variable_and_the_value(tmp_path, name, value, message):
    env = {**PROD, "DATA_DIR": str(tmp_path), "DATABASE_URL": POSTGRES, name: value}
    done = probe(env)
    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("django.core.exceptions.ImproperlyConfigured: "), done.stderr[-2000:]
    assert message in error and repr(value) in error, error


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_recognised_true_spellings(tmp_path, value):
    assert snapshot({**PROD, "DATA_DIR": str(tmp_path), "SERVER_TIMING": value})["SERVER_TIMING"] is True


@pytest.mark.parametrize("value", ["0", "false", "False", "NO", "off", ""])
def test_recognised_false_spellings(tmp_path, value):
    assert snapshot({**PROD, "DATA_DIR": str(tmp_path), "SERVER_TIMING": value})["SERVER_TIMING"] is False


def test_trusted_proxies_take_addresses_and_networks_of_both_families(tmp_path):
    value = " 10.0.0.5, 10.1.0.0/16 ,fd00::/8,"
    got = snapshot({**PROD, "DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": value, "PROXY_COUNT": "0"})
    assert got["TRUSTED_PROXIES"] == ["10.0.0.5", "10.1.0.0/16", "fd00::/8"]
    assert got["REST_FRAMEWORK"]["NUM_PROXIES"] == 0  # the server resolved the address already


def test_a_secret_that_starts_with_a_dollar_sign_is_taken_literally(tmp_path):
    # django-environ would read "$NAME" as "the value of NAME"; secrets are random strings.
    key = "$ecret" + "x" * 50
    assert snapshot({**PROD, "DATA_DIR": str(tmp_path), "SECRET_KEY": key})["SECRET_KEY"] == key


# --- Every variable is read exactly once --------------------------------------------------------

READ = re.compile(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"')


def test_every_variable_is_read_in_exactly_one_place_in_the_settings_source():
    source = (ROOT / "therapist_ai" / "settings.py").read_text()
    reads = Counter(READ.findall(source))
    assert len(reads) > 40
    assert {name: n for name, n in reads.items() if n > 1} == {}
    assert "os.environ.get(" not in source and "os.getenv(" not in source  # everything goes through env


@pytest.mark.parametrize("case", ["developer", "production-postgres-redis", "every-variable"])
def test_importing_the_settings_reads_each_variable_once(tmp_path, case):
    env = {k: v.replace("<DATA>", str(tmp_path)) for k, v in CASES[case]["env"].items()}
    env.setdefault("DATA_DIR", str(tmp_path))
    (tmp_path / "prompt.txt").write_text("prompt")
    done = probe({**env, "SETTINGS_PROBE_COUNT_READS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout)["__reads__"]
    assert {name: n for name, n in counts.items() if n > 1} == {}
    assert len(counts) > 25


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile

    recorded = {}
    for case_name in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            recorded[case_name] = _snapshot_case(case_name, Path(tmp))
    SNAPSHOT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(recorded)} cases in {SNAPSHOT}")
