"""Fixtures for curation tests: transcripts built directly in the database (no LLM)."""

import pytest

from devtools.factories import make_patient, make_transcript  # noqa: F401  (the curation tests' helpers)


@pytest.fixture
def transcript(patient):
    return make_transcript(patient, [("I feel anxious about work.", "That sounds hard. What worries you most?"),
                                     ("My deadlines.", "Let's break them into small steps.")])
