"""Build the small local base model under DATA_DIR/base_model (no download)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from training import bootstrap


class Command(BaseCommand):
    help = "Build a small local base model (tokenizer + causal LM trained on the shipped corpus). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=None, help="directory (default: DATA_DIR/base_model)")
        parser.add_argument("--force", action="store_true", help="rebuild even if a valid one exists")
        parser.add_argument("--max-seconds", type=float, default=None, help="training time budget")

    def handle(self, *args, output=None, force=False, max_seconds=None, **options):
        target = Path(output) if output else Path(settings.DATA_DIR) / "base_model"
        if not force and bootstrap.bootstrap_is_valid(target):
            self.stdout.write(f"Base model already present at {target}; nothing to do.")
            return
        spec = bootstrap.BootstrapSpec()
        if max_seconds is not None:
            from dataclasses import replace

            spec = replace(spec, max_seconds=max_seconds)
        self.stdout.write(f"Building the bootstrap base model in {target} ({spec.max_steps} steps, about a minute on 2 idle cores)...")
        info = bootstrap.base_model_build(output_dir=target, spec=spec, log=self.stdout.write)
        reply = bootstrap.sample_reply(target, [{"role": "user", "content": "I have been feeling lonely lately."}])
        self.stdout.write(self.style.SUCCESS(
            f"Base model ready: {info['parameters']:,} parameters, {info['steps']} steps, "
            f"final loss {info['final_loss']:.3f}, {info['seconds']} s."
        ))
        self.stdout.write(f"Sample reply to 'I have been feeling lonely lately.': {reply}")
