"""Benchmark: ``export_dataset`` (the training-set selector) vs a raw DB-API cursor dump of
the same rows, on SQLite and PostgreSQL, in the same run.

    python bench/export.py --messages 1000000            # both databases
    python bench/export.py --messages 100000 --db sqlite

Generates N messages (conversations of 10, ~90% approved, ~90% of patients consenting,
one accepted redaction per 5 messages, a few excluded messages) into a fresh database,
then runs each measurement in its own subprocess so that peak memory growth (ru_maxrss
after minus RSS before the work) belongs to that measurement alone. Goals: export
throughput >= 0.5x the raw dump; export peak memory growth <= 50 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_URL = "postgres://postgres@127.0.0.1:5432/therapist_bench_export"
PER_CONVERSATION = 10
BATCH = 5000
WORDS = ("I have been feeling anxious about work and sleep lately, and my family keeps asking "
         "how I am doing. Some days are better than others, most evenings are hard.").split()


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def env_for(db: str, data_dir: str) -> dict:
    env = dict(os.environ, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS="localhost",
               DATA_DIR=data_dir, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="therapist_ai.settings")
    env.pop("DATABASE_URL", None)
    if db == "postgres":
        env["DATABASE_URL"] = PG_URL
    return env


# --- phases (each in its own process) ---------------------------------------------------------


def _setup():
    import django

    django.setup()


def phase_generate(n: int) -> dict:
    _setup()
    import random

    from django.contrib.auth.models import User
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from clinicians.models import MessageExclusion, Redaction, Review
    from conversations.models import Conversation, Message, PatientProfile

    rng = random.Random(7)
    started = time.perf_counter()
    now = timezone.now()
    n_conv = max(1, n // PER_CONVERSATION)
    n_patients = max(1, n_conv // 100)
    with transaction.atomic():
        users = User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(n_patients)],
                                         batch_size=BATCH)
        users = list(User.objects.filter(username__startswith="bench").order_by("id"))
        PatientProfile.objects.bulk_create(
            [PatientProfile(user=u, terms_accepted_at=now, training_consent=i % 10 != 0,
                            training_consent_changed_at=now) for i, u in enumerate(users)], batch_size=BATCH)
        Conversation.objects.bulk_create(
            [Conversation(patient=users[i % n_patients], title=f"c{i}") for i in range(n_conv)], batch_size=BATCH)
    conv_ids = list(Conversation.objects.order_by("id").values_list("id", flat=True))
    made = 0
    for start in range(0, len(conv_ids), BATCH // PER_CONVERSATION):
        batch = []
        for cid in conv_ids[start:start + BATCH // PER_CONVERSATION]:
            for k in range(PER_CONVERSATION):
                if made >= n:
                    break
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
                if made % 5 == 0:
                    text += f" write to me at user{made}@mail.example.com please"
                role = Message.Role.PATIENT if k % 2 == 0 else Message.Role.ASSISTANT
                batch.append(Message(conversation_id=cid, role=role, content=text, created_at=now))
                made += 1
        with transaction.atomic():
            Message.objects.bulk_create(batch, batch_size=BATCH)
    last = dict(Message.objects.values("conversation_id").annotate(m=Max("id")).values_list("conversation_id", "m"))
    with transaction.atomic():
        Review.objects.bulk_create(
            [Review(conversation_id=cid, status="approved", approved_through_message_id=last[cid], reviewed_at=now,
                    suggested_through_message_id=last[cid])
             if i % 10 != 3 else Review(conversation_id=cid, status="rejected", reason="bench")
             for i, cid in enumerate(conv_ids) if cid in last], batch_size=BATCH)
    spans, excluded = [], []
    rows = Message.objects.filter(content__contains="@").values_list("id", "conversation_id", "content")
    for mid, cid, content in rows.iterator(chunk_size=BATCH):
        s = content.index(" write to me at ") + len(" write to me at ")
        e = content.index(" please", s)
        spans.append(Redaction(message_id=mid, conversation_id=cid, start=s, end=e, label="EMAIL",
                               replacement="[EMAIL]", source="suggested", state="accepted", detector="EMAIL_ADDRESS"))
        if mid % 97 == 0:
            excluded.append(MessageExclusion(message_id=mid, conversation_id=cid))
        if len(spans) >= BATCH:
            Redaction.objects.bulk_create(spans)
            spans = []
    Redaction.objects.bulk_create(spans)
    MessageExclusion.objects.bulk_create(excluded)
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum would have done by now
        cursor.execute("ANALYZE")
    return {"messages": made, "conversations": len(conv_ids), "seconds": time.perf_counter() - started}


RAW_SQL = """
SELECT m.id, m.conversation_id, m.role, m.content
FROM conversations_message m
JOIN clinicians_review r ON r.conversation_id = m.conversation_id
JOIN conversations_conversation c ON c.id = m.conversation_id
JOIN conversations_patientprofile p ON p.user_id = c.patient_id
WHERE r.status = 'approved' AND p.training_consent AND m.id <= r.approved_through_message_id
ORDER BY m.conversation_id, m.id
"""


def phase_raw(out: str) -> dict:
    """The floor: one DB-API cursor, rows straight to JSON lines (no redaction, no grouping)."""
    _setup()
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    before = rss_mb()
    started = time.perf_counter()
    rows = 0
    if connection.vendor == "postgresql":
        # server-side, WITH HOLD in autocommit: constant memory, as Django does for .iterator()
        cursor = raw.cursor(name="bench_raw", withhold=True)
    else:
        cursor = raw.cursor()
    cursor.execute(RAW_SQL)
    with open(out, "w", encoding="utf-8") as fh:
        while chunk := cursor.fetchmany(2000):
            for row in chunk:
                fh.write(json.dumps(row, ensure_ascii=False))
                fh.write("\n")
            rows += len(chunk)
    cursor.close()
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "peak_growth_mb": peak_mb() - before}


def phase_export(out: str) -> dict:
    _setup()
    from django.core.management import call_command
    from django.db import connection

    connection.ensure_connection()
    from clinicians import training_set  # noqa: F401  (imports outside the measured window)

    before = rss_mb()
    started = time.perf_counter()
    call_command("export_dataset", "--out", out, stdout=open(os.devnull, "w"))  # noqa: SIM115
    seconds = time.perf_counter() - started
    messages = examples = 0
    with open(out, encoding="utf-8") as fh:
        for line in fh:
            examples += 1
            messages += len(json.loads(line)["message_ids"])
    return {"rows": messages, "examples": examples, "seconds": seconds, "peak_growth_mb": peak_mb() - before}


# --- driver --------------------------------------------------------------------------------------


def run_phase(env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"phase {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(db: str, n: int) -> dict:
    data_dir = tempfile.mkdtemp(prefix="bench-export-")
    env = env_for(db, data_dir)
    if db == "postgres":
        for sql in ("DROP DATABASE IF EXISTS therapist_bench_export", "CREATE DATABASE therapist_bench_export"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generated = run_phase(env, "generate", str(n))
    print(f"[{db}] generated {generated['messages']:,} messages in {generated['conversations']:,} conversations "
          f"({generated['seconds']:.0f} s)", flush=True)
    raw = run_phase(env, "raw", os.path.join(data_dir, "raw.jsonl"))
    export = run_phase(env, "export", os.path.join(data_dir, "export.jsonl"))
    return {"db": db, "raw": raw, "export": export}


def report(result: dict) -> None:
    raw, export = result["raw"], result["export"]
    raw_rate, export_rate = raw["rows"] / raw["seconds"], export["rows"] / export["seconds"]
    print(f"[{result['db']}] raw cursor dump : {raw['rows']:>9,} rows     in {raw['seconds']:6.1f} s = "
          f"{raw_rate:>9,.0f} rows/s, peak memory growth {raw['peak_growth_mb']:5.1f} MB")
    print(f"[{result['db']}] export_dataset  : {export['rows']:>9,} messages in {export['seconds']:6.1f} s = "
          f"{export_rate:>9,.0f} msgs/s, peak memory growth {export['peak_growth_mb']:5.1f} MB "
          f"({export['examples']:,} conversations)")
    ratio = export_rate / raw_rate
    print(f"[{result['db']}] throughput ratio export/raw = {ratio:.2f}x (goal >= 0.5x: "
          f"{'met' if ratio >= 0.5 else 'NOT met'}); memory goal <= 50 MB: "
          f"{'met' if export['peak_growth_mb'] <= 50 else 'NOT met'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        result = {"generate": lambda: phase_generate(int(rest[0])), "raw": lambda: phase_raw(rest[0]),
                  "export": lambda: phase_export(rest[0])}[name]()
        print(json.dumps(result))
        return
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        report(bench(db, args.messages))


if __name__ == "__main__":
    main()
