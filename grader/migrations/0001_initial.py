# CheckReport moved here from the chat app. Its table keeps its name (chat_checkreport), so
# this migration only takes the model into the grader's state; an existing database keeps
# every report. chat.0002 removes the model from the chat app's state.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Permissions and admin history follow the model: its content type changes app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="grader", model="checkreport").exists():
        ContentType.objects.filter(app_label="chat", model="checkreport").update(
            app_label="grader"
        )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="chat", model="checkreport").exists():
        ContentType.objects.filter(app_label="grader", model="checkreport").update(
            app_label="chat"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("chat", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CheckReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('login', models.TextField(help_text='The login the client used in the chat.', verbose_name='chat login')),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('finished', 'Finished'), ('stopped', 'Stopped by the grader'), ('interrupted', 'Interrupted')], default='running', max_length=12)),
                        ('items', models.JSONField(blank=True, default=list)),
                        ('timeline', models.JSONField(blank=True, default=list)),
                        ('transcript', models.JSONField(blank=True, default=list)),
                        ('dropped_frames', models.PositiveIntegerField(default=0)),
                        ('options', models.JSONField(blank=True, default=dict)),
                        ('note', models.TextField(blank=True)),
                        ('grader', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('student', models.ForeignKey(blank=True, help_text='The site account of the student whose client was checked.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='chat_check_reports', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'chat_checkreport',
                        'ordering': ['-started_at', '-pk'],
                        'indexes': [models.Index(fields=['student', '-started_at'], name='chat_checkr_student_742d89_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
