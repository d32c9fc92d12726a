"""Rebuild the shipped risk classifier from the training exemplars (deterministic)."""

from django.core.management.base import BaseCommand

from conversations.safety import classifier


class Command(BaseCommand):
    help = "Train the safety screen's classifier on data/train.jsonl and write data/classifier.npz."

    def handle(self, *args, **options):
        examples = classifier.load_examples(classifier.TRAIN_PATH)
        model = classifier.train(examples)
        model.save()
        risk = sum(e["category"] != "none" for e in examples)
        self.stdout.write(
            f"Trained on {len(examples)} exemplars ({risk} risk, {len(examples) - risk} none); "
            f"wrote {classifier.WEIGHTS_PATH}"
        )
