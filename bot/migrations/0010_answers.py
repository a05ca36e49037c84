from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_console')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Answer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', null=True, db_constraint=True, to_field='id', related_name='answers', on_delete=OnDelete.SET_NULL)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='article_answers', on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharField(max_length=16)),
                ('question', fields.TextField(unique=False)),
                ('article_ref', fields.CharField(max_length=100)),
                ('title', fields.CharField(max_length=200)),
                ('score', fields.FloatField(default=0.0)),
                ('rating', fields.CharField(default='', db_default='', max_length=8)),
                ('rated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'answer', 'app': 'models', 'indexes': [Index(fields=['subscriber_id', 'created_at'], name='idx_answer_sub_time'), Index(fields=['article_ref'], name='idx_answer_article')], 'pk_attr': 'id', 'table_description': "One question the bot answered from an article, and the villager's rating of that answer (if any)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Article',
            name='phrasings',
            field=fields.JSONField(default=list, db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Question',
            name='given_answer',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
    ]
