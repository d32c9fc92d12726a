"""One authorization model: for every role and every action, the API and the admin agree, and
both say what the role groups' model permissions say (``therapist_ai.roles.ROLE_PERMISSIONS``).

``ACTIONS`` names each action once: the API request that does it, how the admin offers it (or
None: the admin does not; patients never use the admin), the permissions it needs and the
roles that may. The tests check, for anonymous, patient, clinician and staff:

* the API allows exactly those roles (401/403 for the others, never a 500);
* the admin allows exactly those roles, where it offers the action;
* those roles are exactly the groups holding the permissions, and the API view asks exactly
  those permissions (``therapist_ai.permissions.required_permissions``);
* every action of every API view under ``/api/v1/`` is in the table, and every view asks
  model permissions (``ActionPermissions``), never group names.

``training/tests/test_serving_permissions.py`` checks the serving actions the same way, with
the admin's own serving checks; they are in this table too, so that it covers the whole API.
"""

from __future__ import annotations

import pytest
from django.urls import URLResolver, resolve, reverse
from rest_framework.test import APIClient

from clinicians import services as curation
from clinicians.models import DenyListEntry, Redaction
from conversations.models import ErasureRecord, Message
from conversations.safety.models import SafetyFlag
from devtools.factories import make_model_version, make_patient, make_transcript
from therapist_ai.audit import audit_record
from therapist_ai.permissions import ActionPermissions, required_permissions
from therapist_ai.roles import CLINICIANS, PATIENTS, ROLE_PERMISSIONS, STAFF
from training import storage
from training.models import ShadowReply

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "patient", "clinician", "staff"]
GROUPS = {"patient": PATIENTS, "clinician": CLINICIANS, "staff": STAFF}
PATIENT, CLINICIAN, STAFF_ONLY = {"patient"}, {"clinician"}, {"staff"}
CURATORS = {"clinician", "staff"}

CHAT = ["conversations.chat_as_patient"]
OWN_DATA = ["conversations.manage_own_data"]
TRANSCRIPT_VIEW = ["clinicians.view_transcript"]
TRANSCRIPT_CHANGE = ["clinicians.view_transcript", "clinicians.change_transcript"]
FLAG_VIEW = ["safety.view_safetyflag"]
FLAG_CHANGE = ["safety.view_safetyflag", "safety.change_safetyflag"]
VERSION_VIEW = ["training.view_modelversion"]
PROMOTE = ["training.view_modelversion", "training.promote_modelversion"]
SERVING_CHANGE = ["training.change_servingstate", "training.promote_modelversion"]


@pytest.fixture
def world(settings, tmp_path, patient, clinician, staff_user):
    """Something of everything each action acts on."""
    from training.serving.state import serving_view_forget

    settings.MODEL_STORAGE_DIR = tmp_path
    settings.INFERENCE_URL = "http://127.0.0.1:9/v1"  # nothing listens: a promotion is refused, quickly
    serving_view_forget()
    own = make_transcript(patient, [("I sleep badly.", "That sounds hard.")])
    other = make_patient("matrix_other")
    transcript = make_transcript(other, [("write to me at matrix@home.example.com", "ok"), ("thanks", "welcome")])
    curation.redactions_suggest(conversation=transcript, actor=clinician)
    said = transcript.messages.filter(role=Message.Role.PATIENT).first()
    flag = SafetyFlag.objects.create(conversation=transcript, message=said, level="concern", reason="matrix")
    staging = storage.staging_dir_create(tmp_path, run_id=1)
    (staging / "adapter_model.safetensors").write_bytes(b"weights")
    storage.manifest_write(staging, description={"base_model": "tiny"})
    version = make_model_version(storage.version_publish(staging, storage_dir=tmp_path, name="model_20260401_000001"))
    answer = transcript.messages.filter(role=Message.Role.ASSISTANT).first()
    shadow = ShadowReply.objects.create(patient_message=said, hosted_reply=answer, version=version, content="hey")
    return {
        "own": own, "own_reply": own.messages.get(role=Message.Role.ASSISTANT), "transcript": transcript,
        "message": said, "redaction": Redaction.objects.filter(conversation=transcript).first(), "flag": flag,
        "event": audit_record(actor=clinician, action="matrix", target_type="test", target_id=1),
        "erasure": ErasureRecord.objects.create(subject_hash="h", conversation_count=0, message_count=0),
        "entry": DenyListEntry.objects.create(term="Hilltop"), "version": version, "run": version.run,
        "shadow": shadow,
        "users": {"anonymous": None, "patient": patient, "clinician": clinician, "staff": staff_user},
    }


