"""The input screen's verdicts: evaluation thresholds, idioms, negations, indirect phrasings, rule edits."""

import numpy as np
import pytest

from conversations.safety import classifier
from conversations.safety.screening import screen_input

RECALL_MIN, FALSE_ALARM_MAX = 0.98, 0.05


@pytest.fixture(scope="module")
def evaluation():
    examples = classifier.load_examples(classifier.EVAL_PATH)
    return examples, [screen_input(e["text"]) for e in examples]


def test_evaluation_set_is_held_out_from_the_training_exemplars():
    train = {e["text"].strip().lower() for e in classifier.load_examples(classifier.TRAIN_PATH)}
    evaluation = classifier.load_examples(classifier.EVAL_PATH)
    assert len(evaluation) >= 250
    assert [e["text"] for e in evaluation if e["text"].strip().lower() in train] == []
    categories = {e["category"] for e in evaluation}
    assert categories == {"none", *classifier.CLASSES[1:]}


def test_screen_meets_recall_and_false_alarm_goals_on_the_evaluation_set(evaluation):
    examples, screens = evaluation
    risk = [s.level != "none" for e, s in zip(examples, screens, strict=True) if e["category"] != "none"]
    alarms = [s.level != "none" for e, s in zip(examples, screens, strict=True) if e["category"] == "none"]
    missed = [e["text"] for e, s in zip(examples, screens, strict=True) if e["category"] != "none" and s.level == "none"]
    assert sum(risk) / len(risk) >= RECALL_MIN, f"missed: {missed}"
    assert sum(alarms) / len(alarms) <= FALSE_ALARM_MAX


# The probe set (data/probe.jsonl): new phrasings written after the evaluation set, apart from the
# exemplars; measured before the method/concealment rules and exemplars were added (recall 0.571,
# false alarms 0.291), then used while writing them, so it is no longer blind (README, safety).
PROBE_RECALL_MIN, PROBE_FALSE_ALARM_MAX = 0.95, 0.10


def test_probe_set_is_held_out_and_covers_every_category():
    train = {e["text"].strip().lower() for e in classifier.load_examples(classifier.TRAIN_PATH)}
    evaluation = {e["text"].strip().lower() for e in classifier.load_examples(classifier.EVAL_PATH)}
    probe = classifier.load_examples(classifier.PROBE_PATH)
    unseen = classifier.load_examples(classifier.PROBE_UNSEEN_PATH)  # no threshold: a measurement (README)
    assert len(probe) >= 80
    for examples in (probe, unseen):
        assert [e["text"] for e in examples if e["text"].strip().lower() in train | evaluation] == []
        assert {e["category"] for e in examples} == {"none", *classifier.CLASSES[1:]}


def test_screen_meets_recall_and_false_alarm_goals_on_the_probe_set():
    probe = classifier.load_examples(classifier.PROBE_PATH)
    screens = [screen_input(e["text"]) for e in probe]
    risk = [e for e in probe if e["category"] != "none"]
    missed = [e["text"] for e, s in zip(probe, screens, strict=True) if e["category"] != "none" and s.level == "none"]
    alarms = [e["text"] for e, s in zip(probe, screens, strict=True) if e["category"] == "none" and s.level != "none"]
    assert 1 - len(missed) / len(risk) >= PROBE_RECALL_MIN, f"missed: {missed}"
    assert len(alarms) / (len(probe) - len(risk)) <= PROBE_FALSE_ALARM_MAX, f"false alarms: {alarms}"


@pytest.mark.parametrize("text, category", [
    ("sometimes i think about taking all of my sleeping tablets at once", "suicide"),
    ("I've been stockpiling my medication", "suicide"),
    ("there's a noose in my wardrobe", "suicide"),
    ("I keep thinking about throwing myself off the roof of my building", "suicide"),
    ("i have started hiding the marks on my arms under long sleeves", "self_harm"),
    ("I burn my arm with a lighter", "self_harm"),
    ("I injected all of my insulin", "medical_emergency"),
])
def test_method_and_concealment_phrasings_are_crisis(text, category):
    screen = screen_input(text)
    assert screen.level == "crisis" and category in screen.categories, screen


def test_every_risk_category_is_recognised_on_the_evaluation_set(evaluation):
    examples, screens = evaluation
    for category in classifier.CLASSES[1:]:
        members = [s for e, s in zip(examples, screens, strict=True) if e["category"] == category]
        right = sum(category in s.categories for s in members)
        assert right / len(members) >= 0.85, category


@pytest.mark.parametrize("text", [
    "this exam is killing me",
    "I'd die for a coffee",
    "I would never hurt myself",
    "my phone died again",
    "I'm not suicidal, just exhausted",
    "my boss will kill me if I'm late",
    "I'm writing an essay about suicide prevention",
    "we went bungee jumping off a bridge",
    "I could murder a pizza",
    "I'm not thinking of hurting myself, just tired",
    "my grandad had a stroke years ago and he's fine now",
    "I take my tablets every morning",
])
def test_idioms_and_negations_are_not_risk(text):
    assert screen_input(text).level == "none"


