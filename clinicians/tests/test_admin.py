"""The clinician UI in the admin: queue, review page, bulk actions, constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinicians import services
from clinicians.models import DenyListEntry, Redaction, Review
from devtools.factories import make_patient, make_transcript
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:clinicians_transcript_changelist")


def review_url(conversation):
    return reverse("admin:clinicians_transcript_change", args=[conversation.pk])


def many_transcripts(n, *, crisis_every=0):
    from django.contrib.auth.models import User

    patients = [User.objects.filter(username=f"bulk{i}").first() or make_patient(f"bulk{i}", consent=i % 2 == 0)
                for i in range(3)]
    convs = []
    for i in range(n):
        crisis = 0 if crisis_every and i % crisis_every == 0 else None
        convs.append(make_transcript(patients[i % 3], [(f"message {i}", f"reply {i}")], crisis_at=crisis))
    return convs


def test_queue_lists_crisis_flagged_first_then_newest(client, clinician):
    patient = make_patient("q_order", consent=False)
    old = make_transcript(patient, [("old", "r")])
    flagged = make_transcript(patient, [("I want to end my life", "template")], crisis_at=0)
    new = make_transcript(patient, [("new", "r")])
    client.force_login(clinician)

    response = client.get(QUEUE)

    assert response.status_code == 200
    order = [row.pk for row in response.context["cl"].result_list]
    assert order == [flagged.pk, new.pk, old.pk]  # crisis visible although consent is "no"


@pytest.mark.parametrize("params,expected", [
    ({"status": "approved"}, {"approved"}), ({"status": "rejected"}, {"rejected"}),
    ({"status": "pending"}, {"pending"}), ({"flag": "crisis"}, {"crisis"}), ({"consent": "no"}, {"noconsent"}),
    ({"q": "findme"}, {"findme"}),
])
def test_queue_filters(client, clinician, params, expected):
    yes, no = make_patient("f_yes"), make_patient("f_no", consent=False)
    convs = {
        "approved": make_transcript(yes, [("a", "b")]), "rejected": make_transcript(yes, [("c", "d")]),
        "pending": make_transcript(yes, [("e", "f")]),
        "crisis": make_transcript(yes, [("I want to end my life", "t")], crisis_at=0),
        "noconsent": make_transcript(no, [("g", "h")]), "findme": make_transcript(yes, [("i", "j")], title="findme"),
    }
    for name in ("approved", "rejected", "noconsent", "crisis", "findme"):
        services.transcript_approve(conversation=convs[name], clinician=clinician)
    services.transcript_reject(conversation=convs["rejected"], clinician=clinician, reason="no")
    client.force_login(clinician)

    response = client.get(QUEUE, params)

    got = {row.pk for row in response.context["cl"].result_list}
    assert {convs[n].pk for n in expected} <= got
    if "q" in params or "flag" in params or params.get("status") == "rejected":
        assert got == {convs[n].pk for n in expected}


@pytest.mark.parametrize("url_name", ["admin:clinicians_transcript_changelist", "admin:therapist_ai_auditevent_changelist",
                                      "admin:clinicians_denylistentry_changelist"])
def test_list_pages_issue_constant_number_of_queries(client, django_assert_num_queries, url_name):
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(admin_user)
    url = reverse(url_name)

    def fill(n):
        for i in range(n):
            AuditEvent.objects.create(actor=admin_user, action="test.row", target_type="x", target_id=str(i))
            DenyListEntry.objects.create(term=f"term-{url_name}-{DenyListEntry.objects.count()}", created_by=admin_user)
        many_transcripts(n, crisis_every=4)

    fill(3)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    fill(27)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 30


def test_review_page_shows_conversation_with_suggestions_side_by_side(client, clinician):
    patient = make_patient("rv_page", first_name="Marigold")
    conv = make_transcript(patient, [("I'm Marigold, write to mari@post.example.net", "Hello!")])
    client.force_login(clinician)
    assert "1 new message" not in client.get(review_url(conv)).content.decode()  # 2 new messages, not scanned
    assert not Redaction.objects.exists()  # opening a transcript writes nothing

    services.redactions_suggest_pending()  # what the worker does every minute
    response = client.get(review_url(conv))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-redaction=' in html and "span-suggested" in html
    labels = set(Redaction.objects.filter(conversation=conv).values_list("label", flat=True))
    assert labels == {"NAME", "EMAIL"}
    assert "Patient" in html and "Assistant" in html


def test_review_page_accept_redact_approve_flow(client, clinician):
    patient = make_patient("rv_flow")
    conv = make_transcript(patient, [("call me on +44 20 7946 0958 please, I live near Elm Park", "Sure.")])
    message = conv.messages.first()
    client.force_login(clinician)
    client.post(review_url(conv), {"op": "suggest"})  # the explicit action (or the worker)
    suggestion = Redaction.objects.get(conversation=conv, label="PHONE")

    client.post(review_url(conv), {"op": "accept", "redaction": suggestion.pk})
    start = message.content.index("Elm Park")
    client.post(review_url(conv), {"op": "redact", "message": message.pk, "start": start, "end": start + 8,
                                   "label": "ADDRESS"})
    response = client.post(review_url(conv), {"op": "approve"}, follow=True)

    assert "Transcript approved" in response.content.decode()
    assert Review.objects.get(conversation=conv).status == "approved"
    assert "call me on [PHONE] please, I live near [ADDRESS]" in response.content.decode()


def test_approve_refused_when_final_scan_finds_something_unless_overridden(client, clinician):
    patient = make_patient("rv_scan")
    conv = make_transcript(patient, [("my mail is left@open.example.org", "ok")])
    client.force_login(clinician)

    response = client.post(review_url(conv), {"op": "approve"}, follow=True)
    assert "final scan still finds" in response.content.decode()
    assert "EMAIL" in response.content.decode()
    assert not Review.objects.filter(conversation=conv, status="approved").exists()

    client.post(review_url(conv), {"op": "approve", "override_reason": "test address, not real"})
    review = Review.objects.get(conversation=conv)
    assert (review.status, review.override_reason) == ("approved", "test address, not real")
    assert AuditEvent.objects.get(action="review.approve").detail["override"] is True


def test_bulk_approve_and_reject_with_reason_page(client, clinician):
    convs = many_transcripts(3)
    client.force_login(clinician)
    ids = [c.pk for c in convs]

    client.post(QUEUE, {"action": "approve_selected", "_selected_action": ids[:2]})
    page = client.post(QUEUE, {"action": "reject_selected", "_selected_action": ids[2:]})
    assert "Reason" in page.content.decode() and page.status_code == 200
    client.post(QUEUE, {"action": "reject_selected", "_selected_action": ids[2:], "confirm": "yes",
                        "reason": "not useful"})

    statuses = dict(Review.objects.values_list("conversation_id", "status"))
    assert statuses == {ids[0]: "approved", ids[1]: "approved", ids[2]: "rejected"}
    assert Review.objects.get(conversation_id=ids[2]).reason == "not useful"


def test_exclude_message_and_crisis_inclusion_from_review_page(client, clinician):
    patient = make_patient("rv_excl")
    conv = make_transcript(patient, [("I want to end my life", "template"), ("better now", "glad")], crisis_at=0)
    client.force_login(clinician)
    msg = conv.messages.get(content="better now")

    client.post(review_url(conv), {"op": "exclude", "message": msg.pk, "reason": "too personal"})
    client.post(review_url(conv), {"op": "crisis_include", "reason": "discussed with lead"})

    assert msg.exclusion.reason == "too personal"
    assert Review.objects.get(conversation=conv).include_despite_crisis is True


def test_deny_list_changes_are_audited_and_suggested(client, clinician):
    client.force_login(clinician)
    add = reverse("admin:clinicians_denylistentry_add")
    assert client.post(add, {"term": "Riverside Clinic", "label": "ADDRESS", "note": ""}).status_code == 302
    entry = DenyListEntry.objects.get()
    assert AuditEvent.objects.filter(action="denylist.add", target_id=str(entry.pk), actor=clinician).exists()

    conv = make_transcript(make_patient("dl_p"), [("I go to riverside clinic weekly", "ok")])
    client.post(review_url(conv), {"op": "suggest"})  # the explicit action (or the worker)
    assert Redaction.objects.get(conversation=conv).detector == "DENY_LIST"


def test_admin_index_shows_training_progress(client, clinician, settings):
    settings.AUTO_TRAIN_THRESHOLD = 10
    conv = make_transcript(make_patient("idx"), [("a", "b"), ("c", "d")])
    services.transcript_approve(conversation=conv, clinician=clinician)
    client.force_login(clinician)

    html = client.get(reverse("admin:index")).content.decode()

    assert 'id="training-progress-bar"' in html
    assert "of 10 approved messages waiting" in html


def test_accept_all_suggestions_from_review_page(client, clinician):
    conv = make_transcript(make_patient("rv_all", first_name="Ottoline"), [("Ottoline, ott@home.example.com", "hi")])
    client.force_login(clinician)
    client.post(review_url(conv), {"op": "suggest"})  # the explicit action (or the worker)

    response = client.post(review_url(conv), {"op": "accept_all"}, follow=True)

    assert "Accepted 2 suggestions." in response.content.decode()
    assert set(Redaction.objects.filter(conversation=conv).values_list("state", flat=True)) == {"accepted"}
    assert AuditEvent.objects.filter(action="redaction.accept").count() == 2


def test_selection_offsets_from_a_browser_are_realigned_over_crlf(client, clinician):
    conv = make_transcript(make_patient("rv_crlf"), [("first line\r\nsecond line names Tobias", "ok")])
    message = conv.messages.first()
    client.force_login(clinician)
    browser_start = len("first line\nsecond line names ")  # the DOM has no \r

    client.post(review_url(conv), {"op": "redact", "message": message.pk, "start": browser_start,
                                   "end": browser_start + 6, "selected": "Tobias", "label": "NAME"})

    r = Redaction.objects.get(conversation=conv, source="manual")
    assert message.content[r.start:r.end] == "Tobias"
