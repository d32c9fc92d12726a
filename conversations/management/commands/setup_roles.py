"""Create the role groups and their permissions; with DEBUG=1 also the demo accounts.

Idempotent: run it after every ``migrate`` (``make run`` does). Demo passwords are random
and printed once, when the account is created; later runs say how to reset them.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.accounts.services import demo_accounts_ensure, roles_ensure


class Command(BaseCommand):
    help = "Ensure the Patients/Clinicians/Staff groups and permissions (and demo accounts when DEBUG=1)."

    def handle(self, *args, **options):
        missing = roles_ensure()
        self.stdout.write("Role groups ready: Patients, Clinicians, Staff.")
        for permission in missing:
            self.stderr.write(self.style.WARNING(f"Permission {permission} does not exist (yet); not granted."))
        if not settings.DEBUG:
            self.stdout.write("DEBUG=0: no demo accounts (they exist only on developer machines).")
            return
        for account in demo_accounts_ensure():
            if account.password:
                self.stdout.write(self.style.SUCCESS(
                    f"Created demo {account.role} account: username {account.username}  "
                    f"password {account.password}  (shown once)"))
            else:
                self.stdout.write(
                    f"Demo {account.role} account {account.username} exists "
                    f"(reset its password with: python manage.py changepassword {account.username})")
