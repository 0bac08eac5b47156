# CheckReport now belongs to the grader app (grader.0001), which keeps its table: the chat
# app only forgets the model; nothing in the database changes.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0001_initial"),
        ("grader", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CheckReport")],
            database_operations=[],
        ),
    ]
