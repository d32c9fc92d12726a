"""How many streamed chats one web process holds at once.

A fake Groq upstream that mimics Groq (about 100 ms to the first token, 560 tokens/s) in its
own process; C patients' chats start together through the streaming page endpoint
(POST /conversations/{id}/stream/, SSE to the end). C rises until the p99 added latency
(each chat's duration through the server minus the median of the same C streams taken
directly from the upstream with the async ``groq`` client, at the same level, same run)
exceeds 25 ms or any chat fails. One web worker = one core, so the last level that passed
is "concurrent streamed chats per core". The single-chat overhead (mostly the safety
screen) is reported too, with the level up to which concurrency adds <= 25 ms to it.
Two server configurations:

* production: gunicorn + 1 uvicorn worker (gunicorn.conf.py, as in the Procfile)
* plain sync gunicorn: 1 sync worker (therapist_ai.wsgi), on the REST API turn (the
  streaming page does not complete under WSGI)

    python bench/concurrency.py [--levels 1,10,25,50,100,200,300,400] [--database-url ...]

Goal: >= 300 concurrent streamed chats per core, 0 errors.

Each level also reports the web worker's CPU time per chat (all its threads, from /proc),
and the end the ceiling that sets: a core spends that much per chat, so it can hold at
most (chat duration / CPU per chat) chats at once, however they are spread over time.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _harness import cpu_seconds, fake_upstream, patients, pct, prepare, server_env, web_server

THRESHOLD_MS = 25.0


async def direct_streams(fake_url: str, count: int, *, stream: bool = True) -> list[float]:
    import groq

    client = groq.AsyncGroq(api_key="bench-key", base_url=fake_url, max_retries=0, timeout=120)

    async def one(i: int) -> float:
        started = time.perf_counter()
        response = await client.chat.completions.create(
            model="llama-3.1-8b-instant", stream=stream,
            messages=[{"role": "user", "content": f"I feel anxious before work, day {i}."}])
        if stream:
            async for _ in response:
                pass
        return (time.perf_counter() - started) * 1000

    try:
        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await client.close()


async def server_api_turns(base_url: str, patient: dict, conversations: list[int], count: int):
    """Full (non-streamed) turns through the REST API: the chat path a WSGI server can serve."""
    import httpx

    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    headers = {"Authorization": f"Token {patient['token']}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits, headers=headers) as http:

        async def one(i: int):
            started = time.perf_counter()
            try:
                response = await http.post(f"/api/v1/conversations/{conversations[i]}/messages/",
                                           json={"content": f"I feel anxious before work, day {i}."})
            except httpx.HTTPError as exc:
                return None, f"{type(exc).__name__}"
            if response.status_code != 201:
                return None, f"HTTP {response.status_code}: {response.text[-120:]}"
            return (time.perf_counter() - started) * 1000, None

        results = await asyncio.gather(*(one(i) for i in range(count)))
    return [d for d, _ in results if d is not None], [e for _, e in results if e is not None]


async def server_streams(base_url: str, patient: dict, conversations: list[int], count: int):
    import httpx

    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits, cookies=patient["cookies"]) as http:

        async def one(i: int):
            started = time.perf_counter()
            try:
                async with http.stream("POST", f"/conversations/{conversations[i]}/stream/",
                                       data={"content": f"I feel anxious before work, day {i}."},
                                       headers={"X-CSRFToken": patient["csrf"]}) as response:
                    body = b"".join([chunk async for chunk in response.aiter_bytes()])
            except httpx.HTTPError as exc:
                return None, f"{type(exc).__name__}"
            if response.status_code != 200 or b"event: done" not in body:
                return None, f"HTTP {response.status_code}: {body[-120:]!r}"
            return (time.perf_counter() - started) * 1000, None

        results = await asyncio.gather(*(one(i) for i in range(count)))
    durations = [d for d, _ in results if d is not None]
    errors = [e for _, e in results if e is not None]
    return durations, errors


def ladder(kind: str, path: str, levels: list[int], fake_url: str, data_dir, patient: dict,
           conversations: list[int], samples: int = 30) -> tuple[int, int, float, float]:
    """Returns (last level within 25 ms p99 added, last level within 25 ms of the C=1 overhead,
    web worker CPU ms per chat, median chat duration through the server in ms), the last two
    over all levels run."""
    chats = server_streams if path == "stream" else server_api_turns
    env = server_env(fake_url)
    strict = relative = 0
    floor = None
    cpu_ms, chat_count, durations = 0.0, 0, []
    with web_server(kind, env, data_dir, workers=1) as server:
        asyncio.run(chats(server.base_url, patient, conversations, 2))  # warm-up
        for level in levels:
            # Enough rounds for a p99 to mean something; direct and through alternate per round.
            direct, through, errors, level_cpu = [], [], [], 0.0
            for _ in range(max(2, -(-samples // level))):
                direct += asyncio.run(direct_streams(fake_url, level, stream=path == "stream"))
                cpu = cpu_seconds(server.pid)
                ok_chats, failed = asyncio.run(chats(server.base_url, patient, conversations, level))
                level_cpu += (cpu_seconds(server.pid) - cpu) * 1000
                through += ok_chats
                errors += failed
            cpu_ms, chat_count, durations = cpu_ms + level_cpu, chat_count + len(through) + len(errors), durations + through
            # Each chat's duration minus the direct median at this level: what the server added.
            added = [t - pct(direct, 0.5) for t in through]
            added50, added99 = (pct(added, 0.5), pct(added, 0.99)) if added else (float("nan"),) * 2
            floor = added99 if floor is None else floor
            if not errors and added99 <= THRESHOLD_MS:
                strict = level
            within = not errors and added99 - floor <= THRESHOLD_MS
            print(f"  {kind:5s} {path:6s} C={level:4d}: direct p50 {pct(direct, .5):7.1f} p99 {pct(direct, .99):7.1f} ms"
                  f" | through server p50 {pct(through, .5):7.1f} p99 {pct(through, .99):7.1f} ms"
                  f" | added p50 {added50:7.1f} p99 {added99:7.1f} ms | errors {len(errors)}"
                  f" | worker CPU {level_cpu / max(1, len(through) + len(errors)):5.1f} ms/chat"
                  f"{'' if within else '  <- limit'}", flush=True)
            if errors:
                print(f"        first error: {errors[0]}")
            if not within:
                break
            relative = level
    return strict, relative, cpu_ms / max(1, chat_count), pct(durations, 0.5)


def hold(count: int, fake_url: str, data_dir, patient: dict, conversations: list[int]) -> None:
    """Past the latency limit: does one production worker still finish every chat?"""
    with web_server("asgi", server_env(fake_url), data_dir, workers=1) as server:
        asyncio.run(server_streams(server.base_url, patient, conversations, 2))  # warm-up
        cpu = cpu_seconds(server.pid)
        started = time.perf_counter()
        through, errors = asyncio.run(server_streams(server.base_url, patient, conversations, count))
        wall = time.perf_counter() - started
        cpu_ms = (cpu_seconds(server.pid) - cpu) * 1000 / count
    print(f"  asgi  stream C={count:4d} at once: {len(through)} completed, {len(errors)} errors, "
          f"duration p50 {pct(through, .5):.0f} ms p99 {pct(through, .99):.0f} ms, all done in {wall:.1f} s, "
          f"worker CPU {cpu_ms:.1f} ms/chat{'' if not errors else '; first error: ' + errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,5,10,25,50,100,200,300,400")
    parser.add_argument("--sync-levels", default="1,2,5,10")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--samples", type=int, default=30, help="chats per level at least (in rounds of C)")
    parser.add_argument("--hold", type=int, default=100,
                        help="then start this many streamed chats at once: errors and durations")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    sync_levels = [int(x) for x in args.sync_levels.split(",")]
    data_dir = prepare(args.database_url)
    [patient] = patients(1, prefix="concurrency")
    from conversations.services.chat import conversation_create

    conversations = [conversation_create(patient=patient["user"]).pk
                     for _ in range(max(levels + sync_levels + [args.hold]))]
    print(f"fake upstream: first token 100 ms, 560 tokens/s; one web worker per configuration; "
          f"limit: p99 added > {THRESHOLD_MS:.0f} ms or any error")
    with fake_upstream(ttft=0.1, tps=560) as fake_url:
        asgi = ladder("asgi", "stream", levels, fake_url, data_dir, patient, conversations, args.samples)
        # The streaming page needs an ASGI server; under WSGI only its first event arrives,
        # so the sync configuration is measured on the REST API's full-reply turn.
        wsgi = ladder("wsgi", "api", sync_levels, fake_url, data_dir, patient, conversations, args.samples)
        if args.hold:
            hold(args.hold, fake_url, data_dir, patient, conversations)
    print(f"concurrent chats per core, p99 added <= {THRESHOLD_MS:.0f} ms: production (streamed) {asgi[0]}, "
          f"plain sync gunicorn (API) {wsgi[0]} (goal >= 300 streamed: {'met' if asgi[0] >= 300 else 'NOT met'})")
    print(f"concurrent chats per core, p99 added within {THRESHOLD_MS:.0f} ms of the single-chat overhead: "
          f"production (streamed) {asgi[1]}, plain sync gunicorn (API) {wsgi[1]}; "
          f"ratio {asgi[1] / max(wsgi[1], 1):.1f}x")
    for name, (_, _, cpu_ms, duration) in (("production (streamed)", asgi), ("plain sync gunicorn (API)", wsgi)):
        print(f"CPU ceiling, {name}: {cpu_ms:.1f} ms of web worker CPU per chat -> at most "
              f"{1000 / cpu_ms:.0f} chats/s per core; with chats of {duration:.0f} ms that is at most "
              f"{duration / cpu_ms:.0f} chats in flight per core at 100% CPU")


if __name__ == "__main__":
    main()
