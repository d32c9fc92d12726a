"""Project-wide middleware."""

from django.conf import settings
from django.http import JsonResponse


class RequestBodyLimitMiddleware:
    """Refuse request bodies over ``REQUEST_BODY_MAX_BYTES`` with 413 before any parsing.

    The declared Content-Length is checked first, so an oversize upload is rejected
    without reading it. Works for WSGI and ASGI requests alike.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_BODY_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body too large: {length} bytes, the limit is {limit} bytes."},
                status=413,
            )
        return self.get_response(request)
