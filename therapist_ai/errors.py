"""Error pages: JSON under ``/api/`` (the shape the API documents, ``{"detail": ...}``), the
site's HTML pages elsewhere. DRF answers errors inside its views; these answer the rest: a URL
that matches no route (``/api/v1/conversations/x/``), a bad request or a crash outside a view."""

from django.http import JsonResponse
from django.views import defaults


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    if _api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
