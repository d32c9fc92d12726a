"""Forms for the account pages (validation only; the services do the writing)."""

from django import forms


class SignUpForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
    email = forms.EmailField(required=False, help_text="Optional; only used if you ask to reset your password.")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password (again)")
    phone = forms.CharField(max_length=40, required=False, label="Phone (optional)")
    accept_terms = forms.BooleanField(
        required=True,
        label="I understand that Therapist AI is an AI, not a human or a licensed therapist, "
              "that it cannot help in an emergency, and I agree to the terms of use.",
        error_messages={"required": "You need to agree to the terms to use the service."},
    )
    training_consent = forms.BooleanField(
        required=False, initial=False,
        label="Optional: my conversations may be used, after clinician review and removal of "
              "identifying details, to improve the model. I can change this at any time.",
    )

    def clean_username(self):
        from django.contrib.auth.validators import UnicodeUsernameValidator

        username = self.cleaned_data["username"].strip()
        UnicodeUsernameValidator()(username)
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        cleaned.pop("password_again", None)
        return cleaned


class ConsentForm(forms.Form):
    training_consent = forms.BooleanField(
        required=False,
        label="My conversations may be used, after clinician review and removal of identifying "
              "details, to improve the model.",
    )


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               label="Your password")
    confirm = forms.BooleanField(label="I understand that my account and all my conversations will be deleted "
                                       "for good.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That password is not correct.")
        return password
