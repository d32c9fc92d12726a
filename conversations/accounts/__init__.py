"""Patients' accounts and data rights, in one place: sign-up, consent, roles and demo accounts,
the settings, data-download and delete-account pages, and their REST endpoints (``/api/v1/me/``).

The models live with the conversations (``PatientProfile``, ``ErasureRecord``); this package
holds the services, selectors, pages and API around them.
"""
