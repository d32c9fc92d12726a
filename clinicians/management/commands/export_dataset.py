"""Write the training set as JSONL in chat format: exactly what training would see."""

import os
import tempfile

from django.core.management.base import BaseCommand, CommandError

from clinicians import services, training_set


class Command(BaseCommand):
    help = "Export approved, consented, redacted transcripts as JSONL (one conversation per line)."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--out", help="JSONL file to write (replaced atomically when complete)")
        target.add_argument("--stats", action="store_true", help="count what would be exported; write nothing")

    def handle(self, *args, out=None, stats=False, **options):
        examples = messages = 0
        if stats:
            for example in training_set.training_examples():
                examples += 1
                messages += len(example.message_ids)
        else:
            examples, messages = self._write(out)
        services.dataset_export_record(actor=None, examples=examples, messages=messages,
                                       written_to=out or "", stats_only=stats)
        where = "" if stats else f" to {out}"
        self.stdout.write(f"Exported {examples} conversations, {messages} messages{where}.")
        if stats:
            self._breakdown()

    def _breakdown(self) -> None:
        from clinicians.models import MessageExclusion, Review

        approved = Review.objects.filter(status=Review.Status.APPROVED).count()
        consented = training_set.eligible_conversations(consent_at_export=False).count()
        eligible = training_set.eligible_conversations().count()
        self.stdout.write(
            f"Approved transcripts: {approved}; left out for a crisis flag: {approved - consented}; "
            f"left out for no training consent: {consented - eligible}; "
            f"excluded messages: {MessageExclusion.objects.count()}; "
            f"pending transcripts: {Review.objects.filter(status=Review.Status.PENDING).count()}."
        )

    def _write(self, out: str) -> tuple[int, int]:
        directory = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(directory):
            raise CommandError(f"Directory {directory} does not exist.")
        examples = messages = 0
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".jsonl", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for example in training_set.training_examples():
                    fh.write(example.as_json())
                    fh.write("\n")
                    examples += 1
                    messages += len(example.message_ids)
            os.replace(tmp, out)
        except BaseException:
            os.unlink(tmp)
            raise
        return examples, messages
