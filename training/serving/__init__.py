"""Serving local model versions to patients: which version answers (``state``), the changes
staff make and the automatic reverts (``services``), the provider the chat flow asks
(``provider``, registered in ``TrainingConfig.ready()``), and the inference server's
control endpoint (``inference``).

Modes: ``hosted`` (Groq answers everyone: learning mode), ``local`` (the active version
answers, Groq behind it when it fails), ``shadow`` (Groq answers; the candidate also answers
in the background, stored for clinicians to rate, never shown).
"""