def _admin_get(name, *args):
    return ("get", lambda w: reverse(name, args=[a(w) for a in args]), None)


def _review_post(op, **data):
    """A change made from the transcript review page (the admin's curation form)."""
    return ("post", lambda w: reverse("admin:clinicians_transcript_change", args=[w["transcript"].pk]),
            lambda w: {"op": op, **{k: v(w) if callable(v) else v for k, v in data.items()}})


def _offered(changelist, action):
    """A bulk action offered in a change list (the admin hides those the user may not do)."""
    return ("action", lambda w: reverse(changelist), action)


def pk(key):
    return lambda w: w[key].pk


# name: (method, API path, body, admin check or None, permissions, roles allowed)
ACTIONS = {
    # patients: their conversations (API only; the web pages check their own way)
    "list own conversations": ("get", lambda w: "/api/v1/conversations/", None, None, CHAT, PATIENT),
    "start a conversation": ("post", lambda w: "/api/v1/conversations/", {}, None, CHAT, PATIENT),
    "read own conversation": ("get", lambda w: f"/api/v1/conversations/{w['own'].pk}/", None, None, CHAT, PATIENT),
    "send a message": ("post", lambda w: f"/api/v1/conversations/{w['own'].pk}/messages/", {"content": "hello"},
                       None, CHAT, PATIENT),
    "retry a reply": ("post", lambda w: f"/api/v1/conversations/{w['own'].pk}/messages/{w['own_reply'].pk}/retry/",
                      None, None, CHAT, PATIENT),
    # patients: their own data
    "read own consent": ("get", lambda w: "/api/v1/me/consent/", None, None, OWN_DATA, PATIENT),
    "set own consent": ("put", lambda w: "/api/v1/me/consent/", {"training_consent": False}, None, OWN_DATA,
                        PATIENT),
    "export own data": ("get", lambda w: "/api/v1/me/export/", None, None, OWN_DATA, PATIENT),
    "erase own data": ("delete", lambda w: "/api/v1/me/", {}, None, OWN_DATA, PATIENT),  # 400: no password
    # curation: the review queue and transcripts
    "read the review queue": ("get", lambda w: "/api/v1/transcripts/", None,
                              _admin_get("admin:clinicians_transcript_changelist"), TRANSCRIPT_VIEW, CURATORS),
    "read a transcript": ("get", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/", None,
                          _admin_get("admin:clinicians_transcript_change", pk("transcript")), TRANSCRIPT_VIEW,
                          CURATORS),
    "approve a transcript": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/approve/",
                             {"override_reason": "matrix"}, _review_post("approve", override_reason="matrix"),
                             TRANSCRIPT_CHANGE, CLINICIAN),
    "reject a transcript": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/reject/",
                            {"reason": "matrix"}, _review_post("reject", reason="matrix"), TRANSCRIPT_CHANGE,
                            CLINICIAN),
    "bulk approve": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/approve/",
                     {"override_reason": "matrix"},
                     _offered("admin:clinicians_transcript_changelist", "approve_selected"), TRANSCRIPT_CHANGE,
                     CLINICIAN),
    "redact a span": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/redactions/",
                      lambda w: {"message_id": w["message"].pk, "start": 0, "end": 5, "label": "OTHER"},
                      _review_post("redact", message=pk("message"), start="0", end="5", label="OTHER"),
                      TRANSCRIPT_CHANGE, CLINICIAN),
    "scan for suggestions": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/suggest/", None,
                             _review_post("suggest"), TRANSCRIPT_CHANGE, CLINICIAN),
    "accept a suggestion": ("post", lambda w: f"/api/v1/redactions/{w['redaction'].pk}/accept/", None,
                            _review_post("accept", redaction=pk("redaction")), TRANSCRIPT_CHANGE, CLINICIAN),
    "dismiss a suggestion": ("post", lambda w: f"/api/v1/redactions/{w['redaction'].pk}/dismiss/", None,
                             _review_post("dismiss", redaction=pk("redaction")), TRANSCRIPT_CHANGE, CLINICIAN),
    "exclude a message": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/exclude/",
                          lambda w: {"message_id": w["message"].pk}, _review_post("exclude", message=pk("message")),
                          TRANSCRIPT_CHANGE, CLINICIAN),
    "include a message": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/include/",
                          lambda w: {"message_id": w["message"].pk}, _review_post("include", message=pk("message")),
                          TRANSCRIPT_CHANGE, CLINICIAN),
    "decide crisis inclusion": ("post", lambda w: f"/api/v1/transcripts/{w['transcript'].pk}/crisis-inclusion/",
                                {"include": False}, _review_post("crisis_exclude"), TRANSCRIPT_CHANGE, CLINICIAN),
    # safety flags
    "read safety flags": ("get", lambda w: "/api/v1/safety-flags/", None,
                          _admin_get("admin:safety_safetyflag_changelist"), FLAG_VIEW, CURATORS),
    "read a safety flag": ("get", lambda w: f"/api/v1/safety-flags/{w['flag'].pk}/", None,
                           _admin_get("admin:safety_safetyflag_change", pk("flag")), FLAG_VIEW, CURATORS),
    "handle a safety flag": ("post", lambda w: f"/api/v1/safety-flags/{w['flag'].pk}/handle/", {"note": "called"},
                             _offered("admin:safety_safetyflag_changelist", "mark_handled"), FLAG_CHANGE, CLINICIAN),
    # the audit log and erasure records
    "read the audit log": ("get", lambda w: "/api/v1/audit-events/", None,
                           _admin_get("admin:therapist_ai_auditevent_changelist"), ["therapist_ai.view_auditevent"],
                           STAFF_ONLY),
    "read an audit event": ("get", lambda w: f"/api/v1/audit-events/{w['event'].pk}/", None,
                            _admin_get("admin:therapist_ai_auditevent_change", pk("event")),
                            ["therapist_ai.view_auditevent"], STAFF_ONLY),
    "read erasure records": ("get", lambda w: "/api/v1/erasure-records/", None,
                             _admin_get("admin:conversations_erasurerecord_changelist"),
                             ["conversations.view_erasurerecord"], STAFF_ONLY),
    "read an erasure record": ("get", lambda w: f"/api/v1/erasure-records/{w['erasure'].pk}/", None,
                               _admin_get("admin:conversations_erasurerecord_change", pk("erasure")),
                               ["conversations.view_erasurerecord"], STAFF_ONLY),
    # the deny list
    "read the deny list": ("get", lambda w: "/api/v1/deny-list/", None,
                           _admin_get("admin:clinicians_denylistentry_changelist"),
                           ["clinicians.view_denylistentry"], CURATORS),
    "read a deny-list term": ("get", lambda w: f"/api/v1/deny-list/{w['entry'].pk}/", None,
                              _admin_get("admin:clinicians_denylistentry_change", pk("entry")),
                              ["clinicians.view_denylistentry"], CURATORS),
    "add a deny-list term": ("post", lambda w: "/api/v1/deny-list/", {"term": "Riverside", "label": "OTHER"},
                             _admin_get("admin:clinicians_denylistentry_add"), ["clinicians.add_denylistentry"],
                             CLINICIAN),
    "change a deny-list term": ("patch", lambda w: f"/api/v1/deny-list/{w['entry'].pk}/", {"note": "a clinic"},
                                ("post", lambda w: reverse("admin:clinicians_denylistentry_change",
                                                           args=[w["entry"].pk]),
                                 lambda w: {"term": "Hilltop", "label": "OTHER", "note": "a clinic"}),
                                ["clinicians.change_denylistentry"], CLINICIAN),
    "replace a deny-list term": ("put", lambda w: f"/api/v1/deny-list/{w['entry'].pk}/",
                                 {"term": "Hilltop", "label": "OTHER"}, None, ["clinicians.change_denylistentry"],
                                 CLINICIAN),
    "delete a deny-list term": ("delete", lambda w: f"/api/v1/deny-list/{w['entry'].pk}/", None,
                                _admin_get("admin:clinicians_denylistentry_delete", pk("entry")),
                                ["clinicians.delete_denylistentry"], CLINICIAN),
    # training runs
    "read training runs": ("get", lambda w: "/api/v1/training-runs/", None,
                           _admin_get("admin:training_trainingrun_changelist"), ["training.view_trainingrun"],
                           STAFF_ONLY),
    "read a training run": ("get", lambda w: f"/api/v1/training-runs/{w['run'].pk}/", None,
                            _admin_get("admin:training_trainingrun_change", pk("run")), ["training.view_trainingrun"],
                            STAFF_ONLY),
    "start a training run": ("post", lambda w: "/api/v1/training-runs/", None,
                             ("post", lambda w: reverse("admin:training_trainingrun_train_now"), None),
                             ["training.view_trainingrun", "training.start_training_run"], STAFF_ONLY),
    # model versions
    "read model versions": ("get", lambda w: "/api/v1/model-versions/", None,
                            _admin_get("admin:training_modelversion_changelist"), VERSION_VIEW, CURATORS),
    "read a model version": ("get", lambda w: f"/api/v1/model-versions/{w['version'].pk}/", None,
                             _admin_get("admin:training_modelversion_change", pk("version")), VERSION_VIEW, CURATORS),
    "read a version's evaluation": ("get", lambda w: f"/api/v1/model-versions/{w['version'].pk}/evaluation/", None,
                                    None, [*VERSION_VIEW, "training.view_versionevaluation"], CURATORS),
    "promote a version": ("post", lambda w: f"/api/v1/model-versions/{w['version'].pk}/promote/", {},
                          _offered("admin:training_modelversion_changelist", "promote"), PROMOTE, STAFF_ONLY),
    "retire a version": ("post", lambda w: f"/api/v1/model-versions/{w['version'].pk}/retire/", {},
                         _offered("admin:training_modelversion_changelist", "retire"), PROMOTE, STAFF_ONLY),
    "verify a version's files": ("post", lambda w: f"/api/v1/model-versions/{w['version'].pk}/verify/", None,
                                 _offered("admin:training_modelversion_changelist", "verify_files"), PROMOTE,
                                 STAFF_ONLY),
    "sign off a version": ("post", lambda w: f"/api/v1/model-versions/{w['version'].pk}/sign-off/", {},
                           _offered("admin:training_modelversion_changelist", "sign_off"),
                           [*VERSION_VIEW, "training.sign_off_modelversion"], CLINICIAN),
    # serving (also training/tests/test_serving_permissions.py)
    "read serving": ("get", lambda w: "/api/v1/serving/", None, _admin_get("admin:training_servingstate_changelist"),
                     ["training.view_servingstate"], STAFF_ONLY),
    "switch the serving mode": ("patch", lambda w: "/api/v1/serving/", {"mode": "hosted"},
                                ("post", lambda w: reverse("admin:training_servingstate_changelist"),
                                 lambda w: {"mode": "hosted"}), SERVING_CHANGE, STAFF_ONLY),
    "roll back": ("post", lambda w: "/api/v1/serving/rollback/", {},
                  ("post", lambda w: reverse("admin:training_servingstate_changelist"),
                   lambda w: {"action": "rollback"}), SERVING_CHANGE, STAFF_ONLY),
    "read the serving history": ("get", lambda w: "/api/v1/serving/history/", None,
                                 _admin_get("admin:training_servingchange_changelist"),
                                 ["training.view_servingchange"], STAFF_ONLY),
    "list shadow pairs to rate": ("get", lambda w: "/api/v1/shadow-pairs/", None,
                                  ("rate", lambda w: reverse("admin:training_shadowreply_change",
                                                             args=[w["shadow"].pk]), None),
                                  ["training.rate_shadowreply"], CLINICIAN),
    "rate a shadow pair": ("post", lambda w: f"/api/v1/shadow-pairs/{w['shadow'].pk}/rate/", {"choice": "A"},
                           None, ["training.rate_shadowreply"], CLINICIAN),
}


