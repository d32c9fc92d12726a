"""Server-added latency of one chat turn.

N turns through the REST API (POST /api/v1/conversations/{id}/messages/, full reply) and
through the streaming page endpoint (POST /conversations/{id}/stream/, SSE to the end),
against the same fake Groq upstream that the official ``groq`` client calls directly as the
baseline, in the same run. The web server is the production configuration (gunicorn +
one uvicorn worker, DEBUG=0) on the project's default database (SQLite, or DATABASE_URL).

    python bench/chat_overhead.py [--turns 200] [--database-url postgres://...]

Added latency = percentile(through the server) - percentile(direct). Goal: p50 <= 3 ms, p99 <= 15 ms.

Where it goes: the server runs with SERVER_TIMING=1 and reports, per turn, how long the
input safety screen took (``Server-Timing: screen;dur=MS``): the bench prints that, and the
added latency without it (each turn's duration minus its own screen time). The web worker's
CPU time per turn is read from /proc (all of its threads).
"""

from __future__ import annotations

import argparse
import time

from _harness import cpu_seconds, fake_upstream, patients, pct, prepare, server_env, summary, web_server


def direct_turns(fake_url: str, turns: int, *, stream: bool) -> list[float]:
    import groq

    client = groq.Groq(api_key="bench-key", base_url=fake_url, max_retries=0)
    latencies = []
    for i in range(turns):
        messages = [{"role": "system", "content": "You are a supportive assistant."},
                    {"role": "user", "content": f"I could not sleep again, night {i}."}]
        started = time.perf_counter()
        if stream:
            for _ in client.chat.completions.create(model="llama-3.1-8b-instant", messages=messages, stream=True):
                pass
        else:
            client.chat.completions.create(model="llama-3.1-8b-instant", messages=messages)
        latencies.append((time.perf_counter() - started) * 1000)
    client.close()
    return latencies


def _screen_ms(response) -> float:
    timing = response.headers.get("server-timing", "")
    return float(timing.split("screen;dur=", 1)[1].split(",")[0]) if "screen;dur=" in timing else 0.0


def api_turns(http, patient: dict, turns: int) -> tuple[list[float], list[float]]:
    """(duration of each turn, its input screen time), ms."""
    latencies, screens = [], []
    headers = {"Authorization": f"Token {patient['token']}"}
    url = f"/api/v1/conversations/{patient['conversation']}/messages/"
    for i in range(turns):
        started = time.perf_counter()
        response = http.post(url, json={"content": f"I could not sleep again, night {i}."}, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.text
        screens.append(_screen_ms(response))
    return latencies, screens


def stream_turns(http, patient: dict, turns: int) -> tuple[list[float], list[float]]:
    latencies, screens = [], []
    url = f"/conversations/{patient['conversation']}/stream/"
    headers = {"X-CSRFToken": patient["csrf"]}
    for i in range(turns):
        started = time.perf_counter()
        with http.stream("POST", url, data={"content": f"I could not sleep again, night {i}."}, headers=headers,
                         cookies=patient["cookies"]) as response:
            body = b"".join(response.iter_bytes())
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and b"event: done" in body, body[-300:]
        screens.append(_screen_ms(response))
    return latencies, screens


def measured(server, run) -> tuple[list[float], list[float], float]:
    """``run()``'s (durations, screen times) and the web server's CPU ms per turn."""
    cpu = cpu_seconds(server.pid)
    durations, screens = run()
    return durations, screens, (cpu_seconds(server.pid) - cpu) * 1000 / len(durations)


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    data_dir = prepare(args.database_url)
    api_patient, stream_patient = patients(2, prefix="overhead")
    from django.db import connection

    print(f"database: {connection.vendor}; turns per path: {args.turns}; data dir {data_dir}")
    with fake_upstream(ttft=0.0, tps=0.0) as fake_url:
        direct_turns(fake_url, 20, stream=False)  # warm-up
        direct = direct_turns(fake_url, args.turns, stream=False)
        direct_stream = direct_turns(fake_url, args.turns, stream=True)
        with web_server("asgi", server_env(fake_url, SERVER_TIMING="1"), data_dir, workers=1) as server:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                api_turns(http, api_patient, 10)  # warm-up: imports, connections, caches
                stream_turns(http, stream_patient, 10)
                api, api_screen, api_cpu = measured(server, lambda: api_turns(http, api_patient, args.turns))
                streamed, stream_screen, stream_cpu = measured(
                    server, lambda: stream_turns(http, stream_patient, args.turns))
                cpu = cpu_seconds(server.pid)
                probe = []
                for _ in range(args.turns):
                    started = time.perf_counter()
                    http.get("/healthz")
                    probe.append((time.perf_counter() - started) * 1000)
                probe_cpu = (cpu_seconds(server.pid) - cpu) * 1000 / args.turns

    print(f"direct groq client, JSON    : {summary(direct)}")
    print(f"direct groq client, stream  : {summary(direct_stream)}")
    print(f"REST API turn               : {summary(api)}  web worker CPU {api_cpu:.2f} ms/turn")
    print(f"streaming page turn         : {summary(streamed)}  web worker CPU {stream_cpu:.2f} ms/turn")
    print(f"GET /healthz (HTTP stack alone): {summary(probe)}  web worker CPU {probe_cpu:.2f} ms/request")
    print(f"input safety screen in the server (Server-Timing), API    : {summary(api_screen)}")
    print(f"input safety screen in the server (Server-Timing), stream : {summary(stream_screen)}")
    for name, through, screen, baseline in (("REST API", api, api_screen, direct),
                                            ("streaming page", streamed, stream_screen, direct_stream)):
        added50 = pct(through, 0.5) - pct(baseline, 0.5)
        added99 = pct(through, 0.99) - pct(baseline, 0.99)
        rest = [t - s for t, s in zip(through, screen, strict=True)]
        rest50 = pct(rest, 0.5) - pct(baseline, 0.5)
        rest99 = pct(rest, 0.99) - pct(baseline, 0.99)
        ratio = pct(through, 0.5) / pct(baseline, 0.5)
        print(f"{name:15s} server-added latency: p50 {added50:6.2f} ms  p99 {added99:6.2f} ms  "
              f"(goal p50 <= 3, p99 <= 15: {'met' if added50 <= 3 and added99 <= 15 else 'NOT met'}); "
              f"ratio to direct p50 {ratio:.1f}x")
        print(f"{'':15s}   of which the input screen p50 {pct(screen, 0.5):6.2f} ms; everything else: "
              f"p50 {rest50:6.2f} ms  p99 {rest99:6.2f} ms")


if __name__ == "__main__":
    main()
