"""The ASGI handler lends each request a pooled thread (and its database connection)."""

import asyncio
import threading

from asgiref.sync import sync_to_async

from therapist_ai.handlers import PooledThreadContext, RequestThreads


def _thread_of_sync_code():
    return threading.get_ident()


async def _request(threads: RequestThreads, pause: float = 0.0) -> set[int]:
    """What one request sees: the threads its sync calls ran on."""
    async with PooledThreadContext(threads):
        first = await sync_to_async(_thread_of_sync_code)()
        await asyncio.sleep(pause)
        second = await sync_to_async(_thread_of_sync_code)()
    return {first, second}


def test_a_request_runs_all_its_sync_code_on_one_thread_reused_by_the_next_request():
    threads = RequestThreads()

    async def go():
        return await _request(threads), await _request(threads)

    first, second = asyncio.run(go())
    threads.close()
    assert len(first) == 1 and first == second


def test_requests_running_at_once_never_share_a_thread():
    threads = RequestThreads(idle_max=2)

    async def go():
        return await asyncio.gather(*(_request(threads, pause=0.05) for _ in range(5)))

    seen = asyncio.run(go())
    threads.close()
    assert all(len(s) == 1 for s in seen)
    assert len(set.union(*seen)) == 5


def test_a_task_that_outlives_its_request_still_runs_its_sync_calls():
    threads = RequestThreads()

    async def go():
        later = asyncio.Event()

        async def request():
            async with PooledThreadContext(threads):
                task = asyncio.create_task(_after(later))
            return task

        async def _after(event):
            await event.wait()
            return await sync_to_async(_thread_of_sync_code)()

        task = await request()
        later.set()
        return await task

    assert isinstance(asyncio.run(go()), int)
    threads.close()


def test_the_asgiref_internals_the_pooled_handler_relies_on_are_still_there():
    """The seam with asgiref (therapist_ai/handlers.py): ``SyncToAsync.context_to_thread_executor``
    maps a ``ThreadSensitiveContext`` to its executor, and the outermost context sets ``token``.
    If an asgiref upgrade changes either, this fails before requests silently lose the pool."""
    from collections.abc import MutableMapping

    from asgiref.sync import SyncToAsync, ThreadSensitiveContext

    assert isinstance(SyncToAsync.context_to_thread_executor, MutableMapping)

    async def go():
        async with ThreadSensitiveContext() as context:
            return context.token is not None

    assert asyncio.run(go())
