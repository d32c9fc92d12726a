"""Train a new version of the safety screening model (torch: the training worker's environment).

    python manage.py safety_train_screen                      # -> MODEL_STORAGE_DIR/safety-screen/<version>/
    python manage.py safety_train_screen --install            # -> the shipped folder (replaces it)
    python manage.py safety_train_screen --holdout train_batches/batch_4.jsonl   # a development run

A web process screens with the folder ``SAFETY_SCREEN_MODEL_DIR`` names (default: the shipped
one) once it restarts; the admin's "Screening model" page says which version screens.
"""

import json
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.safety import screen_build
from conversations.safety.screen_model import SHIPPED_DIR


class Command(BaseCommand):
    help = "Fine-tune the safety screening model on the training data and clinicians' feedback."
    requires_system_checks = []  # it is how a missing or refused model gets replaced

    def add_arguments(self, parser):
        parser.add_argument("--output", help="folder to write (must not exist)")
        parser.add_argument("--install", action="store_true", help="replace the shipped model (data/screen_model)")
        parser.add_argument("--holdout", help="a training file left out and reported on (development runs)")
        parser.add_argument("--no-feedback", action="store_true", help="leave out clinicians' labelled messages")
        parser.add_argument("--epochs", type=float)
        parser.add_argument("--lora-r", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--threads", type=int, default=settings.TRAIN_TORCH_THREADS)
        parser.add_argument("--limit", type=int, help="train on this many examples only (smoke tests)")

    def handle(self, *args, **options):
        from conversations.safety.screen_train import ScreenTrainConfig

        config = ScreenTrainConfig(threads=options["threads"])
        for option, field in (("epochs", "epochs"), ("seed", "seed")):
            if options[option] is not None:
                setattr(config, field, options[option])
        if options["lora_r"]:
            config.lora_r, config.lora_alpha = options["lora_r"], 2.0 * options["lora_r"]
        staging = Path(settings.MODEL_STORAGE_DIR) / "safety-screen"
        output = Path(options["output"]) if options["output"] else None
        try:
            built = screen_build.screen_model_build(
                output=output or staging / f".new-{uuid.uuid4().hex[:8]}", config=config,
                holdout=options["holdout"], feedback=not options["no_feedback"], limit=options["limit"],
                log=self.stdout.write)
        except (ValueError, FileExistsError) as exc:
            raise CommandError(str(exc)) from exc
        built = self._place(built, named=output is not None, install=options["install"], staging=staging)
        size = screen_build.artefact_size(built)
        self.stdout.write(self.style.SUCCESS(f"Screening model written to {built} ({size / 1e6:.2f} MB)"))

    def _place(self, built: Path, *, named: bool, install: bool, staging: Path) -> Path:
        version = json.loads((built / "manifest.json").read_text())["version"]
        if install:
            shutil.rmtree(SHIPPED_DIR, ignore_errors=True)
            shutil.move(str(built), SHIPPED_DIR)
            return SHIPPED_DIR
        if named:
            return built
        final = staging / version
        built.rename(final)
        return final
