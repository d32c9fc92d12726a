"""The training pipeline's one error type (no heavy imports, so the web process can catch it)."""


class PipelineError(Exception):
    """A training run cannot proceed; the message says why in plain words."""
