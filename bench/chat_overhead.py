"""Server-added latency of one chat turn.

N turns through the REST API (POST /api/v1/conversations/{id}/messages/, full reply) and
through the streaming page endpoint (POST /conversations/{id}/stream/, SSE to the end),
against the same fake Groq upstream that the official ``groq`` client calls directly as the
baseline, in the same run. The web server is the production configuration (gunicorn +
one uvicorn worker, DEBUG=0) on the project's default database (SQLite, or DATABASE_URL).

    python bench/chat_overhead.py [--turns 200] [--database-url postgres://...]

Added latency = percentile(through the server) - percentile(direct). Goal: p50 <= 3 ms, p99 <= 15 ms.
"""

from __future__ import annotations

import argparse
import time

from _harness import fake_upstream, patients, pct, prepare, server_env, summary, web_server


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


def api_turns(http, patient: dict, turns: int) -> list[float]:
    latencies = []
    headers = {"Authorization": f"Token {patient['token']}"}
    url = f"/api/v1/conversations/{patient['conversation']}/messages/"
    for i in range(turns):
        started = time.perf_counter()
        response = http.post(url, json={"content": f"I could not sleep again, night {i}."}, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.text
    return latencies


def stream_turns(http, patient: dict, turns: int) -> list[float]:
    latencies = []
    url = f"/conversations/{patient['conversation']}/stream/"
    headers = {"X-CSRFToken": patient["csrf"]}
    for i in range(turns):
        started = time.perf_counter()
        with http.stream("POST", url, data={"content": f"I could not sleep again, night {i}."}, headers=headers,
                         cookies=patient["cookies"]) as response:
            body = b"".join(response.iter_bytes())
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and b"event: done" in body, body[-300:]
    return latencies


def safety_screen_cost(turns: int) -> list[float]:
    """What the input and output screens (MiniLM forward passes) cost per turn, measured alone."""
    from conversations.fake_groq import reply_for
    from conversations.safety.screening import screen_input, screen_output

    costs = []
    for i in range(turns):
        text = f"I could not sleep again, night {i}."
        started = time.perf_counter()
        screen_input(text)
        screen_output(reply_for(text))
        costs.append((time.perf_counter() - started) * 1000)
    return costs


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
        with web_server("asgi", server_env(fake_url), data_dir, workers=1) as server:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                api_turns(http, api_patient, 10)  # warm-up: imports, connections, caches
                stream_turns(http, stream_patient, 10)
                api = api_turns(http, api_patient, args.turns)
                streamed = stream_turns(http, stream_patient, args.turns)
                probe = []
                for _ in range(args.turns):
                    started = time.perf_counter()
                    http.get("/healthz")
                    probe.append((time.perf_counter() - started) * 1000)

    print(f"direct groq client, JSON    : {summary(direct)}")
    print(f"direct groq client, stream  : {summary(direct_stream)}")
    print(f"REST API turn               : {summary(api)}")
    print(f"streaming page turn         : {summary(streamed)}")
    print(f"GET /healthz (HTTP stack alone): {summary(probe)}")
    safety = safety_screen_cost(args.turns)
    print(f"of which the safety screens (screen_input + screen_output, in-process): {summary(safety)}")
    for name, through, baseline in (("REST API", api, direct), ("streaming page", streamed, direct_stream)):
        added50 = pct(through, 0.5) - pct(baseline, 0.5)
        added99 = pct(through, 0.99) - pct(baseline, 0.99)
        ratio = pct(through, 0.5) / pct(baseline, 0.5)
        print(f"{name:15s} server-added latency: p50 {added50:6.2f} ms  p99 {added99:6.2f} ms  "
              f"(goal p50 <= 3, p99 <= 15: {'met' if added50 <= 3 and added99 <= 15 else 'NOT met'}); "
              f"ratio to direct p50 {ratio:.1f}x")


if __name__ == "__main__":
    main()
