from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_trade')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Resend',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('source_id', fields.BigIntField()),
                ('subscriber_id', fields.IntField(null=True)),
                ('broadcast_id', fields.IntField(null=True)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='resends', on_delete=OnDelete.SET_NULL)),
                ('officer_name', fields.CharField(default='', db_default='', max_length=50)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'message_resend', 'app': 'models', 'unique_together': (('kind', 'source_id'),), 'pk_attr': 'id', 'table_description': 'A failed outbound message sent again by an officer, as a one-off push.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Answer',
            name='flagged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Answer',
            name='flagged_by',
            field=fields.CharField(default='', db_default='', max_length=50),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['state', 'id'], name='idx_delivery_state_id'),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['run_id', 'id'], name='idx_delivery_run_id'),
        ),
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['direction', 'id'], name='idx_message_dir_id'),
        ),
    ]
