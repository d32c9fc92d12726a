"""The input screen's verdicts with the shipped screening model: held-out sets, every category,
context both ways, idioms and negations, long messages, clinicians' rules (real model, no mocks)."""

import pytest

from conversations.safety import screen_data
from conversations.safety.defaults import CATEGORIES
from conversations.safety.screening import screen_input

# The screen on the project's evaluation set (held out from every training file), measured in
# docs/safety.md; these are floors a regression must not cross, not the goals of the blind sets.
EVAL_RECALL_MIN, EVAL_FALSE_ALARM_MAX, EVAL_CATEGORY_RECALL_MIN = 0.97, 0.10, 0.85


def _texts(paths) -> set[str]:
    """Texts of three words or more (two authors may both write "hi" or "thank you")."""
    return {e["text"].strip().lower() for path in paths for e in screen_data.load_examples(path)
            if len(e["text"].split()) >= 3}


@pytest.fixture(scope="module")
def evaluation():
    examples = screen_data.load_examples(screen_data.EVAL_PATH)
    return examples, [screen_input(e["text"]) for e in examples]


def test_evaluation_and_probe_sets_are_held_out_from_all_training_data():
    training = _texts(screen_data.training_files().values())
    for path in screen_data.EVALUATION_PATHS:
        examples = screen_data.load_examples(path)
        copied = [e["text"] for e in examples if e["text"].strip().lower() in training]
        assert copied == [], path.name
        assert {e["category"] for e in examples} == {"none", *CATEGORIES}


def test_blind_sets_share_no_text_with_the_training_data():
    """Written blind: no message of eight words or more is also a training text (two shorter
    stock phrases, one of them an example in the labelling guide, occur in both: docs/safety.md)."""
    training = _texts(screen_data.training_files().values())
    sizes = {"set_a.jsonl": 190, "set_b.jsonl": 190, "set_c.jsonl": 320}
    assert sorted(p.name for p in screen_data.BLIND_DIR.glob("*.jsonl")) == sorted(sizes)
    for name, size in sizes.items():
        blind = screen_data.load_examples(screen_data.BLIND_DIR / name)
        assert len(blind) == size
        shared = [e for e in blind if e["text"].strip().lower() in training]
        assert [e for e in shared if len(e["text"].split()) >= 8] == [] and len(shared) <= 2


def test_screen_keeps_its_recall_and_false_alarms_on_the_evaluation_set(evaluation):
    examples, screens = evaluation
    missed = [e["text"] for e, s in zip(examples, screens, strict=True) if e["level"] != "none" and s.level == "none"]
    alarms = [e["text"] for e, s in zip(examples, screens, strict=True) if e["level"] == "none" and s.level != "none"]
    risk = sum(e["level"] != "none" for e in examples)
    assert 1 - len(missed) / risk >= EVAL_RECALL_MIN, missed
    assert len(alarms) / (len(examples) - risk) <= EVAL_FALSE_ALARM_MAX, alarms


def test_held_out_messages_of_every_category_are_caught_and_named(evaluation):
    examples, screens = evaluation
    for category in CATEGORIES:
        members = [s for e, s in zip(examples, screens, strict=True) if e["category"] == category]
        assert sum(s.level != "none" for s in members) / len(members) >= EVAL_CATEGORY_RECALL_MIN, category
        assert sum(category in s.categories for s in members) / len(members) >= 0.75, category


@pytest.mark.parametrize("text, category", [
    ("i've decided, tonight's the night. the pills are lined up on the desk", "suicide"),
    ("been sitting on the ledge of the car park roof for an hour", "suicide"),
    ("i cut again last night and it won't stop bleeding", "self_harm"),
    ("i've got a knife in my bag and i'm waiting for him outside the gym", "harm_to_others"),
    ("he locked me in the bathroom again and took my phone, i'm scared of what he'll do", "abuse_unsafe_home"),
    ("my friend took a whole bottle of vodka and pills and now she won't wake up", "medical_emergency"),
])
def test_new_phrasings_of_each_category_are_crisis(text, category):
    screen = screen_input(text)
    assert screen.level == "crisis" and category in screen.categories, screen


@pytest.mark.parametrize("text", [
    "tell me", "go on", "see you on monday", "are you still online?",
    "this exam is killing me",
    "I'd die for a coffee",
    "my phone died again",
    "I'm not suicidal, just exhausted",
    "my boss will kill me if I'm late",
    "I'm writing an essay about suicide prevention",
    "I could murder a pizza",
    "my grandad had a stroke years ago and he's fine now",
    "I don't want to die, I just want to sleep for a week",
])
def test_idioms_negations_and_everyday_talk_are_not_risk(text):
    assert screen_input(text).level == "none"


def test_a_farewell_is_read_with_the_messages_before_it():
    farewell = "thanks for trying, this is my last message"
    after_preparations = ["I've given my cat to my neighbour and sorted out my bank stuff",
                          "I wrote letters for my mum and my brother"]
    after_revision = ["my chemistry exam is tomorrow morning", "I've revised all I can, going to bed early"]
    assert screen_input(farewell, context=after_preparations).is_crisis
    assert screen_input(farewell, context=after_revision).level == "none"


def test_an_earlier_risky_message_alone_does_not_make_a_harmless_one_risky():
    context = ["I was thinking of ending things", "with my girlfriend I mean, it hasn't worked for a year"]
    assert screen_input("we talked tonight and agreed to split, it's sad but the right call",
                        context=context).level == "none"


def test_a_rule_match_stands_unless_the_model_is_nearly_certain_it_is_no_risk():
    overruled = screen_input("Not suicidal, just really sad today. My cat had to be put down this morning.")
    assert overruled.level == "none"
    kept = screen_input("I want to kill myself")
    assert kept.is_crisis and any(reason.startswith("rule") for reason in kept.reasons)


def test_risk_in_one_sentence_of_a_long_message_is_found():
    text = ("Work was fine today and I had lunch with a friend. " * 6) + "But honestly I just want to go to sleep and never wake up."
    assert screen_input(text).level != "none"


def test_risk_at_the_end_of_a_long_unpunctuated_message_is_found():
    risky = "lately i keep wondering whether anyone would even notice if i was gone for good"
    filler = ("so i got up late and missed the bus and then my manager asked about the report "
              "and i said it was nearly done and ")
    assert screen_input(risky).level != "none"
    assert screen_input(filler * 2 + risky).level != "none"  # one 60-word "sentence"
    assert screen_input(filler * 20 + risky).level != "none"  # far past the encoder's input length


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
def test_clinician_exception_silences_a_phrase_for_the_rules_and_the_model(clinician):
    from conversations.safety.models import ScreeningRule
    from conversations.safety.services import safety_content_save

    text = "I take my tablets every morning"  # a false alarm of the shipped model (docs/safety.md)
    assert screen_input(text).level != "none"
    safety_content_save(instance=ScreeningRule(kind="exception", text=r"\bi take my tablets every morning\b",
                                               note="medication routine"), actor=clinician)
    assert screen_input(text).level == "none"


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
