"""One training run in the foreground (``--dry-run``: dataset statistics only)."""

from django.core.management.base import BaseCommand, CommandError

from training.models import TrainingRun
from training.services import (
    TrainingAlreadyActive,
    base_model_path,
    training_run_execute,
    training_run_request,
)


class Command(BaseCommand):
    help = "Train a model version now, in the foreground, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print dataset statistics without training")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            return self._statistics()
        try:
            run = training_run_request(trigger=TrainingRun.Trigger.MANUAL, enqueue=False)
        except TrainingAlreadyActive as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Training run {run.pk} started.")
        version = training_run_execute(run_id=run.pk, on_progress=self._bar)
        self.stdout.write("")
        run.refresh_from_db()
        if version is None:
            raise CommandError(f"Training run {run.pk} {run.status}: {run.error}")
        m = version.metrics
        self.stdout.write(self.style.SUCCESS(f"Model version {version.name} ready at {version.path}"))
        self.stdout.write(
            f"eval loss {m.get('eval_loss')} (perplexity {m.get('eval_perplexity')}) vs base "
            f"{m.get('base_eval_loss')} (perplexity {m.get('base_eval_perplexity')}); "
            f"{run.tokens_per_second} tokens/s"
        )

    def _bar(self, progress) -> None:
        width = 30
        done = int(width * progress.step / max(1, progress.total))
        loss = f" loss {progress.loss:.4f}" if progress.loss is not None else ""
        self.stdout.write(f"\r[{'#' * done}{'.' * (width - done)}] {progress.step}/{progress.total}{loss}", ending="")
        self.stdout.flush()

    def _statistics(self) -> None:
        from django.conf import settings

        from clinicians.training_set import training_examples
        from training.services import split_assign

        examples = list(training_examples(consent_at_export=True))
        turns = [len(e.messages) for e in examples]
        chars = [sum(len(m["content"]) for m in e.messages) for e in examples]
        splits = split_assign([e.conversation_id for e in examples], settings.TRAIN_EVAL_FRACTION)
        evals = sum(split == "eval" for split in splits.values())
        self.stdout.write(f"conversations: {len(examples)} (train {len(examples) - evals}, eval {evals})")
        self.stdout.write(f"messages: {sum(len(e.message_ids) for e in examples)}")
        if examples:
            self.stdout.write(f"turns per conversation: min {min(turns)}, mean {sum(turns) / len(turns):.1f}, "
                              f"max {max(turns)}")
            self.stdout.write(f"characters per conversation: mean {sum(chars) / len(chars):.0f}, max {max(chars)}")
        self.stdout.write(f"base model: {base_model_path()}")
        self.stdout.write("dry run: nothing was trained")
