"""Who may do what with model versions and serving, asked of the API and of the admin alike:
for every role and every action both answer the same (one authorization model: the groups'
model permissions)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from training import storage
from training.models import ShadowReply

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "patient", "clinician", "staff"]


@pytest.fixture
def world(settings, tmp_path, patient, clinician, staff_user):
    from conversations.services.chat import conversation_create
    from devtools.factories import make_model_version
    from training.serving.state import serving_view_forget

    settings.MODEL_STORAGE_DIR = tmp_path
    settings.INFERENCE_URL = "http://127.0.0.1:9/v1"  # nothing listens: permission comes before loading
    serving_view_forget()
    staging = storage.staging_dir_create(tmp_path, run_id=1)
    (staging / "adapter_model.safetensors").write_bytes(b"weights")
    storage.manifest_write(staging, description={"base_model": "tiny"})
    version = make_model_version(storage.version_publish(staging, storage_dir=tmp_path, name="model_20260401_000001"))
    from conversations.models import Message

    conversation = conversation_create(patient=patient)
    said = Message.objects.create(conversation=conversation, role="patient", content="hello")
    answer = Message.objects.create(conversation=conversation, role="assistant", content="hi", reply_to=said)
    shadow = ShadowReply.objects.create(patient_message=said, hosted_reply=answer, version=version, content="hey")
    return {"version": version, "shadow": shadow, "users": {"patient": patient, "clinician": clinician,
                                                            "staff": staff_user, "anonymous": None}}


def _api(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# action: (method, API path, admin check or None, roles allowed)
ACTIONS = {
    "read serving": ("get", "/api/v1/serving/", "get:/admin/training/servingstate/", {"staff"}),
    "switch mode": ("patch", "/api/v1/serving/", "post:/admin/training/servingstate/", {"staff"}),
    "roll back": ("post", "/api/v1/serving/rollback/", "post:/admin/training/servingstate/", {"staff"}),
    "read history": ("get", "/api/v1/serving/history/", "get:/admin/training/servingchange/", {"staff"}),
    "list versions": ("get", "/api/v1/model-versions/", "get:/admin/training/modelversion/", {"clinician", "staff"}),
    "promote": ("post", "/api/v1/model-versions/{v}/promote/", "action:promote", {"staff"}),
    "retire": ("post", "/api/v1/model-versions/{v}/retire/", "action:retire", {"staff"}),
    "verify files": ("post", "/api/v1/model-versions/{v}/verify/", "action:verify_files", {"staff"}),
    "sign off": ("post", "/api/v1/model-versions/{v}/sign-off/", "action:sign_off", {"clinician"}),
    "read evaluation": ("get", "/api/v1/model-versions/{v}/evaluation/", None, {"clinician", "staff"}),
    "rate shadow pairs": ("get", "/api/v1/shadow-pairs/", "rate", {"clinician"}),
}


def _api_allowed(world, role, method, path) -> bool:
    url = path.format(v=world["version"].pk)
    body = {"mode": "hosted"} if method == "patch" else {}
    status = getattr(_api(world["users"][role]), method)(url, body, format="json").status_code
    assert status not in (500,), url
    return status not in (401, 403)


def _admin_allowed(world, role, check, client) -> bool:
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    kind, _, target = check.partition(":")
    if kind == "get":
        response = client.get(target)
        return response.status_code == 200
    if kind == "post":
        response = client.post(target, {"action": "acknowledge"})
        return response.status_code == 302 and "/login/" not in response["Location"]
    if kind == "action":
        response = client.get(reverse("admin:training_modelversion_changelist"))
        return response.status_code == 200 and f'value="{target}"' in response.content.decode()
    if kind == "rate":
        response = client.get(reverse("admin:training_shadowreply_change", args=[world["shadow"].pk]))
        return response.status_code == 200 and 'name="choice"' in response.content.decode()
    raise ValueError(check)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_api_and_admin_agree_on_who_may_do_each_serving_action(world, client, role, action):
    method, path, admin_check, allowed = ACTIONS[action]
    expected = role in allowed
    assert _api_allowed(world, role, method, path) is expected, f"API: {role} {action}"
    if admin_check is not None:
        assert _admin_allowed(world, role, admin_check, client) is expected, f"admin: {role} {action}"
