from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Subscriber',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('phone', fields.CharField(null=True, unique=True, max_length=20)),
                ('wechat_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('name', fields.CharField(default='', db_default='', max_length=50)),
                ('township', fields.CharField(default='', db_default='', max_length=50)),
                ('village', fields.CharField(default='', db_default='', max_length=50)),
                ('crops', fields.CharField(default='', db_default='', max_length=400)),
                ('topics', fields.CharField(default='', db_default='', max_length=100)),
                ('preferred_channel', fields.CharField(default='sms', db_default='sms', max_length=16)),
                ('status', fields.CharField(default='active', db_default='active', max_length=16)),
                ('consent_source', fields.CharField(default='', db_default='', max_length=64)),
                ('opted_in_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opted_out_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_inbound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('dialog', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'subscriber', 'app': 'models', 'indexes': [Index(fields=['status', 'township'], name='idx_subscriber_status_town'), Index(fields=['status', 'preferred_channel'], name='idx_subscriber_status_chan')], 'pk_attr': 'id', 'table_description': 'A villager: who they are, what they grow, what they want pushed, and their consent.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsentEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='consent_events', on_delete=OnDelete.CASCADE)),
                ('action', fields.CharField(max_length=16)),
                ('channel', fields.CharField(max_length=16)),
                ('source', fields.CharField(max_length=64)),
                ('text', fields.CharField(default='', db_default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'consent_event', 'app': 'models', 'indexes': [Index(fields=['subscriber_id', 'created_at'], name='idx_consent_sub_time')], 'pk_attr': 'id', 'table_description': 'Audit trail: every opt-in and opt-out, with where it came from and the words used.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('direction', fields.CharField(max_length=3)),
                ('channel', fields.CharField(max_length=16)),
                ('provider', fields.CharField(max_length=16)),
                ('provider_id', fields.CharField(null=True, max_length=64)),
                ('address', fields.CharField(max_length=64)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('reply_to', fields.ForeignKeyField('models.Message', source_field='reply_to_id', null=True, db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharField(max_length=16)),
                ('handler', fields.CharField(default='', db_default='', max_length=64)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'message', 'app': 'models', 'unique_together': (('channel', 'provider_id'),), 'indexes': [Index(fields=['subscriber_id', 'created_at'], name='idx_message_sub_time'), Index(fields=['direction', 'created_at'], name='idx_message_dir_time')], 'pk_attr': 'id', 'table_description': 'One text in or out on any channel, inbound rows deduplicated by (channel, provider_id).'},
            bases=['Model'],
        ),
    ]
