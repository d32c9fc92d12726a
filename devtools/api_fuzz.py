"""Schemathesis against the real server, once per role: ``python -m devtools.api_fuzz``.

One fresh SQLite database under a temporary DATA_DIR is migrated and seeded (one user per role
with an API token, made through the real services; transcripts, a safety flag, a model version
and its run, a shadow reply); each role (patient, clinician, staff, anonymous) then gets its own
copy, so what one role's run writes or deletes (``DELETE /api/v1/me/`` erases the patient)
never changes another's. For each role the production web server (gunicorn with uvicorn
workers, ``DEBUG=0``) starts on a free port, and ``schemathesis run --checks all`` runs against
``/api/v1/schema/`` with that role's token (none for anonymous), a bounded number of examples
per operation, a fixed seed (the same cases every run), and the seeded ids half of the time
(so it gets past "not found" into approve, promote, handle...). The fake Groq upstream answers
chat turns. Exit status 1 when any role has a failure, a 5xx (``not_a_server_error``) or a
traceback in the server's log; the temporary folder (logs, JUnit reports, databases) is kept then.

Options: ``--roles patient,staff``, ``--max-examples N`` (default 8, ``API_FUZZ_MAX_EXAMPLES``),
``--seed N`` (``API_FUZZ_SEED``), ``--keep``. SQLite only (what is checked is the HTTP surface).
About a minute a role on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("patient", "clinician", "staff", "anonymous")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


# --- the seeded world (runs inside Django, in a subprocess) -----------------------------------


def seed() -> dict:
    """One user per role with a token, and a little of everything the API shows."""
    import django

    django.setup()
    from django.conf import settings
    from rest_framework.authtoken.models import Token

    from conversations.models import Message
    from conversations.safety.models import SafetyFlag
    from devtools.factories import make_model_version, make_patient, make_staff_member, make_transcript
    from therapist_ai.roles import CLINICIANS, STAFF
    from training import storage
    from training.models import ShadowReply

    users = {"patient": make_patient("fuzz_patient"), "clinician": make_staff_member("fuzz_clinician", CLINICIANS),
             "staff": make_staff_member("fuzz_staff", STAFF)}
    other = make_patient("fuzz_other_patient", consent=False)
    mine = make_transcript(users["patient"], [("I have been sleeping badly.", "That sounds hard. What keeps you up?"),
                                              ("Work, mostly.", "Work worries can follow us to bed.")])
    make_transcript(other, [("I feel anxious before meetings.", "Many people do. What helps you?")])
    crisis = make_transcript(other, [("I want to end my life.", None)], crisis_at=0)
    said = crisis.messages.get(role=Message.Role.PATIENT)
    SafetyFlag.objects.create(conversation=crisis, message=said, level="crisis", categories=["self_harm"],
                              reason="seeded for the API fuzz run")

    staging = storage.staging_dir_create(Path(settings.MODEL_STORAGE_DIR), run_id=1)
    (staging / "adapter_model.safetensors").write_bytes(b"weights")
    storage.manifest_write(staging, description={"base_model": "tiny"})
    version = make_model_version(storage.version_publish(staging, storage_dir=Path(settings.MODEL_STORAGE_DIR),
                                                          name="model_20260401_000001"),
                                 conversation_ids=[mine.pk])
    reply = mine.messages.filter(role=Message.Role.ASSISTANT).first()
    ShadowReply.objects.create(patient_message=reply.reply_to, hosted_reply=reply, version=version,
                               content="A shadow answer.")
    tokens = {role: Token.objects.create(user=user).key for role, user in users.items()}
    return {"tokens": tokens, "transcript": mine.pk,
            "ids": sorted({mine.pk, crisis.pk, version.pk, version.run_id, 1}),
            "message_ids": list(Message.objects.order_by("pk").values_list("pk", flat=True))}


# --- the driver ----------------------------------------------------------------------------


def _env(data_dir: Path, database: Path, groq_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "therapist_ai.settings", "PYTHONUNBUFFERED": "1",
        "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(40), "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0",
        "DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite:///{database}",
        "MODEL_STORAGE_DIR": str(data_dir / "trained_models"), "STATIC_ROOT": str(data_dir / "static"),
        "GROQ_API_KEY": "fuzz", "GROQ_BASE_URL": f"http://127.0.0.1:{groq_port}",
        "INFERENCE_URL": "http://127.0.0.1:9/v1",  # nothing listens: a promotion is refused, quickly
        "ENABLE_AUTO_TRAINING": "0", "WEB_CONCURRENCY": "1", "WEB_ACCESS_LOG": "0", "WEB_LOG_LEVEL": "warning",
    })
    return env


def _run(args: list[str], env: dict, log: Path, **kwargs) -> subprocess.CompletedProcess:
    with open(log, "ab") as out:
        return subprocess.run(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, **kwargs)


def _prepare(work: Path, groq_port: int) -> tuple[Path, dict]:
    """Migrate and seed one database; returns it and what ``seed`` made (tokens, ids)."""
    template = work / "template.sqlite3"
    env = _env(work, template, groq_port)
    log = work / "prepare.log"
    for args in (["manage.py", "migrate", "--noinput"], ["manage.py", "setup_roles"],
                 ["manage.py", "collectstatic", "--noinput", "--verbosity", "0"]):
        if _run([sys.executable, *args], env, log).returncode:
            raise SystemExit(f"api_fuzz: {' '.join(args)} failed; see {log}")
    done = subprocess.run([sys.executable, "-m", "devtools.api_fuzz", "--seed-only"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"api_fuzz: seeding failed:\n{done.stdout}\n{done.stderr}")
    return template, json.loads(done.stdout.strip().splitlines()[-1])


def _warm_up(base: str, world: dict, token: str | None) -> None:
    """Scan a transcript once: a clinician's first scan loads the redaction engine (seconds, once
    per process, by design), which is not what the response-time check is about. (It leaves
    suggestions to accept and dismiss.)"""
    headers = {"Authorization": f"Token {token}"} if token else {}
    httpx.post(f"{base}/api/v1/transcripts/{world['transcript']}/suggest/", headers=headers, timeout=60)


def _config(world: dict, path: Path) -> Path:
    """Half the time, ids that exist (the seeded objects), so the run reaches past "not found"
    into the state checks (approve, promote, handle...); the other half, generated ones."""
    ids, message_ids = [str(i) for i in world["ids"]], [str(i) for i in world["message_ids"]]
    path.write_text(
        f"[dictionaries.ids]\nvalues = {json.dumps(ids)}\n\n"
        f"[dictionaries.message_ids]\nvalues = {json.dumps(message_ids)}\n\n"
        "[parameters]\n"
        '"path.id" = { dictionary = "ids", probability = 0.5 }\n'
        '"path.message_id" = { dictionary = "message_ids", probability = 0.5 }\n'
    )
    return path


def _schemathesis(base: str, token: str | None, args, report_dir: Path, config: Path) -> list[str]:
    command = [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base}/api/v1/schema/?format=json", "--url", base,
               "--checks", "all", "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--workers", "1", "--no-color", "--report", "junit", "--report-dir", str(report_dir),
               "--request-timeout", "30", "--max-response-time", "20"]
    if token:
        command += ["-H", f"Authorization: Token {token}"]
    return command


def _fuzz_role(role: str, template: Path, world: dict, work: Path, groq_port: int, args) -> int:
    from devtools.servers import free_port, wait_http

    role_dir = work / role
    role_dir.mkdir()
    database = role_dir / "db.sqlite3"
    shutil.copy(template, database)
    env = _env(work, database, groq_port)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = role_dir / "server.log"
    with open(server_log, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "therapist_ai.asgi:application", "-c", "gunicorn.conf.py",
             "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_http(base + "/healthz", timeout=60, proc=server)
        token = world["tokens"].get(role)
        _warm_up(base, world, token)
        command = _schemathesis(base, token, args, role_dir / "report",
                                _config(world, role_dir / "schemathesis.toml"))
        print(f"\n=== {role}: {' '.join(c if 'Token' not in c else 'Authorization: Token ***' for c in command)}",
              flush=True)
        started = time.monotonic()
        status = subprocess.run(command, cwd=role_dir).returncode  # its .schemathesis/ cache stays there
        print(f"=== {role}: schemathesis exit status {status} in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    errors = [line for line in server_log.read_text(errors="replace").splitlines() if "Traceback" in line]
    if errors:
        print(f"=== {role}: the server logged {len(errors)} tracebacks (see {server_log})", flush=True)
        status = status or 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("API_FUZZ_MAX_EXAMPLES", 8)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("API_FUZZ_SEED", 1)))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        print(json.dumps(seed()))
        return 0
    roles = [r for r in args.roles.split(",") if r]
    unknown = set(roles) - set(ROLES)
    if unknown:
        parser.error(f"unknown roles: {', '.join(sorted(unknown))}")

    from devtools.servers import free_port, wait_http

    work = Path(tempfile.mkdtemp(prefix="api-fuzz-"))
    groq_port = free_port()
    groq = subprocess.Popen([sys.executable, "-m", "devtools.fake_groq", "--port", str(groq_port), "--ttft", "0",
                             "--tps", "0"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    results = {}
    try:
        wait_http(f"http://127.0.0.1:{groq_port}/", timeout=30, proc=groq)
        template, world = _prepare(work, groq_port)
        for role in roles:
            results[role] = _fuzz_role(role, template, world, work, groq_port, args)
    finally:
        groq.terminate()
        groq.wait(10)
        if args.keep or any(results.values()) or len(results) < len(roles):
            print(f"api_fuzz: logs, reports and databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("api_fuzz: " + ", ".join(f"{role} {'ok' if status == 0 else 'FAILED'}" for role, status in results.items()))
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
