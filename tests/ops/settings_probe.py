"""Import the settings module in a clean subprocess and report every setting as JSON.

``python -m tests.ops.settings_probe`` prints ``{"NAME": value, ...}`` for every upper-case
name in ``therapist_ai.settings``, with the checkout path, ``DATA_DIR`` and the CPU count
replaced by placeholders so that snapshots compare across machines. Used by
``tests/ops/test_settings_env.py`` (and, once, to record the behaviour of the hand-written
parsers before django-environ replaced them: ``tests/ops/settings_snapshot.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Nothing from the calling environment but what a shell needs: every variable is chosen.
BASE_ENV = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}


def _normalise(value, data_dir: str):
    text = json.dumps(value, default=str, sort_keys=True)
    text = text.replace(data_dir, "<DATA>").replace(str(ROOT), "<ROOT>")
    return json.loads(text)


class _CountingEnviron(dict):
    """The process environment, counting how often each variable is looked up."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reads: dict[str, int] = {}

    def _count(self, key):
        self.reads[key] = self.reads.get(key, 0) + 1

    def get(self, key, default=None):
        self._count(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._count(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._count(key)
        return super().__contains__(key)


def main() -> None:
    counting = None
    if os.environ.get("SETTINGS_PROBE_COUNT_READS"):
        import environ

        counting = environ.Env.ENVIRON = _CountingEnviron(os.environ)
    import therapist_ai.settings as settings

    data_dir = str(settings.DATA_DIR)
    cpus = max(1, (os.cpu_count() or 2) - 1)
    snapshot = {}
    for name in sorted(dir(settings)):
        if not name.isupper() or name.startswith("_"):
            continue
        value = getattr(settings, name)
        if name == "TRAIN_TORCH_THREADS" and value == cpus:
            value = "<cpu_count-1>"
        snapshot[name] = _normalise(value, data_dir)
    if counting is not None:
        snapshot["__reads__"] = counting.reads
    print(json.dumps(snapshot, sort_keys=True))


def probe(env: dict[str, str], *, argv: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run this module with exactly ``env`` (plus PATH/HOME); the caller checks the result."""
    return subprocess.run([sys.executable, "-m", "tests.ops.settings_probe", *argv], cwd=ROOT,
                          env={**BASE_ENV, **env}, capture_output=True, text=True, timeout=60)


def snapshot(env: dict[str, str]) -> dict:
    done = probe(env)
    if done.returncode != 0:
        raise AssertionError(done.stderr[-3000:])
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
