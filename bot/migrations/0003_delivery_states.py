from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class AlterFieldOutsideSqlite(ops.AlterField):
    """Tortoise 1.1.9 alters a SQLite column by rebuilding the table and loses its unique_together
    constraint and indexes on the way. SQLite ignores VARCHAR lengths anyway, so skip it there."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0002_knowledge_base')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MessageEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=24)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'message_event', 'app': 'models', 'indexes': [Index(fields=['message_id', 'created_at'], name='idx_message_event_msg')], 'pk_attr': 'id', 'table_description': 'Each delivery state a provider reported for an outbound message, with its error code.'},
            bases=['Model'],
        ),
        AlterFieldOutsideSqlite(
            model_name='Message',
            name='status',
            field=fields.CharField(max_length=24),
        ),
        ops.AddField(
            model_name='Message',
            name='attempts',
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
