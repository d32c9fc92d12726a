"""Clinical safety: flags raised by the input screen, crisis templates, phrase lists.

Clinician-edited content (rules, templates, resources) carries a ``version`` number; every
save through ``safety_content_save`` keeps a ``ContentVersion`` snapshot of the new state,
so earlier wording can always be read back.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from conversations.safety.defaults import CATEGORIES

CATEGORY_CHOICES = [(c, c.replace("_", " ")) for c in CATEGORIES]


class Level(models.TextChoices):
    NONE = "none", "None"
    CONCERN = "concern", "Concern"
    CRISIS = "crisis", "Crisis"


class EditableContent(models.Model):
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )

    class Meta:
        abstract = True

    def snapshot(self) -> dict:
        names = [f.name for f in self._meta.concrete_fields if f.name not in {"id", "updated_at", "updated_by"}]
        return {name: getattr(self, name) for name in names}


class ScreeningRule(EditableContent):
    class Kind(models.TextChoices):
        PHRASE = "phrase", "Phrase (words, matched on word boundaries)"
        PATTERN = "pattern", "Pattern (regular expression)"
        EXCEPTION = "exception", "Exception (idiom or negation: blanked out before screening)"

    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, blank=True,
                                help_text="Empty for exceptions.")
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.CRISIS)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHRASE)
    text = models.TextField(help_text="Lower-case text is matched; curly quotes are straightened.")
    note = models.CharField(max_length=200, blank=True, help_text="What this rule is for (shown as the reason).")
    active = models.BooleanField(default=True)
    overrulable = models.BooleanField(
        default=False, verbose_name="model may overrule",
        help_text="The screening model may overrule this rule when it is nearly certain the message is no risk "
                  "(a negation, a recovery story, an idiom the rule does not know). On for the shipped rules; "
                  "off for the rules clinicians add, which always stand.")

    class Meta:
        ordering = ["kind", "category", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]}: {self.note or self.text[:60]}"

    def clean(self):
        if self.kind != self.Kind.EXCEPTION:
            if not self.category:
                raise ValidationError({"category": "Risk rules need a category."})
            if self.level == Level.NONE:
                raise ValidationError({"level": "Risk rules raise concern or crisis."})
        if self.kind in (self.Kind.PATTERN, self.Kind.EXCEPTION):
            try:
                compiled = re.compile(self.text)
            except re.error as exc:
                raise ValidationError({"text": f"Not a valid regular expression: {exc}"}) from exc
            if compiled.search(""):
                raise ValidationError({"text": "This pattern matches empty text, so it would match everything."})


class SafetyTemplate(EditableContent):
    class Kind(models.TextChoices):
        CRISIS_REPLY = "crisis_reply", "Crisis reply (sent instead of the AI)"
        CONCERN_ADDENDUM = "concern_addendum", "Concern: guidance added to the AI's instructions"
        CONCERN_RESOURCES = "concern_resources", "Concern: resources appended to the AI's reply"
        OUTPUT_REPLACEMENT = "output_replacement", "Replacement for an unsafe AI reply"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    locale = models.CharField(max_length=16, default="en-US")
    body = models.TextField(help_text="{resources} is replaced by the locale's resources; {categories} by the risk categories.")

    class Meta:
        ordering = ["kind", "locale"]
        constraints = [models.UniqueConstraint(fields=["kind", "locale"], name="safety_template_one_per_kind_locale")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} [{self.locale}]"


class CrisisResource(EditableContent):
    locale = models.CharField(max_length=16, default="en-US")
    name = models.CharField(max_length=120)
    contact = models.CharField(max_length=200, help_text='What to do, e.g. "Call or text 988".')
    url = models.URLField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["locale", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name} [{self.locale}]"


class ContentVersion(models.Model):
    """One saved state of a rule, template or resource (kept forever; newest last)."""

    content_type = models.CharField(max_length=40)  # model name: screeningrule, safetytemplate, ...
    object_id = models.PositiveBigIntegerField()
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=16)  # created | changed | deleted
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["content_type", "object_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["content_type", "object_id", "version"], name="content_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.content_type} {self.object_id} v{self.version} ({self.action})"


class SafetyFlagQuerySet(models.QuerySet):
    def open(self):
        return self.filter(handled_at__isnull=True)


class SafetyFlag(models.Model):
    """A conversation needs a clinician: raised by the input screen, closed with a note."""

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE,
                                     related_name="safety_flags")
    message = models.ForeignKey("conversations.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="safety_flags")
    level = models.CharField(max_length=16, choices=Level.choices)
    categories = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    handled_note = models.TextField(blank=True)

    objects = SafetyFlagQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["conversation", "handled_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(handled_at__isnull=True) | ~Q(handled_note=""), name="safety_flag_handled_has_note"
            )
        ]

    def __str__(self) -> str:
        return f"{self.level} flag on conversation {self.conversation_id}"

    @property
    def is_open(self) -> bool:
        return self.handled_at is None


class OutputReplacement(models.Model):
    """A model reply the output screen replaced; counted per provider and model."""

    conversation = models.ForeignKey("conversations.Conversation", null=True, on_delete=models.CASCADE,
                                     related_name="+")
    message = models.ForeignKey("conversations.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="output_replacements")
    provider = models.CharField(max_length=40, blank=True, db_index=True)
    model_name = models.CharField(max_length=200, blank=True, db_index=True)
    categories = models.JSONField(default=list)
    original_text = models.TextField(blank=True, help_text="What the model wrote (never shown to the patient).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Replaced reply from {self.provider}/{self.model_name}"


class ScreeningExample(models.Model):
    """A patient message labelled by a clinician, for the *next* screening model's training.

    Made when a clinician handles a safety flag (the flag's verdict, confirmed) or marks a
    message as missed risk or as a false alarm (their label wins over a handled flag's). The
    text is not copied: the training command reads the message (and the patient's messages
    before it) when it runs, and the patient's erasure deletes the message and so this row.
    Never part of an evaluation set.
    """

    class Source(models.TextChoices):
        FLAG_HANDLED = "flag_handled", "Safety flag handled (verdict confirmed)"
        MISSED_RISK = "missed_risk", "Marked by a clinician: missed risk"
        FALSE_ALARM = "false_alarm", "Marked by a clinician: false alarm"

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="screening_example")
    level = models.CharField(max_length=16, choices=Level.choices)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, blank=True,
                                help_text="Empty when the level is none.")
    source = models.CharField(max_length=16, choices=Source.choices)
    flag = models.ForeignKey(SafetyFlag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    labelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(level=Level.NONE) & Q(category="")) | (~Q(level=Level.NONE) & ~Q(category="")),
                name="screening_example_category_iff_risk",
            )
        ]

    def __str__(self) -> str:
        return f"message {self.message_id}: {self.level}{f' ({self.category})' if self.category else ''}"
