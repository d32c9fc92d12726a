"""The OpenAPI schema documents every answer an operation can give, errors included.

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to each operation the error
responses it can give, with their JSON shapes, unless the view documents that status itself:

* 400 ``ValidationError`` (field -> messages, ``non_field_errors``, or ``detail`` alone) for
  operations that read a body, query or header parameters; ``Problem`` otherwise (a malformed
  ``Content-Length`` is refused before any view runs);
* 401 ``Problem`` where the view authenticates (no or unknown credentials), 403 ``Problem`` where
  it checks permissions (or a session's CSRF token);
* 404 ``Problem`` for operations on one object (``{id}``) and for paginated lists (a page past the end);
* 413 ``Problem`` for every operation (``REQUEST_BODY_MAX_BYTES``, before any parsing);
* 415 ``Problem`` for operations that read a body (JSON only);
* 429 ``Problem`` for throttled operations.

Operations add their own 409 and 422 (``PROBLEM`` or a richer shape). Schemathesis checks the
running server against all of this per role (``devtools/api_fuzz.py``).
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny


class ProblemSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")

    class Meta:
        ref_name = "Problem"


PROBLEM = OpenApiResponse(ProblemSerializer, description="Refused in the current state; `detail` says why.")


class Conflict(APIException):
    """409: a well-formed request that the current state refuses (``detail`` says why)."""

    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


VALIDATION_ERROR = {
    "type": "object",
    "description": (
        "What was wrong with the input: each field, query parameter or header maps to its messages; "
        "`non_field_errors` is about the body as a whole; `detail` alone when the body or a header "
        "could not be read at all (not JSON, a malformed `Content-Length`)."
    ),
    "properties": {
        "detail": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

DESCRIPTIONS = {
    "400": "Malformed request, or invalid input: the body says which field and why.",
    "401": "Not signed in: no credentials, or an unknown token.",
    "403": "Signed in, but this account's role does not have the permission this needs "
           "(or a session's CSRF token is missing).",
    "404": "No such object, or not one of yours; or a page past the end of the list.",
    "413": "The body is larger than the server takes (`REQUEST_BODY_MAX_BYTES`).",
    "415": "The body's media type is not one this operation reads (see its request body).",
    "429": "Too many requests: wait before trying again (`Retry-After` says how long, in seconds).",
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, body in self._error_bodies().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(body, description=DESCRIPTIONS[code]), code, direction=direction)
        return dict(sorted(responses.items()))

    def _error_bodies(self) -> dict:
        view = self.view
        reads_body = bool(self._get_request_body())
        reads_params = any(p["in"] in {"query", "header"} for p in self._get_parameters())
        authenticates = bool(view.get_authenticators())
        checks = authenticates or any(not isinstance(p, AllowAny) for p in view.get_permissions())
        errors = {"400": self._validation_error() if reads_body or reads_params else ProblemSerializer}
        if authenticates:
            errors["401"] = ProblemSerializer
        if checks:
            errors["403"] = ProblemSerializer
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            errors["404"] = ProblemSerializer
        errors["413"] = ProblemSerializer
        if reads_body:
            errors["415"] = ProblemSerializer
        if view.get_throttles():
            errors["429"] = ProblemSerializer
        return errors

    def _validation_error(self) -> dict:
        component = ResolvedComponent(name="ValidationError", type=ResolvedComponent.SCHEMA,
                                      object="ValidationError", schema=VALIDATION_ERROR)
        self.registry.register_on_missing(component)
        return component.ref

    def _get_request_body(self, direction="request"):
        # A DELETE that reads a body (``view.request_body_methods``), and a PATCH whose body is
        # whole (``view.partial_patch = False``): document them as the view reads them.
        method = self.method
        if method in getattr(self.view, "request_body_methods", ()):
            self.method = "POST"
        elif method == "PATCH" and getattr(self.view, "partial_patch", True) is False:
            self.method = "PUT"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = method

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        # What the server takes, on the request side only (``COMPONENT_SPLIT_REQUEST``: request
        # bodies have components of their own, so responses are not held to input rules).
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or field.read_only:
            return schema
        if hasattr(field, "schema_update"):  # a field that knows what it takes (read from settings)
            field.schema_update(schema)
        elif isinstance(field, serializers.CharField) and "pattern" not in schema \
                and schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
            schema["pattern"] = _text_pattern(field)
        return schema


def _text_pattern(field: serializers.CharField) -> str:
    """What DRF's CharField takes: never a NUL character; when it may not be blank, at least
    one character that is not whitespace (it trims whitespace before checking). A field that
    may be blank gets ``oneOf: [this, empty]`` from drf-spectacular, so this one is non-empty."""
    if field.allow_blank or not field.trim_whitespace:
        return r"^[^\x00]+$"
    return r"^[^\x00]*[^\s\x00][^\x00]*$"
