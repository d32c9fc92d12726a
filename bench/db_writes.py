"""Chat-turn database writes under 100 concurrent patients.

A turn's writes are exactly what ``message_send`` commits, without the model and the
safety screen: the patient message (idempotency-key check, insert, conversation touch)
in one transaction, the history read for the prompt, then the assistant reply and the
conversation touch in another (``conversations.services.turns.patient_message_store`` and
``_reply_store``, called directly). 100 patients, one thread each, spread over worker
processes, all released together; each does turns until the time is up.

Three databases, same run:
* default SQLite: Django's defaults (rollback journal, DEFERRED transactions, 5 s timeout)
* project SQLite: this project's settings (WAL, IMMEDIATE transactions, busy timeout 30 s)
* PostgreSQL: DATABASE_URL with psycopg's pool (skipped if --postgres-url is empty)

    python bench/db_writes.py [--seconds 5] [--patients 100] [--procs 2]
        [--postgres-url postgres://postgres@127.0.0.1:5432/therapist_bench]

Goal: >= 1,000 turns/s, 0 lock errors.

Also printed: the worker processes' CPU time per turn (all their threads, measured from the
release to the end; the database server's own CPU is not in it). On shared cores the rate
moves with everyone else's load; the CPU per turn moves much less.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _environment(kind: str, data_dir: str, postgres_url: str) -> dict[str, str]:
    env = dict(os.environ, DEBUG="0", SECRET_KEY="bench-" + "x" * 60, ALLOWED_HOSTS="localhost",
               DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="therapist_ai.settings", LOG_LEVEL="WARNING",
               BENCH_SQLITE_DEFAULTS="1" if kind == "default SQLite" else "0")
    env.pop("DATABASE_URL", None)
    if kind == "PostgreSQL":
        env["DATABASE_URL"] = postgres_url
        env["DB_POOL_MAX_SIZE"] = "60"
    return env


def _django_setup() -> None:
    from django.conf import settings

    if os.environ.get("BENCH_SQLITE_DEFAULTS") == "1":
        settings.DATABASES["default"]["OPTIONS"] = {}  # Django's own SQLite defaults
    import django

    django.setup()


def _worker(conversation_ids: list[int], seconds: float, start_at: float, results) -> None:
    _django_setup()
    from django.db import connections

    from conversations.models import Conversation
    from conversations.services import turns

    done, errors = [0], []
    lock = threading.Lock()

    def patient(conversation_id: int) -> None:
        conversation = Conversation.objects.get(pk=conversation_id)
        time.sleep(max(0.0, start_at - time.time()))
        n = 0
        while time.time() < start_at + seconds:
            n += 1
            try:
                message, _ = turns.patient_message_store(conversation, f"turn {n}", f"{conversation_id}-{n}")
                list(conversation.messages.order_by("-created_at", "-id").values("role", "content")[:20])
                turns.reply_store(patient_message=message, content=f"reply {n}", provider="groq",
                                      model_name="llama-3.1-8b-instant", latency_ms=5)
                with lock:
                    done[0] += 1
            except Exception as exc:  # count, never hide: lock errors are what we look for
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
        connections.close_all()

    threads = [threading.Thread(target=patient, args=(cid,)) for cid in conversation_ids]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    for thread in threads:
        thread.join()
    results.put((done[0], errors, time.process_time() - cpu))


def run(kind: str, *, patients: int, procs: int, seconds: float, postgres_url: str
        ) -> tuple[float, int, list, float]:
    data_dir = tempfile.mkdtemp(prefix="therapist-dbbench-")
    env = _environment(kind, data_dir, postgres_url)
    if kind == "PostgreSQL":
        base, name = postgres_url.rsplit("/", 1)
        subprocess.run(["psql", f"{base}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}", "-c",
                        f"CREATE DATABASE {name}"], check=True, capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    os.environ.clear()
    os.environ.update(env)
    _django_setup()
    from django.contrib.auth.models import User
    from django.db import connections

    from conversations.models import Conversation

    users = User.objects.bulk_create([User(username=f"dbbench{i}") for i in range(patients)])
    ids = [c.pk for c in Conversation.objects.bulk_create([Conversation(patient=u, title="t") for u in users])]
    connections.close_all()

    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited connections
    results = ctx.Queue()
    start_at = time.time() + 4.0
    workers = [ctx.Process(target=_worker, args=(ids[i::procs], seconds, start_at, results)) for i in range(procs)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    turns = sum(done for done, _, _ in outcomes)
    errors = [e for _, errs, _ in outcomes for e in errs]
    cpu_ms = sum(cpu for _, _, cpu in outcomes) * 1000 / max(1, turns)
    _verify(turns)
    return turns / seconds, turns, errors, cpu_ms


def _verify(turns: int) -> None:
    from conversations.models import Message

    patient_messages = Message.objects.filter(role="patient").count()
    replies = Message.objects.filter(role="assistant").count()
    assert patient_messages >= turns and replies >= turns, (patient_messages, replies, turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/therapist_bench_writes")
    args = parser.parse_args()
    kinds = ["default SQLite", "project SQLite"] + (["PostgreSQL"] if args.postgres_url else [])
    print(f"{args.patients} patients (threads) in {args.procs} processes, {args.seconds:.0f} s per database")
    figures = {}
    for kind in kinds:
        # Each database in its own interpreter: Django's settings are per process.
        done = subprocess.run([sys.executable, __file__, "--one", kind, "--seconds", str(args.seconds),
                               "--patients", str(args.patients), "--procs", str(args.procs),
                               "--postgres-url", args.postgres_url], capture_output=True, text=True)
        line = (done.stdout.strip().splitlines() or ["nan 0 0 0 -"])[-1]
        if done.returncode != 0:
            print(f"  {kind}: FAILED\n{done.stderr[-1500:]}")
            continue
        rate, turns, errors, cpu_ms, first = line.split(" ", 4)
        figures[kind] = float(rate)
        print(f"  {kind:15s}: {float(rate):8.1f} turns/s  ({turns} turns, {errors} errors"
              f"{'' if first == '-' else ': ' + first}); Python CPU {float(cpu_ms):.2f} ms/turn")
    base = figures.get("default SQLite")
    if base:
        for kind, rate in figures.items():
            print(f"  ratio {kind} / default SQLite: {rate / base:.2f}x")


if __name__ == "__main__":
    if "--one" in sys.argv:
        i = sys.argv.index("--one")
        kind = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        parser = argparse.ArgumentParser()
        parser.add_argument("--seconds", type=float)
        parser.add_argument("--patients", type=int)
        parser.add_argument("--procs", type=int)
        parser.add_argument("--postgres-url")
        a = parser.parse_args()
        rate, turns, errors, cpu_ms = run(kind, patients=a.patients, procs=a.procs, seconds=a.seconds,
                                          postgres_url=a.postgres_url)
        first = errors[0].replace("\n", " ")[:150] if errors else "-"
        print(f"{rate:.1f} {turns} {len(errors)} {cpu_ms:.3f} {first}")
    else:
        main()
