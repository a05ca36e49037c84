from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Article',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=100)),
                ('title', fields.CharField(max_length=200)),
                ('crops', fields.CharField(default='', db_default='', max_length=400)),
                ('topics', fields.CharField(default='', db_default='', max_length=200)),
                ('months', fields.CharField(default='', db_default='', max_length=60)),
                ('keywords', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('summary', fields.TextField(default='', unique=False)),
                ('body', fields.TextField(default='', unique=False)),
                ('sources', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('origin', fields.CharField(default='', db_default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'article', 'app': 'models', 'pk_attr': 'id', 'table_description': "One article: front-matter fields plus the Markdown body (crops/topics/months packed ',a,b,')."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Question',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', null=True, db_constraint=True, to_field='id', related_name='questions', on_delete=OnDelete.SET_NULL)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='questions', on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharField(max_length=16)),
                ('text', fields.TextField(unique=False)),
                ('status', fields.CharField(default='open', db_default='open', max_length=16)),
                ('reason', fields.CharField(default='', db_default='', max_length=32)),
                ('best_ref', fields.CharField(default='', db_default='', max_length=100)),
                ('best_score', fields.FloatField(default=0.0)),
                ('answer', fields.TextField(null=True, unique=False)),
                ('answered_by', fields.CharField(null=True, max_length=100)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'question', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at'], name='idx_question_status_time')], 'pk_attr': 'id', 'table_description': 'A question the bot could not answer well, waiting for an extension officer.'},
            bases=['Model'],
        ),
    ]
