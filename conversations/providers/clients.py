"""SDK clients kept per process: one async client per (event loop, options), one blocking client
per options. An httpx client is bound to the loop it first ran on and breaks once that loop
is closed, so async clients are keyed by loop and entries for closed loops are dropped."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any


class ClientCache:
    def __init__(self, make_async: Callable[[dict], Any], make_sync: Callable[[dict], Any]):
        self._make_async, self._make_sync = make_async, make_sync
        self._lock = threading.Lock()
        self._async: dict[tuple, tuple[weakref.ref, Any]] = {}
        self._sync: dict[Hashable, Any] = {}  # blocking clients are thread-safe

    def async_client(self, key: tuple, options: dict) -> Any:
        loop = asyncio.get_running_loop()
        loop_key = (id(loop), *key)
        with self._lock:
            cached = self._async.get(loop_key)
            if cached is not None and cached[0]() is loop and not loop.is_closed():
                return cached[1]
            for stale in [k for k, (ref, _) in self._async.items() if ref() is None or ref().is_closed()]:
                del self._async[stale]
            client = self._make_async(options)
            self._async[loop_key] = (weakref.ref(loop), client)
            return client

    def sync_client(self, key: tuple, options: dict) -> Any:
        with self._lock:
            client = self._sync.get(key)
            if client is None:
                client = self._sync[key] = self._make_sync(options)
            return client

    def clear(self) -> None:
        with self._lock:
            self._async.clear()
            self._sync.clear()