@pytest.mark.parametrize("text, category", [
    ("everyone would be better off without me", "suicide"),
    ("I've been giving my things away", "suicide"),
    ("I want to kill myself", "suicide"),
    ("i wanna kil myself", "suicide"),
    ("I've been cutting again", "self_harm"),
    ("I'm going to stab my roommate", "harm_to_others"),
    ("I'm 12 and my stepdad hurts me", "abuse_unsafe_home"),
    ("I just swallowed a bottle of pills", "medical_emergency"),
])
def test_direct_and_indirect_risk_is_crisis(text, category):
    screen = screen_input(text)
    assert screen.level == "crisis"
    assert category in screen.categories
    assert screen.reasons


def test_risk_in_one_sentence_of_a_long_message_is_found():
    text = ("Work was fine today and I had lunch with a friend. " * 6) + "But honestly I just want to go to sleep and never wake up."
    assert screen_input(text).is_crisis


def test_risk_at_the_end_of_a_long_unpunctuated_message_is_found():
    risky = "lately i keep wondering whether anyone would even notice if i was gone for good"
    filler = ("so i got up late and missed the bus and then my manager asked about the report "
              "and i said it was nearly done and ")
    assert screen_input(risky).level != "none"
    assert screen_input(filler * 2 + risky).level != "none"  # one 60-word "sentence"
    assert screen_input(filler * 20 + risky).level != "none"  # past the encoder's 256 tokens


def test_empty_and_odd_input_is_screened_without_error():
    assert screen_input("").level == "none"
    assert screen_input("   \n\t").level == "none"
    assert screen_input("🙂🙂🙂").level == "none"
    assert screen_input("x" * 20000).level == "none"


@pytest.mark.django_db
def test_clinician_phrase_added_in_the_database_is_used_at_once(clinician):
    from conversations.safety.models import ScreeningRule
    from conversations.safety.services import safety_content_save

    text = "the purple protocol is starting"
    assert screen_input(text).level == "none"
    rule = ScreeningRule(kind="phrase", category="suicide", level="crisis", text="purple protocol", note="code word")
    safety_content_save(instance=rule, actor=clinician)
    screen = screen_input(text)
    assert screen.is_crisis and "code word" in screen.reasons[0]

    rule.active = False
    safety_content_save(instance=rule, actor=clinician)
    assert screen_input(text).level == "none"


@pytest.mark.django_db
def test_clinician_exception_silences_a_phrase(clinician):
    from conversations.safety.models import ScreeningRule
    from conversations.safety.services import safety_content_save

    text = "this show is so funny I'm going to kill myself laughing"
    assert screen_input(text).is_crisis
    safety_content_save(instance=ScreeningRule(kind="exception", text=r"\bkill myself laughing\b", note="idiom"),
                        actor=clinician)
    assert screen_input(text).level == "none"


@pytest.mark.slow
def test_shipped_classifier_is_reproducible_from_the_training_exemplars():
    retrained = classifier.train()
    shipped = classifier.RiskClassifier.load()
    assert np.allclose(retrained.weights, shipped.weights, atol=1e-4)
    assert np.allclose(retrained.bias, shipped.bias, atol=1e-4)


def test_a_broken_classifier_degrades_to_rules_and_shows_resources(monkeypatch):
    from conversations.safety import screening

    def broken(_text):
        raise MemoryError("no memory for the model")

    monkeypatch.setattr(screening, "_classify", broken)
    ordinary = screen_input("I had a long day")
    assert ordinary.level == "concern" and "classifier unavailable" in ordinary.reasons[-1]
    assert screen_input("I want to kill myself").is_crisis  # the rules still decide crisis


@pytest.mark.django_db
def test_rules_shipped_later_reach_an_already_seeded_database_once():
    from django.apps import apps

    from conversations.safety.models import ContentVersion, ScreeningRule
    from conversations.safety.seed import add_missing_default_rules

    newest = ScreeningRule.objects.filter(kind="pattern").order_by("-id").first()
    text = newest.text
    # As if the database had been seeded before this rule shipped: no row, no history.
    ContentVersion.objects.filter(content_type="screeningrule", object_id=newest.pk).delete()
    newest.delete()
    switched_off = ScreeningRule.objects.filter(kind="pattern").order_by("id").first()
    switched_off.active = False
    switched_off.save()
    total = ScreeningRule.objects.count()

    add_missing_default_rules(apps)
    add_missing_default_rules(apps)
    assert ScreeningRule.objects.filter(text=text, active=True).count() == 1
    assert ScreeningRule.objects.count() == total + 1
    assert not ScreeningRule.objects.get(pk=switched_off.pk).active
    assert ContentVersion.objects.filter(content_type="screeningrule", snapshot__text=text).count() == 1
