"""Serializer fields that take exactly the JSON types the schema documents.

DRF's fields are lenient: a ``CharField`` turns ``42`` into ``"42"``, a ``BooleanField`` takes
``"yes"`` and ``1``, an ``IntegerField`` takes ``"7"`` and ``7.0``. The schema says ``string``,
``boolean``, ``integer``; a client that sends anything else gets 400, so the schema describes
exactly what the server accepts. (Form-encoded bodies, where everything is text, are taken by
the token endpoint only, whose fields are text.)
"""

from __future__ import annotations

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``, nothing else."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A whole JSON number (not a string, a float or a boolean)."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


# The largest id a database row can have (a signed 64-bit integer): a larger one would make
# SQLite raise before it could answer "not found".
ID_MAX = 2**63 - 1