def _api_allowed(world, role, action) -> bool:
    method, path, body, *_ = ACTIONS[action]
    client = APIClient()
    if world["users"][role] is not None:
        client.force_authenticate(world["users"][role])
    data = body(world) if callable(body) else body
    response = getattr(client, method)(path(world), data, format="json")
    assert response.status_code < 500, (action, role, response.status_code, response.content[:300])
    if response.status_code == 403:
        assert response.json()["detail"] != "That password is not correct.", "the body should not reach the check"
    return response.status_code not in (401, 403)


def _admin_allowed(world, role, check, client) -> bool:
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    kind, url, extra = check
    if kind == "get":
        return client.get(url(world)).status_code == 200
    if kind == "post":
        response = client.post(url(world), extra(world) if extra else {})
        assert response.status_code < 500
        return response.status_code == 302 and "/login/" not in response["Location"]
    if kind == "action":
        response = client.get(url(world))
        return response.status_code == 200 and f'value="{extra}"' in response.content.decode()
    if kind == "rate":
        response = client.get(url(world))
        return response.status_code == 200 and 'name="choice"' in response.content.decode()
    raise ValueError(kind)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_the_api_and_the_admin_allow_exactly_the_roles_whose_permissions_allow_the_action(
        world, client, fake_groq, role, action):
    *_, admin_check, _, allowed = ACTIONS[action]
    expected = role in allowed
    if admin_check is not None:  # first: the API's DELETE would leave the admin nothing to show
        assert _admin_allowed(world, role, admin_check, client) is expected, f"admin: {role} {action}"
    assert _api_allowed(world, role, action) is expected, f"API: {role} {action}"


