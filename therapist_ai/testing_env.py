"""Test environment, loaded as a pytest plugin (``-p therapist_ai.testing_env`` in pyproject).

pytest-django reads Django settings while pytest loads the initial conftest files, before
the root ``conftest.py`` body runs, so these defaults must be set by an earlier plugin.
"""

import os
import tempfile

os.environ.setdefault("THERAPIST_TESTING", "1")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="therapist-ai-test-"))
os.environ.setdefault("MODEL_STORAGE_DIR", os.path.join(os.environ["DATA_DIR"], "trained_models"))
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Never the real Groq API: tests start the fake upstream and point GROQ_BASE_URL at it.
os.environ["GROQ_API_KEY"] = os.environ.get("TEST_GROQ_API_KEY", "test-key")
os.environ.setdefault("GROQ_BASE_URL", "http://127.0.0.1:9/")
