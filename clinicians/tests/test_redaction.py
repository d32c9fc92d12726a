"""Redaction: suggestions, spans beside the original, bad spans, and the export property."""

import itertools
import json

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from clinicians import redaction, services
from clinicians.models import Redaction, Review
from conversations.accounts.services import patient_erase
from devtools.factories import make_patient, make_transcript

pytestmark = pytest.mark.django_db


def test_suggestions_cover_patterns_and_the_patients_own_identifiers(clinician):
    patient = make_patient("r_own", first_name="Wilhelmina", last_name="Quist", email="wq@home.example.com",
                           phone="+44 7700 900456")
    text = ("Wilhelmina Quist here (r_own). Mail wq@home.example.com or ring 07700 900456. "
            "SSN 219-09-9999, card 4111 1111 1111 1111, I live at 4 Mill Lane, born 02/11/1990, ip 10.1.2.3")
    conv = make_transcript(patient, [(text, "Thanks")])

    services.redactions_suggest(conversation=conv, actor=clinician)

    found = {(text[r.start:r.end], r.label) for r in Redaction.objects.filter(message__content=text)}
    assert found >= {("Wilhelmina", "NAME"), ("Quist", "NAME"), ("r_own", "NAME"),
                     ("wq@home.example.com", "EMAIL"), ("07700 900456", "PHONE"), ("219-09-9999", "ID"),
                     ("4111 1111 1111 1111", "ID"), ("4 Mill Lane", "ADDRESS"), ("02/11/1990", "DATE"),
                     ("10.1.2.3", "OTHER")}
    assert all(r.state == "suggested" and r.source == "suggested" for r in Redaction.objects.all())


def test_suggestions_are_made_once_per_message(clinician):
    conv = make_transcript(make_patient("r_once"), [("mail x.y@post.example.com", "ok")])
    assert services.redactions_suggest(conversation=conv, actor=clinician) == 1
    assert services.redactions_suggest(conversation=conv, actor=clinician) == 0


def test_original_text_is_never_overwritten(clinician):
    conv = make_transcript(make_patient("r_orig"), [("secret name Zebedee", "ok")])
    message = conv.messages.first()
    services.redaction_add(message=message, start=12, end=19, label="NAME", clinician=clinician)
    message.refresh_from_db()
    assert message.content == "secret name Zebedee"


@pytest.mark.parametrize("start,end,expected", [
    (-1, 3, "outside message"), (0, 99, "outside message"), (5, 5, "outside message"), (6, 2, "outside message"),
    (None, 3, "whole numbers"),
])
def test_out_of_range_spans_are_refused(clinician, start, end, expected):
    conv = make_transcript(make_patient("r_range"), [("short text", "ok")])
    with pytest.raises(services.RedactionError, match=expected):
        services.redaction_add(message=conv.messages.first(), start=start, end=end, label="NAME", clinician=clinician)
    assert not Redaction.objects.exists()


def test_overlapping_spans_are_refused_until_the_other_is_dismissed(clinician):
    conv = make_transcript(make_patient("r_overlap"), [("Barnaby Rudge lives here", "ok")])
    message = conv.messages.first()
    first = services.redaction_add(message=message, start=0, end=7, label="NAME", clinician=clinician)

    with pytest.raises(services.RedactionError, match=f"overlaps redaction {first.pk}"):
        services.redaction_add(message=message, start=5, end=13, label="NAME", clinician=clinician)
    services.redaction_dismiss(redaction=first, clinician=clinician)
    wider = services.redaction_add(message=message, start=0, end=13, label="NAME", clinician=clinician)

    assert wider.state == "accepted"
    with pytest.raises(services.RedactionError, match="overlaps"):
        services.redaction_accept(redaction=first, clinician=clinician)


def test_unknown_label_is_refused(clinician):
    conv = make_transcript(make_patient("r_label"), [("hello", "ok")])
    with pytest.raises(services.RedactionError, match="Unknown label"):
        services.redaction_add(message=conv.messages.first(), start=0, end=2, label="PET", clinician=clinician)


