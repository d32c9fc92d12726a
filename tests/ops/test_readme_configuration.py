"""docs/configuration.md (the configuration table, linked from the README) lists every
environment variable that the settings, gunicorn.conf.py and the run scripts read."""

import re

from devtools.servers import ROOT

# env.int("NAME", ...), env.str('NAME', ...), env.bool(...) ... (settings.py, gunicorn.conf.py)
ENV_READ = r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']"""
# ${NAME}, ${NAME:-default}, ${NAME,,} (shell scripts, Procfiles)
SHELL_READ = r"\$\{([A-Z][A-Z0-9_]+)"


def _variables(path: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (ROOT / path).read_text()))


def _documented() -> set[str]:
    table = (ROOT / "docs" / "configuration.md").read_text().split("## Variables", 1)[1]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))


def test_every_environment_variable_in_settings_and_gunicorn_is_documented():
    read = _variables("therapist_ai/settings.py", ENV_READ) | _variables("gunicorn.conf.py", ENV_READ)
    assert len(read) > 40
    assert {"DEBUG", "TRUSTED_PROXIES", "PROXY_COUNT", "PORT", "WEB_CONCURRENCY"} <= read  # the patterns work
    assert sorted(read - _documented()) == [], "add these to docs/configuration.md"


def test_every_environment_variable_the_run_scripts_read_is_documented():
    read = set()
    for path in ("scripts/run.sh", "scripts/start_all.sh", "scripts/procgroup.sh", "Procfile.dev", "Procfile"):
        read |= _variables(path, SHELL_READ)
    assert {"HOST", "DEV_RESPONDER_PORT", "START_TRAINING_WORKER"} <= read
    assert sorted(read - _documented()) == [], "add these to docs/configuration.md"
