"""Training's models, by topic: runs, dataset snapshots and versions (``runs``); which version
answers patients, its history and sign-offs (``serving``); the evidence staff compare before a
promotion (``evaluation``).

Import-light on purpose: the web process imports these, so no torch/transformers here.
"""

from training.models.evaluation import EvalPrompt, EvalReply, ShadowRating, ShadowReply, VersionEvaluation
from training.models.runs import DatasetSnapshot, ModelVersion, TrainingRun
from training.models.serving import ModelVersionSignOff, ServingChange, ServingState

__all__ = [
    "DatasetSnapshot", "EvalPrompt", "EvalReply", "ModelVersion", "ModelVersionSignOff", "ServingChange",
    "ServingState", "ShadowRating", "ShadowReply", "TrainingRun", "VersionEvaluation",
]
