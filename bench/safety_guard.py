"""Time to the patient's first visible word with the safety guard model on and off.

    python bench/safety_guard.py [--turns 100] [--ttft 0.25] [--guard-delay 0.15]

The production web server (gunicorn + one uvicorn worker, DEBUG=0), streamed turns
(POST /conversations/{id}/stream/) against the same fake Groq upstream (its own process): the
chat model's first token after ``--ttft`` s, the guard model's answer after ``--guard-delay`` s.
Measured per turn: from the request to the first ``delta`` event (the first words the patient
sees). Guard off (``SAFETY_GUARD_MODEL`` unset), then on; the same ordinary messages (the
local screen says none, so the model is asked). Goal: the guard adds <= 50 ms at p50.
A second run with the guard slower than the chat model shows the wait it then imposes
(capped by ``SAFETY_GUARD_TIMEOUT``).
"""

from __future__ import annotations

import argparse
import time

from _harness import fake_upstream, patients, pct, prepare, server_env, web_server

GUARD = "meta-llama/llama-guard-4-12b"


def first_word_ms(http, patient: dict, turns: int) -> list[float]:
    url = f"/conversations/{patient['conversation']}/stream/"
    out = []
    for i in range(turns):
        started = time.perf_counter()
        first = None
        with http.stream("POST", url, data={"content": f"I could not sleep again, night {i}."},
                         headers={"X-CSRFToken": patient["csrf"]}, cookies=patient["cookies"]) as response:
            for chunk in response.iter_bytes():
                if first is None and b"event: delta" in chunk:
                    first = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and first is not None
        out.append(first)
    return out


def run(data_dir, fake_url: str, patient: dict, turns: int, guard: str) -> list[float]:
    import httpx

    env = server_env(fake_url, SAFETY_GUARD_MODEL=guard, SAFETY_GUARD_TIMEOUT="0.8")
    with web_server("asgi", env, data_dir, workers=1) as server, httpx.Client(base_url=server.base_url,
                                                                            timeout=30) as http:
        first_word_ms(http, patient, 5)  # warm-up: imports, the screening model, connections
        return first_word_ms(http, patient, turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--ttft", type=float, default=0.25, help="chat model: seconds to the first token")
    parser.add_argument("--guard-delay", type=float, default=0.15, help="guard model: seconds to its answer")
    args = parser.parse_args()
    data_dir = prepare()
    off_patient, on_patient, slow_patient = patients(3, prefix="guardbench")
    print(f"{args.turns} streamed turns each; chat model first token after {args.ttft * 1000:.0f} ms (60 tokens/s)")
    for guard_delay, label in ((args.guard_delay, "guard answers before the chat model's first token"),
                               (args.ttft + 0.15, "guard slower than the chat model's first token")):
        with fake_upstream(ttft=args.ttft, tps=60, guard_delay=guard_delay) as fake_url:
            off = run(data_dir, fake_url, off_patient, args.turns, "")
            on = run(data_dir, fake_url, on_patient if guard_delay == args.guard_delay else slow_patient,
                     args.turns, GUARD)
        added = pct(on, 0.5) - pct(off, 0.5)
        print(f"\n{label} (guard after {guard_delay * 1000:.0f} ms):")
        print(f"  guard off: first word p50 {pct(off, 0.5):7.1f} ms  p90 {pct(off, 0.9):7.1f} ms  p99 {pct(off, 0.99):7.1f} ms")
        print(f"  guard on : first word p50 {pct(on, 0.5):7.1f} ms  p90 {pct(on, 0.9):7.1f} ms  p99 {pct(on, 0.99):7.1f} ms")
        print(f"  added by the guard: p50 {added:+.1f} ms, p90 {pct(on, 0.9) - pct(off, 0.9):+.1f} ms "
              f"(goal +<= 50 ms at p50: {'met' if added <= 50 else 'NOT met'})")


if __name__ == "__main__":
    main()
