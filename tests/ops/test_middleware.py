"""Every middleware can run async: under ASGI no request is bounced through a sync thread."""

from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string


def test_every_middleware_is_async_capable():
    sync_only = [path for path in settings.MIDDLEWARE
                 if not getattr(import_string(path), "async_capable", False)]
    assert sync_only == [], "these force a sync thread hop on every ASGI request"


def test_static_files_are_served_by_the_async_static_middleware():
    import asyncio

    from django.test import AsyncClient

    async def fetch():
        response = await AsyncClient().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
        return response.status_code, response["Content-Type"]

    assert asyncio.run(fetch()) == (200, "text/css; charset=\"utf-8\"")


def test_static_files_are_served_to_sync_requests_too():
    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")



def _asgi_request(app, method: str, path: str, *, body: bytes = b"", headers=()) -> tuple[int, dict, bytes]:
    """One request through an ASGI application: (status, headers, body)."""
    import asyncio

    async def go():
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
                 "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode()),
                             *[(k.encode(), v.encode()) for k, v in headers]]}
        sent, received = [], asyncio.Event()

        async def receive():
            if not sent:
                sent.append(True)
                return {"type": "http.request", "body": body, "more_body": False}
            await received.wait()
            return {"type": "http.disconnect"}

        start, chunks = {}, []

        async def send(message):
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    received.set()

        await app(scope, receive, send)
        response_headers = {}
        for key, value in start["headers"]:
            response_headers.setdefault(key.decode().lower(), []).append(value.decode())
        return start["status"], response_headers, b"".join(chunks)

    return asyncio.run(go())


def test_the_asgi_handler_runs_no_middleware_hook_in_a_thread(monkeypatch, transactional_db):
    """Django's MiddlewareMixin runs each hook via sync_to_async under ASGI; the on-loop ones don't."""
    from django.utils import deprecation

    from therapist_ai.handlers import PooledThreadASGIHandler

    hops = []
    real = deprecation.sync_to_async

    def counting(func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(deprecation, "sync_to_async", counting)
    app = PooledThreadASGIHandler()
    loaded = _middleware_instances(app)
    assert len(loaded) == len(settings.MIDDLEWARE)
    assert {type(m).__module__ for m in loaded} == {
        "therapist_ai.middleware", "therapist_ai.on_loop_middleware", "axes.middleware"}
    # The seam with Django: the handler swaps the list only while it loads (a Django upgrade that
    # reads MIDDLEWARE elsewhere fails the module check above).
    assert "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE
    assert _asgi_request(app, "GET", "/healthz")[0] == 200
    assert _asgi_request(app, "GET", "/accounts/login/")[0] == 200
    assert hops == []
    app.threads.close()


def _middleware_instances(app) -> list:
    """The middleware instances of a loaded handler, outermost first."""
    instances, handler = [], app._middleware_chain
    while hasattr(handler, "__wrapped__"):  # convert_exception_to_response's wrapper
        handler = handler.__wrapped__
        if not hasattr(handler, "get_response"):
            break  # the view resolver at the bottom
        instances.append(handler)
        handler = handler.get_response
    return instances


def test_session_login_csrf_and_headers_work_with_the_on_loop_middleware(transactional_db, patient):
    import re

    from therapist_ai.handlers import PooledThreadASGIHandler

    app = PooledThreadASGIHandler()
    status, headers, body = _asgi_request(app, "GET", "/accounts/login/")
    cookie = next(c for c in headers["set-cookie"] if c.startswith("csrftoken="))
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    form = {"content-type": "application/x-www-form-urlencoded", "cookie": f"csrftoken={token}"}
    refused = _asgi_request(app, "POST", "/accounts/login/", headers=form.items(),
                            body=f"username={patient.username}&password=x".encode())
    logged_in = _asgi_request(app, "POST", "/accounts/login/", headers=form.items(),
                              body=f"username={patient.username}&password=Calm-harbour-2718"
                                   f"&csrfmiddlewaretoken={token}".encode())
    app.threads.close()

    assert status == 200 and headers["x-frame-options"] == ["DENY"]
    assert "content-security-policy" in headers and "x-content-type-options" in headers
    assert re.search(rb'name="csrfmiddlewaretoken"', body)
    assert refused[0] == 403  # a POST without the CSRF token
    assert logged_in[0] == 302 and any(c.startswith("sessionid=") for c in logged_in[1]["set-cookie"])
