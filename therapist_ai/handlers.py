"""Django's ASGI handler, with the request's sync thread lent from a pool instead of made anew.

Under ASGI, Django runs each request's sync code (sync views, the ORM) in a thread of its
own: ``ThreadSensitiveContext`` makes a one-thread executor per request, and a second
thread to join it at the end. That is two thread starts per request, and with them a new
database connection, since connections belong to threads: about 0.7 ms of CPU for every
request on SQLite, before any work. Here the executor is taken from a pool of long-lived
one-thread executors and given back when the request ends, so its thread and its database
connection (kept for ``CONN_MAX_AGE``) serve the next request.

Semantics are Django's: one request, one thread for all of its sync code; requests never
share a thread while they run (the pool grows as needed; only idle executors are kept).
A task a request started and left running (a streamed reply still being generated after
the patient left) gets a fresh executor for its later calls, as it would without the pool.

The handler also loads the on-loop middleware (``therapist_ai.on_loop_middleware.ON_LOOP``) in place
of Django's, so that a request's only thread hops are its sync view and Django's own
request-started/finished signals.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from therapist_ai.on_loop_middleware import ON_LOOP

# Idle executors kept for the next requests; more are made when more requests run at once.
IDLE_THREADS = 64


class RequestThreads:
    """A stack of idle one-thread executors (thread-safe)."""

    def __init__(self, idle_max: int = IDLE_THREADS):
        self.idle_max = idle_max
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.idle_max:
                self._idle.append(executor)
                return
        # Surplus after a burst: close its connection in its own thread, then let it end.
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.submit(connections.close_all)
            executor.shutdown(wait=True)


class PooledThreadContext(ThreadSensitiveContext):
    """``ThreadSensitiveContext`` whose executor is lent by ``RequestThreads``."""

    def __init__(self, threads: RequestThreads):
        super().__init__()
        self._threads = threads
        self._lent: ThreadPoolExecutor | None = None

    async def __aenter__(self):
        await super().__aenter__()
        if self.token is not None:  # the outermost context: this request's own
            self._lent = self._threads.acquire()
            SyncToAsync.context_to_thread_executor[self] = self._lent
        return self

    async def __aexit__(self, exc, value, tb):
        lent, self._lent = self._lent, None
        if lent is not None and SyncToAsync.context_to_thread_executor.get(self) is lent:
            # Take it back before asgiref's exit, which would shut it down.
            del SyncToAsync.context_to_thread_executor[self]
            self._threads.release(lent)
        await super().__aexit__(exc, value, tb)


class PooledThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` lending each request a pooled thread (see the module docstring), with
    the on-loop middleware of ``therapist_ai.on_loop_middleware.ON_LOOP`` in place of Django's."""

    def __init__(self, threads: RequestThreads | None = None):
        self.threads = threads or RequestThreads()
        super().__init__()

    def load_middleware(self, is_async=False):
        configured = settings.MIDDLEWARE
        # Django's loader reads the setting; it stays Django's for everyone else (checks).
        settings.MIDDLEWARE = [ON_LOOP.get(path, path) for path in configured]
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = configured

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with PooledThreadContext(self.threads):
            await self.handle(scope, receive, send)

