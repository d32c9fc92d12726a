"""Benchmark: redaction suggestion throughput (messages/s) and latency per message (p50, p99).

    python bench/redaction.py --messages 2000

Messages are generated chat turns (20-60 words); every third carries identifiers (e-mail,
phone, SSN-shaped id, card, date, address, the patient's name). Measured warm, one
message at a time as the review page does it. Baseline in the same run: Presidio's
``AnalyzerEngine.analyze`` alone on the same messages (our suggest adds the patient's
identifiers, the deny list, digit-run splitting and a re-scan with found spans blanked).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("I have been feeling anxious about work and sleep lately and my family keeps asking how I am "
         "doing some days are better than others most evenings are hard I tried the breathing exercise "
         "you suggested and it helped a little").split()
PII = ["write to me at marigold.quist@mail.example.com", "call me on +44 20 7946 0123", "my SSN is 219-09-9999",
       "card 4111 1111 1111 1111", "I was born on 14 March 1985", "I live at 12 Oak Tree Road",
       "Marigold here", "ring (415) 555-0199 after six", "my phone is 07700 900456"]


def messages(n: int) -> list[str]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(20, 60))]
        if i % 3 == 0:
            words.insert(rng.randint(0, len(words)), rng.choice(PII))
        out.append(" ".join(words).capitalize() + ".")
    return out


def timed(fn, texts) -> list[float]:
    latencies = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        latencies.append(time.perf_counter() - started)
    return latencies


def summary(name: str, latencies: list[float]) -> float:
    total = sum(latencies)
    q = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / total
    print(f"{name:<34} {rate:8.0f} messages/s   p50 {q[49] * 1000:6.2f} ms   p99 {q[98] * 1000:6.2f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from clinicians import redaction

    started = time.perf_counter()
    engine = redaction.analyzer()
    print(f"analyzer load (once per process, lazily): {time.perf_counter() - started:.1f} s")
    texts = messages(args.messages)
    ids = redaction.Identifiers(names=("Marigold", "Quist", "mquist"), emails=("marigold.quist@mail.example.com",),
                                phones=("+44 7700 900456",), deny_terms=(("Riverside Clinic", "ADDRESS"),))
    timed(lambda t: redaction.suggest(t, ids), texts[:50])  # warm-up
    found = sum(len(redaction.suggest(t, ids)) for t in texts)
    base = summary("Presidio analyze alone (baseline)", timed(
        lambda t: engine.analyze(text=t, language="en", score_threshold=redaction.SCORE_THRESHOLD), texts))
    ours = summary("redaction.suggest (ours)", timed(lambda t: redaction.suggest(t, ids), texts))
    print(f"{len(texts)} messages, {found} suggestions; throughput ratio ours/baseline = {ours / base:.2f}x")


if __name__ == "__main__":
    main()
