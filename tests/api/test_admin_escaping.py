"""Script and HTML that patients (or the model) send are shown as text in every admin page."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from conversations.services.chat import conversation_create, message_send

PAYLOAD = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"


@pytest.mark.django_db
def test_message_html_is_escaped_in_every_admin_changelist_and_change_page(client, patient, fake_groq):
    fake_groq.configure(reply=f"Model says {PAYLOAD} back")
    conversation = conversation_create(patient=patient, title=f"title {PAYLOAD}")
    message_send(conversation=conversation, content=f"I can't sleep {PAYLOAD}")
    message_send(conversation=conversation, content=f"I want to kill myself {PAYLOAD}")
    root = User.objects.create_superuser("root", "root@example.com", "Calm-harbour-2718")
    client.force_login(root)

    pages, shown = [], 0
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        for pk in model_admin.get_queryset(_request(root)).values_list("pk", flat=True)[:3]:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[pk]))
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        html = response.content.decode()
        assert PAYLOAD not in html, f"raw HTML from a message rendered on {url}"
        assert "<script>alert" not in html, url
        shown += ESCAPED in html
    assert shown >= 2, "the message text should appear (escaped) on the transcript pages"


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request
