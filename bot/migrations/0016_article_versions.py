from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0015_console')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ArticleVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=200)),
                ('content', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharField(default='draft', max_length=16)),
                ('author', fields.ForeignKeyField('models.Officer', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='article_versions', on_delete=OnDelete.SET_NULL)),
                ('author_name', fields.CharField(default='', max_length=50)),
                ('note', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_by', fields.CharField(default='', max_length=50)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'article_version', 'app': 'models', 'unique_together': (('article', 'number'),), 'pk_attr': 'id', 'table_description': 'One saved text of an article: title plus the other fields as the form has them (`content`).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Article',
            name='status',
            field=fields.CharField(default='published', db_index=True, db_default='published', max_length=16),
        ),
        ops.AddField(
            model_name='Officer',
            name='internal',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Officer',
            name='must_change_password',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        # The system's own account (broadcasts/pushes.py, no password) is internal: hidden from 账号.
        ops.RunSQL("UPDATE officer SET internal = TRUE WHERE password_hash = '!'"),
    ]
