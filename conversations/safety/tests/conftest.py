"""Fixtures for the safety tests."""

import pytest


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2's own synchronous mode: ``async_task`` runs the task in this process at once
    (the real task code and broker-free path; a real cluster is exercised in test_notify_worker)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    return Conf


@pytest.fixture
def conversation(patient):
    from conversations.services.chat import conversation_create

    return conversation_create(patient=patient)
