from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser

from courseware.models import Mentorship
from courseware.roles import MENTORS, STUDENTS

# login, password, group (None: superuser). Known passwords: DEBUG only.
DEMO_ACCOUNTS = [
    ("admin", "admin-demo-pass", None),
    ("mentor", "mentor-demo-pass", MENTORS),
    ("student1", "student1-demo-pass", STUDENTS),
    ("student2", "student2-demo-pass", STUDENTS),
]


class Command(BaseCommand):
    help = (
        "Create the missing demo accounts (an admin, a mentor of two students); DEBUG only. "
        "Existing accounts keep their passwords unless --reset-passwords is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Set every demo account's password back to the demo one (logs them out).",
        )

    def handle(self, *args: Any, reset_passwords: bool = False, **options: Any) -> None:
        if not settings.DEBUG:
            # Their passwords are public, so a deployment never gets them.
            self.stdout.write("DEBUG is off: no demo accounts created.")
            return
        created = 0
        for login, password, group in DEMO_ACCOUNTS:
            user = User.objects.filter(username=login).first()
            if user is None:
                user = User(username=login, is_staff=group is None, is_superuser=group is None)
                user.set_password(password)
                user.save()
                created += 1
                shown = password
            elif reset_passwords:
                user.set_password(password)
                user.save(update_fields=["password"])
                shown = password
            else:
                # Changing a password ends the user's sessions (Django signs each session with
                # the password hash), so `make run` after a restart must leave it alone.
                shown = "(unchanged)"
            if group:
                user.groups.add(Group.objects.get_or_create(name=group)[0])
            self.stdout.write(f"  {login:<10} {shown:<20} {group or 'admin (superuser)'}")
        # The demo mentor mentors both demo students, so the mentor pages show someone.
        mentor = User.objects.get(username="mentor")
        for student in User.objects.filter(groups__name=STUDENTS, username__startswith="student"):
            Mentorship.objects.get_or_create(mentor=mentor, student=student)
        kept = len(DEMO_ACCOUNTS) - created
        reset = " (passwords reset)" if reset_passwords and kept else ""
        self.stdout.write(f"Demo accounts ready: {created} created, {kept} kept{reset}")