def test_dismissing_an_accepted_span_in_the_approved_part_withdraws_approval(clinician):
    conv = make_transcript(make_patient("r_loosen"), [("call 020 7946 0321", "ok")])
    services.redactions_suggest(conversation=conv, actor=clinician)
    span = Redaction.objects.get()
    services.redaction_accept(redaction=span, clinician=clinician)
    services.transcript_approve(conversation=conv, clinician=clinician)

    services.redaction_dismiss(redaction=span, clinician=clinician)

    assert Review.objects.get(conversation=conv).status == "pending"


def test_dismissed_suggestion_does_not_block_approval(clinician):
    conv = make_transcript(make_patient("r_dismiss"), [("my appointment is on 03/04/2025", "ok")])
    services.redactions_suggest(conversation=conv, actor=clinician)
    services.redaction_dismiss(redaction=Redaction.objects.get(), clinician=clinician)
    assert services.transcript_approve(conversation=conv, clinician=clinician).status == "approved"


def test_merge_overlapping_prefers_the_specific_detector():
    merged = redaction.merge_overlapping([
        redaction.Suggestion(0, 7, "OTHER", "[URL]", "URL"),
        redaction.Suggestion(0, 20, "EMAIL", "[EMAIL]", "EMAIL_ADDRESS"),
        redaction.Suggestion(25, 30, "NAME", "[NAME]", "PATIENT_NAME"),
    ])
    assert [(s.start, s.end, s.label) for s in merged] == [(0, 20, "EMAIL"), (25, 30, "NAME")]


# --- the property: accepted suggestions leave nothing identifying in the export ----------

NAMES = ["Marigold", "Thaddeus", "Perpetua", "Ignatius", "Wilhelmina", "Bartholomew", "Euphemia", "Leopold"]
FILLER = ["I have been feeling low lately.", "Work is stressful.", "My sister says I should rest.",
          "Sleep has been hard.", "Thanks for listening.", "I tried the breathing exercise."]
_user_numbers = itertools.count(1)

emails = st.builds(lambda a, b, d: f"{a}.{b}@{d}", st.from_regex(r"[a-z]{3,8}", fullmatch=True),
                   st.from_regex(r"[a-z]{2,6}", fullmatch=True),
                   st.sampled_from(["example.com", "mail.example.org", "post.example.net"]))
phones = st.builds(lambda fmt, n: fmt.format(n=n), st.sampled_from(
    ["+44 20 7946 0{n}", "(415) 555-0{n}", "+1 415-555-0{n}", "020 7946 0{n}", "07700 900{n}"]),
    st.integers(100, 999))
ids = st.one_of(
    st.builds(lambda a, b, c: f"{a}-{b:02d}-{c:04d}", st.integers(100, 665), st.integers(1, 99),
              st.integers(1, 9999)),
    st.sampled_from(["4111 1111 1111 1111", "5500 0000 0000 0004", "4012888888881881"]),
)
pieces = st.lists(st.one_of(emails, phones, ids, st.just("NAME"), st.sampled_from(FILLER)), min_size=2, max_size=6)


@pytest.mark.slow
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sampled_from(NAMES), turns=st.lists(pieces, min_size=1, max_size=3))
def test_no_identifier_survives_in_export_after_accepting_suggestions(tmp_path, clinician, first, turns):
    patient = make_patient(f"hp{next(_user_numbers)}", first_name=first)
    messages, secrets = [], {first}
    for turn in turns:
        text = " ".join(first if p == "NAME" else p for p in turn)
        secrets.update(p for p in turn if p not in FILLER and p != "NAME")
        messages.append((text, f"I hear you, {first}."))
    conv = make_transcript(patient, messages)
    try:
        services.redactions_suggest(conversation=conv, actor=clinician)
        for r in Redaction.objects.filter(conversation=conv, state="suggested"):
            services.redaction_accept(redaction=r, clinician=clinician)
        services.transcript_approve(conversation=conv, clinician=clinician)  # the final scan must pass too

        out = tmp_path / f"{conv.pk}.jsonl"
        call_command("export_dataset", "--out", str(out))
        (exported,) = [line for line in out.read_text().splitlines()
                       if json.loads(line)["conversation_id"] == conv.pk]
        for secret in secrets:
            assert secret not in exported
    finally:
        patient_erase(user=patient, actor=patient)  # each example stands alone