@pytest.mark.parametrize("action", list(ACTIONS))
def test_the_roles_allowed_are_the_groups_holding_the_permissions_the_api_asks(action):
    method, path, _, _, permissions, allowed = ACTIONS[action]
    holders = {role for role, group in GROUPS.items() if set(permissions) <= set(ROLE_PERMISSIONS[group])}
    assert holders == allowed, f"{action}: ROLE_PERMISSIONS give it to {sorted(holders)}"
    url = path({"own": _Id(), "own_reply": _Id(), "transcript": _Id(), "redaction": _Id(), "flag": _Id(),
                "event": _Id(), "erasure": _Id(), "entry": _Id(), "version": _Id(), "run": _Id(), "shadow": _Id()})
    assert sorted(_view_permissions(url, method)) == sorted(permissions), f"{action}: the view asks otherwise"


class _Id:
    pk = 1


def _view_permissions(url: str, method: str) -> list[str] | None:
    match = resolve(url)
    view = match.func.cls()
    actions = getattr(match.func, "actions", None)
    if actions is not None:
        view.action_map, view.action = actions, actions.get(method)
    return required_permissions(view, method)


def _api_routes():
    """(view class, action or method) for every route under /api/v1/ but the token, schema and docs."""
    from therapist_ai.urls import api_v1

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern

    for pattern in walk(api_v1):
        cls = getattr(pattern.callback, "cls", None)
        if cls is None or pattern.name in {"token", "schema", "docs"}:
            continue
        actions = getattr(pattern.callback, "actions", None)
        for method in ("get", "post", "put", "patch", "delete"):
            if actions is not None and method in actions:
                yield cls, actions[method]
            elif actions is None and hasattr(cls, method):
                yield cls, method


def test_every_api_action_is_in_the_matrix_and_asks_model_permissions():
    covered = set()
    for method, path, *_ in ACTIONS.values():
        url = path({k: _Id() for k in ("own", "own_reply", "transcript", "redaction", "flag", "event", "erasure",
                                       "entry", "version", "run", "shadow")})
        match = resolve(url)
        actions = getattr(match.func, "actions", None)
        covered.add((match.func.cls, actions[method] if actions else method))
    routes = set(_api_routes())
    assert routes - covered == set(), "API actions missing from ACTIONS"
    for cls, _ in routes:
        assert cls.permission_classes == [ActionPermissions], f"{cls.__name__} does not ask model permissions"
