from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

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
    help = "Create the demo accounts (an admin, a mentor of two students); DEBUG only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            # Their passwords are public, so a deployment never gets them.
            self.stdout.write("DEBUG is off: no demo accounts created.")
            return
        for login, password, group in DEMO_ACCOUNTS:
            user, _ = User.objects.get_or_create(username=login)
            user.is_staff = user.is_superuser = group is None
            # Reset every time so the printed password is always the right one.
            user.set_password(password)
            user.save()
            if group:
                user.groups.add(Group.objects.get_or_create(name=group)[0])
            self.stdout.write(f"  {login:<10} {password:<20} {group or 'admin (superuser)'}")
        # The demo mentor mentors both demo students, so the mentor pages show someone.
        mentor = User.objects.get(username="mentor")
        for student in User.objects.filter(groups__name=STUDENTS, username__startswith="student"):
            Mentorship.objects.get_or_create(mentor=mentor, student=student)
        self.stdout.write(f"Demo accounts ready: {len(DEMO_ACCOUNTS)}")
