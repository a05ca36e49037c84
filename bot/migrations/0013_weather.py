from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_article_questions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Forecast',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('township', fields.CharField(unique=True, max_length=50)),
                ('days', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fetched_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'weather_forecast', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The newest forecast fetched for one township.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WarningBroadcast',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert_id', fields.CharField(max_length=64)),
                ('purpose', fields.CharField(default='warning', db_default='warning', max_length=16)),
                ('group', fields.CharField(default='', db_default='', max_length=100)),
                ('color', fields.CharField(default='', db_default='', max_length=16)),
                ('townships', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('broadcast', fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', null=True, db_constraint=True, to_field='id', related_name='weather_warnings', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'weather_warning_broadcast', 'app': 'models', 'unique_together': (('alert_id', 'purpose', 'group'),), 'pk_attr': 'id', 'table_description': 'A broadcast made from a warning, one per advice group and purpose.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WeatherAlert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert_id', fields.CharField(max_length=64)),
                ('township', fields.CharField(max_length=50)),
                ('event', fields.CharField(max_length=30)),
                ('color', fields.CharField(default='', db_default='', max_length=16)),
                ('headline', fields.CharField(default='', db_default='', max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('sender', fields.CharField(default='', db_default='', max_length=100)),
                ('message_type', fields.CharField(default='alert', db_default='alert', max_length=16)),
                ('supersedes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('issued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('state', fields.CharField(default='active', db_default='active', max_length=16)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'weather_alert', 'app': 'models', 'unique_together': (('alert_id', 'township'),), 'indexes': [Index(fields=['state', 'township'], name='idx_weather_alert_state')], 'pk_attr': 'id', 'table_description': 'One official warning message as seen for one township.'},
            bases=['Model'],
        ),
    ]

